"""The incidents a report counts, found through Temporal visibility: incident workflows started
since the window opened that are running with their `IncidentStatus` search attribute at `review`
or `closed` (workflows/search.py), or that completed (a closed §8 ledger ends the run with its
final status as the result). A running one's `status` is queried (the latest run, for one that
continued as new); a completed one's result is read from its history, so it needs no worker. A
terminated incident was stopped by hand, not closed: it is not counted.

Each incident is judged by its own `compliance` query, under the policy it pinned (as the pages at
/ui/ are): a closed one as of its last step, one in review as of the report's `now`. Only when that
query cannot be answered (no worker, a query that fails, no policy pinned) is its card made under
the local policy file, and its Found says why."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.client import Client, WorkflowExecutionStatus

from plan.compliance import ComplianceCard, card
from plan.incident import IncidentStatus
from plan.models import Policy
from plan.picture import TimelinePicture, picture

WORKFLOW_TYPE = "IncidentWorkflow"
AT_ONCE = 8  # status queries in flight together


NOT_ASKED = "its own card was not asked for"


@dataclass(frozen=True)
class Found:
    """One incident as the report shows it: its card, its picture, and its summary.
    `local_because`: None when the card is the incident's own (its pinned policy's); else why the
    local policy file judged it."""

    card: ComplianceCard
    picture: TimelinePicture
    summary: str
    local_because: str | None = None


@dataclass(frozen=True)
class Answer:
    """What one incident answered: its status, and its own compliance card or why there is none."""

    status: IncidentStatus
    own: ComplianceCard | None = None
    why_not: str | None = None


def found(
    status: IncidentStatus,
    policy: Policy,
    now: datetime,
    own: ComplianceCard | None = None,
    why_not: str = NOT_ASKED,
) -> Found:
    """One incident at `now` (its summary "" when private): its card is `own`, the incident's own
    answer under its pinned policy, or without one the card under `policy` (the local file), with
    `why_not` said."""
    return Found(
        card=own if own is not None else card(status, policy, now),
        picture=picture(status, now),
        summary="" if status.private else status.summary,
        local_because=None if own is not None else why_not,
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


def began_since(status: IncidentStatus, since: datetime) -> bool:
    """Whether the incident's problem started in the window (the alert's own startsAt, as §4 counts;
    docs/report.md). Visibility's StartTime is its latest run's: an incident that continued as new
    (a long history, a move to a newer build in REVIEW) after `since` but began before is not the
    window's."""
    return status.started_at >= since


async def own_card(handle, closed: bool, now: datetime, wait: float) -> tuple[ComplianceCard | None, str]:
    """The incident's own compliance card (its `compliance` query, under the policy it pinned): a
    closed incident's as of its last step (the query's default), a running one's as of `now`; or
    None and why not ("" with a card)."""
    from workflows import IncidentWorkflow  # the CLI's import: the workflow's query type

    asked = (
        handle.query(IncidentWorkflow.compliance)
        if closed
        else handle.query(IncidentWorkflow.compliance, now)
    )
    try:
        own = await asyncio.wait_for(asked, wait)
    except TimeoutError:
        return None, f"no worker answered its compliance query within {wait:g} s"
    except Exception as e:  # an older build without the query, a query that failed: say which
        return None, f"its compliance query was not answered: {type(e).__name__}: {str(e)[:200]}"
    if own is None:
        return None, "it pinned no policy"
    return own, ""


async def answers(
    client: Client, ids: dict[str, bool], now: datetime, wait: float, cards: bool = True
) -> tuple[list[Answer], list[str]]:
    """Each incident's answer (id → completed, as `incident_ids` gives them): its status, a
    completed run's result or a running one's `status` query, and (`cards`) its own compliance
    card; those whose status did not come within `wait` seconds, or failed, as "<id>: <why>"."""
    from workflows import IncidentWorkflow  # the CLI's import: the workflow's query type

    gate = asyncio.Semaphore(AT_ONCE)

    async def one(incident_id: str, completed: bool) -> Answer | str:
        async with gate:
            handle = client.get_workflow_handle_for(IncidentWorkflow.run, incident_id)
            try:
                asked = handle.result() if completed else handle.query(IncidentWorkflow.status)
                status = await asyncio.wait_for(asked, wait)
            except TimeoutError:
                return f"{incident_id}: no answer within {wait:g} s (is a worker polling its task queue?)"
            except Exception as e:  # one incident that cannot answer does not stop the report
                return f"{incident_id}: {type(e).__name__}: {e}"
            if not cards:
                return Answer(status)
            own, why_not = await own_card(handle, completed, now, wait)
            return Answer(status, own, why_not or None)

    said = await asyncio.gather(*(one(i, done) for i, done in ids.items()))
    return [a for a in said if not isinstance(a, str)], [a for a in said if isinstance(a, str)]


async def statuses(
    client: Client, ids: dict[str, bool], wait: float
) -> tuple[list[IncidentStatus], list[str]]:
    """Each incident's status alone (answers() without the cards)."""
    read, unread = await answers(client, ids, datetime.now(UTC), wait, cards=False)
    return [a.status for a in read], unread


async def gather(
    client: Client, policy: Policy, since: datetime, now: datetime, task_queue: str | None, wait: float = 10.0
) -> tuple[list[Found], list[str]]:
    """The report's incidents on `task_queue` (None: any), oldest start first, each judged by its
    own compliance card (by `policy`, the local file, only where that could not be had: Found
    says why), and those that could not be read."""
    read, unread = await answers(client, await incident_ids(client, since, task_queue), now, wait)
    read = [a for a in read if began_since(a.status, since)]
    shown = [found(a.status, policy, now, a.own, a.why_not or NOT_ASKED) for a in read]
    return sorted(shown, key=lambda f: f.card.started_at), unread
