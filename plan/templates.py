"""§5 Communication Templates, filled in. Pure text: the workflow decides when to send them."""

from __future__ import annotations

from datetime import datetime, timedelta

from plan.models import Person
from plan.start import span

RULE = "━━━━━━━━━━━━━━━━━━"


def mention(person: Person | None) -> str:
    """`<person:EMAIL>`, which the chat provider renders as its mention of the person (see
    activities/chat); "(unassigned)" for nobody."""
    return f"<person:{person.email}>" if person else "(unassigned)"


def timestamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def bridge_opening(
    *,
    severity: str,
    summary: str,
    impact: str,
    started_at: datetime,
    ic: Person | None,
    primary: Person | None,
    secondary: Person | None,
    pagerduty: str,
    received_at: datetime | None = None,
    start_believed: bool = True,
) -> str:
    """§5.1 Incident Bridge Opening. `started_at` is when the problem began (plan/start.py);
    `received_at`, when we heard of it, is said beside it when it was later."""
    return "\n".join(
        [
            "🚨 INCIDENT OPENED",
            RULE,
            f"Severity: {severity}",
            f"Summary: {summary}",
            f"Impact: {impact}",
            f"Started At: {started(started_at, received_at, start_believed)}",
            f"IC: {mention(ic)}",
            f"On-Call: {mention(primary)} + {mention(secondary)}",
            f"PagerDuty: {pagerduty}",
            RULE,
            "Status: 🔴 INVESTIGATING",
        ]
    )


def started(started_at: datetime, received_at: datetime | None, believed: bool = True) -> str:
    """`2026-12-07 08:32 UTC (received 09:12 UTC, 40 min later)`; the receipt alone when the
    field's start was not believed."""
    late = received_at - started_at if received_at else timedelta(0)
    if not believed and not late:
        return f"{timestamp(started_at)} (when we received it: the start it gave was not believed)"
    if late < timedelta(seconds=1):
        return timestamp(started_at)
    same_day = received_at.date() == started_at.date()
    heard = f"{received_at:%H:%M} UTC" if same_day else timestamp(received_at)
    return f"{timestamp(started_at)} (received {heard}, {span(late)} later)"


def windows_passed_on_arrival(
    *, late_by: timedelta, started_at: datetime, passed: list[tuple[str, int]], how: str, ends: str = ""
) -> str:
    """Said once, when the incident heard of the problem after some §4 windows had already ended
    (counted from the problem's start): which, and that they get no nudges. `passed` holds
    (phase, window minutes); `how`: "This alert reached us" or "This incident was declared";
    `ends`: the next window still open, as "FIX's ends at 12:32 UTC"."""
    names = [f"{phase} ({window} min)" for phase, window in passed]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"
    detection = dict(passed).get("DETECTION")
    return (
        f"⏱ {how} {span(late_by)} after the problem began ({timestamp(started_at)}): §4's {listed} "
        f"window{'s' if len(names) > 1 else ''} had already passed. No nudges for "
        f"{'them' if len(names) > 1 else 'it'}"
        + (f"; {ends}." if ends else ".")
        + (
            f" The page still escalates if nobody acknowledges within {detection} min of it."
            if detection
            else ""
        )
    )


def bridge_continued(incident_id: str, old_channel: str | None, why: str) -> str:
    """The first post of a continuation bridge (§4.1's bridge, reopened after a deletion)."""
    return (
        f"🔁 BRIDGE CONTINUED — incident {incident_id}\n"
        f"#{old_channel} is gone ({why}). This channel continues the incident bridge; "
        f"the incident's timeline keeps everything said before."
    )


def channel_name(prefix: str, started_at: datetime, attempt: int = 1) -> str:
    """§4.1 `#preskool-incident-<YYYY-MM-DD>`, then -2, -3… when the name is taken."""
    name = f"{prefix}-{started_at:%Y-%m-%d}"
    return name if attempt == 1 else f"{name}-{attempt}"


STATUS_MARK = {"ONGOING": "🔴 ONGOING", "MITIGATED": "🟡 MITIGATED", "RESOLVED": "✅ RESOLVED"}


def update_message(
    *, at: datetime, status: str, current_action: str, what_we_know: str, next_update_minutes: int | None
) -> str:
    """§5.2 Update Every 15 Minutes (P0) / 30 Minutes (P1)."""
    return "\n".join(
        [
            f"📝 UPDATE — {timestamp(at)}",
            f"Status: {STATUS_MARK[status]}",
            f"Current Action: {current_action}",
            f"What We Know: {what_we_know}",
            "Next Update: "
            + (f"in {next_update_minutes} minutes" if next_update_minutes else "when there is news"),
        ]
    )


STATUS_PAGE_TITLE = "Elevated Error Rates"


def status_page_investigating(next_update_minutes: int) -> tuple[str, str]:
    """§5.3 Investigating: (title, body). Component status: Degraded Performance."""
    return STATUS_PAGE_TITLE, (
        "We are investigating elevated error rates affecting some users.\n"
        "Our engineers are actively working on this issue.\n"
        f"Next update in {next_update_minutes} minutes."
    )


def status_page_resolved(module: str, at: datetime) -> tuple[str, str]:
    """§5.3 Resolved: (title, body). Component status: Operational."""
    return f"Resolved - {STATUS_PAGE_TITLE}", (
        f"The issue affecting {module} has been resolved as of {timestamp(at)}.\n"
        "All systems are now operating normally.\n"
        "We will share a full postmortem within 72 hours."
    )


def triage_checklist(*, runbook: str, grafana: str, loki: str, jaeger: str, severity: str) -> str:
    """§4.2 Triage (2–10 minutes), with the links for this incident's time range."""
    return "\n".join(
        [
            "🧭 TRIAGE CHECKLIST (§4.2)",
            f"1. Runbook for this alert: {runbook}",
            f"2. Severity is {severity}: the IC re-declares with `set_severity` if it is wrong",
            "3. Page secondary if P0 (done automatically for P0)",
            f"4. Grafana SLO dashboard: {grafana}",
            f"5. Loki logs, look for exceptions: {loki}",
            f"6. Jaeger, look for trace anomalies: {jaeger}",
            "7. Identify blast radius (all users? one tenant? one endpoint?): send `declare_blast_radius`",
        ]
    )


def update_overdue(*, ic: Person | None, severity: str, every_minutes: int, last_at: datetime) -> str:
    return (
        f"⏰ {mention(ic)} the {severity} update is overdue: §5.2 asks for one every {every_minutes} "
        f"minutes; "
        f"the last was at {timestamp(last_at)}. Send `post_update`."
    )


def window_passed(*, ic: Person | None, phase: str, window_minutes: int) -> str:
    return (
        f"⏱ {mention(ic)} the {phase} window ({window_minutes} min from the start, §4) has passed "
        f"and the incident is still in {phase}."
    )


def unacknowledged(*, paged: list[str], minutes: int) -> str:
    return (
        f"📟 No acknowledgement within {minutes} minutes: paged {', '.join(paged) or 'nobody new'}. "
        f"Acknowledge in PagerDuty or send `acknowledge`."
    )


def approval_request(
    *,
    incident_id: str,
    request_id: str,
    title: str,
    plan: str,
    forbidden: bool,
    by: str,
    reason: str,
    target: str,
    params: dict,
    command: list[str] | None,
    who: str,
    expires_at: datetime,
) -> str:
    """§4.3 / §7: what will happen, who may approve, and exactly how."""
    head = (
        f"⛔ FORBIDDEN ACTION (§7) — needs explicit approval: {title}"
        if forbidden
        else f"🛂 APPROVAL NEEDED — {title}"
    )
    will = (
        f"Will run once, after approval: `{' '.join(command)}`"
        if command
        else "No executor: once approved, a person carries it out and reports with `action_done`."
    )
    signal = f'{{"request_id": "{request_id}", "by": "<your email>"}}'
    return "\n".join(
        [
            head,
            f"Plan: {plan}",
            f"Requested by {by}: {reason}",
            f"Target: {target}" + (f"  Params: {params}" if params else ""),
            will,
            f"Needs: {who}. Expires {timestamp(expires_at)}.",
            f"Approve in the Temporal UI: More Actions → Send a Signal → `approve` with {signal}"
            f' (or `deny`, with a "reason")',
            f"Or: irp approve {incident_id} {request_id} --by <your email>",
        ]
    )


def customer_email(
    *,
    start: datetime,
    end: datetime,
    affected: str,
    root_cause: str,
    resolution: str,
    preventive_actions: str,
    courtesy_days: int,
    support: str,
) -> tuple[str, str]:
    """§5.4 Customer Email Template (P0): (subject, body)."""
    same_day = start.date() == end.date()
    when = (
        f"from {start:%H:%M} to {end:%H:%M} UTC on {start:%Y-%m-%d}"
        if same_day
        else f"from {timestamp(start)} to {timestamp(end)}"
    )
    return "[UPDATE] PreSkool ERP — Service Disruption", "\n".join(
        [
            "Dear School Administrator,",
            "",
            "We are writing to inform you that PreSkool ERP experienced a service disruption",
            f"{when}.",
            "",
            f"Affected: {affected}",
            f"Root Cause: {root_cause}",
            f"Resolution: {resolution}",
            f"Preventive Actions: {preventive_actions}",
            "",
            "We sincerely apologize for the inconvenience this has caused.",
            f"As a courtesy, we have extended your subscription by {courtesy_days} day(s).",
            "",
            f"If you have any questions, please contact {support}.",
            "",
            "— The PreSkool Team",
        ]
    )


def deliverable_reminder(*, title: str, incident_id: str, due_at: datetime, key: str) -> str:
    return (
        f"⏳ Reminder: “{title}” for incident {incident_id} is due {timestamp(due_at)} (§8). "
        f'When it is done: `complete_deliverable` {{"deliverable": "{key}", "by": "<your email>", '
        f'"link": "<where it is>"}}'
    )


def deliverable_overdue(*, title: str, incident_id: str, due_at: datetime, owner: str) -> str:
    return (
        f"🚨 Overdue: “{title}” for incident {incident_id} was due {timestamp(due_at)} (§8); "
        f"owner {owner}. Complete it, or waive it with a reason (`waive_deliverable`, Engineering Lead)."
    )


def postmortem_invitation(*, incident_id: str, summary: str, due_at: datetime, ticket: str | None) -> str:
    return (
        f"📅 You are invited to the blameless post-mortem of incident {incident_id} ({summary}), "
        f"to be held before {timestamp(due_at)} (§4.6, §8: within 72 hours)."
        + (f" Ticket: {ticket}" if ticket else "")
    )


def not_invited_to_ic(*, incident_id: str, channel: str, refused: dict[str, tuple[str, str]]) -> str:
    """To the IC: who could not be invited to the bridge (email → (their roles, why)), and that
    each was told directly."""
    lines = [f"• {mention_email(email)} ({roles}): {why}" for email, (roles, why) in refused.items()]
    return "\n".join(
        [
            f"⚠️ Incident {incident_id}: could not invite to #{channel}:",
            *lines,
            "Each was told by direct message. Bring them in another way, or keep them informed.",
        ]
    )


def not_invited_to_person(*, incident_id: str, channel: str, roles: str, why: str, ic: Person | None) -> str:
    """To a person the bridge could not take: what they are in the incident and whom to reach.
    Nothing of a private incident but its id."""
    return (
        f"⚠️ Incident {incident_id}: you are engaged as {roles}, but Slack would not add you to its "
        f"bridge #{channel} ({why}). The Incident Commander is {mention(ic)}: reach them directly."
    )


def claim_confirmation(incident_id: str, claim_id: str, signal: str, value: dict, about: str = "") -> str:
    """The direct message to the person a decision was sent in the name of (issue 15): exactly
    what it decides (`about`: the request it acts on), so they confirm what they see."""
    said = ", ".join(  # as code: what someone typed is never a link or a mention here
        f"`{k}={str(v)[:200].replace('`', chr(39))}`"
        for k, v in value.items()
        if k not in ("by", "attestation")
    )
    on = f" on {about}" if about else ""
    return (
        f"🔐 Incident {incident_id}: `{signal}` ({said}){on} was sent in your name from outside the chat "
        f"({claim_id}). It counts only if you confirm it here. If it wasn't you, say so: the bridge "
        "and the Engineering Lead will be told."
    )


def claim_disowned(incident_id: str, claim_id: str, signal: str, by: str) -> str:
    """The security notice when the named person says a claimed decision wasn't theirs."""
    return (
        f"🚨 SECURITY — incident {incident_id}: `{signal}` was sent in {mention_email(by)}'s name from "
        f"outside the chat ({claim_id}), and they say it wasn't them. It did not count. Find out who "
        "can send signals to this incident's Temporal namespace."
    )


def mention_email(email: str) -> str:
    """A person named by email only (the provider renders it as a mention)."""
    return f"<person:{email}>"
