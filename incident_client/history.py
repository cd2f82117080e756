"""An incident's inputs, read back from its Temporal history (issue 24, item 4: `irp whatif`).

What the incident was given, in order and at the time its history took it: the declaration of its
start input, the Alertmanager deliveries (receive_alerts updates), every person's input (the
signals, `act`, approve_action and deny_action), and what outside systems answered where the
answer decides (the §4.5 gate's verdicts, the actions' exit codes, who is a workspace member);
and the policy it pinned (the current_policy local activity's result). Payloads are decoded with
the client's data converter, so an encrypted history (connection/codec.py) reads as the workers
read it; a signal is read as the incident reads one (plan/person_input.py), and one it would
refuse is left out (a refusal is the same under any policy)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from plan import Policy, person_input
from plan.alert_digest import AlertDigest
from plan.incident import IncidentInput
from plan.rerun import Declared, Delivered, Event, Recorded, Sent

INCIDENT = "IncidentWorkflow"
# The updates a person's input comes by, and the signal each stands for (`act` names its own).
APPROVALS = {"approve_action": "approve", "deny_action": "deny"}


class History:
    """One incident's runs (continue-as-new makes several), read event by event."""

    def __init__(self, runs: Sequence[WorkflowHistory], converter: DataConverter) -> None:
        self.runs, self.converter = runs, converter
        self.policy: Policy | None = None
        self.events: list[Event] = []
        self.started_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.private = False
        self.verdicts: list[bool] = []
        self.exits: list[int] = []
        self.keys: list[str] = []
        self.members: list[tuple[bool, str | None]] = []
        self._activities: dict[int, str] = {}

    async def read(self) -> History:
        for run in self.runs:
            self._activities = {}  # each run numbers its events from 1 again
            for event in run.events:
                await self._event(event)
        return self

    def recorded(self, now: datetime) -> Recorded:
        """What plan/rerun.py replays: the inputs, and the clocks run until the close (or `now`)."""
        return Recorded(
            incident_id=self.runs[0].workflow_id,
            started_at=self.started_at or now,
            events=tuple(self.events),
            until=self.closed_at or now,
            private=self.private,
            verdicts=tuple(self.verdicts),
            exits=tuple(self.exits),
            keys=tuple(self.keys),
            members=tuple(self.members),
            runs=len(self.runs),
        )

    async def _event(self, e: HistoryEvent) -> None:
        at = e.event_time.ToDatetime(tzinfo=UTC)
        if e.HasField("workflow_execution_started_event_attributes"):
            started = e.workflow_execution_started_event_attributes
            if started.workflow_type.name != INCIDENT:
                raise ValueError(f"{started.workflow_type.name} is no incident")
            await self._started(at, started.input.payloads)
        elif e.HasField("workflow_execution_update_accepted_event_attributes"):
            request = e.workflow_execution_update_accepted_event_attributes.accepted_request.input
            await self._update(at, request.name, request.args.payloads)
        elif e.HasField("workflow_execution_signaled_event_attributes"):
            signaled = e.workflow_execution_signaled_event_attributes
            await self._signal(at, signaled.signal_name, signaled.input.payloads)
        elif e.HasField("marker_recorded_event_attributes"):
            await self._marker(e.marker_recorded_event_attributes.details)
        elif e.HasField("activity_task_scheduled_event_attributes"):
            self._activities[e.event_id] = e.activity_task_scheduled_event_attributes.activity_type.name
        elif e.HasField("activity_task_completed_event_attributes"):
            done = e.activity_task_completed_event_attributes
            await self._answered(self._activities.get(done.scheduled_event_id), done.result.payloads)
        elif e.event_type in CLOSED:
            self.closed_at = at

    async def _started(self, at: datetime, payloads: Sequence[Payload]) -> None:
        (start,) = await self.converter.decode(payloads, [IncidentInput])
        if start.state is not None:  # a continued run: its inputs go on in this history
            self.policy = self.policy or start.policy
            return
        self.started_at = at
        if start.declaration:
            self.private = start.declaration.private
            self.events.append(Declared(at, start.declaration))

    async def _update(self, at: datetime, name: str, payloads: Sequence[Payload]) -> None:
        if name == "receive_alerts":
            (digest,) = await self.converter.decode(payloads, [AlertDigest])
            self.events.append(Delivered(at, digest))
        elif name == "act":
            (call,) = await self.converter.decode(payloads, [dict])
            if isinstance(call, dict) and isinstance(call.get("signal"), str):
                self.events.append(Sent(at, call["signal"], call.get("input")))
        elif name in APPROVALS:
            (value,) = await self.converter.decode(payloads, [dict])
            self.events.append(Sent(at, APPROVALS[name], value))

    async def _signal(self, at: datetime, name: str, payloads: Sequence[Payload]) -> None:
        if self.converter.payload_codec is not None:
            payloads = await self.converter.payload_codec.decode(payloads)
        if not payloads:
            return
        meta = payloads[0].metadata
        reading = person_input.read(
            meta.get("encoding", b"").decode(errors="replace"),
            payloads[0].data,
            meta.get(person_input.SEALED_KEY_ID, b"").decode(errors="replace") or None,
        )
        if reading.value is not None:
            self.events.append(Sent(at, name, reading.value))

    async def _marker(self, details) -> None:
        """A local activity's result: the policy pinned (the first), the workers' keys looked up."""
        if "data" not in details or "result" not in details:
            return
        (info,) = await self.converter.decode(details["data"].payloads, [dict])
        if info.get("activity_type") == "current_policy" and self.policy is None:
            (self.policy,) = await self.converter.decode(details["result"].payloads, [Policy])
        elif info.get("activity_type") == "attestation_keys":
            (self.keys,) = await self.converter.decode(details["result"].payloads, [list[str]])

    async def _answered(self, activity: str | None, payloads: Sequence[Payload]) -> None:
        if activity not in ("verify_recovery", "run_action", "check_member") or not payloads:
            return
        (result,) = await self.converter.decode(payloads, [dict])
        if activity == "verify_recovery":
            self.verdicts.append(bool(result.get("passed")))
        elif activity == "check_member":
            self.members.append((bool(result.get("member")), result.get("why")))
        else:
            self.exits.append(int(result.get("exit_code") or 0))


CLOSED = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
}
