"""Compliance per incident (plan/compliance.py): table tests over the pure card, with the plan's
numbers read from the policy (config/preskool.yaml), never written here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from plan.compliance import card, render, spoken
from plan.deliverables import open_ledger
from plan.events import EventKind as K
from plan.incident import IncidentStatus, Page, Resolution, TimelineEntry
from plan.models import Phase, Role, Severity
from plan.policy import load_policy

POLICY = load_policy()
W = POLICY.phase_windows
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PRIMARY = POLICY.roster[Role.oncall_primary].email
IC = POLICY.roster[Role.incident_commander].email
MIN = timedelta(minutes=1)


def every(severity: Severity) -> timedelta:
    return POLICY.update_cadence[severity]


def event(kind: K, at: datetime, **fields) -> TimelineEntry:
    return TimelineEntry(kind=kind, text=str(kind), at=at, **fields)


def status(
    severity: Severity = Severity.P1,
    *,
    received: timedelta = timedelta(0),
    ack: timedelta | None = None,
    phases: dict[Phase, timedelta] | None = None,
    updates: list[timedelta] = (),
    changes: dict[timedelta, Severity] | None = None,
    resolved: timedelta | None = None,
    extra: list[TimelineEntry] = (),
    private: bool = False,
    ledger: list | None = None,
) -> IncidentStatus:
    """An incident's `status` answer, its moments given as offsets from START."""
    opened = START + received
    timeline = [event(K.detected, opened), event(K.severity, opened, severity=severity)]
    timeline += [event(K.phase, START + at, phase=p) for p, at in (phases or {}).items()]
    timeline += [event(K.update, START + at, by=IC) for at in updates]
    timeline += [event(K.severity, START + at, severity=s) for at, s in (changes or {}).items()]
    return IncidentStatus(
        incident_id="inc-test",
        severity=severity,
        severity_reasons=[],
        phase=Phase.TRIAGE,
        phases={p: START + at for p, at in (phases or {}).items()},
        summary="",
        impact="",
        started_at=START,
        received_at=opened,
        acknowledged_by=PRIMARY if ack is not None else None,
        acknowledged_at=START + ack if ack is not None else None,
        roles=[],
        channel=None,
        paged=[Page(role=Role.oncall_primary, person=PRIMARY, dedup_key="k", outcome="paged", at=opened)],
        deliveries=1,
        private=private,
        resolution=Resolution(by=IC, summary="done", at=START + resolved) if resolved is not None else None,
        deliverables=ledger or [],
        timeline=sorted([*timeline, *extra], key=lambda e: e.at),
    )


def promise(c, key: str):
    return next(p for p in c.promises if p.key == key)


def test_the_windows_are_the_policys_and_said_as_the_plan_says_them():
    c = card(status(ack=MIN), POLICY, START + 5 * MIN)
    assert [promise(c, k).title for k in ("acknowledge", "triage", "contain", "fix")] == [
        f"Acknowledge within {spoken(W.DETECTION)}",
        f"Triage within {spoken(W.TRIAGE)}",
        f"Contain within {spoken(W.CONTAIN)}",
        f"Fix within {spoken(W.FIX)}",
    ]
    assert spoken(W.DETECTION) == "2 minutes" and spoken(W.FIX) == "4 hours"  # the plan's §4 words


@pytest.mark.parametrize(
    "ack, state, late_by",
    [
        (W.DETECTION - MIN, "kept", None),
        (W.DETECTION, "kept", None),  # at the deadline is in time
        (W.DETECTION + 3 * MIN + timedelta(seconds=5), "missed", 3 * MIN + timedelta(seconds=5)),
        (None, "open", 8 * MIN),  # seen 10 min after the start, nobody has acknowledged
    ],
)
def test_acknowledgement_within_the_detection_window_from_the_start(ack, state, late_by):
    c = card(status(ack=ack), POLICY, START + W.DETECTION + 8 * MIN)
    a = promise(c, "acknowledge")
    assert (a.section, a.due_at, a.state, a.late_by) == ("§4.1", START + W.DETECTION, state, late_by)
    assert a.holder == f"{Role.oncall_primary.title} {POLICY.roster[Role.oncall_primary].name} <{PRIMARY}>"


def test_a_late_acknowledgement_is_shown_missed_by_the_right_amount():
    late = W.DETECTION + 4 * MIN + timedelta(seconds=30)
    text = render(card(status(ack=late), POLICY, START + 30 * MIN))
    assert "❌ §4.1 Acknowledge within 2 minutes: due 2026-03-02 09:02:00 UTC, missed by 4 min 30 s" in text


@pytest.mark.parametrize(
    "phases, resolved, expect",
    [
        # each phase left within its window
        ({Phase.CONTAIN: 5 * MIN, Phase.FIX: 20 * MIN}, timedelta(hours=1), ("kept", "kept", "kept")),
        # contained late, fixed late
        (
            {Phase.CONTAIN: 9 * MIN, Phase.FIX: W.CONTAIN + 7 * MIN},
            W.FIX + 15 * MIN,
            ("kept", "missed", "missed"),
        ),
        # resolved straight from TRIAGE: the passed-over phases ended at the resolution
        ({}, 20 * MIN, ("missed", "kept", "kept")),
        # still containing an hour in: triage kept, contain late so far, fix not due
        ({Phase.CONTAIN: 8 * MIN}, None, ("kept", "open", "open")),
    ],
)
def test_phase_windows_from_the_problems_start(phases, resolved, expect):
    now = START + (resolved or timedelta(hours=1))
    c = card(status(ack=MIN, phases=phases, resolved=resolved), POLICY, now)
    assert tuple(promise(c, k).state for k in ("triage", "contain", "fix")) == expect


def test_contain_missed_by_the_time_past_its_window():
    c = card(status(ack=MIN, phases={Phase.CONTAIN: 5 * MIN, Phase.FIX: W.CONTAIN + 7 * MIN}), POLICY, START)
    assert promise(c, "contain").late_by == 7 * MIN


def test_an_alert_that_reached_us_late_says_so_beside_the_windows_it_missed():
    c = card(status(received=40 * MIN, ack=41 * MIN), POLICY, START + 50 * MIN)
    a = promise(c, "acknowledge")
    assert a.state == "missed" and a.late_by == 41 * MIN - W.DETECTION
    assert a.note == "the incident was opened 40 min after the start"


def _updates(c):
    return [(p.due_at - START, p.state, p.late_by) for p in c.promises if p.key.startswith("update-")]


P0, P1 = every(Severity.P0), every(Severity.P1)


@pytest.mark.parametrize(
    "severity, updates, resolved, expect",
    [
        # P0, on time each time; resolved before the third falls due
        (
            Severity.P0,
            [P0 - MIN, 2 * P0 - 3 * MIN],
            2 * P0 + MIN,
            [(P0, "kept", None), (2 * P0 - MIN, "kept", None)],
        ),
        # P1: one late by 5 minutes; the next counts from the late update
        (Severity.P1, [P1 + 5 * MIN], P1 + 5 * MIN + P1 - MIN, [(P1, "missed", 5 * MIN)]),
        # P0: none for 40 minutes: two missed, both answered by the update at 40
        (
            Severity.P0,
            [40 * MIN],
            40 * MIN + P0 - MIN,
            [(P0, "missed", 40 * MIN - P0), (2 * P0, "missed", 40 * MIN - 2 * P0)],
        ),
        # P1 resolved with an update owed: missed until the resolution
        (Severity.P1, [], P1 + 10 * MIN, [(P1, "missed", 10 * MIN)]),
        # P2 and P3 have no cadence
        (Severity.P2, [], timedelta(hours=2), []),
    ],
)
def test_updates_each_due_kept_or_missed_by_how_much(severity, updates, resolved, expect):
    c = card(status(severity, ack=MIN, updates=updates, resolved=resolved), POLICY, START + resolved)
    assert _updates(c) == expect
    assert all(p.section == "§5.2" for p in c.promises if p.key.startswith("update-"))


def test_an_open_incident_shows_the_update_owed_and_the_next():
    c = card(status(Severity.P0, ack=MIN, updates=[P0 - MIN]), POLICY, START + 2 * P0 + 2 * MIN)
    assert _updates(c) == [(P0, "kept", None), (2 * P0 - MIN, "open", 3 * MIN), (3 * P0 - MIN, "open", None)]


def test_a_raised_severity_re_times_the_cadence_as_the_bridge_does():
    # P2 (no cadence) → P0 an hour in: the first update is due at once (one cadence after opening passed)
    c = card(
        status(
            Severity.P2,
            ack=MIN,
            changes={timedelta(hours=1): Severity.P0},
            updates=[timedelta(hours=1, minutes=4)],
        ),
        POLICY,
        START + timedelta(hours=1, minutes=10),
    )
    got = _updates(c)
    assert got[0] == (timedelta(hours=1), "missed", 4 * MIN)
    assert got[1] == (timedelta(hours=1, minutes=4) + P0, "open", None)


@pytest.mark.parametrize(
    "severity, private, posted, expect",
    [
        (Severity.P1, False, 3 * MIN, "kept"),
        (Severity.P0, False, W.TRIAGE + 2 * MIN, "missed"),
        (Severity.P2, False, None, None),  # not a status-page severity
        (Severity.P0, True, None, None),  # private: nothing public until a statement is approved
    ],
)
def test_status_page_when_it_applies(severity, private, posted, expect):
    extra = [event(K.status_page, START + posted)] if posted is not None else []
    c = card(status(severity, ack=MIN, private=private, extra=extra), POLICY, START + timedelta(hours=1))
    got = next((p for p in c.promises if p.key == "status-page"), None)
    assert (got.state if got else None) == expect
    if got:
        assert got.due_at == START + W.TRIAGE and got.holder.startswith(Role.communications_lead.title)


def _closed(ledger, key, state, after: timedelta, by=IC, reason=None):
    d = next(d for d in ledger if d.key == key)
    d.state, d.closed_at, d.closed_by, d.reason = (
        state,
        d.due_at - POLICY.deliverables[key].sla + after,
        by,
        reason,
    )


def test_deliverables_from_the_ledgers_due_and_closed_times():
    resolved = timedelta(hours=1)
    ledger = open_ledger(POLICY, Severity.P0, START + resolved)
    _closed(ledger, "customer_email", "done", 90 * MIN)  # within 2 hours
    _closed(ledger, "incident_report", "done", timedelta(hours=26))  # 2 h late
    _closed(ledger, "runbook_update", "waived", timedelta(days=1), reason="nothing new")
    now = START + resolved + timedelta(hours=30)
    c = card(status(Severity.P0, ack=MIN, resolved=resolved, ledger=ledger), POLICY, now)
    by_key = {p.key: p for p in c.promises if p.section == "§8"}
    assert by_key["customer_email"].state == "kept"
    assert (by_key["incident_report"].state, by_key["incident_report"].late_by) == (
        "missed",
        timedelta(hours=2),
    )
    assert by_key["postmortem_meeting"].state == "open" and by_key["postmortem_meeting"].late_by is None
    assert "runbook_update" not in by_key and c.waived == ["runbook_update"]
    assert "public_postmortem" not in by_key  # optional: no promise
    assert by_key["customer_email"].due_at == START + resolved + POLICY.deliverables["customer_email"].sla


def test_render_one_line_per_promise_with_its_mark():
    c = card(status(Severity.P1, ack=W.DETECTION + MIN, updates=[10 * MIN]), POLICY, START + 20 * MIN)
    lines = render(c).splitlines()
    assert len(lines) == 2 + len(c.promises)
    assert lines[1] == f"{len(c.kept)} kept · {len(c.missed)} missed · {len(c.open)} open"
    assert [line[0] for line in lines[2:]] == [
        {"kept": "✅", "missed": "❌", "open": "⏳"}[p.state] for p in c.promises
    ]
