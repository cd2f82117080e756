"""Running one outward step: an activity retried for as long as its outside system needs, a
note when it is slow, and a step that cannot succeed recorded in the timeline, never fatal."""

from __future__ import annotations

from datetime import timedelta

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


async def watched(
    ctx,
    activity,
    request,
    *,
    what: str,
    options: dict = OUTSIDE,
    slow_in_bridge: bool = True,
):
    """Run the activity; still retrying after SLOW_STEP gets one note (in the bridge too, unless
    the bridge is what is failing), then it keeps retrying with backoff. Raises ActivityError."""
    call = workflow.start_activity_method(activity, request, **options)
    try:
        await workflow.wait_condition(call.done, timeout=SLOW_STEP)
    except TimeoutError:
        waited = minutes(SLOW_STEP)
        ctx.note(K.slow_step, f"still trying to {what} after {waited} min; retrying with backoff")
        if slow_in_bridge:
            ctx.say(
                "slow-step",
                f"⚠️ Still trying to {what} after {waited} minutes: the service is failing or slow. "
                f"Retrying with backoff; the worker log has each error.",
            )
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
