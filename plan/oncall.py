"""Who holds a role right now: the roster's fixed person, or whom PagerDuty says is on call for the
role's schedule or escalation policy (issue 16). Pure rules: the workflow decides when to look,
an activity asks PagerDuty, these decide who holds the role and whether it was handed over."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel

from plan.models import Email, OnCallSource, Person, Role

__all__ = [
    "Handoff",
    "Holder",
    "Look",
    "OnCallPerson",
    "OnCallSource",
    "Settled",
    "settle",
    "next_shift_look",
    "shifts_ended",
]

# A look at a shift's end that could not name the next person (PagerDuty silent, a gap in the
# schedule) is tried again this long after, while the incident is being responded to.
LOOK_AGAIN = timedelta(minutes=15)


class OnCallPerson(BaseModel):
    """One person on call, as PagerDuty's user has them; `until` ends the shift (None: open-ended);
    `where` names the schedule or policy (e.g. "PagerDuty schedule Daily Rotation (PI7DH85)")."""

    name: str
    email: Email
    until: datetime | None = None
    where: str = ""


class Look(BaseModel):
    """One look at who is on call: role → the person found; role → why nobody was found (no
    answer, nobody on call); `skipped` when no on-call provider is configured."""

    found: dict[Role, OnCallPerson] = {}
    failed: dict[Role, str] = {}
    skipped: str | None = None


class Holder(BaseModel):
    """Who holds a role for the incident, as the last look settled it: PagerDuty's person, or the
    roster's fixed one (`name`/`email` None: nobody). `detail` says where from, or why not PagerDuty."""

    name: str | None = None
    email: str | None = None
    source: Literal["pagerduty", "roster"]
    detail: str
    until: datetime | None = (
        None  # PagerDuty's end of this person's shift (None: open-ended, or the roster's)
    )


class Handoff(BaseModel):
    """The role changed hands between two looks (the schedule moved on, or PagerDuty came back)."""

    role: Role
    before: Holder
    after: Holder


class Settled(BaseModel):
    """What a look means: every looked-up role's holder, timeline notes, and handoffs to announce."""

    holders: dict[Role, Holder]
    notes: list[str] = []
    handoffs: list[Handoff] = []


def holder_after(look: Look, role: Role, fixed: Person | None, before: Holder | None) -> Holder:
    """PagerDuty's person when it named one; else the last PagerDuty answer of this incident
    (a failed look is no handoff); else the fixed person (None when the role has none)."""
    if found := look.found.get(role):
        return Holder(
            name=found.name, email=found.email, source="pagerduty", detail=found.where, until=found.until
        )
    why = look.failed.get(role) or look.skipped or "PagerDuty gave no answer"
    if before is not None and before.source == "pagerduty":
        return before
    if fixed is None:
        return Holder(source="roster", detail=f"{why}; the roster names nobody")
    return Holder(name=fixed.name, email=fixed.email, source="roster", detail=why)


def settle(roles: list[Role], roster: dict[Role, Person], before: dict[Role, Holder], look: Look) -> Settled:
    """Each role's holder after `look`, given the holders `before` it. The first look notes who
    holds each role and from where; later looks note a failure they rode out, and report every
    change of person as a handoff."""
    settled = Settled(holders={})
    for role in roles:
        previous = before.get(role)
        now = settled.holders[role] = holder_after(look, role, roster.get(role), previous)
        who = now.name or "nobody"
        if previous is None:
            where = (
                f"on call per {now.detail}" if now.source == "pagerduty" else f"the roster's ({now.detail})"
            )
            settled.notes.append(f"{role.title}: {who}, {where}")
        elif (previous.email or "").lower() != (now.email or "").lower():
            settled.handoffs.append(Handoff(role=role, before=previous, after=now))
            settled.notes.append(
                f"{role.title}: handed over from {previous.name or 'nobody'} to {who} ({now.detail})"
            )
        elif role not in look.found and previous.source == "pagerduty":
            reason = look.failed.get(role) or look.skipped or "no answer"
            settled.notes.append(f"{role.title}: still {who}; PagerDuty did not answer ({reason})")
    return settled


def _ends(holders: dict[Role, Holder], assigned: set[Role]) -> dict[Role, datetime]:
    """The end of each shift the incident follows: PagerDuty's holders of roles nobody assigned."""
    return {
        role: h.until
        for role, h in holders.items()
        if role not in assigned and h.source == "pagerduty" and h.until is not None
    }


def next_shift_look(
    holders: dict[Role, Holder], assigned: set[Role], asked: datetime | None
) -> datetime | None:
    """When to ask PagerDuty again because a shift ends (issue 23): the earliest end of a holder's
    shift not yet looked at (`asked`: when the last such look was asked for); a shift that had
    ended by then, whose holder that look could not replace, is looked at again LOOK_AGAIN after
    it. Always after `asked`, so a look never repeats at once. None: nothing to follow."""
    ends = _ends(holders, assigned).values()
    moments = [e for e in ends if asked is None or e > asked]
    if asked is not None and any(e <= asked for e in ends):
        moments.append(asked + LOOK_AGAIN)
    return min(moments, default=None)


def shifts_ended(holders: dict[Role, Holder], assigned: set[Role], now: datetime) -> dict[Role, Holder]:
    """The roles whose holder's shift has ended by `now` (their holder, as last settled)."""
    return {role: holders[role] for role, end in _ends(holders, assigned).items() if end <= now}
