"""The incidents a report counts, found through Temporal visibility: incident workflows started
since the window opened whose `IncidentStatus` search attribute says `review` or `closed`, or
whose run completed (workflows/search.py). Each one's `status` is queried (the latest run of a
workflow that continued as new) and made into its compliance card and timeline picture."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from temporalio.client import Client

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


def visibility_query(since: datetime) -> str:
    """The list filter: incident workflows started since `since` that are resolved or done."""
    stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"WorkflowType = '{WORKFLOW_TYPE}' AND StartTime >= '{stamp}' "
        "AND (IncidentStatus IN ('review', 'closed') OR ExecutionStatus = 'Completed')"
    )


async def incident_ids(client: Client, since: datetime) -> list[str]:
    """The workflow ids of the resolved incidents started since `since`, each once."""
    ids: dict[str, None] = {}
    async for execution in client.list_workflows(visibility_query(since)):
        ids.setdefault(execution.id)
    return list(ids)


async def statuses(client: Client, ids: list[str], wait: float) -> tuple[list[IncidentStatus], list[str]]:
    """Each incident's `status` (its latest run); those that did not answer within `wait`
    seconds, or failed, as "<id>: <why>"."""
    from workflows import IncidentWorkflow  # the CLI's import: the workflow's query type

    gate = asyncio.Semaphore(AT_ONCE)

    async def one(incident_id: str) -> IncidentStatus | str:
        async with gate:
            try:
                handle = client.get_workflow_handle(incident_id)
                return await asyncio.wait_for(handle.query(IncidentWorkflow.status), wait)
            except TimeoutError:
                return f"{incident_id}: no answer within {wait:g} s (is a worker polling its task queue?)"
            except Exception as e:  # one incident that cannot answer does not stop the report
                return f"{incident_id}: {type(e).__name__}: {e}"

    answers = await asyncio.gather(*(one(i) for i in ids))
    return [a for a in answers if not isinstance(a, str)], [a for a in answers if isinstance(a, str)]


async def gather(
    client: Client, policy: Policy, since: datetime, now: datetime, wait: float = 10.0
) -> tuple[list[Found], list[str]]:
    """The report's incidents (oldest start first) and those that could not be read."""
    read, unread = await statuses(client, await incident_ids(client, since), wait)
    shown = sorted((found(s, policy, now) for s in read), key=lambda f: f.card.started_at)
    return shown, unread
