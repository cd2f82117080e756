"""Opening or joining an incident: shared by the webhook and starter.py so both behave alike."""

from __future__ import annotations

import hashlib
import uuid

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from plan import AlertmanagerDelivery, Declaration, Policy, classify_declaration
from plan.incident import DeliveryReceipt, IncidentInput
from workflows import IncidentWorkflow


def incident_id_for_group(group_key: str) -> str:
    """One incident per Alertmanager group while it is open: the id is derived from the group."""
    return "inc-" + hashlib.sha256(group_key.encode()).hexdigest()[:12]


async def deliver_alerts(client: Client, task_queue: str, policy: Policy,
                         delivery: AlertmanagerDelivery) -> DeliveryReceipt | None:
    """Start the group's incident, or join the open one, atomically (update-with-start): two
    deliveries racing for a new group make one incident. Returns None for a "resolved" delivery
    of a group that has no open incident."""
    incident_id = incident_id_for_group(delivery.groupKey)
    if not delivery.firing:
        try:
            return await client.get_workflow_handle(incident_id).execute_update(
                IncidentWorkflow.receive_alerts, delivery)
        except RPCError as e:
            if e.status is RPCStatusCode.NOT_FOUND:
                return None
            raise
    start = WithStartWorkflowOperation(
        IncidentWorkflow.run, IncidentInput(incident_id=incident_id, policy=policy, group_key=delivery.groupKey),
        id=incident_id, task_queue=task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"Alert group: {delivery.summary}"[:200], memo={"summary": delivery.summary[:200]},
    )
    return await client.execute_update_with_start_workflow(
        IncidentWorkflow.receive_alerts, delivery, start_workflow_operation=start)


async def declare_incident(client: Client, task_queue: str, policy: Policy,
                           declaration: Declaration) -> DeliveryReceipt:
    """A person's declaration (§4.1 customer report, health check): always a new incident."""
    incident_id = "inc-" + uuid.uuid4().hex[:12]
    await client.start_workflow(
        IncidentWorkflow.run, IncidentInput(incident_id=incident_id, policy=policy, declaration=declaration),
        id=incident_id, task_queue=task_queue, static_summary=f"Declared: {declaration.summary}"[:200],
        memo={"summary": declaration.summary[:200]})
    severity = classify_declaration(declaration, policy.triage).severity
    return DeliveryReceipt(incident_id=incident_id, severity=severity, created=True)
