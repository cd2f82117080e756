"""The incident's Alertmanager group (§4.1 Detection, §6): what each delivery says, evaluated —
not just counted. Every delivery re-walks §6 over the group's firing alerts and may raise the
severity (never lower it); the group's truth is kept per alert, so a replica's late retry of a
firing already resolved is noted and nothing more."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from plan import SeverityDecision, classify_alerts
    from plan.alert_digest import AlertDigest
    from plan.start import alert_starts
    from workflows.bridge import Bridge
    from workflows.context import IncidentContext
    from workflows.lifecycle import Lifecycle

# Fingerprints whose resolution the incident remembers (the oldest are forgotten first).
REMEMBERED = 10_000


class AlertGroup:
    def __init__(self, ctx: IncidentContext, bridge: Bridge, lifecycle: Lifecycle) -> None:
        self.ctx, self.bridge, self.lifecycle = ctx, bridge, lifecycle
        # Data found at risk after the incident opened (workflows/statement.py: private from then on).
        self.at_risk: Callable[[], None] = lambda: None

    def detected(self, delivery: AlertDigest) -> None:
        """The delivery that opens the incident."""
        s = self.ctx.s
        s.summary, s.impact, s.source, s.runbook = (
            delivery.summary,
            delivery.impact,
            delivery.source,
            delivery.runbook,
        )
        self._remember(delivery)
        self.ctx.note("detected", f"Alertmanager: {s.summary}", by="alertmanager")
        self.lifecycle.began(alert_starts(delivery), "alert")
        self.lifecycle.decide(classify_alerts(delivery.label_sets, self.ctx.policy.triage))

    def later_delivery(self, delivery: AlertDigest) -> None:
        s = self.ctx.s
        stale = delivery.stale(s.alerts_ended)
        self._remember(delivery)
        truncated = f" ({delivery.truncated:,} truncated by Alertmanager)" if delivery.truncated else ""
        self.ctx.note(
            "delivery",
            f"Alertmanager delivery #{s.deliveries} ({delivery.status}): "
            f"{delivery.firing_in_group:,} firing{truncated}, {delivery.resolved:,} resolved",
            by="alertmanager",
        )
        if stale or s.resolution:
            self.ctx.note(
                "stale",
                "every firing alert in it was already seen resolved (a late retry, e.g. "
                "from another Alertmanager replica): nothing to do",
            )
            return
        if not delivery.firing and not s.alerts_resolved:
            s.alerts_resolved = True
            self.bridge.post(
                "✅ All alerts in this group resolved — ready to verify (§4.5). "
                "The incident stays open until someone sends `resolve`.",
                "alerts-resolved",
            )
        elif delivery.firing and s.alerts_resolved:
            s.alerts_resolved = False
            self.bridge.post(f"🔁 Alerts firing again: {delivery.summary}", "alerts-firing")
        if delivery.firing:
            self.lifecycle.began_earlier(alert_starts(delivery), f"Alertmanager delivery #{s.deliveries}")
            self._reevaluate(delivery)

    def _reevaluate(self, delivery: AlertDigest) -> None:
        """§6 over the group as it is now: a worse result raises the severity, said with why."""
        s, before = self.ctx.s, self.ctx.s.decision
        now = classify_alerts(delivery.label_sets, self.ctx.policy.triage)
        worse = now.severity.rank < before.severity.rank
        if not worse and not (now.data_at_risk and not before.data_at_risk):
            return
        severity = now.severity if worse else before.severity
        above = f", above the {s.declared_severity_by}" if s.declared_severity_by and worse else ""
        why = "; ".join(now.reasons)
        raised = SeverityDecision(
            severity=severity,
            data_at_risk=before.data_at_risk or now.data_at_risk,
            module=now.module or before.module,
            reasons=[f"raised by Alertmanager delivery #{s.deliveries}{above}: {why}"],
        )
        said = f"Severity {before.severity} → {severity}" if worse else "Data at risk"
        if raised.data_at_risk and not before.data_at_risk:
            self.at_risk()
        self.lifecycle.change_severity(
            raised, f"⚠️ {said} after Alertmanager delivery #{s.deliveries}{above}: {why}"
        )

    def _remember(self, delivery: AlertDigest) -> None:
        ended = self.ctx.s.alerts_ended
        for fingerprint, at in delivery.ended.items():
            ended[fingerprint] = max(at, ended.pop(fingerprint, at))  # re-inserted: the newest last
        while len(ended) > REMEMBERED:
            ended.pop(next(iter(ended)))
