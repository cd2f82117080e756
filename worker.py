"""Runs the incident worker: `python worker.py` (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
TEMPORAL_TASK_QUEUE; IRP_DEPLOYMENT_NAME, IRP_BUILD_ID and IRP_DEPLOY_PROMOTE for Worker
Deployments, connection/deployment.py)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities import IntegrationSettings, build_activities, check_outside
from connection.codec import EncryptionCodec
from connection.deployment import DeploymentSettings, promote
from connection.observability import configure_logging, metrics_runtime
from connection.search_attributes import create_command, register_search_attributes
from connection.temporal import (
    TemporalConfigError,
    TemporalSettings,
    connect,
    data_converter,
    workflow_runner,
)
from plan import Policy, PolicyError, load_policy
from workflows import HeartbeatWorkflow, IncidentWorkflow, SlackRequestTaken
from workflows.search import KEYS

WORKFLOWS = [IncidentWorkflow, HeartbeatWorkflow, SlackRequestTaken]


def build_worker(
    client: Client,
    task_queue: str,
    policy: Policy,
    settings: IntegrationSettings,
    deployment: DeploymentSettings | None = None,
    drill: bool = False,
) -> Worker:
    """The worker is the one reader of the policy: incidents and heartbeats pin it from here at
    their start.
    A payload sealed by a key the worker lacks reaches the incident still sealed, to be refused
    there by its key id, rather than failing every task of that incident.
    `deployment`: the Worker Deployment version this worker is (None: unversioned, as most tests
    run it).
    `drill`: drill mode (IRP_DRILL=1), where a policy may speed up the incidents' clock; PolicyError
    for a policy with `drill_clock` otherwise, so no production incident ever runs on it."""
    refuse_drill_clock(policy, drill)
    codec = client.data_converter.payload_codec
    if isinstance(codec, EncryptionCodec) and not codec.keep_unknown:
        client = Client(**{**client.config(), "data_converter": data_converter(codec.keeping_unknown())})
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=build_activities(settings, policy),
        workflow_runner=workflow_runner("workflows"),
        **({"deployment_config": deployment.worker_config()} if deployment else {}),
    )


def refuse_drill_clock(policy: Policy, drill: bool) -> None:
    """PolicyError when `policy` speeds up the clock (plan/drill_clock.py) outside drill mode."""
    if policy.drill_clock and not drill:
        raise PolicyError(
            f"drill_clock: ×{policy.drill_clock.speed_up} is allowed only on a drill stack (a worker "
            "started with IRP_DRILL=1); a production worker never speeds up an incident's clock"
        )


def drill_mode() -> bool:
    """IRP_DRILL=1 (also true/yes/on): this worker serves drills only (docs/drills.md)."""
    return os.environ.get("IRP_DRILL", "").strip().lower() in ("1", "true", "yes", "on")


async def main() -> None:
    configure_logging()
    temporal = TemporalSettings()
    try:
        policy = load_policy()
        refuse_drill_clock(policy, drill_mode())
    except PolicyError as e:
        sys.exit(f"worker not started: {e}")
    deployment = DeploymentSettings()
    if deployment.irp_build_id == "dev" and deployment.irp_deploy_promote != "always":
        sys.exit(
            "worker not started: this code has no build id (no BUILD_ID in the image, no git checkout): "
            "build the image with --build-arg BUILD_ID=<commit>, or set IRP_BUILD_ID. One id per build "
            "keeps new code away from the incidents pinned to the old (docs/operating.md)"
        )
    try:
        client = await connect(temporal, runtime=metrics_runtime())
    except TemporalConfigError as e:
        sys.exit(f"worker not started: {e}")
    try:
        await register_search_attributes(client)
    except RPCError as e:  # an incident upserting an unknown attribute would stick: refuse to start instead
        sys.exit(
            f"search attributes {', '.join(k.name for k in KEYS)} are missing on {temporal.address} "
            f"and could not be registered ({e.message}); create them: {create_command()}"
        )
    try:
        settings = IntegrationSettings()
        queue = temporal.temporal_task_queue
        worker = build_worker(client, queue, policy, settings, deployment, drill_mode())
        for said in await check_outside(settings, policy):  # Jira as the customer configured it
            logging.info("%s", said)
    except ValueError as e:  # a provider refused its settings, the roster's addresses, or the outside
        sys.exit(f"worker not started: {e}")
    logging.info(
        "worker polling %s on %s as build %s of %s",
        temporal.temporal_task_queue,
        temporal.address,
        deployment.irp_build_id,
        deployment.irp_deployment_name,
    )
    running = asyncio.create_task(worker.run())
    try:
        logging.info("%s", await promote(client, deployment))
    except RPCError as e:
        logging.warning("build %s was not made current: %s", deployment.irp_build_id, e.message)
    await running


if __name__ == "__main__":
    asyncio.run(main())
