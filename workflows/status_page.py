"""The public status page (§5.3): "investigating" for severities with customer impact, the
updates people choose to make public, and "resolved" at close."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.status_page import StatusPageActivities, StatusPageUpdate
    from plan import templates
    from workflows.context import IncidentContext
    from workflows.outside import outside

# §5.2 update status → §5.3 status page status.
PUBLIC_STATUS = {"ONGOING": "identified", "MITIGATED": "monitoring", "RESOLVED": "monitoring"}


class StatusPage:
    LANE = "status"

    def __init__(self, ctx: IncidentContext) -> None:
        self.ctx = ctx
        # What opening does instead for a private incident (workflows/statement.py: ask for approval).
        self.withheld: Callable[[], None] = lambda: None

    def open(self) -> None:
        """§5.3 Investigating, for severities with customer impact, once; a private incident's
        status page waits for its public statement to be approved."""
        if self.private():
            self.withheld()
            return
        self.ctx.later(self.LANE, self._open)

    def publish(self, status: str, title: str, body: str, component_status: str) -> None:
        if self.private():
            self.ctx.note(
                "status-page-withheld",
                f"status page not updated ({status}): a private incident says nothing public until "
                "its public statement is approved",
            )
            return
        self.ctx.later(self.LANE, self._publish, status, title, body, component_status)

    def private(self) -> bool:
        """A private incident whose public statement has not been made: nothing public."""
        return self.ctx.s.private and not self.ctx.s.public_statement

    async def post(self, status: str, title: str, body: str, component_status: str) -> None:
        """Update the status page now, in the caller's lane (an approved public statement)."""
        await self._publish(status, title, body, component_status)

    async def resolve(self) -> None:
        """§5.3 Resolved, now (from the close-out), if the incident ever reached the page."""
        if self.ctx.s.status_page_id:
            title, body = templates.status_page_resolved(
                self.ctx.s.decision.module or "PreSkool ERP", workflow.now()
            )
            await self._publish("resolved", title, body, "operational")

    async def _open(self) -> None:
        s, policy = self.ctx.s, self.ctx.policy
        if s.status_page_id or s.decision.severity not in policy.status_page.severities:
            return
        title, body = templates.status_page_investigating(self.ctx.cadence_minutes() or 30)
        await self._publish("investigating", title, body, "degraded_performance")

    async def _publish(self, status: str, title: str, body: str, component_status: str) -> None:
        ctx, pages = self.ctx, self.ctx.policy.status_page
        component = pages.components.get(ctx.s.decision.module or "") or pages.default_component
        result = await outside(
            ctx,
            StatusPageActivities.publish_status,
            StatusPageUpdate(
                incident_id=ctx.incident_id,
                status=status,
                title=title,
                body=body,
                components={component: component_status} if component else {},
            ),
            what="update the status page",
        )
        if result and result.skipped:
            ctx.note("status-page-skipped", result.skipped)
        elif result:
            ctx.s.status_page_id = result.statuspage_incident_id
            ctx.note(
                "status-page",
                f"status page: {status} ({title})" + (f"; {result.note}" if result.note else ""),
            )
