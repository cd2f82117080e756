"""§4.6: the facts a blameless post-mortem starts from, taken from the incident's timeline.
Pure; an activity fills them into docs/incident-response/post-mortem-template.md."""

from __future__ import annotations

from datetime import datetime, timedelta

from plan.compliance import ComplianceCard, render
from plan.incident import IncidentState
from plan.models import Phase


def duration(delta: timedelta | None) -> str:
    if delta is None:
        return "—"
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def at(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def facts(
    incident_id: str, s: IncidentState, card: ComplianceCard | None = None, shown_in: str | None = None
) -> dict[str, str]:
    """Every $name the template may use. Durations count from the problem's start (plan/start.py),
    not from when we heard of it (`received_at`); `compliance`: the card at the close-out;
    `shown_in`: the bridge channel whose draft thread the timeline picture is shared in, if any."""
    resolved = s.resolution.at if s.resolution else None
    severity_changes = [e for e in s.timeline if e.kind == "severity"]
    updates = [e for e in s.timeline if e.kind in ("update", "mitigated")]
    return {
        "incident_id": incident_id,
        "summary": s.summary,
        "severity": s.decision.severity.value if s.decision else "—",
        "severity_reasons": "; ".join(s.decision.reasons) if s.decision else "—",
        "impact": s.impact or "—",
        "blast_radius": _blast_radius(s),
        "started_at": at(s.started_at),
        "received_at": _received(s),
        "resolved_at": at(resolved),
        "time_to_acknowledge": duration(s.acknowledged_at - s.started_at if s.acknowledged_at else None),
        "time_to_mitigate": duration(s.mitigated_at - s.started_at if s.mitigated_at else None),
        "time_to_resolve": duration(resolved - s.started_at if resolved else None),
        "phase_table": _phase_table(s, resolved),
        "severity_changes": "\n".join(f"- {at(e.at)}: {e.text}" for e in severity_changes) or "- none",
        "paged": "\n".join(
            f"- {p.role.title} ({p.person or 'unassigned'}): {p.outcome} at {at(p.at)}" for p in s.paged
        )
        or "- nobody",
        "actions": _requests(s) or "- none requested",
        "updates": "\n".join(f"- {at(e.at)}: {e.text}" for e in updates) or "- none",
        "overdue_updates": str(s.cadence.overdue_updates if s.cadence else 0),
        "resolution": s.resolution.summary if s.resolution else "—",
        "root_cause": (
            s.resolution.root_cause
            if s.resolution and s.resolution.root_cause
            else "To be established in the post-mortem meeting"
        ),
        "forced": (
            f"Resolved without verification: {s.resolution.force_reason}"
            if s.resolution and s.resolution.forced
            else "Recovery verified by the §4.5 checks"
        ),
        "timeline_picture": _picture(s, shown_in),
        "timeline": "\n".join(f"| {e.at:%H:%M:%S} | {e.kind} | {_cell(e.text)} |" for e in s.timeline),
        "compliance": compliance(card),
    }


PICTURE = "incident-timeline.png"  # attached to the post-mortem ticket (activities/tickets)


def _picture(s: IncidentState, shown_in: str | None = None) -> str:
    """Where the timeline picture is: shared in the bridge `shown_in`, in the draft's thread (when
    it is), and attached to the post-mortem ticket as PICTURE; a private incident's is nowhere
    (plan/privacy.py)."""
    if s.private:
        return "No picture: a private incident's timeline stays in the incident (`irp status`)."
    where = (
        f"The picture is in the bridge #{shown_in}, in the thread of this draft, and it is "
        if shown_in
        else "The picture is "
    )
    return (
        "![The incident's timeline: phases, pages, acknowledgements, updates, approvals, the gate]"
        f"({PICTURE})\n\n"
        f"{where}attached to the post-mortem ticket as `{PICTURE}`."
    )


def compliance(card: ComplianceCard | None) -> str:
    """The compliance card as markdown: its count, then one bullet per promise (plan/compliance.py)."""
    if card is None:
        return "- not computed"
    lines = render(card).splitlines()[1:]
    return "\n".join([lines[0], "", *(f"- {line}" for line in lines[1:])])


def _received(s: IncidentState) -> str:
    """When we heard of it, and how long after the problem began (times above count from the start)."""
    received = s.received_at or s.started_at
    late = received - s.started_at
    return at(received) + (f" ({duration(late)} after it began)" if late >= timedelta(minutes=1) else "")


def _phase_table(s: IncidentState, resolved: datetime | None) -> str:
    phases, rows = list(s.phases.items()), []
    for i, (phase, entered) in enumerate(phases):
        left = phases[i + 1][1] if i + 1 < len(phases) else resolved if phase is not Phase.REVIEW else None
        if phase is not Phase.REVIEW:
            rows.append(f"| {phase} | {at(entered)} | {duration(left - entered if left else None)} |")
    return "\n".join(["| Phase | Entered | Lasted |", "|---|---|---|", *rows])


def _blast_radius(s: IncidentState) -> str:
    if not s.blast_radius:
        return "—"
    where = s.blast_radius.tenants + s.blast_radius.endpoints
    return s.blast_radius.scope + (f": {', '.join(where)}" if where else "")


def _requests(s: IncidentState) -> str:
    return "\n".join(
        f"- {r.request_id}: {r.title} on {r.target}, requested by {r.by}; {r.state}"
        + (f", approved by {', '.join(a.by for a in r.approvals)}" if r.approvals else "")
        + (f" (exit code {r.exit_code})" if r.exit_code is not None else "")
        for r in s.requests.values()
    )


def _cell(text: str) -> str:
    """One table cell: no `|` to open a column, no line break to end the row."""
    return " ".join(text.replace("|", "/").split())
