"""The status page port (§5.3): one public incident per incident of ours, kept up to date, each
update posted once however often the activity is retried. Providers: status_page/statuspage.py."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel
from temporalio import activity


class StatusPageUpdate(BaseModel):
    """What the public page should say now about one incident of ours."""

    incident_id: str  # ours, e.g. "inc-3f2a9c1b7d10"
    status: Literal["investigating", "identified", "monitoring", "resolved"]
    title: str
    body: str
    components: dict[str, str] = {}  # component id -> "degraded_performance" | ... | "operational"


class StatusPageResult(BaseModel):
    """The provider's id of the public incident; `created` when this call (or a lost earlier
    attempt of it) opened it."""

    statuspage_incident_id: str | None = None
    created: bool = False
    skipped: str | None = None
    note: str | None = None  # what was left out to get the update through (an unknown component)


class StatusPage(Protocol):
    """A public status page. Errors are `try_again` / `give_up` (activities/errors.py)."""

    name: str

    async def publish(self, update: StatusPageUpdate) -> StatusPageResult:
        """Create the page's incident for `update.incident_id`, or update the one it has. Safe to
        repeat: the provider finds its incident by our id, and an update the page already shows
        (its answer was lost) is not posted again, which would notify subscribers twice. A
        resolve without components sets the incident's components operational."""
        ...


class StatusPageActivities:
    """The status page on `page`, or None when no provider is configured (`missing` names what
    is missing in the skip note)."""

    def __init__(self, page: StatusPage | None, *, missing: str = "status page"):
        self.page, self.missing = page, missing

    @activity.defn
    async def publish_status(self, update: StatusPageUpdate) -> StatusPageResult:
        """Create or update our incident on the public page, once (see `StatusPage.publish`)."""
        if self.page is None:
            return StatusPageResult(skipped=f"skipped: {self.missing} not configured")
        return await self.page.publish(update)
