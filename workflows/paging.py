"""Paging the roles the RACI says to page (§3, §6), each once per person, and resolving those
pages at close (§4.5 step 5). One dedup key per incident and role (and person, once a role is
handed to someone), so a retried page never pages twice. A lane: it pages, and records what came
of each page (plan/decide/outcomes.py)."""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.paging import PageRequest, PagingActivities, ResolvePage
    from plan import Role
    from plan.decide import outcomes
    from plan.decide.lifecycle import paged_roles
    from plan.incident import Page
    from plan.privacy import page_content
    from plan.raci import dedup_key as page_key
    from workflows.outside import PAGING, failure, outside, watched

LANE = "paging"


async def page(r, roles: tuple[Role, ...]) -> None:
    """Page the roles whose holder holds no page yet (at once: paging waits for nothing else)."""
    pages = [_page_role(r, role) for role in roles if role not in paged_roles(r.state)]
    r.decide(outcomes.paged, list(await asyncio.gather(*pages)))


async def resolve_all(r) -> None:
    """§4.5 step 5: close every PagerDuty alert the incident opened (same dedup keys)."""
    resolved = []
    for p in [p for p in r.state.paged if p.outcome == "paged" and not p.resolved]:
        done = await outside(
            r,
            PagingActivities.resolve_page,
            ResolvePage(role=p.role, person=p.person, dedup_key=p.dedup_key),
            what=f"resolve the {p.role.title} page",
        )
        if done is not None:
            resolved.append(p.dedup_key)
    r.decide(outcomes.pages_resolved, resolved)


async def _page_role(r, role: Role) -> tuple[Page, str]:
    s, policy = r.state, r.policy
    person = r.holder(role)  # named in the timeline: whoever holds the role now
    # Paged at the address of the role's assignee, else of the roster's person for the role
    # (their routing key leads to the role's PagerDuty service, whoever is on call there).
    addressee = person if role in s.assignments else policy.person(role)
    email = addressee.email if addressee else s.assignments.get(role)
    dedup_key = page_key(r.key_id, role, email if role in s.assignments else None)
    summary, source, details = page_content(  # a private incident's page says nothing of it
        r.incident_id,
        summary=s.summary,
        source=s.source,
        details={"reasons": "; ".join(s.decision.reasons), "impact": s.impact},
        private=s.private,
    )
    request = PageRequest(
        incident_id=r.incident_id,
        role=role,
        person=email,
        dedup_key=dedup_key,
        severity=s.decision.severity,
        summary=summary,
        source=source,
        details=details,
    )
    try:
        result = await watched(
            r, PagingActivities.page_role, request, what=f"page the {role.title}", options=PAGING
        )
        outcome, detail = result.outcome, result.detail
    except ActivityError as e:
        outcome, detail = "failed", failure(e)
    who = f"{role.title} ({person.name})" if person else role.title
    return Page(role=role, person=email, dedup_key=dedup_key, outcome=outcome, detail=detail, at=r.now()), who
