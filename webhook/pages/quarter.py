"""The quarter's report on /ui/report: the figures of plan/report.py and the page of
reporting/html.py with its charts (`irp report --format html`'s, the same document), made from
the compliance cards the incidents answer themselves (each under the policy it pinned).

Both come with the quarter's report (issue 24 item 2). In a build without them, `REPORT` is None
and the page shows each incident's card in sum instead, and says so."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from datetime import datetime
from importlib import import_module

from plan.compliance import ComplianceCard
from plan.incident import IncidentStatus

try:  # by name: `reporting` is the report's own first-party package, absent from a build without it
    report = import_module("plan.report").report
    picture = import_module("plan.picture").picture
    Found = import_module("reporting.collect").Found
    STYLE = import_module("reporting.html").STYLE
    report_page = import_module("reporting.html").page
    REPORT = True
except ImportError:  # a build without the quarter's report
    REPORT = False
    STYLE = ""


def style_hash(css: str) -> str:
    """The CSP source that allows exactly this inline stylesheet."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(css.encode()).digest()).decode() + "'"


def headers(own_css: str) -> dict[str, str]:
    """The report page's answer headers: no script, its own stylesheet and ours, its charts as
    `data:` PNGs."""
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src {style_hash(STYLE)} {style_hash(own_css)}; img-src data:; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


async def document(
    answers: list[tuple[IncidentStatus, ComplianceCard]], since: datetime, now: datetime, nav: str
) -> str:
    """The report's HTML document over the incidents that answered, with `nav` (our header, its
    own stylesheet included) at the top of its body. The charts are drawn in a thread: the receiver
    keeps answering alerts meanwhile."""
    figures = report([c for _, c in answers], since, now)
    found = [
        Found(card=c, picture=picture(s, now), summary="" if s.private else s.summary)
        for s, c in sorted(answers, key=lambda a: a[1].started_at)
        if c.resolved_at and c.started_at >= since
    ]
    text = await asyncio.to_thread(report_page, figures, found)
    head, body, rest = text.partition("<body>")
    return head + body + nav + rest if body else text
