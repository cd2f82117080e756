"""Private incidents (issue 16): data at risk (§6) or a declaration marked private is worked on a
need-to-know basis. Its details go to no public place until a public statement is approved
(§7: statements to press and public only with the IC's explicit approval)."""

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
    "shown_summary",
]

# What a private incident shows where its summary would be (Web UI list, memo, details).
PRIVATE_SUMMARY = "private incident"


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
