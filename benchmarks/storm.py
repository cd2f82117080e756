"""2. alert storm: N Alertmanager deliveries over G groups through the webhook, bounded concurrency,
against bare update-with-start of a trivial workflow with the same ids and count.

The deliveries go in ROUNDS slices, product and bare taking turns, so drift on a shared machine
falls on both alike. The load generator stands in for Alertmanager, which runs elsewhere; it uses
aiohttp because it costs this machine's two cores about half the CPU per request httpx does."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from benchmarks.bare import BareWorkflow
from benchmarks.stack import TOKEN
from incident_client.intake import incident_id_for_group
from tests.payloads import alert, delivery

CONCURRENCY = 32
ROUNDS = 4


def payloads(n: int, groups: int, tag: str) -> list[dict]:
    # P2 (warning, a module outside the §6 list): two roles paged per incident
    base = [
        delivery(
            alert(severity="warning", module="reports", summary=f"storm group {g}"), group=f"Storm{tag}-{g}"
        )
        for g in range(groups)
    ]
    return [base[i % groups] for i in range(n)]


async def _drive(n: int, call) -> float:
    it = iter(range(n))

    async def lane():
        for i in it:
            await call(i)

    t0 = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
    return time.perf_counter() - t0


def rounds(bodies: list[dict]) -> list[list[dict]]:
    size = -(-len(bodies) // ROUNDS)
    return [bodies[i : i + size] for i in range(0, len(bodies), size)]


async def product(url: str, bodies: list[dict]) -> dict:
    statuses: Counter = Counter()
    incidents: set[str] = set()
    created = 0
    headers = {"Authorization": f"Bearer {TOKEN}"}
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as h:

        async def post(i):
            nonlocal created
            async with h.post(url + "/webhooks/alertmanager", json=bodies[i], headers=headers) as r:
                statuses[r.status] += 1
                if r.status == 202:
                    for inc in (await r.json())["incidents"]:
                        incidents.add(inc["incident_id"])
                        created += inc["created"]

        elapsed = await _drive(len(bodies), post)
    return {
        "elapsed_s": elapsed,
        "per_s": len(bodies) / elapsed,
        "statuses": dict(statuses),
        "incidents": incidents,
        "created": created,
    }


async def bare(client, task_queue: str, bodies: list[dict]) -> dict:
    async def call(i):
        wid = "bare-" + incident_id_for_group(bodies[i]["groupKey"])
        start = WithStartWorkflowOperation(
            BareWorkflow.run,
            True,
            id=wid,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        await client.execute_update_with_start_workflow(
            BareWorkflow.receive, bodies[i], start_workflow_operation=start
        )

    elapsed = await _drive(len(bodies), call)
    return {"elapsed_s": elapsed, "per_s": len(bodies) / elapsed}


async def alternating(
    url: str, client, task_queue: str, bodies: list[dict], say=print
) -> tuple[dict, dict, list[float]]:
    """Product and bare take turns over the same slices; totals over all rounds, and each round's ratio."""
    prod = {"elapsed_s": 0.0, "statuses": Counter(), "incidents": set(), "created": 0}
    base = {"elapsed_s": 0.0}
    ratios = []
    for n, part in enumerate(rounds(bodies), 1):
        p, b = await product(url, part), await bare(client, task_queue, part)
        prod["elapsed_s"] += p["elapsed_s"]
        prod["statuses"].update(p["statuses"])
        prod["incidents"] |= p["incidents"]
        prod["created"] += p["created"]
        base["elapsed_s"] += b["elapsed_s"]
        ratios.append(round(p["per_s"] / b["per_s"], 2))
        say(
            f"    round {n}/{ROUNDS}: {len(part)} deliveries, webhook {p['per_s']:.0f}/s, "
            f"bare {b['per_s']:.0f}/s "
            f"(ratio {ratios[-1]})"
        )
    prod["per_s"] = len(bodies) / prod["elapsed_s"]
    prod["statuses"] = dict(prod["statuses"])
    base["per_s"] = len(bodies) / base["elapsed_s"]
    return prod, base, ratios


def paging_check(arrivals: list[tuple[float, str]], since: int, incidents: set[str], roles) -> dict:
    """Every storm incident's §3 pages: each engaged role paged, each dedup key triggered once.
    Pages to further roles are the plan's 2-minute escalation (nobody acknowledges in a benchmark)."""
    triggers = Counter(key for _, key in arrivals[since:] if key.split(":")[0] in incidents)
    expected = {f"{incident}:{role.value}" for incident in incidents for role in roles}
    return {
        "expected_dedup_keys": len(expected),
        "missing_dedup_keys": len(expected - triggers.keys()),
        "escalation_pages": len(triggers.keys() - expected),
        "repeated_triggers": sum(n - 1 for n in triggers.values()),
    }
