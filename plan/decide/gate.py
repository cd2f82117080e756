"""§4.5 Resolve as deciders: verify recovery before resolving (the checks run outside: `Verify`),
then what the checks said — resolved, or forced by the IC with a reason, or kept open — and, once
the close-out has run (`CloseOut`: status page, PagerDuty, the RESOLVED update, the post-mortem
draft, the archived bridge), REVIEW and the §8 ledger. Pure."""

from __future__ import annotations

from plan.bounds import GATE_RUNS
from plan.decide import ledger
from plan.decide.common import enter
from plan.decision import Actor, Draft
from plan.effects import CloseOut, Measure, Verify
from plan.events import EventKind as K
from plan.incident import GateRun, Resolution
from plan.judge import authorised
from plan.models import GatedAction, Phase
from plan.signals import Resolve


def resolve(d: Draft, request: Resolve, actor: Actor) -> None:
    """Taken once: forcing needs its own authority; a second resolve while one runs is refused."""
    if request.force_reason:
        authorised(d, GatedAction.force_resolve, request.by, signal="resolve")
    if d.s.resolution or d.s.phase is Phase.RESOLVE:
        d.refuse("resolve", "the incident is already being resolved or is resolved")
    before = d.s.phase
    order = list(Phase)
    for skipped in order[order.index(before) + 1 : order.index(Phase.RESOLVE)]:
        d.note(
            K.phase_skipped,
            f"phase {skipped} skipped: resolve was sent in {before}"
            + (" (no `mitigate` was sent; §4.4)" if skipped is Phase.FIX else ""),
            by=request.by,
            phase=skipped,
        )
    enter(d, Phase.RESOLVE)
    d.effect(
        Verify(
            by=request.by,
            summary=request.summary,
            root_cause=request.root_cause,
            force_reason=request.force_reason,
            back_to=before.value,
        )
    )


def verified(d: Draft, asked: Verify, run: GateRun) -> None:
    """What the checks said: kept open (back to the phase it was in) unless they passed or the IC
    forced it; resolved, the close-out follows."""
    s = d.s
    s.gate_runs = [*s.gate_runs, run][-GATE_RUNS:]
    lines = [f"{'✅' if c.passed else '❌'} {c.detail}" for c in run.checks] + (
        [run.note] if run.note else []
    )
    if not run.passed and not asked.force_reason:
        d.note(K.gate_failed, "recovery not verified: " + "; ".join(lines), by=asked.by)
        d.post(
            "gate",
            "🔍 Recovery NOT verified (§4.5); the incident stays open:\n"
            + "\n".join(lines)
            + "\nFix what failed and `resolve` again, or the IC resolves with `force_reason`.",
        )
        enter(d, Phase(asked.back_to))
        return
    if not run.passed:
        d.note(K.forced, f"resolved without verification by {asked.by}: {asked.force_reason}", by=asked.by)
    d.post(
        "gate",
        (
            "🔍 Recovery verified (§4.5):\n"
            if run.passed
            else f"⚠️ Resolving WITHOUT verification, by {asked.by}: {asked.force_reason}\n"
        )
        + "\n".join(lines),
    )
    s.resolution = Resolution(
        by=asked.by,
        summary=asked.summary,
        root_cause=asked.root_cause,
        forced=not run.passed,
        force_reason=asked.force_reason,
        at=d.now,
    )
    d.effect(
        Measure("irp_time_to_resolve", s.decision.severity, (d.now - s.started_at).total_seconds()),
        CloseOut(),
    )


def closed_out(d: Draft) -> None:
    """The close-out has run: REVIEW, and the §8 ledger opens."""
    enter(d, Phase.REVIEW)
    ledger.open_(d)
