"""Charts as PNG bytes, drawn with matplotlib's object API on the Agg canvas (no display, no
pyplot state shared between threads): the incident timeline (§4.6), promises kept over time,
MTTA/MTTR by severity and the per-incident timeline strip. Inputs are plan/picture.py and
plan/report.py models; nothing here decides a figure."""

from __future__ import annotations

import io
from datetime import timedelta

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from plan.models import Phase
from plan.picture import TimelinePicture
from plan.report import SeverityFigures, Week

PHASE_COLOURS = {
    Phase.DETECTION: "#d62728",
    Phase.TRIAGE: "#ff7f0e",
    Phase.CONTAIN: "#bcbd22",
    Phase.FIX: "#1f77b4",
    Phase.RESOLVE: "#2ca02c",
    Phase.REVIEW: "#7f7f7f",
}
# mark kind → (row label, colour, marker); rows from the top
MARK_ROWS = {
    "paged": ("pages", "#9467bd", "v"),
    "acknowledged": ("acknowledged", "#2ca02c", "o"),
    "update": ("updates", "#1f77b4", "s"),
    "severity": ("severity", "#d62728", "D"),
    "approved": ("approvals", "#17becf", "^"),
    "denied": ("approvals", "#8c564b", "x"),
    "gate-passed": ("§4.5 gate", "#2ca02c", "P"),
    "gate-failed": ("§4.5 gate", "#d62728", "X"),
    "forced": ("§4.5 gate", "#ff7f0e", "*"),
    "mitigated": ("mitigated / resolved", "#bcbd22", "o"),
    "resolved": ("mitigated / resolved", "#2ca02c", "*"),
}
PNG_METADATA = {"Software": None}  # no version string: the same picture is the same bytes


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes."""
    FigureCanvasAgg(figure)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=100, metadata=PNG_METADATA)
    return out.getvalue()


def minutes(delta: timedelta) -> float:
    return delta.total_seconds() / 60


def timeline_png(p: TimelinePicture) -> bytes:
    """§4.6: the phases as a bar (minutes from the problem's start) and a row per kind of mark."""
    rows = list(dict.fromkeys(label for label, _, _ in MARK_ROWS.values()))
    figure = Figure(figsize=(10, 1.2 + 0.45 * (len(rows) + 1)))
    ax = figure.add_subplot()
    y_phase = len(rows)
    total = max(minutes(p.ends_at - p.started_at), 1.0)
    for span in p.spans:
        start, width = minutes(span.start - p.started_at), minutes(span.end - span.start)
        ax.broken_barh([(start, max(width, 0.05))], (y_phase - 0.4, 0.8), color=PHASE_COLOURS[span.phase])
        if width >= 0.08 * total:  # named where the name fits
            ax.text(start + width / 2, y_phase, span.phase.value, ha="center", va="center", fontsize=7)
    for kind, (label, colour, marker) in MARK_ROWS.items():
        at = [minutes(m.at - p.started_at) for m in p.marks if m.kind == kind]
        if at:
            row = len(rows) - 1 - rows.index(label)
            ax.scatter(at, [row] * len(at), color=colour, marker=marker, s=40, label=kind, zorder=3)
    ax.set_yticks(range(len(rows) + 1), [*reversed(rows), "phase"])
    ax.set_xlabel("minutes from the problem's start (UTC " + p.started_at.strftime("%Y-%m-%d %H:%M") + ")")
    severity = p.severity.value if p.severity else "no severity"
    ax.set_title(f"{p.incident_id} · {severity} · timeline")
    ax.set_xlim(left=min([0, *(minutes(m.at - p.started_at) for m in p.marks)]) - 1)
    ax.grid(axis="x", alpha=0.3)
    if p.marks:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7, frameon=False)
    figure.tight_layout()
    return png(figure)


def kept_over_time_png(weeks: list[Week]) -> bytes:
    """Promises kept and missed per week of their due time (stacked bars), kept rate on top."""
    figure = Figure(figsize=(8, 3.2))
    ax = figure.add_subplot()
    labels = [w.start.strftime("%m-%d") for w in weeks]
    kept, missed = [w.kept for w in weeks], [w.missed for w in weeks]
    ax.bar(labels, kept, color="#2ca02c", label="kept")
    ax.bar(labels, missed, bottom=kept, color="#d62728", label="missed")
    for i, w in enumerate(weeks):
        if w.kept + w.missed:
            ax.text(
                i,
                w.kept + w.missed,
                f"{w.kept / (w.kept + w.missed):.0%}",
                ha="center",
                va="bottom",
                fontsize=7,
            )
    ax.set_title("Promises kept over time (week of their due time)")
    ax.set_ylabel("promises")
    ax.legend(fontsize=8, frameon=False)
    figure.tight_layout()
    return png(figure)


def mtta_mttr_png(severities: list[SeverityFigures]) -> bytes:
    """MTTA and MTTR by severity, median and p90, in minutes."""
    figure = Figure(figsize=(8, 3.2))
    axes = figure.subplots(1, 2)
    names = [s.severity for s in severities]
    for ax, what in zip(axes, ("mtta", "mttr"), strict=True):
        spreads = [getattr(s, what) for s in severities]
        xs = range(len(names))
        medians = [minutes(x.median) if x.median else 0 for x in spreads]
        p90s = [minutes(x.p90) if x.p90 else 0 for x in spreads]
        ax.bar([x - 0.2 for x in xs], medians, width=0.4, label="median", color="#1f77b4")
        ax.bar([x + 0.2 for x in xs], p90s, width=0.4, label="p90", color="#ff7f0e")
        ax.set_xticks(list(xs), names)
        ax.set_title(what.upper() + " (minutes)")
        ax.legend(fontsize=8, frameon=False)
    figure.tight_layout()
    return png(figure)


def strip_png(pictures: list[TimelinePicture]) -> bytes:
    """One row per incident: its phases from its own start, in hours; a private incident's row
    is only its id, severity and phase (no spans, no marks)."""
    figure = Figure(figsize=(10, 1 + 0.35 * max(len(pictures), 1)))
    ax = figure.add_subplot()
    labels = []
    for row, p in enumerate(reversed(pictures)):
        severity = p.severity.value if p.severity else "—"
        labels.append(f"{p.incident_id} · {severity} · {p.phase.value}" + (" (private)" if p.private else ""))
        if p.private:
            continue
        for span in p.spans:
            start, width = minutes(span.start - p.started_at) / 60, minutes(span.end - span.start) / 60
            ax.broken_barh([(start, max(width, 0.005))], (row - 0.35, 0.7), color=PHASE_COLOURS[span.phase])
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("hours from each incident's start")
    ax.set_title("Incidents: their §4 phases")
    handles = [Patch(color=c, label=ph.value) for ph, c in PHASE_COLOURS.items() if ph is not Phase.REVIEW]
    ax.set_xlim(left=0)
    ax.legend(handles=handles, fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1))
    figure.tight_layout()
    return png(figure)
