"""The bare-Temporal baseline: a trivial workflow and activity, in their own module (sandbox rule)."""

from __future__ import annotations

import time
from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def first_step(name: str) -> float:
    """Records when it started (wall clock, same host as the benchmark)."""
    return time.time()


@workflow.defn
class BareWorkflow:
    def __init__(self) -> None:
        self.received = 0

    @workflow.run
    async def run(self, hold: bool) -> float:
        started = await workflow.execute_activity(
            first_step, "bare", start_to_close_timeout=timedelta(seconds=30)
        )
        if hold:  # the storm baseline: stay open, like an incident
            await workflow.wait_condition(lambda: False)
        return started

    @workflow.update
    def receive(self, delivery: dict) -> int:
        self.received += 1
        return self.received
