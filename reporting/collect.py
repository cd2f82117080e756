"""The incidents a report counts, found through Temporal visibility: incident workflows started
since the window opened that are running with their `IncidentStatus` search attribute at `review`
or `closed` (workflows/search.py), or that completed (a closed §8 ledger ends the run with its
final status as the result). A running one's `status` is queried (the latest run, for one that
continued as new); a completed one's result is read from its history, so it needs no worker. A
terminated incident was stopped by hand, not closed: it is not counted."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from temporalio.client import Client, WorkflowExecutionStatus

from plan.compliance import ComplianceCard, card
from plan.incident import IncidentStatus
from plan.models import Policy
from plan.picture import TimelinePicture, picture

WORKFLOW_TYPE = "IncidentWorkflow"
AT_ONCE = 8  # status queries in flight together


@dataclass(frozen=True)
class Found:
    """One incident as the report shows it: its card, its picture, and its summary."""

    card: ComplianceCard
    picture: TimelinePicture
    summary: str


def found(status: IncidentStatus, policy: Policy, now: datetime) -> Found:
    """The card and the picture of one incident at `now` (its summary "" when private)."""
    return Found(
        card=card(status, policy, now),
        picture=picture(status, now),
        summary="" if status.private else status.summary,
    )


def visibility_query(since: datetime, task_queue: str | None = None) -> str:
    """The list filter: incident workflows started since `since` that are resolved or done; with
    `task_queue`, only those on it (a deployment's incidents, not a drill run on its own queue).
    ValueError for a task queue name with a quote (no way to say it in the filter)."""
    stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    if task_queue is not None and ("'" in task_queue or "\\" in task_queue):
        raise ValueError(f"task queue {task_queue!r}: a name with a quote or backslash cannot be listed")
    on = f" AND TaskQueue = '{task_queue}'" if task_queue else ""
    return (
        f"WorkflowType = '{WORKFLOW_TYPE}' AND StartTime >= '{stamp}'{on} "
        "AND ((ExecutionStatus = 'Running' AND IncidentStatus IN ('review', 'closed')) "
        "OR ExecutionStatus = 'Completed')"
    )


async def incident_ids(client: Client, since: datetime, task_queue: str | None = None) -> dict[str, bool]:
    """The resolved incidents started since `since` (on `task_queue`, if given): workflow id →
    whether its run completed."""
    ids: dict[str, bool] = {}
    async for execution in client.list_workflows(visibility_query(since, task_queue)):
        done = execution.status == WorkflowExecutionStatus.COMPLETED
        ids[execution.id] = ids.get(execution.id, False) or done
    return ids


async def statuses(
    client: Client, ids: dict[str, bool], wait: float
) -> tuple[list[IncidentStatus], list[str]]:
    """Each incident's status (id → completed, as `incident_ids` gives them): a completed run's
    result, a running one's `status` query; those that did not answer within `wait` seconds, or
    failed, as "<id>: <why>"."""
    from workflows import IncidentWorkflow  # the CLI's import: the workflow's query type

    gate = asyncio.Semaphore(AT_ONCE)

    async def one(incident_id: str, completed: bool) -> IncidentStatus | str:
        async with gate:
            try:
                handle = client.get_workflow_handle_for(IncidentWorkflow.run, incident_id)
                asked = handle.result() if completed else handle.query(IncidentWorkflow.status)
                return await asyncio.wait_for(asked, wait)
            except TimeoutError:
                return f"{incident_id}: no answer within {wait:g} s (is a worker polling its task queue?)"
            except Exception as e:  # one incident that cannot answer does not stop the report
                return f"{incident_id}: {type(e).__name__}: {e}"

    answers = await asyncio.gather(*(one(i, done) for i, done in ids.items()))
    return [a for a in answers if not isinstance(a, str)], [a for a in answers if isinstance(a, str)]


async def gather(
    client: Client, policy: Policy, since: datetime, now: datetime, task_queue: str | None, wait: float = 10.0
) -> tuple[list[Found], list[str]]:
    """The report's incidents on `task_queue` (None: any), oldest start first, and those that
    could not be read."""
    read, unread = await statuses(client, await incident_ids(client, since, task_queue), wait)
    shown = sorted((found(s, policy, now) for s in read), key=lambda f: f.card.started_at)
    return shown, unread
