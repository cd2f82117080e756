"""1. alert → first page: webhook POST → the PagerDuty fake's first trigger for that incident,
against bare start_workflow → first activity start.

Both run one at a time on a quiet worker: a bare run ends before the next starts, and an incident
gets to finish its opening (bridge, checklist, status page) before the next alert. `settle=False`
sends the next alert as soon as the page lands, while the last incident is still opening."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx

from benchmarks.bare import BareWorkflow
from benchmarks.stack import TOKEN, pct
from tests.payloads import alert, delivery


async def product(stack, url: str, n: int, settle: bool = True) -> list[float]:
    out = []
    async with httpx.AsyncClient(timeout=30) as h:
        for i in range(n):
            body = delivery(
                alert(scope="all", summary=f"latency {i}"), group=f"Latency-{uuid.uuid4().hex[:8]}"
            )
            seen = len(stack.pagerduty.arrivals)
            t0 = time.time()
            r = await h.post(
                url + "/webhooks/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
            )
            assert r.status_code == 202, r.text
            incident = r.json()["incidents"][0]["incident_id"]
            out.append(await stack.pagerduty.first_trigger(incident, seen) - t0)
            if settle:
                await opened(stack.client.get_workflow_handle(incident))
    return out


async def opened(handle, timeout: float = 30) -> None:
    """Until the incident's opening steps are done: no activity pending for a moment."""
    deadline, quiet = time.monotonic() + timeout, 0
    while quiet < 3 and time.monotonic() < deadline:
        quiet = quiet + 1 if not (await handle.describe()).raw_description.pending_activities else 0
        await asyncio.sleep(0.05)


async def bare(client, task_queue: str, n: int) -> list[float]:
    out = []
    for _i in range(n):
        t0 = time.time()
        handle = await client.start_workflow(
            BareWorkflow.run, False, id=f"bare-lat-{uuid.uuid4().hex[:10]}", task_queue=task_queue
        )
        out.append(await handle.result() - t0)
    return out


def summary(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50_ms": round(pct(values, 50) * 1000, 1),
        "p99_ms": round(pct(values, 99) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }
