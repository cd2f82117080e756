"""Private incidents (issue 16): data at risk (§6) or a declaration marked private is worked on a
need-to-know basis. Its details go to no public place until a public statement is approved
(§7: statements to press and public only with the IC's explicit approval).

Every outward path (issue 23 case 4) asks here what it may carry: pages (PagerDuty shows them to
every user of the account, its Slack app and phone lock screens), Jira tickets, the worker's log
lines, Temporal's memo, search attributes and details. A private incident's carry its id and
severity only; the incident itself (its timeline, the `status` query) and the private bridge keep
everything. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable

from plan.alerts import Alert, Declaration
from plan.models import PUBLIC_STATEMENT_ACTION
from plan.severity import firing, labels_data_at_risk

__all__ = [
    "PRIVATE_SUMMARY",
    "PUBLIC_STATEMENT_ACTION",
    "alerts_private",
    "declaration_private",
    "is_private",
    "log_text",
    "page_content",
    "shown_summary",
    "ticket_content",
]

# What a private incident shows where its summary would be (Web UI list, memo, details).
PRIVATE_SUMMARY = "private incident"
# A private incident's page names this source, not the alert's instance or job (they may name a
# school's host).
PRIVATE_SOURCE = "preskool-irp"


def is_private(*, data_at_risk: bool, declared_private: bool) -> bool:
    """The one rule: an incident is private when data is at risk or a person declared it so."""
    return data_at_risk or declared_private


def alerts_private(alerts: Iterable[Alert]) -> bool:
    """Whether an alert group opens a private incident (the receiver asks, before §6 is walked
    with the policy; the same label rule the decision tree uses)."""
    at_risk = any(labels_data_at_risk(a.labels) for a in firing(alerts))
    return is_private(data_at_risk=at_risk, declared_private=False)


def declaration_private(declaration: Declaration) -> bool:
    """Whether a declaration opens a private incident."""
    return is_private(data_at_risk=False, declared_private=declaration.private)


def shown_summary(summary: str, private: bool) -> str:
    """The summary as a public place may show it."""
    return PRIVATE_SUMMARY if private else summary


def page_content(
    incident_id: str, *, summary: str, source: str, details: dict[str, str], private: bool
) -> tuple[str, str, dict[str, str]]:
    """(summary, source, details) a page carries (the pager puts "[P0] " before the summary). A
    private incident's: "private incident inc-…: details in the private bridge", our own name as
    the source, and no details (no impact, module, tenant or §6 reasons)."""
    if not private:
        return summary, source, details
    return f"{PRIVATE_SUMMARY} {incident_id}: details in the private bridge", PRIVATE_SOURCE, {}


def ticket_content(
    incident_id: str, key: str, *, title: str, description: str, private: bool
) -> tuple[str, str]:
    """(title, description) of a §8 Jira ticket (`key`: "postmortem", "action-item-3", …). Jira is
    read by everyone with access to the project: a private incident's ticket names its kind and
    the incident, and says where the details are."""
    if not private:
        return title, description
    kind = key.replace("-", " ").capitalize()
    return (
        f"{kind}: {PRIVATE_SUMMARY} {incident_id}",
        f"{kind} for {PRIVATE_SUMMARY} {incident_id} (need-to-know). Its details are in the private "
        f"bridge and in the incident itself (`irp status {incident_id}`), not in Jira.",
    )


def log_text(text: str, private: bool) -> str:
    """A timeline line as the worker logs it: a private incident's are not logged (log pipelines
    are read widely); its timeline has them."""
    return "(private incident: see its timeline)" if private else text
