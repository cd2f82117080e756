"""What the `status` query answers (plan/incident.py IncidentStatus), from an incident's state and
its pinned policy. Pure: the workflow's query (workflows/status.py) and a rerun (plan/rerun.py,
`irp whatif`) answer it with the same function, so compliance (plan/compliance.py) reads both
alike."""

from __future__ import annotations

from plan import holders
from plan.incident import IncidentState, IncidentStatus, RoleAssignment
from plan.models import Policy
from plan.outward import keyed


def roles(state: IncidentState, policy: Policy | None) -> list[RoleAssignment]:
    """Each role the RACI engages at the severity, and who holds it; none before the severity."""
    engaged = holders.engaged(state, policy) if policy else None
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
            person=(p := holders.holder(state, policy, role)) and p.email,
            name=p and p.name,
            checklist_done=state.checklists.get(role, []),
        )
        for role, letter in engaged.letters.items()
    ]


def status_of(incident_id: str, s: IncidentState, policy: Policy | None) -> IncidentStatus:
    """Everything `status` answers, from the state."""
    return IncidentStatus(
        incident_id=incident_id,
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
        roles=roles(s, policy),
        channel=s.bridge.channel,
        channel_id=s.bridge.channel_id,
        paged=s.paged,
        deliveries=s.deliveries,
        blast_radius=s.blast_radius,
        cadence=s.cadence,
        status_page_id=s.status_page_id,
        outward_id=keyed(incident_id, s.outward_id),
        private=s.private,
        pin_emoji=policy.pin_emoji if policy else "pushpin",
        resolution=s.resolution,
        gate_runs=s.gate_runs,
        requests=list(s.requests.values()),
        deliverables=s.ledger,
        tickets=s.tickets,
        runs=s.runs,
        refusals_not_kept=s.refusals.dropped if s.refusals else 0,
        timeline_not_kept=s.timeline_dropped,
        drill_clock=s.drill_clock,
        timeline=s.timeline,
    )
