"""Small helpers the tests share: wait on a condition, never on the clock."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from contextlib import asynccontextmanager

from temporalio.client import WorkflowHandle

from sandbox.settings import ROUTING_KEY, SLACK_TOKEN, STATUSPAGE_KEY  # noqa: F401 (tests import them here)

TOKEN = "test-webhook-token-5f1c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def unconfigured(activity_name: str) -> Callable:
    """The worker's activity `activity_name`, as build_activities wires it with no outside system
    configured."""
    from activities import IntegrationSettings, build_activities
    from plan import load_policy

    built = build_activities(IntegrationSettings(), load_policy())
    return next(a for a in built if a.__name__ == activity_name)


def page_paths() -> set[str]:
    """A request path for each of the receiver's read-only pages (webhook/pages/: its GET routes
    under /ui/, `{incident_id}` filled in), as a proxy in front must route them."""
    from pydantic import SecretStr

    from webhook.app import create_app

    async def never():
        raise AssertionError("no request is made")

    receiver = create_app(token=SecretStr(TOKEN), task_queue="unused", connect=never)
    routes = [r.path for r in receiver.routes if getattr(r, "path", "").startswith("/ui")]
    return {path.replace("{incident_id}", "inc-2026-03-02-login-outage") for path in routes}


async def eventually(check: Callable, timeout: float = 15.0, interval: float = 0.05):
    """Wait on a condition (sync or async); return its first truthy value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def status_when(handle: WorkflowHandle, predicate: Callable, timeout: float = 15.0):
    """The incident's status once `predicate(status)` holds."""
    from workflows import IncidentWorkflow

    async def check():
        status = await handle.query(IncidentWorkflow.status)
        return status if predicate(status) else None

    return await eventually(check, timeout)


async def finish(handle: WorkflowHandle) -> None:
    """Terminate an incident once no activity is in flight. (The time-skipping server holds time
    still while an activity runs; one cut off by termination would hold it for its timeout.)"""

    async def idle():
        return not (await handle.describe()).raw_description.pending_activities

    await eventually(idle)
    await handle.terminate("test finished")


@asynccontextmanager
async def serving(app):
    """`app` (ASGI: the receiver) on uvicorn on a free local port, over real HTTP: yields its URL."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started or task.done(), timeout=10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def metrics_client(dev_env, monkeypatch):
    """A client of the test's dev server whose runtime serves Prometheus metrics (the worker's
    `irp_*` and the SDK's) at IRP_METRICS_ADDRESS, a free local port; search attributes registered.
    Answers (client, the metrics address)."""
    from temporalio.client import Client

    from connection.observability import metrics_runtime
    from connection.search_attributes import register_search_attributes
    from tests.processes import free_port

    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("IRP_METRICS_ADDRESS", address)
    client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        data_converter=dev_env.client.data_converter,
        runtime=metrics_runtime(),
    )
    await register_search_attributes(client)
    return client, address


@asynccontextmanager
async def slack_receiver_at(client, slack_url: str, task_queue: str, private: str, secret: str):
    """The receiver with its Slack app on (signing secret `secret`, attesting with `private`) for
    the sandbox Slack at `slack_url`, served on a free port: yields its URL."""
    from pydantic import SecretStr

    from sandbox.slack import DEFAULT_TOKEN
    from webhook.app import create_app
    from webhook.slack import SlackAppSettings

    settings = SlackAppSettings(
        slack_signing_secret=SecretStr(secret),
        slack_bot_token=SecretStr(DEFAULT_TOKEN),
        slack_api_url=slack_url,
        slack_team_id="TSANDBOX01",
        irp_attestation_key=SecretStr(private),
    )

    async def connect():
        return client

    app = create_app(token=SecretStr(TOKEN), task_queue=task_queue, connect=connect, slack=settings)
    async with serving(app) as url:
        yield url
