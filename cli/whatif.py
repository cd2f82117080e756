"""`irp whatif --policy new.yaml --since 90d`: what a policy change would have done to the
incidents recorded since then (issue 24, item 4).

The incidents are found through Temporal visibility (every run of every IncidentWorkflow started
since then; continue-as-new makes several runs of one incident), their inputs read back from
history (incident_client/history.py), and each decided twice by the plan's own deciders
(plan/rerun.py): under the policy it pinned and under the new one. What would have differed is
printed per incident and in sum (plan/whatif.py). Nothing is sent to any incident."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime

from temporalio.client import Client, WorkflowExecution

from incident_client.history import INCIDENT, History
from plan import Policy
from plan.whatif import Replayed, render, replay
from workflows.signals import BY_NAME


async def first_run_id(client: Client, execution: WorkflowExecution) -> str:
    """The id of the first run of `execution`'s chain: as visibility lists it, or, where it lists
    none (the dev server's visibility leaves `first_run_id` empty), as the run's own started event
    says it (`first_execution_run_id`, the same in every run continue-as-new makes)."""
    if execution.raw_info.first_run_id:
        return execution.raw_info.first_run_id
    handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
    async for event in handle.fetch_history_events(page_size=1):
        started = event.workflow_execution_started_event_attributes
        return started.first_execution_run_id or execution.run_id
    return execution.run_id


async def recorded_since(
    client: Client, since: datetime, where: str | None = None
) -> list[list[WorkflowExecution]]:
    """Every incident whose first run started since `since` (and matching the visibility filter
    `where`, e.g. one task queue): the runs of each (continue-as-new makes several; they share
    their first run's id, which also tells apart two incidents Temporal gave one workflow id),
    oldest run first, oldest incident first."""
    query = f"WorkflowType = '{INCIDENT}' AND StartTime >= '{since.isoformat()}'"
    query += f" AND {where}" if where else ""
    chains: dict[str, list] = defaultdict(list)
    async for execution in client.list_workflows(query):
        chains[await first_run_id(client, execution)].append(execution)
    began = [
        sorted(runs, key=lambda e: e.start_time)
        for first, runs in chains.items()
        if any(run.run_id == first for run in runs)  # its first run is in range: it began since
    ]
    return sorted(began, key=lambda runs: runs[0].start_time)


async def whatif(
    client: Client, new: Policy, since: datetime, now: datetime, where: str | None = None
) -> tuple[list[Replayed], list[str]]:
    """Each incident recorded since `since` (matching `where`), replayed under `new`, oldest first;
    and the incidents left out, with why (no policy pinned: it never opened)."""
    replayed, skipped = [], []
    for runs in await recorded_since(client, since, where):
        incident_id = runs[0].id
        histories = [
            await client.get_workflow_handle(incident_id, run_id=r.run_id).fetch_history() for r in runs
        ]
        history = await History(histories, client.data_converter).read()
        if history.policy is None:
            skipped.append(f"{incident_id}: no policy pinned (it never opened)")
            continue
        replayed.append(replay(history.recorded(now), history.policy, new, BY_NAME))
    return replayed, skipped


def show(replayed: list[Replayed], skipped: list[str], as_json: bool) -> str:
    """The text report (plan/whatif.py render), or JSON: {"incidents": [...], "skipped": [...]}."""
    if as_json:
        return json.dumps(
            {"incidents": [r.model_dump(mode="json") for r in replayed], "skipped": skipped},
            indent=2,
            ensure_ascii=False,
        )
    text = render(replayed) if replayed else "no incidents recorded in that time"
    return "\n".join([text, *(f"left out: {s}" for s in skipped)])
