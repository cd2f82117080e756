"""The recovery port, the §4.5 Resolve gate: error rate < 0.1%, P95 latency < 500ms, all K8s pods
Running, each measured by a metrics provider (the checks are the policy's `recovery_checks`) and
judged here against the plan's thresholds. Providers: recovery/prometheus.py."""

from __future__ import annotations

import math
import operator
import re
from typing import Protocol

from pydantic import BaseModel
from temporalio import activity

from plan.models import RecoveryCheck

OPS = {"<": operator.lt, "<=": operator.le, "==": operator.eq, ">=": operator.ge, ">": operator.gt}


class Metrics(Protocol):
    """Where recovery is measured. Errors are `try_again` / `give_up` (activities/errors.py)."""

    name: str

    async def query(self, query: str) -> list[tuple[dict[str, str], float]]:
        """Each sample's labels and value, evaluated now, for a check's `query` (written in the
        provider's query language: the shipped policy's are PromQL). NaN and ±Inf are kept."""
        ...


class VerifyRecovery(BaseModel):
    """The checks to run for one incident (the policy's `recovery_checks`)."""

    incident_id: str
    checks: list[RecoveryCheck]


class CheckResult(BaseModel):
    """One check's verdict, with the worst sample as the plan states it."""

    name: str
    passed: bool
    value: float | None = None  # the worst sample
    detail: str  # e.g. "error rate 2.40% (needs < 0.1%)"


class RecoveryVerdict(BaseModel):
    """Passed only when every check held; `skipped` says why nothing was measured."""

    passed: bool
    results: list[CheckResult] = []
    skipped: str | None = None


class VerificationActivities:
    """The resolve gate on `metrics`, or None when no provider is configured (`missing` names
    what is missing in the skip note)."""

    def __init__(self, metrics: Metrics | None, *, missing: str = "metrics"):
        self.metrics, self.missing = metrics, missing

    @activity.defn
    async def verify_recovery(self, request: VerifyRecovery) -> RecoveryVerdict:
        """A skipped gate does not pass: without measurements the IC has to force the resolve."""
        if self.metrics is None:
            return RecoveryVerdict(passed=False, skipped=f"skipped: {self.missing} not configured")
        if not request.checks:
            return RecoveryVerdict(passed=False, skipped="skipped: no recovery checks configured")
        results = []
        for check in request.checks:
            activity.heartbeat(check.name)
            results.append(evaluate(check, [value for _, value in await self.metrics.query(check.query)]))
        return RecoveryVerdict(passed=all(r.passed for r in results), results=results)


def evaluate(check: RecoveryCheck, values: list[float]) -> CheckResult:
    """Every sample must hold; the one shown is the worst (NaN fails every comparison)."""
    if not values:
        return CheckResult(
            name=check.name,
            passed=check.if_no_data == "pass",
            detail=f"no data (counts as {check.if_no_data})",
        )
    holds = OPS[check.op]
    failing = [v for v in values if not holds(v, check.threshold)]
    worst = max(failing or values, key=lambda v: _badness(v, check))
    return CheckResult(
        name=check.name,
        passed=not failing,
        value=worst,
        detail=f"{describe(check, worst)} (needs {check.shown_as})",
    )


def _badness(value: float, check: RecoveryCheck) -> float:
    if math.isnan(value):
        return math.inf
    return {"<": value, "<=": value, ">": -value, ">=": -value}.get(check.op, abs(value - check.threshold))


def describe(check: RecoveryCheck, value: float) -> str:
    """ "error rate 2.40%", "P95 latency 812ms", but "2 pods not Running": a count reads first."""
    shown = format_value(value, check.shown_as)
    if "%" in check.shown_as or _MS.search(check.shown_as):
        return f"{check.name} {shown}"
    return f"{shown} {check.name}"


_MS = re.compile(r"\d\s*ms\b")


def format_value(value: float, shown_as: str) -> str:
    """As the plan states the threshold: a ratio as a percent ("< 0.1%"), seconds as
    milliseconds ("< 500ms"), anything else as a plain number."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if "%" in shown_as:
        return f"{value * 100:.2f}%"
    if _MS.search(shown_as):
        return f"{value * 1000:.0f}ms"
    return str(int(value)) if value.is_integer() else f"{value:.3g}"
