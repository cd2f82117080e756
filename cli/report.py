"""`irp report --since 90d [--format text|html] [--out FILE]`: compliance per quarter over the
resolved incidents Temporal visibility finds on the deployment's task queue (TEMPORAL_TASK_QUEUE;
`--all-queues`: every queue, drills run on their own included; reporting/collect.py), the figures from
plan/report.py over each incident's own compliance card, under the policy it pinned; the policy file
(IRP_POLICY_FILE) judges only those that cannot answer, and the report says how many and why
(docs/report.md)."""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import Client

from plan.policy import load_policy, policy_path
from plan.report import render, report
from reporting.collect import Found, gather

_SPAN = re.compile(r"^(?P<n>\d{1,5})(?P<unit>[hdw])$")
UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def window(text: str) -> timedelta:
    """`90d`, `12w`, `36h` as a duration; ValueError (said for the command line) otherwise."""
    match = _SPAN.match(text.strip())
    if not match or int(match["n"]) == 0:
        raise ValueError(f"--since {text!r}: say how far back as a number and h, d or w (e.g. 90d)")
    return int(match["n"]) * UNITS[match["unit"]]


SHOWN_IDS = 10  # incident ids named per reason


def judged_locally(found: list[Found], policy_file: str) -> list[str]:
    """What the report says of the incidents its local policy file judged, because their own
    compliance card could not be had: how many, and each reason with the incidents it held
    (at most SHOWN_IDS named). [] when every incident answered for itself."""
    by_reason: dict[str, list[str]] = defaultdict(list)
    for f in found:
        if f.local_because:
            by_reason[f.local_because].append(f.card.incident_id)
    if not by_reason:
        return []
    count = sum(len(ids) for ids in by_reason.values())
    lines = [
        f"{count} of {len(found)} incidents judged by the local policy ({policy_file}), "
        "not the one each pinned:"
    ]
    for reason, ids in sorted(by_reason.items(), key=lambda r: (-len(r[1]), r[0])):
        more = f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else ""
        lines.append(f"- {len(ids)}: {reason} ({', '.join(ids[:SHOWN_IDS])}{more})")
    return lines


async def run(
    client: Client, since: str, form: str, out: str | None, wait: float, task_queue: str | None
) -> int:
    """Write the report to `out` (or print it); 0, or 1 when some incident could not be read.
    `task_queue`: only the incidents on it (the deployment's; None: every queue)."""
    now = datetime.now(UTC)
    start = now - window(since)
    found, unread = await gather(client, load_policy(), start, now, task_queue, wait)
    figures = report([f.card for f in found], start, now)
    notes = judged_locally(found, str(policy_path()))
    if form == "html":
        from reporting.html import page  # matplotlib only when a chart is drawn

        shown = [f for f in found if f.card.resolved_at and f.card.started_at >= start]
        text = page(figures, shown, notes)
    else:
        local = "\n## Judged by the local policy\n\n" + "\n".join(notes) + "\n" if notes else ""
        text = render(figures) + local
    if out:
        Path(out).write_text(text, encoding="utf-8")
        local = f", {sum(1 for f in found if f.local_because)} judged by the local policy" if notes else ""
        print(f"wrote {out} ({figures.incidents} incidents{local})")
    else:
        print(text, end="")
    for line in unread:
        print(f"not read: {line}", file=sys.stderr)
    return 1 if unread else 0
