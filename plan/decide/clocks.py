"""The incident's clocks in one place: when it must next look (the earliest of the §4 and §5.2
clocks, the requests' expiry, the §8 ledger's reminders and due times), and what it decides when
it does. The workflow keeps one timer for `next_clock` and, when it fires, applies `tick`. Pure."""

from __future__ import annotations

from datetime import datetime

from plan.decide import ledger, lifecycle, requests
from plan.decision import Draft
from plan.deliverables import next_moment
from plan.incident import IncidentState
from plan.models import Policy


def next_clock(state: IncidentState, policy: Policy | None) -> datetime | None:
    if policy is None:
        return None
    moments = (lifecycle.next_clock(state, policy), requests.next_clock(state), next_moment(state.ledger))
    return min((m for m in moments if m), default=None)


def tick(d: Draft) -> None:
    """Every clock, at `d.now`: escalation, windows, cadence, expiries, reminders, overdue."""
    lifecycle.tick(d)
    requests.tick(d)
    ledger.tick(d)
