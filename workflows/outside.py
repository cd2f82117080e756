"""Running one outward step: an activity retried for as long as its outside system needs, a
note when it is slow, and a step that cannot succeed recorded in the timeline, never fatal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from plan.decide.common import minutes
    from plan.events import EventKind as K

# A step retrying this long gets one note, so people know why nothing happened.
SLOW_STEP = timedelta(minutes=2)
# Outside systems may be down for minutes: retry with backoff, for as long as it takes.
OUTSIDE = dict(
    start_to_close_timeout=timedelta(seconds=60),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=1)
    ),
)
# A page is the first thing people hear: an attempt cut off by a dying worker is retried soon.
PAGING = dict(OUTSIDE, start_to_close_timeout=timedelta(seconds=15))
# The resolve gate answers a person who is waiting: a few tries, then say it could not verify.
VERIFY = dict(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3),
)


def failure(e: ActivityError) -> str:
    """What went wrong, in the outside system's words (not the SDK's wrapping)."""
    cause = e.cause
    while isinstance(cause, ActivityError) and cause.cause:
        cause = cause.cause
    return getattr(cause, "message", None) or str(cause or e)


@dataclass
class Step:
    """An outward step in flight: what it does, when it is slow, whether that was said."""

    what: str
    slow_at: datetime
    slow_in_bridge: bool
    said: bool = False


class Watch:
    """The outward steps in flight that the incident's own clock watches. A step whose SLOW_STEP
    ends after the incident's next clock (the 2-minute escalation while the opening's steps run)
    needs no timer of its own — two events per step in the history — the clock's wake looks at it
    (`slow_at`, `say_slow`). Any other step keeps its own timer (`watched`)."""

    def __init__(self) -> None:
        self.steps: dict[int, Step] = {}
        self.started = 0
        self.clock_at: datetime | None = None  # the incident's armed clock (workflows/incident.py)

    def covers(self, slow_at: datetime) -> bool:
        return self.clock_at is not None and self.clock_at <= slow_at

    def start(self, what: str, slow_at: datetime, slow_in_bridge: bool) -> int:
        self.started += 1
        self.steps[self.started] = Step(what, slow_at, slow_in_bridge)
        return self.started

    def slow_at(self) -> datetime | None:
        return min((s.slow_at for s in self.steps.values() if not s.said), default=None)

    def say_slow(self, ctx, now: datetime) -> None:
        """One note per watched step still retrying at `now`."""
        for step in self.steps.values():
            if not step.said and now >= step.slow_at:
                step.said = True
                _say_slow(ctx, step.what, step.slow_in_bridge)


def _say_slow(ctx, what: str, slow_in_bridge: bool) -> None:
    """Still retrying after SLOW_STEP: one note (in the bridge too, unless the bridge is what is
    failing)."""
    waited = minutes(SLOW_STEP)
    ctx.note(K.slow_step, f"still trying to {what} after {waited} min; retrying with backoff")
    if slow_in_bridge:
        ctx.say(
            "slow-step",
            f"⚠️ Still trying to {what} after {waited} minutes: the service is failing or slow. "
            f"Retrying with backoff; the worker log has each error.",
        )


async def watched(
    ctx,
    activity,
    request,
    *,
    what: str,
    options: dict = OUTSIDE,
    slow_in_bridge: bool = True,
):
    """Run the activity; still retrying after SLOW_STEP gets one note, then it keeps retrying with
    backoff. Watched by the incident's clock when that wakes by then, else by a timer of its own.
    Raises ActivityError."""
    call = workflow.start_activity_method(activity, request, **options)
    slow_at = ctx.after_real(SLOW_STEP)  # on the incident's clock (a drill's runs faster)
    if ctx.watch.covers(slow_at):
        step = ctx.watch.start(what, slow_at, slow_in_bridge)
        try:
            return await call
        finally:
            del ctx.watch.steps[step]
    try:
        await workflow.wait_condition(call.done, timeout=SLOW_STEP)
    except TimeoutError:
        _say_slow(ctx, what, slow_in_bridge)
    return await call


async def outside(
    ctx,
    activity,
    request,
    *,
    what: str,
    options: dict = OUTSIDE,
    slow_in_bridge: bool = True,
):
    """Run one outward step; a step that cannot succeed is recorded and answers None."""
    try:
        return await watched(
            ctx, activity, request, what=what, options=options, slow_in_bridge=slow_in_bridge
        )
    except ActivityError as e:
        ctx.note(K.step_failed, f"could not {what}: {failure(e)}")
        return None
