"""The §4.5 Resolve gate: error rate < 0.1%, P95 latency < 500ms, all K8s pods Running, measured
by Prometheus (the checks are the policy's `recovery_checks`)."""

from __future__ import annotations

import math
import operator
import re

from pydantic import BaseModel
from temporalio import activity

from activities.prometheus import Prometheus
from plan.models import RecoveryCheck

OPS = {"<": operator.lt, "<=": operator.le, "==": operator.eq, ">=": operator.ge, ">": operator.gt}


class VerifyRecovery(BaseModel):
    incident_id: str
    checks: list[RecoveryCheck]


class CheckResult(BaseModel):
    name: str
    passed: bool
    value: float | None = None  # the worst sample
    detail: str  # e.g. "error rate 2.40% (needs < 0.1%)"


class RecoveryVerdict(BaseModel):
    passed: bool
    results: list[CheckResult] = []
    skipped: str | None = None


class VerificationActivities:
    def __init__(self, prometheus: Prometheus | None):
        self.prometheus = prometheus

    @activity.defn
    async def verify_recovery(self, request: VerifyRecovery) -> RecoveryVerdict:
        """A skipped gate does not pass: without measurements the IC has to force the resolve."""
        if self.prometheus is None:
            return RecoveryVerdict(passed=False, skipped="skipped: prometheus not configured")
        if not request.checks:
            return RecoveryVerdict(passed=False, skipped="skipped: no recovery checks configured")
        results = []
        for check in request.checks:
            activity.heartbeat(check.name)
            results.append(evaluate(check, [value for _, value in await self.prometheus.query(check.query)]))
        return RecoveryVerdict(passed=all(r.passed for r in results), results=results)


def evaluate(check: RecoveryCheck, values: list[float]) -> CheckResult:
    """Every sample must hold; the one shown is the worst (NaN fails every comparison)."""
    if not values:
        return CheckResult(name=check.name, passed=check.if_no_data == "pass",
                           detail=f"no data (counts as {check.if_no_data})")
    holds = OPS[check.op]
    failing = [v for v in values if not holds(v, check.threshold)]
    worst = max(failing or values, key=lambda v: _badness(v, check))
    return CheckResult(name=check.name, passed=not failing, value=worst,
                       detail=f"{describe(check, worst)} (needs {check.shown_as})")


def _badness(value: float, check: RecoveryCheck) -> float:
    if math.isnan(value):
        return math.inf
    return {"<": value, "<=": value, ">": -value, ">=": -value}.get(check.op, abs(value - check.threshold))


def describe(check: RecoveryCheck, value: float) -> str:
    """"error rate 2.40%", "P95 latency 812ms", but "2 pods not Running": a count reads first."""
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
