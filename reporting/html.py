"""The quarter's report as one self-contained HTML file: its tables, and its charts as PNGs
embedded in base64 `data:` URLs (nothing is fetched when it is opened). A private incident shows
only its id, severity and phase."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape

from plan.report import QuarterReport, percent, spoken
from reporting import charts
from reporting.collect import Found

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: .3em .6em; }
th { background: #f4f4f4; text-align: left; } img { max-width: 100%; } .missed { color: #b00; }
"""


def image(png: bytes, alt: str) -> str:
    """An <img> holding `png` itself."""
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def table(head: list[str], rows: list[list[str]]) -> str:
    """A table of already-escaped cells."""
    header = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def page(r: QuarterReport, found: list[Found], notes: Sequence[str] = ()) -> str:
    """The whole report as an HTML document; `notes` (plain text, e.g. which incidents the local
    policy judged and why) under its title."""
    title = f"Compliance report, {r.since:%Y-%m-%d} to {r.until:%Y-%m-%d}"
    parts = [
        f"<h1>{escape(title)}</h1>",
        f"<p>{r.incidents} resolved incidents that started in the window.</p>",
        *(f'<p class="note">{escape(line)}</p>' for line in notes),
        "<h2>MTTA and MTTR by severity</h2>",
        table(
            ["Severity", "Incidents", "MTTA median", "MTTA p90", "MTTR median", "MTTR p90"],
            [
                [
                    escape(s.severity),
                    str(s.incidents),
                    *(spoken(x) for x in (s.mtta.median, s.mtta.p90, s.mttr.median, s.mttr.p90)),
                ]
                for s in r.severities
            ],
        ),
        image(charts.mtta_mttr_png(r.severities), "MTTA and MTTR by severity"),
        "<h2>Promises kept</h2>",
        table(
            ["Promise", "Plan", "Kept", "Missed", "Open", "Kept rate"],
            [
                [escape(p.title), escape(p.section), str(p.kept), str(p.missed), str(p.open), percent(p.rate)]
                for p in r.promises
            ],
        ),
        image(charts.kept_over_time_png(r.weeks), "Promises kept over time"),
        "<h2>Most missed</h2>",
        "<ul>"
        + "".join(
            f'<li class="missed">{escape(p.title)} ({escape(p.section)}): missed {p.missed}, '
            f"kept {percent(p.rate)}</li>"
            for p in r.most_missed
        )
        + "</ul>",
        "<h2>Overdue follow-ups (§8)</h2>",
        table(
            ["Incident", "Severity", "Follow-up", "Due", "Overdue by", "Holder"],
            [
                [
                    escape(o.incident_id),
                    escape(o.severity),
                    escape(o.title),
                    f"{o.due_at:%Y-%m-%d %H:%M} UTC",
                    spoken(o.late_by),
                    escape(o.holder or ""),
                ]
                for o in r.overdue
            ],
        ),
        "<h2>Incidents</h2>",
        image(charts.strip_png([f.picture for f in found]), "Timeline strip of the incidents"),
        table(
            ["Incident", "Severity", "Phase", "Summary", "Kept", "Missed", "Open"], [row(f) for f in found]
        ),
    ]
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


def row(f: Found) -> list[str]:
    """An incident's row; a private one's shows only its id, severity and phase."""
    p, c = f.picture, f.card
    severity = escape(p.severity.value if p.severity else "—")
    if p.private:
        return [escape(p.incident_id), severity, escape(p.phase.value), "private", "", "", ""]
    counts = [str(len(c.kept)), str(len(c.missed)), str(len(c.open))]
    return [escape(p.incident_id), severity, escape(p.phase.value), escape(f.summary), *counts]
