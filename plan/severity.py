"""§6 Escalation Decision Tree, as one pure function over alert labels.

Labels an alert may carry (all optional): ``irp_severity`` (P0–P3, a person's override),
``scope`` ("all" = every user affected), ``data_at_risk`` ("true"), ``module`` (auth, fees, …),
``severity`` (Alertmanager's critical/warning/info) and ``workaround`` ("false" escalates).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import BaseModel

from plan.alerts import Alert, Declaration
from plan.models import Severity, Triage


class SeverityDecision(BaseModel):
    severity: Severity
    reasons: list[str]
    data_at_risk: bool = False
    module: str | None = None


def labels_data_at_risk(labels: Mapping[str, str]) -> bool:
    """§6 "Is data at risk? (corruption, loss, leak)": the alert says `data_at_risk="true"`."""
    return labels.get("data_at_risk", "").lower() == "true"


def firing(alerts: Iterable[Alert]) -> list[Alert]:
    """The alerts a group is judged by: its firing ones, or all when none fires."""
    alerts = list(alerts)
    return [a for a in alerts if a.status == "firing"] or alerts


def classify_labels(labels: Mapping[str, str], triage: Triage) -> SeverityDecision:
    """Walk §6 top to bottom for one alert."""
    module = labels.get("module") or None
    data_at_risk = labels_data_at_risk(labels)
    override = labels.get("irp_severity", "").upper()
    if override in Severity.__members__:
        reasons = [f"irp_severity={override} set on the alert (a person's override wins)"]
        if data_at_risk:
            reasons.append("data at risk: IC, Database Lead and CTO are paged")
        return SeverityDecision(
            severity=Severity(override), reasons=reasons, data_at_risk=data_at_risk, module=module
        )

    if labels.get("scope", "").lower() == "all":
        severity, reasons = Severity.P0, ["affecting ALL users (scope=all) → P0"]
    elif data_at_risk:
        severity, reasons = Severity.P0, ["data at risk (corruption, loss, leak) → P0 regardless of scale"]
    elif module and module.lower() in triage.critical_modules:
        severity, reasons = Severity.P1, [f"critical module {module} broken → P1"]
    else:
        am = labels.get("severity", "").lower()
        severity = triage.alertmanager_severity.get(am, triage.default_severity)
        reasons = [f"Alertmanager severity={am} → {severity}" if am else f"no severity label → {severity}"]

    if data_at_risk:
        reasons.append("data at risk: IC, Database Lead and CTO are paged")
    if labels.get("workaround", "").lower() == "false" and severity is not Severity.P0:
        escalated = severity.escalated()
        reasons.append(f"no workaround → escalated {severity} → {escalated}")
        severity = escalated
    return SeverityDecision(severity=severity, reasons=reasons, data_at_risk=data_at_risk, module=module)


def classify_alerts(alerts: Iterable[Alert], triage: Triage) -> SeverityDecision:
    """A group is as severe as its most severe firing alert; data at risk anywhere counts.
    `alerts` are Alerts or a digest's LabelSets (anything with status, labels and name)."""
    judged = firing(alerts)
    if not judged:
        raise ValueError("an alert group needs at least one alert")
    decisions = [(classify_labels(a.labels, triage), a) for a in judged]
    worst, alert = min(decisions, key=lambda d: d[0].severity.rank)
    reasons = list(worst.reasons)
    count = sum(getattr(a, "count", 1) for a in judged)  # a digest's label set stands for `count` alerts
    if count > 1:
        reasons.append(f"most severe of {count:,} firing alerts: {alert.name}")
    return worst.model_copy(
        update={
            "reasons": reasons,
            "data_at_risk": any(d.data_at_risk for d, _ in decisions),
        }
    )


def classify_declaration(declaration: Declaration, triage: Triage) -> SeverityDecision:
    """A declared incident takes the declarer's severity, or walks the tree on its module."""
    labels = {"module": declaration.module or ""}
    if declaration.severity:
        labels["irp_severity"] = declaration.severity.value
    decision = classify_labels(labels, triage)
    if declaration.severity:
        decision.reasons = [f"declared {declaration.severity} by {declaration.reporter}"]
    elif not declaration.module:
        decision.reasons = [
            f"declared by {declaration.reporter} with neither a severity nor a module: the plan's "
            f"default, {decision.severity} (§6); the IC re-declares it (`irp severity`), or declare "
            "with --severity, or --module for a critical module"
        ]
    elif decision.reasons and decision.reasons[0].startswith("no severity label"):
        decision.reasons = [
            f"declared by {declaration.reporter} for module {declaration.module}, which is not critical, "
            f"with no severity: {decision.severity} (§6)"
        ]
    return decision
