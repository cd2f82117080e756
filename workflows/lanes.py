"""Outward steps, one lane per outside system. Each lane runs its steps in order; a system that
is down holds up only its own lane — never the pages, the bridge, the other systems or the
clocks of §4 and §5.2."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from temporalio import workflow

# Which lane a step runs in, by the step's name; anything else runs in "incident".
LANE_OF = {
    "_page": "paging",
    "_open_bridge": "chat", "_invite": "chat", "_post": "chat", "_post_triage_checklist": "chat",
    "_notify": "chat", "_invite_to_postmortem": "chat",
    "_open_status_page": "status", "_publish_status": "status",
    "_ticket": "tickets",
    "_send_customer_email": "email", "_escalate": "email",
    "_run_action": "actions",
}


class Lanes:
    def __init__(self) -> None:
        self.queues: dict[str, list[Callable[[], Awaitable]]] = {}
        self.busy: set[str] = set()
        self.tasks: dict[str, asyncio.Task] = {}

    def add(self, name: str, step: Callable[[], Awaitable]) -> None:
        lane = LANE_OF.get(name, "incident")
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
            finally:
                self.busy.discard(lane)

    @property
    def idle(self) -> bool:
        return not self.busy and not any(self.queues.values())
