"""What every part of an incident shares: its state, its pinned policy, the timeline, refusals,
who holds which role, and the queue of outward steps (one lane per outside system).

Calls go one way: the workflow → its components → this context. The context calls no
component; the one thing it says outward, a refusal, goes through `announce`, which the
workflow points at the bridge when it assembles the incident."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from pydantic import BaseModel, ValidationError
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from plan import Person, Policy, Role
    from plan.bounds import clip, overflow
    from plan.deliverables import ledger_closed
    from plan.incident import IncidentState, TimelineEntry
    from plan.lifecycle import cadence
    from plan.models import GatedAction, Phase
    from plan.privacy import PRIVATE_SUMMARY
    from plan.raci import Engagement, engagement
    from plan.refusals import REFUSED, let_go, tell, untold_note
    from plan.signals import nearest
    from workflows import search
    from workflows.lanes import Lanes


class IncidentContext:
    """One per incident run. `policy` is None until the incident has pinned it (the first thing
    its run does); handlers wait for it."""

    def __init__(self, incident_id: str, state: IncidentState, policy: Policy | None) -> None:
        self.incident_id = incident_id
        self.s = state
        self.policy = policy
        self.lanes = Lanes(on_fault=self._lane_fault)
        self.wake = False
        self.running = False
        self.announce: Callable[[str, str], None] = lambda text, what: None
        # The chat user an attestation proved is acting, while its input is being applied.
        self.verified_user: str | None = None
        # Whether this incident checks that people are known (the `people-known` patch; None until
        # a handler has asked, so a validator never calls workflow.patched itself).
        self.checks_people: bool | None = None
        self.noted = 0  # timeline entries written by this run (an answer counts what an input wrote)
        self.refused: list[str] = []  # "signal: reason" refused by this run, in order (`act` answers them)

    # --- the timeline and refusals ------------------------------------------------------------

    def note(self, kind: str, text: str, by: str | None = None) -> None:
        """Every change writes the timeline, which also wakes the main loop. A bounded incident
        keeps its latest TIMELINE_KEPT entries, each clipped (plan/bounds.py)."""
        if self.s.refusals is not None:
            text = clip(text)
            if drop := overflow(len(self.s.timeline) + 1):
                del self.s.timeline[:drop]
                self.s.timeline_dropped += drop
        self.s.timeline.append(TimelineEntry(at=workflow.now(), kind=kind, text=text, by=by))
        self.noted += 1
        self.wake = True
        if self.running and self.policy:  # the UI's live details (metadata, not a command in history)
            workflow.set_current_details(self.details())
        workflow.logger.info("%s: %s", kind, text)  # the timeline, in the logs (not repeated on replay)

    def refuse(self, signal: str, reason: str) -> None:
        """A refusal is told where people look: the timeline and the bridge. A flood of them is
        bounded (plan/refusals.py) in incidents that keep a refusal log (those begun since it)."""
        self.refused.append(f"{signal}: {reason}")
        log = self.s.refusals
        if log is not None and (old := let_go([e.kind for e in self.s.timeline])) is not None:
            del self.s.timeline[old]
            log.dropped += 1
        self.note(REFUSED, f"refused {signal}: {reason}")
        told, untold = tell(log, workflow.now()) if log is not None else (True, 0)
        if told:
            self.announce(f"🚫 Refused `{signal}`: {reason}{untold_note(untold)}", "refusal")

    def accept(self, signal: str, model: type[BaseModel], payload: object) -> BaseModel | None:
        """Human input is validated here, not by the SDK, so a bad one is refused visibly."""
        try:
            return model.model_validate(payload)
        except ValidationError as e:
            self.refuse(
                signal,
                "; ".join(f"{'.'.join(map(str, err['loc'])) or 'input'}: {err['msg']}" for err in e.errors()),
            )
            return None

    def stranger(self, email: str) -> str | None:
        """Why `email` is nobody the policy's roster names (with the nearest roster email), or None
        for someone it names, or whom PagerDuty says is on call for a role of this incident."""
        on_call = [h for h in self.s.on_call.values() if h.source == "pagerduty" and h.email]
        emails = sorted({p.email.lower() for p in [*self.policy.roster.values(), *on_call]})
        if email.lower() in emails:
            return None
        return f"{email} is not in the roster{nearest(email.lower(), emails)}"

    def known_people(self, signal: str, gated: bool, accepted: BaseModel) -> bool:
        """A person is someone the roster names. An unknown `by` or `person` refuses a gated
        decision; an ungated step (anyone may: acknowledge, an update) goes ahead, flagged in
        the timeline and the bridge — unless it came from the chat app, which vouched for who
        this is: a chat user in no roster is refused ("you are not in the roster")."""
        self.checks_people = workflow.patched("people-known")
        if not self.checks_people:  # before it, any email was taken as given
            return True
        attested = getattr(accepted, "attestation", None) is not None
        for field in ("by", "person"):
            email = getattr(accepted, field, None)
            why = email and self.stranger(email)
            if not why:
                continue
            if gated or attested or field == "person":
                self.refuse(signal, f"unknown person: {why}")
                return False
            self.note("not-in-roster", f"{signal} by {why}: accepted, flagged", by=email)
            self.announce(f"⚠️ `{signal}` by {why}: accepted (anyone may), flagged.", "refusal")
        return True

    def allowed(self, action: GatedAction, by: str) -> bool:
        """The policy's authority for `action`; a refusal names who may."""
        if self.policy.may(action, self.roles_of(by)):
            return True
        needed = ", ".join(r.title for r in self.policy.authority.get(action) or [])
        self.refuse(
            action.value, f"{by} may not {action.value.replace('_', ' ')}: it needs {needed or 'nobody'}"
        )
        return False

    # --- outward steps --------------------------------------------------------------------------

    def _lane_fault(self, lane: str, fault: Exception) -> None:
        """A step of `lane` raised: logged with its traceback, told in the timeline; the lane goes on."""
        workflow.logger.exception("a step of the %s lane failed in %s", lane, self.incident_id)
        self.note(
            "fault", f"a {lane} step failed ({type(fault).__name__}); the {lane} lane goes on with the next"
        )

    def later(self, lane: str, step: Callable[..., Awaitable], *args) -> None:
        """Queue an outward step in its system's lane: steps of a lane run in order, lanes apart."""
        self.lanes.add(lane, lambda: step(*args))

    # --- people ---------------------------------------------------------------------------------

    def person(self, role: Role) -> Person | None:
        """Who holds the role now: an assignment in this incident, else whom PagerDuty said is on
        call (the last look), else the roster. Someone not in the roster is named by what is known."""
        if email := self.s.assignments.get(role):
            return self._known(email, email)
        held = self.s.on_call.get(role)
        if held and held.source == "pagerduty" and held.email:
            return self._known(held.email, held.name or held.email)
        return self.policy.person(role)

    def _known(self, email: str, name: str) -> Person:
        known = next((p for p in self.policy.roster.values() if p.email.lower() == email.lower()), None)
        return known or Person.model_construct(name=name, email=email, contacts={})

    def roles_of(self, email: str) -> set[Role]:
        """The roles `email` holds now (see `person`): assignments, PagerDuty's on-call, the roster."""
        email = email.lower()
        return {role for role in Role if (p := self.person(role)) and p.email.lower() == email}

    @property
    def engaged(self) -> Engagement | None:
        """Whom the RACI engages at the current severity (§3, §6)."""
        decision = self.s.decision
        return (
            engagement(self.policy, decision.severity, decision.data_at_risk)
            if decision and self.policy
            else None
        )

    # --- phases, cadence and what the UI shows -----------------------------------------------------

    def enter(self, phase: Phase) -> None:
        if phase is self.s.phase:
            return
        self.s.phase = phase
        self.s.phases[phase] = workflow.now()
        self.note("phase", f"phase {phase}")
        self.publish()

    def cadence_minutes(self) -> int | None:
        every = cadence(self.policy, self.s.decision.severity)
        return minutes(every) if every else None

    def default_impact(self) -> str:
        definition = self.policy.severities[self.s.decision.severity]
        return f"{definition.name}: {definition.definition}"

    def publish(self) -> None:
        """The search attributes the Temporal UI filters incidents by, and the page's details."""
        if not self.running:  # the run body publishes once it starts
            return
        s = self.s
        workflow.set_current_details(self.details())
        search.upsert(
            severity=s.decision.severity.value if s.decision else None,
            phase=s.phase.value,
            module=s.decision.module if s.decision and not s.private else None,  # private: no details
            tenants=s.blast_radius.tenants if s.blast_radius and not s.private else [],
            status=self.incident_status(),
        )

    def incident_status(self) -> str:
        """`open` until resolved, `review` while §8 deliverables are open, then `closed`."""
        s = self.s
        if not s.resolution:
            return "open"
        return (
            "closed" if s.phase is Phase.REVIEW and s.ledger_opened and ledger_closed(s.ledger) else "review"
        )

    def details(self) -> str:
        """What the Web UI shows on the incident's page without a query (markdown)."""
        s = self.s
        if s.private:  # need-to-know: the id, severity and phase only (the `status` query has all)
            return f"**{s.decision.severity if s.decision else '—'}** · {s.phase} · {PRIVATE_SUMMARY}"
        ic = self.person(Role.incident_commander) if self.policy else None
        lines = [
            f"**{s.decision.severity if s.decision else '—'}** · {s.phase} · {s.summary}",
            f"IC: {ic.name if ic else '—'} · bridge: #{s.bridge.channel or '—'} · "
            f"acknowledged: {s.acknowledged_by or 'not yet'}"
            + (" (not in the roster)" if s.acknowledged_by and self.stranger(s.acknowledged_by) else ""),
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


def minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)
