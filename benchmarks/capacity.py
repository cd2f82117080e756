"""3. capacity: many open P0 incidents with a short §5.2 cadence on one worker process: its RSS and
how late the "update overdue" nudges fire.

Each incident is acknowledged once open, as incidents being worked are: the steady state is the
cadence clocks, not a thousand 2-minute escalations at once."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from benchmarks.stack import pct
from incident_client.intake import deliver_alerts
from plan import AlertmanagerDelivery, Policy, load_policy
from plan.models import Role, Severity
from tests.payloads import alert, delivery
from workflows import IncidentWorkflow


def short_policy(path: Path, policy: Policy, every: timedelta) -> Policy:
    cadence = {Severity.P0: every, Severity.P1: every * 2}
    path.write_text(
        yaml.safe_dump(
            policy.model_copy(update={"update_cadence": cadence}).model_dump(mode="json"), sort_keys=False
        )
    )
    return load_policy(path)


async def open_incidents(client, task_queue: str, policy: Policy, n: int, concurrency: int = 32) -> list[str]:
    ids: list[str] = []
    it = iter(range(n))
    on_call = policy.person(Role.oncall_primary).email

    async def lane():
        for i in it:
            d = AlertmanagerDelivery.model_validate(
                delivery(alert(scope="all", summary=f"capacity {i}"), group=f"Capacity-{i}")
            )
            incident_id = (await deliver_alerts(client, task_queue, d)).incident_id
            await client.get_workflow_handle(incident_id).signal("acknowledge", {"by": on_call})
            ids.append(incident_id)

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return ids


async def lateness(client, ids: list[str], every: timedelta) -> list[tuple[datetime, float]]:
    """(when due, seconds late) for each nudge: the first is due one cadence after the opening
    (last_update_at, as no update was posted); each next one cadence after the previous nudge."""
    late: list[tuple[datetime, float]] = []
    sem = asyncio.Semaphore(32)

    async def one(wid):
        async with sem:
            s = await client.get_workflow_handle(wid).query(IncidentWorkflow.status)
        nudges = [e.at for e in s.timeline if e.kind == "update-overdue"]
        if not nudges or s.cadence is None or s.cadence.updates_posted > 1:
            return
        due = s.cadence.last_update_at + every
        for at in nudges:
            late.append((due, (at - due).total_seconds()))
            due = at + every

    await asyncio.gather(*(one(w) for w in ids))
    return late


def spread(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_s": round(pct(values, 50), 3),
        "p99_s": round(pct(values, 99), 3),
        "max_s": round(max(values), 3),
    }


class RssSampler:
    def __init__(self, proc, every: float = 0.5):
        self.proc, self.every, self.peak, self.samples = proc, every, 0, []
        self._task = asyncio.create_task(self._run())

    async def _run(self):
        while True:
            kib = self.proc.rss_kib()
            if kib:
                self.peak = max(self.peak, kib)
                self.samples.append((time.monotonic(), kib))
            await asyncio.sleep(self.every)

    def stop(self):
        self._task.cancel()
