"""An incident's compliance card from outside the worker (plan/compliance.py), for the CLI, the
report and the pages alike: the incident's own `compliance` query, under its pinned policy, as of
the caller's clock. An incident still served by a build from before that query (incidents are
pinned to their build) answers `status` only: its card is then computed here from that answer and
the policy this process loads, and said to be so."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel
from temporalio.client import WorkflowHandle, WorkflowQueryFailedError

from plan.compliance import ComplianceCard, card
from plan.models import Policy
from workflows import IncidentWorkflow


class Answer(BaseModel):
    """The card (None before the incident pinned its policy) and how it was made: `note` is empty
    when the incident computed it under its pinned policy."""

    card: ComplianceCard | None
    note: str = ""


async def compliance_of(
    handle: WorkflowHandle, now: datetime, fallback: Callable[[], Policy] | None = None
) -> Answer:
    """The card of `handle`'s incident as of `now` (UTC). `fallback` loads the policy to judge by
    when the incident's build has no `compliance` query (None: its WorkflowQueryFailedError is
    raised); a policy that fails to load raises as the worker's would (plan/policy.py)."""
    try:
        return Answer(card=await handle.query(IncidentWorkflow.compliance, now))
    except WorkflowQueryFailedError as e:
        if fallback is None or "compliance" not in str(e):
            raise
    status = await handle.query(IncidentWorkflow.status)
    return Answer(
        card=card(status, fallback(), now),
        note="this incident's build predates the compliance query: judged here by this process's "
        "policy, which may differ from the one it pinned",
    )
