"""`python -m benchmarks.bare_worker ADDRESS TASK_QUEUE`: the baseline worker, as its own process
like worker.py."""

from __future__ import annotations

import asyncio
import sys

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from benchmarks.bare import BareWorkflow, first_step
from connection.temporal import workflow_runner


async def main(address: str, task_queue: str) -> None:
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    print("bare worker polling", task_queue, flush=True)
    await Worker(
        client,
        task_queue=task_queue,
        workflows=[BareWorkflow],
        activities=[first_step],
        workflow_runner=workflow_runner("benchmarks.bare"),
    ).run()  # as worker.py: fair


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
