"""The one path every input takes (issue 22): read it, judge the person, decide, then apply the
decision — its changes to the state, its events to the timeline, its effects to their lanes — and
publish once. Whichever door an input came by (a signal, the `act` update, the approval updates,
a confirmed claim, an alert delivery, a clock, an outward step's result), it ends in `apply`.

The router is also what the lanes see of the incident (workflows/effects.py and the executors):
its state, its pinned policy, who holds which role, and `record`/`apply` for what their steps
found. It holds no component; the deciders are plain functions (plan/decide/)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from plan import Policy, Role, holders
    from plan.bounds import to_fit
    from plan.decision import Decision, Given, Verdict, applied, decide
    from plan.deliverables import ledger_closed
    from plan.drill_clock import DrillClock, plan_now, plan_span, real_wait
    from plan.effects import Post
    from plan.events import Event, EventKind
    from plan.incident import IncidentInput, IncidentState
    from plan.models import Person, Phase
    from plan.outward import keyed
    from plan.privacy import PRIVATE_SUMMARY, log_text
    from plan.raci import Engagement
    from plan.signals import Outcome
    from workflows import search
    from workflows.lanes import Lanes
    from workflows.outside import Watch


PACE = {  # what a drill's clock says when it changes speed (plan/drill_clock.py)
    False: "the plan's time runs this much faster than the clock on the wall while the incident is open",
    True: "resolved: the §8 follow-ups run this much faster than the clock on the wall",
}


class Router:
    """One per incident run. `policy` is None until the run has pinned it."""

    def __init__(self, incident_id: str, state: IncidentState, policy: Policy | None, run_effect) -> None:
        """`run_effect(router, effect)`: queue an effect on its lane (workflows/effects.py)."""
        self.incident_id, self.state, self.policy = incident_id, state, policy
        self.lanes = Lanes(on_fault=self._lane_fault)
        self.watch = Watch()  # the outward steps in flight, for the slow-step note
        self.run_effect = run_effect
        self.running = False  # the run body has started: publish from now on
        self.wake = False  # something changed: the main loop looks at its clocks again
        self._published: tuple | None = None
        self.continuing = False  # the chat lane is opening a continuation bridge (workflows/bridge.py)
        self.retake: Callable[[Any], None] = lambda waiting: None  # the workflow's: take an input again

    # --- deciding and applying ---------------------------------------------------------------------

    # --- the incident's clock: Temporal's, or a drill's sped-up one (plan/drill_clock.py) -------------

    def now(self) -> datetime:
        """The incident's time: Temporal's, or on a drill's clock the plan's (ahead of it)."""
        return plan_now(self.state.drill_clock, workflow.now())

    def real_wait(self, span: timedelta) -> timedelta:
        """Temporal's time for `span` of the incident's to pass (a timer's length)."""
        return real_wait(self.state.drill_clock, span)

    def after_real(self, real_span: timedelta) -> datetime:
        """The incident's time once `real_span` of Temporal's has passed (a slow step's note)."""
        return self.now() + plan_span(self.state.drill_clock, real_span)

    def pace(self) -> None:
        """A drill's clock starts when the policy is pinned and speeds up to `after_resolution` when
        the incident is resolved (once each; a policy without `drill_clock` never has one)."""
        s, wanted = self.state, self.policy and self.policy.drill_clock
        if not wanted:
            return
        speed = wanted.after_resolution if s.resolution else wanted.speed_up
        if s.drill_clock is None:
            s.drill_clock = DrillClock.starting(speed, workflow.now())
        elif s.drill_clock.speed_up != speed:
            s.drill_clock = s.drill_clock.at_speed(speed, workflow.now())
        else:
            return
        self.note(EventKind.drill_clock, f"drill clock ×{speed}: {PACE[bool(s.resolution)]}")

    def given(self) -> Given:
        return Given(
            incident_id=self.incident_id,
            policy=self.policy,
            now=self.now(),
            patched=workflow.patched,
            wall=workflow.now(),
        )

    def decide(self, decider: Callable[..., Any], *args: Any, **kwargs: Any) -> Decision:
        """Run a decider on the state as it is now, and apply what it decided."""
        decision = decide(self.state, self.given(), decider, *args, **kwargs)
        self.apply(decision)
        return decision

    def apply(self, decision: Decision) -> None:
        """The decision applied (plan/decision.py `applied`: changes, timeline, a refusal told in
        the bridge), its events logged, its effects queued on their lanes; then publish, once, if
        anything people filter by changed."""
        s = self.state
        effects = applied(s, decision, self.now())
        private = s.private or bool(s.decision and s.decision.data_at_risk)  # known before `opened`
        for event in decision.events:  # logged (not on replay): a private incident's text is not
            workflow.logger.info("%s: %s", event.kind, log_text(event.text, private))
        for effect in effects:
            self.run_effect(self, effect)
        self.wake = True
        self.pace()
        self.publish()

    def note(self, kind: EventKind, text: str, by: str | None = None, **fields: Any) -> None:
        """For the lanes: what an outward step found, as an event."""
        self.apply(Decision(events=(Event(kind=kind, text=text, by=by, **fields),)))

    def say(self, what: str, text: str) -> None:
        """For the lanes: a message in the bridge (queued in the chat lane)."""
        self.run_effect(self, Post(what=what, text=text))

    def outcome(self, signal: str, decision: Decision) -> Outcome:
        """What `act` answers: from the decision's verdict and events, never from prose."""
        refusal = decision.reason if decision.verdict is Verdict.refused else None
        return Outcome(
            signal=signal,
            accepted=refusal is None,
            reason=refusal,
            notes=[e.text for e in decision.events if e.kind is not EventKind.refused][:10],
            requests=[e.request_id for e in decision.events if e.kind is EventKind.action_requested],
            claimed=decision.claim_id,
            pending=decision.verdict in (Verdict.pending, Verdict.held),
            checking_key=any(e.kind is EventKind.keys for e in decision.events),
        )

    def fit(self) -> None:
        """Fit what a new run carries under STATE_BUDGET (plan/bounds.py), letting go of the oldest
        timeline entries first, counted."""
        s = self.state
        sizes = [len(e.model_dump_json()) for e in s.timeline]
        total = len(
            IncidentInput(incident_id=self.incident_id, policy=self.policy, state=s).model_dump_json()
        )
        if drop := to_fit(sizes, total):
            del s.timeline[:drop]
            s.timeline_dropped += drop
            workflow.logger.warning("%s: %d timeline entries let go to fit a new run", self.incident_id, drop)

    # --- what the lanes see ---------------------------------------------------------------------------

    def later(self, lane: str, step: Callable[..., Awaitable], *args: Any) -> None:
        """Queue an outward step in its system's lane: steps of a lane run in order, lanes apart."""
        self.lanes.add(lane, lambda: step(*args))

    @property
    def key_id(self) -> str:
        """What this incident's outward idempotency keys are made from (plan/outward.py)."""
        return keyed(self.incident_id, self.state.outward_id)

    def holder(self, role: Role) -> Person | None:
        return holders.holder(self.state, self.policy, role)

    @property
    def engaged(self) -> Engagement | None:
        return holders.engaged(self.state, self.policy) if self.policy else None

    def _lane_fault(self, lane: str, fault: Exception) -> None:
        """A step of `lane` raised: logged with its traceback, told in the timeline; the lane goes on."""
        workflow.logger.exception("a step of the %s lane failed in %s", lane, self.incident_id)
        self.note(
            EventKind.fault,
            f"a {lane} step failed ({type(fault).__name__}); the {lane} lane goes on with the next",
        )

    # --- publishing ---------------------------------------------------------------------------------

    def publish(self) -> None:
        """The search attributes the Temporal UI filters incidents by (when they changed: one command,
        not one per input), and the page's live details (metadata, no command)."""
        if not self.running or self.policy is None:
            return
        s = self.state
        workflow.set_current_details(details(self))
        if s.private:
            hide_memo()
        shown = (
            s.decision.severity.value if s.decision else None,
            s.phase.value,
            s.decision.module if s.decision and not s.private else None,  # private: no details
            tuple(s.blast_radius.tenants) if s.blast_radius and not s.private else (),
            incident_status(s),
        )
        if shown != self._published:
            self._published = shown
            search.upsert(
                severity=shown[0], phase=shown[1], module=shown[2], tenants=list(shown[3]), status=shown[4]
            )


# An incident that turned private after it started (data found at risk) drops its memo's summary.
PRIVATE_MEMO = "private-memo"


def hide_memo() -> None:
    """The memo's summary (what `irp list` and the Web UI's list show) replaced by PRIVATE_SUMMARY,
    once. The start's static summary cannot change: the receiver sets it private from the start
    when the alert says data is at risk (plan/privacy.py alerts_private)."""
    shown = workflow.memo_value("summary", None, type_hint=str)
    if shown not in (None, PRIVATE_SUMMARY) and workflow.patched(PRIVATE_MEMO):
        workflow.upsert_memo({"summary": PRIVATE_SUMMARY})


def incident_status(s: IncidentState) -> str:
    """`open` until resolved, `review` while §8 deliverables are open, then `closed`."""
    if not s.resolution:
        return "open"
    return "closed" if s.phase is Phase.REVIEW and s.ledger_opened and ledger_closed(s.ledger) else "review"


def details(router: Router) -> str:
    """What the Web UI shows on the incident's page without a query (markdown)."""
    s = router.state
    if s.private:  # need-to-know: the id, severity and phase only (the `status` query has all)
        return f"**{s.decision.severity if s.decision else '—'}** · {s.phase} · {PRIVATE_SUMMARY}"
    ic = router.holder(Role.incident_commander) if router.policy else None
    flagged = s.acknowledged_by and holders.stranger(s, router.policy, s.acknowledged_by)
    lines = [
        f"**{s.decision.severity if s.decision else '—'}** · {s.phase} · {s.summary}",
        f"IC: {ic.name if ic else '—'} · bridge: #{s.bridge.channel or '—'} · "
        f"acknowledged: {s.acknowledged_by or 'not yet'}" + (" (not in the roster)" if flagged else ""),
    ]
    if s.cadence and s.cadence.next_due:
        lines.append(
            f"Next update due {s.cadence.next_due:%H:%M} UTC ({s.cadence.overdue_updates} overdue so far)"
        )
    if pending := [r.request_id for r in s.requests.values() if r.state == "pending"]:
        lines.append("Waiting for approval: " + ", ".join(pending))
    if s.ledger:
        lines.append("Deliverables: " + ", ".join(f"{d.key} {d.state}" for d in s.ledger))
    return "\n\n".join(lines)
