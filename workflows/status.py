"""What the `status` query answers: the incident as a person needs it, from its state."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from plan.compliance import ComplianceCard, card
    from plan.incident import IncidentStatus, RoleAssignment
    from plan.outward import keyed
    from workflows.router import Router


def roles(ctx: Router) -> list[RoleAssignment]:
    """Each role the RACI engages at the severity, and who holds it; none before the severity."""
    engaged = ctx.engaged
    if not engaged:
        return []
    how = {
        **{r: "informed" for r in engaged.inform},
        **{r: "invited" for r in engaged.invite},
        **{r: "paged" for r in engaged.page},
    }
    return [
        RoleAssignment(
            role=role,
            letter=letter,
            engaged=how.get(role, "none"),
            person=(p := ctx.holder(role)) and p.email,
            name=p and p.name,
        )
        for role, letter in engaged.letters.items()
    ]


def of(ctx: Router) -> IncidentStatus:
    """Everything `status` answers, from the state."""
    s = ctx.state
    return IncidentStatus(
        incident_id=ctx.incident_id,
        severity=s.decision.severity if s.decision else None,
        severity_reasons=s.decision.reasons if s.decision else [],
        phase=s.phase,
        phases=s.phases,
        summary=s.summary,
        impact=s.impact,
        started_at=s.started_at,
        received_at=s.received_at or s.started_at,
        acknowledged_by=s.acknowledged_by,
        acknowledged_at=s.acknowledged_at,
        roles=roles(ctx),
        channel=s.bridge.channel,
        channel_id=s.bridge.channel_id,
        paged=s.paged,
        deliveries=s.deliveries,
        blast_radius=s.blast_radius,
        cadence=s.cadence,
        status_page_id=s.status_page_id,
        outward_id=keyed(ctx.incident_id, s.outward_id),
        private=s.private,
        pin_emoji=ctx.policy.pin_emoji if ctx.policy else "pushpin",
        resolution=s.resolution,
        gate_runs=s.gate_runs,
        requests=list(s.requests.values()),
        deliverables=s.ledger,
        tickets=s.tickets,
        runs=s.runs,
        refusals_not_kept=s.refusals.dropped if s.refusals else 0,
        timeline_not_kept=s.timeline_dropped,
        timeline=s.timeline,
    )


def compliance(ctx: Router, now: datetime) -> ComplianceCard | None:
    """The incident's compliance card at `now` under its pinned policy; None before the pin."""
    if ctx.policy is None:
        return None
    return card(of(ctx), ctx.policy, now)
