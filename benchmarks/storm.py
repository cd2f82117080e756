"""2. alert storm: N Alertmanager deliveries over G groups through the webhook, bounded concurrency,
against bare update-with-start of a trivial workflow with the same ids and count."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from benchmarks.bare import BareWorkflow
from benchmarks.stack import TOKEN
from runtime.intake import incident_id_for_group
from tests.payloads import alert, delivery

CONCURRENCY = 32


def payloads(n: int, groups: int, tag: str) -> list[dict]:
    # P2 (warning, a module outside the §6 list): two roles paged per incident
    base = [delivery(alert(severity="warning", module="reports", summary=f"storm group {g}"), group=f"Storm{tag}-{g}")
            for g in range(groups)]
    return [base[i % groups] for i in range(n)]


async def _drive(n: int, call) -> float:
    it = iter(range(n))

    async def lane():
        for i in it:
            await call(i)

    t0 = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
    return time.perf_counter() - t0


async def product(url: str, bodies: list[dict]) -> dict:
    statuses: Counter = Counter()
    incidents: set[str] = set()
    created = 0
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(timeout=60, limits=limits) as h:
        async def post(i):
            nonlocal created
            r = await h.post(url + "/webhooks/alertmanager", json=bodies[i], headers={"Authorization": f"Bearer {TOKEN}"})
            statuses[r.status_code] += 1
            if r.status_code == 202:
                for inc in r.json()["incidents"]:
                    incidents.add(inc["incident_id"])
                    created += inc["created"]
        elapsed = await _drive(len(bodies), post)
    return {"elapsed_s": elapsed, "per_s": len(bodies) / elapsed, "statuses": dict(statuses),
            "incidents": incidents, "created": created}


async def bare(client, task_queue: str, bodies: list[dict]) -> dict:
    async def call(i):
        wid = "bare-" + incident_id_for_group(bodies[i]["groupKey"])
        start = WithStartWorkflowOperation(BareWorkflow.run, True, id=wid, task_queue=task_queue,
                                           id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
        await client.execute_update_with_start_workflow(BareWorkflow.receive, bodies[i], start_workflow_operation=start)
    elapsed = await _drive(len(bodies), call)
    return {"elapsed_s": elapsed, "per_s": len(bodies) / elapsed}
