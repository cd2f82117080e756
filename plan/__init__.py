"""The Incident Response Plan as data and pure rules. Imports nothing of the rest of the house."""

from plan.alerts import Alert, AlertmanagerDelivery, Declaration
from plan.models import Person, Policy, Raci, Role, Severity
from plan.policy import PolicyError, load_policy, parse_policy
from plan.raci import Engagement, engagement
from plan.severity import SeverityDecision, classify_alerts, classify_declaration, classify_labels

__all__ = [
    "Alert",
    "AlertmanagerDelivery",
    "Declaration",
    "Engagement",
    "Person",
    "Policy",
    "PolicyError",
    "Raci",
    "Role",
    "Severity",
    "SeverityDecision",
    "classify_alerts",
    "classify_declaration",
    "classify_labels",
    "engagement",
    "load_policy",
    "parse_policy",
]
