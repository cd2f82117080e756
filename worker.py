"""Runs the incident worker: `python worker.py` (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE)."""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client
from temporalio.worker import Worker

from activities import build_activities
from activities.settings import IntegrationSettings
from plan import Policy, load_policy
from runtime.temporal import TemporalSettings, connect
from workflows import IncidentWorkflow

WORKFLOWS = [IncidentWorkflow]


def build_worker(client: Client, task_queue: str, policy: Policy, settings: IntegrationSettings) -> Worker:
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=build_activities(settings, policy))


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    temporal = TemporalSettings()
    policy = load_policy()
    client = await connect(temporal)
    worker = build_worker(client, temporal.temporal_task_queue, policy, IntegrationSettings())
    logging.info("worker polling %s on %s", temporal.temporal_task_queue, temporal.address)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
