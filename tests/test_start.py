"""When the problem began (plan/start.py, issue 20): the field's startsAt as Alertmanager sends
them, parsed faithfully, the earliest believed one the incident's start, in UTC. Pure: tables and
properties, no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from plan import AlertmanagerDelivery, Declaration, load_policy
from plan.alert_digest import digest
from plan.incident import IncidentState
from plan.lifecycle import escalation_due, windows_passed
from plan.models import Phase
from plan.postmortem import facts
from plan.start import BELIEVED, alert_starts, from_unix, problem_start, start_line
from plan.templates import bridge_opening, started, windows_passed_on_arrival
from tests.fuzz import budget
from tests.payloads import alert, delivery

RECEIVED = datetime(2026, 12, 7, 9, 12, 26, tzinfo=UTC)
ZERO = "0001-01-01T00:00:00Z"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def starting(*starts: str) -> dict:
    """An Alertmanager delivery whose firing alerts began at `starts` (each its own fingerprint),
    with endsAt as Alertmanager sends it for a firing alert (Go's zero time)."""
    alerts = []
    for n, at in enumerate(starts):
        a = alert(module="fees", pod=f"fees-{n}")
        a.update(startsAt=at, endsAt=ZERO, fingerprint=f"{n:016x}")
        alerts.append(a)
    return delivery(*alerts)


def start_of(payload: dict, received: datetime = RECEIVED, known: datetime | None = None):
    """The whole pure path: the receiver's parse and digest, then the rule."""
    kept = digest(AlertmanagerDelivery.model_validate(payload))
    return problem_start(alert_starts(kept), received, known)


@pytest.mark.parametrize(
    "starts, expected, believed, said",
    [
        # The field's three: an offset, 40 min before receipt; nanoseconds and a negative offset
        # (the extra digits cut, never rounded into another microsecond); Go's zero time.
        (["2026-12-07T16:32:26+08:00"], "2026-12-07T08:32:26+00:00", True, []),
        (["2026-12-07T06:25:43.16095407-02:00"], "2026-12-07T08:25:43.160954+00:00", True, []),
        (
            [ZERO],
            "2026-12-07T09:12:26+00:00",
            False,
            ["Go's zero time (0001-01-01, no start set): not believed"],
        ),
        # The earliest believed one wins, whatever the offsets; the zero time is said, not taken.
        (
            ["2026-12-07T09:00:00Z", "2026-12-07T16:32:26+08:00", ZERO, "2026-12-07T06:25:43.5-02:00"],
            "2026-12-07T08:25:43.500000+00:00",
            True,
            ["Go's zero time"],
        ),
        # The sender's clock ahead of ours: clamped to the receipt, and said.
        (["2026-12-07T09:12:31Z"], "2026-12-07T09:12:26+00:00", True, ["by up to 5 s: the sender's clock"]),
        # Ahead, but an earlier start is known from the same delivery: no clamp to say.
        (["2026-12-07T09:12:31Z", "2026-12-07T09:02:26Z"], "2026-12-07T09:02:26+00:00", True, []),
        # Exactly the bound is believed; a microsecond past it is not (10 days is not either).
        (["2026-11-30T09:12:26Z"], "2026-11-30T09:12:26+00:00", True, []),
        (["2026-11-30T09:12:25.999999Z"], "2026-12-07T09:12:26+00:00", False, ["more than 7 days"]),
        (["2026-11-27T09:58:00Z"], "2026-12-07T09:12:26+00:00", False, ["9 days before we received it"]),
        # The zero time in an offset east of UTC is in year 0 as UTC: still the zero time, no error.
        (["0001-01-01T00:00:00+08:00"], "2026-12-07T09:12:26+00:00", False, ["Go's zero time"]),
        (["9999-12-31T23:59:59-02:00"], "2026-12-07T09:12:26+00:00", True, ["the sender's clock is ahead"]),
    ],
)
def test_the_start_from_what_alertmanager_sends(starts, expected, believed, said):
    start = start_of(starting(*starts))
    assert start.at == datetime.fromisoformat(expected) and start.at.utcoffset() == timedelta(0)
    assert start.at.tzinfo is UTC
    assert start.believed is believed and start.moved and start.given == len(starts)
    assert len(start.said) == len(said) and all(s in line for s, line in zip(said, start.said, strict=True))


@pytest.mark.parametrize(
    "known, later, expected, moved",
    [
        ("2026-12-07T08:32:26Z", "2026-12-07T08:50:00Z", "2026-12-07T08:32:26Z", False),  # never later
        ("2026-12-07T08:32:26Z", "2026-12-07T08:00:00+00:00", "2026-12-07T08:00:00Z", True),
        ("2026-12-07T08:32:26Z", ZERO, "2026-12-07T08:32:26Z", False),  # not believed: nothing moves
        ("2026-12-07T08:32:26Z", "2026-12-07T10:00:00Z", "2026-12-07T08:32:26Z", False),  # ahead: clamped
    ],
)
def test_a_later_delivery_moves_the_start_earlier_never_later(known, later, expected, moved):
    start = start_of(starting(later), RECEIVED + timedelta(minutes=5), known=utc(known))
    assert start.at == utc(expected) and start.moved is moved


@pytest.mark.parametrize(
    "given, expected, believed",
    [
        ("2026-12-07T16:32:26+08:00", "2026-12-07T08:32:26Z", True),
        ("2026-12-08T09:00:00Z", "2026-12-07T09:12:26Z", True),  # tomorrow: clamped to the receipt
        ("1970-01-01T00:00:00Z", "2026-12-07T09:12:26Z", False),  # the Unix epoch: not believed
    ],
)
def test_a_declared_start_follows_the_same_rules(given, expected, believed):
    declaration = Declaration(summary="Fees down", reporter="support@preskool.com", started_at=given)
    start = problem_start([declaration.started_at], RECEIVED, source="declared")
    assert start.at == utc(expected) and start.believed is believed
    assert all(line.startswith("the declared start is") for line in start.said)


def test_a_declaration_takes_a_start_only_with_its_offset_and_hashes_as_before_without_one():
    with pytest.raises(ValidationError, match="timezone"):
        Declaration(summary="Fees down", reporter="support@preskool.com", started_at="2026-12-07T08:32:00")
    plain = Declaration(
        summary="Fees page down", reporter="support@preskool.com", source="zendesk", severity="P1"
    )
    assert plain.digest() == "be9aa89852f4ef4d"  # as before started_at existed (an Idempotency-Key's retry)
    assert plain.model_copy(update={"private": True}).digest() == "d4794a249aca2089"
    dated = plain.model_copy(update={"started_at": utc("2026-12-07T08:32:00Z")})
    assert dated.digest() != plain.digest()


@pytest.mark.parametrize(
    "seconds, expected",
    [
        (1796624743.160954, datetime(2026, 12, 7, 6, 25, 43, 160954, tzinfo=UTC)),
        (-62135596800.0, datetime.min.replace(tzinfo=UTC)),  # Go's zero time
        (-62135625600.0, datetime.min.replace(tzinfo=UTC)),  # the zero time at +08:00: year 0 in UTC
        (1e20, datetime.max.replace(tzinfo=UTC)),
        (float("inf"), datetime.max.replace(tzinfo=UTC)),
        (float("-inf"), datetime.min.replace(tzinfo=UTC)),
        (float("nan"), datetime.min.replace(tzinfo=UTC)),
    ],
)
def test_the_digests_unix_seconds_come_back_as_utc_never_an_error(seconds, expected):
    assert from_unix(seconds) == expected


def test_a_time_with_no_offset_is_read_as_utc_and_said():
    start = problem_start([datetime(2026, 12, 7, 8, 32, 26)], RECEIVED)
    assert start.at == utc("2026-12-07T08:32:26Z") and "no UTC offset: read as UTC" in start.said[-1]


def test_what_the_timeline_and_the_opening_say():
    late = problem_start([utc("2026-12-07T08:32:26Z")], RECEIVED)
    assert start_line(late, RECEIVED, "alert") == (
        "the problem began 2026-12-07 08:32:26 UTC (the earliest startsAt of its firing alerts), "
        "40 min before we received it (2026-12-07 09:12:26 UTC)"
    )
    doubted = problem_start([datetime.min.replace(tzinfo=UTC)], RECEIVED)
    assert start_line(doubted, RECEIVED, "alert").endswith(": no start given was believed")
    assert started(late.at, RECEIVED) == "2026-12-07 08:32 UTC (received 09:12 UTC, 40 min later)"
    assert started(RECEIVED, RECEIVED) == "2026-12-07 09:12 UTC"
    assert started(RECEIVED, RECEIVED, believed=False).startswith("2026-12-07 09:12 UTC (when we received it")
    overnight = started(utc("2026-12-06T23:50:00Z"), utc("2026-12-07T02:05:00Z"))
    assert overnight == "2026-12-06 23:50 UTC (received 2026-12-07 02:05 UTC, 2 h 15 min later)"
    opening = bridge_opening(
        severity="P1",
        summary="Fees down",
        impact="Fees",
        started_at=late.at,
        received_at=RECEIVED,
        ic=None,
        primary=None,
        secondary=None,
        pagerduty="https://pd",
    )
    assert "Started At: 2026-12-07 08:32 UTC (received 09:12 UTC, 40 min later)" in opening.splitlines()


def test_windows_count_from_the_start_and_the_escalation_from_the_page():
    policy = load_policy()
    start = utc("2026-12-07T08:32:26Z")
    assert windows_passed(policy, start, RECEIVED) == [Phase.DETECTION, Phase.TRIAGE, Phase.CONTAIN]
    assert windows_passed(policy, RECEIVED, RECEIVED) == []
    assert escalation_due(policy, RECEIVED) == RECEIVED + timedelta(minutes=2)
    text = windows_passed_on_arrival(
        late_by=RECEIVED - start,
        started_at=start,
        passed=[("DETECTION", 2), ("TRIAGE", 10), ("CONTAIN", 30)],
        how="This alert reached us",
        ends="FIX's ends at 12:32 UTC",
    )
    assert text == (
        "⏱ This alert reached us 40 min after the problem began (2026-12-07 08:32 UTC): §4's "
        "DETECTION (2 min), TRIAGE (10 min) and CONTAIN (30 min) windows had already passed. No nudges "
        "for them; FIX's ends at 12:32 UTC. The page still escalates if nobody acknowledges "
        "within 2 min of it."
    )


def test_the_postmortem_counts_from_the_start_and_says_when_we_heard():
    start = utc("2026-12-07T08:32:26Z")
    state = IncidentState(
        started_at=start,
        received_at=RECEIVED,
        acknowledged_at=RECEIVED + timedelta(minutes=3),
        mitigated_at=RECEIVED + timedelta(minutes=20),
    )
    f = facts("inc-1", state)
    assert f["started_at"] == "2026-12-07 08:32 UTC"
    assert f["received_at"] == "2026-12-07 09:12 UTC (40 min after it began)"
    assert f["time_to_acknowledge"] == "43 min" and f["time_to_mitigate"] == "1 h 00 min"
    assert facts("inc-1", IncidentState(started_at=RECEIVED))["received_at"] == "2026-12-07 09:12 UTC"


# --- properties: generated RFC 3339 timestamps, as any sender may write them ----------------------

OFFSETS = st.integers(min_value=-12 * 60, max_value=14 * 60)  # minutes east of UTC, −12:00..+14:00
RECEIPTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@st.composite
def rfc3339(draw, around: datetime) -> tuple[str, datetime]:
    """A timestamp as text and the instant it faithfully means (extra fraction digits cut to the
    microsecond): near the receipt, long before it, after it, or Go's zero time."""
    kind = draw(st.sampled_from(["near", "near", "old", "ahead", "zero", "zero-offset"]))
    offset = draw(OFFSETS)
    if kind == "zero":
        return ZERO, datetime.min.replace(tzinfo=UTC)
    shift = {
        "near": st.timedeltas(min_value=-BELIEVED, max_value=timedelta(0)),
        "old": st.timedeltas(min_value=timedelta(days=-3000), max_value=-BELIEVED),
        "ahead": st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)),
        "zero-offset": st.just(timedelta(0)),
    }[kind]
    tz = timezone(timedelta(minutes=offset))
    instant = datetime(1, 1, 1, tzinfo=tz) if kind == "zero-offset" else (around + draw(shift)).astimezone(tz)
    digits = draw(st.integers(min_value=0, max_value=9))
    fraction = f"{instant.microsecond:06d}{draw(st.integers(0, 999)):03d}"[:digits]
    meant = instant.replace(microsecond=int(fraction[:6].ljust(6, "0")) if digits else 0)
    sign = "-" if offset < 0 else "+"
    zone = (
        "Z"
        if offset == 0 and draw(st.booleans())
        else f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    )
    seconds = instant.replace(microsecond=0, tzinfo=None).isoformat()  # 0001-…, as strftime is not
    return seconds + (f".{fraction}" if digits else "") + zone, meant


@st.composite
def deliveries(draw):
    received = draw(RECEIPTS)
    starts = draw(st.lists(rfc3339(received), min_size=1, max_size=8))
    return received, starts


def believed(meant: datetime, received: datetime) -> datetime | None:
    """The oracle, written apart from the rule: what a faithful reading believes, clamped."""
    if meant.year <= 1 or meant < received - BELIEVED:
        return None
    return min(meant, received)


@budget(400)
@given(deliveries())
@example((RECEIVED, [("2026-12-07T16:32:26+08:00", utc("2026-12-07T08:32:26Z"))]))
@example((RECEIVED, [(ZERO, datetime.min.replace(tzinfo=UTC))]))
def test_the_start_is_utc_never_after_receipt_and_the_earliest_believed(case):
    """Through the receiver's digest (Unix seconds) and straight from the parsed datetimes (as a
    declaration's start reaches the rule): the same answer."""
    received, starts = case
    payload = starting(*(text for text, _ in starts))
    parsed = [a.startsAt for a in AlertmanagerDelivery.model_validate(payload).firing]
    taken = [b for _, meant in starts if (b := believed(meant, received)) is not None]
    for start in (start_of(payload, received), problem_start(parsed, received)):
        assert start.at.tzinfo is UTC
        assert start.at <= received
        assert start.at == min(taken, default=received)
        assert start.believed is bool(taken)


@budget(200)
@given(
    RECEIPTS, st.lists(st.lists(st.integers(-20_000, 600), min_size=1, max_size=4), min_size=1, max_size=5)
)
def test_later_deliveries_only_move_the_start_earlier(first, batches):
    """Deliveries arriving minute by minute, each with starts some seconds around its arrival."""
    known = None
    for n, seconds in enumerate(batches):
        arrival = first + timedelta(minutes=n)
        start = problem_start([arrival + timedelta(seconds=s) for s in seconds], arrival, known)
        assert start.at <= first and (known is None or start.at <= known)
        assert start.moved is (known is None or start.at < known)
        known = start.at
