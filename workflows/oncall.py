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
    from plan.decide import outcomes, shifts
    from plan.decision import Given, decide
    from plan.oncall import Handoff, Look, settle
    from workflows.outside import failure

FOLLOW_SHIFTS = "shift-end"  # a holder's PagerDuty shift end looks again (issue 23)

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
            OnCallRequest(sources=sources, at=workflow.now()),
            summary=f"who is on call ({why})",
            **LOOK,
        )
    except ActivityError as e:
        found = Look(failed={role: f"the look failed: {failure(e)}" for role in sources})
    settled = settle(list(sources), r.policy.roster, r.state.on_call, found)
    r.decide(outcomes.on_call, settled.holders, settled.notes, why)
    return [h for h in settled.handoffs if h.role not in r.state.assignments]


class Shifts:
    """The durable timer that follows PagerDuty's shifts (issue 23): the incident's clock wakes at
    the end of a holder's shift (plan/decide/shifts.py says when), and the look that follows
    announces the handoff, invites the new person and moves the role. Incidents begun before
    `shift-end` keep their holders until something else looks (their histories have no such timer)."""

    def __init__(self, r) -> None:
        self.r = r
        self.following: bool | None = None  # workflow.patched, asked once a shift could be followed

    def next_clock(self):
        """The next shift end to look at, or None."""
        due = shifts.next_look(self.r.state, wanted(self.r))
        if due is None:
            return None
        if self.following is None:
            self.following = workflow.patched(FOLLOW_SHIFTS)
        # PagerDuty's shift end is on Temporal's clock; the incident's clock may be a drill's.
        return self.r.after_real(due - workflow.now()) if self.following else None

    def check(self, now) -> None:
        """At the clock's time `now`: a shift that has ended asks for a look (once)."""
        if self.next_clock() is not None:
            r = self.r
            wall = workflow.now() if r.state.drill_clock else None  # None: `now` (what it was before)
            r.apply(decide(r.state, Given(r.incident_id, r.policy, now, wall=wall), shifts.ended))
