"""Compliance, per incident: every promise of the plan that applied to an incident, with its
deadline, when it was kept (or missed, and by how much) and who held it. Pure: no I/O, no clock
(the caller passes `now`). Everything is read from the `status` answer (plan/incident.py
IncidentStatus) and the pinned policy's numbers, so the CLI, the close-out, the post-mortem
draft, the report and the drills all say the same.

The promises (docs/compliance.md):
- `acknowledge` §4.1: acknowledged within the Detection window (2 min) of the problem's start;
- `triage` §4.2, `contain` §4.3, `fix` §4.4: the phase left within its §4 window (10 min, 30 min,
  4 h), counted from the problem's start (the alert's own `startsAt`): triage is done when the
  incident first reaches CONTAIN or later, contain when it first reaches FIX or later, fix when
  it is resolved (§4.5 verified or forced);
- `update-1`, `update-2`, … §5.2: each update that fell due at the severity's cadence (15 min P0,
  30 min P1), counted from the opening (which counts as the first communication) and from each
  update; one not posted by its due time is missed by the time until the next update came (or the
  resolution), and the next falls due one cadence after the missed one, as the bridge nudges;
- `status-page` §5.3: a severity the policy puts on the status page, not private: the
  Investigating notice, due by the end of the Triage window (or when the severity came, if later);
- §8, keyed as the ledger keys them (`customer_email`, `incident_report`, `postmortem_meeting`,
  `action_items`, `runbook_update`): due as the ledger says; kept when done by then. A row waived
  before its due time no longer applies (listed in `waived`); one waived late is missed. Optional
  rows (the public post-mortem) are no promise.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel

from plan.events import EventKind as K
from plan.incident import IncidentStatus
from plan.lifecycle import cadence
from plan.models import Phase, Policy, Role, Severity

PromiseState = Literal["kept", "missed", "open"]
SECOND = timedelta(seconds=1)
TAKEN = (K.role, K.handover)  # timeline events that give a role to a person
ORDER = list(Phase)


class Promise(BaseModel):
    """One promise of the plan to one incident. `due_at`, `kept_at` UTC; `late_by`: for a missed
    promise, by how much; for an open one past due, by how much so far; else None."""

    key: str  # "acknowledge", "triage", "contain", "fix", "update-<n>", "status-page", a §8 key
    section: str  # the plan's section, e.g. "§4.1", "§5.2", "§8"
    title: str  # as the plan says it, with the policy's numbers: "Acknowledge within 2 minutes"
    holder: str | None  # the role and the person who held it when it fell due
    due_at: datetime
    kept_at: datetime | None = None
    state: PromiseState
    late_by: timedelta | None = None
    note: str = ""  # what a reader needs besides (e.g. the alert reached us after the window)


class ComplianceCard(BaseModel):
    """Every promise that applied to one incident, in the plan's order (§4, §5, §8)."""

    incident_id: str
    severity: Severity | None
    private: bool
    started_at: datetime
    resolved_at: datetime | None
    acknowledged_at: datetime | None
    promises: list[Promise]
    waived: list[str] = []  # §8 rows waived before they were due: no longer promises
    at: datetime | None = None  # the `now` it was computed at

    @property
    def kept(self) -> list[Promise]:
        return [p for p in self.promises if p.state == "kept"]

    @property
    def missed(self) -> list[Promise]:
        return [p for p in self.promises if p.state == "missed"]

    @property
    def open(self) -> list[Promise]:
        return [p for p in self.promises if p.state == "open"]


def card(status: IncidentStatus, policy: Policy, now: datetime) -> ComplianceCard:
    """The compliance card of `status` at `now` under `policy` (the incident's pinned policy)."""
    promises = [
        *phase_promises(status, policy, now),
        *update_promises(status, policy, now),
        *status_page_promises(status, policy, now),
    ]
    ledger, waived = deliverable_promises(status, policy, now)
    return ComplianceCard(
        incident_id=status.incident_id,
        severity=status.severity,
        private=status.private,
        started_at=status.started_at,
        resolved_at=status.resolution.at if status.resolution else None,
        acknowledged_at=status.acknowledged_at,
        promises=[*promises, *ledger],
        waived=waived,
        at=now,
    )


def judged(due_at: datetime, kept_at: datetime | None, now: datetime, ended: datetime | None = None) -> dict:
    """State and lateness of a promise due at `due_at`, done at `kept_at` (None: not yet), seen at
    `now`; `ended`: when the promise stopped being owed undone (missed by then). Judged to the
    second: the plan's windows are minutes, and the worker's own steps take a moment (a status
    page opened as the incident opens is not late by a few milliseconds)."""
    if kept_at is not None:
        late = kept_at - due_at
        return {
            "kept_at": kept_at,
            "state": "kept" if late < SECOND else "missed",
            "late_by": late if late >= SECOND else None,
        }
    if ended is not None and ended >= due_at:
        return {"state": "missed", "late_by": ended - due_at}
    return {"state": "open", "late_by": now - due_at if now > due_at else None}


def spoken(delta: timedelta) -> str:
    """A window as the plan says it: "2 minutes", "4 hours", "72 hours", "1 week", "90 seconds"."""
    seconds = int(delta.total_seconds())
    for unit, size in (("week", 604800), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def holder(status: IncidentStatus, policy: Policy, role: Role, at: datetime) -> str:
    """Who held `role` at `at`: the latest page, assignment or handover of it by then, else the
    roster's person, else who holds it now; said as "<role title> <name or email>"."""
    known = [(p.at, p.person) for p in status.paged if p.role is role and p.person]
    known += [(e.at, e.person) for e in status.timeline if e.kind in TAKEN and e.role is role and e.person]
    before = [k for k in known if k[0] <= at]
    person = max(before, key=lambda k: k[0])[1] if before else None
    if person is None and (p := policy.person(role)):
        person = p.email
    if person is None:
        person = next((r.person for r in status.roles if r.role is role and r.person), None)
    return f"{role.title} {_named(status, policy, person)}" if person else f"{role.title} (nobody)"


def _named(status: IncidentStatus, policy: Policy, email: str) -> str:
    names = {p.email: p.name for p in policy.roster.values()}
    names.update({r.person: r.name for r in status.roles if r.person and r.name})
    return f"{names[email]} <{email}>" if names.get(email) else email


def first_reached(status: IncidentStatus, phases: set[Phase]) -> datetime | None:
    """When the incident first entered any of `phases` (the timeline's phase events, and the
    status's latest entries for a timeline that let old entries go)."""
    moments = [e.at for e in status.timeline if e.kind == K.phase and e.phase in phases]
    moments += [at for phase, at in status.phases.items() if phase in phases]
    return min(moments, default=None)


# §4's promises: key, section, the plan's verb, the window (a PhaseWindows field), who holds it,
# and the phases whose first entry keeps it (None: the acknowledgement; (): the resolution).
PHASE_PROMISES = (
    ("acknowledge", "§4.1", "Acknowledge", "DETECTION", Role.oncall_primary, None),
    (
        "triage",
        "§4.2",
        "Triage",
        "TRIAGE",
        Role.incident_commander,
        {Phase.CONTAIN, Phase.FIX, Phase.RESOLVE},
    ),
    ("contain", "§4.3", "Contain", "CONTAIN", Role.incident_commander, {Phase.FIX, Phase.RESOLVE}),
    ("fix", "§4.4", "Fix", "FIX", Role.incident_commander, ()),
)


def phase_promises(status: IncidentStatus, policy: Policy, now: datetime) -> list[Promise]:
    """§4.1 acknowledgement and the §4.2–4.4 windows, from the problem's start. A phase passed
    over (resolved straight from an earlier one) ended at the resolution."""
    resolved = status.resolution.at if status.resolution else None
    heard = status.received_at or status.started_at
    said = f"passed before the incident was opened, {how_late(heard - status.started_at)} after the start"
    promises = []
    for key, section, verb, field, role, reached in PHASE_PROMISES:
        window = getattr(policy.phase_windows, field)
        due = status.started_at + window
        if reached is None:
            done = status.acknowledged_at
        else:
            done = (first_reached(status, reached) if reached else None) or resolved
        promises.append(
            Promise(
                key=key,
                section=section,
                title=f"{verb} within {spoken(window)}",
                holder=holder(status, policy, role, min(due, now)),
                due_at=due,
                note=said if due < heard else "",
                **judged(due, done, now, resolved),
            )
        )
    return promises


def severity_at(status: IncidentStatus, at: datetime) -> Severity | None:
    """The severity the incident had at `at`, from its timeline's severity events."""
    said = [e for e in status.timeline if e.kind == K.severity and e.severity and e.at <= at]
    return max(said, key=lambda e: e.at).severity if said else status.severity


def opened_at(status: IncidentStatus) -> datetime:
    """When the incident opened: the §5.1 opening is its first communication (§5.2 counts on)."""
    return status.received_at or (status.timeline[0].at if status.timeline else status.started_at)


def update_promises(status: IncidentStatus, policy: Policy, now: datetime) -> list[Promise]:
    """§5.2: each update that fell due, kept or missed (by how much), and the next one if open.
    As the bridge counts them: due one cadence after the last update (the opening first); a
    severity change re-times it (due at once if already past); one missed, the next falls due a
    cadence later; a late update answers every update missed before it."""
    end = status.resolution.at if status.resolution else None
    until = end or now
    said = [(e.at, "update", None) for e in status.timeline if e.kind == K.update and e.at <= until]
    said += [
        (e.at, "severity", e.severity) for e in status.timeline if e.kind == K.severity and e.at <= until
    ]
    last = opened_at(status)
    severity = severity_at(status, last)
    due = _next_due(policy, severity, last, last)
    answered: list[tuple[datetime, datetime | None]] = []  # (due at, the update that answered it)
    waiting: list[datetime] = []  # dues passed with no update yet
    for at, kind, new in sorted(said, key=lambda s: s[0]):
        # an update at the moment one falls due is in time; a severity change then comes after it
        due = _passing(policy, severity, due, at, waiting, inclusive=kind == "severity")
        if kind == "update":
            on_time = [(due, at)] if due and (not waiting or due == at) else []
            answered += [(d, at) for d in waiting] + on_time
            waiting, last = [], at
            due = _next_due(policy, severity, last, at)
        elif new and new != severity:
            severity, due = new, _next_due(policy, new, last, at)
    due = _passing(policy, severity, due, until, waiting, inclusive=True)
    answered += [(d, None) for d in waiting]
    if end is None and due is not None:
        answered.append((due, None))  # the next, not due yet
    return [_update(status, policy, n, d, u, now, end) for n, (d, u) in enumerate(answered, 1)]


def _passing(policy, severity, due, at, waiting: list[datetime], inclusive: bool = False):
    """Dues that passed before `at` (with `inclusive`, at it too) go to `waiting`; the next due."""
    every = cadence(policy, severity) if severity else None
    while due is not None and every and (due < at or (inclusive and due <= at)):
        waiting.append(due)
        due = due + every
    return due


def _next_due(policy: Policy, severity: Severity | None, last: datetime, at: datetime) -> datetime | None:
    every = cadence(policy, severity) if severity else None
    return max(last + every, at) if every else None


def _update(status, policy, n: int, due: datetime, answered: datetime | None, now, end) -> Promise:
    severity = severity_at(status, due)
    every = spoken(cadence(policy, severity)) if severity and cadence(policy, severity) else "?"
    return Promise(
        key=f"update-{n}",
        section="§5.2",
        title=f"Update {n} (every {every}, {severity})",
        holder=holder(status, policy, Role.incident_commander, min(due, now)),
        due_at=due,
        **judged(due, answered, now, end),
    )


def status_page_promises(status: IncidentStatus, policy: Policy, now: datetime) -> list[Promise]:
    """§5.3: the Investigating notice, where the severity goes on the status page and the
    incident is not private; due by the end of the Triage window, or when the severity came."""
    wanted = policy.status_page.severities
    if status.private:
        return []
    came = [e.at for e in status.timeline if e.kind == K.severity and e.severity in wanted]
    if not came and status.severity not in wanted:
        return []
    due = max(status.started_at + policy.phase_windows.TRIAGE, min(came, default=opened_at(status)))
    posted = min((e.at for e in status.timeline if e.kind == K.status_page), default=None)
    resolved = status.resolution.at if status.resolution else None
    return [
        Promise(
            key="status-page",
            section="§5.3",
            title="Status page: Investigating",
            holder=holder(status, policy, Role.communications_lead, min(due, now)),
            due_at=due,
            **judged(due, posted, now, resolved),
        )
    ]


def deliverable_promises(
    status: IncidentStatus, policy: Policy, now: datetime
) -> tuple[list[Promise], list[str]]:
    """§8, from the ledger: each row's due and closed times; the waived-on-time rows apart."""
    promises, waived = [], []
    for d in status.deliverables:
        if d.optional:
            continue
        if d.state == "waived" and d.closed_at and d.closed_at <= d.due_at:
            waived.append(d.key)
            continue
        kept_at = d.closed_at if d.state == "done" else None
        ended = d.closed_at if d.state == "waived" else None
        who = holder(status, policy, d.owner, min(d.due_at, now))
        promises.append(
            Promise(
                key=d.key,
                section="§8",
                title=f"{d.title}",
                holder=who,
                due_at=d.due_at,
                note=f"waived: {d.reason}" if d.state == "waived" else "",
                **judged(d.due_at, kept_at, now, ended),
            )
        )
    return promises, waived


MARK = {"kept": "✅", "missed": "❌", "open": "⏳"}


def family(key: str) -> str:
    """A promise's key without its number (`update-3` → `update`): the metric's label."""
    head, _, n = key.rpartition("-")
    return head if head and n.isdigit() else key


def render(card: ComplianceCard) -> str:
    """The card as plain text lines, one per promise: ✅ kept, ❌ missed (by how much), ⏳ open."""
    head = f"📋 Compliance — {card.incident_id}" + (f" ({card.severity})" if card.severity else "")
    lines = [head, f"{len(card.kept)} kept · {len(card.missed)} missed · {len(card.open)} open"]
    for p in card.promises:
        when = f"due {_at(p.due_at)}"
        if p.state == "kept":
            when += f", kept {_at(p.kept_at)}"
        elif p.late_by:
            when += f", {'missed' if p.state == 'missed' else 'late'} by {how_late(p.late_by)}"
            when += f" (done {_at(p.kept_at)})" if p.kept_at else ""
        who = f" · {p.holder}" if p.holder else ""
        note = f" ({p.note})" if p.note else ""
        lines.append(f"{MARK[p.state]} {p.section} {p.title}: {when}{who}{note}")
    if card.waived:
        lines.append("waived before due: " + ", ".join(card.waived))
    return "\n".join(lines)


def _at(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


def how_late(delta: timedelta) -> str:
    """How late, in the largest units that say it: "3 min 5 s", "2 h 10 min", "1 d 4 h"."""
    s = int(delta.total_seconds())
    d, h, m, sec = s // 86400, s % 86400 // 3600, s % 3600 // 60, s % 60
    parts = [(d, "d"), (h, "h"), (m, "min"), (sec, "s")]
    shown = [f"{n} {u}" for n, u in parts if n][:2]
    return " ".join(shown) or "0 s"
