"""Paging the roles the RACI says to page (§3, §6), each once per person, and resolving those
pages at close (§4.5 step 5). One dedup key per incident and role (and person, once a role is
handed to someone), so a retried page never pages twice."""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.paging import PageRequest, PagingActivities, ResolvePage
    from plan import Role
    from plan.incident import Page
    from plan.raci import dedup_key as page_key
    from workflows.context import IncidentContext
    from workflows.outside import PAGING, failure, outside, watched

OUTCOME_KIND = {"paged": "paged", "skipped": "page-skipped", "failed": "page-failed"}


class Paging:
    LANE = "paging"

    def __init__(self, ctx: IncidentContext) -> None:
        self.ctx = ctx

    def page(self, roles: list[Role]) -> None:
        """Queue pages for the roles not paged yet (at once: paging waits for nothing else)."""
        self.ctx.later(self.LANE, self._page, roles)

    def paged_roles(self) -> set[Role]:
        """Roles whose current holder holds a page."""
        s = self.ctx.s
        return {
            p.role
            for p in s.paged
            if p.outcome == "paged" and (p.role not in s.assignments or p.person == s.assignments[p.role])
        }

    async def resolve_all(self) -> None:
        """§4.5 step 5: close every PagerDuty alert the incident opened (same dedup keys)."""
        s = self.ctx.s
        for page in [p for p in s.paged if p.outcome == "paged" and not p.resolved]:
            done = await outside(
                self.ctx,
                PagingActivities.resolve_page,
                ResolvePage(role=page.role, person=page.person, dedup_key=page.dedup_key),
                what=f"resolve the {page.role.title} page",
            )
            page.resolved = done is not None
        if resolved := [p.role.title for p in s.paged if p.resolved]:
            self.ctx.note("pages-resolved", "PagerDuty pages resolved: " + ", ".join(resolved))

    async def _page(self, roles: list[Role]) -> None:
        pages = [self._page_role(r) for r in roles if r not in self.paged_roles()]
        self.ctx.s.paged.extend(await asyncio.gather(*pages))

    async def _page_role(self, role: Role) -> Page:
        ctx, s = self.ctx, self.ctx.s
        person = ctx.person(role)  # named in the timeline: whoever holds the role now
        # Paged at the address of the role's assignee, else of the roster's person for the role
        # (their routing key leads to the role's PagerDuty service, whoever is on call there).
        addressee = person if role in s.assignments else ctx.policy.person(role)
        email = addressee.email if addressee else s.assignments.get(role)
        dedup_key = page_key(ctx.incident_id, role, email if role in s.assignments else None)
        request = PageRequest(
            incident_id=ctx.incident_id,
            role=role,
            person=email,
            dedup_key=dedup_key,
            severity=s.decision.severity,
            summary=s.summary,
            source=s.source,
            details={"reasons": "; ".join(s.decision.reasons), "impact": s.impact},
        )
        try:
            result = await watched(
                ctx, PagingActivities.page_role, request, what=f"page the {role.title}", options=PAGING
            )
            outcome, detail = result.outcome, result.detail
        except ActivityError as e:
            outcome, detail = "failed", failure(e)
        who = f"{role.title} ({person.name})" if person else role.title
        ctx.note(OUTCOME_KIND[outcome], f"paged {who}" if outcome == "paged" else f"{who}: {detail}")
        return Page(
            role=role, person=email, dedup_key=dedup_key, outcome=outcome, detail=detail, at=workflow.now()
        )
