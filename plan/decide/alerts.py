"""§4.1 Detection and §6 as deciders: what opens an incident (an Alertmanager delivery or a
person's declaration), when the problem began, whether it is private, and what each later
delivery of the group changes — evaluated, not just counted. Every delivery re-walks §6 over the
group's firing alerts and may raise the severity (never lower it); the group's truth is kept per
alert, so a replica's late retry of a firing already resolved is noted and nothing more. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta

from plan import Declaration, SeverityDecision, classify_alerts, classify_declaration, templates
from plan.alert_digest import AlertDigest
from plan.decide.common import minutes
from plan.decide.lifecycle import change_severity, decide_severity, retime_cadence
from plan.decide.requests import open_status_page
from plan.decision import Draft
from plan.effects import Measure, OpenBridge, Page
from plan.events import EventKind as K
from plan.lifecycle import WINDOWED, phase_deadline, windows_passed
from plan.models import Phase
from plan.privacy import is_private
from plan.start import Source, Start, alert_starts, problem_start, start_line

REMEMBERED = 10_000  # fingerprints whose resolution the incident remembers (the oldest forgotten first)


# --- what opens it --------------------------------------------------------------------------------


def detected(d: Draft, delivery: AlertDigest) -> None:
    """The delivery that opens the incident: its summary, its start, its severity."""
    s = d.s
    s.summary, s.impact, s.source, s.runbook = (
        delivery.summary,
        delivery.impact,
        delivery.source,
        delivery.runbook,
    )
    _remember(d, delivery)
    d.note(K.detected, f"Alertmanager: {s.summary}", by="alertmanager")
    began(d, alert_starts(delivery), "alert")
    decide_severity(d, classify_alerts(delivery.label_sets, d.policy.triage))


def declared(d: Draft, declaration: Declaration) -> None:
    """A person's declaration (§4.1: a customer report, a health check)."""
    s = d.s
    s.summary, s.impact, s.source = declaration.summary, declaration.impact, declaration.source
    s.private = s.private or declaration.private  # from its first line: nothing of it is logged
    d.note(
        K.detected,
        f"declared by {declaration.reporter} ({declaration.source}): {declaration.summary}",
        by=declaration.reporter,
    )
    began(
        d,
        [declaration.started_at] if declaration.started_at else [],
        "declared",
        f" by {declaration.reporter}",
    )
    decide_severity(d, classify_declaration(declaration, d.policy.triage))


def opened(d: Draft, declared_private: bool) -> None:
    """Everything the opening does, decided at once (so it costs one workflow task): private or
    not, before anything is said anywhere; pages first; the bridge; the triage checklist; windows
    that had passed before we heard; the status page (or, private, its statement's request); the
    cadence."""
    private(d, declared_private)
    engaged = d.engaged
    d.effect(Measure("irp_incidents_opened", d.s.decision.severity), Page(tuple(engaged.page)), OpenBridge())
    _triage_checklist(d)
    say_windows_passed(d)
    open_status_page(d)
    retime_cadence(d)


def private(d: Draft, declared: bool) -> None:
    """Data at risk, or declared private (plan/privacy.py): need-to-know from the start."""
    if not is_private(data_at_risk=d.s.decision.data_at_risk, declared_private=declared):
        return
    d.s.private = True
    why = "declared private" if declared else "data at risk (§6)"
    d.note(
        K.private,
        f"private incident ({why}): a private bridge for the people engaged; nothing public "
        "(status page, search attributes, memo) until a public statement is approved",
    )


def _triage_checklist(d: Draft) -> None:
    """§4.2, in the opening's thread, with links around the incident's start."""
    s, links = d.s, d.policy.links
    start_ms = int((s.started_at - timedelta(minutes=30)).timestamp() * 1000)
    d.post(
        "triage-checklist",
        templates.triage_checklist(
            runbook=s.runbook or links.runbooks,
            severity=s.decision.severity.value,
            grafana=f"{links.grafana_slo}?from={start_ms}&to=now",
            loki=f"{links.loki}?from={start_ms}&to=now",
            jaeger=f"{links.jaeger}/search?start={start_ms * 1000}",
        ),
        thread=True,
    )


# --- when the problem began (plan/start.py) --------------------------------------------------------


def began(d: Draft, starts: list[datetime], source: Source, by: str = "") -> None:
    """The problem's start, from the first delivery's firing alerts or the declaration, kept
    beside the receipt (`received_at`)."""
    s = d.s
    s.received_at = s.received_at or s.started_at
    if not starts and source == "declared":  # nobody said when: it began when it was declared
        return
    _moved(d, problem_start(starts, s.received_at, source=source), source, by)


def began_earlier(d: Draft, starts: list[datetime], what: str) -> None:
    """A later delivery whose alerts began before the known start moves it earlier (never later);
    the §4 windows that have passed because of it are said once."""
    s = d.s
    if s.resolution:
        return
    start = problem_start(starts, d.now, known=s.started_at)
    if start.moved:
        _moved(d, start, "alert", prefix=f"{what} shows an earlier start: ")
        say_windows_passed(d, f"{what} moved the start earlier: we are now")


def _moved(d: Draft, start: Start, source: Source, by: str = "", prefix: str = "") -> None:
    s = d.s
    s.started_at, s.start_believed = start.at, start.believed
    s.phases = {**s.phases, Phase.DETECTION: start.at}
    d.note(K.start, prefix + start_line(start, s.received_at, source, by))
    for line in start.said:
        d.note(K.start, line)


def say_windows_passed(d: Draft, how: str = "") -> None:
    """Once, plainly: the §4 windows (counted from the problem's start) that had ended before we
    could act, marked so none of them nudges later. The unanswered page still escalates, counted
    from the page."""
    s, policy, now = d.s, d.policy, d.now
    if s.resolution:
        return
    passed = [p for p in windows_passed(policy, s.started_at, now) if p not in s.windows_nudged]
    if not passed:
        return
    s.windows_nudged = [*s.windows_nudged, *passed]
    names = [(p.value, minutes(getattr(policy.phase_windows, p.value))) for p in passed]
    d.note(K.windows_passed, "passed before we could act: " + ", ".join(f"{p} ({m} min)" for p, m in names))
    upcoming = next((p for p in WINDOWED if phase_deadline(policy, s.started_at, p) > now), None)
    ends = (
        f"{upcoming}'s ends at {phase_deadline(policy, s.started_at, upcoming):%H:%M} UTC" if upcoming else ""
    )
    declared = "This incident was declared" if s.declaration_digest else "This alert reached us"
    d.post(
        "windows-passed",
        templates.windows_passed_on_arrival(
            late_by=now - s.started_at,
            started_at=s.started_at,
            passed=names,
            how=how or declared,
            ends=ends,
        ),
    )


# --- later deliveries ------------------------------------------------------------------------------


def later_delivery(d: Draft, delivery: AlertDigest) -> None:
    s = d.s
    stale = delivery.stale(s.alerts_ended)
    _remember(d, delivery)
    truncated = f" ({delivery.truncated:,} truncated by Alertmanager)" if delivery.truncated else ""
    d.note(
        K.delivery,
        f"Alertmanager delivery #{s.deliveries} ({delivery.status}): "
        f"{delivery.firing_in_group:,} firing{truncated}, {delivery.resolved:,} resolved",
        by="alertmanager",
    )
    if stale or s.resolution:
        d.note(
            K.stale,
            "every firing alert in it was already seen resolved (a late retry, e.g. from "
            "another Alertmanager replica): nothing to do",
        )
        return
    if not delivery.firing and not s.alerts_resolved:
        s.alerts_resolved = True
        d.post(
            "alerts-resolved",
            "✅ All alerts in this group resolved — ready to verify (§4.5). "
            "The incident stays open until someone sends `resolve`.",
        )
    elif delivery.firing and s.alerts_resolved:
        s.alerts_resolved = False
        d.post("alerts-firing", f"🔁 Alerts firing again: {delivery.summary}")
    if delivery.firing:
        began_earlier(d, alert_starts(delivery), f"Alertmanager delivery #{s.deliveries}")
        _reevaluate(d, delivery)


def _reevaluate(d: Draft, delivery: AlertDigest) -> None:
    """§6 over the group as it is now: a worse result raises the severity, said with why."""
    s, before = d.s, d.s.decision
    now = classify_alerts(delivery.label_sets, d.policy.triage)
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
        turned_private(d)
    change_severity(d, raised, f"⚠️ {said} after Alertmanager delivery #{s.deliveries}{above}: {why}")


def turned_private(d: Draft) -> None:
    """Data found at risk after the incident opened: private from now on. What was already said
    stays said, but nothing more goes public until a statement is approved."""
    if d.s.private:
        return
    d.s.private = True
    d.note(K.private, "private incident from now on (data at risk, §6): nothing more public")
    d.post(
        "private",
        "🔒 Data at risk: this incident is private from now on. Nothing more goes to the status "
        "page until a public statement is approved. This channel was opened public: make it private (or "
        "move to a private one) and keep details out of public channels.",
    )


def _remember(d: Draft, delivery: AlertDigest) -> None:
    ended = dict(d.s.alerts_ended)
    for fingerprint, at in delivery.ended.items():
        ended[fingerprint] = max(at, ended.pop(fingerprint, at))  # re-inserted: the newest last
    while len(ended) > REMEMBERED:
        ended.pop(next(iter(ended)))
    d.s.alerts_ended = ended
