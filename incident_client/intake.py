"""Opening or joining an incident: shared by the receiver and the CLI so both behave alike."""

from __future__ import annotations

import hashlib
import uuid
from typing import NamedTuple

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from plan import AlertmanagerDelivery, Declaration
from plan.alert_digest import AlertDigest, clip, digest
from plan.alerts import Alert
from plan.heartbeat import (
    Beat,
    BeatReceipt,
    HeartbeatInput,
    Retirement,
    heartbeat_id,
    pipelines,
    split_heartbeats,
)
from plan.incident import DeliveryReceipt, IncidentInput
from plan.privacy import alerts_private, declaration_private, shown_summary
from workflows import HeartbeatWorkflow, IncidentWorkflow

MAX_GENERATIONS = 10_000


def incident_id_for_group(group_key: str, generation: int = 1) -> str:
    """One incident per Alertmanager group while it is open, named by a hash of the whole
    groupKey (any length, any UTF-8). A group that fires again after its incident was resolved
    opens the next generation: inc-<hash>, inc-<hash>-2, …"""
    base = "inc-" + hashlib.sha256(group_key.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return base if generation == 1 else f"{base}-{generation}"


def _start(
    input: IncidentInput, task_queue: str, kind: str, summary: str, private: bool = False
) -> WithStartWorkflowOperation:
    """Start the incident, or join it if its id is running (never reopen one that has ended);
    the summary shows in the Web UI's list and the memo ("private incident" for a private one)."""
    summary = shown_summary(summary, private)
    return WithStartWorkflowOperation(
        IncidentWorkflow.run,
        input,
        id=input.incident_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        static_summary=f"{kind}: {summary}"[:200],
        memo={"summary": summary[:200]},
    )


def _closed(e: WorkflowUpdateFailedError) -> bool:
    return isinstance(e.cause, ApplicationError) and e.cause.type == "IncidentClosed"


async def deliver_alerts(
    client: Client, task_queue: str, delivery: AlertmanagerDelivery
) -> DeliveryReceipt | None:
    """Start the group's incident or join the open one, atomically (update-with-start): two
    deliveries racing for a new group make one incident. A "resolved" delivery only joins an
    open incident; with none open it returns None. The incident is sent a bounded digest of the
    delivery (plan/alert_digest.py), never the whole body, and the groupKey clipped as the digest
    shows it: the workflow id is what names the group."""
    sent = digest(delivery)
    if not delivery.firing:
        return await _deliver_resolved(client, delivery.groupKey, sent)
    for generation in range(1, MAX_GENERATIONS):
        incident_id = incident_id_for_group(delivery.groupKey, generation)
        start = _start(
            IncidentInput(incident_id=incident_id, group_key=sent.groupKey),
            task_queue,
            "Alert group",
            sent.summary,
            alerts_private(delivery.alerts),
        )
        try:
            return await client.execute_update_with_start_workflow(
                IncidentWorkflow.receive_alerts, sent, start_workflow_operation=start
            )
        except WorkflowAlreadyStartedError:
            continue  # that generation has ended
        except WorkflowUpdateFailedError as e:
            if not _closed(e):
                raise
    raise RuntimeError(f"alert group {sent.groupKey!r} has {MAX_GENERATIONS} incidents")


async def _deliver_resolved(client: Client, group_key: str, delivery: AlertDigest) -> DeliveryReceipt | None:
    for generation in range(1, MAX_GENERATIONS):
        handle = client.get_workflow_handle(incident_id_for_group(group_key, generation))
        try:
            if (await handle.describe()).status is not WorkflowExecutionStatus.RUNNING:
                continue
            return await handle.execute_update(IncidentWorkflow.receive_alerts, delivery)
        except RPCError as e:
            if e.status is RPCStatusCode.NOT_FOUND:
                return None
            raise
        except WorkflowUpdateFailedError as e:
            if not _closed(e):
                raise
    return None


class Intake(NamedTuple):
    """What one Alertmanager delivery did: the incident of its real alerts (None: none, or none
    open for a "resolved" one), whether it held heartbeat alerts, and the heartbeat's answer
    (None when those were all "resolved": no beat)."""

    receipt: DeliveryReceipt | None
    heartbeats: bool
    beat: BeatReceipt | None


async def deliver(
    client: Client, task_queue: str, delivery: AlertmanagerDelivery, heartbeat_alert: str = "Watchdog"
) -> Intake:
    """One Alertmanager delivery: alerts named `heartbeat_alert` beat the dead man's switch
    (README) and are never an incident; the others go to their incident (deliver_alerts)."""
    beats, alerts = split_heartbeats(delivery, heartbeat_alert)
    receipt = await deliver_alerts(client, task_queue, alerts) if alerts else None
    beat = await deliver_heartbeat(client, task_queue, delivery, beats, heartbeat_alert) if beats else None
    return Intake(receipt, bool(beats), beat)


async def deliver_heartbeat(
    client: Client, task_queue: str, delivery: AlertmanagerDelivery, alerts: list[Alert], alert_name: str
) -> BeatReceipt | None:
    """A beat for the heartbeat of each alerting pipeline the delivery's firing heartbeat alerts
    name (plan/heartbeat.py pipeline_id: their labels, whichever Alertmanager peer sends), started
    if it is not running (update-with-start); the first one's answer. None when they are all
    "resolved" (no beat: a resolved heartbeat means Prometheus stopped). The sender's v2.0
    heartbeat, keyed by its externalURL, is retired the first time (retire_url_heartbeat)."""
    found = pipelines(alerts)
    if not found:
        return None
    alertmanager = clip(delivery.externalURL, 1000)  # as shown; the legacy id hashes the whole URL
    receipts = []
    for beat_id, labels in found.items():
        start = WithStartWorkflowOperation(
            HeartbeatWorkflow.run,
            HeartbeatInput(heartbeat_id=beat_id, alertmanager=alertmanager, pipeline=labels),
            id=beat_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,  # a retired pipeline that beats again
            static_summary=f"Heartbeat: {', '.join(f'{k}={v}' for k, v in labels.items())}"[:200],
        )
        receipts.append(
            await client.execute_update_with_start_workflow(
                HeartbeatWorkflow.beat,
                Beat(alertmanager=alertmanager, alert_name=alert_name, pipeline=labels),
                start_workflow_operation=start,
            )
        )
    await retire_url_heartbeat(client, delivery.externalURL, receipts[0].heartbeat_id)
    return receipts[0]


_URL_HEARTBEATS_DONE: set[str] = set()  # senders whose v2.0 heartbeat this process saw ended


async def retire_url_heartbeat(client: Client, external_url: str, superseded_by: str) -> None:
    """Retire the v2.0 heartbeat keyed by this sender's URL, if it still runs: its pipeline's
    heartbeat now gets every peer's beats, so left alone it would page when this peer stops.
    Once per sender and receiver process. A worker still on a build without `retire` refuses it:
    tried again on the next beat. Any other failure raises (Alertmanager retries a 5xx)."""
    if external_url in _URL_HEARTBEATS_DONE:
        return
    retirement = Retirement(
        by="preskool-irp receiver",
        reason="its pipeline's heartbeat takes every Alertmanager peer's beats",
        superseded_by=superseded_by,
    )
    try:
        await client.get_workflow_handle(heartbeat_id(external_url)).execute_update(
            HeartbeatWorkflow.retire, retirement
        )
    except RPCError as e:
        if e.status is not RPCStatusCode.NOT_FOUND:
            raise
    except WorkflowUpdateFailedError as e:
        if not (isinstance(e.cause, ApplicationError) and e.cause.type == "Retired"):
            return  # not retirable on its build yet (no handler): the next beat tries again
    if len(_URL_HEARTBEATS_DONE) > 10_000:
        _URL_HEARTBEATS_DONE.clear()
    _URL_HEARTBEATS_DONE.add(external_url)


class IdempotencyConflict(ValueError):
    """The Idempotency-Key was used for another declaration (the receiver answers 409)."""


def incident_id_for_key(idempotency_key: str) -> str:
    """One incident per Idempotency-Key: a retried or double-clicked declaration finds it again."""
    return "inc-" + hashlib.sha256(b"idempotency-key\x00" + idempotency_key.encode()).hexdigest()[:12]


async def declare_incident(
    client: Client, task_queue: str, declaration: Declaration, idempotency_key: str | None = None
) -> DeliveryReceipt:
    """A person's declaration (§4.1 customer report, health check): a new incident, or, for an
    `idempotency_key` seen before with the same body, that incident again (`created` false).
    The answer comes from the incident itself, once it has classified the declaration.
    Raises IdempotencyConflict when the key was used with another body."""
    incident_id = incident_id_for_key(idempotency_key) if idempotency_key else "inc-" + uuid.uuid4().hex[:12]
    start = _start(
        IncidentInput(incident_id=incident_id, declaration=declaration),
        task_queue,
        "Declared",
        declaration.summary,
        declaration_private(declaration),
    )
    try:
        return await client.execute_update_with_start_workflow(
            IncidentWorkflow.opened, declaration.digest(), start_workflow_operation=start
        )
    except WorkflowUpdateFailedError as e:
        if isinstance(e.cause, ApplicationError) and e.cause.type == "IdempotencyConflict":
            raise IdempotencyConflict(e.cause.message) from None
        raise
    except WorkflowAlreadyStartedError:  # that key's incident has ended: say so, do not open another
        raise IdempotencyConflict(
            f"the incident for this Idempotency-Key, {incident_id}, has ended; use a new key for a new one"
        ) from None
