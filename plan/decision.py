"""What a decider answers (issue 22): decide, then act. Pure.

A decider is a function over the incident's state and its pinned policy (and the input, the
person, the time) that changes nothing itself. It answers a Decision:

- the verdict for the person who sent the input: accepted, refused with its reason, held as a
  claim until its person confirms it, or accepted but still pending (more approvals);
- `changes`: the new values of the state's fields it changes (never the old objects, mutated);
- `events`: what happened, typed (plan/events.py), for the timeline;
- `effects`: what to do outside, typed (plan/effects.py), for the lanes.

The workflow's router (workflows/router.py) applies a decision: changes, then events, then
effects, then publishes once. Decisions chain: `a.then(b)` is `a` followed by `b`, where `b` was
decided on the state `a` left (`after(state, a)`)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NoReturn

from plan import holders
from plan.bounds import clip, overflow
from plan.effects import Effect, Post
from plan.events import Event, EventKind, TimelineEntry, refusal
from plan.incident import IncidentState
from plan.models import Person, Policy, Role
from plan.raci import Engagement
from plan.refusals import let_go, tell, untold_note


class Verdict(StrEnum):
    accepted = "accepted"
    refused = "refused"
    held = "held"  # as a claim, until its person confirms it
    pending = "pending"  # accepted, and what it decides still waits (more approvals)


@dataclass(frozen=True)
class Decision:
    """A decider's answer. Refused and held decisions carry their reason or claim id."""

    verdict: Verdict = Verdict.accepted
    reason: str | None = None
    claim_id: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    events: tuple[Event, ...] = ()
    effects: tuple[Effect, ...] = ()
    unpin: str | None = None  # a pinned message taken out of the timeline (its entry's message_id)
    handoff: Any = None  # a confirmed claim (plan/decide/claims.py), for the router to take as its person's

    def __post_init__(self) -> None:
        unknown = set(self.changes) - set(IncidentState.model_fields)
        if unknown:
            raise ValueError(f"a decision changes fields the incident has not: {sorted(unknown)}")

    def then(self, other: Decision) -> Decision:
        """This decision, then `other` (decided on the state this one leaves): the later verdict
        unless this one was not an acceptance."""
        first = not self.accepted
        return Decision(
            verdict=self.verdict if first else other.verdict,
            reason=self.reason if first else other.reason,
            claim_id=self.claim_id if first else other.claim_id,
            changes={**self.changes, **other.changes},
            events=self.events + other.events,
            effects=self.effects + other.effects,
            unpin=other.unpin or self.unpin,
            handoff=other.handoff or self.handoff,
        )

    @property
    def accepted(self) -> bool:
        return self.verdict in (Verdict.accepted, Verdict.pending)


NOTHING = Decision()


def refused(signal: str, reason: str) -> Decision:
    """Refused, and said where people look (the timeline; the router tells the bridge)."""
    return Decision(verdict=Verdict.refused, reason=f"{signal}: {reason}", events=(refusal(signal, reason),))


def after(state: IncidentState, decision: Decision) -> IncidentState:
    """The state as `decision` leaves it (a shallow copy: unchanged fields are shared)."""
    return state.model_copy(update=decision.changes) if decision.changes else state


def applied(state: IncidentState, decision: Decision, now: datetime) -> list[Effect]:
    """Apply `decision` to `state`, in place, at `now`: its changes, the pin it takes out, its
    events into the timeline (bounded: plan/bounds.py; a flood of refusals: plan/refusals.py).
    Answers the effects to run, in order: a bridge post for each refusal told (and each flagged
    stranger), then the decision's own. The workflow's router and the simulation tests both apply
    decisions with this, so what is tested is what runs."""
    for name, value in decision.changes.items():
        setattr(state, name, value)
    if decision.unpin:
        state.timeline = [e for e in state.timeline if e.message_id != decision.unpin]
    effects: list[Effect] = []
    for event in decision.events:
        effects.extend(_record(state, event, now))
    return [*effects, *decision.effects]


def _record(state: IncidentState, event: Event, now: datetime) -> list[Effect]:
    s = state
    if event.kind is EventKind.refused and (old := let_go([e.kind for e in s.timeline])) is not None:
        del s.timeline[old]
        s.refusals.dropped += 1
    if drop := overflow(len(s.timeline) + 1):
        del s.timeline[:drop]
        s.timeline_dropped += drop
    s.timeline.append(TimelineEntry(at=now, **event.model_dump(exclude={"text"}), text=clip(event.text)))
    if event.kind is EventKind.refused:
        told, untold = tell(s.refusals, now)
        if told:
            return [
                Post(what="refusal", text=f"🚫 Refused `{event.signal}`: {event.reason}{untold_note(untold)}")
            ]
    elif event.kind is EventKind.not_in_roster:
        return [
            Post(
                what="refusal", text=f"⚠️ `{event.signal}` by {event.reason}: accepted (anyone may), flagged."
            )
        ]
    return []


@dataclass(frozen=True)
class Actor:
    """Who acted: their email, the roles they hold now, and the chat user an attestation (or a
    confirmed claim's click) proved (None when not proved)."""

    email: str
    roles: frozenset[Role]
    user: str | None = None


@dataclass(frozen=True)
class Given:
    """What every decider is given besides the state: the incident's id, its pinned policy, and
    the time of the workflow task (Temporal's deterministic clock)."""

    incident_id: str
    policy: Policy
    now: datetime
    # Whether a change of commands is on for this incident (the workflow's `workflow.patched`:
    # false when replaying an incident begun before it). Asked only where a decision differs.
    patched: Callable[[str], bool] = field(default=lambda _change: True, compare=False, repr=False)
    # Temporal's time, where a drill's clock (plan/drill_clock.py) runs `now` faster; what outsiders
    # date (attestations, PagerDuty's shifts) is judged by it. None: the same as `now`.
    wall: datetime | None = None


class Refusal(Exception):
    """Raised inside a decider to refuse its input (Draft.refuse): nothing it changed counts."""

    def __init__(self, signal: str, reason: str) -> None:
        super().__init__(f"{signal}: {reason}")
        self.signal, self.reason = signal, reason


class Draft:
    """A decider's scratch copy of the incident: read and change `s` freely, say what happened
    (`note`) and what to do outside (`post`, `effect`); `decision()` answers the Decision — the
    fields that differ from the state it began from, the events and the effects. The state passed
    in is never changed (its timeline is not copied: deciders add events, the router keeps them)."""

    def __init__(self, state: IncidentState, given: Given) -> None:
        self.before, self.given, self.policy = state, given, given.policy
        self.s = copy.deepcopy(state.model_copy(update={"timeline": []}))
        self.events: list[Event] = []
        self.effects: list[Effect] = []
        self.verdict = Verdict.accepted
        self.claim_id: str | None = None
        self.unpin: str | None = None
        self.handoff: Any = None

    @property
    def now(self) -> datetime:
        return self.given.now

    @property
    def wall(self) -> datetime:
        """Temporal's time (Given.wall): `now` except in a drill on a sped-up clock."""
        return self.given.wall or self.given.now

    def note(self, kind: EventKind, text: str, by: str | None = None, **fields: Any) -> None:
        self.events.append(Event(kind=kind, text=text, by=by, **fields))

    def post(self, what: str, text: str, thread: bool = False, buttons: Iterable = ()) -> None:
        self.effects.append(Post(what=what, text=text, thread=thread, buttons=tuple(buttons)))

    def effect(self, *effects: Effect) -> None:
        self.effects.extend(effects)

    def refuse(self, signal: str, reason: str) -> NoReturn:
        """Refuse the input: the decision becomes its refusal, nothing else of the draft counts."""
        raise Refusal(signal, reason)

    # --- who holds what, now (plan/holders.py, over this draft) -------------------------------

    def holder(self, role: Role) -> Person | None:
        return holders.holder(self.s, self.policy, role)

    def roles_of(self, email: str) -> set[Role]:
        return holders.roles_of(self.s, self.policy, email)

    @property
    def engaged(self) -> Engagement | None:
        return holders.engaged(self.s, self.policy)

    def decision(self) -> Decision:
        changes = {
            name: getattr(self.s, name)
            for name in IncidentState.model_fields
            if name != "timeline" and getattr(self.s, name) != getattr(self.before, name)
        }
        return Decision(
            verdict=self.verdict,
            claim_id=self.claim_id,
            changes=changes,
            events=tuple(self.events),
            effects=tuple(self.effects),
            unpin=self.unpin,
            handoff=self.handoff,
        )


def decide(
    state: IncidentState, given: Given, decider: Callable[..., Any], *args: Any, **kwargs: Any
) -> Decision:
    """Run `decider(draft, *args)` on a draft of `state`: its Decision, or its refusal. What the
    decider answers, if anything, is the decision's `handoff`."""
    draft = Draft(state, given)
    try:
        answer = decider(draft, *args, **kwargs)
        if answer is not None:
            draft.handoff = answer
    except Refusal as r:
        return refused(r.signal, r.reason)
    return draft.decision()
