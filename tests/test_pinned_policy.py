"""An incident works by the policy it pinned at its start (the worker's, in its own history), and
signals that reach it before it has opened wait for the opening instead of failing it."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.service import RPCError

from plan import Severity
from plan.alerts import Declaration
from plan.incident import IncidentInput
from tests.helpers import eventually, finish, status_when
from worker import build_worker
from workflows import IncidentWorkflow

PRIMARY = "ben.okafor@preskool.com"


async def updated(handle):
    try:
        status = await handle.query(IncidentWorkflow.status)
    except RPCError:  # the query went to the stopped worker's sticky queue
        return None
    return status if status.cadence.updates_posted == 1 else None


def declared(summary: str) -> IncidentInput:
    return IncidentInput(
        incident_id=f"inc-{uuid.uuid4().hex[:12]}",
        declaration=Declaration(
            summary=summary, severity="P1", reporter="support@preskool.com", source="zendesk"
        ),
    )


async def test_a_running_incident_keeps_the_policy_it_began_with(dev_env, policy, integrations):
    """Workers restart with a 5-minute P1 cadence; the incident opened under 30 minutes keeps 30."""
    task_queue, input = f"tq-{uuid.uuid4().hex[:8]}", declared("Fee collection failing")
    async with build_worker(dev_env.client, task_queue, policy, integrations):
        handle = await dev_env.client.start_workflow(
            IncidentWorkflow.run, input, id=input.incident_id, task_queue=task_queue
        )
        await status_when(
            handle,
            lambda s: (
                any(e.text.startswith("posted the triage-checklist") for e in s.timeline)
                and len(s.paged) == 4
            ),
        )
    faster = policy.model_copy(
        update={"update_cadence": {**policy.update_cadence, Severity.P1: timedelta(minutes=5)}}
    )
    async with build_worker(dev_env.client, task_queue, faster, integrations):
        await handle.signal(
            "post_update",
            {
                "by": PRIMARY,
                "status": "ONGOING",
                "current_action": "Rolling back",
                "what_we_know": "A bad deploy",
            },
        )
        # The first worker's sticky queue holds the next task (and queries) up to its 10 s timeout.
        status = await eventually(lambda: updated(handle), timeout=40)
        assert status.cadence.next_due - status.cadence.last_update_at == timedelta(minutes=30)
        await finish(handle)
    history = await handle.fetch_history()
    pinned = [
        e
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    ]
    assert len(pinned) == 1, "the policy is read once, at the start"


async def test_signals_before_the_incident_has_opened_wait_for_it(time_env, run_worker):
    """A signal delivered with the start (the UI, a worker outage) is applied after the opening,
    in order, and a bad one among them is refused visibly: the incident never sticks."""
    input = declared("Attendance marking down")
    async with run_worker(time_env.client) as task_queue:
        handle = await time_env.client.start_workflow(
            IncidentWorkflow.run,
            input,
            id=input.incident_id,
            task_queue=task_queue,
            start_signal="acknowledge",
            start_signal_args=[{"by": PRIMARY}],
        )
        await handle.signal("mitigate", {"by": PRIMARY})  # no summary: refused
        status = await status_when(
            handle, lambda s: s.phase == "TRIAGE" and any(e.kind == "refused" for e in s.timeline)
        )
        kinds = [e.kind for e in status.timeline]
        assert kinds.index("severity") < kinds.index("acknowledged") < kinds.index("refused")
        assert status.acknowledged_by == PRIMARY
        await finish(handle)
