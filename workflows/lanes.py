"""Outward steps, one lane per outside system. Each lane runs its steps in order; a system that
is down holds up only its own lane — never the pages, the bridge, the other systems or the
clocks of §4 and §5.2. Each component names its own lane (its `LANE`). A step that raises (a
fault of ours: outside failures are handled inside the steps) is reported to `on_fault` and the
lane goes on with its next step: one bad step never stops a lane for good."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from temporalio import workflow


class Lanes:
    def __init__(self, on_fault: Callable[[str, Exception], None] = lambda lane, fault: None) -> None:
        """`on_fault(lane, fault)` hears of a step that raised (called inside `except`)."""
        self.on_fault = on_fault
        self.queues: dict[str, list[Callable[[], Awaitable]]] = {}
        self.busy: set[str] = set()
        self.tasks: dict[str, asyncio.Task] = {}

    def add(self, lane: str, step: Callable[[], Awaitable]) -> None:
        self.queues.setdefault(lane, []).append(step)
        if lane not in self.tasks:
            self.tasks[lane] = asyncio.create_task(self._drain(lane))

    async def _drain(self, lane: str) -> None:
        queue = self.queues[lane]
        while True:
            await workflow.wait_condition(lambda: bool(queue))
            self.busy.add(lane)
            try:
                await queue.pop(0)()
            except Exception as e:  # never asyncio.CancelledError: a cancelled workflow stops its lanes
                self.on_fault(lane, e)
            finally:
                self.busy.discard(lane)

    @property
    def idle(self) -> bool:
        return not self.busy and not any(self.queues.values())
