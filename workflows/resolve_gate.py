"""§4.5 Resolve: verify recovery before resolving, then close out — status page, PagerDuty, the
RESOLVED update, the post-mortem draft, the archived bridge — and open the §8 ledger."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.recovery import VerificationActivities, VerifyRecovery
    from plan import templates
    from plan.bounds import GATE_RUNS
    from plan.incident import GateCheck, GateRun, Resolution
    from plan.models import GatedAction, Phase
    from plan.signals import Resolve
    from workflows import metrics
    from workflows.bridge import Bridge
    from workflows.context import IncidentContext
    from workflows.ledger import Ledger
    from workflows.outside import VERIFY, outside
    from workflows.paging import Paging
    from workflows.status_page import StatusPage


class ResolveGate:
    LANE = "incident"

    def __init__(
        self, ctx: IncidentContext, bridge: Bridge, paging: Paging, status_page: StatusPage, ledger: Ledger
    ) -> None:
        self.ctx, self.bridge, self.paging, self.status_page, self.ledger = (
            ctx,
            bridge,
            paging,
            status_page,
            ledger,
        )

    def resolve(self, request: Resolve) -> None:
        """Taken once: forcing needs its own authority; a second resolve while one runs is refused."""
        ctx = self.ctx
        if request.force_reason and not ctx.allowed(GatedAction.force_resolve, request.by):
            return
        if ctx.s.resolution or ctx.s.phase is Phase.RESOLVE:
            ctx.refuse("resolve", "the incident is already being resolved or is resolved")
            return
        ctx.later(self.LANE, self._resolve, request)

    async def _resolve(self, request: Resolve) -> None:
        """Verify; a failed check keeps the incident open unless forced."""
        ctx, before = self.ctx, self.ctx.s.phase
        ctx.enter(Phase.RESOLVE)
        run = await self._verify(request.by)
        lines = [f"{'✅' if c.passed else '❌'} {c.detail}" for c in run.checks] + (
            [run.note] if run.note else []
        )
        if not run.passed and not request.force_reason:
            ctx.note("gate-failed", "recovery not verified: " + "; ".join(lines), by=request.by)
            await self.bridge.send(
                "🔍 Recovery NOT verified (§4.5); the incident stays open:\n"
                + "\n".join(lines)
                + "\nFix what failed and `resolve` again, or the IC resolves with `force_reason`.",
                "gate",
            )
            ctx.enter(before)
            return
        if not run.passed:
            ctx.note(
                "forced",
                f"resolved without verification by {request.by}: {request.force_reason}",
                by=request.by,
            )
        await self.bridge.send(
            (
                "🔍 Recovery verified (§4.5):\n"
                if run.passed
                else f"⚠️ Resolving WITHOUT verification, by {request.by}: {request.force_reason}\n"
            )
            + "\n".join(lines),
            "gate",
        )
        ctx.s.resolution = Resolution(
            by=request.by,
            summary=request.summary,
            root_cause=request.root_cause,
            forced=not run.passed,
            force_reason=request.force_reason,
            at=workflow.now(),
        )
        metrics.took("irp_time_to_resolve", ctx.s.decision.severity, workflow.now() - ctx.s.started_at)
        await self._close_out(request)

    async def _verify(self, by: str) -> GateRun:
        ctx = self.ctx
        verdict = await outside(
            ctx,
            VerificationActivities.verify_recovery,
            VerifyRecovery(incident_id=ctx.incident_id, checks=ctx.policy.recovery_checks),
            what="verify recovery",
            options=VERIFY,
        )
        run = GateRun(
            at=workflow.now(),
            by=by,
            passed=bool(verdict and verdict.passed),
            checks=[
                GateCheck(name=r.name, passed=r.passed, detail=r.detail)
                for r in (verdict.results if verdict else [])
            ],
            note=(verdict.skipped or "") if verdict else "the checks could not run",
        )
        ctx.s.gate_runs.append(run)
        if ctx.s.refusals is not None:
            ctx.s.gate_runs = ctx.s.gate_runs[-GATE_RUNS:]
        return run

    async def _close_out(self, request: Resolve) -> None:
        """§4.5 steps 4–6: status page and customers, PagerDuty, the RESOLVED update, archive."""
        await self.status_page.resolve()
        await self.paging.resolve_all()
        await self.bridge.send(
            templates.update_message(
                at=workflow.now(),
                status="RESOLVED",
                current_action=request.summary,
                what_we_know=request.root_cause or "Root cause to be written up in the post-mortem (§4.6)",
                next_update_minutes=None,
            ),
            "resolved",
        )
        await self.ledger.draft_postmortem()
        await self.bridge.archive()
        self.ctx.enter(Phase.REVIEW)
        self.ledger.open()
