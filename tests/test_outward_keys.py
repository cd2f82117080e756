"""A closed incident forgotten by Temporal (issue 23 case 7). The namespace's retention deletes a
completed incident; the same alert group fires again and gets the same workflow id. Keyed by the
incident id alone, the new incident adopted the old one's Statuspage incident, Jira tickets and
email Message-IDs. Its outward keys now carry an outward id made from its chain's first run id
(plan/outward.py), so a new start makes its own; and the retention is set to outlive the §8
week wherever Temporal runs (the compose job, the Helm values, and the dev server of `make up`)."""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.service import RPCError, RPCStatusCode

from activities.email import ID as MESSAGE_ID_PART
from devstack.devserver import RETENTION, temporal_cli
from incident_client.intake import deliver_alerts
from plan import AlertmanagerDelivery
from plan.models import Role
from plan.outward import keyed, outward_id
from plan.raci import MAX_DEDUP_KEY, dedup_key
from tests.helpers import eventually, finish, status_when
from tests.payloads import alert, delivery
from tests.processes import DevServer
from tests.test_lifecycle import ENG_LEAD, IC, PRIMARY, at, open_incident
from workflows import IncidentWorkflow

COMMS = "elif.demir@preskool.com"
ids = st.from_regex(r"inc-[a-z0-9]{12}(-[0-9]{1,4})?", fullmatch=True) | st.from_regex(
    r"inc-[A-Za-z0-9][A-Za-z0-9._-]{0,60}", fullmatch=True
)
run_ids = st.uuids().map(str)


# --- the rule --------------------------------------------------------------------------------------


@given(ids, run_ids, run_ids)
def test_each_start_of_an_incident_id_has_its_own_outward_id(incident_id, first, again):
    """Two starts under one workflow id (different first run ids) never share a key; one start
    always has the same (continue-as-new keeps the first run id); every key it makes fits."""
    mine = outward_id(incident_id, first)
    assert mine == outward_id(incident_id, first) and mine.startswith(incident_id + ".")
    if first != again:
        assert mine != outward_id(incident_id, again)
    assert re.fullmatch(MESSAGE_ID_PART, mine) or len(mine) > 128  # a Message-ID part, as ids allow
    assert len(dedup_key(mine, Role.incident_commander, "sam.lee@preskool.com")) <= MAX_DEDUP_KEY


def test_an_incident_begun_before_outward_ids_keeps_its_keys():
    assert keyed("inc-3f2a9c1b7d10", "") == "inc-3f2a9c1b7d10"  # its open items are found again
    assert keyed("inc-3f2a9c1b7d10", "inc-3f2a9c1b7d10.0a1b2c3d4e5f") == "inc-3f2a9c1b7d10.0a1b2c3d4e5f"


# --- the retention --------------------------------------------------------------------------------


async def test_the_dev_server_keeps_a_closed_incident_past_the_section_8_week(tmp_path):
    """`temporal server start-dev` makes its namespace with a 24 h retention; `make up` (and the
    demo) persist incidents to SQLite across restarts, so the dev server is given RETENTION."""
    assert RETENTION >= timedelta(days=8)
    server = DevServer(db=tmp_path / "t.db", log=tmp_path / "t.log")
    await server.astart()
    try:
        described = subprocess.run(
            [
                temporal_cli(),
                "operator",
                "namespace",
                "describe",
                "-n",
                "default",
                "--address",
                server.address,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    finally:
        server.stop()
    [seconds] = re.findall(r"Retention\s+(\S+)", described) or re.findall(r"RetentionTtl\s+(\S+)", described)
    assert seconds in (f"{RETENTION.days * 24}h0m0s", f"{int(RETENTION.total_seconds())}s"), described


# --- the field case, on the dev server -------------------------------------------------------------


async def work_to_the_end(handle, prometheus, policy) -> tuple:
    """Resolved, the §5.4 customer email approved and sent, every §8 deliverable closed: the
    incident completes. Its outward id and the Message-ID of its customer email."""
    prometheus.healthy(policy)
    await handle.signal("acknowledge", {"by": PRIMARY})
    await handle.signal("declare_blast_radius", {"scope": "tenant", "tenants": ["school-42"], "by": PRIMARY})
    await handle.signal("resolve", {"by": IC, "summary": "Rolled back", "force_reason": "drill"})
    await status_when(
        handle,
        lambda s: (
            s.phase == "REVIEW"
            and len(s.tickets) >= 3
            and any(e.kind == "notified" and e.text.startswith("customer-email-draft") for e in s.timeline)
        ),
    )
    await handle.execute_update(
        IncidentWorkflow.approve_action, {"request_id": "customer-email", "by": COMMS}
    )
    status = await status_when(
        handle, lambda s: any(d.key == "customer_email" and d.state == "done" for d in s.deliverables)
    )
    for key in ("incident_report", "postmortem_meeting", "action_items", "runbook_update"):
        await handle.signal(
            "complete_deliverable", {"deliverable": key, "by": IC, "link": f"https://x/{key}"}
        )
    await handle.signal(
        "waive_deliverable", {"deliverable": "public_postmortem", "by": ENG_LEAD, "reason": "internal"}
    )
    return status


async def delete(client, workflow_id: str) -> None:
    """What the namespace's retention does to a closed incident, now."""
    await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=client.namespace, workflow_execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )

    async def gone():
        try:
            await client.get_workflow_handle(workflow_id).describe()
        except RPCError as e:
            return e.status == RPCStatusCode.NOT_FOUND
        return False

    await eventually(gone, timeout=120)


async def test_a_group_that_fires_again_after_its_incident_was_deleted_makes_its_own_items(
    dev_env, run_worker, policy, slack, pagerduty, statuspage, jira, smtp, prometheus, request
):
    payload = delivery(alert(scope="all", module="fees"), group=f"Forgotten-{request.node.name}")
    client = dev_env.client
    async with run_worker(client) as tq:
        first = await deliver_alerts(client, tq, AlertmanagerDelivery.model_validate(payload))
        handle = client.get_workflow_handle(first.incident_id)
        before = await work_to_the_end(handle, prometheus, policy)
        assert (await handle.result())["phase"] == "REVIEW"  # completed: every deliverable closed
        old_issues, old_mail = set(jira.issues), [m.headers["Message-ID"] for m in smtp.messages]
        old_pages = {t["dedup_key"] for t in pagerduty.triggers()}
        await delete(client, first.incident_id)

        again = await deliver_alerts(client, tq, AlertmanagerDelivery.model_validate(payload))
        assert again.incident_id == first.incident_id and again.created  # the same workflow id
        handle = client.get_workflow_handle(again.incident_id)
        await status_when(handle, lambda s: s.status_page_id is not None)
        after = await work_to_the_end(handle, prometheus, policy)
        await finish(handle)

    assert before.outward_id != after.outward_id
    assert after.outward_id.startswith(first.incident_id + ".")
    # Its own Statuspage incident: two on the page, each naming its own start.
    ours = [
        i
        for i in statuspage.incidents.values()
        if i["metadata"]["preskool_irp"]["incident_id"] in (before.outward_id, after.outward_id)
    ]
    assert len(ours) == 2 and before.status_page_id != after.status_page_id
    assert statuspage.incident_for(before.outward_id)["id"] == before.status_page_id
    assert statuspage.incident_for(after.outward_id)["id"] == after.status_page_id
    # Its own Jira tickets.
    assert set(after.tickets.values()).isdisjoint(before.tickets.values())
    assert len(jira.issues) == 2 * len(old_issues)
    # Its own Message-IDs (and its own PagerDuty alerts).
    new_mail = [m.headers["Message-ID"] for m in smtp.messages][len(old_mail) :]
    assert new_mail and set(new_mail).isdisjoint(old_mail)
    assert all(after.outward_id in m for m in new_mail)
    assert {t["dedup_key"] for t in pagerduty.triggers()} - old_pages


async def test_the_outward_id_is_made_once_and_kept_across_continue_as_new(time_env, run_worker, policy):
    """Made at the start from the chain's first run id; a week of nudges continues as new, and
    every run keys its items the same."""
    async with run_worker(time_env.client) as tq:
        handle = await open_incident(time_env, tq, policy, scope="all")
        first = await handle.query(IncidentWorkflow.status)
        run_id = (await handle.describe()).raw_description.workflow_execution_info.first_run_id
        await handle.signal("acknowledge", {"by": PRIMARY})
        for day in range(1, 8):
            await at(time_env, handle, day * 24 * 60)
        status = await status_when(handle, lambda s: s.runs > 1)
        await finish(handle)
    assert first.outward_id == outward_id(handle.id, run_id)
    assert status.runs > 1 and status.outward_id == first.outward_id
