"""A fault while handling one input never stops the incident (issue 20).

Temporal fails the workflow task when a signal or update handler raises anything but a deliberate
ApplicationError, and retries that task for ever: the input sits in history, every worker that
replays it meets the same fault, and the incident's clocks, pages and `status` all stop. Here a
fault — a bug of ours, a library's surprise on input nobody foresaw — is contained to the input
that caused it: refused in the timeline and the bridge with what went wrong, logged with its
traceback for the operators, counted in `irp_input_faults`, and the incident goes on.

What the handler changed before the fault stays changed (the timeline says what it did); nothing
is rolled back, because outward steps may already be queued."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from plan.decision import refused
    from plan.events import TimelineEntry

T = TypeVar("T")


def contained(ctx, what: str, apply: Callable[[], T], *, answer: bool = False) -> T | None:
    """`apply()`'s value; on a fault, None after refusing `what` (a signal's name) where people
    look. `answer`: an update's handling — a deliberate ApplicationError (a refusal the caller
    should get) passes through, and a fault is answered to the caller as a Refused error too.
    A signal's handling swallows even an ApplicationError: raised from a signal handler it would
    fail the whole incident."""
    try:
        return apply()
    except ApplicationError as e:
        if answer:
            raise
        reason = fault_refusal(ctx, what, e)
    except Exception as e:  # any fault of ours or of a library, on any input: never a failed task
        reason = fault_refusal(ctx, what, e)
    if answer:
        raise ApplicationError(reason, type="Refused")
    return None


def fault_refusal(ctx, what: str, fault: Exception) -> str:
    """Refuse `what` for `fault` (call inside `except`, so the log has its traceback); answers the
    reason. Names the fault's type only: its message may quote the input."""
    workflow.logger.exception("fault while handling %s in %s", what, ctx.incident_id)
    workflow.metric_meter().create_counter(
        "irp_input_faults", "Inputs refused because handling them raised (a bug to report)"
    ).add(1, {"input": what[:64]})
    reason = (
        f"it could not be applied: handling it raised {type(fault).__name__} (logged on the worker "
        "with its traceback). The incident goes on; tell the operators"
    )
    try:
        ctx.apply(refused(what, reason))
    except Exception:  # the refusal itself failed (say, the bridge text): the timeline still has it
        workflow.logger.exception("refusing %s failed too", what)
        ctx.state.timeline.append(
            TimelineEntry(
                at=ctx.now(),
                kind="refused",
                text=f"refused {what}: {reason}",
                signal=what,
                reason=reason,
            )
        )
    return reason
