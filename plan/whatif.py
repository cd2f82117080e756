"""What a policy change would have done to recorded incidents (issue 24, item 4). Pure.

An incident's inputs are decided twice with plan/rerun.py: under the policy it pinned, and under
the new one. `figures` reads what each rerun came to — the severity, who was paged and when, the
§5.2 cadence and the nudges (escalations, passed windows, overdue updates), who could approve
each request and how it ended, the §8 due dates, and each promise of the compliance card
(plan/compliance.py) — and `differences` says where they part. Comparing two reruns, not a rerun
with the live incident, means every difference is the policy's: the harness's own simplifications
(outward steps that succeed at once) are the same on both sides.

Times are shown from the incident's start ("+2m", "+1h05m", "+3d02h"), so a reader sees "paged at
+7m instead of +2m" without doing sums."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta

from pydantic import BaseModel

from plan.compliance import card
from plan.events import EventKind
from plan.lifecycle import cadence
from plan.models import Policy
from plan.rerun import Recorded, Rerun, rerun
from plan.status import status_of

NUDGES = (EventKind.escalated, EventKind.window, EventKind.update_overdue)
# What is compared, in the order a reader reads it (and the summary counts).
ASPECTS = ("severity", "paged", "cadence", "nudges", "approvers", "requests", "due", "compliance")


class Figures(BaseModel):
    """What one incident came to under one policy, each value as a reader reads it."""

    severity: str
    paged: dict[str, str]  # role title → "person at +Xm"
    cadence: str  # "every 30 min" or "none"
    nudges: list[str]  # "escalated at +2m", "window at +10m", "update-overdue at +45m"
    approvers: dict[str, str]  # request id → who could approve it
    requests: dict[str, str]  # request id → how it ended
    due: dict[str, str]  # §8 deliverable → its due time, from the start
    compliance: dict[str, str]  # promise key → "kept", "missed by 3 min", "open"
    kept: int = 0
    missed: int = 0


class Difference(BaseModel):
    """One thing that would have differed: `aspect` (ASPECTS), the item within it, and its value
    under the policy in force and under the new one ("—": not there)."""

    aspect: str
    item: str
    before: str
    after: str


class Replayed(BaseModel):
    """One recorded incident under both policies; `runs`: the runs its history took."""

    incident_id: str
    runs: int = 1
    before: Figures
    after: Figures
    differences: list[Difference]


def offset(start: datetime, at: datetime) -> str:
    """`at` from `start`: "+0m", "+7m", "+1h05m", "+3d02h" (before the start: "-2m")."""
    seconds = int((at - start).total_seconds())
    sign, s = ("-" if seconds < 0 else "+"), abs(seconds)
    d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
    if d:
        return f"{sign}{d}d{h:02d}h"
    return f"{sign}{h}h{m:02d}m" if h else f"{sign}{m}m"


def span(delta: timedelta) -> str:
    """A length of time as `offset` shows it, without the sign ("7m", "1h05m", "3d02h"); under a
    minute in seconds ("12s"), so a miss of seconds does not read "by 0m"."""
    if timedelta(0) < delta < timedelta(minutes=1):
        return f"{int(delta.total_seconds())}s"
    return offset(datetime.min, datetime.min + delta)[1:]


def every(delta: timedelta) -> str:
    """A cadence: "every 30 min", or in seconds where it is not whole minutes ("every 4s")."""
    seconds = int(delta.total_seconds())
    return f"every {seconds // 60} min" if seconds % 60 == 0 else f"every {seconds}s"


def figures(run: Rerun) -> Figures:
    """What `run` came to, read from its state and its policy; compliance as seen at the end of
    its clocks (the incident's close, or now)."""
    s, policy, start = run.state, run.policy, run.state.started_at
    severity = s.decision.severity if s.decision else None
    each = cadence(policy, severity) if severity else None
    compliance = card(status_of(run.incident_id, s, policy), policy, run.now)
    return Figures(
        severity=severity.value if severity else "—",
        paged={
            p.role.title: f"{p.person or '—'} at {offset(start, p.at)}"
            for p in s.paged
            if p.outcome == "paged"
        },
        cadence=every(each) if each else "none",
        nudges=[f"{e.kind} at {offset(start, e.at)}" for e in s.timeline if e.kind in NUDGES],
        approvers={rid: could_approve(policy, run, r.action) for rid, r in s.requests.items()},
        requests={rid: r.state.value for rid, r in s.requests.items()},
        due={d.key: offset(start, d.due_at) for d in s.ledger},
        compliance={
            p.key: p.state + (f" by {span(p.late_by)}" if p.late_by else "") for p in compliance.promises
        },
        kept=len(compliance.kept),
        missed=len(compliance.missed),
    )


def could_approve(policy: Policy, run: Rerun, action: str) -> str:
    """Who could approve `action` under `policy`: each approver role and its holder at the end."""
    rule = policy.actions.get(action)
    if rule is None:
        return "no such action"
    people = []
    for role in rule.approvers:
        holder = run.holder(role)
        people.append(f"{role.title} ({holder.email if holder else 'nobody'})")
    need = f"{rule.approvals} of " if rule.approvals > 1 else ""
    return need + ", ".join(people)


def differences(before: Figures, after: Figures) -> list[Difference]:
    """Every aspect and item where `after` differs from `before`, in ASPECTS order."""
    found = []
    for aspect in ASPECTS:
        old, new = getattr(before, aspect), getattr(after, aspect)
        if isinstance(old, dict):
            for item in [*old, *(k for k in new if k not in old)]:  # as the plan orders them
                if old.get(item) != new.get(item):
                    found.append(
                        Difference(
                            aspect=aspect, item=item, before=old.get(item, "—"), after=new.get(item, "—")
                        )
                    )
        elif isinstance(old, list):
            if old != new:
                found.append(
                    Difference(
                        aspect=aspect, item="", before="; ".join(old) or "—", after="; ".join(new) or "—"
                    )
                )
        elif old != new:
            found.append(Difference(aspect=aspect, item="", before=old, after=new))
    return found


def replay(recorded: Recorded, pinned: Policy, new: Policy, signals: Mapping) -> Replayed:
    """`recorded` decided under the policy it pinned and under `new`, and where they part."""
    before = figures(rerun(recorded, pinned, signals))
    after = figures(rerun(recorded, new, signals))
    return Replayed(
        incident_id=recorded.incident_id,
        runs=recorded.runs,
        before=before,
        after=after,
        differences=differences(before, after),
    )


def summary(replayed: list[Replayed]) -> list[str]:
    """In sum: how many incidents would have differed, in what, and the promises kept and missed."""
    changed = [r for r in replayed if r.differences]
    counts = Counter(a for r in changed for a in {d.aspect for d in r.differences})
    kept = sum(r.before.kept for r in replayed), sum(r.after.kept for r in replayed)
    missed = sum(r.before.missed for r in replayed), sum(r.after.missed for r in replayed)
    lines = [f"{len(changed)} of {len(replayed)} incident(s) would have differed"]
    lines += [f"  {aspect}: {counts[aspect]} incident(s)" for aspect in ASPECTS if counts[aspect]]
    lines.append(f"promises kept {kept[0]} → {kept[1]}, missed {missed[0]} → {missed[1]}")
    return lines


def render(replayed: list[Replayed]) -> str:
    """Per incident (with the runs its history took), each difference as "aspect item: before →
    after"; then the sum."""
    lines = []
    for r in replayed:
        name = f"{r.incident_id} ({r.runs} run{'' if r.runs == 1 else 's'})"
        if not r.differences:
            lines.append(f"{name}: no difference")
            continue
        lines.append(f"{name}: {len(r.differences)} difference(s)")
        for d in r.differences:
            lines.append(f"  {d.aspect}{' ' + d.item if d.item else ''}: {d.before} → {d.after}")
    return "\n".join([*lines, "", *summary(replayed)])


def since(now: datetime, text: str) -> datetime:
    """`--since 90d` (or 12h, 30m, 2w): the moment that long before `now`. ValueError otherwise."""
    units = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit():
        raise ValueError(f"--since {text!r}: say how long ago as a number and a unit: 90d, 12h, 30m, 2w")
    return now - timedelta(**{units[unit]: int(number)})
