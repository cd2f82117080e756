"""The Temporal UI's filters: an open P0 is found by its search attributes, by the real CLI too."""

from __future__ import annotations

import asyncio
import json
import shlex

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from connection.search_attributes import SEARCH_ATTRIBUTES, create_command
from incident_client.intake import deliver_alerts
from plan import AlertmanagerDelivery
from tests.conftest import binary
from tests.helpers import eventually, finish, status_when
from tests.payloads import alert, delivery
from workflows.search import KEYS


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


async def test_review_and_closed_are_found_by_the_readmes_query(dev_env, run_worker, prometheus, policy):
    """After resolution with §8 deliverables open, the README's `IncidentStatus = 'review'` finds the
    incident and its live details list the deliverables; closed once they are all done. A pending
    approval shows in the details too."""
    from incident_client.intake import declare_incident
    from plan import Declaration

    prometheus.healthy(policy)
    ic = "asha.rao@preskool.com"
    async with run_worker(dev_env.client) as tq:
        receipt = await declare_incident(
            dev_env.client, tq, Declaration(summary="Exports slow", severity="P2", reporter=ic)
        )
        handle = dev_env.client.get_workflow_handle(receipt.incident_id)

        async def details(needle: str):
            text = (await handle.query("__temporal_workflow_metadata")).current_details
            return text if needle in text else None

        await handle.signal("acknowledge", {"by": "ben.okafor@preskool.com"})
        await handle.signal(
            "request_action",
            {
                "action": "rollback",
                "target": "exports",
                "by": ic,
                "reason": "slow since deploy",
                "request_id": "rb-1",
            },
        )
        assert "Waiting for approval: rb-1" in await eventually(lambda: details("Waiting for approval"))
        await handle.signal("deny", {"request_id": "rb-1", "by": ic, "reason": "not the deploy"})
        await handle.signal("resolve", {"by": ic, "summary": "Index rebuilt"})
        status = await status_when(handle, lambda s: s.phase == "REVIEW" and s.deliverables)

        async def listed(state: str):
            query = f"IncidentStatus = '{state}' AND WorkflowId = '{receipt.incident_id}'"
            return await temporal_cli(dev_env, "workflow", "list", "--query", query)

        assert await eventually(lambda: listed("review"))
        shown = await eventually(lambda: details("Deliverables:"))
        assert all(f"{d.key} {d.state}" in shown for d in status.deliverables), shown
        for d in status.deliverables:
            await handle.signal(
                "complete_deliverable", {"deliverable": d.key, "by": ic, "link": f"https://x/{d.key}"}
            )
        await handle.result()
        assert await eventually(lambda: listed("closed"))


async def test_the_command_the_worker_names_registers_every_search_attribute_with_its_type():
    """worker.py, when it cannot register the search attributes, prints what an operator runs: on a
    server without them, that command (the real CLI) registers each with the type the incident
    upserts (Tenant a KeywordList, the rest Keywords)."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"), ui=False, dev_server_log_level="error"
    )
    try:
        address = env.client.service_client.config.target_host
        argv = shlex.split(create_command())
        assert argv[0] == "temporal"
        done = await asyncio.create_subprocess_exec(
            binary("temporal"), *argv[1:], "--address", address, stderr=asyncio.subprocess.PIPE
        )
        assert await done.wait() == 0, (await done.stderr.read()).decode()
        listed = await env.client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=env.client.namespace)
        )
        registered = {name: IndexedValueType.Name(kind) for name, kind in listed.custom_attributes.items()}
        wanted = {k.name: "INDEXED_VALUE_TYPE_" + k.indexed_value_type.name for k in KEYS}
        assert {name: registered.get(name) for name in wanted} == wanted
        assert set(SEARCH_ATTRIBUTES) == set(wanted)
    finally:
        await env.shutdown()
