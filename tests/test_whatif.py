"""`irp whatif` (issue 24, item 4): recorded incidents decided again under a changed policy, and
exactly what would have differed. Pure table tests on made-up inputs and on the recorded histories
of tests/histories/, one end-to-end run on the dev server through visibility and history."""

from __future__ import annotations

import glob
import itertools
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st
from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import (
    HistoryEvent,
    WorkflowExecutionSignaledEventAttributes,
    WorkflowExecutionStartedEventAttributes,
)
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from cli import whatif as whatif_cli
from cli.keycheck import payloads_in
from cli.main import parser, run
from connection.codec import EncryptionCodec, generate_key
from connection.search_attributes import register_search_attributes
from connection.temporal import data_converter
from devstack.devserver import dynamic_config_args
from incident_client.history import History
from incident_client.intake import deliver_alerts
from plan import AlertmanagerDelivery, Policy, load_policy
from plan.alert_digest import AlertDigest, digest
from plan.compliance import card
from plan.incident import IncidentInput, IncidentState
from plan.models import Person, Phase, Role
from plan.refusals import RefusalLog
from plan.rerun import Delivered, Recorded, Sent, rerun
from plan.status import status_of
from plan.whatif import every, offset, render, replay, since, span
from tests.conftest import binary
from tests.fuzz import budget
from tests.helpers import eventually, finish, status_when
from tests.payloads import alert, delivery
from workflows import IncidentWorkflow
from workflows.signals import BY_NAME

POLICY = load_policy()
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
IC, PRIMARY, LEAD = "asha.rao@preskool.com", "ben.okafor@preskool.com", "dana.whitfield@preskool.com"
IVY = Person(name="Ivy Nakamura", email="ivy.nakamura@preskool.com", contacts={"slack": "U0ENGLEAD2"})
HISTORIES = sorted(  # the incidents' (not the heartbeat's)
    p for p in glob.glob(str(Path(__file__).parent / "histories" / "v2.*" / "*.json")) if "heartbeat" not in p
)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def firing(**labels) -> AlertDigest:
    """A delivery whose alert began at T0 (so §4's windows count from T0)."""
    one = alert(**labels)
    one["startsAt"] = "2026-11-27T10:00:00Z"
    return digest(AlertmanagerDelivery.model_validate(delivery(one)))


def changed(policy: Policy = POLICY, **update) -> Policy:
    return policy.model_copy(update=update)


def p1_cadence(minutes: int, policy: Policy = POLICY) -> Policy:
    return changed(policy, update_cadence={**policy.update_cadence, "P1": timedelta(minutes=minutes)})


def found(replayed) -> list[tuple[str, str, str, str]]:
    return [(d.aspect, d.item, d.before, d.after) for d in replayed.differences]


# A P1 on fees: acknowledged at +1m, one update at +25m, resolved at +50m.
P1_WORKED = Recorded(
    "inc-p1",
    T0,
    (
        Delivered(at(0), firing(module="fees")),
        Sent(at(1), "acknowledge", {"by": PRIMARY}),
        Sent(
            at(25),
            "post_update",
            {"by": IC, "status": "ONGOING", "current_action": "Rolling back", "what_we_know": "A deploy"},
        ),
        Sent(at(50), "resolve", {"by": IC, "summary": "Rolled back"}),
    ),
    until=at(60),
)


def test_a_shorter_p1_cadence_misses_the_update_posted_at_25_minutes():
    """30 → 20 min: the update due at +20m came at +25m (missed by 5m), the next fell due at +45m
    and the resolve at +50m ended it (missed by 5m); the bridge would have nudged at +20m and +45m."""
    replayed = replay(P1_WORKED, POLICY, p1_cadence(20), BY_NAME)
    assert found(replayed) == [
        ("cadence", "", "every 30 min", "every 20 min"),
        ("nudges", "", "window at +10m", "window at +10m; update-overdue at +20m; update-overdue at +45m"),
        ("compliance", "update-1", "kept", "missed by 5m"),
        ("compliance", "update-2", "—", "missed by 5m"),
    ]
    assert (replayed.before.kept - replayed.after.kept, replayed.after.missed - replayed.before.missed) == (
        1,
        2,
    )


def test_a_module_made_critical_raises_the_severity_and_pages_the_p1_roles():
    """`library` is in no critical list: no severity label gives the plan's default (P3), which
    pages the on-call engineer only; made critical, it is a P1 (§6) with its RACI's pages (§3), its
    §5.2 cadence and its §5.3 status page."""
    recorded = Recorded(
        "inc-library",
        T0,
        (Delivered(at(0), firing(module="library")), Sent(at(3), "acknowledge", {"by": PRIMARY})),
        until=at(15),
    )
    critical = POLICY.triage.model_copy(
        update={"critical_modules": [*POLICY.triage.critical_modules, "library"]}
    )
    replayed = replay(recorded, POLICY, changed(triage=critical), BY_NAME)
    assert found(replayed) == [
        ("severity", "", "P3", "P1"),
        ("paged", "Incident Commander (IC)", "—", f"{IC} at +0m"),
        ("paged", "Engineering Lead", "—", f"{LEAD} at +0m"),
        ("paged", "Communications Lead", "—", "elif.demir@preskool.com at +0m"),
        ("cadence", "", "none", "every 30 min"),
        ("compliance", "update-1", "—", "open"),
        ("compliance", "status-page", "—", "kept"),
    ]


async def recorded(name: str) -> History:
    path = next(p for p in HISTORIES if p.endswith(f"/{name}.json"))
    history = WorkflowHistory.from_json(f"inc-{name}", Path(path).read_text())
    return await History([history], pydantic_data_converter).read()


async def test_restart_scale_for_the_engineering_lead_only_leaves_the_ics_approval_refused():
    """The recorded p0_approvals: the IC approved `rb` (restart_scale) and its command ran (exit 1,
    as recorded). With only the Engineering Lead as its approver, the IC's approval is refused and
    nobody else approved: the request expires after 30 minutes (§4.3)."""
    history = await recorded("p0_approvals")
    pinned = history.policy
    rule = pinned.actions["restart_scale"].model_copy(update={"approvers": [Role.engineering_lead]})
    replayed = replay(
        history.recorded(T0),
        pinned,
        changed(pinned, actions={**pinned.actions, "restart_scale": rule}),
        BY_NAME,
    )
    assert found(replayed) == [
        (
            "approvers",
            "rb",
            f"Incident Commander (IC) ({IC}), Engineering Lead ({LEAD})",
            f"Engineering Lead ({LEAD})",
        ),
        ("requests", "rb", "failed", "expired"),
    ]


async def test_another_engineering_lead_is_paged_and_the_old_ones_approval_is_refused():
    """A new Engineering Lead in the roster: she is paged instead, she is who could approve, and
    Dana's approval of the second-engineer `sec` request (now a stranger's) no longer counts."""
    history = await recorded("p0_approvals")
    pinned = history.policy
    new = changed(pinned, roster={**pinned.roster, Role.engineering_lead: IVY})
    replayed = replay(history.recorded(T0), pinned, new, BY_NAME)
    assert [(d.aspect, d.item) for d in replayed.differences] == [
        ("paged", "Engineering Lead"),
        ("approvers", "rb"),
        ("approvers", "sec"),
        ("requests", "sec"),
    ]
    by_item = {d.item: d for d in replayed.differences}
    assert by_item["Engineering Lead"].after == f"{IVY.email} at +0m"
    assert f"Engineering Lead ({IVY.email})" in by_item["rb"].after and LEAD not in by_item["rb"].after
    assert (by_item["sec"].before, by_item["sec"].after) == ("done", "expired")


async def test_a_longer_sla_keeps_the_incident_report_written_after_25_hours():
    """The recorded p0_ledger: the internal report was done at +1d01h, an hour past its 24-hour
    SLA (§8); under a 48-hour SLA it falls due at +2d and was kept."""
    history = await recorded("p0_ledger")
    pinned = history.policy
    row = pinned.deliverables["incident_report"].model_copy(update={"sla": timedelta(days=2)})
    new = changed(pinned, deliverables={**pinned.deliverables, "incident_report": row})
    replayed = replay(history.recorded(T0), pinned, new, BY_NAME)
    assert found(replayed) == [
        ("due", "incident_report", "+1d00h", "+2d00h"),
        ("compliance", "incident_report", "missed by 1h00m", "kept"),
    ]


async def test_an_encrypted_history_reads_as_the_plain_one():
    """With payload encryption on (connection/codec.py), the inputs and the pinned policy are read
    through the client's converter: the same as from the plain history. (The core's own local
    activity bookkeeping stays plain, as the SDK writes it.)"""
    codec = EncryptionCodec.from_text(generate_key())
    path = next(p for p in HISTORIES if p.endswith("/p0_approvals.json"))
    plain = WorkflowHistory.from_json("inc-sealed", Path(path).read_text())
    sealed = WorkflowHistory.from_json("inc-sealed", Path(path).read_text())
    for event in sealed.events:
        for payload in payloads_in(event):
            if b'"activity_type"' not in payload.data:
                payload.CopyFrom((await codec.encode([payload]))[0])
    assert b"ben.okafor" not in b"".join(e.SerializeToString() for e in sealed.events)
    read_plain = await History([plain], pydantic_data_converter).read()
    read_sealed = await History([sealed], data_converter(codec)).read()
    assert read_sealed.policy == read_plain.policy and read_sealed.policy is not None
    assert read_sealed.recorded(T0) == read_plain.recorded(T0)
    assert len(read_plain.recorded(T0).events) == 10


async def test_an_incident_continued_as_new_is_read_across_its_runs():
    """p0_continue_as_new's first run ends continued as new; a second run starts with the carried
    state and takes an update. Read together: one incident, from the first run's start and policy,
    its inputs from both runs in order (the carried state is no new declaration)."""
    path = next(p for p in HISTORIES if p.endswith("/p0_continue_as_new.json"))
    first = WorkflowHistory.from_json("inc-long", Path(path).read_text())
    carried = first.events[-1]
    assert carried.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    moved = carried.workflow_execution_continued_as_new_event_attributes
    later = (carried.event_time.ToDatetime(tzinfo=UTC) + timedelta(minutes=1)).replace(microsecond=0)
    update = {"by": IC, "status": "ONGOING", "current_action": "Rolling back", "what_we_know": "A deploy"}
    second = WorkflowHistory(
        "inc-long",
        [
            HistoryEvent(
                event_id=1,
                event_time=carried.event_time,
                event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
                workflow_execution_started_event_attributes=WorkflowExecutionStartedEventAttributes(
                    workflow_type=moved.workflow_type, input=moved.input
                ),
            ),
            HistoryEvent(
                event_id=2,
                event_time=Timestamp(seconds=int(later.timestamp())),
                event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
                workflow_execution_signaled_event_attributes=WorkflowExecutionSignaledEventAttributes(
                    signal_name="post_update",
                    input=Payloads(payloads=pydantic_data_converter.payload_converter.to_payloads([update])),
                ),
            ),
        ],
    )
    alone = await History([first], pydantic_data_converter).read()
    both = await History([first, second], pydantic_data_converter).read()
    assert both.policy == alone.policy and both.started_at == alone.started_at
    assert both.recorded(T0).events == (*alone.recorded(T0).events, Sent(later, "post_update", update))
    assert (
        replay(both.recorded(later), both.policy, both.policy, BY_NAME).after.compliance["update-1"]
        != (replay(alone.recorded(later), alone.policy, alone.policy, BY_NAME).after.compliance["update-1"])
    )


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: Path(p).stem)
async def test_every_recorded_incident_under_its_own_policy_differs_in_nothing(path):
    """Decided twice under the policy it pinned, a recorded incident comes out the same: what
    whatif reports is the change's, never the harness's."""
    history = WorkflowHistory.from_json(Path(path).stem, Path(path).read_text())
    read = await History([history], pydantic_data_converter).read()
    replayed = replay(read.recorded(T0), read.policy, read.policy.model_copy(deep=True), BY_NAME)
    assert replayed.differences == []


async def test_an_invalid_policy_is_refused_with_its_key_path(tmp_path, capsys):
    """As the worker refuses it (plan/policy.py), before anything connects: exit 2 (usage)."""
    text = Path("config/preskool.yaml").read_text().replace("P1: PT30M", "P1: soon")
    assert text != Path("config/preskool.yaml").read_text()
    bad = tmp_path / "new.yaml"
    bad.write_text(text)
    assert await run(parser().parse_args(["whatif", "--policy", str(bad)])) == 2
    assert f"refused: {bad}: update_cadence.P1: Input should be a valid timedelta" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("minutes", "shown"),
    [(0, "+0m"), (7, "+7m"), (65, "+1h05m"), (3 * 1440 + 120, "+3d02h"), (-2, "-2m")],
)
def test_times_are_shown_from_the_incidents_start(minutes, shown):
    assert offset(T0, at(minutes)) == shown


@pytest.mark.parametrize(
    ("delta", "shown"),
    [
        (timedelta(seconds=12.7), "12s"),
        (timedelta(seconds=59), "59s"),
        (timedelta(minutes=1), "1m"),
        (timedelta(minutes=5, seconds=30), "5m"),
        (timedelta(hours=1, minutes=5), "1h05m"),
        (timedelta(days=1, hours=1), "1d01h"),
    ],
)
def test_a_lateness_under_a_minute_is_shown_in_seconds(delta, shown):
    """A miss of seconds (a drill's, a test's) does not read "missed by 0m"."""
    assert span(delta) == shown


@pytest.mark.parametrize(
    ("delta", "shown"),
    [
        (timedelta(minutes=30), "every 30 min"),
        (timedelta(seconds=4), "every 4s"),
        (timedelta(seconds=90), "every 90s"),
    ],
)
def test_a_cadence_is_shown_in_minutes_or_else_seconds(delta, shown):
    assert every(delta) == shown


def test_the_report_says_how_many_runs_each_incident_took():
    """Continue-as-new makes several runs of one incident; the report names them beside its id."""
    one = replay(P1_WORKED, POLICY, POLICY, BY_NAME)
    two = replay(replace(P1_WORKED, incident_id="inc-long", runs=2), POLICY, p1_cadence(20), BY_NAME)
    lines = render([one, two]).splitlines()
    assert lines[0] == "inc-p1 (1 run): no difference"
    assert lines[1] == "inc-long (2 runs): 4 difference(s)"


@pytest.mark.parametrize(
    ("text", "ago"),
    [
        ("90d", timedelta(days=90)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_since_reads_a_number_and_a_unit(text, ago):
    assert since(T0, text) == T0 - ago


@pytest.mark.parametrize("text", ["90", "d", "-3d", "1.5h", "90x", ""])
def test_since_refuses_anything_else(text):
    with pytest.raises(ValueError, match="say how long ago"):
        since(T0, text)


async def test_whatif_on_incidents_recorded_on_the_dev_server(
    dev_env, run_worker, tmp_path, monkeypatch, capsys
):
    """Two incidents worked on a real worker, found through visibility, read from their histories:
    under the policy they pinned the rerun agrees with each incident's own status; under a new
    Engineering Lead and a 20-minute P1 cadence, exactly those differ."""
    client = dev_env.client
    async with run_worker(client) as tq:
        handles = []
        for module in ("fees", "grades"):
            payload = delivery(alert(module=module), group=f"WhatIf{module}{tq}")
            receipt = await deliver_alerts(client, tq, AlertmanagerDelivery.model_validate(payload))
            handles.append(client.get_workflow_handle(receipt.incident_id))
        await handles[0].signal("acknowledge", {"by": PRIMARY})
        statuses = [
            await status_when(handles[0], lambda s: s.acknowledged_by and s.paged),
            await status_when(handles[1], lambda s: s.paged),
        ]
        finals, closed = [], []
        for handle in handles:
            finals.append(await handle.query(IncidentWorkflow.status))
            await finish(handle)
            closed.append((await handle.describe()).close_time)
    new = p1_cadence(20, changed(roster={**POLICY.roster, Role.engineering_lead: IVY}))

    async def both_listed():
        replayed, _ = await whatif_cli.whatif(client, new, T0, datetime.now(UTC), where=f"TaskQueue = '{tq}'")
        return replayed if len(replayed) == 2 else None

    replayed = await eventually(both_listed)
    assert [r.incident_id for r in replayed] == [h.id for h in handles]
    for status, r in zip(statuses, replayed, strict=True):
        assert r.before.severity == status.severity == "P1"
        assert {role: shown.split(" at ")[0] for role, shown in r.before.paged.items()} == {
            p.role.title: p.person for p in status.paged if p.outcome == "paged"
        }
        assert [(d.aspect, d.item) for d in r.differences] == [("paged", "Engineering Lead"), ("cadence", "")]
        assert r.differences[0].after.startswith(IVY.email)
    for final, at_close, r in zip(finals, closed, replayed, strict=True):  # the live card, the rerun's
        live = card(final, POLICY, at_close)
        assert {p.key: p.state for p in live.promises} == {
            k: v.split()[0] for k, v in r.before.compliance.items()
        }
    text = whatif_cli.show(replayed, [], as_json=False)
    assert "2 of 2 incident(s) would have differed" in text and "cadence: 2 incident(s)" in text

    # The command itself, as an operator runs it: the new policy from a file, the same answer.
    new_file = tmp_path / "new.yaml"
    new_file.write_text(yaml.safe_dump(new.model_dump(mode="json")))
    monkeypatch.setenv("TEMPORAL_ADDRESS", client.service_client.config.target_host)
    argv = ["whatif", "--policy", str(new_file), "--since", "1h", "--task-queue", tq, "--format", "json"]
    capsys.readouterr()
    assert await run(parser().parse_args(argv)) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown == {"incidents": [r.model_dump(mode="json") for r in replayed], "skipped": []}


# --- an incident that really continued as new --------------------------------------------------------


@pytest_asyncio.fixture(scope="module")
async def short_runs():
    """A dev server that suggests continue-as-new after 200 events (Temporal's default is 4,096),
    so an incident continues as new mid-response within a test."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=pydantic_data_converter,
        ui=False,
        dev_server_log_level="error",
        dev_server_extra_args=dynamic_config_args({"limit.historyCount.suggestContinueAsNew": 200}),
    )
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


def update(n: int) -> dict:
    return {"by": IC, "status": "ONGOING", "current_action": f"Update {n}", "what_we_know": "A deploy"}


async def chain(client: Client, tq: str) -> tuple[list, History]:
    """The one incident on `tq`, as `irp whatif` finds it: its runs' histories, read together."""

    async def listed():
        found = await whatif_cli.recorded_since(client, T0, where=f"TaskQueue = '{tq}'")
        return found if found and len(found[0]) > 1 else None

    (runs,) = await eventually(listed)
    histories = [await client.get_workflow_handle(r.id, run_id=r.run_id).fetch_history() for r in runs]
    return histories, await History(histories, client.data_converter).read()


def inputs(run: WorkflowHistory) -> list[str]:
    """The people's inputs one run's history took, as "signal current_action"."""
    taken = []
    for e in run.events:
        if e.HasField("workflow_execution_signaled_event_attributes"):
            signaled = e.workflow_execution_signaled_event_attributes
            (value,) = pydantic_data_converter.payload_converter.from_payloads(signaled.input.payloads)
            taken.append(f"{signaled.signal_name} {value.get('current_action', '')}".strip())
    return taken


async def test_whatif_reads_an_incident_that_really_continued_as_new(
    short_runs, run_worker, prometheus, policy, tmp_path, monkeypatch, capsys
):
    """A P1 worked on a real worker continues as new mid-response (its history grew past the
    server's suggestion): the acknowledgement and updates in the first run, updates and the
    resolve in the second (REVIEW may make a third), after a pause. `irp whatif` finds the runs
    (this server's visibility lists no first run id) and reads them as one incident: every input
    once, in order, none of the carried state counted again. Under the policy it pinned it differs
    in nothing and agrees with the live incident; under a P1 cadence between the other gaps and
    the pause, only the update after the pause is missed, by the pause less the cadence."""
    client = short_runs.client
    prometheus.healthy(policy)  # the §4.5 gate passes: the resolve resolves
    async with run_worker(client) as tq:
        marks = [datetime.now(UTC)]  # around each input: no two came further apart than these say
        payload = delivery(alert(module="fees"), group=f"WhatIfChain{tq}")
        receipt = await deliver_alerts(client, tq, AlertmanagerDelivery.model_validate(payload))
        handle = client.get_workflow_handle(receipt.incident_id)
        marks.append(datetime.now(UTC))
        await handle.signal("acknowledge", {"by": PRIMARY})
        await status_when(handle, lambda s: s.acknowledged_by and s.paged)
        sent = 0
        while (await handle.query(IncidentWorkflow.status)).runs == 1 or not sent:  # a long history
            assert sent < 60, "the incident never continued as new"
            sent += 1
            await handle.signal("post_update", update(sent))
            await status_when(handle, lambda s, n=sent: s.cadence and s.cadence.updates_posted == n)
            marks.append(datetime.now(UTC))
        sent += 1
        await handle.signal("post_update", update(sent))  # in the new run, before the pause
        await status_when(handle, lambda s: s.cadence.updates_posted == sent)
        marks.append(datetime.now(UTC))
        pause = 2 * max(b - a for a, b in zip(marks, marks[2:], strict=False)) + timedelta(seconds=4)
        await eventually(lambda: datetime.now(UTC) >= marks[-1] + pause, timeout=120)
        for n in (sent + 1, sent + 2):  # the update after the pause, another at once, the resolve
            await handle.signal("post_update", update(n))
        await handle.signal("resolve", {"by": IC, "summary": "Rolled back", "root_cause": "A deploy"})
        final = await status_when(handle, lambda s: s.phase == "REVIEW" and s.deliverables, timeout=30)
        await finish(handle)
        closed = (await handle.describe()).close_time

    histories, read = await chain(client, tq)
    # Two runs at least: the second may itself grow past the suggestion in REVIEW and continue again.
    assert len(histories) >= final.runs >= 2
    first, second = inputs(histories[0]), [i for h in histories[1:] for i in inputs(h)]
    assert (
        first[0] == "acknowledge"
        and len(first) > 1
        and first[1:] == [f"post_update Update {n}" for n in range(1, len(first))]
    )
    assert second == [f"post_update Update {n}" for n in range(len(first), sent + 3)] + ["resolve"]
    recorded = read.recorded(datetime.now(UTC))
    taken = [e for e in recorded.events if isinstance(e, Sent)]
    assert [f"{e.signal} {e.value.get('current_action', '')}".strip() for e in taken] == first + second
    assert [type(e) for e in recorded.events].count(Delivered) == 1 and recorded.runs == len(histories)
    pinned = read.policy
    assert pinned is not None and recorded.started_at == histories[0].events[0].event_time.ToDatetime(
        tzinfo=UTC
    )

    # Under the policy it pinned: what the live incident came to, and no difference.
    again = rerun(recorded, pinned, BY_NAME)
    assert again.state.cadence.updates_posted == final.cadence.updates_posted == sent + 2
    assert again.state.deliveries == final.deliveries == 1
    live = card(final, pinned, closed)
    same = await whatif_cli.whatif(client, pinned, T0, datetime.now(UTC), where=f"TaskQueue = '{tq}'")
    (replayed,), _ = same
    assert replayed.differences == [] and replayed.runs == len(histories)
    assert {p.key: p.state for p in live.promises} == {
        k: v.split()[0] for k, v in replayed.before.compliance.items()
    }
    assert f"({len(histories)} runs): no difference" in whatif_cli.show([replayed], [], as_json=False)

    # Under a P1 cadence longer than every other gap and shorter than the pause: the update after
    # the pause (update `sent + 1`, as every earlier one answered one due) is missed by the pause
    # less the cadence; nothing else.
    times = [recorded.started_at, *(e.at for e in taken if e.signal in ("post_update", "resolve"))]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    paused = gaps[sent]  # from update `sent` to update `sent + 1`
    quicker = timedelta(seconds=int(paused.total_seconds() / 2) + 1)
    assert max(gaps[:sent] + gaps[sent + 1 :]) < quicker < paused - timedelta(seconds=1)
    late = paused - quicker
    new = changed(pinned, update_cadence={**pinned.update_cadence, "P1": quicker})
    promises = {
        p.key: p
        for p in card(
            status_of(recorded.incident_id, rerun(recorded, new, BY_NAME).state, new), new, recorded.until
        ).promises
    }
    assert promises[f"update-{sent + 1}"].late_by == late
    new_file = tmp_path / "new.yaml"
    new_file.write_text(yaml.safe_dump(new.model_dump(mode="json")))
    monkeypatch.setenv("TEMPORAL_ADDRESS", client.service_client.config.target_host)
    argv = ["whatif", "--policy", str(new_file), "--since", "1h", "--task-queue", tq, "--format", "json"]
    capsys.readouterr()
    assert await run(parser().parse_args(argv)) == 0
    (shown,) = json.loads(capsys.readouterr().out)["incidents"]
    assert shown["runs"] == len(histories)
    assert [
        (d["aspect"], d["item"], d["before"], d["after"])
        for d in shown["differences"]
        if d["aspect"] == "compliance"
    ] == [("compliance", f"update-{sent + 1}", "kept", f"missed by {int(late.total_seconds())}s")]
    assert ("cadence", "", "every 30 min", f"every {quicker.seconds}s") in [
        (d["aspect"], d["item"], d["before"], d["after"]) for d in shown["differences"]
    ]


# Recorded incidents with people's inputs and outside answers to cut into runs (not the long one,
# which already ends continued as new, nor the heartbeat's).
CUTTABLE = [
    p for p in HISTORIES if Path(p).stem in ("p0_approvals", "p1_lifecycle_resolved", "people", "p0_ledger")
]
ACTIVITY_CLOSED = (
    "activity_task_completed_event_attributes",
    "activity_task_failed_event_attributes",
    "activity_task_timed_out_event_attributes",
    "activity_task_canceled_event_attributes",
)


def quiet_points(events: list[HistoryEvent]) -> list[int]:
    """Where a real incident may continue as new: once its policy is pinned and it has opened
    (after its first alert: each of CUTTABLE opened on one), with no activity in flight."""
    opened = next(
        i for i, e in enumerate(events) if e.HasField("workflow_execution_update_accepted_event_attributes")
    )
    pinned = next(i for i, e in enumerate(events) if e.HasField("marker_recorded_event_attributes"))
    points, flying = [], 0
    for i, e in enumerate(events):
        flying += e.HasField("activity_task_scheduled_event_attributes")
        flying -= any(e.HasField(field) for field in ACTIVITY_CLOSED)
        if i > max(opened, pinned) and not flying and i < len(events) - 1:
            points.append(i + 1)  # a run ends after event i
    return points


def cut(history: WorkflowHistory, at: list[int], carried: Payloads) -> list[WorkflowHistory]:
    """`history` as the runs continue-as-new would have made of it, breaking before each index in
    `at`: each later run starts with the carried input, and numbers its events from 1 again."""
    bounds = [0, *at, len(history.events)]
    runs = []
    for n, (start, end) in enumerate(itertools.pairwise(bounds)):
        events = [HistoryEvent() for _ in range(end - start)]
        for new, old in zip(events, history.events[start:end], strict=True):
            new.CopyFrom(old)
        if n:
            first = HistoryEvent(
                event_time=events[0].event_time,
                event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
                workflow_execution_started_event_attributes=WorkflowExecutionStartedEventAttributes(
                    workflow_type=history.events[0].workflow_execution_started_event_attributes.workflow_type,
                    input=carried,
                ),
            )
            events.insert(0, first)
        if end < len(history.events):
            events.append(
                HistoryEvent(
                    event_time=events[-1].event_time,
                    event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
                )
            )
        ids = {e.event_id: i for i, e in enumerate(events, 1) if e.event_id}
        for i, e in enumerate(events, 1):
            e.event_id = i
            for field in ACTIVITY_CLOSED:
                if e.HasField(field):
                    getattr(e, field).scheduled_event_id = ids[getattr(e, field).scheduled_event_id]
        runs.append(WorkflowHistory(history.workflow_id, events))
    return runs


@budget(40)
@given(data=st.data())
async def test_an_incident_cut_into_runs_anywhere_reads_as_the_one_run(data):
    """Wherever continue-as-new breaks a recorded incident (at any quiet point, any number of
    times), its runs read together give the same inputs, in order, the same outside answers and
    the same pinned policy as the single run: none lost, none doubled, the carried state no new
    declaration or delivery; and the report says how many runs."""
    path = data.draw(st.sampled_from(CUTTABLE))
    whole = WorkflowHistory.from_json(Path(path).stem, Path(path).read_text())
    alone = await History([whole], pydantic_data_converter).read()
    points = quiet_points(list(whole.events))
    at = sorted(data.draw(st.sets(st.sampled_from(points), min_size=1, max_size=4)))
    start = alone.recorded(T0).started_at
    state = IncidentState(
        started_at=start, received_at=start, phases={Phase.DETECTION: start}, refusals=RefusalLog()
    )
    carried = Payloads(
        payloads=pydantic_data_converter.payload_converter.to_payloads(
            [IncidentInput(incident_id=whole.workflow_id, policy=alone.policy, state=state)]
        )
    )
    runs = cut(whole, at, carried)
    assert len(runs) == len(at) + 1 and sum(len(r.events) for r in runs) == len(whole.events) + 2 * len(at)
    read = await History(runs, pydantic_data_converter).read()
    assert read.policy == alone.policy
    assert read.recorded(T0) == replace(alone.recorded(T0), runs=len(runs))
