"""What the incident pages show, from an incident's `status` (plan/incident.py IncidentStatus) and
its compliance card (plan/compliance.py). Pure: no I/O, no clock (the caller passes `now`); the
templates in webhook/pages/templates/ escape every string.

A private incident (plan/privacy.py) shows its id, severity and phase only: these pages are read by
everyone the operator lets in, and need-to-know details stay in the private bridge and `irp status`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode, urlsplit

from plan.compliance import ComplianceCard
from plan.incident import IncidentStatus
from plan.models import Role
from plan.privacy import PRIVATE_SUMMARY

MISSING = "—"


@dataclass(frozen=True)
class Row:
    """One incident in the list. `answered`: False when no worker answered its `status` in time,
    so the row shows what Temporal's visibility holds (search attributes and memo) and no IC."""

    incident_id: str
    severity: str
    phase: str
    state: str  # open, review or closed (the IncidentStatus search attribute)
    ic: str = MISSING
    age: str = MISSING
    summary: str = ""
    private: bool = False
    answered: bool = True


@dataclass(frozen=True)
class Links:
    """Where an incident lives elsewhere: its bridge in Slack and its workflow in Temporal's UI."""

    bridge: str | None
    temporal: str | None


@dataclass(frozen=True)
class Shown:
    """One incident's page: the status (None for a private incident: nothing but `headline`) and
    its card."""

    incident_id: str
    severity: str
    phase: str
    private: bool
    status: IncidentStatus | None
    card: ComplianceCard | None
    card_text: str = ""
    card_problem: str | None = None
    links: Links = field(default_factory=lambda: Links(None, None))


def age(delta: timedelta) -> str:
    """`3d`, `5h`, `12m` or `40s` (a negative age, a clock behind the start, reads `0s`)."""
    seconds = max(int(delta.total_seconds()), 0)
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def ic_of(status: IncidentStatus) -> str:
    """The incident commander's email (or name), or "—"."""
    ic = next((r for r in status.roles if r.role == Role.incident_commander), None)
    return (ic.person or ic.name or MISSING) if ic else MISSING


def row(status: IncidentStatus, state: str, now: datetime) -> Row:
    """A row from an incident's own answer; a private incident's keeps id, severity and phase."""
    severity = status.severity.value if status.severity else MISSING
    if status.private:
        return Row(status.incident_id, severity, status.phase.value, state, private=True)
    return Row(
        incident_id=status.incident_id,
        severity=severity,
        phase=status.phase.value,
        state=state,
        ic=ic_of(status),
        age=age(now - status.started_at),
        summary=status.summary,
    )


def unanswered_row(incident_id: str, attributes: dict[str, str], memo_summary: str) -> Row:
    """A row from Temporal's visibility alone (no worker answered): the memo's summary is already
    "private incident" for a private one (plan/privacy.py), and then it is not shown."""
    private = memo_summary == PRIVATE_SUMMARY
    return Row(
        incident_id=incident_id,
        severity=attributes.get("Severity") or MISSING,
        phase=attributes.get("Phase") or MISSING,
        state=attributes.get("IncidentStatus") or MISSING,
        ic="?",
        summary="" if private else memo_summary,
        private=private,
        answered=False,
    )


def links(status: IncidentStatus, temporal_ui: str | None, namespace: str, slack_team: str | None) -> Links:
    """The bridge through Slack's documented `app_redirect` (it opens the channel in the reader's
    own workspace; `team` when SLACK_TEAM_ID is set), and the workflow in Temporal's Web UI."""
    bridge = None
    if status.channel_id:
        query = {"channel": status.channel_id} | ({"team": slack_team} if slack_team else {})
        bridge = f"https://slack.com/app_redirect?{urlencode(query)}"
    temporal = None
    if temporal_ui:
        temporal = (
            f"{temporal_ui.rstrip('/')}/namespaces/{quote(namespace, safe='')}"
            f"/workflows/{quote(status.incident_id, safe='')}"
        )
    return Links(bridge, temporal)


def safe_link(url: str | None) -> str | None:
    """A link people typed (a deliverable's), only if it is http(s): never `javascript:` or
    `data:` in an href. None otherwise (the page shows it as text)."""
    if not url:
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in ("http", "https") else None


def when(moment: datetime | None) -> str:
    """`2026-12-07 08:32:05 UTC`, or "—"."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else MISSING


def duration(delta: timedelta | None) -> str:
    """`1h 05m`, `12m 30s`, `40s`, or "" (the late_by of a kept promise)."""
    if delta is None:
        return ""
    seconds = max(int(delta.total_seconds()), 0)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"
