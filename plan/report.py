"""Compliance, per quarter: the figures of `irp report` over the compliance cards of the incidents
in a window (plan/compliance.py). Pure: no I/O, no clock (the caller passes `since` and `now`).

- per severity: how many incidents, MTTA (problem start → acknowledgement) and MTTR (problem start
  → resolution), each as median and 90th percentile (linear interpolation between ranks, as
  numpy's default); the start is the alert's own `startsAt` (plan/start.py), as §4 counts it;
- each promise's kept rate: kept ÷ (kept + missed); open promises are not counted yet. The §5.2
  updates (`update-1`, `update-2`, …) count as one promise, `update`;
- the most-missed promises: the most misses first (then the lowest kept rate);
- the overdue follow-ups: §8 deliverables still open past their due time, the latest first;
- promises kept over time: kept and missed per ISO week of their due time (Monday, UTC).

An incident counts when its problem started at or after `since` and it is resolved (`review` or
`closed`). A private incident's overdue follow-up names no holder (docs/report.md)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import BaseModel

from plan.compliance import ComplianceCard, Promise

UPDATE = "update"  # the §5.2 updates as one promise
MOST_MISSED = 5


class Spread(BaseModel):
    """Median and 90th percentile of some durations; None when there are none."""

    n: int
    median: timedelta | None = None
    p90: timedelta | None = None


class SeverityFigures(BaseModel):
    """One severity's incidents: MTTA and MTTR from the problem's start. `severity` "—": none set."""

    severity: str
    incidents: int
    mtta: Spread
    mttr: Spread


class PromiseRate(BaseModel):
    """One promise of the plan over the window: how often it was kept, missed, still open."""

    key: str  # "acknowledge", "triage", …, "update" (every §5.2 update), "status-page", a §8 key
    section: str
    title: str
    kept: int = 0
    missed: int = 0
    open: int = 0

    @property
    def rate(self) -> float | None:
        """Kept ÷ (kept + missed), 0–1; None while none was judged."""
        judged = self.kept + self.missed
        return self.kept / judged if judged else None


class Overdue(BaseModel):
    """A §8 follow-up still open past its due time (`late_by` so far at the report's `now`)."""

    incident_id: str
    severity: str
    private: bool
    key: str
    title: str
    holder: str | None
    due_at: datetime
    late_by: timedelta


class Week(BaseModel):
    """Promises due in the ISO week starting Monday `start` (UTC), kept and missed."""

    start: date
    kept: int = 0
    missed: int = 0


class QuarterReport(BaseModel):
    """Everything `irp report` shows (text, HTML, and the incident pages' report)."""

    since: datetime
    until: datetime
    incidents: int
    severities: list[SeverityFigures]
    promises: list[PromiseRate]
    most_missed: list[PromiseRate]
    overdue: list[Overdue]
    weeks: list[Week]


def quantile(values: list[float], q: float) -> float | None:
    """The q-quantile (0–1) of `values`, linear between the closest ranks; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def spread(durations: list[timedelta]) -> Spread:
    """Median and p90 of `durations`, to the second as given."""
    seconds = [d.total_seconds() for d in durations]
    median, p90 = quantile(seconds, 0.5), quantile(seconds, 0.9)
    return Spread(
        n=len(seconds),
        median=timedelta(seconds=median) if median is not None else None,
        p90=timedelta(seconds=p90) if p90 is not None else None,
    )


def family(key: str) -> str:
    """The promise a key counts under: `update-3` → `update`; any other key is its own."""
    return UPDATE if key.startswith(UPDATE + "-") and key[len(UPDATE) + 1 :].isdigit() else key


def counted(card: ComplianceCard, since: datetime) -> bool:
    """Whether the report counts this incident: it started in the window and is resolved."""
    return card.started_at >= since and card.resolved_at is not None


def report(cards: list[ComplianceCard], since: datetime, now: datetime) -> QuarterReport:
    """The quarter's figures over `cards` (those `counted`), seen at `now`."""
    cards = sorted((c for c in cards if counted(c, since)), key=lambda c: c.started_at)
    rates = promise_rates(cards)
    return QuarterReport(
        since=since,
        until=now,
        incidents=len(cards),
        severities=by_severity(cards),
        promises=rates,
        most_missed=most_missed(rates),
        overdue=overdue(cards, now),
        weeks=weeks(cards),
    )


def by_severity(cards: list[ComplianceCard]) -> list[SeverityFigures]:
    """MTTA and MTTR per severity, P0 first; incidents with no severity last, as "—"."""
    groups: dict[str, list[ComplianceCard]] = {}
    for c in cards:
        groups.setdefault(c.severity.value if c.severity else "—", []).append(c)
    return [
        SeverityFigures(
            severity=severity,
            incidents=len(group),
            mtta=spread([c.acknowledged_at - c.started_at for c in group if c.acknowledged_at]),
            mttr=spread([c.resolved_at - c.started_at for c in group if c.resolved_at]),
        )
        for severity, group in sorted(groups.items(), key=lambda g: (g[0] == "—", g[0]))
    ]


def promise_rates(cards: list[ComplianceCard]) -> list[PromiseRate]:
    """Each promise's counts, in the order the plan makes them (as the cards list them)."""
    rates: dict[str, PromiseRate] = {}
    for c in cards:
        for p in c.promises:
            key = family(p.key)
            rate = rates.setdefault(key, PromiseRate(key=key, section=p.section, title=_title(key, p)))
            setattr(rate, p.state, getattr(rate, p.state) + 1)
    return list(rates.values())


def _title(key: str, p: Promise) -> str:
    return "Updates at the severity's cadence" if key == UPDATE else p.title


def most_missed(rates: list[PromiseRate], top: int = MOST_MISSED) -> list[PromiseRate]:
    """The promises missed at least once: most misses first, then the lowest kept rate."""
    missed = [r for r in rates if r.missed]
    return sorted(missed, key=lambda r: (-r.missed, r.rate if r.rate is not None else 1.0, r.key))[:top]


def overdue(cards: list[ComplianceCard], now: datetime) -> list[Overdue]:
    """§8 follow-ups still open past their due time at `now`, the latest first."""
    rows = [
        Overdue(
            incident_id=c.incident_id,
            severity=c.severity.value if c.severity else "—",
            private=c.private,
            key=p.key,
            title=p.title,
            holder=None if c.private else p.holder,
            due_at=p.due_at,
            late_by=now - p.due_at,
        )
        for c in cards
        for p in c.promises
        if p.section == "§8" and p.state == "open" and p.due_at < now
    ]
    return sorted(rows, key=lambda o: (-o.late_by, o.incident_id, o.key))


def weeks(cards: list[ComplianceCard]) -> list[Week]:
    """Kept and missed promises by the ISO week of their due time, oldest first."""
    table: dict[date, Week] = {}
    for c in cards:
        for p in c.promises:
            if p.state == "open":
                continue
            day = p.due_at.date()
            start = day - timedelta(days=day.weekday())
            week = table.setdefault(start, Week(start=start))
            setattr(week, p.state, getattr(week, p.state) + 1)
    return [table[k] for k in sorted(table)]


def spoken(delta: timedelta | None) -> str:
    """A duration for a reader: "45 s", "3 min 20 s", "2 h 05 min", "1 d 4 h"; "—" for none."""
    if delta is None:
        return "—"
    s = round(delta.total_seconds())
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min" + (f" {s % 60} s" if s % 60 else "")
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.0%}"


def render(r: QuarterReport) -> str:
    """The report as markdown text (what `irp report` prints)."""
    lines = [
        f"# Compliance report, {r.since:%Y-%m-%d} to {r.until:%Y-%m-%d}",
        "",
        f"{r.incidents} resolved incident{'s' if r.incidents != 1 else ''} that started in the window.",
        "",
        "## MTTA and MTTR by severity (from the problem's start)",
        "",
        "| Severity | Incidents | MTTA median | MTTA p90 | MTTR median | MTTR p90 |",
        "|---|---|---|---|---|---|",
        *(
            f"| {s.severity} | {s.incidents} | {spoken(s.mtta.median)} | {spoken(s.mtta.p90)} "
            f"| {spoken(s.mttr.median)} | {spoken(s.mttr.p90)} |"
            for s in r.severities
        ),
        "",
        "## Promises kept",
        "",
        "| Promise | Plan | Kept | Missed | Open | Kept rate |",
        "|---|---|---|---|---|---|",
        *(
            f"| {p.title} | {p.section} | {p.kept} | {p.missed} | {p.open} | {percent(p.rate)} |"
            for p in r.promises
        ),
        "",
        "## Most missed",
        "",
        *(
            [f"- {p.title} ({p.section}): missed {p.missed}, kept {percent(p.rate)}" for p in r.most_missed]
            or ["- none"]
        ),
        "",
        "## Overdue follow-ups (§8)",
        "",
        *(
            [
                f"- {o.incident_id} ({o.severity}): {o.title}, due {o.due_at:%Y-%m-%d %H:%M} UTC, "
                f"{spoken(o.late_by)} overdue" + (f" · {o.holder}" if o.holder else "")
                for o in r.overdue
            ]
            or ["- none"]
        ),
    ]
    return "\n".join(lines) + "\n"
