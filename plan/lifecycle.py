"""§4 and §5.2 clocks as pure functions: phase windows, the update cadence, who the 2-minute
escalation pages, and who may do what. The workflow decides when; these say what."""

from __future__ import annotations

from datetime import datetime, timedelta

from plan.models import Phase, Policy, Role, Severity
from plan.raci import Engagement

WINDOWED = (Phase.DETECTION, Phase.TRIAGE, Phase.CONTAIN, Phase.FIX)


def phase_deadline(policy: Policy, started_at: datetime, phase: Phase) -> datetime | None:
    """When the phase's §4 window ends, counted from the problem's start (plan/start.py:
    Detection 0–2 min, …, Fix –4 h)."""
    window = getattr(policy.phase_windows, phase.value, None) if phase in WINDOWED else None
    return started_at + window if window else None


def windows_passed(policy: Policy, started_at: datetime, at: datetime) -> list[Phase]:
    """The §4 windows, counted from the problem's start, that had ended by `at` (in order): for an
    alert that reached us late, those that passed before anyone could act on them."""
    return [p for p in WINDOWED if (end := phase_deadline(policy, started_at, p)) and end <= at]


def escalation_due(policy: Policy, paged_at: datetime) -> datetime:
    """When an unacknowledged page escalates (§4.2 step 3): one detection window (2 min) after
    the first page, not after the problem's start.

    The escalation is about people: it asks whether the person paged answered within the
    window, and nobody can acknowledge before they were paged. Counted from the start, an alert
    that reached us 40 minutes late would page the primary, the secondary and the IC in the same
    instant, giving the primary no window at all: that is not an escalation, it is a louder first
    page. So the §4 detection window (a measure of the problem) counts from the start, and is
    said once to have passed; the escalation (a measure of the page) counts from the page. The
    first page goes out as the alert is received (workflows/incident.py), so an incident passes
    its receipt time here."""
    return paged_at + policy.phase_windows.DETECTION


def cadence(policy: Policy, severity: Severity) -> timedelta | None:
    """§5.2: every 15 minutes for P0, 30 for P1; P2 and P3 have none."""
    return policy.update_cadence.get(severity)


def next_update_due(
    policy: Policy,
    severity: Severity,
    last_update_at: datetime,
    now: datetime,
    promised_minutes: int | None = None,
) -> datetime | None:
    """The next update is due one cadence after the last (or sooner, if the IC promised sooner);
    when a severity change makes it already overdue, it is due now."""
    every = cadence(policy, severity)
    if promised_minutes:
        promised = timedelta(minutes=promised_minutes)
        every = min(every, promised) if every else promised
    if every is None:
        return None
    return max(last_update_at + every, now)


def escalate_unacknowledged(severity: Severity, engaged: Engagement, paged: set[Role]) -> list[Role]:
    """No acknowledgement within the detection window: page the secondary, and for P0/P1 the IC
    if not paged yet (§4.2 step 3, §6)."""
    roles = [Role.oncall_secondary]
    if severity in (Severity.P0, Severity.P1):
        roles.append(Role.incident_commander)
    return [r for r in roles if r not in paged]
