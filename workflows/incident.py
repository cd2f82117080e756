"""One production incident, from the first alert to review (plan §4), as one durable workflow.

The run body is the plan's lifecycle; people's signals are validated here and turned into
steps; steps that touch the outside world run in one lane per outside system (lanes.py), in
order within a lane, while the main loop keeps the clocks."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from plan import AlertmanagerDelivery, classify_alerts, engagement
    from plan.incident import DeliveryReceipt, IncidentInput, IncidentStatus
    from plan.approvals import ActionDone, ActionRequest, Decide, RequestAction
    from plan.deliverables import AddActionItem, CompleteDeliverable, Deliverable, EditCustomerEmail, WaiveDeliverable
    from plan.models import Phase
    from plan.signals import (
        Acknowledge, AssignRole, DeclareBlastRadius, Mitigate, PagerDutyEvent, PostUpdate, Resolve, SetSeverity,
    )
    from workflows.deliverables import DeliverableSteps
    from workflows import metrics
    from workflows.lanes import Lanes

FIRST_ALERT_WAIT = timedelta(minutes=5)
# Incidents opened before the lifecycle existed continue under it after their acknowledgement.
LIFECYCLE = "incident-lifecycle"
# Outward steps in one lane per outside system, so a system that is down holds up nothing else.
LANES = "lanes"
# One timer per clock deadline, not one per wake-up (events and server work under an alert storm).
KEPT_CLOCK = "kept-clock"


@workflow.defn
class IncidentWorkflow(DeliverableSteps):
    @workflow.init
    def __init__(self, input: IncidentInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: IncidentInput) -> IncidentStatus:
        self.running = True
        if workflow.patched(LANES):
            self.lanes = Lanes()
        if input.state is None:
            # 1. DETECTION: an alert (or a person) says something is wrong.
            if not await self._first_alert():
                self._note("abandoned", "no alert arrived; nothing to respond to")
                return self.status()
            self._publish()
            metrics.opened(self.s.decision.severity)
            if self.lanes:
                self._later(self._page, self.engaged.page)     # page at once, whatever else is slow
                self._later(self._open_bridge)                  # #preskool-incident-<date> and §5.1
                # 2. TRIAGE starts with the checklist; customers hear from the status page.
                self._later(self._post_triage_checklist)
                self._later(self._open_status_page)
            else:
                await self._open_before_lanes()
            self._retime_cadence()

        # 2–5. TRIAGE → CONTAIN → FIX → RESOLVE, driven by people, kept honest by the clocks;
        # 6. REVIEW: the post-mortem, tickets and the §8 ledger, until all are closed.
        while True:
            await self._do_steps()                               # before lanes: the one queue
            if self._finished():
                break
            if workflow.info().is_continue_as_new_suggested() and self._idle():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._carried())
            await self._sleep_until_next_clock()
            self._check_clocks()
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._publish()
        return self.status()

    async def _open_before_lanes(self) -> None:
        """The opening of incidents begun before lanes existed, step after step (their histories
        replay: tests/histories/v1-skeleton, v2-lifecycle)."""
        await self._page(self.engaged.page)
        await self._open_bridge()
        if not workflow.patched(LIFECYCLE):
            await workflow.wait_condition(lambda: self.s.acknowledged_by is not None)
            self._enter(Phase.TRIAGE)
            workflow.continue_as_new(self._carried())
        await self._post_triage_checklist()
        await self._open_status_page()

    # --- alerts ------------------------------------------------------------------------------

    @workflow.update(description="An Alertmanager delivery for this alert group (sent by the webhook).")
    def receive_alerts(self, delivery: AlertmanagerDelivery) -> DeliveryReceipt:
        created = self.s.decision is None
        self.s.deliveries += 1
        if created:
            self._detected_by_alerts(delivery, classify_alerts(delivery.alerts, self.policy.triage))
        else:
            self._later_delivery(delivery)
        return DeliveryReceipt(incident_id=self.incident_id, severity=self.s.decision.severity, created=created)

    @receive_alerts.validator
    def _open_for_alerts(self, delivery: AlertmanagerDelivery) -> None:
        if self.s.resolution is not None:
            raise ApplicationError(f"incident {self.incident_id} is resolved", type="IncidentClosed")

    # --- people --------------------------------------------------------------------------------

    @workflow.signal(description='On-call acknowledges the page. {"by": "<email>"}')
    def acknowledge(self, payload: Any) -> None:
        if ack := self._accept("acknowledge", Acknowledge, payload):
            self._acknowledged(ack.by)

    @workflow.signal(description='The IC re-declares severity. {"severity": "P0".."P3", "by": "<email>", "reason": "..."}')
    def set_severity(self, payload: Any) -> None:
        if (change := self._accept("set_severity", SetSeverity, payload)) and self._allowed("set_severity", change.by):
            self._change_severity(change)

    @workflow.signal(description='Give a role to a person. {"role": "incident_commander", "person": "<email>", "by": "<email>"}')
    def assign_role(self, payload: Any) -> None:
        if (assignment := self._accept("assign_role", AssignRole, payload)) and self._allowed("assign_role", assignment.by):
            self._assign(assignment)

    @workflow.signal(description='§5.2 update. {"by", "status": "ONGOING|MITIGATED|RESOLVED", "current_action", '
                                 '"what_we_know", "next_update_minutes"?, "public"?: true, "public_message"?}')
    def post_update(self, payload: Any) -> None:
        if update := self._accept("post_update", PostUpdate, payload):
            self._update(update)

    @workflow.signal(description='§4.2 step 7. {"scope": "all|many|tenant|endpoint", "tenants"?: [], "endpoints"?: [], "by"}')
    def declare_blast_radius(self, payload: Any) -> None:
        if radius := self._accept("declare_blast_radius", DeclareBlastRadius, payload):
            self._blast_radius(radius)

    @workflow.signal(description='Service restored; root-causing continues. {"by": "<email>", "summary": "..."}')
    def mitigate(self, payload: Any) -> None:
        if mitigation := self._accept("mitigate", Mitigate, payload):
            self._mitigated(mitigation)

    @workflow.signal(description='Verify recovery (§4.5) and resolve. {"by", "summary", "root_cause"?, "force_reason"?}')
    def resolve(self, payload: Any) -> None:
        if not (request := self._accept("resolve", Resolve, payload)) or not self._allowed("resolve", request.by):
            return
        if request.force_reason and not self._allowed("force_resolve", request.by):
            return
        if self.s.resolution or self.s.phase is Phase.RESOLVE:
            self._refuse("resolve", "the incident is already being resolved or is resolved")
            return
        self._later(self._resolve, request)

    # --- approvals (§3, §4.3, §7) ---------------------------------------------------------------

    @workflow.signal(description='Ask for a risky (§4.3) or forbidden (§7) action. {"action": "rollback", '
                                 '"target": "backend", "params"?: {}, "by": "<email>", "reason": "...", "request_id"?}')
    def request_action(self, payload: Any) -> None:
        if request := self._accept("request_action", RequestAction, payload):
            self._request_action(request)

    @workflow.signal(description='Approve a request. {"request_id": "rollback-1", "by": "<email>", "reason"?}')
    def approve(self, payload: Any) -> None:
        if decision := self._accept("approve", Decide, payload):
            self._approve(decision)

    @workflow.signal(description='Deny a request. {"request_id": "rollback-1", "by": "<email>", "reason": "..."}')
    def deny(self, payload: Any) -> None:
        if decision := self._accept("deny", Decide, payload):
            self._deny(decision)

    @workflow.signal(description='Report an approved action without an executor as carried out. '
                                 '{"request_id", "by", "outcome"}')
    def action_done(self, payload: Any) -> None:
        if done := self._accept("action_done", ActionDone, payload):
            self._action_done(done)

    @workflow.update(description='Approve, with an answer at once: refused input is rejected before it reaches '
                                 'history. {"request_id", "by", "reason"?}')
    def approve_action(self, payload: Any) -> ActionRequest:
        self._approve(Decide.model_validate(payload))
        return self.s.requests[payload["request_id"]]

    @approve_action.validator
    def _check_approve_action(self, payload: Any) -> None:
        _reject_if(self._approval_refusal(_decision(payload)))

    @workflow.update(description='Deny, with an answer at once. {"request_id", "by", "reason"}')
    def deny_action(self, payload: Any) -> ActionRequest:
        self._deny(Decide.model_validate(payload))
        return self.s.requests[payload["request_id"]]

    @deny_action.validator
    def _check_deny_action(self, payload: Any) -> None:
        _reject_if(self._denial_refusal(_decision(payload)))

    # --- after resolution (§4.6, §8) ---------------------------------------------------------

    @workflow.signal(description='A §8 deliverable is done. {"deliverable": "incident_report", "by", "link"}')
    def complete_deliverable(self, payload: Any) -> None:
        if done := self._accept("complete_deliverable", CompleteDeliverable, payload):
            self._complete(done)

    @workflow.signal(description='Waive a §8 deliverable (Engineering Lead). {"deliverable", "by", "reason"}')
    def waive_deliverable(self, payload: Any) -> None:
        if waive := self._accept("waive_deliverable", WaiveDeliverable, payload):
            self._waive(waive)

    @workflow.signal(description='A post-mortem action item, as a Jira ticket. {"title", "owner": "<email>", '
                                 '"due"?: "YYYY-MM-DD", "by"}')
    def add_action_item(self, payload: Any) -> None:
        if item := self._accept("add_action_item", AddActionItem, payload):
            self._add_action_item(item)

    @workflow.signal(description='Change the §5.4 customer email draft before approving it. {"by", "affected"?, '
                                 '"root_cause"?, "resolution"?, "preventive_actions"?, "courtesy_days"?}')
    def edit_customer_email(self, payload: Any) -> None:
        if edit := self._accept("edit_customer_email", EditCustomerEmail, payload):
            self._edit_customer_email(edit)

    @workflow.query(description="The §8 ledger: each deliverable with its due time, state and link.")
    def deliverables(self) -> list[Deliverable]:
        return self.s.ledger

    @workflow.signal(description="A verified PagerDuty webhook event (sent by the webhook receiver).")
    def pagerduty_event(self, payload: Any) -> None:
        if (event := self._accept("pagerduty_event", PagerDutyEvent, payload)) and \
                event.event_id not in self.s.pagerduty_events:
            self._pagerduty(event)

    @workflow.query(description="Everything about the incident: severity and why, phase, roles, bridge, "
                                "requests, timeline.")
    def status(self) -> IncidentStatus:
        return self._status()

    # --- waiting -------------------------------------------------------------------------------

    async def _first_alert(self) -> bool:
        try:
            await workflow.wait_condition(lambda: self.s.decision is not None, timeout=FIRST_ALERT_WAIT)
        except asyncio.TimeoutError:
            return False
        self.engaged = engagement(self.policy, self.s.decision.severity, self.s.decision.data_at_risk)
        return True

    def _finished(self) -> bool:
        return self.s.phase is Phase.REVIEW and self._review_done()

    def _woken(self) -> bool:
        """Something happened (every change writes the timeline), so the clocks may have moved."""
        return self.wake or self._finished() or (workflow.info().is_continue_as_new_suggested() and self._idle())

    async def _sleep_until_next_clock(self) -> None:
        deadline = self._next_clock()
        timeout = None if deadline is None else deadline - workflow.now()
        if timeout is not None and timeout <= timedelta(0):
            return
        if workflow.patched(KEPT_CLOCK):
            await self._wait_for_clock_or_change(deadline)
            return
        try:
            self.wake = False
            await workflow.wait_condition(self._woken if self.lanes else lambda: bool(self.steps) or self._finished(),
                                          timeout=timeout)
        except asyncio.TimeoutError:
            pass

    async def _wait_for_clock_or_change(self, deadline) -> None:
        """One timer per deadline, kept while only other things happen: an alert storm's
        deliveries no longer each cancel and restart it."""
        if self.clock is not None and self.clock_at != deadline:
            self.clock.cancel()
            self.clock = None
        if self.clock is None and deadline is not None:
            self.clock_at = deadline
            self.clock = asyncio.create_task(workflow.sleep(deadline - workflow.now(), summary="next clock: update cadence, phase window or escalation"))
        self.wake = False
        changed = self._woken if self.lanes else lambda: bool(self.steps) or self._finished()
        await workflow.wait_condition(lambda: changed() or (self.clock is not None and self.clock.done()))
        if self.clock is not None and self.clock.done():
            self.clock = None


def _decision(payload: Any) -> Decide:
    try:
        return Decide.model_validate(payload)
    except ValidationError as e:
        raise ValueError("; ".join(f"{'.'.join(map(str, err['loc'])) or 'input'}: {err['msg']}"
                                   for err in e.errors())) from None


def _reject_if(reason: str | None) -> None:
    if reason:
        raise ApplicationError(reason, type="Refused")
