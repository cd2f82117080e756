"""Real processes for the crash tests: the Temporal dev server, the worker and the webhook receiver,
each started as its own subprocess, killed with SIGKILL (no goodbye to anyone) and started again.

Every process writes its stdout and stderr to one log file (each start marked in it), so a failing
test can show what the process said: `proc.tail()`. Nothing here sleeps on the clock: starts wait
on a condition (a port, a poller, /healthz) with a deadline, and fail with the log's tail."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import yaml
from pydantic import SecretStr
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from devstack import devserver
from plan import Policy, load_policy
from tests.helpers import eventually

ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 4  # a task queue's partitions: the server's matching.numTaskqueueReadPartitions default


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    text = path.read_text(errors="replace").splitlines()
    return f"--- last {min(lines, len(text))} lines of {path} ---\n" + "\n".join(text[-lines:])


async def wait_for(
    check: Callable[[], Awaitable | object],
    what: str,
    proc: Process | None = None,
    timeout: float = 30.0,
    interval: float = 0.05,
):
    """`tests.helpers.eventually`, failing at once with the process's log if it exits first, and
    with its log if the deadline passes."""

    async def checked():
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if not value and proc is not None and not proc.alive:
            raise AssertionError(f"{proc.name} exited ({proc.returncode}) before {what}\n{proc.tail()}")
        return value

    try:
        return await eventually(checked, timeout, interval)
    except AssertionError as e:
        if not str(e).startswith("condition not met"):
            raise
        raise AssertionError(
            f"{what}: not within {timeout:.0f} s" + (f"\n{proc.tail()}" if proc else "")
        ) from None


class Process:
    """One program, started and killed by pid (its own session, so a terminal's ^C never reaches
    it and nothing else is touched)."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None):
        self.name, self.argv, self.log, self.env = name, argv, log, env
        self.popen: subprocess.Popen | None = None
        self.starts = 0

    # lifecycle ---------------------------------------------------------------------------------

    def start(self) -> Process:
        assert not self.alive, f"{self.name} is already running"
        self.starts += 1
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            out.write(f"=== {self.name} start #{self.starts}: {' '.join(self.argv)}\n".encode())
            out.flush()
            self.popen = self._spawn(out)
        return self

    def _spawn(self, out) -> subprocess.Popen:
        return subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def kill9(self) -> None:
        """SIGKILL, and reap it: no handler runs, no socket is closed politely."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait()
        self._note(f"=== {self.name} killed with SIGKILL (exit {self.popen.returncode})\n")

    def stop(self) -> None:
        """For clean-up, whatever state the test left it in."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                self.kill9()

    def restart(self) -> Process:
        self.kill9()
        return self.start()

    # state -------------------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll() if self.popen else None

    def tail(self, lines: int = 60) -> str:
        return tail(self.log, lines)

    def _note(self, text: str) -> None:
        with open(self.log, "ab") as out:
            out.write(text.encode())


class DevServer(Process):
    """`temporal server start-dev` on a SQLite file, through devstack.devserver.start (which also
    registers the incident's search attributes). Restarting reopens the same file."""

    def __init__(self, db: Path, log: Path, port: int | None = None, config: dict | None = None):
        """`config`: dynamic config beside devstack/devserver.py's own (a test's lower limits)."""
        self.port = port or free_port()
        self.db, self.config = db, config
        super().__init__("temporal", ["temporal", "server", "start-dev", "--db-filename", str(db)], log)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> DevServer:
        """Start it; on its first start, a port another process took between `free_port` and the
        server's bind (other suites may run on the machine) is traded for a new one, twice at most."""
        assert not self.alive, "the dev server is already running"
        for attempt in range(3):
            self.starts += 1
            self._note(f"=== temporal start #{self.starts} on {self.address}, db {self.db}\n")
            try:  # --headless: no UI port to collide with; start() waits for the gRPC port
                self.popen = devserver.start(
                    port=self.port, ui_port=free_port(), db=self.db, headless=True, log=self.log,
                    config=self.config,
                )  # fmt: skip
                return self
            except RuntimeError as e:
                if self.starts > attempt + 1 or attempt == 2 or "address already in use" not in self.tail(5):
                    raise AssertionError(f"the dev server did not start: {e}\n{self.tail()}") from None
                self.port = free_port()
        return self

    async def astart(self) -> DevServer:
        """start() polls the port with time.sleep: keep the event loop (and the fakes) running."""
        return await asyncio.to_thread(self.start)


class Worker(Process):
    """`python worker.py` on one task queue, configured by the environment only."""

    def __init__(self, log: Path, env: dict[str, str], name: str = "worker"):
        super().__init__(name, [sys.executable, "worker.py"], log, env)

    @property
    def identity(self) -> str:
        """The SDK's default identity (`<pid>@<host>`): how its pollers show on the task queue."""
        return f"{self.pid}@{socket.gethostname()}"

    async def polling(self, client: Client, timeout: float = 30.0) -> Worker:
        """Wait until this process polls both its workflow and its activity task queue. A task
        queue has PARTITIONS partitions, and a poll waiting on another partition reaches the root
        only while no other poll is forwarded from there: with two workers, one may show on a
        partition only (for a minute-long poll), so every partition is asked."""
        queue = self.env["TEMPORAL_TASK_QUEUE"]
        names = [queue, *(f"/_sys/{queue}/{n}" for n in range(1, PARTITIONS))]

        async def polls(kind) -> bool:
            for name in names:
                answer = await client.workflow_service.describe_task_queue(
                    DescribeTaskQueueRequest(
                        namespace=client.namespace, task_queue=TaskQueue(name=name), task_queue_type=kind
                    )
                )
                if any(p.identity == self.identity for p in answer.pollers):
                    return True
            return False

        async def both() -> bool:
            try:
                for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
                    if not await polls(kind):
                        return False
            except Exception:  # the server may be coming back up
                return False
            return True

        await wait_for(both, f"worker {self.identity} polling {queue}", self, timeout)
        return self


class Receiver(Process):
    """`python -m webhook` (uvicorn) on its own port."""

    def __init__(self, log: Path, env: dict[str, str]):
        self.port = int(env["IRP_WEBHOOK_PORT"])
        super().__init__("webhook", [sys.executable, "-m", "webhook"], log, env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def healthy(self, timeout: float = 30.0) -> Receiver:
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as http:

            async def up() -> bool:
                try:
                    return (await http.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_for(up, f"the receiver answering on {self.url}", self, timeout)
        return self


def settings_env(integrations) -> dict[str, str]:
    """IntegrationSettings as the environment variables it is read from."""
    env = {}
    for name, value in integrations.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, list | dict):  # as people write them: a comma list, a JSON object
            if value:
                shown = ",".join(map(str, value)) if isinstance(value, list) else json.dumps(value)
                env[name.upper()] = shown
            continue
        env[name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def logs(*procs) -> str:
    return "\n".join(p.tail() for p in procs)


def policy_file(path: Path, policy: Policy, **changes) -> tuple[Path, Policy]:
    """`policy` with `changes`, written as YAML for IRP_POLICY_FILE, and read back as the worker will."""
    path.write_text(
        yaml.safe_dump(policy.model_copy(update=changes).model_dump(mode="json"), sort_keys=False)
    )
    return path, load_policy(path)
