"""Nothing anyone sends can stop the incident system (issue 20).

A real dev server and a real `python worker.py` process (tests/processes.py), with attestation
keys on, as production runs. The field's case first — a forged attestation that aborted every
worker for good — then the kind: every way in (each signal, raw payloads, the updates), searched
with Hypothesis. After every example the worker process is alive, no workflow task failed, the
incident answers `status`, and an input that cannot be taken was refused with a reason in the
timeline. Budgets: tests/fuzz.py (`make fuzz` runs them long)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.service import RPCError
from temporalio.worker.workflow_sandbox import SandboxRestrictions

from connection.temporal import NATIVE_PASSTHROUGH
from devstack.devserver import temporal_cli
from incident_client.intake import deliver_alerts
from plan import AlertmanagerDelivery
from plan import person_input as person_input_rules
from plan.attestation import attest, load_private_key, new_key_pair
from plan.bounds import TEXT_KEPT, TIMELINE_KEPT
from plan.person_input import MAX_UPDATE_BYTES
from plan.refusals import ANNOUNCED, KEPT
from tests.fuzz import budget
from tests.helpers import eventually, status_when
from tests.payloads import alert, delivery
from tests.processes import ROOT, DevServer, policy_file
from workflows import IncidentWorkflow
from workflows.signals import BY_NAME, SIGNALS

PRIVATE, PUBLIC = new_key_pair()
IC, PRIMARY, LEAD = "asha.rao@preskool.com", "ben.okafor@preskool.com", "dana.whitfield@preskool.com"
USERS = {IC: "U0IC000001", LEAD: "U0ENGLEAD1", PRIMARY: "U0ONCALL01"}


# --- native code under the sandbox --------------------------------------------------------------


def test_every_native_package_workflow_code_loads_is_passed_through():
    """The sandbox re-imports what it does not pass through; a native extension re-imported (or
    imported lazily while raising, as cryptography's InvalidSignature) aborts the worker. Every
    third-party package with compiled code that the workflow modules load must be passed
    through: by the SDK's defaults or connection/temporal.py NATIVE_PASSTHROUGH. Fails when new
    workflow code brings in one that is neither."""
    probe = (
        "import sys, sysconfig, json, workflows, plan\n"
        "std = sysconfig.get_paths()['stdlib']\n"
        "files = {n: getattr(m, '__file__', '') or '' for n, m in list(sys.modules.items())}\n"
        "print(json.dumps(sorted(n for n, f in files.items() if f.endswith(('.so', '.pyd'))"
        " and not f.startswith(std))))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                                       text=True, check=True).stdout)  # fmt: skip
    passed = SandboxRestrictions.passthrough_modules_default | set(NATIVE_PASSTHROUGH)

    def covered(module: str) -> bool:
        parts = module.split(".")
        return any(".".join(parts[:i]) in passed for i in range(1, len(parts) + 1))

    assert loaded, "the probe found no native module at all: it is not looking"
    assert "cryptography.hazmat.bindings._rust" in loaded
    assert [m for m in loaded if not covered(m)] == []


# --- the field's case: a forged attestation -----------------------------------------------------


def signed(incident_id: str, signal: str, signal_input: dict, signer: str, by: str = "", **change) -> dict:
    """The input as the receiver sends it for `signer`'s verified Slack click: `by` and an
    attestation. `by` and `change` (fields of the attestation) alter it after signing: a forgery."""
    made = attest(
        load_private_key(PRIVATE), incident_id=incident_id, signal=signal, signal_input=signal_input,
        person=signer, user=USERS[signer], at=datetime.now(UTC),
    ).model_dump(mode="json")  # fmt: skip
    return {**signal_input, "by": by or signer, "attestation": {**made, **change}}


@pytest.fixture
async def keyed_worker(worker, tmp_path, policy):
    """A worker process with attestation keys, and a policy whose §4.1 acknowledgement window is
    6 s, so a test can see the incident's clocks still run (the secondary is paged) on the dev
    server."""
    windows = policy.phase_windows.model_copy(update={"DETECTION": timedelta(seconds=6)})
    path, _ = policy_file(tmp_path / "policy.yaml", policy, phase_windows=windows)
    return await worker(IRP_ATTESTATION_PUBLIC_KEYS=PUBLIC, IRP_POLICY_FILE=str(path))


async def open_incident(client, task_queue: str, bridge: bool = True):
    payload = delivery(
        alert(module="fees", summary="Fee collection failing"), group=f"H{uuid.uuid4().hex[:8]}"
    )
    receipt = await deliver_alerts(client, task_queue, AlertmanagerDelivery.model_validate(payload))
    handle = client.get_workflow_handle(receipt.incident_id)
    await status_when(handle, lambda s: s.channel if bridge else s.paged, timeout=30)
    return handle


# A WorkflowTaskFailed the server writes itself, not for anything the workflow did: more than
# `history.maximumBufferedEventsBatch` (100) signals arrived while a task was in flight, so the
# server closed that task and scheduled one that takes them all (a flood is met by design).
SERVER_FORCED = WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND


async def task_failures(handle) -> list[str]:
    """The causes of every WorkflowTaskFailed in the incident's history (but SERVER_FORCED)."""
    return [
        f"{WorkflowTaskFailedCause.Name(e.workflow_task_failed_event_attributes.cause)}: "
        f"{e.workflow_task_failed_event_attributes.failure.message}"
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
        and e.workflow_task_failed_event_attributes.cause != SERVER_FORCED
    ]


def temporal_signal(server, workflow_id: str, name: str, value: dict) -> None:
    """`temporal workflow signal`, exactly as the issue sent the forgery."""
    subprocess.run(
        [temporal_cli(), "workflow", "signal", "--address", server.address, "-w", workflow_id,
         "--name", name, "--input", json.dumps(value)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip


async def test_a_forged_attestation_is_refused_and_every_worker_stays_up(
    server, client, keyed_worker, worker, slack, pagerduty
):
    """Issue 20, case 1: an attested approval with `by` changed to the Engineering Lead and 64
    random bytes for a signature, sent as a raw signal with the temporal CLI. It is refused in
    the timeline and the bridge; the worker lives; a restarted worker replays it and lives;
    the incident keeps its clocks (the unacknowledged page escalates to the secondary) and
    answers `status`."""
    tq = keyed_worker.env["TEMPORAL_TASK_QUEUE"]
    handle = await open_incident(client, tq)
    asked = {"request_id": "rb-1", "action": "rollback", "target": "backend", "reason": "bad deploy"}
    await handle.signal("request_action", signed(handle.id, "request_action", asked, PRIMARY))
    await status_when(handle, lambda s: s.requests)
    forged = signed(handle.id, "approve", {"request_id": "rb-1"}, IC, by=LEAD, person=LEAD)
    forged["attestation"]["signature"] = base64.b64encode(os.urandom(64)).decode()
    await asyncio.to_thread(temporal_signal, server, handle.id, "approve", forged)

    reason = "refused approve: attestation refused: its signature does not verify"
    status = await status_when(handle, lambda s: any(e.text == reason for e in s.timeline))
    assert keyed_worker.alive, keyed_worker.tail()
    assert status.requests[0].state == "pending" and status.requests[0].approvals == []
    await eventually(
        lambda: any("its signature does not verify" in m["text"] for m in slack.messages(status.channel))
    )

    keyed_worker.kill9()  # every restarted worker replays the forgery
    again = await worker(
        **{k: keyed_worker.env[k] for k in ("IRP_ATTESTATION_PUBLIC_KEYS", "IRP_POLICY_FILE")}
    )
    status = await status_when(
        handle, lambda s: any(p.role == "oncall_secondary" for p in s.paged), timeout=60
    )
    assert again.alive, again.tail()
    assert any(e.kind == "escalated" for e in status.timeline)
    assert [p.outcome for p in status.paged if p.role == "oncall_secondary"] == ["paged"]
    assert await task_failures(handle) == []


FORGERIES = {
    "random 64-byte signature": ({"signature": base64.b64encode(os.urandom(64)).decode()}, "does not verify"),
    "signature of the wrong length": (
        {"signature": base64.b64encode(os.urandom(12)).decode()},
        "does not verify",
    ),
    "signature not base64": ({"signature": "not base64!"}, "does not verify"),
    "signature with non-ASCII": ({"signature": "é" * 20}, "does not verify"),
    "unknown key id": ({"key_id": "deadbeef"}, "workers do not hold"),
    "a time without an offset": ({"at": "2026-12-07T10:00:00"}, "timezone"),
    "the year 1": ({"at": "0001-01-01T00:00:00Z"}, "does not verify"),
    "a bad nonce": ({"nonce": "x"}, "nonce"),
}


async def test_every_kind_of_bad_attestation_is_refused_with_its_reason(keyed_worker, client):
    """The kind, by hand: each malformed or forged attestation on each gated decision is refused
    with a reason; nothing is applied; the worker lives; no task fails."""
    handle = await open_incident(client, keyed_worker.env["TEMPORAL_TASK_QUEUE"])
    sent = 0
    for change, _ in FORGERIES.values():
        for signal, value in (
            ("approve", {"request_id": "rb-1"}),
            ("set_severity", {"severity": "P0", "reason": "x"}),
        ):
            await handle.signal(signal, signed(handle.id, signal, value, LEAD, **change))
            sent += 1
    await handle.signal(
        "approve", {**signed(handle.id, "approve", {"request_id": "rb-1"}, LEAD), "attestation": "x"}
    )
    sent += 1
    status = await status_when(handle, lambda s: sum(e.kind == "refused" for e in s.timeline) >= sent)
    refused = [e.text for e in status.timeline if e.kind == "refused"]
    for name, (_, reason) in FORGERIES.items():
        assert any(reason in r for r in refused), (name, refused)
    assert status.severity == "P1" and status.requests == []
    assert keyed_worker.alive and await task_failures(handle) == []


# --- the kind, searched: every way in, any payload ------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
HUGE_TEXT = st.builds(
    lambda n, c: c * n, st.integers(5_000, 400_000), st.sampled_from(["a", "é", "🙂", "\x00", "<"])
)
SIGNALS_TAKEN = sorted(BY_NAME)
BASES = {
    "acknowledge": {},
    "set_severity": {"severity": "P0", "reason": "all schools"},
    "assign_role": {"role": "communications_lead", "person": LEAD},
    "handover": {"role": "oncall_primary", "person": "zoe.nakamura@preskool.com", "note": "watch fees"},
    "tick_checklist": {"role": "oncall_primary", "item": 0},
    "post_update": {"status": "ONGOING", "current_action": "rolling back", "what_we_know": "deploy 41"},
    "declare_blast_radius": {"scope": "tenant", "tenants": ["school-9"]},
    "mitigate": {"summary": "rolled back"},
    "resolve": {"summary": "fixed", "force_reason": "checks flaky"},
    "request_action": {"request_id": "fz-1", "action": "rollback", "target": "backend", "reason": "x"},
    "approve": {"request_id": "fz-1"},
    "deny": {"request_id": "fz-1", "reason": "no"},
    "action_done": {"request_id": "fz-1", "outcome": "done"},
    "complete_deliverable": {"deliverable": "incident_report", "link": "https://x"},
    "waive_deliverable": {"deliverable": "runbook_update", "reason": "none"},
    "add_action_item": {"title": "alerting"},
    "edit_customer_email": {"affected": "fees"},
    "confirm_claim": {"claim_id": "claim-1", "confirmed": True},
    "pin_message": {"channel": "C1", "message_id": "1.2", "emoji": "pushpin"},
    "pagerduty_event": {"event_id": "E1", "event_type": "incident.acknowledged"},
}
assert set(BASES) == {s.name for s in SIGNALS}, "a signal without a base example for the fuzzer"


@st.composite
def mutated(draw, signal: str) -> dict:
    """A signal's input near a real one: its base with a person, then keys dropped, replaced by
    any JSON, huge text or unknown keys, and maybe an attestation (good, forged or garbage)."""
    value = {**BASES[signal], "by": draw(st.sampled_from([IC, LEAD, PRIMARY, "nobody@example.com", "", "x"]))}
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from([*value, "attestation", "unknown_field"]))
        action = draw(st.sampled_from(["drop", "json", "huge"]))
        if action == "drop":
            value.pop(key, None)
        else:
            value[key] = draw(JSON if action == "json" else HUGE_TEXT)
    if draw(st.booleans()):
        change = draw(st.sampled_from([{}, *[c for c, _ in FORGERIES.values()]]))
        value["attestation"] = {**signed("inc-x", signal, value, LEAD)["attestation"], **change}
    return value


def raw_payloads() -> st.SearchStrategy[Payload]:
    """Payloads as anyone can put them on the wire: any encoding, any bytes, deep nesting."""
    nested = st.integers(10, 5_000).map(lambda d: b"[" * d + b"]" * d)
    data = st.binary(max_size=300) | nested | st.just(b'{"by": "x",}') | st.just("{“by”: 1}".encode())
    encoding = st.sampled_from([b"json/plain", b"binary/null", b"binary/encrypted", b"binary/unopened",
                                b"json/protobuf", b"", b"\xff\xfe"])  # fmt: skip
    return st.builds(lambda e, d: Payload(metadata={"encoding": e}, data=d), encoding, data)


DOORS = st.one_of(
    st.tuples(st.just("signal"), st.sampled_from(SIGNALS_TAKEN)).flatmap(
        lambda t: st.tuples(st.just(t[0]), st.just(t[1]), mutated(t[1]) | JSON)
    ),
    st.tuples(st.just("signal"), st.text(min_size=1, max_size=80).filter(lambda n: n[:2] != "__"), JSON),
    st.tuples(st.just("raw"), st.sampled_from([*SIGNALS_TAKEN, "act", "nope"]), raw_payloads()),
    st.tuples(st.sampled_from(["act", "approve_action", "deny_action", "receive_alerts", "opened"]),
              st.just(""), JSON | st.sampled_from(SIGNALS_TAKEN).flatmap(
                  lambda n: st.fixed_dictionaries({"signal": st.just(n), "input": mutated(n)}))),
)  # fmt: skip


def refusals(status) -> int:
    return status.refusals_not_kept + sum(e.kind == "refused" for e in status.timeline)


def written(status) -> int:
    """Every timeline entry the incident has written, kept or let go."""
    return len(status.timeline) + status.timeline_not_kept + status.refusals_not_kept


# Inputs an incident may take and leave no mark, by design: a reaction that is not the pin emoji
# (or not in the bridge, or a pin already there), a PagerDuty event id it has taken before.
SILENT = {"pin_message", "pagerduty_event"}


def must_refuse(door: str, name: str, value) -> bool:
    """Whether the incident cannot take the signal as its model, read as a person types it
    (plan/person_input.py): then it must refuse it with a reason (other refusals — authority,
    proof — may come too). Any name it does not know is refused."""
    if name not in BY_NAME:
        return True
    if door == "raw":
        encoding = value.metadata.get("encoding", b"").decode(errors="replace")
        reading = person_input_rules.read(encoding, value.data)
    else:
        reading = person_input_rules.read("json/plain", json.dumps(value).encode())
    if reading.refusal:
        return True
    try:
        BY_NAME[name].model.model_validate(reading.value)
    except ValueError:
        return True
    return False


async def settled(handle) -> None:
    """The incident has taken what was sent: no workflow task waits, and none has failed (a task
    the server closed itself under a flood, SERVER_FORCED, is retried and is not a failure)."""

    async def done():
        raw = (await handle.describe()).raw_description
        task = raw.pending_workflow_task if raw.HasField("pending_workflow_task") else None
        if task is not None and task.attempt > 1:
            assert await task_failures(handle) == [], "a workflow task is failing"
        return task is None

    await eventually(done, timeout=120)  # 2,000 signals on a loaded 2-core machine


class Incident:
    """The fuzzer's incident: opened again when an example closed it (a forced resolve can)."""

    def __init__(self, client, task_queue: str) -> None:
        self.client, self.task_queue, self.handle, self.opened = client, task_queue, None, []

    async def now(self):
        if self.handle is None or (await self.handle.describe()).status.name != "RUNNING":
            self.handle = await open_incident(self.client, self.task_queue)
            self.opened.append(self.handle)
        return self.handle


async def send(handle, door: str, name: str, value) -> None:
    """One input through one door. Updates answer or are rejected with a message; never hang."""
    if door in ("signal", "raw"):
        await handle.signal(name, RawValue(value) if door == "raw" else value)
        return
    try:
        await asyncio.wait_for(handle.execute_update(door, value), 30)
    except WorkflowUpdateFailedError as e:
        assert str(e.cause or e), f"{door} rejected without a reason"
    except RPCError as e:  # the SDK could not decode it for the handler's type: rejected as such
        assert e.message


@pytest.fixture
async def fuzzed(keyed_worker, client):
    incident = Incident(client, keyed_worker.env["TEMPORAL_TASK_QUEUE"])
    yield incident
    for handle in incident.opened:
        assert await task_failures(handle) == [], f"{handle.id}: a workflow task failed"


@budget(60)
@given(example=DOORS)
async def test_no_input_through_any_door_stops_an_incident(fuzzed, keyed_worker, example):
    """Every signal and update, raw payloads and any JSON: the worker lives, no task fails, the
    incident answers `status`, an input it cannot take is refused with a reason, and one it can
    take leaves a mark: applied (the timeline says so) or refused — never nothing, but for the
    inputs that are no-ops by design (SILENT)."""
    door, name, value = example
    handle = await fuzzed.now()
    before = await handle.query(IncidentWorkflow.status)
    await send(handle, door, name, value)
    await settled(handle)
    assert keyed_worker.alive, keyed_worker.tail()
    status = await handle.query(IncidentWorkflow.status)
    if status.runs != before.runs:  # it continued as new meanwhile: counts start again
        return
    if door in ("signal", "raw") and must_refuse(door, name, value):
        assert refusals(status) > refusals(before), f"{name} {value!r:.200} was neither applied nor refused"
    elif door in ("signal", "raw") and name not in SILENT:
        assert written(status) > written(before), f"{name} {value!r:.200} left no mark"


# --- a flood --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def server(tmp_path_factory):
    """This module's dev server suggests continue-as-new at 300 events (Temporal's default is
    about 4,096), so a flood reaches a new run within the test, and every test here meets one."""
    where = tmp_path_factory.mktemp("temporal")
    server = DevServer(
        db=where / "temporal.db", log=where / "temporal.log",
        config={"limit.historyCount.suggestContinueAsNew": 300},
    )  # fmt: skip
    await server.astart()
    yield server
    server.stop()


async def test_a_flood_of_accepted_inputs_never_outgrows_a_new_run(worker, client):
    """A script sends 1,100 `post_update`s of 2,000 characters each, all accepted (a roster person,
    a step anyone may take): a state that grew with them once failed every workflow task when the
    incident continued as new (over 2 MiB). The timeline keeps its latest entries, each clipped;
    the incident continues as new, answers `status` and fails no task."""
    quiet = await worker(SLACK_BOT_TOKEN="")  # no bridge: the flood is what is measured, not Slack
    handle = await open_incident(client, quiet.env["TEMPORAL_TASK_QUEUE"], bridge=False)
    long = "x" * 1_990  # with its number, at most the 2,000 characters a field takes
    for i in range(0, 1_100, 100):
        await asyncio.gather(*(
            handle.signal("post_update", {"by": PRIMARY, "status": "ONGOING", "current_action": f"{n} {long}",
                                          "what_we_know": long})
            for n in range(i, i + 100)
        ))  # fmt: skip
    status = await status_when(handle, lambda s: s.cadence and s.cadence.updates_posted == 1_100, 120)
    status = await status_when(handle, lambda s: s.runs >= 2, 120)  # a new run carried it all
    assert len(status.timeline) <= TIMELINE_KEPT and status.timeline_not_kept > 0
    assert max(len(e.text) for e in status.timeline) <= TEXT_KEPT + 40
    assert quiet.alive
    for run in {(await handle.describe()).run_id, handle.first_execution_run_id}:
        assert await task_failures(client.get_workflow_handle(handle.id, run_id=run)) == []


async def test_a_flood_of_bad_inputs_is_bounded(keyed_worker, client, slack):
    """2,000 refused signals: the timeline keeps the latest KEPT refusals and counts the rest,
    the bridge hears at most ANNOUNCED of them, claims in one person's name stop at three, and
    the incident still answers and takes a real update."""
    handle = await open_incident(client, keyed_worker.env["TEMPORAL_TASK_QUEUE"])
    posted = len(slack.messages((await handle.query(IncidentWorkflow.status)).channel))
    for i in range(0, 2_000, 100):
        await asyncio.gather(*(handle.signal("acknowledge", {"by": f"{n}"}) for n in range(i, i + 100)))
    for n in range(6):  # unproved decisions in the IC's name: claims, then refused
        await handle.signal("set_severity", {"by": IC, "severity": "P0", "reason": f"claim {n}"})
    await settled(handle)
    status = await handle.query(IncidentWorkflow.status)
    assert refusals(status) == 2_003, refusals(status)
    assert sum(e.kind == "refused" for e in status.timeline) == KEPT
    assert sum(e.kind == "claimed" for e in status.timeline) == 3
    told = [m for m in slack.messages(status.channel)[posted:] if m["text"].startswith("🚫")]
    assert len(told) <= ANNOUNCED
    await handle.signal("post_update", {"by": IC, **BASES["post_update"]})
    await status_when(handle, lambda s: s.cadence and s.cadence.updates_posted >= 1)
    assert keyed_worker.alive and await task_failures(handle) == []


def test_the_bounds_are_the_documented_ones():
    """docs/reliability.md names the numbers the flood test holds the incident to."""
    text = (ROOT / "docs" / "reliability.md").read_text()
    assert f"{KEPT} refusals" in text and f"{ANNOUNCED} refusals" in text


# --- inputs too large for Temporal's own limits ----------------------------------------------------


async def test_an_update_too_large_for_temporal_is_refused_and_the_incident_goes_on(keyed_worker, client):
    """A worker echoes an update's input back when it answers; an input over Temporal's 2 MiB limit
    made the echo too large, and every workflow task of the incident then failed for good
    (Hypothesis found it: Temporal's frontend does not hold updates to the limit). The server's
    in-flight update limit (devstack/devserver.py) refuses those; the incident's validators refuse
    anything over MAX_UPDATE_BYTES. Each door is refused with a reason; the incident answers,
    takes a small update and keeps running, and no workflow task failed."""
    handle = await open_incident(client, keyed_worker.env["TEMPORAL_TASK_QUEUE"])
    huge, big = "🙂" * 560_000, "a" * (MAX_UPDATE_BYTES + 10)  # 2.2 MB; just over our own bound

    async def refused(name: str, value: dict) -> str:
        with pytest.raises((WorkflowUpdateFailedError, RPCError)) as refusal:
            await asyncio.wait_for(handle.execute_update(name, value), 60)
        return str(getattr(refusal.value, "cause", None) or refusal.value)

    # The server takes about 15 s to refuse an update over its in-flight limit: send them together.
    reasons = await asyncio.gather(
        refused("act", {"signal": "acknowledge", "input": {"by": IC, "x": huge}}),
        refused("approve_action", {"request_id": "r", "by": IC, "reason": huge}),
        refused("receive_alerts", {"groupKey": huge}),
        refused("no_such_update", {"x": huge}),
        refused("act", {"signal": "acknowledge", "input": {"by": IC, "x": big}}),
    )
    assert all("in-flight updates" in r for r in reasons[:4]), reasons
    assert f"(at most {MAX_UPDATE_BYTES:,})" in reasons[4], reasons
    with pytest.raises(RPCError, match="size"):  # Temporal itself refuses a signal this large
        await handle.signal("acknowledge", {"by": IC, "x": huge})
    outcome = await handle.execute_update(
        IncidentWorkflow.act, {"signal": "acknowledge", "input": {"by": IC}}
    )
    assert outcome.accepted, outcome
    assert (await handle.describe()).status.name == "RUNNING" and keyed_worker.alive
    assert await task_failures(handle) == []
