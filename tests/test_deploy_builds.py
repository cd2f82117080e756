"""Shipping new code while incidents are open (issue 21): Worker Deployments on the real dev server.

Two builds of the worker, A and B, run as real `python worker.py` processes of one Worker
Deployment. A opens X (a P1 in CONTAIN) and Z (resolved, its §8 ledger open); B becomes current
with the CLI, exactly as docs/operating.md says; a new incident Y runs on B; X stays on A — served
by A, waiting while A is stopped, going on when A is back, its cadence timer not lost — and Z
moves to B at its next continue-as-new. Then every incident of both builds closes."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from datetime import timedelta

import pytest
from pydantic import ValidationError
from temporalio.api.enums.v1 import VersioningBehavior
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from connection.deployment import DeploymentSettings
from devstack.devserver import temporal_cli
from incident_client.intake import deliver_alerts, deliver_heartbeat
from plan import AlertmanagerDelivery
from plan.heartbeat import pipeline_id
from plan.incident import IncidentStatus
from tests.helpers import eventually, status_when
from tests.payloads import alert, delivery, watchdog
from tests.processes import policy_file

IC, PRIMARY, LEAD = "asha.rao@preskool.com", "ben.okafor@preskool.com", "dana.whitfield@preskool.com"


async def build_of(handle: WorkflowHandle) -> str:
    """The build the incident's current run is pinned to (or, unpinned, ran on last)."""
    info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
    return (info.deployment_version or info.versioning_override.pinned.version).build_id


async def open_incident(client, task_queue: str, **labels) -> WorkflowHandle:
    payload = delivery(alert(**labels), group=f"Deploy{uuid.uuid4().hex[:8]}")
    receipt = await deliver_alerts(client, task_queue, AlertmanagerDelivery.model_validate(payload))
    handle = client.get_workflow_handle(receipt.incident_id)
    await status_when(handle, lambda s: s.channel, timeout=30)
    return handle


def set_current(server, deployment: str, build: str) -> str:
    """`temporal worker deployment set-current-version`, as the runbook has the operator run it:
    again until the new build's workers have registered every task queue of the current one."""
    argv = [temporal_cli(), "worker", "deployment", "set-current-version", "--address", server.address,
            "--deployment-name", deployment, "--build-id", build, "--yes"]  # fmt: skip
    for _ in range(60):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if done.returncode == 0:
            return done.stdout
        assert "missing active task queues" in done.stderr, done.stderr
        time.sleep(0.5)
    raise AssertionError(f"{build} never became current: {done.stderr}")


def pinned_to(server, deployment: str, build: str) -> str:
    """The runbook's `temporal workflow list` of the open incidents pinned to one build."""
    return listed(
        server, f"TemporalWorkerDeploymentVersion='{deployment}:{build}' AND ExecutionStatus='Running'"
    )


def pin(server, workflow_id: str, deployment: str, build: str) -> None:
    """The runbook's `temporal workflow update-options` pinning one incident to a build."""
    argv = [temporal_cli(), "workflow", "update-options", "--address", server.address,
            "--workflow-id", workflow_id, "--versioning-override-behavior", "pinned",
            "--versioning-override-deployment-name", deployment,
            "--versioning-override-build-id", build]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def listed(server, query: str) -> str:
    argv = [temporal_cli(), "workflow", "list", "--address", server.address, "--query", query]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def close_ledger(handle: WorkflowHandle) -> None:
    """Every §8 deliverable done, so the incident ends."""
    status = await status_when(handle, lambda s: s.phase == "REVIEW" and s.deliverables, timeout=60)
    for d in status.deliverables:
        if d.key == "customer_email":
            await handle.signal("waive_deliverable", {"deliverable": d.key, "by": LEAD, "reason": "drill"})
        else:
            await handle.signal(
                "complete_deliverable", {"deliverable": d.key, "by": IC, "link": f"https://x/{d.key}"}
            )


async def test_a_deploy_keeps_open_incidents_on_their_build_and_moves_review_to_the_new_one(
    server, client, worker, policy, tmp_path, slack
):
    deployment = f"irp-{uuid.uuid4().hex[:6]}"
    cadence = {**policy.update_cadence, "P1": timedelta(seconds=20)}
    path, _ = policy_file(
        tmp_path / "policy.yaml", policy, update_cadence=cadence, review_build_check=timedelta(seconds=3)
    )
    env = {"IRP_DEPLOYMENT_NAME": deployment, "IRP_POLICY_FILE": str(path)}
    a = await worker(IRP_BUILD_ID="build-a", **env)  # the deployment's first build: current at once
    tq = a.env["TEMPORAL_TASK_QUEUE"]
    await eventually(lambda: "made the current version" in a.log.read_text(), 30)

    x = await open_incident(client, tq, module="fees")  # P1
    await x.signal("acknowledge", {"by": PRIMARY})
    await x.signal("declare_blast_radius", {"by": IC, "scope": "many"})
    z = await open_incident(client, tq, module="reports")
    await z.signal("resolve", {"by": IC, "summary": "done", "force_reason": "drill"})
    await status_when(x, lambda s: s.phase == "CONTAIN")
    await status_when(z, lambda s: s.phase == "REVIEW" and s.deliverables)
    z_first_run = (await z.describe()).run_id
    quiet = await open_incident(client, tq, module="library")  # resolved, then sent nothing more
    await quiet.signal("resolve", {"by": IC, "summary": "done", "force_reason": "drill"})
    await status_when(quiet, lambda s: s.phase == "REVIEW" and s.deliverables)
    am = "http://alertmanager-a:9093"
    await beat(client, tq, am)
    assert (await build_of(x), await build_of(z)) == ("build-a", "build-a")
    pinned = (await x.describe()).raw_description.workflow_execution_info.versioning_info.behavior
    assert pinned == VersioningBehavior.VERSIONING_BEHAVIOR_PINNED

    b = await worker(IRP_BUILD_ID="build-b", IRP_DEPLOY_PROMOTE="never", **env)
    await asyncio.to_thread(set_current, server, deployment, "build-b")
    y = await open_incident(client, tq, module="library")
    assert await build_of(y) == "build-b"
    # A REVIEW incident nobody touches moves by its own clock (review_build_check), and the
    # heartbeat at its next beat: no old build needed for either.
    await eventually(lambda: _on(client.get_workflow_handle(quiet.id), "build-b"), 60)
    await beat(client, tq, am)
    heartbeat = pipeline_id(watchdog(am)["alerts"][0]["labels"])  # the pipeline's, whichever peer
    await eventually(lambda: _on(client.get_workflow_handle(heartbeat), "build-b"), 60)

    # The runbook's look at what A still serves: X, still responding (docs/operating.md "Deploy a
    # new build"; Z, in REVIEW, leaves A by its own clock within review_build_check).
    async def listed_on_a() -> str | None:  # visibility follows a moment behind
        on_a = await asyncio.to_thread(pinned_to, server, deployment, "build-a")
        return on_a if x.id in on_a else None

    assert y.id not in await eventually(listed_on_a, 30)
    # README's look for incidents begun before Worker Deployments: none here, all are pinned.
    unversioned = await asyncio.to_thread(
        listed, server, "TemporalWorkerDeploymentVersion IS NULL AND ExecutionStatus='Running'"
    )
    assert x.id not in unversioned and y.id not in unversioned

    # X stays on A: a signal to it is applied by A's worker.
    await x.signal(
        "post_update", {"by": IC, "status": "ONGOING", "current_action": "one", "what_we_know": "a"}
    )
    await status_when(x, lambda s: s.cadence.updates_posted == 1)
    assert await build_of(x) == "build-a"

    # A stopped: X waits (B never takes it); Y goes on on B. A back: X takes what waited.
    a.kill9()
    await x.signal(
        "post_update", {"by": IC, "status": "ONGOING", "current_action": "two", "what_we_know": "b"}
    )
    await y.signal("acknowledge", {"by": PRIMARY})
    await status_when(y, lambda s: s.acknowledged_by == PRIMARY)
    await asyncio.sleep(1)
    raw = (await x.describe()).raw_description
    assert raw.HasField("pending_workflow_task"), "X's signal was taken while its build was stopped"
    a = await worker(IRP_BUILD_ID="build-a", IRP_DEPLOY_PROMOTE="never", **env)
    status = await status_when(x, lambda s: s.cadence.updates_posted == 2, timeout=60)
    # The 20 s cadence ran out while A was away or since: its nudge came, not lost.
    status = await status_when(x, lambda s: s.cadence.overdue_updates >= 1, timeout=60)
    assert await build_of(x) == "build-a"

    # Z, in REVIEW, has moved to B at a continue-as-new (its clock looked, or this signal's task).
    await z.signal(
        "complete_deliverable", {"deliverable": "incident_report", "by": IC, "link": "https://x/r"}
    )
    await eventually(lambda: _new_run(client, z.id, z_first_run), 60)
    z = client.get_workflow_handle(z.id)
    await eventually(lambda: _on(z, "build-b"), 30)  # once the new run's first task is done
    status = await status_when(z, lambda s: s.runs == 2)
    assert {d.key: d.state for d in status.deliverables}["incident_report"] == "done"

    # A rollback with Z pinned to B, as docs/operating.md "Roll back" says for a state A cannot
    # read: Z tries to follow A once, the pin keeps it on B, and it does not try again and again.
    await asyncio.to_thread(set_current, server, deployment, "build-a")
    await asyncio.to_thread(pin, server, z.id, deployment, "build-b")
    await z.signal(
        "complete_deliverable", {"deliverable": "postmortem_meeting", "by": IC, "link": "https://x/m"}
    )
    status = await status_when(z, lambda s: s.deliverables[1].state == "done", 60)
    runs = status.runs
    await z.signal("complete_deliverable", {"deliverable": "action_items", "by": IC, "link": "https://x/a"})
    status = await status_when(z, lambda s: s.deliverables[2].state == "done", 60)
    assert status.runs == runs <= 3 and await build_of(client.get_workflow_handle(z.id)) == "build-b"
    await asyncio.to_thread(set_current, server, deployment, "build-b")

    # Everything closes, on both builds.
    await x.signal("resolve", {"by": IC, "summary": "fixed", "force_reason": "drill"})
    await y.signal("resolve", {"by": IC, "summary": "fixed", "force_reason": "drill"})
    for handle in (x, y, z, quiet):
        await close_ledger(client.get_workflow_handle(handle.id))
    for handle in (x, y, z, quiet):
        done = client.get_workflow_handle(handle.id, result_type=IncidentStatus)
        result = await asyncio.wait_for(done.result(), 90)
        assert result.phase == "REVIEW" and all(d.state in ("done", "waived") for d in result.deliverables)
    assert b.alive and a.alive


async def beat(client, task_queue: str, alertmanager: str) -> None:
    """A Watchdog delivery, as the receiver hands it to the heartbeat (incident_client/intake.py)."""
    payload = AlertmanagerDelivery.model_validate({**watchdog(alertmanager)})
    assert await deliver_heartbeat(client, task_queue, payload, payload.alerts, "Watchdog")


async def _on(handle: WorkflowHandle, build: str) -> bool:
    return await build_of(handle) == build


async def _new_run(client, workflow_id: str, first_run: str) -> bool:
    described = await client.get_workflow_handle(workflow_id).describe()
    return described.run_id != first_run and described.status == WorkflowExecutionStatus.RUNNING


def test_a_build_is_named_by_its_commit_and_promotes_only_the_first_by_default(monkeypatch):
    """IRP_BUILD_ID defaults to the checkout's commit (12 hex digits) or the image's BUILD_ID file;
    IRP_DEPLOY_PROMOTE defaults to `first`, and a value that is none of the three stops the worker."""
    for name in ("IRP_BUILD_ID", "IRP_DEPLOY_PROMOTE", "IRP_DEPLOYMENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    settings = DeploymentSettings()
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True).stdout
    assert settings.irp_build_id == (commit.strip() or "dev")
    assert (settings.irp_deployment_name, settings.irp_deploy_promote) == ("preskool-irp", "first")
    monkeypatch.setenv("IRP_DEPLOY_PROMOTE", "allways")
    with pytest.raises(ValidationError, match="always"):
        DeploymentSettings()
