"""`python -m connection.health`: is the worker on this host polling? Exit 0 when the Temporal server
has seen a worker of this host (its identity `<pid>@<hostname>`, the SDK's default) poll the task
queue's workflow tasks within the last POLLED_WITHIN; exit 1 with the reason otherwise.

It is the worker's readiness probe on Kubernetes (deploy/kubernetes/worker/deployment.yaml) and its
health check in docker-compose.yml. The worker process serves no HTTP of its own beyond its
metrics (IRP_METRICS_ADDRESS), and those answer before the worker polls and go on answering when it
cannot reach the server, so they serve only as its liveness probe (the process is up). Reads
TemporalSettings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE, TLS, API key) as the
worker does."""

from __future__ import annotations

import asyncio
import socket
import sys
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from connection.temporal import TemporalSettings, connect, exit_now

# An idle worker's long poll lasts about a minute before it polls again: two minutes without one is
# a worker that stopped polling (or a server that stopped seeing it).
POLLED_WITHIN = timedelta(minutes=2)
TIMEOUT = 10.0  # seconds for the whole check
# A task queue's partitions (the server's matching.numTaskqueueReadPartitions default). A poll waiting
# on another partition shows at the root only while no other poll is forwarded from there: with
# several workers one may show on a partition only, for a minute-long poll, so every one is asked.
PARTITIONS = 4


async def not_polling(client: Client, task_queue: str, host: str, now: datetime | None = None) -> str | None:
    """None when a worker on `host` polled `task_queue` (any of its partitions) within
    POLLED_WITHIN; else why not."""
    pollers = []
    for name in (task_queue, *(f"/_sys/{task_queue}/{n}" for n in range(1, PARTITIONS))):
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=name),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        pollers += answer.pollers
    seen = [p.last_access_time.ToDatetime(tzinfo=UTC) for p in pollers if p.identity.endswith(f"@{host}")]
    if not seen:
        return f"no worker on {host} polls {task_queue} ({len(pollers)} pollers elsewhere)"
    ago = (now or datetime.now(UTC)) - max(seen)
    return (
        f"the worker on {host} last polled {task_queue} {ago.seconds} s ago" if ago > POLLED_WITHIN else None
    )


async def check(settings: TemporalSettings, host: str) -> str | None:
    """None when healthy; else the reason (Temporal unreachable counts as not polling)."""
    try:
        client = await connect(settings)
        return await not_polling(client, settings.temporal_task_queue, host)
    except Exception as e:  # unreachable, refused, bad settings: all mean "not ready"
        return f"cannot ask Temporal at {settings.address}: {type(e).__name__}: {e}"


def main() -> int:
    settings = TemporalSettings()
    try:
        problem = asyncio.run(asyncio.wait_for(check(settings, socket.gethostname()), TIMEOUT))
    except TimeoutError:
        problem = f"no answer from Temporal at {settings.address} within {TIMEOUT:.0f} s"
    print(problem or f"polling {settings.temporal_task_queue}", file=sys.stderr if problem else sys.stdout)
    return 1 if problem else 0


if __name__ == "__main__":
    exit_now(main())  # no SDK teardown: it can abort at exit (SIGABRT), which a probe counts as failed
