"""What every dev-server benchmark shares: the dev server, the fakes in-process, and the worker,
webhook and bare worker as their own processes (so each is measurable and the load spreads over
the cores as in production)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from connection.search_attributes import register_search_attributes
from devstack import devserver
from sandbox.jira import JiraFake
from sandbox.pagerduty import PagerDutyFake
from sandbox.prometheus import PrometheusFake
from sandbox.settings import sandbox_env
from sandbox.slack import SlackFake
from sandbox.smtp import SmtpSandbox
from sandbox.statuspage import StatuspageFake
from tests.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-webhook-token"


class TimedPagerDuty(PagerDutyFake):
    """The PagerDuty fake, plus the wall-clock arrival time of every trigger (sandbox/ untouched)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.arrivals: list[tuple[float, str]] = []  # (time.time(), dedup_key)
        self._arrived = asyncio.Event()

    async def handle(self, request, params):
        if isinstance(params, dict) and params.get("event_action") == "trigger":
            self.arrivals.append((time.time(), str(params.get("dedup_key"))))
            self._arrived.set()
            self._arrived = asyncio.Event()
        return await super().handle(request, params)

    async def first_trigger(self, incident_id: str, since: int, timeout: float = 30) -> float:
        """When the first trigger for `incident_id` after arrival number `since` came (no busy
        polling: the benchmark shares its event loop and cores with the fakes)."""
        deadline = time.monotonic() + timeout
        while True:
            hit = next((t for t, key in self.arrivals[since:] if incident_id in key), None)
            if hit is not None:
                return hit
            try:
                await asyncio.wait_for(self._arrived.wait(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise RuntimeError(f"no page for {incident_id} within {timeout} s") from None


class Proc:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path):
        self.name, self.log = name, log
        self.out = open(log, "ab")
        self.popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def rss_kib(self) -> int | None:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except FileNotFoundError:
            return None
        return None

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self.out.close()


class Stack:
    """`async with Stack(tmp) as s:` the dev server, the fakes, a client."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.procs: list[Proc] = []

    async def __aenter__(self) -> Stack:
        self.port = free_port()
        self.server = devserver.start(
            port=self.port,
            ui_port=free_port(),
            db=self.tmp / "temporal.db",
            headless=True,
            log=self.tmp / "temporal.log",
        )
        self.address = f"127.0.0.1:{self.port}"
        self.client = await Client.connect(self.address, data_converter=pydantic_data_converter)
        await register_search_attributes(self.client)
        self._stack = AsyncExitStack()
        self.slack = await self._stack.enter_async_context(SlackFake())
        self.pagerduty = await self._stack.enter_async_context(TimedPagerDuty())
        self.statuspage = await self._stack.enter_async_context(StatuspageFake())
        self.prometheus = await self._stack.enter_async_context(PrometheusFake())
        self.jira = await self._stack.enter_async_context(JiraFake())
        self.smtp = await self._stack.enter_async_context(SmtpSandbox(ca=self.pagerduty.ca))
        return self

    async def __aexit__(self, *exc) -> None:
        for p in reversed(self.procs):
            p.stop()
        await self._stack.aclose()
        os.killpg(self.server.pid, signal.SIGTERM)  # the group devserver.start made for it
        try:
            self.server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.server.pid, signal.SIGKILL)

    def env(self, task_queue: str, **extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(
                ("IRP_", "TEMPORAL_", "SLACK_", "PAGERDUTY_", "STATUSPAGE_", "JIRA_", "SMTP_", "PROMETHEUS_")
            )
        }
        env.update(TEMPORAL_ADDRESS=self.address, TEMPORAL_TASK_QUEUE=task_queue, PYTHONUNBUFFERED="1")
        env.update(
            sandbox_env(self.slack, self.pagerduty, self.statuspage, self.prometheus, self.jira, self.smtp)
        )
        env.update(extra)
        return env

    async def _wait_poller(self, task_queue: str, proc: Proc) -> None:
        from temporalio.api.enums.v1 import TaskQueueType
        from temporalio.api.taskqueue.v1 import TaskQueue
        from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited; see {proc.log}")
            r = await self.client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace="default",
                    task_queue=TaskQueue(name=task_queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
                )
            )
            if r.pollers:
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{proc.name} did not poll {task_queue} within 60 s")

    async def worker(self, task_queue: str, **extra: str) -> Proc:
        p = Proc(
            "worker",
            [sys.executable, "worker.py"],
            self.env(task_queue, **extra),
            self.tmp / f"worker-{task_queue}.log",
        )
        self.procs.append(p)
        await self._wait_poller(task_queue, p)
        return p

    async def bare_worker(self, task_queue: str) -> Proc:
        p = Proc(
            "bare-worker",
            [sys.executable, "-m", "benchmarks.bare_worker", self.address, task_queue],
            self.env(task_queue),
            self.tmp / f"bare-{task_queue}.log",
        )
        self.procs.append(p)
        await self._wait_poller(task_queue, p)
        return p

    async def webhook(self, task_queue: str, **extra: str) -> tuple[Proc, str]:
        port = free_port()
        p = Proc(
            "webhook",
            [sys.executable, "-m", "webhook"],
            self.env(task_queue, IRP_WEBHOOK_TOKEN=TOKEN, IRP_WEBHOOK_PORT=str(port), **extra),
            self.tmp / "webhook.log",
        )
        self.procs.append(p)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient() as h:
            while True:
                try:
                    if (await h.get(url + "/healthz")).status_code == 200:
                        return p, url
                except httpx.TransportError:
                    pass
                if p.popen.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"webhook did not come up; see {p.log}")
                await asyncio.sleep(0.1)


def tq(name: str) -> str:
    return f"bench-{name}-{uuid.uuid4().hex[:6]}"


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    k = min(len(v) - 1, max(0, round(p / 100 * (len(v) - 1))))
    return v[k]
