"""§8 as a table: which deliverables an incident owes, by when, and when their owners hear."""

from datetime import UTC, datetime, timedelta

import pytest

from plan import Role, Severity, load_policy
from plan.deliverables import ledger_closed, next_moment, open_ledger
from plan.incident import IncidentState, Resolution, TimelineEntry
from plan.models import Phase
from plan.postmortem import duration, facts

POLICY = load_policy()
RESOLVED = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.mark.parametrize(
    "severity, keys",
    [
        (
            "P0",
            [
                "customer_email",
                "incident_report",
                "postmortem_meeting",
                "action_items",
                "runbook_update",
                "public_postmortem",
            ],
        ),
        (
            "P1",
            [
                "customer_email",
                "incident_report",
                "postmortem_meeting",
                "action_items",
                "runbook_update",
                "public_postmortem",
            ],
        ),
        (
            "P2",
            ["incident_report", "postmortem_meeting", "action_items", "runbook_update", "public_postmortem"],
        ),
        (
            "P3",
            ["incident_report", "postmortem_meeting", "action_items", "runbook_update", "public_postmortem"],
        ),
    ],
)
def test_customer_email_only_for_p0_and_p1(severity, keys):
    assert [d.key for d in open_ledger(POLICY, Severity(severity), RESOLVED)] == keys


@pytest.mark.parametrize(
    "key, due, owner, reminders",
    [
        ("customer_email", 2 * H, Role.communications_lead, [1 * H]),  # half-time = one hour before
        ("incident_report", 24 * H, Role.incident_commander, [12 * H, 23 * H]),
        ("postmortem_meeting", 72 * H, Role.incident_commander, [36 * H, 71 * H]),
        ("action_items", 72 * H, Role.incident_commander, [36 * H, 71 * H]),
        ("runbook_update", 168 * H, Role.oncall_primary, [84 * H, 167 * H]),
        ("public_postmortem", 168 * H, Role.communications_lead, [84 * H, 167 * H]),
    ],
)
def test_the_sla_table(key, due, owner, reminders):
    entry = next(d for d in open_ledger(POLICY, Severity.P0, RESOLVED) if d.key == key)
    assert entry.due_at == RESOLVED + due and entry.owner is owner
    assert entry.reminders == [RESOLVED + r for r in reminders]
    assert entry.optional is (key == "public_postmortem")


def test_a_row_not_applicable_is_left_out():
    rows = dict(POLICY.deliverables)
    rows["runbook_update"] = rows["runbook_update"].model_copy(update={"applicable": False})
    keys = [
        d.key for d in open_ledger(POLICY.model_copy(update={"deliverables": rows}), Severity.P2, RESOLVED)
    ]
    assert "runbook_update" not in keys


def test_next_moment_walks_reminders_then_due_times():
    ledger = open_ledger(POLICY, Severity.P0, RESOLVED)
    assert next_moment(ledger) == RESOLVED + H
    for d in ledger:
        d.reminded = len(d.reminders)
    assert next_moment(ledger) == RESOLVED + 2 * H
    for d in ledger:
        d.state = "done"
    assert next_moment(ledger) is None and ledger_closed(ledger)


def test_overdue_keeps_the_ledger_open():
    ledger = open_ledger(POLICY, Severity.P3, RESOLVED)
    for d in ledger:
        d.state = "waived"
    ledger[0].state = "overdue"
    assert not ledger_closed(ledger)


def test_postmortem_facts_come_from_the_timeline():
    start = RESOLVED - 3 * H
    state = IncidentState(
        started_at=start,
        phases={
            Phase.DETECTION: start,
            Phase.TRIAGE: start + timedelta(minutes=4),
            Phase.FIX: start + H,
            Phase.REVIEW: RESOLVED,
        },
        acknowledged_at=start + timedelta(minutes=4),
        mitigated_at=start + H,
        resolution=Resolution(by="a@b.co", summary="Rolled back", at=RESOLVED),
    )
    f = facts("inc-1", state)
    assert (f["time_to_acknowledge"], f["time_to_mitigate"], f["time_to_resolve"]) == (
        "4 min",
        "1 h 00 min",
        "3 h 00 min",
    )
    assert "| TRIAGE | 2026-11-27 07:04 UTC | 56 min |" in f["phase_table"]
    assert "| FIX | 2026-11-27 08:00 UTC | 2 h 00 min |" in f["phase_table"]
    assert f["root_cause"] == "To be established in the post-mortem meeting"
    assert duration(None) == "—"


def test_a_timeline_entry_with_line_breaks_stays_one_table_row():
    """An executor's output ends in a newline (`rollback-1 done: …\n`): the draft's timeline table
    keeps each entry on one row, and a `|` in a text cannot open a new column."""
    state = IncidentState(started_at=RESOLVED)
    state.timeline.append(TimelineEntry(at=RESOLVED, kind="action-done", text="done: a | b\nsecond line\n"))
    rows = facts("inc-1", state)["timeline"].splitlines()
    assert rows[-1] == "| 10:00:00 | action-done | done: a / b second line |"
