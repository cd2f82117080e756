"""Paging the roles the RACI says to page (§3, §6)."""

from __future__ import annotations

import asyncio
from typing import Literal, Protocol

from pydantic import BaseModel
from temporalio import activity

from plan import Policy, Role, Severity


class Pager(Protocol):
    name: str

    def trigger(self, *, routing_key: str, dedup_key: str, summary: str, source: str, severity: str,
                custom_details: dict, links: list[dict]) -> str: ...

    def resolve(self, *, routing_key: str, dedup_key: str) -> str: ...


class PageRequest(BaseModel):
    incident_id: str
    role: Role
    person: str | None = None
    dedup_key: str
    severity: Severity
    summary: str
    source: str
    details: dict[str, str] = {}
    links: dict[str, str] = {}


class ResolvePage(BaseModel):
    role: Role
    person: str | None = None
    dedup_key: str


class PageResult(BaseModel):
    outcome: Literal["paged", "resolved", "skipped"]
    detail: str = ""


class PagingActivities:
    """Routing keys are secrets: they stay in the worker's policy and environment, never in
    workflow history. The workflow names a role; this finds the person's key."""

    def __init__(self, pager: Pager | None, policy: Policy, default_routing_key: str | None):
        self.pager, self.policy, self.default_routing_key = pager, policy, default_routing_key

    def _routing_key(self, role: Role, email: str | None) -> str | None:
        """The paged person's own key (by email, else the role's roster entry), else the default."""
        person = next((p for p in self.policy.roster.values() if email and p.email.lower() == email.lower()),
                      None if email else self.policy.person(role))
        own = person.pagerduty_routing_key.get_secret_value() if person and person.pagerduty_routing_key else ""
        return own or self.default_routing_key

    @activity.defn
    async def page_role(self, request: PageRequest) -> PageResult:
        if self.pager is None:
            return PageResult(outcome="skipped", detail="skipped: pagerduty not configured")
        routing_key = self._routing_key(request.role, request.person)
        if not routing_key:
            return PageResult(outcome="skipped", detail=f"skipped: no PagerDuty routing key for {request.role.value}")
        await asyncio.to_thread(
            self.pager.trigger, routing_key=routing_key, dedup_key=request.dedup_key,
            summary=f"[{request.severity}] {request.summary}", source=request.source,
            severity=request.severity.value,
            custom_details={"incident_id": request.incident_id, "role": request.role.title, **request.details},
            links=[{"href": href, "text": text} for text, href in request.links.items()],
        )
        activity.logger.info("paged %s through %s (dedup key %s)", request.role.value, self.pager.name, request.dedup_key)
        return PageResult(outcome="paged", detail=f"{self.pager.name} dedup_key={request.dedup_key}")

    @activity.defn
    async def resolve_page(self, request: ResolvePage) -> PageResult:
        """§4.5 step 5: close the PagerDuty alert the incident opened (same dedup key)."""
        routing_key = self._routing_key(request.role, request.person)
        if self.pager is None or not routing_key:
            return PageResult(outcome="skipped", detail="skipped: pagerduty not configured")
        await asyncio.to_thread(self.pager.resolve, routing_key=routing_key, dedup_key=request.dedup_key)
        return PageResult(outcome="resolved", detail=f"resolved dedup_key={request.dedup_key}")
