"""§8 Post-Incident SLAs as a ledger: what is owed after resolution, by whom, by when, and the
moments its owner is reminded. Pure: the workflow keeps the ledger and its clock."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from plan.models import Email, Policy, Role, Severity
from plan.signals import HumanInput

DeliverableState = Literal["pending", "done", "overdue", "waived"]


class Deliverable(BaseModel):
    key: str
    title: str
    owner: Role
    due_at: datetime
    optional: bool = False
    state: DeliverableState = "pending"
    link: str | None = None
    closed_by: str | None = None
    closed_at: datetime | None = None
    reason: str | None = None
    reminders: list[datetime] = []
    reminded: int = 0
    escalated: bool = False

    @property
    def open(self) -> bool:
        return self.state in ("pending", "overdue")


class CompleteDeliverable(HumanInput):
    deliverable: str
    link: str = Field(min_length=1, max_length=2000)


class WaiveDeliverable(HumanInput):
    deliverable: str
    reason: str = Field(min_length=1, max_length=1000)


class AddActionItem(HumanInput):
    title: str = Field(min_length=1, max_length=250)
    owner: Email
    due: date | None = Field(default=None, description="YYYY-MM-DD")


class EditCustomerEmail(HumanInput):
    """Fields of the §5.4 draft the Communications Lead may change before approving it."""

    affected: str | None = Field(default=None, min_length=1, max_length=2000)
    root_cause: str | None = Field(default=None, min_length=1, max_length=2000)
    resolution: str | None = Field(default=None, min_length=1, max_length=2000)
    preventive_actions: str | None = Field(default=None, min_length=1, max_length=2000)
    courtesy_days: str | None = Field(default=None, pattern=r"^\d{1,3}$")


def open_ledger(policy: Policy, severity: Severity, resolved_at: datetime) -> list[Deliverable]:
    """The §8 rows that apply to this incident, each due its SLA after resolution."""
    ledger = []
    for key, row in policy.deliverables.items():
        if not row.applicable or (row.severities is not None and severity not in row.severities):
            continue
        due = resolved_at + row.sla
        moments = [resolved_at + row.sla * f for f in policy.reminders.at_fractions]
        moments += [due - before for before in policy.reminders.before if due - before > resolved_at]
        ledger.append(
            Deliverable(
                key=key,
                title=row.title,
                owner=row.owner,
                due_at=due,
                optional=row.optional,
                reminders=sorted(set(moments)),
            )
        )
    return ledger


def next_moment(ledger: list[Deliverable]) -> datetime | None:
    """The next reminder or due time among the open deliverables."""
    moments = []
    for d in ledger:
        if d.state == "pending":
            moments += d.reminders[d.reminded :] + [d.due_at]
    return min(moments, default=None)


def ledger_closed(ledger: list[Deliverable]) -> bool:
    return all(not d.open for d in ledger)


def close(
    ledger: list[Deliverable],
    key: str,
    state: DeliverableState,
    by: str | None,
    at: datetime,
    link: str | None = None,
    reason: str | None = None,
) -> str:
    """Close the entry `key` (KeyError-free: the caller found it open) and say so for the timeline."""
    entry = next(d for d in ledger if d.key == key)
    entry.state, entry.closed_by, entry.closed_at, entry.link, entry.reason = state, by, at, link, reason
    return f"{entry.title}: {state} by {by}" + (f" ({link or reason})" if link or reason else "")
