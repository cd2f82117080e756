"""One production incident, from the first alert to review (plan §4), as one durable workflow.

The run body is the plan's lifecycle. The workflow holds one component per capability and
delegates to them: the lifecycle and its clocks, approvals, the §8 ledger, the bridge, paging,
the status page and the resolve gate. People's signals come in through one table (signals.py);
outward steps run in one lane per outside system, while the main loop keeps the clocks."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.policy import PolicyActivities
    from plan import signals as signals_plan
    from plan.alert_digest import AlertDigest
    from plan.approvals import ActionRequest, Decide
    from plan.bounds import to_fit
    from plan.deliverables import Deliverable, ledger_closed
    from plan.incident import DeliveryReceipt, IncidentInput, IncidentState, IncidentStatus
    from plan.models import Phase
    from plan.person_input import too_large
    from plan.refusals import RefusalLog
    from plan.signals import Act, Outcome
    from workflows import metrics, status
    from workflows.alerts import AlertGroup
    from workflows.approvals import Approvals
    from workflows.bridge import Bridge
    from workflows.context import IncidentContext
    from workflows.customer_email import CustomerEmail
    from workflows.faults import contained
    from workflows.identity import Identity
    from workflows.ledger import Ledger
    from workflows.lifecycle import Lifecycle
    from workflows.paging import Paging
    from workflows.people import People
    from workflows.pins import Pins
    from workflows.resolve_gate import ResolveGate
    from workflows.signals import BY_NAME, PEOPLES, Signal, handled
    from workflows.statement import PublicStatement
    from workflows.status_page import StatusPage
    from workflows.upgrade import Upgrade

FIRST_ALERT_WAIT = timedelta(minutes=5)
# The patch of the first release with Worker Deployments: incidents begun before it run unpinned and
# meet this code; those begun after it keep their build (README "Deploying new code").
RELEASE = "v1.1"
PIN_POLICY = timedelta(seconds=30)


@workflow.defn  # PINNED to its build (connection/deployment.py): a deploy never changes a live response
@handled
class IncidentWorkflow:
    @workflow.init
    def __init__(self, input: IncidentInput) -> None:
        state = input.state or IncidentState(
            started_at=workflow.now(), phases={Phase.DETECTION: workflow.now()}
        )
        self.ctx = ctx = IncidentContext(input.incident_id, state, input.policy)
        if input.declaration and not input.state:
            state.declaration_digest = input.declaration.digest()  # kept across continue-as-new
        if input.state:
            state.runs += 1
        self.bridge = Bridge(ctx)
        self.paging = Paging(ctx)
        self.status_page = StatusPage(ctx)
        self.statement = PublicStatement(ctx, self.bridge, self.status_page)  # private incidents
        self.lifecycle = Lifecycle(ctx, self.bridge, self.paging, self.status_page)
        self.alerts = AlertGroup(ctx, self.bridge, self.lifecycle)
        self.alerts.at_risk = self.statement.turned_private
        self.approvals = Approvals(ctx, self.bridge)
        self.customer_email = CustomerEmail(ctx, self.bridge)
        self.ledger = Ledger(ctx, self.bridge, self.customer_email)
        self.gate = ResolveGate(ctx, self.bridge, self.paging, self.status_page, self.ledger)
        self.identity = Identity(ctx, self.bridge)
        self.pins = Pins(ctx)
        handlers = ("lifecycle", "approvals", "ledger", "customer_email", "gate", "identity", "pins")
        self.people = People(ctx, self.identity, self.approvals, {h: getattr(self, h) for h in handlers})
        self.upgrade = Upgrade(ctx)  # in REVIEW, onto the current build (workflows/upgrade.py)
        self.clocks = (
            self.lifecycle, self.approvals, self.ledger, self.customer_email, self.statement, self.upgrade
        )  # fmt: skip
        ctx.announce = self.bridge.post
        self.clock: asyncio.Task | None = None
        self.clock_at: datetime | None = None
        self.deliveries_waiting = 0  # Alertmanager deliveries waiting for the policy to be pinned
        # Signals that came before the incident knew its policy and severity, taken in order then.
        self.early: list[tuple[Signal, RawValue]] = []

    @workflow.run
    async def run(self, input: IncidentInput) -> IncidentStatus:
        ctx = self.ctx
        self._patches()
        self.upgrade.arrived()
        # The policy in force for this incident: the worker's, read once and kept in history.
        ctx.policy = ctx.policy or await workflow.execute_local_activity_method(
            PolicyActivities.current_policy, start_to_close_timeout=PIN_POLICY
        )
        ctx.running = True
        if input.state is None:
            # 1. DETECTION: an alert (or a person) says something is wrong.
            if input.declaration:
                self.lifecycle.declared(input.declaration)
            if not await self._first_alert():
                ctx.note(
                    "abandoned",
                    f"no alert arrived; nothing to respond to ({len(self.early)} signal(s) "
                    "sent before any alert were not applied)",
                )
                return self.status()
            self.statement.decide(input.declaration)  # private? before anything is said anywhere
            ctx.publish()
            metrics.opened(ctx.s.decision.severity)
            self.paging.page(ctx.engaged.page)  # page at once, whatever else is slow
            self.bridge.open()  # #preskool-incident-<date> and §5.1
            # 2. TRIAGE starts with the checklist; customers hear from the status page.
            self.lifecycle.post_triage_checklist()
            self.lifecycle.say_windows_passed()  # an alert that reached us late: once, not a nudge each
            self.status_page.open()
            self.lifecycle.retime_cadence()
        early, self.early = self.early, []
        for signal, payload in early:
            self.receive(signal, payload)
        # 2–5. TRIAGE → CONTAIN → FIX → RESOLVE, driven by people, kept honest by the clocks;
        # 6. REVIEW: the post-mortem, tickets and the §8 ledger, until all are closed.
        while not self._finished():
            if self._time_to_continue():
                await workflow.wait_condition(workflow.all_handlers_finished)
                self._continue_as_new()
            now = await self._sleep_until_next_clock()
            for component in self.clocks:
                component.check(now)
        await workflow.wait_condition(workflow.all_handlers_finished)
        ctx.publish()
        return self.status()

    def _patches(self) -> None:
        """What an incident does that incidents begun under older code (before Worker Deployments
        pinned each incident to its build) did not: decided once, at the start of a run that lacks
        it (before the policy's local activity: a patch first asked after it replayed out of
        place), and kept in its state. A new run of an old incident (continue-as-new) has no
        history to replay, so it takes them too. One patch for this release's changes."""
        s = self.ctx.s
        if s.refusals is not None and s.moves_in_review and s.received_at is not None:
            return  # a run of this release's code, continued
        if workflow.patched(RELEASE):
            s.refusals = (
                s.refusals or RefusalLog()
            )  # what people send is bounded (plan/refusals.py, bounds.py)
            s.received_at = (
                s.received_at or s.started_at
            )  # the problem's start kept beside it (plan/start.py)
            s.moves_in_review = True  # in REVIEW, onto the current build (workflows/upgrade.py)

    # --- alerts ------------------------------------------------------------------------------

    @workflow.update(description="An Alertmanager delivery for this alert group (sent by the webhook).")
    async def receive_alerts(self, delivery: AlertDigest) -> DeliveryReceipt:
        """`delivery` is the bounded digest the receiver makes of Alertmanager's body."""
        if self.ctx.policy is None:  # deliveries before the pin wait for it; later ones keep their order
            self.deliveries_waiting += 1
            await self._pinned()
            self.deliveries_waiting -= 1
        s = self.ctx.s
        created = s.decision is None
        s.deliveries += 1
        contained(
            self.ctx,
            "receive_alerts",
            lambda: self.alerts.detected(delivery) if created else self.alerts.later_delivery(delivery),
            answer=True,
        )
        return DeliveryReceipt(
            incident_id=self.ctx.incident_id, severity=s.decision.severity, created=created
        )

    @receive_alerts.validator
    def _open_for_alerts(self, delivery: AlertDigest) -> None:
        """A resolved incident takes only stale firings (noted, nothing more); anything new is the
        next incident's (the receiver opens it)."""
        _reject_if(too_large(delivery))
        if not delivery.label_sets:  # the receiver never sends one; a hand-made update might
            raise ApplicationError("a delivery with no alerts: nothing to evaluate", type="Refused")
        if self.ctx.s.resolution is not None and not delivery.stale(self.ctx.s.alerts_ended):
            raise ApplicationError(f"incident {self.ctx.incident_id} is resolved", type="IncidentClosed")

    @workflow.update(
        description="A declared incident as it opened: its id and severity (sent by the receiver)."
    )
    async def opened(self, digest: str) -> DeliveryReceipt:
        """`digest` is the declaration's (Declaration.digest): a retry with the same Idempotency-Key
        and body answers the same incident, created only the first time."""
        await workflow.wait_condition(lambda: self.ctx.s.decision is not None)
        s = self.ctx.s
        s.declaration_answers += 1
        return DeliveryReceipt(
            incident_id=self.ctx.incident_id, severity=s.decision.severity, created=s.declaration_answers == 1
        )

    @opened.validator
    def _same_declaration(self, digest: str) -> None:
        _reject_if(too_large(digest))
        if self.ctx.s.declaration_digest != digest:
            raise ApplicationError(
                f"incident {self.ctx.incident_id} was declared with another body under this Idempotency-Key: "
                "use a new key for a new incident",
                type="IdempotencyConflict",
            )

    # --- people: one handler per row of workflows/signals.py --------------------------------------

    def receive(self, signal: Signal, payload: RawValue) -> None:
        """Every signal of the table: held until the incident has opened, then read and applied
        (workflows/people.py). Synchronous, so signals and the updates' validators see each
        other in order."""
        if not self._open_for_people() or self.early:
            self.early.append((signal, payload))  # the run body takes them once the incident has opened
            return
        contained(self.ctx, signal.name, lambda: self.people.read(signal, payload))

    @workflow.update(
        description="Any person's signal, answered with its outcome (accepted, or refused and why; "
        'the CLI sends this). {"signal": NAME, "input": {…the signal\'s JSON…}}'
    )
    async def act(self, call: Any) -> Outcome:
        act = Act.model_validate(call)
        await workflow.wait_condition(lambda: self._open_for_people() and not self.early)
        return contained(self.ctx, act.signal, lambda: self.people.outcome(act), answer=True)

    @act.validator
    def _known_signal(self, call: Any) -> None:
        """An unknown name is answered at once, with the nearest known one."""
        _reject_if(too_large(call))
        try:
            act = Act.model_validate(call)
        except ValidationError as e:
            shape = '{"signal": NAME, "input": {…}}'
            raise ApplicationError(f"act takes {shape}: {e.errors()[0]['msg']}", type="Refused") from None
        if act.signal not in PEOPLES:
            raise ApplicationError(
                f"no signal {act.signal!r}{signals_plan.nearest(act.signal, sorted(PEOPLES))}", type="Refused"
            )

    @workflow.signal(dynamic=True, description="Any other name: refused in the timeline and the bridge.")
    def unknown_signal(self, name: str, args: Sequence[RawValue]) -> None:
        """A misspelt signal name never vanishes: it is refused where people look."""
        if not workflow.patched("unknown-signals"):  # before it, such a signal waited unread
            return
        shown = name[:64].replace("<", "‹").replace(">", "›")  # never a mention or a link
        hint = signals_plan.nearest(name[:64], sorted(PEOPLES))
        contained(
            self.ctx, shown, lambda: self.ctx.refuse(shown, f"this incident takes no signal {shown!r}{hint}")
        )

    @workflow.update(
        description="Approve, with an answer at once: refused input is rejected before it reaches "
        'history. {"request_id", "by", "reason"?}'
    )
    def approve_action(self, payload: Any) -> ActionRequest:
        return contained(self.ctx, "approve", lambda: self._decide("approve", payload), answer=True)

    @approve_action.validator
    def _check_approve_action(self, payload: Any) -> None:
        _reject_if(too_large(payload))
        _reject_if(
            self.ctx.policy is None
            and "the incident is starting; try again"
            or self.approvals.approval_refusal(_decision(payload))
        )

    @workflow.update(description='Deny, with an answer at once. {"request_id", "by", "reason"}')
    def deny_action(self, payload: Any) -> ActionRequest:
        return contained(self.ctx, "deny", lambda: self._decide("deny", payload), answer=True)

    def _decide(self, signal: str, payload: Any) -> ActionRequest:
        """An approval or denial by update (with attestation keys, a claim until confirmed): the
        request as it stands after it."""
        decision = Decide.model_validate(payload)
        self.people.apply(BY_NAME[signal], payload)
        return self.ctx.s.requests[decision.request_id]

    @deny_action.validator
    def _check_deny_action(self, payload: Any) -> None:
        _reject_if(too_large(payload))
        _reject_if(
            self.ctx.policy is None
            and "the incident is starting; try again"
            or self.approvals.denial_refusal(_decision(payload))
        )

    @workflow.query(description="The §8 ledger: each deliverable with its due time, state and link.")
    def deliverables(self) -> list[Deliverable]:
        return self.ctx.s.ledger

    @workflow.query(
        description="Everything about the incident: severity and why, phase, roles, bridge, "
        "requests, timeline."
    )
    def status(self) -> IncidentStatus:
        return status.of(self.ctx)

    # --- waiting -------------------------------------------------------------------------------

    async def _pinned(self) -> None:
        await workflow.wait_condition(lambda: self.ctx.policy is not None)

    async def _first_alert(self) -> bool:
        """True once the incident has its first alert (or declaration). One already in hand (the
        update of an update-with-start) is waited for without a timer: opening costs no timer."""
        if self.ctx.s.decision is not None or self.deliveries_waiting:
            # The delivery in hand may still fail (its fault is contained): then wait as for none.
            await workflow.wait_condition(
                lambda: self.ctx.s.decision is not None or not self.deliveries_waiting
            )
            if self.ctx.s.decision is not None:
                return True
        try:
            await workflow.wait_condition(lambda: self.ctx.s.decision is not None, timeout=FIRST_ALERT_WAIT)
        except TimeoutError:
            return False
        return True

    def _open_for_people(self) -> bool:
        return self.ctx.policy is not None and self.ctx.s.decision is not None

    def _finished(self) -> bool:
        s = self.ctx.s
        return s.phase is Phase.REVIEW and s.ledger_opened and ledger_closed(s.ledger) and self.ctx.lanes.idle

    def _time_to_continue(self) -> bool:
        """A new run when the history is long, or, in REVIEW, when a newer build is current; never
        with an outward step in flight."""
        return self.ctx.lanes.idle and (workflow.info().is_continue_as_new_suggested() or self.upgrade.due())

    def _continue_as_new(self) -> None:
        """Response phases keep their build (the pin is inherited); REVIEW starts its new run on
        the deployment's current build."""
        ctx = self.ctx
        if ctx.s.refusals is not None:  # under Temporal's payload limit, older timeline first
            self._fit()
        self.upgrade.moving()
        workflow.continue_as_new(
            IncidentInput(incident_id=ctx.incident_id, policy=ctx.policy, state=ctx.s),
            initial_versioning_behavior=(
                workflow.ContinueAsNewVersioningBehavior.AUTO_UPGRADE if ctx.s.phase is Phase.REVIEW else None
            ),
        )

    def _fit(self) -> None:
        """Fit what the next run carries under STATE_BUDGET (plan/bounds.py), letting go of the
        oldest timeline entries first, counted."""
        s = self.ctx.s
        sizes = [len(e.model_dump_json()) for e in s.timeline]
        total = len(
            IncidentInput(incident_id=self.ctx.incident_id, policy=self.ctx.policy, state=s).model_dump_json()
        )
        if drop := to_fit(sizes, total):
            del s.timeline[:drop]
            s.timeline_dropped += drop
            workflow.logger.warning(
                "%s: %d timeline entries let go to fit a new run", self.ctx.incident_id, drop
            )

    def _next_clock(self) -> datetime | None:
        return min((m for c in self.clocks if (m := c.next_clock())), default=None)

    def _woken(self) -> bool:
        """Something happened (every change writes the timeline), so the clocks may have moved."""
        return self.ctx.wake or self._finished() or self._time_to_continue()

    async def _sleep_until_next_clock(self) -> datetime:
        """One timer per deadline, kept while only other things happen: an alert storm's
        deliveries do not each cancel and restart it. Answers the time the clocks are checked
        at: when the timer fired, its deadline has come, whatever a task's timestamp says (a
        server's clock may put the task a few ms before it; replay must decide the same)."""
        deadline = self._next_clock()
        if deadline is not None and deadline <= workflow.now():
            return workflow.now()
        if self.clock is not None and self.clock_at != deadline:
            self.clock.cancel()
            self.clock = None
        if self.clock is None and deadline is not None:
            self.clock_at = deadline
            self.clock = asyncio.create_task(
                workflow.sleep(
                    deadline - workflow.now(),
                    summary="next clock: update cadence, phase window or escalation",
                )
            )
        self.ctx.wake = False
        await workflow.wait_condition(lambda: self._woken() or (self.clock is not None and self.clock.done()))
        if self.clock is not None and self.clock.done():
            self.clock = None
            return max(workflow.now(), self.clock_at)
        return workflow.now()


def _decision(payload: Any) -> Decide:
    try:
        return Decide.model_validate(payload)
    except ValidationError as e:
        raise ValueError(
            "; ".join(f"{'.'.join(map(str, err['loc'])) or 'input'}: {err['msg']}" for err in e.errors())
        ) from None


def _reject_if(reason: str | None) -> None:
    if reason:
        raise ApplicationError(reason, type="Refused")
