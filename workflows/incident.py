"""One production incident, from the first alert to review (plan §4), as one durable workflow.

The run body is the plan's lifecycle. Every input — an alert delivery, a person's signal or
update, a clock that came due, what an outward step found — takes one path (workflows/router.py):
judged and decided by pure deciders (plan/judge.py, plan/decide/), then applied: the state
changed, the timeline told, the outward steps queued on their lanes (workflows/effects.py), and
the search attributes published once."""

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
    from plan import person_input
    from plan import signals as signals_plan
    from plan.alert_digest import AlertDigest
    from plan.approvals import ActionRequest, Decide
    from plan.compliance import ComplianceCard
    from plan.decide import alerts, clocks, requests
    from plan.decision import Given, decide, refused
    from plan.deliverables import Deliverable
    from plan.drill_clock import DrillClock, plan_now
    from plan.events import EventKind
    from plan.incident import (
        AwaitingKeys,
        DeliveryReceipt,
        IncidentInput,
        IncidentState,
        IncidentStatus,
        carried,
    )
    from plan.judge import take
    from plan.models import Phase
    from plan.outward import outward_id
    from plan.person_input import too_large
    from plan.refusals import RefusalLog
    from plan.signals import Act, Outcome
    from workflows import effects, status
    from workflows.faults import contained
    from workflows.oncall import Shifts
    from workflows.router import Router
    from workflows.signals import BY_NAME, PEOPLES, Signal, handled
    from workflows.upgrade import Upgrade

FIRST_ALERT_WAIT = timedelta(minutes=5)
PIN_POLICY = timedelta(seconds=30)


@workflow.defn  # PINNED to its build (connection/deployment.py): a deploy never changes a live response
@handled
class IncidentWorkflow:
    @workflow.init
    def __init__(self, input: IncidentInput) -> None:
        now = workflow.now()
        state = (
            carried(input.state)
            if input.state
            else IncidentState(
                started_at=now,
                received_at=now,
                phases={Phase.DETECTION: now},
                refusals=RefusalLog(),
                moves_in_review=True,
                outward_id=outward_id(input.incident_id, workflow.info().first_execution_run_id),
            )
        )
        if input.declaration and not input.state:
            state.declaration_digest = input.declaration.digest()  # kept across continue-as-new
        if input.state:
            state.runs += 1
        self.router = Router(input.incident_id, state, input.policy, effects.run)
        self.router.retake = self._retake
        self.upgrade = Upgrade(self.router)  # in REVIEW, onto the current build (workflows/upgrade.py)
        self.shifts = Shifts(self.router)  # PagerDuty shifts that end mid-incident (workflows/oncall.py)
        self.clock: asyncio.Task | None = None
        self.clock_at: datetime | None = None
        self.clock_pace: DrillClock | None = None  # the drill clock the timer was set by (None: none)
        self.deliveries_waiting = 0  # Alertmanager deliveries waiting for the policy to be pinned
        # Signals that came before the incident knew its policy and severity, taken in order then.
        self.early: list[tuple[Signal, RawValue]] = []

    @workflow.run
    async def run(self, input: IncidentInput) -> IncidentStatus:
        r = self.router
        self.upgrade.arrived()
        # The policy in force for this incident: the worker's, read once and kept in history.
        r.policy = r.policy or await workflow.execute_local_activity_method(
            PolicyActivities.current_policy, start_to_close_timeout=PIN_POLICY
        )
        r.running = True
        if input.state is None:
            # 1. DETECTION: an alert (or a person) says something is wrong; then all of the opening
            # — pages first, the bridge, the checklist, the status page — decided at once.
            if input.declaration:
                r.decide(alerts.declared, input.declaration)
            if not await self._first_alert():
                r.note(
                    EventKind.abandoned,
                    f"no alert arrived; nothing to respond to ({len(self.early)} "
                    "signal(s) sent before any alert were not applied)",
                )
                return self.status()
            r.decide(alerts.opened, bool(input.declaration and input.declaration.private))
        early, self.early = self.early, []
        for signal, payload in early:
            self.receive(signal, payload)
        # 2–5. TRIAGE → CONTAIN → FIX → RESOLVE, driven by people, kept honest by the clocks;
        # 6. REVIEW: the post-mortem, tickets and the §8 ledger, until all are closed.
        while not await self._ended():
            if self._time_to_continue():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._time_to_continue():  # a handler that finished meanwhile may have queued steps
                    self._continue_as_new()
                continue
            now = await self._sleep_until_next_clock()
            wall = workflow.now() if r.state.drill_clock else None  # None: `now`, as it always was
            r.apply(decide(r.state, Given(r.incident_id, r.policy, now, wall=wall), clocks.tick))
            self.shifts.check(now)
            r.watch.say_slow(r, now)
            self.upgrade.check(now)
        r.publish()
        return self.status()

    async def _ended(self) -> bool:
        """Finished, once every handler has finished too (one may still queue a step)."""
        if not self._finished():
            return False
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._finished()

    # --- alerts ------------------------------------------------------------------------------

    @workflow.update(description="An Alertmanager delivery for this alert group (sent by the webhook).")
    async def receive_alerts(self, delivery: AlertDigest) -> DeliveryReceipt:
        """`delivery` is the bounded digest the receiver makes of Alertmanager's body."""
        r = self.router
        if r.policy is None:  # deliveries before the pin wait for it; later ones keep their order
            self.deliveries_waiting += 1
            await workflow.wait_condition(lambda: r.policy is not None)
            self.deliveries_waiting -= 1
        created = r.state.decision is None
        r.state.deliveries += 1
        decider = alerts.detected if created else alerts.later_delivery
        contained(r, "receive_alerts", lambda: r.decide(decider, delivery), answer=True)
        return DeliveryReceipt(
            incident_id=r.incident_id,
            severity=r.state.decision.severity,
            created=created,
            severity_reasons=r.state.decision.reasons,
        )

    @receive_alerts.validator
    def _open_for_alerts(self, delivery: AlertDigest) -> None:
        """A resolved incident takes only stale firings (noted, nothing more); anything new is the
        next incident's (the receiver opens it)."""
        s = self.router.state
        _reject_if(too_large(delivery))
        if not delivery.label_sets:  # the receiver never sends one; a hand-made update might
            raise ApplicationError("a delivery with no alerts: nothing to evaluate", type="Refused")
        if s.resolution is not None and not delivery.stale(s.alerts_ended):
            raise ApplicationError(f"incident {self.router.incident_id} is resolved", type="IncidentClosed")

    @workflow.update(
        description="A declared incident as it opened: its id and severity (sent by the receiver)."
    )
    async def opened(self, digest: str) -> DeliveryReceipt:
        """`digest` is the declaration's (Declaration.digest): a retry with the same Idempotency-Key
        and body answers the same incident, created only the first time."""
        s = self.router.state
        await workflow.wait_condition(lambda: s.decision is not None)
        s.declaration_answers += 1
        return DeliveryReceipt(
            incident_id=self.router.incident_id,
            severity=s.decision.severity,
            created=s.declaration_answers == 1,
            severity_reasons=s.decision.reasons,
        )

    @opened.validator
    def _same_declaration(self, digest: str) -> None:
        _reject_if(too_large(digest))
        if self.router.state.declaration_digest != digest:
            raise ApplicationError(
                f"incident {self.router.incident_id} was declared with another body under this "
                "Idempotency-Key: use a new key for a new incident",
                type="IdempotencyConflict",
            )

    # --- people: one handler per row of workflows/signals.py, and the updates -------------------

    def receive(self, signal: Signal, payload: RawValue) -> None:
        """Every signal of the table: held until the incident has opened, then read as a person
        types it (plan/person_input.py) and taken. Synchronous, so signals and the updates'
        validators see each other in order."""
        if not self._open_for_people() or self.early:
            self.early.append((signal, payload))  # the run body takes them once the incident has opened
            return
        contained(self.router, signal.name, lambda: self._read(signal, payload))

    def _read(self, signal: Signal, payload: RawValue) -> None:
        meta = payload.payload.metadata
        reading = person_input.read(
            meta.get("encoding", b"").decode(errors="replace"),
            payload.payload.data,
            meta.get(person_input.SEALED_KEY_ID, b"").decode(errors="replace") or None,
        )
        if reading.refusal:
            self.router.apply(refused(signal.name, reading.refusal))
            return
        if reading.note:
            self.router.note(EventKind.input, f"{signal.name}: {reading.note}")
        self._take(signal, reading.value)

    def _take(self, signal: Signal, value: Any, confirmed: tuple[str | None] | None = None, looked_up=False):
        """Judge and decide one person's input, apply it; a confirmed claim is then taken as its
        person's. Answers the (first) decision. `looked_up`: taken again after the workers' keys
        were asked for (plan/decide/keys.py)."""
        r = self.router
        decision = decide(r.state, r.given(), take, signal, value, confirmed, looked_up)
        r.apply(decision)
        if claim := decision.handoff if signal.name == "confirm_claim" else None:
            self._take(BY_NAME[claim.signal], claim.value, (claim.user,))
        return decision

    def _retake(self, waiting: AwaitingKeys) -> None:
        """An input that waited for the workers' current keys, taken again (contained as a signal)."""
        contained(
            self.router,
            waiting.signal,
            lambda: self._take(BY_NAME[waiting.signal], waiting.value, None, True),
        )

    @workflow.update(
        description="Any person's signal, answered with its outcome (accepted, or refused and why; "
        'the CLI sends this). {"signal": NAME, "input": {…the signal\'s JSON…}}'
    )
    async def act(self, call: Any) -> Outcome:
        act = Act.model_validate(call)
        await workflow.wait_condition(lambda: self._open_for_people() and not self.early)
        return contained(
            self.router,
            act.signal,
            lambda: self.router.outcome(act.signal, self._take(BY_NAME[act.signal], act.input)),
            answer=True,
        )

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
        shown = name[:64].replace("<", "‹").replace(">", "›")  # never a mention or a link
        hint = signals_plan.nearest(name[:64], sorted(PEOPLES))
        self.router.apply(refused(shown, f"this incident takes no signal {shown!r}{hint}"))

    @workflow.update(
        description="Approve, with an answer at once: refused input is rejected before it reaches "
        'history. {"request_id", "by", "reason"?}'
    )
    def approve_action(self, payload: Any) -> ActionRequest:
        return contained(self.router, "approve", lambda: self._decide("approve", payload), answer=True)

    @approve_action.validator
    def _check_approve_action(self, payload: Any) -> None:
        _reject_if(too_large(payload))
        r = self.router
        _reject_if(
            r.policy is None
            and "the incident is starting; try again"
            or requests.approval_refusal(r.state, r.policy, _decision(payload), r.now(), None)
        )

    @workflow.update(description='Deny, with an answer at once. {"request_id", "by", "reason"}')
    def deny_action(self, payload: Any) -> ActionRequest:
        return contained(self.router, "deny", lambda: self._decide("deny", payload), answer=True)

    @deny_action.validator
    def _check_deny_action(self, payload: Any) -> None:
        _reject_if(too_large(payload))
        r = self.router
        _reject_if(
            r.policy is None
            and "the incident is starting; try again"
            or requests.denial_refusal(r.state, r.policy, _decision(payload), r.now())
        )

    def _decide(self, signal: str, payload: Any) -> ActionRequest:
        """An approval or denial by update (with attestation keys, a claim until confirmed): the
        request as it stands after it."""
        decision = Decide.model_validate(payload)
        self._take(BY_NAME[signal], payload)
        return self.router.state.requests[decision.request_id]

    @workflow.query(description="The §8 ledger: each deliverable with its due time, state and link.")
    def deliverables(self) -> list[Deliverable]:
        return self.router.state.ledger

    @workflow.query(
        description="Everything about the incident: severity and why, phase, roles, bridge, "
        "requests, timeline."
    )
    def status(self) -> IncidentStatus:
        return status.of(self.router)

    @workflow.query(
        description="The compliance card (plan/compliance.py): every promise of the plan that applied, "
        "kept, missed or open, as of `now` on Temporal's clock (UTC; default: the incident's last step); "
        "on a drill's sped-up clock, as of the incident's time then. None before the policy is pinned."
    )
    def compliance(self, now: datetime | None = None) -> ComplianceCard | None:
        r = self.router
        return status.compliance(r, plan_now(r.state.drill_clock, now) if now else r.now())

    # --- waiting -------------------------------------------------------------------------------

    async def _first_alert(self) -> bool:
        """True once the incident has its first alert (or declaration). One already in hand (the
        update of an update-with-start) is waited for without a timer: opening costs no timer."""
        s = self.router.state
        if s.decision is not None or self.deliveries_waiting:
            # The delivery in hand may still fail (its fault is contained): then wait as for none.
            await workflow.wait_condition(lambda: s.decision is not None or not self.deliveries_waiting)
            if s.decision is not None:
                return True
        try:
            await workflow.wait_condition(lambda: s.decision is not None, timeout=FIRST_ALERT_WAIT)
        except TimeoutError:
            return False
        return True

    def _open_for_people(self) -> bool:
        return self.router.policy is not None and self.router.state.decision is not None

    def _finished(self) -> bool:
        s = self.router.state
        return (
            s.phase is Phase.REVIEW
            and s.ledger_opened
            and all(not d.open for d in s.ledger)
            and self.router.lanes.idle
        )

    def _time_to_continue(self) -> bool:
        """A new run when the history is long, or, in REVIEW, when a newer build is current; never
        with an outward step in flight."""
        return self.router.lanes.idle and (
            workflow.info().is_continue_as_new_suggested() or self.upgrade.due()
        )

    def _continue_as_new(self) -> None:
        """Response phases keep their build (the pin is inherited); REVIEW starts its new run on the
        deployment's current build. What the new run carries fits Temporal's payload limit."""
        r = self.router
        r.fit()
        self.upgrade.moving()
        workflow.continue_as_new(
            IncidentInput(incident_id=r.incident_id, policy=r.policy, state=r.state),
            initial_versioning_behavior=(
                workflow.ContinueAsNewVersioningBehavior.AUTO_UPGRADE
                if r.state.phase is Phase.REVIEW
                else None
            ),
        )

    def _next_clock(self) -> datetime | None:
        return min(
            (
                m
                for m in (
                    clocks.next_clock(self.router.state, self.router.policy),
                    self.upgrade.next_clock(),
                    self.router.watch.slow_at(),
                    self.shifts.next_clock(),
                )
                if m
            ),
            default=None,
        )

    def _woken(self) -> bool:
        """Something happened, so the clocks may have moved."""
        return self.router.wake or self._finished() or self._time_to_continue()

    async def _sleep_until_next_clock(self) -> datetime:
        """One timer per deadline, kept while only other things happen: an alert storm's deliveries
        do not each cancel and restart it. Answers the time the clocks are checked at: when the
        timer fired, its deadline has come, whatever a task's timestamp says (a server's clock may
        put the task a few ms before it; replay must decide the same)."""
        r = self.router
        deadline = self._next_clock()
        if deadline is not None and deadline <= r.now():
            return r.now()
        pace = r.state.drill_clock  # a drill's clock that changed speed needs a new timer too
        if self.clock is not None and (self.clock_at, self.clock_pace) != (deadline, pace):
            self.clock.cancel()
            self.clock = r.watch.clock_at = None
        if self.clock is None and deadline is not None:
            self.clock_at, self.clock_pace = deadline, pace
            r.watch.clock_at = deadline
            self.clock = asyncio.create_task(
                workflow.sleep(
                    r.real_wait(deadline - r.now()),
                    summary="next clock: update cadence, phase window or escalation",
                )
            )
        r.wake = False
        await workflow.wait_condition(lambda: self._woken() or (self.clock is not None and self.clock.done()))
        if self.clock is not None and self.clock.done():
            self.clock = r.watch.clock_at = None
            return max(r.now(), self.clock_at)
        return r.now()


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
