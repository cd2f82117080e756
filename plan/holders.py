"""Who holds which role in an incident, and whom the RACI engages (§3, §6). Pure.

A role is held by, in order: the person it was assigned to in this incident, whom PagerDuty said
is on call for it at the last look, else the roster's person. Someone not in the roster is named
by what is known of them."""

from __future__ import annotations

from plan.incident import IncidentState
from plan.models import Person, Policy, Role
from plan.raci import Engagement, engagement
from plan.signals import nearest


def holder(state: IncidentState, policy: Policy, role: Role) -> Person | None:
    """Who holds `role` now."""
    if email := state.assignments.get(role):
        return _known(policy, email, email)
    held = state.on_call.get(role)
    if held and held.source == "pagerduty" and held.email:
        return _known(policy, held.email, held.name or held.email)
    return policy.person(role)


def _known(policy: Policy, email: str, name: str) -> Person:
    known = next((p for p in policy.roster.values() if p.email.lower() == email.lower()), None)
    return known or Person.model_construct(name=name, email=email, contacts={})


def roles_of(state: IncidentState, policy: Policy, email: str) -> set[Role]:
    """The roles `email` holds now (see `holder`)."""
    email = email.lower()
    return {role for role in Role if (p := holder(state, policy, role)) and p.email.lower() == email}


def engaged(state: IncidentState, policy: Policy) -> Engagement | None:
    """Whom the RACI engages at the current severity (§3, §6); None before there is one."""
    decision = state.decision
    return engagement(policy, decision.severity, decision.data_at_risk) if decision else None


def stranger(state: IncidentState, policy: Policy, email: str, assignees: bool = True) -> str | None:
    """Why `email` is nobody the roster names (with the nearest roster email), or None for
    someone it names, or whom PagerDuty says is on call for a role of this incident, or (with
    `assignees`) who holds a role of this incident given to them (issue 23: its authority here)."""
    on_call = [h for h in state.on_call.values() if h.source == "pagerduty" and h.email]
    emails = sorted({p.email.lower() for p in [*policy.roster.values(), *on_call]})
    if email.lower() in emails or (assignees and email.lower() in map(str.lower, state.assignments.values())):
        return None
    return f"{email} is not in the roster{nearest(email.lower(), emails)}"
