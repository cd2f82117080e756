"""When the problem began (issue 20; §4's windows and every MTTA/MTTR figure count from it). Pure.

The incident's start is the earliest *believed* start the field gives — Alertmanager's `startsAt`
of the firing alerts, or the `started_at` a person declares — in UTC, kept beside the receipt
(when the incident first heard of it). What is believed:

- a start at or before the receipt. One after it (the sender's clock is ahead of ours) is
  clamped to the receipt, and the clamp is said;
- not Go's zero time (`0001-01-01T00:00:00Z`, which Alertmanager sends for "not set"), nor a
  start more than BELIEVED (7 days) before the receipt. The plan measures in minutes and hours
  (Detection 2 min … Fix 4 h, §8's 72 hours); a start a week before we heard of it is far more
  often a clock fault (the zero time, the Unix epoch, a host whose clock was never set) than the
  beginning of this problem, and believing it would make every MTTA/MTTR figure measure how long
  an alert was misrouted instead of how fast people responded. It is said in the timeline, with
  its value, and the next believed start (or the receipt) is taken instead.

A later delivery moves the start earlier when its alerts began earlier; never later."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel

from plan.alert_digest import AlertDigest

BELIEVED = timedelta(days=7)
SECOND = timedelta(seconds=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Source = Literal["alert", "declared"]


class Start(BaseModel):
    """The rule's answer. `at`: the problem's earliest known start, UTC. `believed`: False when the
    field gave starts and none was believed (`at` is then the receipt, or the start already
    known). `moved`: `at`
    is earlier than the start known before (always true for the first). `given`: how many starts
    the field gave. `said`: one line per kind of start that was clamped or not believed, for the
    timeline."""

    at: datetime
    believed: bool
    moved: bool
    given: int = 0
    said: list[str] = []


def utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive one (no offset, which RFC 3339 never allows) is read as UTC.
    OverflowError when its UTC day is before year 1 or after 9999."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def from_unix(seconds: float) -> datetime:
    """Unix seconds (as the alert digest keeps each firing alert's startsAt) back to a UTC
    datetime, exact to the microsecond for any date within centuries of now. Past the range of
    a datetime, or not a number (a hand-made update might send one): the latest datetime (too
    late) or the zero time (the rest), never an error."""
    try:
        return EPOCH + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        return datetime.max.replace(tzinfo=UTC) if seconds > 0 else datetime.min.replace(tzinfo=UTC)


def alert_starts(delivery: AlertDigest) -> list[datetime]:
    """The startsAt of each firing alert the digest tracks (plan/alert_digest.py: up to 5,000)."""
    return [from_unix(seconds) for seconds in delivery.firing_since.values()]


def problem_start(
    starts: Iterable[datetime],
    received_at: datetime,
    known: datetime | None = None,
    source: Source = "alert",
) -> Start:
    """The problem's start from the starts a delivery (`source="alert"`: its firing alerts'
    startsAt) or a declaration (its `started_at`) gives, received at `received_at` (aware);
    `known`: the start the incident already has (never moved later). See the module's rules."""
    received = utc(received_at)
    zero, old, ahead, naive, taken, given = [], [], [], 0, [], 0
    for moment in starts:
        given += 1
        if moment.tzinfo is None or moment.utcoffset() is None:
            naive, moment = naive + 1, moment.replace(tzinfo=UTC)
        if moment.year <= 1:
            zero.append(moment)
        elif moment < received - BELIEVED:
            old.append(moment)
        elif moment > received:
            ahead.append(moment)
            taken.append(received)
        else:
            taken.append(utc(moment))
    found = min(taken, default=None)
    at = found if found is not None else received
    if known is not None:
        at = min(at, utc(known))
    said = _said(source, received, zero, old, ahead if at == received and ahead else [], naive)
    moved = known is None or at < utc(known)
    return Start(at=at, believed=found is not None or not given, moved=moved, given=given, said=said)


def _said(
    source: Source,
    received: datetime,
    zero: list[datetime],
    old: list[datetime],
    ahead: list[datetime],
    naive: int,
) -> list[str]:
    lines = []
    if zero:
        lines.append(f"{_whose(source, len(zero))} Go's zero time (0001-01-01, no start set): not believed")
    if old:
        earliest = min(old)
        lines.append(
            f"{_whose(source, len(old))} {_seen(earliest)}, {(received - earliest).days:,} days before we "
            f"received it (more than {BELIEVED.days} days): not believed"
        )
    if ahead:
        by = max(ahead) - received
        lines.append(
            f"{_whose(source, len(ahead))} after we received it (by up to {span(by)}: the sender's clock "
            "is ahead of ours): taken as the time we received it"
        )
    if naive:
        lines.append(f"{_whose(source, naive)} a time with no UTC offset: read as UTC")
    return lines


def start_line(start: Start, received_at: datetime, source: Source, by: str = "") -> str:
    """The timeline's sentence for the incident's start (UTC, with the receipt beside it)."""
    received = utc(received_at)
    if not start.given or not start.believed and start.at == received:
        why = "no start given was believed" if start.given else "no start was given"
        return f"the problem's start is counted from when we received it ({_seen(received, True)}): {why}"
    what = "the earliest startsAt of its firing alerts" if source == "alert" else f"as declared{by}"
    late = received - start.at
    after = f", {span(late)} before we received it ({_seen(received, True)})" if late >= SECOND else ""
    return f"the problem began {_seen(start.at, True)} ({what}){after}"


def _whose(source: Source, count: int) -> str:
    if source == "declared":
        return "the declared start is"
    return f"startsAt of {count:,} firing alert{'s' if count > 1 else ''} {'is' if count == 1 else 'are'}"


def _seen(moment: datetime, exact: bool = False) -> str:
    """A moment as said in the timeline: its UTC value, else as sent (a UTC year 0 or 10000)."""
    try:
        return utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC" if exact else "%Y-%m-%d %H:%M UTC")
    except OverflowError:
        return moment.isoformat()


def span(delta: timedelta) -> str:
    """A duration as people say it: 40 s, 40 min, 3 h 05 min, 2 days 4 h."""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 86400} days {seconds % 86400 // 3600} h"
