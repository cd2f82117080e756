"""Who is on call, asked of PagerDuty (issue 16): at open, at every page and at every role change.
The bridge's invitations, the §5.1 line, mentions and authority then name the person on call;
the roster's person stands in when PagerDuty is not configured or does not answer, and the
timeline says which was used. A later look that finds someone else reports a handoff."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.on_call import OnCallActivities, OnCallRequest
    from plan.oncall import Handoff, Look, settle
    from workflows.context import IncidentContext
    from workflows.outside import failure

# Recorded histories from before on-call look-ups replay without them.
PATCH = "oncall-from-pagerduty"
# Optional enrichment: the look answers within seconds or the roster's person stands in. The
# activity never raises for PagerDuty's sake; a second attempt only covers a lost worker.
LOOK = dict(
    start_to_close_timeout=timedelta(seconds=20),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=2),
)


class OnCall:
    def __init__(self, ctx: IncidentContext) -> None:
        self.ctx = ctx

    def wanted(self) -> bool:
        """The policy names roles PagerDuty knows, and this incident's code looks them up."""
        return bool(self.ctx.policy and self.ctx.policy.on_call) and workflow.patched(PATCH)

    async def look(self, why: str) -> list[Handoff]:
        """Ask who is on call now and settle each role's holder (plan/oncall.py); the timeline
        says what was used. The handoffs since the last look, for the bridge to announce."""
        if not self.wanted():
            return []
        ctx, sources = self.ctx, self.ctx.policy.on_call
        try:
            look = await workflow.execute_activity_method(
                OnCallActivities.who_is_on_call,
                OnCallRequest(sources=sources),
                summary=f"who is on call ({why})",
                **LOOK,
            )
        except ActivityError as e:
            look = Look(failed={role: f"the look failed: {failure(e)}" for role in sources})
        settled = settle(list(sources), ctx.policy.roster, ctx.s.on_call, look)
        ctx.s.on_call = settled.holders
        for text in settled.notes:
            ctx.note("on-call", f"{text} [at {why}]")
        return [h for h in settled.handoffs if h.role not in ctx.s.assignments]
