"""An incident's timeline as a picture's data (§4.6 post-mortem; the report's timeline strip): the
§4 phases as spans from the problem's start, and the moments that matter as marks — pages,
acknowledgements, updates, approvals and denials, the §4.5 gate, severity changes, mitigation and
resolution. Pure: the caller passes `now`; drawing is reporting/charts.py's.

A private incident's picture carries no words beyond the kind of each mark (plan/privacy.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from plan.events import EventKind as K
from plan.incident import IncidentStatus
from plan.models import Phase, Severity

MarkKind = Literal[
    "paged",
    "acknowledged",
    "update",
    "approved",
    "denied",
    "gate-passed",
    "gate-failed",
    "forced",
    "severity",
    "mitigated",
    "resolved",
]
# timeline event kind → mark kind
MARKS: dict[K, MarkKind] = {
    K.paged: "paged",
    K.acknowledged: "acknowledged",
    K.update: "update",
    K.approved: "approved",
    K.denied: "denied",
    K.gate_failed: "gate-failed",
    K.forced: "forced",
    K.severity: "severity",
    K.mitigated: "mitigated",
}
MAX_LABEL = 60


class Span(BaseModel):
    """One §4 phase, from when it was entered until the next (or the picture's end)."""

    phase: Phase
    start: datetime
    end: datetime


class Mark(BaseModel):
    at: datetime
    kind: MarkKind
    label: str


class TimelinePicture(BaseModel):
    """What the timeline chart draws, UTC. `ends_at`: the resolution, or `now` if not resolved."""

    incident_id: str
    severity: Severity | None
    phase: Phase
    private: bool
    started_at: datetime
    ends_at: datetime
    spans: list[Span]
    marks: list[Mark]


def picture(status: IncidentStatus, now: datetime) -> TimelinePicture:
    """The picture of `status` at `now`. DETECTION starts at the problem's start (the alert's
    `startsAt`), as §4's windows count; REVIEW is not drawn (it is after the end)."""
    end = status.resolution.at if status.resolution else max(now, status.started_at)
    return TimelinePicture(
        incident_id=status.incident_id,
        severity=status.severity,
        phase=status.phase,
        private=status.private,
        started_at=status.started_at,
        ends_at=end,
        spans=spans(status, end),
        marks=marks(status, end),
    )


def spans(status: IncidentStatus, end: datetime) -> list[Span]:
    """The phases before REVIEW in the order they were entered, each until the next."""
    entered = sorted(
        ((at, phase) for phase, at in status.phases.items() if phase is not Phase.REVIEW),
        key=lambda e: (e[0], list(Phase).index(e[1])),
    )
    if not entered or entered[0][1] is not Phase.DETECTION:
        entered.insert(0, (status.started_at, Phase.DETECTION))
    entered[0] = (min(entered[0][0], status.started_at), entered[0][1])
    out = []
    for i, (at, phase) in enumerate(entered):
        until = entered[i + 1][0] if i + 1 < len(entered) else end
        out.append(Span(phase=phase, start=at, end=max(at, min(until, end))))
    return out


def marks(status: IncidentStatus, end: datetime) -> list[Mark]:
    """The marks in time order: the timeline's events of MARKS's kinds, the gate's passes, and
    the resolution."""
    found = [
        Mark(at=e.at, kind=MARKS[e.kind], label=_label(MARKS[e.kind], e.text, status.private))
        for e in status.timeline
        if e.kind in MARKS and e.at <= end
    ]
    found += [
        Mark(
            at=g.at,
            kind="gate-passed",
            label=_label("gate-passed", f"§4.5 checks passed ({g.by})", status.private),
        )
        for g in status.gate_runs
        if g.passed and g.at <= end
    ]
    if status.resolution:
        found.append(Mark(at=status.resolution.at, kind="resolved", label="resolved"))
    return sorted(found, key=lambda m: m.at)


def _label(kind: MarkKind, text: str, private: bool) -> str:
    if private:
        return kind
    line = " ".join(text.split())
    return line if len(line) <= MAX_LABEL else line[: MAX_LABEL - 1] + "…"
