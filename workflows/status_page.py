"""The public status page (§5.3), as a lane: "investigating" for severities with customer
impact, the updates people made public, "resolved" at close, and a private incident's approved
public statement. Whether to say anything public is decided before (plan/decide/); this lane
says it, and records what came of it (plan/decide/outcomes.py)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.status_page import StatusPageActivities, StatusPageUpdate
    from plan import templates
    from plan.decide import outcomes
    from plan.decide.common import cadence_minutes
    from plan.decision import Draft
    from workflows.outside import outside

LANE = "status"


async def open_(r) -> None:
    """§5.3 Investigating, once, for the severities the status page covers."""
    s = r.state
    if s.status_page_id or s.decision.severity not in r.policy.status_page.severities:
        return
    every = cadence_minutes(Draft(s, r.given()))
    title, body = templates.status_page_investigating(every or 30)
    await publish(r, "investigating", title, body, "degraded_performance")


async def resolve(r) -> None:
    """§5.3 Resolved, now (from the close-out), if the incident ever reached the page."""
    if r.state.status_page_id:
        title, body = templates.status_page_resolved(r.state.decision.module or "PreSkool ERP", r.now())
        await publish(r, "resolved", title, body, "operational")


async def publish(r, status: str, title: str, body: str, component_status: str) -> None:
    pages = r.policy.status_page
    component = pages.components.get(r.state.decision.module or "") or pages.default_component
    result = await outside(
        r,
        StatusPageActivities.publish_status,
        StatusPageUpdate(
            incident_id=r.key_id,
            status=status,
            title=title,
            body=body,
            components={component: component_status} if component else {},
        ),
        what="update the status page",
    )
    if result:
        r.decide(
            outcomes.status_page, result.statuspage_incident_id, status, title, result.note, result.skipped
        )
