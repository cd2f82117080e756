"""4. long incident: a 7-day P0 under the time-skipping test server: history events per run and
how often it continued as new."""

from __future__ import annotations

import shutil
import sys
import time
import uuid
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities import IntegrationSettings
from connection.search_attributes import register_search_attributes
from plan.models import Severity
from sandbox.settings import sandbox_settings
from tests.helpers import finish, status_when
from tests.test_lifecycle import PRIMARY, at, open_incident
from worker import build_worker


def settings(stack) -> IntegrationSettings:
    return sandbox_settings(
        stack.slack, stack.pagerduty, stack.statuspage, stack.prometheus, stack.jira, stack.smtp
    )


def binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not path:
        raise RuntimeError(f"{name} is not installed: run `make install`")
    return path


async def run(stack, policy, days: int = 7) -> dict:
    stack.slack.reset()  # earlier phases used up the day's 50 bridge names (activities/chat MAX_NAME_RACES)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=pydantic_data_converter
    )
    t0 = time.perf_counter()
    try:
        await register_search_attributes(env.client)
        task_queue = f"bench-long-{uuid.uuid4().hex[:6]}"
        async with build_worker(env.client, task_queue, policy, settings(stack)):
            handle = await open_incident(env, task_queue, policy, scope="all")
            first_run = handle.result_run_id
            await handle.signal("acknowledge", {"by": PRIMARY})
            for day in range(1, days + 1):
                await at(env, handle, day * 24 * 60)
            every_min = policy.update_cadence[Severity.P0].total_seconds() / 60
            status = await status_when(
                handle, lambda s: s.cadence.overdue_updates >= days * 24 * 60 / every_min - 1, timeout=60
            )
            per_run: list[int] = []
            run_id = first_run
            while run_id:
                h = env.client.get_workflow_handle(handle.id, run_id=run_id)
                events = (await h.fetch_history()).events
                per_run.append(len(events))
                last = events[-1]
                run_id = (
                    last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                    if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
                    else None
                )
            await finish(handle)
    finally:
        await env.shutdown()
    return {
        "days": days,
        "runs": len(per_run),
        "continue_as_new": len(per_run) - 1,
        "events_per_run": per_run,
        "max_events_per_run": max(per_run),
        "total_events": sum(per_run),
        "overdue_nudges": status.cadence.overdue_updates,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
