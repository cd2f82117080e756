"""The paging port: paging the people the RACI says to page (§3, §6), and closing those pages
at resolution (§4.5). Providers: paging/pagerduty.py."""

from __future__ import annotations

import asyncio
from typing import Literal, Protocol

from pydantic import BaseModel
from temporalio import activity

from plan import Policy, Role, Severity
from plan.models import Person


class Pager(Protocol):
    """A paging service. Methods block (they run in a thread); errors are `try_again` /
    `give_up` (activities/errors.py). A repeated `dedup_key` must not page twice."""

    name: str

    def unreachable(self, person: Person | None) -> str | None:
        """Why this pager cannot page `person` (None: whoever holds no own address), e.g. "no
        PagerDuty routing key"; None when it can."""
        ...

    def trigger(
        self,
        *,
        person: Person | None,
        dedup_key: str,
        summary: str,
        source: str,
        severity: Severity,
        details: dict[str, str],
        links: dict[str, str],
    ) -> str:
        """Page `person` (`links`: text -> href); the provider's answer, for the log."""
        ...

    def resolve(self, *, person: Person | None, dedup_key: str) -> str:
        """Close the page `trigger` opened with the same `dedup_key`."""
        ...


class PageRequest(BaseModel):
    """Page the holder of `role` (or `person`, an email, when the role was assigned)."""

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
    """Close one page, by the dedup key it was opened with."""

    role: Role
    person: str | None = None
    dedup_key: str


class PageResult(BaseModel):
    """`detail` says what happened, or why nothing did."""

    outcome: Literal["paged", "resolved", "skipped"]
    detail: str = ""


class PagingActivities:
    """Paging through `pager`, or None when no provider is configured (`missing` names what is
    missing in the skip note). The pager's addresses for people (PagerDuty's routing keys) are
    secrets: they stay in the worker's policy and environment, never in workflow history. The
    workflow names a role; this finds the person in the worker's `policy`, the pager their address."""

    def __init__(self, pager: Pager | None, policy: Policy, *, missing: str = "paging"):
        self.pager, self.policy, self.missing = pager, policy, missing

    def _person(self, role: Role, email: str | None) -> Person | None:
        """The paged person: by email in the roster (None if not there), else the role's holder."""
        if not email:
            return self.policy.person(role)
        return next((p for p in self.policy.roster.values() if p.email.lower() == email.lower()), None)

    @activity.defn
    async def page_role(self, request: PageRequest) -> PageResult:
        """Page once per dedup key however often it is retried; skipped when nobody can be paged."""
        if self.pager is None:
            return PageResult(outcome="skipped", detail=f"skipped: {self.missing} not configured")
        person = self._person(request.role, request.person)
        if reason := self.pager.unreachable(person):
            return PageResult(outcome="skipped", detail=f"skipped: {reason} for {request.role.value}")
        await asyncio.to_thread(
            self.pager.trigger,
            person=person,
            dedup_key=request.dedup_key,
            summary=f"[{request.severity}] {request.summary}",
            source=request.source,
            severity=request.severity,
            details={"incident_id": request.incident_id, "role": request.role.title, **request.details},
            links=request.links,
        )
        activity.logger.info(
            "paged %s through %s (dedup key %s)", request.role.value, self.pager.name, request.dedup_key
        )
        return PageResult(outcome="paged", detail=f"{self.pager.name} dedup_key={request.dedup_key}")

    @activity.defn
    async def resolve_page(self, request: ResolvePage) -> PageResult:
        """§4.5 step 5: close the page the incident opened (same dedup key)."""
        person = self._person(request.role, request.person)
        if self.pager is None or self.pager.unreachable(person):
            missing = self.pager.name if self.pager else self.missing
            return PageResult(outcome="skipped", detail=f"skipped: {missing} not configured")
        await asyncio.to_thread(self.pager.resolve, person=person, dedup_key=request.dedup_key)
        return PageResult(outcome="resolved", detail=f"resolved dedup_key={request.dedup_key}")
