"""The Temporal UI's filters: an open P0 is found by its search attributes, by the real CLI too."""

from __future__ import annotations

import asyncio
import json

from plan import AlertmanagerDelivery
from runtime.intake import deliver_alerts
from tests.conftest import binary
from tests.helpers import eventually, finish, status_when
from tests.payloads import alert, delivery


async def temporal_cli(dev_env, *args: str) -> list[dict]:
    proc = await asyncio.create_subprocess_exec(
        binary("temporal"),
        *args,
        "--address",
        dev_env.client.service_client.config.target_host,
        "-o",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return json.loads(out or b"[]")


async def test_open_p0_is_found_by_its_search_attributes(dev_env, run_worker, policy, request):
    payload = delivery(alert(scope="all"), group=f"Search-{request.node.name}")
    async with run_worker(dev_env.client) as tq:
        receipt = await deliver_alerts(dev_env.client, tq, AlertmanagerDelivery.model_validate(payload))
        handle = dev_env.client.get_workflow_handle(receipt.incident_id)
        await handle.signal(
            "declare_blast_radius",
            {"scope": "tenant", "tenants": ["school-42"], "by": "ben.okafor@preskool.com"},
        )
        await status_when(handle, lambda s: s.phase == "CONTAIN")
        query = (
            f"Severity = 'P0' AND IncidentStatus = 'open' AND Tenant = 'school-42' AND Phase = 'CONTAIN' "
            f"AND WorkflowId = '{receipt.incident_id}'"
        )

        async def listed():
            return await temporal_cli(dev_env, "workflow", "list", "--query", query)

        found = await eventually(listed)
        described = await handle.describe()
        await finish(handle)
    assert [w["execution"]["workflowId"] for w in found] == [receipt.incident_id]
    attributes = described.typed_search_attributes
    assert {k.name: v for k, v in ((p.key, p.value) for p in attributes)}["Severity"] == "P0"


async def test_the_ui_shows_live_details_without_a_query(dev_env, run_worker, policy, request):
    payload = delivery(alert(module="fees"), group=f"Details-{request.node.name}")
    async with run_worker(dev_env.client) as tq:
        receipt = await deliver_alerts(dev_env.client, tq, AlertmanagerDelivery.model_validate(payload))
        handle = dev_env.client.get_workflow_handle(receipt.incident_id)
        await handle.signal("acknowledge", {"by": "ben.okafor@preskool.com"})
        await status_when(handle, lambda s: s.phase == "TRIAGE")

        async def details():
            text = (await handle.query("__temporal_workflow_metadata")).current_details
            return text if "TRIAGE" in text else None

        shown = await eventually(details)
        described = await handle.describe()
        await finish(handle)
    assert shown.startswith("**P1** · TRIAGE · API returning 500s for all requests")
    assert "acknowledged: ben.okafor@preskool.com" in shown and "Next update due" in shown
    assert (await described.static_summary()).startswith("Alert group:")
