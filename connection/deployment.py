"""Which build this worker is, in Temporal's Worker Deployments (issue 21; docs/operating.md).

Every worker joins the Worker Deployment `IRP_DEPLOYMENT_NAME` (default `preskool-irp`) as the
version `IRP_BUILD_ID` (default: the image's build id, else the checkout's git commit, else
`dev`). An incident is PINNED to the build it started on, so a deploy never changes the code under
an incident in its response phases; in REVIEW it moves to the current build at a continue-as-new
(workflows/incident.py), and so does the heartbeat. New incidents start on the deployment's
current version, which operators set (`temporal worker deployment set-current-version`).

`IRP_DEPLOY_PROMOTE` says when this worker makes its own build current:
  first   (default) only when the deployment has no current version yet: the first build of a new
          deployment just works; later builds wait for an operator;
  always  at every start (the local stack and the demo: the build you run is the one you use);
  never   leave it to the operator."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import WorkerDeploymentConfig

log = logging.getLogger("connection.deployment")
ROOT = Path(__file__).resolve().parent.parent
BUILD_ID_FILE = ROOT / "BUILD_ID"  # written into the image at build time (Dockerfile)


def checkout_build_id() -> str:
    """The image's BUILD_ID file, else the checkout's git commit (12 hex digits), else `dev`."""
    if BUILD_ID_FILE.is_file() and (baked := BUILD_ID_FILE.read_text().strip()):
        return baked
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return "dev"
    return commit.stdout.strip() if commit.returncode == 0 and commit.stdout.strip() else "dev"


class DeploymentSettings(BaseSettings):
    """IRP_DEPLOYMENT_NAME, IRP_BUILD_ID, IRP_DEPLOY_PROMOTE (see the module's docstring)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True)

    irp_deployment_name: str = Field(
        default="preskool-irp",
        min_length=1,
        max_length=200,
        description="The Temporal Worker Deployment this worker joins.",
    )
    irp_build_id: str = Field(
        default_factory=checkout_build_id,
        min_length=1,
        max_length=200,
        description="This worker's build in that deployment: an incident stays on the build it started on.",
    )
    irp_deploy_promote: Literal["first", "always", "never"] = Field(
        "first",
        description=(
            "When this worker makes its build the deployment's current version: first (only when it has "
            "none), always, or never (an operator does)."
        ),
    )

    @property
    def version(self) -> WorkerDeploymentVersion:
        return WorkerDeploymentVersion(deployment_name=self.irp_deployment_name, build_id=self.irp_build_id)

    def worker_config(self) -> WorkerDeploymentConfig:
        """What `Worker(deployment_config=…)` gets: versioning on, and every workflow PINNED to the
        build it started on — an incident (workflows/incident.py) and the heartbeat
        (workflows/heartbeat.py) each move to a newer build only at a continue-as-new, the
        incident only in REVIEW (workflows/upgrade.py). Set here, not on the workflow classes:
        Temporal refuses a workflow that names a behaviour on a worker without versioning, and the
        tests' workers run unversioned."""
        return WorkerDeploymentConfig(
            version=self.version,
            use_worker_versioning=True,
            default_versioning_behavior=VersioningBehavior.PINNED,
        )


async def current_build(client: Client, deployment_name: str) -> str | None:
    """The build id of the deployment's current version; None when it has none (or no deployment
    of that name exists yet)."""
    try:
        described = await client.workflow_service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=deployment_name)
        )
    except RPCError as e:
        if e.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    current = described.worker_deployment_info.routing_config.current_deployment_version
    return current.build_id or None


async def promote(client: Client, settings: DeploymentSettings, timeout: float = 60.0) -> str:
    """Make this worker's build the current version when IRP_DEPLOY_PROMOTE says so. Call it once
    the worker polls (the server refuses a version without pollers); retried until `timeout`
    seconds. Answers what it did, for the start-up log."""
    name, build = settings.irp_deployment_name, settings.irp_build_id
    if settings.irp_deploy_promote == "never":
        return f"build {build} of {name}: not made current (IRP_DEPLOY_PROMOTE=never)"
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        current = await current_build(client, name)
        if current == build:
            return f"build {build} is the current version of {name}"
        if current is not None and settings.irp_deploy_promote == "first":
            return (
                f"build {build} joined {name}; new incidents still start on the current build {current} "
                f"until an operator runs: temporal worker deployment set-current-version "
                f"--deployment-name {name} --build-id {build}"
            )
        try:
            await client.workflow_service.set_worker_deployment_current_version(
                SetWorkerDeploymentCurrentVersionRequest(
                    namespace=client.namespace,
                    deployment_name=name,
                    build_id=build,
                    identity=f"worker {build}",
                )
            )
            how = settings.irp_deploy_promote
            return f"build {build} made the current version of {name} (IRP_DEPLOY_PROMOTE={how})"
        except RPCError as e:  # the server has not seen this version's pollers yet
            if asyncio.get_running_loop().time() > deadline:
                raise
            log.debug("set-current-version %s: %s; trying again", build, e.message)
            await asyncio.sleep(0.5)
