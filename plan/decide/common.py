"""What several deciders share: minutes, the cadence in minutes, entering a phase, closing a §8
deliverable. Pure."""

from __future__ import annotations

from datetime import timedelta

from plan.decision import Draft
from plan.effects import Promised
from plan.events import EventKind as K
from plan.lifecycle import cadence
from plan.models import Phase


def minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def cadence_minutes(d: Draft) -> int | None:
    """§5.2's cadence for the current severity, in minutes (None for P2 and P3)."""
    every = cadence(d.policy, d.s.decision.severity)
    return minutes(every) if every else None


def enter(d: Draft, phase: Phase) -> None:
    """A new phase (§4), once."""
    if phase is d.s.phase:
        return
    d.s.phase = phase
    d.s.phases = {**d.s.phases, phase: d.now}
    d.note(K.phase, f"phase {phase}", phase=phase)


def close_deliverable(
    d: Draft, key: str, state: str, by: str | None, link: str | None = None, reason: str | None = None
) -> None:
    """Close the §8 deliverable `key` (done or waived), if it is open, and say so."""
    entry = next((e for e in d.s.ledger if e.key == key), None)
    if entry is None or not entry.open:
        return
    closed = entry.model_copy(
        update={"state": state, "closed_by": by, "closed_at": d.now, "link": link, "reason": reason}
    )
    d.s.ledger = [closed if e.key == key else e for e in d.s.ledger]
    if state == "done" and entry.state == "pending" and not entry.optional and d.now <= entry.due_at:
        d.effect(Promised(key, d.s.decision.severity, "kept"))  # §8's promise kept (plan/compliance.py)
    said = f"{entry.title}: {state} by {by}" + (f" ({link or reason})" if link or reason else "")
    d.note(K.deliverable, said, by=by, deliverable=key)
