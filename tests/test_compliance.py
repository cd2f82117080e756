"""Compliance per incident (plan/compliance.py): table tests over the pure card, with the plan's
numbers read from the policy (config/preskool.yaml), never written here."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from temporalio import workflow
from temporalio.client import WorkflowQueryFailedError
from temporalio.worker import Worker

from incident_client.compliance import compliance_of
from incident_client.intake import declare_incident
from plan import Declaration
from plan import effects as fx
from plan.compliance import ComplianceCard, card, family, how_late, render, spoken
from plan.deliverables import open_ledger
from plan.events import EventKind as K
from plan.incident import IncidentStatus, Page, Resolution, TimelineEntry
from plan.models import Phase, Role, Severity
from plan.policy import load_policy
from plan.postmortem import compliance
from tests.fuzz import budget
from tests.helpers import finish, status_when
from tests.test_deciders import opened, resolved, send

POLICY = load_policy()
W = POLICY.phase_windows
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PRIMARY = POLICY.roster[Role.oncall_primary].email
IC = POLICY.roster[Role.incident_commander].email
MIN = timedelta(minutes=1)


def every(severity: Severity) -> timedelta:
    return POLICY.update_cadence[severity]


def event(kind: K, at: datetime, **fields) -> TimelineEntry:
    return TimelineEntry(kind=kind, text=str(kind), at=at, **fields)


def status(
    severity: Severity = Severity.P1,
    *,
    received: timedelta = timedelta(0),
    ack: timedelta | None = None,
    phases: dict[Phase, timedelta] | None = None,
    updates: list[timedelta] = (),
    changes: dict[timedelta, Severity] | None = None,
    resolved: timedelta | None = None,
    extra: list[TimelineEntry] = (),
    private: bool = False,
    ledger: list | None = None,
) -> IncidentStatus:
    """An incident's `status` answer, its moments given as offsets from START."""
    opened = START + received
    timeline = [event(K.detected, opened), event(K.severity, opened, severity=severity)]
    timeline += [event(K.phase, START + at, phase=p) for p, at in (phases or {}).items()]
    timeline += [event(K.update, START + at, by=IC) for at in updates]
    timeline += [event(K.severity, START + at, severity=s) for at, s in (changes or {}).items()]
    return IncidentStatus(
        incident_id="inc-test",
        severity=severity,
        severity_reasons=[],
        phase=Phase.TRIAGE,
        phases={p: START + at for p, at in (phases or {}).items()},
        summary="",
        impact="",
        started_at=START,
        received_at=opened,
        acknowledged_by=PRIMARY if ack is not None else None,
        acknowledged_at=START + ack if ack is not None else None,
        roles=[],
        channel=None,
        paged=[Page(role=Role.oncall_primary, person=PRIMARY, dedup_key="k", outcome="paged", at=opened)],
        deliveries=1,
        private=private,
        resolution=Resolution(by=IC, summary="done", at=START + resolved) if resolved is not None else None,
        deliverables=ledger or [],
        timeline=sorted([*timeline, *extra], key=lambda e: e.at),
    )


def promise(c, key: str):
    return next(p for p in c.promises if p.key == key)


def test_the_windows_are_the_policys_and_said_as_the_plan_says_them():
    c = card(status(ack=MIN), POLICY, START + 5 * MIN)
    assert [promise(c, k).title for k in ("acknowledge", "triage", "contain", "fix")] == [
        f"Acknowledge within {spoken(W.DETECTION)}",
        f"Triage within {spoken(W.TRIAGE)}",
        f"Contain within {spoken(W.CONTAIN)}",
        f"Fix within {spoken(W.FIX)}",
    ]
    assert spoken(W.DETECTION) == "2 minutes" and spoken(W.FIX) == "4 hours"  # the plan's §4 words


@pytest.mark.parametrize(
    "ack, state, late_by",
    [
        (W.DETECTION - MIN, "kept", None),
        (W.DETECTION, "kept", None),  # at the deadline is in time
        (W.DETECTION + timedelta(milliseconds=999), "kept", None),  # judged to the second
        (W.DETECTION + timedelta(seconds=1), "missed", timedelta(seconds=1)),
        (W.DETECTION + 3 * MIN + timedelta(seconds=5), "missed", 3 * MIN + timedelta(seconds=5)),
        (None, "open", 8 * MIN),  # seen 10 min after the start, nobody has acknowledged
    ],
)
def test_acknowledgement_within_the_detection_window_from_the_start(ack, state, late_by):
    c = card(status(ack=ack), POLICY, START + W.DETECTION + 8 * MIN)
    a = promise(c, "acknowledge")
    assert (a.section, a.due_at, a.state, a.late_by) == ("§4.1", START + W.DETECTION, state, late_by)
    assert a.holder == f"{Role.oncall_primary.title} {POLICY.roster[Role.oncall_primary].name} <{PRIMARY}>"


@pytest.mark.parametrize("kind", [K.role, K.handover])
def test_the_holder_is_who_held_the_role_when_it_fell_due(kind):
    other = POLICY.roster[Role.engineering_lead]
    taken = [event(kind, START + W.TRIAGE + MIN, role=Role.incident_commander, person=other.email)]
    c = card(status(ack=MIN, extra=taken), POLICY, START + timedelta(hours=1))
    ic = POLICY.roster[Role.incident_commander]
    assert promise(c, "triage").holder == f"{Role.incident_commander.title} {ic.name} <{ic.email}>"
    assert promise(c, "contain").holder == f"{Role.incident_commander.title} {other.name} <{other.email}>"


def test_a_late_acknowledgement_is_shown_missed_by_the_right_amount():
    late = W.DETECTION + 4 * MIN + timedelta(seconds=30)
    text = render(card(status(ack=late), POLICY, START + 30 * MIN))
    assert "❌ §4.1 Acknowledge within 2 minutes: due 2026-03-02 09:02:00 UTC, missed by 4 min 30 s" in text


@pytest.mark.parametrize(
    "phases, resolved, expect",
    [
        # each phase left within its window
        ({Phase.CONTAIN: 5 * MIN, Phase.FIX: 20 * MIN}, timedelta(hours=1), ("kept", "kept", "kept")),
        # contained late, fixed late
        (
            {Phase.CONTAIN: 9 * MIN, Phase.FIX: W.CONTAIN + 7 * MIN},
            W.FIX + 15 * MIN,
            ("kept", "missed", "missed"),
        ),
        # resolved straight from TRIAGE: the passed-over phases ended at the resolution
        ({}, 20 * MIN, ("missed", "kept", "kept")),
        # still containing an hour in: triage kept, contain late so far, fix not due
        ({Phase.CONTAIN: 8 * MIN}, None, ("kept", "open", "open")),
    ],
)
def test_phase_windows_from_the_problems_start(phases, resolved, expect):
    now = START + (resolved or timedelta(hours=1))
    c = card(status(ack=MIN, phases=phases, resolved=resolved), POLICY, now)
    assert tuple(promise(c, k).state for k in ("triage", "contain", "fix")) == expect


def test_contain_missed_by_the_time_past_its_window():
    c = card(status(ack=MIN, phases={Phase.CONTAIN: 5 * MIN, Phase.FIX: W.CONTAIN + 7 * MIN}), POLICY, START)
    assert promise(c, "contain").late_by == 7 * MIN


def test_an_alert_that_reached_us_late_says_so_beside_the_windows_it_missed():
    c = card(status(received=40 * MIN, ack=41 * MIN), POLICY, START + 50 * MIN)
    a = promise(c, "acknowledge")
    assert a.state == "missed" and a.late_by == 41 * MIN - W.DETECTION
    assert a.note == "passed before the incident was opened, 40 min after the start"
    assert promise(c, "contain").note == a.note and promise(c, "fix").note == ""  # due after it opened


def _updates(c):
    return [(p.due_at - START, p.state, p.late_by) for p in c.promises if p.key.startswith("update-")]


P0, P1 = every(Severity.P0), every(Severity.P1)


@pytest.mark.parametrize(
    "severity, updates, resolved, expect",
    [
        # P0, on time each time; resolved before the third falls due
        (
            Severity.P0,
            [P0 - MIN, 2 * P0 - 3 * MIN],
            2 * P0 + MIN,
            [(P0, "kept", None), (2 * P0 - MIN, "kept", None)],
        ),
        # P1: one late by 5 minutes; the next counts from the late update
        (Severity.P1, [P1 + 5 * MIN], P1 + 5 * MIN + P1 - MIN, [(P1, "missed", 5 * MIN)]),
        # P0: none for 40 minutes: two missed, both answered by the update at 40
        (
            Severity.P0,
            [40 * MIN],
            40 * MIN + P0 - MIN,
            [(P0, "missed", 40 * MIN - P0), (2 * P0, "missed", 40 * MIN - 2 * P0)],
        ),
        # P1 resolved with an update owed: missed until the resolution
        (Severity.P1, [], P1 + 10 * MIN, [(P1, "missed", 10 * MIN)]),
        # P2 and P3 have no cadence
        (Severity.P2, [], timedelta(hours=2), []),
    ],
)
def test_updates_each_due_kept_or_missed_by_how_much(severity, updates, resolved, expect):
    c = card(status(severity, ack=MIN, updates=updates, resolved=resolved), POLICY, START + resolved)
    assert _updates(c) == expect
    assert all(p.section == "§5.2" for p in c.promises if p.key.startswith("update-"))


@pytest.mark.parametrize(
    "severity, updates, changes, resolved, expect",
    [
        # found by the property below: an update at the very moment the second fell due answers
        # the first (late) and keeps the second
        (Severity.P1, [2 * P1], {}, 2 * P1 + MIN, [(P1, "missed", P1), (2 * P1, "kept", None)]),
        # a missed P1 update, then P0: the next is due at once (as the bridge re-times it)
        (
            Severity.P1,
            [],
            {P1 + 15 * MIN: Severity.P0},
            P1 + 20 * MIN,
            [(P1, "missed", 20 * MIN), (P1 + 15 * MIN, "missed", 5 * MIN)],
        ),
        # P0 re-timed, then P2 at the very moment its update fell due: that update is still owed
        (
            Severity.P1,
            [],
            {14 * MIN: Severity.P0, P0: Severity.P2},
            P0 + 10 * MIN,
            [(P0, "missed", 10 * MIN)],
        ),
    ],
)
def test_updates_at_the_moments_a_cadence_changes(severity, updates, changes, resolved, expect):
    c = card(status(severity, ack=MIN, updates=updates, changes=changes, resolved=resolved), POLICY, START)
    assert _updates(c) == expect


def test_an_open_incident_shows_the_update_owed_and_the_next():
    c = card(status(Severity.P0, ack=MIN, updates=[P0 - MIN]), POLICY, START + 2 * P0 + 2 * MIN)
    assert _updates(c) == [(P0, "kept", None), (2 * P0 - MIN, "open", 3 * MIN), (3 * P0 - MIN, "open", None)]


def test_a_raised_severity_re_times_the_cadence_as_the_bridge_does():
    # P2 (no cadence) → P0 an hour in: the first update is due at once (one cadence after opening passed)
    c = card(
        status(
            Severity.P2,
            ack=MIN,
            changes={timedelta(hours=1): Severity.P0},
            updates=[timedelta(hours=1, minutes=4)],
        ),
        POLICY,
        START + timedelta(hours=1, minutes=10),
    )
    got = _updates(c)
    assert got[0] == (timedelta(hours=1), "missed", 4 * MIN)
    assert got[1] == (timedelta(hours=1, minutes=4) + P0, "open", None)


@pytest.mark.parametrize(
    "severity, private, posted, expect",
    [
        (Severity.P1, False, 3 * MIN, "kept"),
        (Severity.P0, False, W.TRIAGE + 2 * MIN, "missed"),
        (Severity.P2, False, None, None),  # not a status-page severity
        (Severity.P0, True, None, None),  # private: nothing public until a statement is approved
    ],
)
def test_status_page_when_it_applies(severity, private, posted, expect):
    extra = [event(K.status_page, START + posted)] if posted is not None else []
    c = card(status(severity, ack=MIN, private=private, extra=extra), POLICY, START + timedelta(hours=1))
    got = next((p for p in c.promises if p.key == "status-page"), None)
    assert (got.state if got else None) == expect
    if got:
        assert got.due_at == START + W.TRIAGE and got.holder.startswith(Role.communications_lead.title)


def _closed(ledger, key, state, after: timedelta, by=IC, reason=None):
    d = next(d for d in ledger if d.key == key)
    d.state, d.closed_at, d.closed_by, d.reason = (
        state,
        d.due_at - POLICY.deliverables[key].sla + after,
        by,
        reason,
    )


def test_deliverables_from_the_ledgers_due_and_closed_times():
    resolved = timedelta(hours=1)
    ledger = open_ledger(POLICY, Severity.P0, START + resolved)
    _closed(ledger, "customer_email", "done", 90 * MIN)  # within 2 hours
    _closed(ledger, "incident_report", "done", timedelta(hours=26))  # 2 h late
    _closed(ledger, "runbook_update", "waived", timedelta(days=1), reason="nothing new")
    now = START + resolved + timedelta(hours=30)
    c = card(status(Severity.P0, ack=MIN, resolved=resolved, ledger=ledger), POLICY, now)
    by_key = {p.key: p for p in c.promises if p.section == "§8"}
    assert by_key["customer_email"].state == "kept"
    assert (by_key["incident_report"].state, by_key["incident_report"].late_by) == (
        "missed",
        timedelta(hours=2),
    )
    assert by_key["postmortem_meeting"].state == "open" and by_key["postmortem_meeting"].late_by is None
    assert "runbook_update" not in by_key and c.waived == ["runbook_update"]
    assert "public_postmortem" not in by_key  # optional: no promise
    assert by_key["customer_email"].due_at == START + resolved + POLICY.deliverables["customer_email"].sla


def test_render_one_line_per_promise_with_its_mark():
    c = card(status(Severity.P1, ack=W.DETECTION + MIN, updates=[10 * MIN]), POLICY, START + 20 * MIN)
    lines = render(c).splitlines()
    assert len(lines) == 2 + len(c.promises)
    assert lines[1] == f"{len(c.kept)} kept · {len(c.missed)} missed · {len(c.open)} open"
    assert [line[0] for line in lines[2:]] == [
        {"kept": "✅", "missed": "❌", "open": "⏳"}[p.state] for p in c.promises
    ]


def test_a_resolved_incident_never_acknowledged_missed_it_until_the_resolution():
    c = card(status(resolved=W.CONTAIN), POLICY, START + timedelta(days=1))
    a = promise(c, "acknowledge")
    assert (a.state, a.late_by) == ("missed", W.CONTAIN - W.DETECTION)


@pytest.mark.parametrize(
    "key, family_",
    [
        ("update-12", "update"),
        ("acknowledge", "acknowledge"),
        ("status-page", "status-page"),
        ("action_items", "action_items"),
    ],
)
def test_the_metric_label_is_the_promise_without_its_number(key, family_):
    assert family(key) == family_


def test_the_postmortem_draft_shows_the_card_as_a_list():
    c = card(status(ack=W.DETECTION + MIN, resolved=timedelta(hours=1)), POLICY, START + timedelta(hours=1))
    text = compliance(c)
    assert text.splitlines()[0] == f"{len(c.kept)} kept · {len(c.missed)} missed · {len(c.open)} open"
    assert "- ❌ §4.1 Acknowledge within 2 minutes: due 2026-03-02 09:02:00 UTC, missed by 1 min" in text


# --- §8 promises counted by the worker (the `irp_promises` metric, workflows/metrics.py) ------------


def test_a_deliverable_done_in_time_counts_kept_and_one_gone_overdue_counts_missed():
    incident = resolved()
    done = send(
        incident, "complete_deliverable", {"by": IC, "deliverable": "incident_report", "link": "https://x"}
    )
    assert fx.Promised("incident_report", "P1", "kept") in done.effects
    incident.lanes.clear()
    for _ in range(3):
        incident.time_passes(4400)  # past every §8 due time (a week at most)
    counted = [e for e in incident.lanes if isinstance(e, fx.Promised)]
    missed = {e.promise for e in counted if e.outcome == "missed"}
    ledger = {d.key for d in incident.state.ledger if not d.optional}
    assert missed == ledger - {"incident_report"} and all(e.severity == "P1" for e in counted)
    late = send(
        incident, "complete_deliverable", {"by": IC, "deliverable": "action_items", "link": "https://y"}
    )
    assert not [e for e in late.effects if isinstance(e, fx.Promised)]  # counted once, missed at its due time


# --- end to end: a P0 on the dev server, `irp compliance`, the close-out and the draft -------------

ROOT = Path(__file__).resolve().parent.parent


async def irp(dev_env, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "starter.py"), *args, env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


async def test_irp_compliance_the_close_out_and_the_draft_show_a_late_acknowledgement(
    dev_env, run_worker, prometheus, slack, policy
):
    prometheus.healthy(policy)
    began = datetime.now(UTC).replace(microsecond=0) - 10 * MIN  # acknowledged at least 8 min late
    declaration = Declaration(summary="Login down", severity="P0", reporter=IC, started_at=began)
    async with run_worker(dev_env.client) as tq:
        receipt = await declare_incident(dev_env.client, tq, declaration, f"compliance-{uuid.uuid4()}")
        handle = dev_env.client.get_workflow_handle(receipt.incident_id)
        await status_when(handle, lambda s: s.channel_id and s.cadence)
        await handle.signal("acknowledge", {"by": PRIMARY})
        acked = await status_when(handle, lambda s: s.acknowledged_at)
        code, out, err = await irp(dev_env, "compliance", receipt.incident_id)
        assert code == 0, err
        late = acked.acknowledged_at - (began + W.DETECTION)
        due = f"{began + W.DETECTION:%Y-%m-%d %H:%M:%S} UTC"
        assert f"❌ §4.1 Acknowledge within 2 minutes: due {due}, missed by {how_late(late)}" in out, out
        assert "⏳ §5.2 Update 1 (every 15 minutes, P0)" in out, out  # the first update, owed and open
        await handle.signal("resolve", {"by": IC, "summary": "Rolled back", "root_cause": "A deploy"})
        done = await status_when(handle, lambda s: s.phase == "REVIEW", timeout=30)
        code, out, err = await irp(dev_env, "compliance", receipt.incident_id, "--json")
        await finish(handle)
    shown = ComplianceCard.model_validate_json(out)
    assert {p.key: p.state for p in shown.promises}["acknowledge"] == "missed"
    assert {p.key for p in shown.promises} >= {d.key for d in done.deliverables if not d.optional}
    texts = [m["text"] for m in slack.channels[done.channel_id].messages]
    closing = next(t for t in texts if "RESOLVED" in t and "📋 Compliance" in t)
    assert f"missed by {how_late(late)}" in closing
    draft = next(t for t in texts if t.startswith("📝 Post-mortem draft"))
    assert "## The plan's promises" in draft and "- ❌ §4.1 Acknowledge within 2 minutes" in draft


@workflow.defn(name="IncidentWorkflow", sandboxed=False)
class BeforeTheComplianceQuery:
    """An incident served by a build from before the `compliance` query: it answers `status` only."""

    def __init__(self) -> None:
        self.answer: IncidentStatus | None = None

    @workflow.run
    async def run(self, answer: IncidentStatus) -> None:
        self.answer = answer
        await workflow.wait_condition(lambda: False)

    @workflow.query
    def status(self) -> IncidentStatus:
        return self.answer


async def test_an_incident_of_a_build_before_the_query_is_judged_here_and_said_so(dev_env):
    answer = status(ack=W.DETECTION + 4 * MIN)
    tq = f"before-compliance-{uuid.uuid4().hex[:8]}"
    async with Worker(dev_env.client, task_queue=tq, workflows=[BeforeTheComplianceQuery]):
        handle = await dev_env.client.start_workflow(
            "IncidentWorkflow", answer, id=f"inc-before-{uuid.uuid4().hex[:8]}", task_queue=tq
        )
        now = START + timedelta(hours=1)
        got = await compliance_of(handle, now, load_policy)
        with pytest.raises(WorkflowQueryFailedError):
            await compliance_of(handle, now)
        await handle.terminate("test finished")
    assert got.card == card(answer, POLICY, now) and "predates the compliance query" in got.note
    assert promise(got.card, "acknowledge").late_by == 4 * MIN


# --- properties: the card agrees with the bridge's own §5.2 clock, and is self-consistent ----------


def as_status(s) -> IncidentStatus:
    """The `status` answer's fields the card reads, from a simulated incident's state."""
    return IncidentStatus(
        incident_id="inc-sim", severity=s.decision.severity, severity_reasons=[], phase=s.phase,
        phases=s.phases, summary="", impact="", started_at=s.started_at, received_at=s.received_at,
        acknowledged_by=s.acknowledged_by, acknowledged_at=s.acknowledged_at, roles=[], channel=None,
        paged=s.paged, deliveries=1, cadence=s.cadence, private=s.private, resolution=s.resolution,
        deliverables=s.ledger, timeline=s.timeline,
    )  # fmt: skip


STEPS = st.lists(
    st.tuples(
        st.sampled_from([1, 3, 7, 11, 16, 29, 31, 44, 61, 95]),
        st.sampled_from(["update", "wait", "P0", "P2"]),
    ),
    max_size=14,
)
UPDATE = {"by": IC, "status": "ONGOING", "current_action": "Rolling back", "what_we_know": "A deploy"}


@budget(60)
@given(labels=st.sampled_from([{"module": "fees"}, {"module": "auth", "scope": "all"}]), steps=STEPS)
def test_missed_updates_are_the_ones_the_bridge_called_overdue(labels, steps):
    """Any run of updates, waits and severity changes: the card's missed §5.2 updates (and those
    late so far) are as many as the workflow's deciders nudged the IC for (Cadence.overdue_updates).
    Seen half a minute after the last step (every moment here is a whole minute), so nothing is
    due at the very instant it is judged. Left out: runs with an update at the very moment one
    fell due (in time for the card; the bridge's timer fires first and nudges), or a severity
    change then (the bridge nudges twice in that instant, for the old cadence and the new; the
    card counts one update owed)."""
    incident = opened(labels)
    for minutes, step in steps:
        incident.time_passes(minutes)
        if step == "update":
            send(incident, "post_update", UPDATE)
        elif step != "wait" and step != incident.state.decision.severity:
            send(incident, "set_severity", {"by": IC, "severity": step, "reason": "as seen"})
    now = incident.now + timedelta(seconds=30)
    c = card(as_status(incident.state), POLICY, now)
    updates = [p for p in c.promises if p.key.startswith("update-")]
    said = {e.at for e in incident.state.timeline if e.kind in (K.update, K.severity)}
    assume(not any(p.due_at in said for p in updates))
    late = [p for p in updates if p.state == "missed" or p.late_by]
    said_as = f"{labels} {steps}\n{render(c)}"
    assert len(late) == (incident.state.cadence.overdue_updates if incident.state.cadence else 0), said_as
    assert [p.key for p in updates] == [f"update-{n}" for n in range(1, len(updates) + 1)], said_as
    for p in c.promises:
        if p.state == "kept":
            assert p.kept_at - p.due_at < timedelta(seconds=1) and p.late_by is None
        elif p.state == "missed":
            assert p.late_by > timedelta(0)
        else:
            assert p.late_by == (now - p.due_at if now > p.due_at else None)


def test_before_a_severity_the_card_holds_the_windows_and_no_cadence():
    answer = status(ack=MIN).model_copy(update={"severity": None})
    answer.timeline = [e for e in answer.timeline if e.kind != K.severity]
    c = card(answer, POLICY, START + 5 * MIN)
    assert [p.key for p in c.promises] == ["acknowledge", "triage", "contain", "fix"]
    assert render(c).splitlines()[0] == "📋 Compliance — inc-test"
