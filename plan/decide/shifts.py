"""Issue 23: long-running watchers follow the world as it changes. A role PagerDuty fills is held
for a shift that ends (`end` of each on-call in GET /oncalls); when it ends, the incident asks
again, so the handoff is announced, the new person invited, and the role — its authority and its
reminders (plan/holders.py) — moves with it. Followed while the incident is being responded to;
in REVIEW the people who worked it keep their roles for the §8 deliverables. Pure."""

from __future__ import annotations

from datetime import datetime

from plan.decision import Draft
from plan.effects import LookUpOnCall
from plan.incident import IncidentState
from plan.models import Phase
from plan.oncall import next_shift_look, shifts_ended


def next_look(state: IncidentState, followed: bool) -> datetime | None:
    """When a shift's end asks for a look; None when none is followed (`followed`: the policy
    names roles PagerDuty fills), or in REVIEW."""
    if not followed or state.phase is Phase.REVIEW or state.decision is None:
        return None
    return next_shift_look(state.on_call, set(state.assignments), state.shift_look_asked)


def ended(d: Draft) -> None:
    """At `d.now`: if a holder's shift has ended, ask who is on call now (once: `shift_look_asked`)."""
    s = d.s
    due = next_look(s, bool(d.policy.on_call))
    if due is None or due > d.wall:  # PagerDuty's shift ends are on Temporal's clock, not a drill's
        return
    s.shift_look_asked = d.wall
    over = shifts_ended(s.on_call, set(s.assignments), d.wall)
    said = "; ".join(
        f"{h.name or 'nobody'}'s shift as {role.title} ended at {h.until:%H:%M} UTC"
        for role, h in over.items()
    )
    d.effect(LookUpOnCall(f"a shift's end: {said}"))
