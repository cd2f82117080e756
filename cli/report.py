"""`irp report --since 90d [--format text|html] [--out FILE]`: compliance per quarter over the
resolved incidents Temporal visibility finds on the deployment's task queue (TEMPORAL_TASK_QUEUE;
`--all-queues`: every queue, drills run on their own included; reporting/collect.py), the figures from
plan/report.py, under the policy file the worker reads (IRP_POLICY_FILE; docs/report.md)."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import Client

from plan.policy import load_policy
from plan.report import render, report
from reporting.collect import gather

_SPAN = re.compile(r"^(?P<n>\d{1,5})(?P<unit>[hdw])$")
UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def window(text: str) -> timedelta:
    """`90d`, `12w`, `36h` as a duration; ValueError (said for the command line) otherwise."""
    match = _SPAN.match(text.strip())
    if not match or int(match["n"]) == 0:
        raise ValueError(f"--since {text!r}: say how far back as a number and h, d or w (e.g. 90d)")
    return int(match["n"]) * UNITS[match["unit"]]


async def run(
    client: Client, since: str, form: str, out: str | None, wait: float, task_queue: str | None
) -> int:
    """Write the report to `out` (or print it); 0, or 1 when some incident could not be read.
    `task_queue`: only the incidents on it (the deployment's; None: every queue)."""
    now = datetime.now(UTC)
    start = now - window(since)
    found, unread = await gather(client, load_policy(), start, now, task_queue, wait)
    figures = report([f.card for f in found], start, now)
    if form == "html":
        from reporting.html import page  # matplotlib only when a chart is drawn

        text = page(figures, [f for f in found if f.card.resolved_at and f.card.started_at >= start])
    else:
        text = render(figures)
    if out:
        Path(out).write_text(text, encoding="utf-8")
        print(f"wrote {out} ({figures.incidents} incidents)")
    else:
        print(text, end="")
    for line in unread:
        print(f"not read: {line}", file=sys.stderr)
    return 1 if unread else 0
