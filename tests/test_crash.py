"""Crashes. The promise: an incident is never dropped and never makes noise twice, whatever fails.

Everything here is real: the dev server (`temporal server start-dev` on a SQLite file), the
worker (`python worker.py`) and the receiver (`python -m webhook`) run as their own processes and
are killed with SIGKILL at the worst moment; the fakes run in the test and count every effect.

What a kill costs, as measured here (and why the waits below are as long as they are):
- the first workflow task of an incident after its worker died waits out the dead worker's sticky
  queue: 10 s (the SDK's sticky_queue_schedule_to_start_timeout), then goes to the task queue;
- an activity the dead worker was running is retried only when its start-to-close timeout
  passes (60 s for outside steps, which have no heartbeat timeout). `lose_attempt` shortens that
  wait for the attempt that was cut off; IRP_CRASH_REAL_TIMEOUTS=1 waits it out instead."""

from __future__ import annotations

import os
import sys
import uuid
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from temporalio.api.activity.v1 import ActivityOptions
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import UpdateActivityOptionsRequest
from temporalio.service import RPCError

from incident_client.intake import deliver_alerts, incident_id_for_group
from plan import AlertmanagerDelivery
from plan.models import Executor, Role
from tests.helpers import eventually, status_when
from tests.payloads import alert, delivery
from tests.processes import Receiver, free_port, logs, policy_file
from workflows import IncidentWorkflow

IC = "asha.rao@preskool.com"
PRIMARY = "ben.okafor@preskool.com"
# With IRP_CRASH_REAL_TIMEOUTS=1, wait out the server's own timeouts instead (see lose_attempt).
REAL_TIMEOUTS = 90 if os.environ.get("IRP_CRASH_REAL_TIMEOUTS") == "1" else 0


@contextmanager
def explained(*procs):
    """A wait that fails says what the processes said."""
    try:
        yield
    except AssertionError as e:
        raise AssertionError(f"{e}\n{logs(*procs)}") from None


# --- looking at the incident and the fakes ---------------------------------------------------------


def unique(payload: dict) -> dict:
    payload["groupKey"] += f":crash:{uuid.uuid4().hex[:8]}"
    return payload


async def open_incident(client, task_queue, policy, **labels):
    receipt = await deliver_alerts(
        client, task_queue, AlertmanagerDelivery.model_validate(unique(delivery(alert(**labels))))
    )
    return client.get_workflow_handle(receipt.incident_id)


def checklist_posted(status) -> bool:
    return any(e.text.startswith("posted the triage-checklist") for e in status.timeline)


def bridge_keys(slack, status) -> Counter:
    """How often each keyed message of this incident is in its bridge."""
    return Counter(
        ((m.get("metadata") or {}).get("event_payload") or {}).get("key")
        for m in slack.messages(status.channel)
    )


async def idle(handle) -> bool:
    """No activity running and no workflow task in flight: a kill now interrupts nothing."""
    raw = (await handle.describe()).raw_description
    return not raw.pending_activities and not raw.HasField("pending_workflow_task")


async def lose_attempt(client, handle, activity_id: str) -> None:
    """A dead worker's activity attempt is retried once the server times it out: after its
    start-to-close timeout (60 s for outside steps; there is no heartbeat timeout). Unless
    IRP_CRASH_REAL_TIMEOUTS=1, shorten that timeout for the running attempt, as an operator would
    with `temporal activity update-options --start-to-close-timeout`, so the retry comes now."""
    if os.environ.get("IRP_CRASH_REAL_TIMEOUTS") == "1":
        return
    await client.workflow_service.update_activity_options(
        UpdateActivityOptionsRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=handle.id),
            id=activity_id,
            activity_options=ActivityOptions(start_to_close_timeout=Duration(seconds=3)),
            update_mask=FieldMask(paths=["start_to_close_timeout"]),
        )
    )


# --- 1. the worker dies while a page is in flight -----------------------------------------------


async def test_worker_killed_while_paging(client, worker, policy, slack, pagerduty, statuspage):
    """A P0 pages five roles at once. One trigger hangs in PagerDuty and the worker is killed with
    it in flight. PagerDuty still acts on it (the answer is lost with the worker); the new worker's
    retry sends the same dedup key, so PagerDuty keeps one alert: everyone paged once, nobody twice."""
    first = await worker()
    pagerduty.delay_next("/v2/enqueue", 8)  # long enough for the kill to land mid-request
    handle = await open_incident(client, first.env["TEMPORAL_TASK_QUEUE"], policy, scope="all")
    [held] = await eventually(lambda: pagerduty.held_for("/v2/enqueue"))

    async def only_the_held_page_runs():
        """The kill interrupts that page and nothing else (no workflow task in flight either)."""
        raw = (await handle.describe()).raw_description
        return len(raw.pending_activities) == 1 and not raw.HasField("pending_workflow_task") and raw

    raw = await eventually(only_the_held_page_runs)
    assert held.state == "holding", "the page answered before the kill: nothing was interrupted"
    first.kill9()
    second = await worker()
    await lose_attempt(client, handle, raw.pending_activities[0].activity_id)

    with explained(first, second):
        status = await status_when(
            handle,
            lambda s: len(s.paged) == 5 and s.channel and checklist_posted(s) and s.status_page_id,
            timeout=REAL_TIMEOUTS + 30,
        )
        await eventually(lambda: held.state == "released")  # PagerDuty acted on the interrupted trigger
        await eventually(lambda: idle(handle))
    assert {p.outcome for p in status.paged} == {"paged"}
    keys = [p.dedup_key for p in status.paged]
    assert len(set(keys)) == 5 and held.params["dedup_key"] in keys
    alerts = pagerduty.open_alerts()
    assert sorted(a.dedup_key for a in alerts) == sorted(keys), "one open alert per role"
    # The interrupted trigger and its retry landed on the same alert; every other role once.
    assert {a.dedup_key: a.triggers for a in alerts} == {
        k: 2 if k == held.params["dedup_key"] else 1 for k in keys
    }
    bridge = bridge_keys(slack, status)
    assert (bridge["opening"], bridge["triage-checklist"]) == (1, 1) and max(bridge.values()) == 1, bridge
    assert len(statuspage.incidents) == 1


# --- 2. the worker dies while an approval waits ---------------------------------------------------

ENG_LEAD = "dana.whitfield@preskool.com"
# Appends one line per run, so the test can count how often the action ran.
RECORD = "import sys; open(sys.argv[1], 'a').write(' '.join(sys.argv[2:]) + '\\n')"


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def test_worker_killed_while_an_approval_waits(client, worker, policy, slack, tmp_path):
    """A rollback waits for the Engineering Lead; the worker dies; a new one takes over. The
    approval that arrives then runs the rollback exactly once, and a second approval is refused."""
    runs = tmp_path / "runs.log"
    recording = Executor(
        command=[sys.executable, "-c", RECORD, str(runs), "rollback", "{target}"],
        timeout=timedelta(seconds=30),
    )
    actions = {
        **policy.actions,
        "rollback": policy.actions["rollback"].model_copy(update={"executor": recording}),
    }
    path, drill = policy_file(tmp_path / "policy.yaml", policy, actions=actions)
    first = await worker(IRP_POLICY_FILE=str(path))
    handle = await open_incident(client, first.env["TEMPORAL_TASK_QUEUE"], drill, module="fees")
    await status_when(handle, checklist_posted)
    await handle.signal(
        "request_action",
        {
            "action": "rollback",
            "target": "backend",
            "by": PRIMARY,
            "reason": "errors began with the 09:55 deploy",
        },
    )
    await status_when(handle, lambda s: any(r.state == "pending" for r in s.requests))
    await eventually(lambda: idle(handle))
    first.kill9()
    second = await worker(IRP_POLICY_FILE=str(path))

    await handle.signal("approve", {"request_id": "rollback-1", "by": ENG_LEAD})
    with explained(first, second):
        status = await status_when(handle, lambda s: s.requests[0].state == "done", timeout=30)
        await handle.signal("approve", {"request_id": "rollback-1", "by": ENG_LEAD})
        status = await status_when(
            handle, lambda s: any("already done" in e.text for e in s.timeline if e.kind == "refused")
        )
        await eventually(lambda: idle(handle))
    assert lines(runs) == ["rollback backend"]
    [done] = status.requests
    assert done.exit_code == 0 and [a.by for a in done.approvals] == [ENG_LEAD]
    bridge = bridge_keys(slack, status)
    assert (bridge["opening"], bridge["triage-checklist"]) == (1, 1), bridge
    results = [
        m["text"] for m in slack.messages(status.channel) if m["text"].startswith("🟢 rollback-1 done")
    ]
    assert len(results) == 1, results


# --- 3. the worker dies while a deliverable's timer runs ------------------------------------------

REPORT_SLA = timedelta(seconds=20)
# The reminder at 30 % (6 s) comes after the kill (the close-out takes ~1 s) and well before the due
# time: the first workflow task after a kill can wait out the dead worker's sticky queue (10 s),
# and a reminder whose moment is found only after the due time is skipped as moot.
REMINDER_AT = 0.3


def dms(slack, user_id: str, prefix: str) -> list[str]:
    channel = next((c for c in slack.channels.values() if c.is_im and c.name == user_id), None)
    return [m["text"] for m in channel.messages if m["text"].startswith(prefix)] if channel else []


async def test_worker_killed_while_a_deliverable_timer_runs(
    client, worker, policy, slack, jira, smtp, prometheus, tmp_path
):
    """After resolution the §8 ledger waits on durable timers. The worker dies with them running;
    the new worker finds the ledger as it was, and the incident report's reminder and its overdue
    escalation each arrive exactly once, after the restart."""
    deliverables = {
        **policy.deliverables,
        "incident_report": policy.deliverables["incident_report"].model_copy(update={"sla": REPORT_SLA}),
    }
    reminders = policy.reminders.model_copy(update={"at_fractions": [REMINDER_AT], "before": []})
    path, short = policy_file(
        tmp_path / "policy.yaml", policy, deliverables=deliverables, reminders=reminders
    )
    prometheus.healthy(short)
    first = await worker(IRP_POLICY_FILE=str(path))
    handle = await open_incident(
        client, first.env["TEMPORAL_TASK_QUEUE"], short, severity="warning", module="reports"
    )  # P2: the IC and the primary are paged
    await status_when(handle, checklist_posted)
    await handle.signal("resolve", {"by": IC, "summary": "Rolled back the reports service"})
    status = await status_when(handle, lambda s: s.phase == "REVIEW" and len(s.tickets) == 3)
    await eventually(lambda: idle(handle))
    before = await handle.query(IncidentWorkflow.deliverables)
    assert not any(d.reminded for d in before) and not dms(slack, "U0IC000001", "⏳ Reminder"), (
        "the close-out outlasted the reminder's moment: raise REPORT_SLA"
    )
    first.kill9()
    second = await worker(IRP_POLICY_FILE=str(path))

    lead = policy.person(Role.engineering_lead)
    with explained(first, second):
        await eventually(lambda: smtp.messages_to(lead.email), timeout=REPORT_SLA.total_seconds() + 20)
        await eventually(lambda: idle(handle))
    after = await handle.query(IncidentWorkflow.deliverables)
    status = await handle.query(IncidentWorkflow.status)

    # The ledger came through whole: same rows, same due times; only the report changed.
    assert [(d.key, d.due_at) for d in after] == [(d.key, d.due_at) for d in before]
    assert {d.key: d.state for d in after} == {
        d.key: "overdue" if d.key == "incident_report" else "pending" for d in before
    }
    report = next(d for d in after if d.key == "incident_report")
    assert report.escalated and report.reminded == 1
    # Each effect once: the reminder to the IC, the escalation to the Engineering Lead on Slack
    # and by email, and nothing made twice before the crash.
    assert len(dms(slack, "U0IC000001", "⏳ Reminder: “Incident report")) == 1
    assert len(dms(slack, lead.contacts["slack"], "🚨 Overdue: “Incident report")) == 1
    assert [m.headers["Subject"] for m in smtp.messages_to(lead.email)] == [
        f"[preskool-irp] Overdue: Incident report (internal) ({status.incident_id})"
    ]
    assert sum(e.kind == "escalated" for e in status.timeline) == 1
    assert len(jira.issues) == 3
    bridge = bridge_keys(slack, status)
    assert max(bridge.values()) == 1, bridge


# No reminders here, so the report may fall due sooner: REVIEW is reached ~2 s after the resolve.
EMAIL_SLA = timedelta(seconds=10)


async def test_worker_killed_while_the_smtp_server_takes_an_email(
    client, worker, policy, slack, jira, smtp, prometheus, tmp_path
):
    """The worst moment for email: the server has the message and the worker dies before it
    hears "250". SMTP has no idempotency key, so the retry must not send it again: the attempt's
    heartbeat said the content was handed over, and the retry says "may have been sent"."""
    deliverables = {
        **policy.deliverables,
        "incident_report": policy.deliverables["incident_report"].model_copy(update={"sla": EMAIL_SLA}),
    }
    reminders = policy.reminders.model_copy(update={"at_fractions": [], "before": []})
    path, short = policy_file(
        tmp_path / "policy.yaml", policy, deliverables=deliverables, reminders=reminders
    )
    prometheus.healthy(short)
    first = await worker(IRP_POLICY_FILE=str(path))
    handle = await open_incident(
        client, first.env["TEMPORAL_TASK_QUEUE"], short, severity="warning", module="reports"
    )
    await status_when(handle, checklist_posted)
    await handle.signal("resolve", {"by": IC, "summary": "Rolled back the reports service"})
    await status_when(handle, lambda s: s.phase == "REVIEW" and len(s.tickets) == 3)
    lead = policy.person(Role.engineering_lead)
    # The overdue escalation's email to the Engineering Lead: killed as the server records it.
    smtp.on_message = lambda m: first.kill9() if lead.email in m.rcpt_tos else None
    try:
        await eventually(lambda: smtp.messages_to(lead.email), timeout=EMAIL_SLA.total_seconds() + 20)
    finally:
        smtp.on_message = None
    second = await worker(IRP_POLICY_FILE=str(path))
    pending = [
        a
        for a in (await handle.describe()).raw_description.pending_activities
        if a.activity_type.name == "send_email"
    ]
    assert len(pending) == 1
    await lose_attempt(client, handle, pending[0].activity_id)

    with explained(first, second):
        await eventually(lambda: idle(handle), timeout=REAL_TIMEOUTS + 30)
    assert len(smtp.messages_to(lead.email)) == 1, "the retry sent the email again"
    status = await handle.query(IncidentWorkflow.status)
    assert any(
        "may have been sent: an earlier attempt had handed it to the SMTP server" in e.text
        for e in status.timeline
    ), [e.text for e in status.timeline][-5:]


# --- 4. the Temporal server dies mid-incident ------------------------------------------------------


def effects(slack, pagerduty, statuspage, status) -> dict:
    """Everything the outside world has seen of the incident, to compare before and after."""
    return {
        "triggers": Counter(t["dedup_key"] for t in pagerduty.triggers()),
        "bridge": bridge_keys(slack, status),
        "statuspage_incidents": len(statuspage.incidents),
        "statuspage_writes": len(statuspage.calls_to("POST")) + len(statuspage.calls_to("PATCH")),
    }


async def test_dev_server_killed_and_restarted_on_its_sqlite_file(
    client, server, worker, policy, slack, pagerduty, statuspage
):
    """A P1 waits for its acknowledgement when the Temporal server is killed with SIGKILL and
    started again on the same SQLite file. The worker rides it out, the incident is whole, the
    acknowledgement and an update work, and nothing the incident did before is done again."""
    running = await worker()
    handle = await open_incident(client, running.env["TEMPORAL_TASK_QUEUE"], policy, module="fees")
    await status_when(handle, lambda s: checklist_posted(s) and s.status_page_id)
    await eventually(lambda: idle(handle))
    before = await handle.query(IncidentWorkflow.status)
    seen = effects(slack, pagerduty, statuspage, before)

    server.kill9()
    await server.astart()
    with explained(running, server):
        after = await eventually(lambda: query_or_none(handle), timeout=30)
        assert running.alive, "the worker exited when the server went away"
        await running.polling(client)  # the same process, polling again
    assert after.model_dump() == before.model_dump(), "the incident changed across the restart"
    assert after.phase == "DETECTION" and after.acknowledged_by is None

    await handle.signal("acknowledge", {"by": PRIMARY})
    await handle.signal(
        "post_update",
        {
            "by": IC,
            "status": "ONGOING",
            "current_action": "Rolling back",
            "what_we_know": "Fee payments fail since the 09:55 deploy",
        },
    )
    with explained(running, server):
        status = await status_when(
            handle,
            lambda s: (
                s.phase == "TRIAGE"
                and s.cadence.updates_posted == 1
                and any(e.text.startswith("posted the update") for e in s.timeline)
            ),
            timeout=30,
        )
        await eventually(lambda: idle(handle))
    assert status.acknowledged_by == PRIMARY
    assert status.timeline[: len(before.timeline)] == before.timeline
    now = effects(slack, pagerduty, statuspage, status)
    assert now["triggers"] == seen["triggers"] and set(seen["triggers"].values()) == {1}, now["triggers"]
    assert now["statuspage_incidents"] == seen["statuspage_incidents"] == 1
    assert now["statuspage_writes"] == seen["statuspage_writes"]
    assert now["bridge"] - seen["bridge"] == Counter({k: 1 for k in now["bridge"] if k.startswith("update-")})
    assert max(now["bridge"].values()) == 1, now["bridge"]


async def workflow_ids(client, query: str) -> list[str]:
    return [w.id async for w in client.list_workflows(query)]


async def query_or_none(handle):
    try:
        return await handle.query(IncidentWorkflow.status)
    except RPCError:
        return None


# --- 5. the receiver dies between Alertmanager's deliveries -----------------------------------------

TOKEN = "crash-webhook-token-7d2e"


@pytest.fixture
def receiver(base_env, tmp_path, processes):
    """`await receiver()` → `python -m webhook` for this test's task queue, answering /healthz."""

    async def start() -> Receiver:
        proc = Receiver(
            tmp_path / "webhook.log",
            {**base_env, "IRP_WEBHOOK_TOKEN": TOKEN, "IRP_WEBHOOK_PORT": str(free_port())},
        )
        processes.append(proc)
        proc.start()
        return await proc.healthy()

    return start


async def test_receiver_killed_while_alertmanager_retries(client, worker, receiver, policy, pagerduty):
    """Alertmanager delivers; the receiver is killed; Alertmanager's retry meets a refused
    connection (a failure it retries); the receiver comes back and the retry joins the same
    incident. One incident, one page per role."""
    running = await worker()
    webhook = await receiver()
    payload = unique(delivery(alert(module="fees")))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    # A new connection per delivery: what is refused is the connection, not a stale pooled one.
    fresh = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=webhook.url, headers=auth, timeout=30, limits=fresh) as http:
        first = await http.post("/webhooks/alertmanager", json=payload)
        assert first.status_code == 202, f"{first.text}\n{logs(webhook)}"
        [opened] = first.json()["incidents"]
        assert opened["created"] is True

        webhook.kill9()
        with pytest.raises(httpx.ConnectError):
            await http.post("/webhooks/alertmanager", json=payload)

        webhook.start()
        await webhook.healthy()
        retry = await http.post("/webhooks/alertmanager", json=payload)
        assert retry.status_code == 202, f"{retry.text}\n{logs(webhook)}"
    [joined] = retry.json()["incidents"]
    assert joined == {**opened, "created": False}

    handle = client.get_workflow_handle(opened["incident_id"])
    with explained(running, webhook):
        status = await status_when(
            handle, lambda s: s.deliveries == 2 and len(s.paged) == 4 and checklist_posted(s)
        )
        await eventually(lambda: idle(handle))
    with pytest.raises(RPCError):  # no second generation of the group's incident
        await client.get_workflow_handle(incident_id_for_group(payload["groupKey"], 2)).describe()
    query = f"TaskQueue = '{running.env['TEMPORAL_TASK_QUEUE']}'"
    incidents = await eventually(lambda: workflow_ids(client, query))
    assert incidents == [opened["incident_id"]]
    assert {p.outcome for p in status.paged} == {"paged"}
    triggers = Counter(t["dedup_key"] for t in pagerduty.triggers())
    assert sorted(triggers) == sorted(p.dedup_key for p in status.paged) and set(triggers.values()) == {1}
