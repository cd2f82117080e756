"""A drill's clock on a running stack (issue 24, plan/drill_clock.py): the plan's time runs faster
than Temporal's, only on a worker in drill mode. Table tests and a property over the pure clock;
the worker's refusal outside drill mode (in process and as `python worker.py`); and an incident on
the real dev server whose windows, escalation, attestation ages and §8 follow-ups run on it."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from devstack.drill import speed_up
from incident_client.intake import deliver_alerts
from plan import AlertmanagerDelivery, PolicyError, load_policy
from plan.compliance import card
from plan.drill_clock import MAX_SPEED_UP, DrillClock, plan_now, plan_span, real_wait
from plan.models import DrillClockPolicy, Role
from plan.policy import parse_policy, policy_path
from tests.fuzz import budget
from tests.helpers import finish, status_when
from tests.payloads import alert, delivery
from tests.test_identity import PUBLIC, signed
from worker import build_worker, refuse_drill_clock
from workflows import IncidentWorkflow

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
S, M, H, D = timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


@pytest.mark.parametrize(
    "speed, real_after, plan_after",
    [
        (1, 5 * M, 5 * M),  # ×1 is Temporal's clock
        (10, 12 * S, 2 * M),  # §4.1's 2 minutes in 12 s
        (600, 1 * S, 10 * M),  # §4.2's triage window in a second
        (3600, 168 * S, 7 * D),  # the §8 week in under 3 minutes
        (60, -5 * S, 0 * S),  # before the anchor the clock stands: it never goes back
    ],
)
def test_the_plans_time_runs_speed_up_times_faster_from_its_anchor(speed, real_after, plan_after):
    clock = DrillClock.starting(speed, T0)
    assert clock.now(T0 + real_after) == T0 + plan_after
    assert clock.real_wait(plan_after) == (real_after if real_after > S * 0 else 0 * S)


@pytest.mark.parametrize(
    "clock, real, plan, wait, span",
    [
        (None, T0, T0, 2 * M, M),  # no drill: Temporal's time, the timer as long as the span
        (DrillClock.starting(60, T0), T0 + S, T0 + M, 2 * S, M * 60),
    ],
)
def test_without_a_drill_clock_the_incidents_time_is_temporals(clock, real, plan, wait, span):
    assert plan_now(clock, real) == plan
    assert real_wait(clock, 2 * M) == wait
    assert plan_span(clock, M) == span


def test_a_change_of_speed_is_continuous_and_goes_on_at_the_new_speed():
    open_ = DrillClock.starting(10, T0)
    resolved = open_.at_speed(1000, T0 + 6 * M)  # resolved 1 h of the plan in
    assert resolved.now(T0 + 6 * M) == T0 + H
    assert resolved.now(T0 + 6 * M + 72 * S) == T0 + H + 20 * H  # then 72 s make 20 h
    assert resolved.real_wait(2 * H) == timedelta(seconds=7.2)  # §5.4's customer email: 7.2 s


@given(
    speed=st.integers(1, MAX_SPEED_UP),
    changes=st.lists(
        st.tuples(st.integers(0, 10**7), st.integers(1, MAX_SPEED_UP)), max_size=6
    ),  # (real µs later, new speed)
    probe=st.integers(0, 10**7),
)
@budget(200)
def test_any_run_of_speeds_is_monotone_continuous_and_never_behind_temporal(speed, changes, probe):
    """Whatever the speeds and when they change: the plan's time never goes back, does not jump at
    a change, never falls behind Temporal's, and a timer's real wait brings it to its deadline."""
    clock, real = DrillClock.starting(speed, T0), T0
    for later, new_speed in changes:
        before = clock.now(real)
        real += timedelta(microseconds=later)
        assert clock.now(real) >= before
        changed = clock.at_speed(new_speed, real)
        assert changed.now(real) == clock.now(real)  # continuous
        clock = changed
        assert clock.now(real) >= real  # never behind Temporal's clock
    span = timedelta(microseconds=probe)
    deadline = clock.now(real) + span
    reached = clock.now(real + clock.real_wait(span))
    assert abs(reached - deadline) <= timedelta(microseconds=clock.speed_up)  # µs rounding only


@pytest.mark.parametrize(
    "section, problem",
    [
        ({"speed_up": 0}, "drill_clock.speed_up: Input should be greater than or equal to 1"),
        ({"speed_up": MAX_SPEED_UP + 1}, f"less than or equal to {MAX_SPEED_UP}"),
        ({"speed_up": 10, "after_resolutoin": 1000}, "drill_clock.after_resolutoin: Extra inputs"),
        ({}, "drill_clock.speed_up: Field required"),
    ],
)
def test_a_drill_clock_that_does_not_fit_is_refused_with_its_path(section, problem):
    raw = yaml.safe_load(policy_path().read_text())
    with pytest.raises(PolicyError, match=problem.replace("(", r"\(")):
        parse_policy({**raw, "drill_clock": section}, source="drill.yaml")


def drill_policy_with(speed_up: int, after_resolution: int = 1):
    return load_policy().model_copy(
        update={"drill_clock": DrillClockPolicy(speed_up=speed_up, after_resolution=after_resolution)}
    )


def test_a_worker_outside_drill_mode_refuses_a_sped_up_clock():
    """Fails closed: only an explicit drill mode lets a policy speed up an incident's clock."""
    with pytest.raises(PolicyError, match=r"drill_clock: ×10 is allowed only on a drill stack"):
        refuse_drill_clock(drill_policy_with(10), drill=False)
    refuse_drill_clock(drill_policy_with(10), drill=True)
    refuse_drill_clock(load_policy(), drill=False)  # the shipped policy has none


@pytest.mark.parametrize(
    "mode, starts", [("", False), ("0", False), ("yes-please", False), ("1", True), ("on", True)]
)
def test_the_worker_process_says_why_it_will_not_start(tmp_path, mode, starts):
    """Without drill mode it stops at the policy; with it, it gets past (and stops only at
    Temporal, which is not there)."""
    raw = yaml.safe_load(policy_path().read_text())
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump({**raw, "drill_clock": {"speed_up": 10}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IRP_", "TEMPORAL_"))}
    env.update(IRP_POLICY_FILE=str(path), IRP_DRILL=mode, TEMPORAL_ADDRESS="127.0.0.1:1")
    done = subprocess.run(
        [sys.executable, "worker.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert ("worker not started: drill_clock" in done.stderr) is not starts, done.stderr
    assert ("connecting to Temporal" in done.stderr) is starts, done.stderr


async def test_an_incident_on_a_drill_clock_runs_the_plan_faster_and_judges_outsiders_by_the_wall(
    dev_env, integrations, prometheus
):
    """×600 while open: the 2-minute escalation and the §4 windows come in seconds, all times on
    the plan's clock; an acknowledgement attested 6 d 23 h ago by the wall is accepted though the
    plan's clock is hours further on; resolved, the clock goes ×3600 and §8's due times pass."""
    policy = drill_policy_with(600, after_resolution=3600)
    settings = integrations.model_copy(update={"irp_attestation_public_keys": PUBLIC})
    prometheus.healthy(policy)
    queue = f"drill-{uuid.uuid4().hex[:8]}"
    async with build_worker(dev_env.client, queue, policy, settings, drill=True):
        payload = delivery(alert(module="fees"), group=f"Drill{uuid.uuid4().hex[:8]}")
        receipt = await deliver_alerts(dev_env.client, queue, AlertmanagerDelivery.model_validate(payload))
        handle = dev_env.client.get_workflow_handle(receipt.incident_id)
        status = await status_when(handle, lambda s: s.drill_clock is not None)
        assert status.drill_clock.speed_up == 600
        # 70 minutes of the plan (7 s by the wall): the 2-minute escalation has passed.
        seventy = status.drill_clock.plan + 70 * M
        status = await status_when(handle, lambda s: any(e.at >= seventy for e in s.timeline), 60)
        escalated = next(e for e in status.timeline if e.kind == "escalated")
        # §4.1's 2 minutes on the plan's clock (it came within the 7 s by the wall waited above);
        # a workflow task's latency runs 600 times fast too, so no upper bound is asserted here
        assert escalated.at - status.received_at >= 2 * M
        # Asked as of the wall's now (as `irp compliance` and the pages ask), the card is as of the
        # incident's own time then: the acknowledgement over an hour late so far, not seconds.
        asked = await handle.query(IncidentWorkflow.compliance, datetime.now(UTC))
        assert asked.at >= seventy
        (ack,) = [p for p in asked.promises if p.key == "acknowledge"]
        assert ack.state == "open" and ack.late_by >= 68 * M
        primary = policy.roster[Role.oncall_primary].email
        by_the_wall = datetime.now(UTC) - (7 * D - 5 * M)  # 5 minutes inside MAX_AGE by the wall
        await handle.signal("acknowledge", signed(handle.id, "acknowledge", {}, primary, at=by_the_wall))
        status = await status_when(handle, lambda s: s.acknowledged_by or s.timeline[-1].kind == "refused")
        assert status.acknowledged_by == primary, status.timeline[-1].text
        late = card(status, policy, status.acknowledged_at).missed[0]
        assert late.title == "Acknowledge within 2 minutes" and late.late_by >= 68 * M
        ic = policy.roster[Role.incident_commander].email
        await handle.signal("resolve", {"by": ic, "summary": "Drilled", "root_cause": "a drill"})
        status = await status_when(handle, lambda s: s.drill_clock.speed_up == 3600 and s.deliverables, 30)
        resolved = status.resolution.at
        # §5.4's customer email is due 2 h after resolution: 2 s by the wall at ×3600.
        first = min(status.deliverables, key=lambda d: d.due_at)
        assert first.due_at == resolved + policy.deliverables[first.key].sla
        status = await status_when(handle, lambda s: any(e.at > first.due_at for e in s.timeline), 60)
        assert status.phase == "REVIEW"
        assert any(e.kind == "drill-clock" and "×3600" in e.text for e in status.timeline)
        await finish(handle)


@pytest.mark.parametrize(
    "said, clock",
    [
        ("", None),
        ("10", (10, 1)),
        ("10,1000", (10, 1000)),
        (" 60 , 3600 ", (60, 3600)),
        ("0", ValueError),
        ("10,3601", ValueError),
        ("fast", ValueError),
        ("1,2,3", ValueError),
    ],
)
def test_make_up_reads_the_speed_up_or_says_what_it_takes(said, clock):
    if clock is ValueError:
        with pytest.raises(ValueError, match="IRP_DRILL_SPEED_UP=.*each 1–3600"):
            speed_up(said)
    else:
        assert speed_up(said) == clock


@pytest.mark.parametrize("env", [{"IRP_SANDBOX": "0"}, {"IRP_SANDBOX": "1", "IRP_DRILL_SPEED_UP": "fast"}])
def test_make_up_refuses_a_speed_up_off_the_sandbox_or_out_of_bounds(tmp_path, env):
    """Exit 2 before anything starts: a sped-up clock is a drill's, and a drill is the sandbox's."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("IRP_", "TEMPORAL_"))}
    run = {**base, "IRP_DATA_DIR": str(tmp_path), "IRP_DRILL_SPEED_UP": "10,1000", **env}
    done = subprocess.run(
        [sys.executable, "-m", "devstack.stack", "up"],
        cwd=ROOT,
        env=run,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "IRP_DRILL_SPEED_UP" in done.stderr, done.stderr
    assert not (tmp_path / "stack.pid").exists()


async def test_a_timer_is_as_long_as_the_plan_says_on_either_clock(time_env, integrations):
    """Replay compares commands, not a timer's length: read the lengths from the history. The
    incident's first clock (§4.1's 2-minute escalation) is set for up to 2 minutes on Temporal's
    clock without a drill clock, and for that divided by the speed-up with one."""
    lengths = {}
    for speed in (None, 60):
        policy = drill_policy_with(speed) if speed else load_policy()
        queue = f"timers-{uuid.uuid4().hex[:8]}"
        async with build_worker(time_env.client, queue, policy, integrations, drill=bool(speed)):
            payload = delivery(alert(module="fees"), group=f"Timers{uuid.uuid4().hex[:8]}")
            receipt = await deliver_alerts(
                time_env.client, queue, AlertmanagerDelivery.model_validate(payload)
            )
            handle = time_env.client.get_workflow_handle(receipt.incident_id)
            await time_env.sleep(3 * M)  # the time-skipping server: past the 2-minute escalation
            await status_when(handle, lambda s: any(e.kind == "escalated" for e in s.timeline))
            history = await handle.fetch_history()
            await finish(handle)
        timers = [
            e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
            for e in history.events
            if e.HasField("timer_started_event_attributes")
            and "next clock" in e.user_metadata.summary.data.decode()
        ]
        lengths[speed] = timers[0]
    assert 100 * S < lengths[None] <= 2 * M
    assert 100 * S / 60 < lengths[60] <= 2 * M / 60
