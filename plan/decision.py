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
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from plan.effects import Effect, Post
from plan.events import Event, EventKind, refusal
from plan.incident import IncidentState


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

    def __post_init__(self) -> None:
        unknown = set(self.changes) - set(IncidentState.model_fields)
        if unknown:
            raise ValueError(f"a decision changes fields the incident has not: {sorted(unknown)}")

    def then(self, other: Decision) -> Decision:
        """This decision, then `other` (decided on the state this one leaves): the later verdict
        unless this one was not an acceptance."""
        first = self.verdict is not Verdict.accepted
        return Decision(
            verdict=self.verdict if first else other.verdict,
            reason=self.reason if first else other.reason,
            claim_id=self.claim_id if first else other.claim_id,
            changes={**self.changes, **other.changes},
            events=self.events + other.events,
            effects=self.effects + other.effects,
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


class Draft:
    """A decider's scratch copy of the incident: read and change `s` freely, say what happened
    (`note`) and what to do outside (`post`, `effect`); `decision()` answers the Decision — the
    fields that differ from the state it began from, the events and the effects. The state passed
    in is never changed (its timeline is not copied: deciders add events, the router keeps them)."""

    def __init__(self, state: IncidentState) -> None:
        self.before = state
        self.s = copy.deepcopy(state.model_copy(update={"timeline": []}))
        self.events: list[Event] = []
        self.effects: list[Effect] = []

    def note(self, kind: EventKind, text: str, by: str | None = None, **fields: Any) -> None:
        self.events.append(Event(kind=kind, text=text, by=by, **fields))

    def post(self, what: str, text: str, thread: bool = False, buttons: tuple = ()) -> None:
        self.effects.append(Post(what=what, text=text, thread=thread, buttons=tuple(buttons)))

    def effect(self, *effects: Effect) -> None:
        self.effects.extend(effects)

    def decision(self, verdict: Verdict = Verdict.accepted, claim_id: str | None = None) -> Decision:
        changes = {
            name: getattr(self.s, name)
            for name in IncidentState.model_fields
            if name != "timeline" and getattr(self.s, name) != getattr(self.before, name)
        }
        return Decision(
            verdict=verdict, claim_id=claim_id, changes=changes,
            events=tuple(self.events), effects=tuple(self.effects),
        )  # fmt: skip

    def refuse(self, signal: str, reason: str) -> Decision:
        """Refused: nothing of what this draft changed counts, only the refusal."""
        return refused(signal, reason)
