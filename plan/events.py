"""What happened in an incident, as typed events: the timeline (§4.6's raw material). Pure.

Every change an incident makes is one Event: a kind from EventKind, who did it, the structured
fields a reader needs (which request, which claim, which role, which deliverable, which message)
and the words people read, rendered when it happened. Nothing reads the words back: `act`'s
answer, claim ids, action-item numbers, pins, the post-mortem, `status` and the metrics read the
fields. Kinds keep the names the timeline always had, so `kind == "refused"` still reads true.
(GoAlert's alert log and Grafana OnCall's typed log records are the model.)"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, model_validator

from plan.models import Phase, Role, Severity


class EventKind(StrEnum):
    """Every kind of timeline entry, one per thing that can happen."""

    # detection, severity, phases (§4, §6)
    detected = "detected"
    delivery = "delivery"
    stale = "stale"
    start = "start"
    severity = "severity"
    phase = "phase"
    phase_skipped = "phase-skipped"  # a §4 phase passed over (resolve before FIX): said, never silent
    abandoned = "abandoned"
    private = "private"
    windows_passed = "windows-passed"
    window = "window"
    escalated = "escalated"
    # people's inputs (§4.1–4.4, §5.2)
    acknowledged = "acknowledged"
    update = "update"
    update_overdue = "update-overdue"
    hint = "hint"
    blast_radius = "blast-radius"
    mitigated = "mitigated"
    role = "role"
    handover = "handover"
    checklist = "checklist"
    on_call = "on-call"
    pagerduty = "pagerduty"
    pinned = "pinned"
    input = "input"
    refused = "refused"
    not_in_roster = "not-in-roster"
    fault = "fault"
    # who acted (claims) and security
    claimed = "claimed"
    claim_confirmed = "claim-confirmed"
    security = "security"
    drill_clock = "drill-clock"  # a drill's clock started or changed speed (plan/drill_clock.py)
    keys = "keys"  # attestation keys: a decision waits for the workers' current keys, keys learned
    # requests: §4.3/§7 actions, the §5.4 customer email, the public statement
    action = "action"
    action_requested = "action-requested"
    approved = "approved"
    denied = "denied"
    expired = "expired"
    action_running = "action-running"
    action_done = "action-done"
    action_failed = "action-failed"
    customer_email = "customer-email"
    public_statement = "public-statement"
    # pages, the bridge, the status page, outward steps
    paged = "paged"
    page_skipped = "page-skipped"
    page_failed = "page-failed"
    pages_resolved = "pages-resolved"
    bridge = "bridge"
    bridge_skipped = "bridge-skipped"
    bridge_lost = "bridge-lost"
    bridge_recovered = "bridge-recovered"
    bridge_left_behind = "bridge-left-behind"
    posted = "posted"
    post_skipped = "post-skipped"
    picture_shared = "picture-shared"  # §4.6: the timeline picture in the draft's thread (issue 24)
    picture_skipped = "picture-skipped"  # not shared there, and why (no bridge, archived, refused)
    invite_failed = "invite-failed"
    notified = "notified"
    notify_skipped = "notify-skipped"
    status_page = "status-page"
    status_page_skipped = "status-page-skipped"
    status_page_withheld = "status-page-withheld"
    slow_step = "slow-step"
    step_failed = "step-failed"
    # §4.5 resolve and §8 review
    gate_failed = "gate-failed"
    forced = "forced"
    ledger = "ledger"
    deliverable = "deliverable"
    reminder = "reminder"
    overdue = "overdue"
    ticket = "ticket"
    ticket_skipped = "ticket-skipped"
    ticket_failed = "ticket-failed"  # the tracker refused that one ticket for good, in its words
    action_item = "action-item"
    # an entry an earlier build wrote, of a kind this code no longer has (its words kept)
    earlier = "earlier"


KINDS = frozenset(EventKind)


class Event(BaseModel):
    """One thing that happened. `text` is what people read; the other fields are what programs
    read (only those that apply are set)."""

    kind: EventKind
    text: str
    by: str | None = None
    signal: str | None = None  # the input it is about (a refusal, a claim)
    reason: str | None = None  # why (a refusal, a denial, a waiver)
    request_id: str | None = None
    claim_id: str | None = None
    role: Role | None = None
    person: str | None = None
    deliverable: str | None = None
    message_id: str | None = None  # a chat message (a pin)
    severity: Severity | None = None
    phase: Phase | None = None
    number: int | None = None  # an action item's number


class TimelineEntry(Event):
    """An Event as the incident keeps it: when it happened. An entry carried over from an earlier
    build (continue-as-new) whose kind this code does not know reads as `earlier`, its text kept."""

    at: datetime

    @model_validator(mode="before")
    @classmethod
    def _known_kind(cls, entry: object) -> object:
        """An unknown kind becomes `earlier`, its old name kept in front of its words."""
        if isinstance(entry, dict) and entry.get("kind") not in KINDS:
            return {
                **entry,
                "kind": EventKind.earlier,
                "text": f"[{entry.get('kind')}] {entry.get('text', '')}",
            }
        return entry


def refusal(signal: str, reason: str) -> Event:
    """The event of a refused input: the timeline reads `refused <signal>: <reason>`."""
    return Event(kind=EventKind.refused, text=f"refused {signal}: {reason}", signal=signal, reason=reason)
