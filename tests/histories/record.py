"""Record the golden histories that test_replay replays: `python -m tests.histories.record`.

Run it when a new workflow path is worth pinning. Never re-record an existing file to make a
change pass: a change that breaks replay of a recorded history would break running incidents;
guard it with workflow.patched() instead."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.settings import IntegrationSettings
from plan import AlertmanagerDelivery, load_policy
from plan.alerts import Declaration
from plan.incident import IncidentInput
from sandbox.pagerduty import PagerDutyFake
from sandbox.slack import SlackFake
from tests.helpers import ROUTING_KEY, SLACK_TOKEN, status_when
from tests.payloads import alert, delivery
from worker import build_worker
from workflows import IncidentWorkflow

HERE = Path(__file__).resolve().parent


async def p1_acknowledged(client, task_queue, policy):
    handle = await client.start_workflow(IncidentWorkflow.run, IncidentInput(
        incident_id="inc-golden-p1", policy=policy, group_key="g"), id="inc-golden-p1", task_queue=task_queue)
    await handle.execute_update(IncidentWorkflow.receive_alerts, AlertmanagerDelivery.model_validate(
        delivery(alert(module="fees", summary="Fee collection failing"))))
    await status_when(handle, lambda s: s.channel)
    await handle.execute_update(IncidentWorkflow.receive_alerts, AlertmanagerDelivery.model_validate(
        delivery(alert(module="fees", summary="Fee collection failing"))))
    await handle.signal("acknowledge", {"by": "nobody"})
    await handle.signal("acknowledge", {"by": "ben.okafor@preskool.com"})
    await status_when(handle, lambda s: s.phase == "TRIAGE")
    return handle


async def p0_declared_data_at_risk(client, task_queue, policy):
    handle = await client.start_workflow(IncidentWorkflow.run, IncidentInput(
        incident_id="inc-golden-p0", policy=policy, declaration=Declaration(
            summary="Grades rows corrupted", severity="P0", reporter="support@preskool.com", source="zendesk")),
        id="inc-golden-p0", task_queue=task_queue)
    await status_when(handle, lambda s: s.channel)
    return handle


SCENARIOS = {"p1_acknowledged": p1_acknowledged, "p0_declared": p0_declared_data_at_risk}


async def main(names: list[str]) -> None:
    policy = load_policy()
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=shutil.which("temporal-test-server"), data_converter=pydantic_data_converter)
    async with SlackFake() as slack, PagerDutyFake() as pagerduty, env:
        settings = IntegrationSettings(slack_bot_token=SLACK_TOKEN, slack_api_url=slack.url,
                                       pagerduty_events_url=pagerduty.url, pagerduty_routing_key=ROUTING_KEY,
                                       irp_ca_bundle=pagerduty.ca_pem_path)
        async with build_worker(env.client, "record", policy, settings):
            for name in names or SCENARIOS:
                handle = await SCENARIOS[name](env.client, "record", policy)
                await handle.terminate("recorded")
                history = await handle.fetch_history()
                (HERE / f"{name}.json").write_text(json.dumps(history.to_json_dict(), indent=1))
                print(f"recorded {name}: {len(history.events)} events")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
