"""The public status page (§5.3): one Statuspage incident per incident of ours, kept up to date."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from temporalio import activity

from activities.statuspage import Statuspage


class StatusPageUpdate(BaseModel):
    incident_id: str  # ours, e.g. "inc-3f2a9c1b7d10"
    status: Literal["investigating", "identified", "monitoring", "resolved"]
    title: str
    body: str
    components: dict[str, str] = {}  # component id -> "degraded_performance" | ... | "operational"


class StatusPageResult(BaseModel):
    statuspage_incident_id: str | None = None
    created: bool = False
    skipped: str | None = None


class StatusPageActivities:
    def __init__(self, statuspage: Statuspage | None):
        self.statuspage = statuspage

    @activity.defn
    async def publish_status(self, update: StatusPageUpdate) -> StatusPageResult:
        """Create or update, found by our incident id each time, so every retry is safe: an update
        that is already there (its answer was lost) is not posted again, which would notify the
        page's subscribers twice."""
        if self.statuspage is None:
            return StatusPageResult(skipped="skipped: statuspage not configured")
        fields = {"name": update.title, "status": update.status, "body": update.body}
        found = await self.statuspage.find(update.incident_id)
        if found is None:
            created = await self.statuspage.create_incident(update.incident_id, components=update.components, **fields)
            return StatusPageResult(statuspage_incident_id=created, created=True)
        components = update.components
        if not components and update.status == "resolved":  # §5.3 Resolved: "Status: Operational"
            components = {c["id"]: "operational" for c in found.get("components") or []}
        if already_says(found, update, components):
            # Our earlier attempt did it; if that was the create, the incident has only its update.
            return StatusPageResult(statuspage_incident_id=found["id"],
                                    created=len(found.get("incident_updates") or []) <= 1)
        await self.statuspage.update_incident(found["id"], components=components, **fields)
        return StatusPageResult(statuspage_incident_id=found["id"])


def already_says(incident: dict, update: StatusPageUpdate, components: dict[str, str]) -> bool:
    updates = incident.get("incident_updates") or []
    latest = max(updates, key=lambda u: datetime.fromisoformat(u["created_at"]), default={})
    now = {c["id"]: c.get("status") for c in incident.get("components") or []}
    return (incident.get("name") == update.title and incident.get("status") == update.status
            and latest.get("body") == update.body and all(now.get(k) == v for k, v in components.items()))
