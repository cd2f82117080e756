"""Record the golden histories that test_replay replays: `python -m tests.histories.record`.

Run it when a new workflow path is worth pinning. Never re-record an existing file to make a
change pass: a change that breaks replay of a recorded history would break running incidents;
guard it with workflow.patched() instead, and record its path in a new era folder.

v2.0 is the baseline: the deciders and the router (issue 22), shipped as a new build with no
patches. Incidents begun under v1.x finish on their own build (Worker Deployments), so the v1.x
eras were dropped when v2.0 was cut; what v1.x hands v2.0 at a continue-as-new is kept in
tests/histories/moves/ and tested by tests/test_moves.py."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from connection.search_attributes import register_search_attributes
from incident_client.intake import declare_incident
from plan import AlertmanagerDelivery, load_policy
from plan.alert_digest import digest
from plan.alerts import Declaration
from plan.attestation import attest, load_private_key, new_key_pair
from plan.heartbeat import Beat, HeartbeatInput, Retirement, heartbeat_id, pipeline_id, pipeline_labels
from plan.incident import IncidentInput
from plan.models import DrillClockPolicy
from sandbox.jira import FRENCH, JiraFake
from sandbox.pagerduty import PagerDutyFake
from sandbox.prometheus import PrometheusFake
from sandbox.settings import sandbox_settings
from sandbox.slack import SlackFake
from sandbox.smtp import SmtpSandbox
from sandbox.statuspage import StatuspageFake
from tests.helpers import eventually, finish, status_when
from tests.payloads import alert, delivery
from worker import build_worker
from workflows import HeartbeatWorkflow, IncidentWorkflow

HERE = Path(__file__).resolve().parent
# The code era new recordings belong to. A later era (behind its workflow.patched ids) proves that
# incidents begun under earlier code of the same build line still replay.
ERA = HERE / "v2.0"


async def p1_acknowledged(client, task_queue, policy, env, prometheus):
    handle = await client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id="inc-golden-p1", group_key="g"),
        id="inc-golden-p1",
        task_queue=task_queue,
    )
    await handle.execute_update(
        IncidentWorkflow.receive_alerts,
        digest(
            AlertmanagerDelivery.model_validate(
                delivery(alert(module="fees", summary="Fee collection failing"))
            )
        ),
    )
    await status_when(handle, lambda s: s.channel)
    await handle.execute_update(
        IncidentWorkflow.receive_alerts,
        digest(
            AlertmanagerDelivery.model_validate(
                delivery(alert(module="fees", summary="Fee collection failing"))
            )
        ),
    )
    await handle.signal("acknowledge", {"by": "nobody"})
    await handle.signal("acknowledge", {"by": "ben.okafor@preskool.com"})
    await status_when(handle, lambda s: s.phase == "TRIAGE")
    return handle


async def p0_declared_data_at_risk(client, task_queue, policy, env, prometheus):
    """Declared as the receiver and the CLI declare: update-with-start, answered by `opened`."""
    receipt = await declare_incident(
        client,
        task_queue,
        Declaration(
            summary="Grades rows corrupted", severity="P0", reporter="support@preskool.com", source="zendesk"
        ),
    )
    handle = client.get_workflow_handle(receipt.incident_id)
    await status_when(handle, lambda s: s.channel)
    return handle


async def p1_lifecycle_resolved(client, task_queue, policy, env, prometheus):
    """The whole §4 lifecycle: ack, blast radius, updates, mitigate, a failed gate, a verified one."""
    handle = await client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id="inc-golden-lifecycle", group_key="g"),
        id="inc-golden-lifecycle",
        task_queue=task_queue,
    )
    await handle.execute_update(
        IncidentWorkflow.receive_alerts,
        digest(
            AlertmanagerDelivery.model_validate(
                delivery(alert(module="fees", summary="Fee collection failing"))
            )
        ),
    )
    await status_when(handle, lambda s: s.cadence)
    await env.sleep(timedelta(minutes=3))  # the unacknowledged page escalates
    await handle.signal("acknowledge", {"by": "ben.okafor@preskool.com"})
    await handle.signal(
        "declare_blast_radius", {"scope": "tenant", "tenants": ["school-42"], "by": "ben.okafor@preskool.com"}
    )
    await handle.signal(
        "set_severity", {"severity": "P0", "by": "asha.rao@preskool.com", "reason": "every school"}
    )
    await env.sleep(timedelta(minutes=16))  # an overdue update
    await handle.signal(
        "post_update",
        {
            "by": "asha.rao@preskool.com",
            "status": "ONGOING",
            "public": True,
            "current_action": "Rolling back",
            "what_we_know": "Gateway change",
        },
    )
    await handle.signal("mitigate", {"by": "ben.okafor@preskool.com", "summary": "Rolled back"})
    await handle.signal("resolve", {"by": "ben.okafor@preskool.com", "summary": "not the IC"})
    prometheus.unhealthy(policy)
    await handle.signal("resolve", {"by": "asha.rao@preskool.com", "summary": "Rolled back"})
    await status_when(handle, lambda s: s.gate_runs)
    prometheus.healthy(policy)
    await handle.signal(
        "resolve", {"by": "asha.rao@preskool.com", "summary": "Rolled back", "root_cause": "Gateway"}
    )
    await status_when(handle, lambda s: s.phase == "REVIEW")
    return handle


async def p3_forced_close(client, task_queue, policy, env, prometheus):
    """A minor issue closed at once by the IC without metrics."""
    handle = await client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id="inc-golden-p3", group_key="g"),
        id="inc-golden-p3",
        task_queue=task_queue,
    )
    await handle.execute_update(
        IncidentWorkflow.receive_alerts,
        digest(
            AlertmanagerDelivery.model_validate(
                delivery(alert(severity="info", summary="UI glitch on the reports page"))
            )
        ),
    )
    await status_when(handle, lambda s: s.cadence)
    await handle.signal(
        "resolve", {"by": "asha.rao@preskool.com", "summary": "Cosmetic", "force_reason": "no metric for it"}
    )
    await status_when(handle, lambda s: s.phase == "REVIEW")
    return handle


async def p0_approvals(client, task_queue, policy, env, prometheus):
    """§4.3 and §7: refusals, a two-person secret change, an executor run, an expiry."""
    handle = await client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id="inc-golden-approvals", group_key="g"),
        id="inc-golden-approvals",
        task_queue=task_queue,
    )
    await handle.execute_update(
        IncidentWorkflow.receive_alerts,
        digest(
            AlertmanagerDelivery.model_validate(
                delivery(alert(scope="all", summary="API returning 500s for all requests"))
            )
        ),
    )
    await status_when(handle, lambda s: s.cadence)
    ic, primary, lead = "asha.rao@preskool.com", "ben.okafor@preskool.com", "dana.whitfield@preskool.com"
    await handle.signal("approve", {"request_id": "early", "by": ic})
    await handle.signal(
        "request_action",
        {
            "request_id": "rb",
            "action": "restart_scale",
            "target": "backend",
            "by": primary,
            "reason": "pods stuck",
        },
    )
    await handle.signal("approve", {"request_id": "rb", "by": primary})
    await handle.execute_update(IncidentWorkflow.approve_action, {"request_id": "rb", "by": ic})
    await handle.signal(
        "request_action",
        {
            "request_id": "sec",
            "action": "modify_secrets",
            "target": "db-password",
            "by": primary,
            "reason": "leaked",
        },
    )
    await handle.signal("approve", {"request_id": "sec", "by": lead})
    await handle.signal("approve", {"request_id": "sec", "by": ic})
    await handle.signal("action_done", {"request_id": "sec", "by": primary, "outcome": "rotated"})
    await handle.signal(
        "request_action",
        {
            "request_id": "media",
            "action": "contact_media",
            "target": "press",
            "by": lead,
            "reason": "journalist asking",
        },
    )
    await status_when(handle, lambda s: len(s.requests) == 3 and s.requests[0].state in ("done", "failed"))
    await env.sleep(timedelta(minutes=31))
    await status_when(handle, lambda s: s.requests[2].state == "expired")
    return handle


async def p0_ledger(client, task_queue, policy, env, prometheus):
    """§8 after resolution: the customer email approved and sent, reminders, overdue escalations,
    an action item, a waiver; recorded part-way, as a worker upgrade would find it."""
    prometheus.healthy(policy)
    handle = await client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id="inc-golden-ledger", group_key="g"),
        id="inc-golden-ledger",
        task_queue=task_queue,
    )
    await handle.execute_update(
        IncidentWorkflow.receive_alerts,
        digest(
            AlertmanagerDelivery.model_validate(
                delivery(alert(scope="all", summary="API returning 500s for all requests"))
            )
        ),
    )
    await status_when(handle, lambda s: s.cadence)
    ic, primary, lead = "asha.rao@preskool.com", "ben.okafor@preskool.com", "dana.whitfield@preskool.com"
    await handle.signal("acknowledge", {"by": primary})
    await handle.signal("resolve", {"by": ic, "summary": "Rolled back", "root_cause": "A bad deploy"})
    await status_when(handle, lambda s: s.phase == "REVIEW" and len(s.tickets) >= 3)
    await handle.execute_update(
        IncidentWorkflow.approve_action, {"request_id": "customer-email", "by": "elif.demir@preskool.com"}
    )
    await handle.signal("add_action_item", {"title": "Canary deploys", "owner": primary, "by": ic})
    await env.sleep(timedelta(hours=25))
    await handle.signal(
        "complete_deliverable", {"deliverable": "incident_report", "by": ic, "link": "https://x"}
    )
    await handle.signal(
        "waive_deliverable", {"deliverable": "public_postmortem", "by": lead, "reason": "internal"}
    )
    await env.sleep(timedelta(hours=50))
    await status_when(handle, lambda s: s.deliverables[2].state == "overdue")
    return handle


async def p0_continue_as_new(client, task_queue, policy, env, prometheus):
    """A P0 left running for days: its first run ends by continuing as new (the run recorded)."""
    handle = await client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id="inc-golden-long", group_key="g"),
        id="inc-golden-long",
        task_queue=task_queue,
    )
    await handle.execute_update(
        IncidentWorkflow.receive_alerts,
        digest(
            AlertmanagerDelivery.model_validate(
                delivery(alert(scope="all", summary="API returning 500s for all requests"))
            )
        ),
    )
    await handle.signal("acknowledge", {"by": "ben.okafor@preskool.com"})
    for _ in range(6):
        await env.sleep(timedelta(days=1))
    await status_when(handle, lambda s: s.runs > 1)
    return client.get_workflow_handle(handle.id, run_id=handle.result_run_id)


async def p0_private(client, task_queue, policy, env, prometheus):
    """Data at risk (issue 16): a private bridge, the public statement requested, approved by the
    Communications Lead and the IC, then the status page; a public update withheld before it."""
    handle = await client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id="inc-golden-private", group_key="g"),
        id="inc-golden-private",
        task_queue=task_queue,
    )
    await handle.execute_update(
        IncidentWorkflow.receive_alerts,
        digest(
            AlertmanagerDelivery.model_validate(
                delivery(alert(data_at_risk="true", module="fees", summary="Fee ledger rows corrupted"))
            )
        ),
    )
    await status_when(handle, lambda s: s.requests and s.channel)
    ic, comms = "asha.rao@preskool.com", "elif.demir@preskool.com"
    await handle.signal(
        "post_update",
        {"by": ic, "status": "ONGOING", "public": True, "current_action": "Restoring", "what_we_know": "x"},
    )
    for by in (comms, ic):
        await handle.execute_update(
            IncidentWorkflow.approve_action, {"request_id": "public-statement", "by": by}
        )
    await status_when(handle, lambda s: s.status_page_id)
    return handle


async def fees_p1_opened(client, task_queue, incident_id: str):
    """A P1 for the fees module, opened by one Alertmanager delivery, its §5.1 opening posted."""
    handle = await client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id=incident_id, group_key="g"),
        id=incident_id,
        task_queue=task_queue,
    )
    await handle.execute_update(
        IncidentWorkflow.receive_alerts,
        digest(AlertmanagerDelivery.model_validate(delivery(alert(module="fees", summary="Fees down")))),
    )
    await status_when(handle, lambda s: any(e.text.startswith("posted the opening") for e in s.timeline))
    return handle


async def p1_on_call(client, task_queue, policy, env, prometheus):
    """On call from PagerDuty (issue 16): the primary is whoever PagerDuty's schedule says; the
    bridge invites and names them, and a severity change looks again."""
    handle = await fees_p1_opened(client, task_queue, "inc-golden-oncall")
    await handle.signal("acknowledge", {"by": "zoe.adams@preskool.com"})
    await handle.signal(
        "set_severity", {"severity": "P0", "by": "asha.rao@preskool.com", "reason": "every school"}
    )
    await status_when(handle, lambda s: s.severity == "P0" and s.acknowledged_by)
    return handle


def on_call_setup(policy, pagerduty):
    """Zoe holds the primary's PagerDuty schedule; the roster names the schedule beside Ben."""
    pagerduty.rest.add_user("PZOE001", "Zoe Adams", "zoe.adams@preskool.com")
    pagerduty.rest.put_on_call("PZOE001", schedule="PSCHED1")
    data = policy.model_dump(mode="json")
    data["roster"]["oncall_primary"]["on_call"] = {"pagerduty_schedule": "PSCHED1"}
    return type(policy).model_validate(data)


async def heartbeat_silence_and_back(client, task_queue, policy, env, prometheus):
    """The dead man's switch (issue 16): beats, ten silent minutes (the primary paged, the alerts
    channel told), then a beat that ends the alarm."""
    url = "http://alertmanager-golden:9093"

    async def beat():
        start = WithStartWorkflowOperation(
            HeartbeatWorkflow.run,
            HeartbeatInput(heartbeat_id=heartbeat_id(url), alertmanager=url),
            id=heartbeat_id(url),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        await client.execute_update_with_start_workflow(
            HeartbeatWorkflow.beat,
            Beat(alertmanager=url, alert_name="Watchdog"),
            start_workflow_operation=start,
        )

    handle = client.get_workflow_handle(heartbeat_id(url))

    async def state():
        return (await handle.query(HeartbeatWorkflow.status)).state

    await beat()
    await env.sleep(timedelta(minutes=11))
    await eventually(lambda: _alarm_on(state))
    await beat()
    await eventually(lambda: _alarm_off(state))
    return handle


async def heartbeat(client, task_queue, policy, env, prometheus):
    """A pipeline's heartbeat (issue 23 case 6's kind): two Alertmanager peers take turns beating
    it, it goes silent (the primary paged), and a person retires it (`heartbeat-retire`): the page
    is resolved, the channel told once, and it ends."""
    labels = pipeline_labels({"alertname": "Watchdog", "severity": "none", "prometheus": "monitoring/golden"})
    beat_id = pipeline_id(labels)

    async def beat(url: str):
        start = WithStartWorkflowOperation(
            HeartbeatWorkflow.run,
            HeartbeatInput(heartbeat_id=beat_id, alertmanager=url, pipeline=labels),
            id=beat_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        await client.execute_update_with_start_workflow(
            HeartbeatWorkflow.beat,
            Beat(alertmanager=url, alert_name="Watchdog", pipeline=labels),
            start_workflow_operation=start,
        )

    handle = client.get_workflow_handle(beat_id)

    async def state():
        return (await handle.query(HeartbeatWorkflow.status)).state

    await beat("http://alertmanager-0.golden:9093")
    await env.sleep(timedelta(minutes=4))
    await beat("http://alertmanager-1.golden:9093")
    await env.sleep(timedelta(minutes=11))
    await eventually(lambda: _alarm_on(state))
    retirement = Retirement(by="ben.okafor@preskool.com", reason="the golden cluster is decommissioned")
    await handle.execute_update(HeartbeatWorkflow.retire, retirement)
    await handle.result()
    return handle


async def _alarm_on(state) -> bool:
    return (await state()).alarm is not None


async def _alarm_off(state) -> bool:
    return (await state()).alarm is None and bool((await state()).ended)


async def p1_people(client, task_queue, policy, env, prometheus):
    """Who people are (issue 14): a typo'd acknowledger flagged, a misspelt signal name refused, a
    request changed only by its requester, an approval by nobody in the roster refused."""
    handle = await fees_p1_opened(client, task_queue, "inc-golden-people")
    await handle.signal("acknowledge", {"by": "ben.okafr@preskool.com"})
    await handle.signal("acknowlege", {"by": "ben.okafor@preskool.com"})
    ask = {"request_id": "rb-1", "action": "rollback", "target": "backend", "reason": "deploy"}
    await handle.signal("request_action", {**ask, "by": "ben.okafor@preskool.com"})
    await handle.signal("request_action", {**ask, "target": "payments", "by": "asha.rao@preskool.com"})
    await handle.signal("approve", {"request_id": "rb-1", "by": "dana.whitfeld@preskool.com"})
    await status_when(handle, lambda s: sum(e.kind == "refused" for e in s.timeline) >= 3)
    return handle


async def p1_alert_late(client, task_queue, policy, env, prometheus):
    """An alert that reached us 40 min after it began (issue 20): the start is its startsAt (+08:00),
    the windows that had passed said once, the page escalated 2 min after it was sent, then
    acknowledged; a later delivery whose alert began earlier moves the start."""
    began = (await env.get_current_time()).replace(microsecond=0) - timedelta(minutes=40)
    late = alert(module="fees", summary="Fee collection failing")
    late["startsAt"] = began.astimezone(timezone(timedelta(hours=8))).isoformat()
    handle = await client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id="inc-golden-late", group_key="g"),
        id="inc-golden-late",
        task_queue=task_queue,
    )
    await handle.execute_update(
        IncidentWorkflow.receive_alerts, digest(AlertmanagerDelivery.model_validate(delivery(late)))
    )
    await status_when(
        handle, lambda s: any(e.text.startswith("posted the windows-passed") for e in s.timeline)
    )
    await env.sleep(timedelta(minutes=3))
    await status_when(handle, lambda s: any(e.kind == "escalated" for e in s.timeline))
    await handle.signal("acknowledge", {"by": "ben.okafor@preskool.com"})
    earlier = {
        **late,
        "startsAt": (began - timedelta(minutes=20)).isoformat(),
        "fingerprint": "e0000000000000a2",
    }
    await handle.execute_update(
        IncidentWorkflow.receive_alerts, digest(AlertmanagerDelivery.model_validate(delivery(late, earlier)))
    )
    await status_when(handle, lambda s: s.phase == "TRIAGE" and s.started_at < began)
    return handle


async def p1_refusal_flood(client, task_queue, policy, env, prometheus):
    """A flood of refused inputs (issue 20): 30 bad acknowledgements, of which the bridge is told
    10 (the rest counted), and a good one after them."""
    handle = await fees_p1_opened(client, task_queue, "inc-golden-flood")
    for n in range(30):
        await handle.signal("acknowledge", {"by": f"not-an-email-{n}"})
    await status_when(handle, lambda s: sum(e.kind == "refused" for e in s.timeline) >= 30)
    await handle.signal("acknowledge", {"by": "ben.okafor@preskool.com"})
    await status_when(handle, lambda s: s.acknowledged_by == "ben.okafor@preskool.com")
    # REVIEW wakes hourly to look for a newer build (workflows/upgrade.py).
    await handle.signal(
        "resolve", {"by": "asha.rao@preskool.com", "summary": "rolled back", "force_reason": "recording"}
    )
    await status_when(handle, lambda s: s.phase == "REVIEW" and s.deliverables)
    await env.sleep(timedelta(hours=2, minutes=5))
    await status_when(handle, lambda s: s.phase == "REVIEW")
    return handle


RECORD_PRIVATE, RECORD_PUBLIC = new_key_pair()


def signed(incident_id: str, signal: str, value: dict, person: str, key: str) -> dict:
    """`value` as the receiver sends it for `person` (Slack user U0RECORD01), signed with `key`."""
    proof = attest(
        load_private_key(key), incident_id=incident_id, signal=signal, signal_input=value,
        person=person, user="U0RECORD01", at=datetime.now(UTC),
    )  # fmt: skip
    return {**value, "by": person, "attestation": proof.model_dump(mode="json")}


async def p1_keys_looked_up(client, task_queue, policy, env, prometheus):
    """Attestation keys that rotate (issue 23, patch `keys-looked-up`): a role assigned with the
    pinned key; one signed with a key the incident has not pinned waits while the workers are asked
    for their current keys, then is refused (they hold no such key)."""
    handle = await fees_p1_opened(client, task_queue, "inc-golden-keys")
    ic = "asha.rao@preskool.com"
    role = {"role": "oncall_secondary", "person": "chen.li@preskool.com"}
    await handle.signal("assign_role", signed(handle.id, "assign_role", role, ic, RECORD_PRIVATE))
    await status_when(handle, lambda s: any(e.kind == "role" for e in s.timeline))
    rogue, _ = new_key_pair()
    role = {"role": "communications_lead", "person": "chen.li@preskool.com"}
    await handle.signal("assign_role", signed(handle.id, "assign_role", role, ic, rogue))
    await status_when(handle, lambda s: any("do not hold" in e.text for e in s.timeline))
    return handle


async def p0_status_page_down(client, task_queue, policy, env, prometheus):
    """Outward steps watched while slow (issue 22): Statuspage down at the opening, so its step
    is watched by the incident's clock (the 2-minute escalation) and said slow after 2 min once the
    page was acknowledged (the clock re-armed for it); back, the page opens. Down again for a public
    update sent when the next clock is 15 minutes away: that step keeps its own timer."""
    statuspage = FAKES["statuspage"]
    statuspage.fail_next("*", 503, times=10_000)
    handle = await client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id="inc-golden-slow", group_key="g"),
        id="inc-golden-slow",
        task_queue=task_queue,
    )
    await handle.execute_update(
        IncidentWorkflow.receive_alerts,
        digest(AlertmanagerDelivery.model_validate(delivery(alert(scope="all", summary="API 500s")))),
    )
    await status_when(handle, lambda s: s.channel and s.cadence)
    await handle.signal("acknowledge", {"by": "ben.okafor@preskool.com"})
    await status_when(handle, lambda s: s.phase == "TRIAGE")
    await env.sleep(timedelta(minutes=3))
    await status_when(handle, lambda s: any(e.kind == "slow-step" for e in s.timeline))
    statuspage.reset()
    await env.sleep(timedelta(minutes=2))
    await status_when(handle, lambda s: s.status_page_id)
    statuspage.fail_next("*", 503, times=10_000)
    await handle.signal(
        "post_update",
        {"by": "asha.rao@preskool.com", "status": "ONGOING", "public": True,
         "current_action": "Rolling back", "what_we_know": "A deploy"},
    )  # fmt: skip
    await env.sleep(timedelta(minutes=3))
    await status_when(handle, lambda s: sum(e.kind == "slow-step" for e in s.timeline) == 2)
    statuspage.reset()
    await env.sleep(timedelta(minutes=2))
    return handle


async def roles(client, task_queue, policy, env, prometheus):
    """v2.1, issue 23 (workflow.patched "roles-anyone"): the Communications Lead given to Zoe, in
    no roster, once Slack vouches for her; the IC refused for a guest, and the Engineering Lead for
    Zoe (roster only); the primary handed over with a note; the new holder ticks their checklist."""
    slack = FAKES["slack"]
    slack.users = {p.contacts["slack"]: {"name": p.name, "email": p.email} for p in policy.roster.values()}
    slack.users["U0ZOE00001"] = {"name": "Zoe Nakamura", "email": "zoe.nakamura@preskool.com"}
    slack.users["U0GUEST001"] = {"name": "Gabe", "email": "gabe@partner.example", "guest": "multi"}
    handle = await fees_p1_opened(client, task_queue, "inc-golden-roles")
    ic = "asha.rao@preskool.com"
    await handle.signal(
        "assign_role", {"by": ic, "role": "communications_lead", "person": "zoe.nakamura@preskool.com"}
    )
    await handle.signal(
        "assign_role", {"by": ic, "role": "incident_commander", "person": "gabe@partner.example"}
    )
    await handle.signal(
        "assign_role", {"by": ic, "role": "engineering_lead", "person": "zoe.nakamura@preskool.com"}
    )
    await handle.signal(
        "handover",
        {
            "by": "ben.okafor@preskool.com",
            "person": "chen.li@preskool.com",
            "note": "Rolled back; watch fees",
        },
    )
    await status_when(handle, lambda s: any(e.kind == "handover" for e in s.timeline))
    await handle.signal("tick_checklist", {"by": "chen.li@preskool.com", "role": "oncall_primary", "item": 0})
    await status_when(
        handle,
        lambda s: (
            any(e.kind == "checklist" for e in s.timeline)
            and sum(e.kind == "refused" for e in s.timeline) >= 2
            and any(r.person == "zoe.nakamura@preskool.com" for r in s.roles)
        ),
    )
    await env.sleep(timedelta(minutes=1))
    return handle


async def people(client, task_queue, policy, env, prometheus):
    """v2.1 (issue 23: `invite-each`, `shift-end`): the Communications Lead is a single-channel
    guest Slack will not invite (the others are, the IC and she are told directly); the primary's
    PagerDuty shift ends 10 minutes in, and the handoff follows with nobody touching a role."""
    FAKES["slack"].refuse_invites("U0COMMS001", "ura_max_channels")
    handle = await fees_p1_opened(client, task_queue, "inc-golden-people-v2-1")
    await handle.signal("acknowledge", {"by": "zoe.adams@preskool.com"})
    await status_when(handle, lambda s: sum(e.text.startswith("not-invited") for e in s.timeline) == 3)
    await env.sleep(timedelta(minutes=11))
    await status_when(handle, lambda s: any(e.text.startswith("posted the handoff") for e in s.timeline))
    return handle


def shift_setup(policy, pagerduty):
    """Zoe holds the primary's PagerDuty schedule until 10 minutes from now, then Yusuf."""
    pagerduty.rest.add_user("PZOE001", "Zoe Adams", "zoe.adams@preskool.com")
    pagerduty.rest.add_user("PYUSUF1", "Yusuf Ali", "yusuf.ali@preskool.com")
    ends = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
    pagerduty.rest.rotate(["PZOE001", "PYUSUF1"], schedule="PSCHED1", first_ends=ends)
    data = policy.model_dump(mode="json")
    data["roster"]["oncall_primary"]["on_call"] = {"pagerduty_schedule": "PSCHED1"}
    return type(policy).model_validate(data)


async def outward(client, task_queue, policy, env, prometheus):
    """v2.1, issue 23 cases 4 and 8: opened public (its memo has the summary), data found at risk:
    the memo's summary goes (`private-memo`); resolved, its customer email meets a school whose
    address SMTP cannot carry (a policy pinned before the load-time check): that one email fails
    on its own (`email-each-address`) while the school with an internationalised domain and the
    rest get theirs, and the request ends."""
    summary = "Fee exports failing"
    handle = await client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id="inc-golden-outward", group_key="g"),
        id="inc-golden-outward",
        task_queue=task_queue,
        memo={"summary": summary},
    )
    public = alert(scope="all", module="fees", summary=summary)
    await handle.execute_update(
        IncidentWorkflow.receive_alerts, digest(AlertmanagerDelivery.model_validate(delivery(public)))
    )
    await status_when(handle, lambda s: s.channel)
    leak = alert(alertname="Leak", data_at_risk="true", summary=summary)
    await handle.execute_update(
        IncidentWorkflow.receive_alerts, digest(AlertmanagerDelivery.model_validate(delivery(public, leak)))
    )
    await status_when(handle, lambda s: s.private)
    await handle.signal("acknowledge", {"by": "ben.okafor@preskool.com"})
    await handle.signal(
        "declare_blast_radius", {"scope": "tenant", "tenants": ["school-42"], "by": "ben.okafor@preskool.com"}
    )
    await handle.signal(
        "resolve", {"by": "asha.rao@preskool.com", "summary": "rolled back", "force_reason": "recording"}
    )
    await status_when(
        handle,
        lambda s: any(e.kind == "notified" and e.text.startswith("customer-email-draft") for e in s.timeline),
    )
    await handle.execute_update(
        IncidentWorkflow.approve_action, {"request_id": "customer-email", "by": "elif.demir@preskool.com"}
    )
    await status_when(
        handle, lambda s: any(r.request_id == "customer-email" and r.state == "failed" for r in s.requests)
    )
    return handle


def outward_setup(policy, pagerduty):
    """Schools as customers write them, one not loadable today (pinned before the check)."""
    schools = {
        "school-42": ["dîrection@lycée-hugo.fr", "direction@lycée-hugo.fr", "principal@school-42.example.edu"]
    }
    mail = policy.customer_email.model_copy(update={"recipients": schools})
    return policy.model_copy(update={"customer_email": mail})


async def jira(client, task_queue, policy, env, prometheus):
    """v2.1, issue 23 case 8's kind for Jira (workflow.patched "ticket-failed"): a French Jira
    whose admin made a field required after the worker's start check. Resolved: §8's tickets are
    each refused on their own (`ticket-failed`, the IC told which and why); the requirement lifted,
    an action item's ticket is created."""
    fake = FAKES["jira"]
    fake.issue_types = [dict(t) for t in FRENCH]
    fake.required = {"customfield_10010": {"name": "Équipe", "options": ["Plateforme"]}}
    handle = await fees_p1_opened(client, task_queue, "inc-golden-jira")
    ic = "asha.rao@preskool.com"
    await handle.signal("resolve", {"by": ic, "summary": "rolled back", "force_reason": "recording"})
    await status_when(handle, lambda s: sum(e.kind == "ticket-failed" for e in s.timeline) >= 3)
    fake.required = {}
    await handle.signal(
        "add_action_item", {"title": "Canary deploys", "owner": "ben.okafor@preskool.com", "by": ic}
    )
    await status_when(handle, lambda s: "action-item-1" in s.tickets)
    await env.sleep(timedelta(minutes=1))
    return handle


async def drill_clock(client, task_queue, policy, env, prometheus):
    """A drill on a sped-up clock (issue 24, plan/drill_clock.py): ×60 while open (the 2-minute
    escalation after 2 s, an overdue update), ×3600 once resolved (§8 reminders and an overdue
    deliverable), the timers set by the incident's clock and reset when its speed changes."""
    handle = await fees_p1_opened(client, task_queue, "inc-golden-drill")
    await env.sleep(timedelta(seconds=40))  # 40 minutes of the plan: escalated, an update overdue
    await handle.signal("acknowledge", {"by": "ben.okafor@preskool.com"})
    await handle.signal("mitigate", {"by": "ben.okafor@preskool.com", "summary": "Rolled back"})
    prometheus.healthy(policy)
    await handle.signal(
        "resolve", {"by": "asha.rao@preskool.com", "summary": "Rolled back", "root_cause": "a drill"}
    )
    await status_when(handle, lambda s: s.phase == "REVIEW")
    await env.sleep(timedelta(seconds=30))  # 30 hours of the plan: the §8 report overdue
    await handle.signal(
        "complete_deliverable",
        {"deliverable": "postmortem_meeting", "link": "https://wiki/pm", "by": "asha.rao@preskool.com"},
    )
    await status_when(handle, lambda s: any(e.kind == "overdue" for e in s.timeline))
    return handle


def drill_setup(policy, pagerduty):
    return policy.model_copy(update={"drill_clock": DrillClockPolicy(speed_up=60, after_resolution=3600)})


async def picture(client, task_queue, policy, env, prometheus):
    """v2.1, issue 24 item 6 (workflow.patched "picture-in-bridge"): resolved and closed out, the
    post-mortem draft's timeline picture shared in the draft's thread in the bridge; the first
    share's answer is lost, and the retry finds the picture there and shares nothing more."""
    FAKES["slack"].lose_next_response("files.completeUploadExternal")
    handle = await fees_p1_opened(client, task_queue, "inc-golden-picture")
    await handle.signal("acknowledge", {"by": "ben.okafor@preskool.com"})
    prometheus.healthy(policy)
    await handle.signal(
        "resolve", {"by": "asha.rao@preskool.com", "summary": "Rolled back", "root_cause": "Gateway"}
    )
    await status_when(handle, lambda s: any(e.kind == "picture-shared" for e in s.timeline))
    return handle


FAKES: dict = {}  # the sandbox servers of the scenario being recorded, for those that break one
LATER_ERAS: dict[str, str] = {
    "p1_keys_looked_up": "v2.1",
    "people": "v2.1",
    "outward": "v2.1",
    "roles": "v2.1",
    "heartbeat": "v2.1",
    "jira": "v2.1",
    "drill_clock": "v2.1",  # no patch: a policy without drill_clock issues the commands it did
    "picture": "v2.1",
}
SETUP = {
    "p1_on_call": on_call_setup,
    "people": shift_setup,
    "outward": outward_setup,
    "drill_clock": drill_setup,
}
KEYED = {"p1_keys_looked_up"}  # recorded with a worker holding RECORD_PUBLIC

SCENARIOS = {
    "p1_acknowledged": p1_acknowledged,
    "p0_declared": p0_declared_data_at_risk,
    "p1_lifecycle_resolved": p1_lifecycle_resolved,
    "p3_forced_close": p3_forced_close,
    "p0_approvals": p0_approvals,
    "p0_ledger": p0_ledger,
    "p0_continue_as_new": p0_continue_as_new,
    "p0_private": p0_private,
    "p1_on_call": p1_on_call,
    "heartbeat_silence_and_back": heartbeat_silence_and_back,
    "p1_people": p1_people,
    "p1_alert_late": p1_alert_late,
    "p1_refusal_flood": p1_refusal_flood,
    "p0_status_page_down": p0_status_page_down,
    "p1_keys_looked_up": p1_keys_looked_up,
    "people": people,
    "outward": outward,
    "roles": roles,
    "heartbeat": heartbeat,
    "jira": jira,
    "drill_clock": drill_clock,
    "picture": picture,
}


async def main(names: list[str]) -> None:
    policy = load_policy()
    for name in names or [n for n in SCENARIOS if n not in LATER_ERAS]:  # a later era: by name
        era = HERE / LATER_ERAS[name] if name in LATER_ERAS else ERA
        era.mkdir(exist_ok=True)
        # A time-skipping server per scenario: its clock is global to it.
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=shutil.which("temporal-test-server"),
            data_converter=pydantic_data_converter,
        )
        await register_search_attributes(env.client)
        async with (
            SlackFake(channels=("general", "preskool-alerts")) as slack,
            PagerDutyFake() as pagerduty,
            StatuspageFake() as statuspage,
            PrometheusFake() as prometheus,
            JiraFake() as jira,
            SmtpSandbox(ca=pagerduty.ca) as smtp,
            env,
        ):
            settings = sandbox_settings(slack, pagerduty, statuspage, prometheus, jira, smtp)
            FAKES.update(statuspage=statuspage, slack=slack, jira=jira)
            used = SETUP[name](policy, pagerduty) if name in SETUP else policy
            if name in KEYED:
                settings = settings.model_copy(update={"irp_attestation_public_keys": RECORD_PUBLIC})
            async with build_worker(env.client, "record", used, settings, drill=name == "drill_clock"):
                handle = await SCENARIOS[name](env.client, "record", used, env, prometheus)
                if (await handle.describe()).status.name == "RUNNING":
                    await finish(handle)
                history = await handle.fetch_history()
                (era / f"{name}.json").write_text(json.dumps(history.to_json_dict(), indent=1))
                print(f"recorded {era.name}/{name}: {len(history.events)} events", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
