"""What meets v2.0 code from v1.x: an incident in REVIEW and the heartbeat continue as new onto
the current build carrying their state (issue 21); everything else finishes on its own build. The
hand-overs were recorded from v1.1 code by tests/histories/moves/record_v1_1.py; here each starts
on today's code and runs to its end."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from plan.attestation import attest, load_private_key
from plan.events import EventKind
from plan.heartbeat import Beat, HeartbeatInput
from plan.incident import IncidentInput, IncidentState, carried
from tests.helpers import finish, status_when
from workflows import HeartbeatWorkflow, IncidentWorkflow

MOVES = Path(__file__).parent / "histories" / "moves" / "v1.1"
KEYS = json.loads((MOVES / "keys.json").read_text())
IC, LEAD = "asha.rao@preskool.com", "dana.whitfield@preskool.com"
SLACK = {IC: "U0IC000001", LEAD: "U0ENGLEAD1"}


def handed_over(name: str, as_type: type):
    """The ContinuedAsNew input v1.1 recorded, read as today's model of it."""
    payloads = json.loads((MOVES / name).read_text())["payloads"]
    converter = pydantic_data_converter.payload_converter
    return converter.from_payloads([json_format.ParseDict(p, Payload()) for p in payloads], [as_type])[0]


def signed(incident_id: str, signal: str, data: dict, by: str) -> dict:
    proof = attest(
        load_private_key(KEYS["private"]), incident_id=incident_id, signal=signal, signal_input=data,
        person=by, user=SLACK[by], at=datetime.now(UTC),
    )  # fmt: skip
    return {**data, "by": by, "attestation": proof.model_dump(mode="json")}


def test_a_v1_1_review_state_is_read_as_it_was_and_brought_to_this_codes_shape():
    """Pure: every v1.1 timeline kind is a kind today; the counters v2.0 keeps in fields are
    taken from what v1.1 recorded (action items, the refusal log), never restarted."""
    moved = handed_over("review_incident.json", IncidentInput)
    state = carried(moved.state)
    assert state.phase == "REVIEW" and state.moves_in_review and state.refusals is not None
    assert state.action_items == 2 and list(state.pins) == ["1700000000.000100"]
    assert (
        state.claims["claim-1"].state == "pending" and state.claims["claim-1"].signal == "waive_deliverable"
    )
    kinds = {e.kind for e in state.timeline}
    assert kinds >= {EventKind.claimed, EventKind.action_item, EventKind.refused, EventKind.pinned}
    assert EventKind.earlier not in kinds  # every kind v1.1 wrote is a kind today
    pinned = next(e for e in state.timeline if e.kind is EventKind.pinned)
    assert pinned.message_id == "1700000000.000100"  # so unpinning it takes its entry out
    # Older shapes: before these fields existed, their values are counted from the timeline.
    older = state.model_copy(update={"action_items": None, "refusals": None, "moves_in_review": False})
    again = carried(older)
    assert again.action_items == 2 and again.refusals is not None and again.moves_in_review


def test_an_entry_of_a_kind_this_code_does_not_know_keeps_its_words():
    state = IncidentState.model_validate(
        {"started_at": "2026-12-07T00:00:00Z", "timeline": [
            {"at": "2026-12-07T00:00:00Z", "kind": "retired-kind", "text": "something v1 said"}]}
    )  # fmt: skip
    assert state.timeline[0].kind is EventKind.earlier
    assert state.timeline[0].text == "[retired-kind] something v1 said"


async def test_a_v1_1_incident_in_review_moves_and_closes_its_ledger_on_this_code(
    dev_env, run_worker, integrations
):
    """Started from what v1.1 handed over: the same ledger, pins and claim; action items go on
    from 3; the claim, older than a claim lives, is refused as expired when its person confirms it
    (with the reason), so she waives the runbook update again, attested, with the key the carried
    policy names; the rest are completed and the incident ends, on this code."""
    moved = handed_over("review_incident.json", IncidentInput)
    async with run_worker(dev_env.client, integrations) as tq:
        handle = await dev_env.client.start_workflow(
            IncidentWorkflow.run, moved, id=moved.incident_id, task_queue=tq
        )
        runs = moved.state.runs + 1
        status = await status_when(handle, lambda s: s.runs == runs and s.phase == "REVIEW")
        ledger = {d.key: d.state for d in status.deliverables}
        assert ledger["customer_email"] == "done" and ledger["public_postmortem"] == "waived", ledger
        await handle.signal("add_action_item", {"title": "Page on 5xx ratio", "owner": LEAD, "by": IC})
        await handle.signal("acknowledge", {"by": "not-an-email"})
        claim = {"claim_id": "claim-1", "confirmed": True}
        await handle.signal("confirm_claim", signed(moved.incident_id, "confirm_claim", claim, LEAD))
        waive = {"deliverable": "runbook_update", "reason": "no runbook changed"}
        await handle.signal("waive_deliverable", signed(moved.incident_id, "waive_deliverable", waive, LEAD))
        for key in ("postmortem_meeting", "action_items"):
            await handle.signal("complete_deliverable", {"deliverable": key, "by": IC, "link": "https://x"})
        try:
            await status_when(handle, lambda s: all(d.state in ("done", "waived") for d in s.deliverables))
            result = await asyncio.wait_for(handle.result(), 30)
        finally:
            shown = await handle.query(IncidentWorkflow.status)
            if (await handle.describe()).status.name == "RUNNING":
                await finish(handle)
        assert shown.phase == "REVIEW", [e.text for e in shown.timeline[-12:]]
    items = [e for e in result.timeline if e.kind == EventKind.action_item and e.number]
    assert [e.number for e in items][-1] == 3, [e.text for e in items]
    assert {d.key: d.state for d in result.deliverables}["runbook_update"] == "waived"
    assert all(d.state in ("done", "waived") for d in result.deliverables)
    refused = [e.text for e in result.timeline if e.kind == EventKind.refused]
    assert any("acknowledge: by:" in text for text in refused), refused
    assert any("claim-1 expired" in text for text in refused), refused


async def test_a_v1_1_heartbeat_moves_and_keeps_counting(dev_env, run_worker, integrations):
    """The heartbeat's next run on this code: its beats and runs go on from v1.1's."""
    moved = handed_over("heartbeat.json", HeartbeatInput)
    async with run_worker(dev_env.client, integrations) as tq:
        handle = await dev_env.client.start_workflow(
            HeartbeatWorkflow.run, moved, id=moved.heartbeat_id, task_queue=tq
        )
        await handle.execute_update(
            HeartbeatWorkflow.beat, Beat(alertmanager=moved.alertmanager, alert_name="Watchdog")
        )
        status = await handle.query(HeartbeatWorkflow.status)
        await handle.terminate("test over")
    assert status.state.beats == moved.state.beats + 1 == 19 and status.state.runs == 2, status.state
