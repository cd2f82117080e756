"""§5 Communication Templates, filled in. Pure text: the workflow decides when to send them."""

from __future__ import annotations

from datetime import datetime

from plan.models import Person

RULE = "━━━━━━━━━━━━━━━━━━"


def mention(person: Person | None) -> str:
    return f"<@{person.slack_user_id}>" if person else "(unassigned)"


def timestamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def bridge_opening(*, severity: str, summary: str, impact: str, started_at: datetime,
                   ic: Person | None, primary: Person | None, secondary: Person | None,
                   pagerduty: str) -> str:
    """§5.1 Incident Bridge Opening."""
    return "\n".join([
        "🚨 INCIDENT OPENED",
        RULE,
        f"Severity: {severity}",
        f"Summary: {summary}",
        f"Impact: {impact}",
        f"Started At: {timestamp(started_at)}",
        f"IC: {mention(ic)}",
        f"On-Call: {mention(primary)} + {mention(secondary)}",
        f"PagerDuty: {pagerduty}",
        RULE,
        "Status: 🔴 INVESTIGATING",
    ])


def channel_name(prefix: str, started_at: datetime, attempt: int = 1) -> str:
    """§4.1 `#preskool-incident-<YYYY-MM-DD>`, then -2, -3… when the name is taken."""
    name = f"{prefix}-{started_at:%Y-%m-%d}"
    return name if attempt == 1 else f"{name}-{attempt}"
