"""1. alert → first page: webhook POST → the PagerDuty fake's first trigger for that incident,
against bare start_workflow → first activity start."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx

from benchmarks.bare import BareWorkflow
from benchmarks.stack import TOKEN, pct
from tests.payloads import alert, delivery


async def product(stack, url: str, n: int) -> list[float]:
    out = []
    async with httpx.AsyncClient(timeout=30) as h:
        for i in range(n):
            body = delivery(alert(scope="all", summary=f"latency {i}"), group=f"Latency-{uuid.uuid4().hex[:8]}")
            seen = len(stack.pagerduty.arrivals)
            t0 = time.time()
            r = await h.post(url + "/webhooks/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 202, r.text
            incident = r.json()["incidents"][0]["incident_id"]
            deadline = time.monotonic() + 30
            while True:
                hit = next((t for t, key in stack.pagerduty.arrivals[seen:] if incident in key), None)
                if hit is not None:
                    out.append(hit - t0)
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no page for {incident} within 30 s")
                await asyncio.sleep(0.0005)
    return out


async def bare(client, task_queue: str, n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.time()
        handle = await client.start_workflow(BareWorkflow.run, False, id=f"bare-lat-{uuid.uuid4().hex[:10]}",
                                             task_queue=task_queue)
        out.append(await handle.result() - t0)
    return out


def summary(values: list[float]) -> dict:
    return {"n": len(values), "p50_ms": round(pct(values, 50) * 1000, 1), "p99_ms": round(pct(values, 99) * 1000, 1),
            "max_ms": round(max(values) * 1000, 1)}
