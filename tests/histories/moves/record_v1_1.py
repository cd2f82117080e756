"""Record what a v1.1 incident and heartbeat hand the next build when they move (issue 22).

v1.1 incidents stay on their build through the response phases; in REVIEW, and the heartbeat
always, they continue as new onto the deployment's current build, carrying their state. This
records two such hand-overs from v1.1 code for tests/test_moves.py to start on today's code.

It runs on the v1.1 code (commit 74044d1), not on this checkout's:
    git worktree add /tmp/v1.1 74044d1 && cd /tmp/v1.1 && make install
    .venv/bin/python /path/to/this/record_v1_1.py /path/to/tests/histories/moves/v1.1

A dev server that suggests continue-as-new after 120 events makes each move happen within
seconds; the input of the run's ContinuedAsNew event is saved as Temporal's JSON payload."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from connection.search_attributes import register_search_attributes
from devstack.devserver import dynamic_config_args
from plan import AlertmanagerDelivery, load_policy
from plan.alert_digest import digest
from plan.attestation import attest, load_private_key, new_key_pair
from plan.heartbeat import Beat, HeartbeatInput, heartbeat_id
from plan.incident import IncidentInput
from sandbox.jira import JiraFake
from sandbox.pagerduty import PagerDutyFake
from sandbox.prometheus import PrometheusFake
from sandbox.settings import sandbox_settings
from sandbox.slack import SlackFake
from sandbox.smtp import SmtpSandbox
from sandbox.statuspage import StatuspageFake
from tests.helpers import status_when
from tests.payloads import alert, delivery
from worker import build_worker
from workflows import HeartbeatWorkflow, IncidentWorkflow

IC, PRIMARY, LEAD, COMMS = (
    "asha.rao@preskool.com",
    "ben.okafor@preskool.com",
    "dana.whitfield@preskool.com",
    "elif.demir@preskool.com",
)
SLACK = {IC: "U0IC000001", PRIMARY: "U0ONCALL01", LEAD: "U0ENGLEAD1", COMMS: "U0COMMS001"}
# A key pair made for this fixture alone: the policy the incident carries names its public half,
# and tests/test_moves.py signs the moved incident's decisions with the private half.
PRIVATE, PUBLIC = new_key_pair()


def attested(incident_id: str, signal: str, data: dict, by: str) -> dict:
    """The input as a receiver sends it for a verified Slack user: `by` and a fresh attestation."""
    proof = attest(
        load_private_key(PRIVATE), incident_id=incident_id, signal=signal, signal_input=data,
        person=by, user=SLACK[by], at=datetime.now(UTC),
    )  # fmt: skip
    return {**data, "by": by, "attestation": proof.model_dump(mode="json")}


async def review_incident(client, tq) -> str:
    """A P0 in REVIEW with all a ledger can hold: tickets, the customer email approved and sent,
    two action items, one deliverable done and one waived, a pin, a request done, a refusal, a
    claim still pending; then refused signals until the run continues as new."""
    handle = await client.start_workflow(
        IncidentWorkflow.run, IncidentInput(incident_id="inc-move-review", group_key="g"),
        id="inc-move-review", task_queue=tq,
    )  # fmt: skip
    body = delivery(alert(scope="all", summary="API returning 500s for all requests"))
    await handle.execute_update(
        IncidentWorkflow.receive_alerts, digest(AlertmanagerDelivery.model_validate(body))
    )
    status = await status_when(handle, lambda s: s.channel and s.cadence)
    await handle.signal("acknowledge", {"by": "ben.okafr@preskool.com"})  # refused: not in the roster
    await handle.signal("acknowledge", {"by": PRIMARY})
    ask = {"request_id": "rb-1", "action": "restart_scale", "target": "backend", "reason": "pods stuck"}
    i = handle.id
    await handle.signal("request_action", attested(i, "request_action", ask, PRIMARY))
    await handle.signal("approve", attested(i, "approve", {"request_id": "rb-1"}, IC))
    await handle.signal(
        "pin_message",
        {"by": PRIMARY, "channel": status.channel_id, "message_id": "1700000000.000100",
         "author": PRIMARY, "text": "the deploy at 02:10 is the cause", "emoji": "pushpin"},
    )  # fmt: skip
    await status_when(handle, lambda s: s.requests and s.requests[0].state in ("done", "failed"))
    await handle.signal("resolve", {"by": IC, "summary": "Rolled back", "root_cause": "A bad deploy"})
    await status_when(handle, lambda s: s.phase == "REVIEW" and len(s.tickets) >= 3)
    await handle.signal("approve", attested(i, "approve", {"request_id": "customer-email"}, COMMS))
    await handle.signal("add_action_item", {"title": "Canary deploys", "owner": PRIMARY, "by": IC})
    await handle.signal("add_action_item", {"title": "Alert on 5xx ratio", "owner": LEAD, "by": IC})
    await handle.signal(
        "complete_deliverable", {"deliverable": "incident_report", "by": IC, "link": "https://x"}
    )
    waive = {"deliverable": "public_postmortem", "reason": "internal"}
    await handle.signal("waive_deliverable", attested(i, "waive_deliverable", waive, LEAD))
    # Unattested while the worker checks attestations: held as a claim until Dana confirms it.
    await handle.signal(
        "waive_deliverable", {"deliverable": "runbook_update", "by": LEAD, "reason": "no runbook changed"}
    )
    await status_when(
        handle,
        lambda s: (
            any(e.kind == "claimed" for e in s.timeline)
            and sum(e.kind == "action-item" for e in s.timeline) == 2
            and any(d.key == "customer_email" and d.state == "done" for d in s.deliverables)
        ),
        timeout=60,
    )
    return await moved(client, handle, lambda i: handle.signal("no_such_signal", {"n": i}))


async def heartbeat(client, tq) -> str:
    url = "http://alertmanager-move:9093"
    start = WithStartWorkflowOperation(
        HeartbeatWorkflow.run, HeartbeatInput(heartbeat_id=heartbeat_id(url), alertmanager=url),
        id=heartbeat_id(url), task_queue=tq, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )  # fmt: skip
    await client.execute_update_with_start_workflow(
        HeartbeatWorkflow.beat, Beat(alertmanager=url, alert_name="Watchdog"), start_workflow_operation=start
    )
    handle = client.get_workflow_handle(heartbeat_id(url))
    return await moved(
        client,
        handle,
        lambda i: handle.execute_update(
            HeartbeatWorkflow.beat, Beat(alertmanager=url, alert_name="Watchdog")
        ),
    )


async def moved(client, handle, poke) -> str:
    """Poke until the first run continues as new; its ContinuedAsNew input, as Temporal's JSON."""
    first = (await handle.describe()).run_id
    for i in range(400):
        history = await client.get_workflow_handle(handle.id, run_id=first).fetch_history()
        last = history.to_json_dict()["events"][-1]
        if "workflowExecutionContinuedAsNewEventAttributes" in last:
            return json.dumps(last["workflowExecutionContinuedAsNewEventAttributes"]["input"], indent=1)
        await poke(i)
    raise AssertionError("the run did not continue as new")


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        data_converter=pydantic_data_converter, ui=False, dev_server_log_level="error",
        dev_server_extra_args=dynamic_config_args({"limit.historyCount.suggestContinueAsNew": 120}),
    )  # fmt: skip
    await register_search_attributes(env.client)
    async with (
        SlackFake(channels=("general", "preskool-alerts")) as slack,
        PagerDutyFake() as pagerduty,
        StatuspageFake() as statuspage,
        PrometheusFake() as prometheus,
        JiraFake() as jira,
        SmtpSandbox(ca=pagerduty.ca) as smtp,
    ):
        policy = load_policy()
        prometheus.healthy(policy)
        settings = sandbox_settings(slack, pagerduty, statuspage, prometheus, jira, smtp)
        settings = settings.model_copy(update={"irp_attestation_public_keys": PUBLIC})
        async with build_worker(env.client, "moves", policy, settings):
            (out / "review_incident.json").write_text(await review_incident(env.client, "moves"))
            (out / "heartbeat.json").write_text(await heartbeat(env.client, "moves"))
    (out / "keys.json").write_text(json.dumps({"private": PRIVATE, "public": PUBLIC}, indent=1))
    await env.shutdown()
    print(f"recorded {sorted(p.name for p in out.iterdir())}")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
