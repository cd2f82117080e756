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
    from plan.decide import outcomes
    from plan.oncall import Handoff, Look, settle
    from workflows.outside import failure

# Optional enrichment: the look answers within seconds or the roster's person stands in. The
# activity never raises for PagerDuty's sake; a second attempt only covers a lost worker.
LOOK = dict(
    start_to_close_timeout=timedelta(seconds=20),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=2),
)


def wanted(r) -> bool:
    """The policy names roles PagerDuty knows."""
    return bool(r.policy and r.policy.on_call)


async def look(r, why: str) -> list[Handoff]:
    """Ask who is on call now and settle each role's holder (plan/oncall.py); the timeline says
    what was used. The handoffs since the last look, for the bridge to announce."""
    if not wanted(r):
        return []
    sources = r.policy.on_call
    try:
        found = await workflow.execute_activity_method(
            OnCallActivities.who_is_on_call,
            OnCallRequest(sources=sources),
            summary=f"who is on call ({why})",
            **LOOK,
        )
    except ActivityError as e:
        found = Look(failed={role: f"the look failed: {failure(e)}" for role in sources})
    settled = settle(list(sources), r.policy.roster, r.state.on_call, found)
    r.decide(outcomes.on_call, settled.holders, settled.notes, why)
    return [h for h in settled.handoffs if h.role not in r.state.assignments]
