"""§4 and §5.2 as deciders: what each person's step means for the lifecycle, and the clocks — the
2-minute escalation, the phase windows and the update cadence. Pure (plan/decision.py)."""

from __future__ import annotations

from datetime import datetime

from plan import templates
from plan.decide.common import cadence_minutes, enter, minutes
from plan.decide.requests import open_status_page
from plan.decision import Actor, Draft
from plan.effects import Invite, LookUpOnCall, Measure, Page, PublishStatus
from plan.events import EventKind as K
from plan.incident import BlastRadius, Cadence
from plan.lifecycle import (
    WINDOWED,
    cadence,
    escalate_unacknowledged,
    escalation_due,
    next_update_due,
    phase_deadline,
)
from plan.models import Phase, Role
from plan.severity import SeverityDecision
from plan.signals import (
    Acknowledge,
    DeclareBlastRadius,
    Mitigate,
    PagerDutyEvent,
    PostUpdate,
    SetSeverity,
)

SCOPE = {"all": "all users", "many": "many users"}
PAGERDUTY_EVENTS_KEPT = 500  # webhook event ids remembered, to take each PagerDuty event once
# §5.2 update status → §5.3 status page status.
PUBLIC_STATUS = {"ONGOING": "identified", "MITIGATED": "monitoring", "RESOLVED": "monitoring"}


# --- 2–4. TRIAGE, CONTAIN, FIX: what people's steps mean -------------------------------------------


def acknowledge(d: Draft, ack: Acknowledge, actor: Actor) -> None:
    acknowledged(d, ack.by)


def acknowledged(d: Draft, by: str, via: str = "") -> None:
    """§4.1: the page is answered; the first acknowledgement ends DETECTION."""
    s = d.s
    if s.acknowledged_by:
        d.note(K.acknowledged, f"also acknowledged by {by}{via}", by=by)
        return
    s.acknowledged_by, s.acknowledged_at = by, d.now
    d.note(K.acknowledged, f"acknowledged by {by}{via}", by=by)
    d.effect(Measure("irp_time_to_acknowledge", s.decision.severity, (d.now - s.started_at).total_seconds()))
    if s.phase is Phase.DETECTION:
        enter(d, Phase.TRIAGE)


def set_severity(d: Draft, change: SetSeverity, actor: Actor) -> None:
    """§3: the IC declares severity."""
    before = d.s.decision.severity
    d.s.declared_severity_by = f"{change.severity} declared by {change.by}"
    if change.severity == before:
        d.note(K.severity, f"{change.by} confirmed {before}: {change.reason}", by=change.by, severity=before)
        return
    reasons = [f"re-declared {change.severity} by {change.by}: {change.reason}"]
    change_severity(
        d,
        d.s.decision.model_copy(update={"severity": change.severity, "reasons": reasons}),
        f"⚠️ Severity {before} → {change.severity}, declared by {change.by}: {change.reason}",
    )


def decide_severity(d: Draft, decision: SeverityDecision) -> None:
    d.s.decision = decision
    d.note(K.severity, f"{decision.severity}: " + "; ".join(decision.reasons), severity=decision.severity)


def change_severity(d: Draft, decision: SeverityDecision, announcement: str) -> None:
    """A new severity: said in the bridge; the cadence re-timed; whoever the RACI now engages
    paged and invited; the status page opened where customers are affected."""
    decide_severity(d, decision)
    retime_cadence(d)
    d.post("severity", announcement)
    engaged = d.engaged
    d.effect(Page(tuple(engaged.page)), Invite(tuple(engaged.bridge_members)))
    open_status_page(d)


def post_update(d: Draft, update: PostUpdate, actor: Actor) -> None:
    """§5.2: the update, its promise re-timing the cadence; `public` goes to the status page."""
    s, now = d.s, d.now
    due = next_update_due(d.policy, s.decision.severity, now, now, update.next_update_minutes)
    promised = minutes(due - now) if due else update.next_update_minutes
    kept = s.cadence or Cadence(last_update_at=now)
    s.cadence = kept.model_copy(
        update={"last_update_at": now, "next_due": due, "updates_posted": kept.updates_posted + 1}
    )
    d.note(K.update, f"{update.status} update by {update.by}: {update.current_action}", by=update.by)
    d.post(
        "update",
        templates.update_message(
            at=now,
            status=update.status,
            current_action=update.current_action,
            what_we_know=update.what_we_know,
            next_update_minutes=promised,
        ),
    )
    if update.status == "RESOLVED":
        d.note(K.hint, "a RESOLVED update does not resolve the incident: send `resolve` to verify and close")
    if update.public:
        title, body = templates.status_page_investigating(promised or 30)
        publish_status(
            d, PUBLIC_STATUS[update.status], title, update.public_message or body, "degraded_performance"
        )


def publish_status(d: Draft, status: str, title: str, body: str, component_status: str) -> None:
    """A status-page update people made public; a private incident says nothing public until its
    statement is approved (README: Private incidents)."""
    if d.s.private and not d.s.public_statement:
        d.note(
            K.status_page_withheld,
            f"status page not updated ({status}): a private incident says nothing "
            "public until its public statement is approved",
        )
        return
    d.effect(PublishStatus(status, title, body, component_status))


def declare_blast_radius(d: Draft, radius: DeclareBlastRadius, actor: Actor) -> None:
    """§4.2 step 7; declaring it is containment starting (§4.3)."""
    d.s.blast_radius = BlastRadius(**radius.model_dump(exclude={"attestation"}), at=d.now)
    scope = SCOPE.get(radius.scope) or (
        f"tenant(s) {', '.join(radius.tenants)}"
        if radius.scope == "tenant"
        else f"endpoint(s) {', '.join(radius.endpoints)}"
    )
    d.note(K.blast_radius, f"blast radius: {scope} (by {radius.by})", by=radius.by)
    d.post("blast-radius", f"💥 Blast radius: {scope} (declared by {radius.by})")
    if d.s.phase in (Phase.DETECTION, Phase.TRIAGE):
        enter(d, Phase.CONTAIN)


def mitigate(d: Draft, mitigation: Mitigate, actor: Actor) -> None:
    """§4.4: service restored; root-causing continues."""
    s = d.s
    if not s.mitigated_at:
        s.mitigated_at = d.now
        d.effect(Measure("irp_time_to_mitigate", s.decision.severity, (d.now - s.started_at).total_seconds()))
    d.note(K.mitigated, f"mitigated by {mitigation.by}: {mitigation.summary}", by=mitigation.by)
    d.post(
        "mitigated",
        templates.update_message(
            at=d.now,
            status="MITIGATED",
            current_action=mitigation.summary,
            what_we_know="Service restored; root cause under investigation (§4.4)",
            next_update_minutes=cadence_minutes(d),
        ),
    )
    if s.phase in (Phase.DETECTION, Phase.TRIAGE, Phase.CONTAIN):
        enter(d, Phase.FIX)


def pagerduty_event(d: Draft, event: PagerDutyEvent, actor: Actor | None) -> None:
    """A verified PagerDuty webhook: an acknowledgement there counts here (§4.1); each event once."""
    s = d.s
    if event.event_id in s.pagerduty_events:
        return
    s.pagerduty_events = [*s.pagerduty_events, event.event_id][-PAGERDUTY_EVENTS_KEPT:]
    who = event.agent_email or _roster_email(d, event.agent) or event.agent or "someone"
    if event.event_type == "incident.acknowledged":
        acknowledged(d, who, via=" in PagerDuty")
    elif event.event_type == "incident.resolved":
        d.note(K.pagerduty, f"PagerDuty incident resolved by {who}; this incident stays open until `resolve`")
    else:
        d.note(K.pagerduty, f"PagerDuty {event.event_type} by {who}")


def _roster_email(d: Draft, name: str | None) -> str | None:
    """The email of the roster's person, or PagerDuty's on-call holder, with this name."""
    people = [*d.policy.roster.values(), *d.s.on_call.values()]
    return next(
        (p.email for p in people if name and p.name and p.email and p.name.lower() == name.lower()), None
    )


# --- the clocks of §4 and §5.2 ---------------------------------------------------------------------


def retime_cadence(d: Draft) -> None:
    """§5.2: the next update is due one cadence after the last communication (the opening counts)."""
    s = d.s
    kept = s.cadence or Cadence(last_update_at=d.now)
    s.cadence = kept.model_copy(
        update={"next_due": next_update_due(d.policy, s.decision.severity, kept.last_update_at, d.now)}
    )


def next_clock(state, policy) -> datetime | None:
    """The earliest moment a clock of the live incident needs looking at."""
    s = state
    if s.resolution or s.decision is None:
        return None
    moments = []
    if not s.acknowledged_by and not s.escalated_unacknowledged:
        moments.append(escalation_due(policy, s.received_at or s.started_at))
    if s.phase in WINDOWED and s.phase not in s.windows_nudged and s.phase is not Phase.DETECTION:
        moments.append(phase_deadline(policy, s.started_at, s.phase))
    if s.cadence and s.cadence.next_due:
        moments.append(s.cadence.next_due)
    return min((m for m in moments if m), default=None)


def tick(d: Draft) -> None:
    """The clocks, at `d.now`: escalate an unanswered page, nudge a passed window, an overdue update."""
    if d.s.resolution or d.s.decision is None:
        return
    _escalate_unacknowledged(d)
    _nudge_window(d)
    _nudge_update(d)


def _escalate_unacknowledged(d: Draft) -> None:
    s, policy = d.s, d.policy
    if (
        s.acknowledged_by
        or s.escalated_unacknowledged
        or d.now < escalation_due(policy, s.received_at or s.started_at)
    ):
        return
    s.escalated_unacknowledged = True
    if Phase.DETECTION not in s.windows_nudged:
        s.windows_nudged = [*s.windows_nudged, Phase.DETECTION]
    roles = escalate_unacknowledged(s.decision.severity, d.engaged, paged_roles(s))
    d.note(
        K.escalated,
        "no acknowledgement within the detection window: paging "
        + (", ".join(r.title for r in roles) or "nobody new"),
    )
    d.effect(Page(tuple(roles)), LookUpOnCall("the escalation page"))
    d.post(
        "unacknowledged",
        templates.unacknowledged(
            paged=[r.title for r in roles], minutes=minutes(policy.phase_windows.DETECTION)
        ),
    )


def _nudge_window(d: Draft) -> None:
    s, policy = d.s, d.policy
    if s.phase not in WINDOWED or s.phase is Phase.DETECTION or s.phase in s.windows_nudged:
        return
    if d.now < phase_deadline(policy, s.started_at, s.phase):
        return
    s.windows_nudged = [*s.windows_nudged, s.phase]
    window = minutes(getattr(policy.phase_windows, s.phase.value))
    d.note(K.window, f"{s.phase} window ({window} min) passed", phase=s.phase)
    d.post(
        "window",
        templates.window_passed(
            ic=d.holder(Role.incident_commander), phase=s.phase.value, window_minutes=window
        ),
    )


def _nudge_update(d: Draft) -> None:
    s = d.s
    if not (s.cadence and s.cadence.next_due and d.now >= s.cadence.next_due):
        return
    every = cadence(d.policy, s.decision.severity)
    overdue = s.cadence.overdue_updates + 1
    s.cadence = s.cadence.model_copy(
        update={"overdue_updates": overdue, "next_due": d.now + every if every else None}
    )
    d.effect(Measure("irp_updates_overdue", s.decision.severity))
    d.note(K.update_overdue, f"update overdue (#{overdue})")
    d.post(
        "update-overdue",
        templates.update_overdue(
            ic=d.holder(Role.incident_commander),
            severity=s.decision.severity.value,
            every_minutes=minutes(every) if every else 0,
            last_at=s.cadence.last_update_at,
        ),
    )


def paged_roles(s) -> set[Role]:
    """Roles whose current holder holds a page."""
    return {
        p.role
        for p in s.paged
        if p.outcome == "paged" and (p.role not in s.assignments or p.person == s.assignments[p.role])
    }
