"""What the `status` query answers: the incident as a person needs it, from its state
(plan/status.py, the one function a rerun answers it with too), and its compliance card."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from plan.compliance import ComplianceCard, card
    from plan.incident import IncidentStatus
    from plan.status import status_of
    from workflows.router import Router


def of(ctx: Router) -> IncidentStatus:
    """Everything `status` answers, from the state."""
    return status_of(ctx.incident_id, ctx.state, ctx.policy)


def compliance(ctx: Router, now: datetime) -> ComplianceCard | None:
    """The incident's compliance card at `now` under its pinned policy; None before the pin."""
    if ctx.policy is None:
        return None
    return card(of(ctx), ctx.policy, now)
