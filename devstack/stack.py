"""`make up` / `make down`: the whole local stack in one terminal's foreground, each part its own process.

  python -m devstack.stack up    the Temporal dev server and Web UI (SQLite in .data/, the same file
                                 `make demo` uses), the worker, the webhook receiver and, unless real
                                 credentials are set, the sandbox; Ctrl-C or SIGTERM stops them all
  python -m devstack.stack down  stop the stack running from another terminal (its pid file)

Set by the environment, so a second stack (a test's) can run beside the first:
  TEMPORAL_ADDRESS        localhost:7233: a local address is where the dev server listens; another
                          host is a cluster used as it is (no dev server, no UI started)
  TEMPORAL_TASK_QUEUE     incident-response
  IRP_UI_PORT             8233
  IRP_WEBHOOK_HOST/_PORT  127.0.0.1 / 8000
  IRP_WEBHOOK_TOKEN       unset: one is made once and kept in .data/webhook-token (mode 600)
  IRP_METRICS_ADDRESS     127.0.0.1:9464, the worker's /metrics
  IRP_SANDBOX             unset: the fakes unless a provider's credentials are set; 1 always; 0 never
  IRP_DATA_DIR            .data: the database, the pid file, the logs, the token
  IRP_DRILL_SPEED_UP      unset: the incidents' clock is the wall's; "10,1000": a drill's clock runs ×10
                          while an incident is open, ×1000 once resolved (sandbox only; docs/drills.md)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from connection.temporal import EMBEDDED_ADDRESS, TemporalSettings, connect, exit_now
from devstack import devserver
from devstack.drill import drill_policy, speed_up
from devstack.processes import gone, group_gone, stop_group
from plan.attestation import new_key_pair
from sandbox.settings import sandbox_env_from_startup

ROOT = Path(__file__).resolve().parent.parent
DRILL_STACK = "drill-stack.json"  # in the data directory: where `irp drill --stack` finds the stack
READY_TIMEOUT = 60.0  # seconds for every part to answer; the worker's imports are slow on a busy machine
# A provider counts as real when one of its variables is set (PagerDuty also by a per-person key).
CREDENTIALS = {
    "Slack": "SLACK_BOT_TOKEN",
    "PagerDuty": "PAGERDUTY_ROUTING_KEY",
    "Statuspage": "STATUSPAGE_API_KEY",
    "Prometheus": "PROMETHEUS_URL",
    "Jira": "JIRA_API_TOKEN",
    "SMTP": "SMTP_HOST",
}


class StackError(RuntimeError):
    """A part did not start; the message says which, and where its log is."""


class Config:
    """Where everything runs, read once from the environment."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.data = Path(env.get("IRP_DATA_DIR") or ROOT / ".data").resolve()
        self.logs = self.data / "stack-logs"
        self.pid_file = self.data / "stack.pid"
        self.address = env.get("TEMPORAL_ADDRESS") or EMBEDDED_ADDRESS
        host, _, port = self.address.rpartition(":")
        self.temporal_port = int(port) if host in ("localhost", "127.0.0.1") else None  # None: a cluster
        self.ui_port = int(env.get("IRP_UI_PORT") or 8233)
        self.task_queue = env.get("TEMPORAL_TASK_QUEUE") or "incident-response"
        self.webhook_host = env.get("IRP_WEBHOOK_HOST") or "127.0.0.1"
        self.webhook_port = int(env.get("IRP_WEBHOOK_PORT") or 8000)
        self.metrics_address = env.get("IRP_METRICS_ADDRESS") or "127.0.0.1:9464"
        self.real = [name for name, var in CREDENTIALS.items() if env.get(var)]
        if "PagerDuty" not in self.real and any(
            k.startswith("PAGERDUTY_ROUTING_KEY_") and v for k, v in env.items()
        ):
            self.real.append("PagerDuty")
        setting = (env.get("IRP_SANDBOX") or "").lower()
        self.sandbox = setting in ("1", "true", "yes") or (setting == "" and not self.real)
        self.drill_clock = speed_up(env.get("IRP_DRILL_SPEED_UP"))  # ValueError: said in main

    def ports(self) -> dict[str, int]:
        """The local ports this stack listens on, by what they are for."""
        ports = {"receiver (IRP_WEBHOOK_PORT)": self.webhook_port}
        ports["worker metrics (IRP_METRICS_ADDRESS)"] = int(self.metrics_address.rsplit(":", 1)[1])
        if self.temporal_port:
            ports |= {"Temporal (TEMPORAL_ADDRESS)": self.temporal_port, "Web UI (IRP_UI_PORT)": self.ui_port}
        return ports

    def webhook_token(self) -> tuple[str, str]:
        """The receiver's bearer token and where a person finds it (never the token itself)."""
        if token := self.env.get("IRP_WEBHOOK_TOKEN"):
            return token, "IRP_WEBHOOK_TOKEN"
        path = self.data / "webhook-token"
        if not path.exists():
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(24))
        return path.read_text().strip(), shown(path)


def sandbox_lines(env: dict[str, str], state: Path) -> list[str]:
    """The summary's lines for the sandbox: where each fake listens (GET <url>/_sandbox/calls shows
    what it received) and how to make the §4.5 recovery checks fail and pass again."""
    root = {
        "Slack": env["SLACK_API_URL"].removesuffix("/").removesuffix("/api"),
        "PagerDuty": env["PAGERDUTY_EVENTS_URL"],
        "Statuspage": env["STATUSPAGE_API_URL"],
        "Prometheus": env["PROMETHEUS_URL"],
        "Jira": env["JIRA_URL"],
    }
    prometheus = root["Prometheus"].rstrip("/")
    return [
        "  Sandbox   " + " · ".join(f"{name} {url.rstrip('/')}" for name, url in root.items()),
        f"            what each received: GET <its url>/_sandbox/calls; SMTP's mail: {shown(state)}",
        "  Recovery  the §4.5 checks pass; make them fail: curl -X POST "
        f"{prometheus}/_sandbox/recovery -d '{{\"healthy\": false}}'",
        f"            (one check: POST {prometheus}/_sandbox/answers -d '{{\"<its query>\": <value>}}'; "
        "the queries are `recovery_checks` in the policy)",
    ]


def shown(path: Path) -> str:
    """A path as a person in the repository would type it."""
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


# The local stack's worker is one build, whatever the checkout: the build you run is the one new
# incidents start on, and restarting after an edit keeps serving the incidents already open
# (connection/deployment.py; production builds are named by their commit instead).
LOCAL_BUILD = {"IRP_BUILD_ID": "local", "IRP_DEPLOY_PROMOTE": "always"}


class Stack:
    """The running parts, started in order and stopped in reverse."""

    def __init__(self, config: Config):
        self.config = config
        self.children: dict[str, subprocess.Popen] = {}
        self.stopping = asyncio.Event()
        self.token_from = ""  # where a person finds the receiver's token
        self.sandbox_lines: list[str] = []  # where the fakes listen and how to steer them (sandbox only)
        self.env = {**LOCAL_BUILD, **config.env, "PYTHONUNBUFFERED": "1", "TEMPORAL_ADDRESS": config.address}

    async def run(self) -> int:
        """Start everything, say what runs where, wait for Ctrl-C/SIGTERM or a part's exit, stop all."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stopping.set)
        self.config.logs.mkdir(parents=True, exist_ok=True)
        self.save_pids()
        try:
            outside = await self.start()
            if self.stopping.is_set():
                return 0
            print(self.summary(outside), flush=True)
            return await self.watch()
        except StackError as e:
            print(f"stack: {e}", file=sys.stderr, flush=True)
            return 1
        finally:
            print("stack: stopping…", flush=True)
            self.stop()
            self.config.pid_file.unlink(missing_ok=True)
            print("stack: stopped", flush=True)

    async def start(self) -> str:
        """Every part, each ready before the next; what serves the outside world, in words."""
        c = self.config
        if c.temporal_port:
            log = c.logs / "temporal.log"
            try:
                self.children["temporal"] = await asyncio.to_thread(
                    devserver.start, c.temporal_port, c.ui_port, c.data / "temporal.db", False, log
                )
            except RuntimeError as e:
                raise StackError(f"the Temporal dev server did not start: {e}") from None
            self.save_pids()
        if self.stopping.is_set():
            return ""
        if c.sandbox:  # no real routing key goes anywhere, not even to a fake
            self.env = {k: v for k, v in self.env.items() if not k.startswith("PAGERDUTY_ROUTING_KEY_")}
            self.env.update(await self.start_sandbox())
            self.sandbox_lines = sandbox_lines(self.env, c.data / "stack-sandbox.json")
            policy = drill_policy(c.data / "drill-policy.yaml", clock=c.drill_clock)
            self.env.update(IRP_DRILL="1", IRP_POLICY_FILE=str(policy))
            keep_for_drills(c, self.env)
            outside = (
                "sandbox: fake Slack, PagerDuty, Statuspage, Prometheus, Jira, SMTP;"
                " executors only echo their command (a drill)"
            ) + (
                f"; the incidents' clock runs ×{c.drill_clock[0]} while open, ×{c.drill_clock[1]} once "
                "resolved (`irp drill SCENARIO --stack`)"
                if c.drill_clock
                else ""
            )
        else:
            off = [name for name in CREDENTIALS if name not in c.real]
            outside = f"real: {', '.join(c.real) or 'nothing'}" + (f"; off: {', '.join(off)}" if off else "")
        token, self.token_from = c.webhook_token()
        self.env.update(IRP_METRICS_ADDRESS=c.metrics_address)
        # The drill's attestation key (if any) is the receiver's alone: the worker never sees it.
        keys = {"IRP_ATTESTATION_KEY": key} if (key := self.env.pop("IRP_ATTESTATION_KEY", None)) else {}
        self.spawn("worker", [sys.executable, "worker.py"])
        self.spawn("webhook", [sys.executable, "-m", "webhook"], IRP_WEBHOOK_TOKEN=token, **keys)
        await self.ready(f"{self.children['worker'].pid}@{socket.gethostname()}")
        return outside

    async def start_sandbox(self) -> dict[str, str]:
        """`python -m sandbox`, and the environment that points every provider at its fakes."""
        state = self.config.data / "stack-sandbox.json"
        proc = self.spawn("sandbox", [sys.executable, "-m", "sandbox", "--state-file", str(state)], pipe=True)
        try:
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), READY_TIMEOUT)
        except TimeoutError:
            line = b""
        if not line:
            raise StackError(f"the sandbox did not start; see {shown(self.config.logs / 'sandbox.log')}")
        env = sandbox_env_from_startup(json.loads(line))
        if self.config.drill_clock:  # a drill stack decides as production does: clicks attested
            private, public = new_key_pair()  # for this run only, never written down
            return env | {"IRP_ATTESTATION_KEY": private, "IRP_ATTESTATION_PUBLIC_KEYS": public}
        # New incidents here take decisions from the CLI and the UI directly (the workers get no
        # attestation keys). The receiver's Slack app is on only with the key `make demo` kept:
        # the drill's incident pinned its public key, so its claims are confirmed by a click.
        key = drill_attestation_key(self.config.data)
        if key:
            env["IRP_ATTESTATION_KEY"] = key
        else:
            for name in ("SLACK_SIGNING_SECRET", "SLACK_TEAM_ID"):
                env.pop(name, None)
        return env

    def spawn(self, name: str, argv: list[str], pipe: bool = False, **env: str) -> subprocess.Popen:
        """A child in its own session: the terminal's Ctrl-C reaches only this process, which stops it."""
        log = open(self.config.logs / f"{name}.log", "ab")
        log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        log.flush()
        self.children[name] = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**self.env, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipe else log,
            stderr=log,
            start_new_session=True,
        )
        log.close()  # the child holds its own copy
        self.save_pids()
        return self.children[name]

    async def ready(self, worker_identity: str) -> None:
        """The receiver answers /healthz and our worker (the SDK's `pid@host`) polls the task queue."""
        c = self.config
        try:
            client = await connect(TemporalSettings(temporal_address=c.address))
        except (RuntimeError, ValueError) as e:
            raise StackError(f"cannot reach Temporal at {c.address}: {e}") from None
        request = DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=c.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        deadline = time.monotonic() + READY_TIMEOUT
        async with httpx.AsyncClient(timeout=2) as http:
            for name in ("worker", "webhook"):
                while not self.stopping.is_set():
                    if self.children[name].poll() is not None:
                        raise StackError(f"{self.exited(name)} before it was ready")
                    try:
                        if name == "worker":
                            answer = await client.workflow_service.describe_task_queue(request)
                            if any(p.identity == worker_identity for p in answer.pollers):
                                break
                        elif (await http.get(f"{self.receiver_url}/healthz")).status_code == 200:
                            break
                    except (httpx.TransportError, RuntimeError):
                        pass
                    if time.monotonic() > deadline:
                        raise StackError(f"the {name} was not ready within {READY_TIMEOUT:.0f} s")
                    await asyncio.sleep(0.2)

    @property
    def receiver_url(self) -> str:
        """Where the webhook receiver listens."""
        return f"http://{self.config.webhook_host}:{self.config.webhook_port}"

    def summary(self, outside: str) -> str:
        """The one block a person reads: what runs where."""
        c = self.config
        if c.temporal_port:
            temporal = f"{c.address} (dev server, SQLite {shown(c.data / 'temporal.db')})"
            ui = f"http://localhost:{c.ui_port}"
        else:
            temporal, ui = f"{c.address} (a cluster; no dev server started)", "the cluster's own"
        cli = Path(sys.executable).parent / "irp"
        prefix = "" if c.address == EMBEDDED_ADDRESS else f"TEMPORAL_ADDRESS={c.address} "
        prefix += "" if c.task_queue == "incident-response" else f"TEMPORAL_TASK_QUEUE={c.task_queue} "
        return "\n".join(
            [
                "preskool-irp is up; Ctrl-C here (or `make down` in another terminal) stops it all.",
                f"  Temporal  {temporal}",
                f"  Web UI    {ui}",
                f"  Worker    task queue {c.task_queue}; metrics http://{c.metrics_address}/metrics",
                f"  Receiver  {self.receiver_url} (bearer token: {self.token_from})",
                f"  Outside   {outside}",
                f"  Logs      {shown(c.logs)}/",
                f"  CLI       {prefix}{shown(cli)} list",
                *self.sandbox_lines,
            ]
        )

    async def watch(self) -> int:
        """Until asked to stop (0), or until a part exits by itself (1, with its log's name)."""
        while not self.stopping.is_set():
            for name, child in self.children.items():
                if child.poll() is not None:
                    print(f"stack: {self.exited(name)}", file=sys.stderr, flush=True)
                    return 1
            try:
                await asyncio.wait_for(self.stopping.wait(), 0.5)
            except TimeoutError:
                pass
        return 0

    def exited(self, name: str) -> str:
        """What a person reads when a part has exited: its exit code and its log."""
        code, log = self.children[name].returncode, shown(self.config.logs / f"{name}.log")
        return f"the {name} exited ({code}); see {log}"

    def stop(self) -> None:
        """The receiver and the worker first, then the sandbox, the server last."""
        for name in reversed(list(self.children)):
            stop_group(self.children[name])

    def save_pids(self) -> None:
        """The pid file `down` reads: this process, and each part's pid and command line."""
        children = {name: {"pid": p.pid, "args": p.args} for name, p in self.children.items()}
        self.config.pid_file.write_text(json.dumps({"pid": os.getpid(), "children": children}))


def drill_attestation_key(data: Path) -> str | None:
    """The private key `make demo` kept in DATA/drill-attestation-key (mode 600), if any."""
    path = data / "drill-attestation-key"
    return path.read_text().strip() or None if path.exists() else None


def up() -> int:
    """`make up`: refuse what would clash, else run the stack until stopped."""
    try:
        config = Config(dict(os.environ))
    except ValueError as e:  # IRP_DRILL_SPEED_UP that does not fit
        print(f"stack: {e}", file=sys.stderr)
        return 2
    if config.drill_clock and not config.sandbox:
        print(
            "stack: IRP_DRILL_SPEED_UP speeds up a drill's clock, and only a stack on the sandbox is a "
            "drill: unset it, or the providers' credentials (IRP_SANDBOX=1)",
            file=sys.stderr,
        )
        return 2
    config.data.mkdir(parents=True, exist_ok=True)
    if running := running_stack(config):
        print(f"a stack already runs from {shown(config.data)} (pid {running}): `make down` stops it")
        return 1
    ports = config.ports().items()
    busy = [f"{what} :{port}" for what, port in ports if devserver.port_open("127.0.0.1", port)]
    if busy:
        print(
            f"in use already: {', '.join(busy)}. Is `make demo` or another server running? Stop it "
            "(`make down` stops a stack, even one killed), or choose other ports with the variables named."
        )
        return 1
    return asyncio.run(Stack(config).run())


def keep_for_drills(config: Config, env: dict[str, str]) -> None:
    """Where `irp drill --stack` finds this stack (devstack/drill_worlds.py): the receiver, the task
    queue, the policy and the fakes it steers. Addresses only: no token or key (mode 600 anyway)."""
    found = {
        "receiver": f"http://{config.webhook_host}:{config.webhook_port}",
        "temporal_address": config.address,
        "task_queue": config.task_queue,
        "policy": env["IRP_POLICY_FILE"],
        "slack_url": env["SLACK_API_URL"],
        "prometheus_url": env["PROMETHEUS_URL"],
    }
    path = config.data / DRILL_STACK
    path.touch(mode=0o600)
    path.write_text(json.dumps(found, indent=2) + "\n")


def running_stack(config: Config) -> int | None:
    """The pid of the stack whose pid file is in the data directory, if it still runs."""
    try:
        pid = json.loads(config.pid_file.read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None
    return None if gone(pid, "devstack.stack") else pid


def down() -> int:
    """`make down`: ask the stack to stop and wait for it; then stop whatever of it is left."""
    config = Config(dict(os.environ))
    try:
        state = json.loads(config.pid_file.read_text())
    except (OSError, ValueError):
        print(f"no stack runs from {shown(config.data)} (no stack.pid there)")
        return 0
    pid = state["pid"]
    if not gone(pid, "devstack.stack"):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while not gone(pid, "devstack.stack") and time.monotonic() < deadline:
            time.sleep(0.1)
    left = [name for name, c in state["children"].items() if not group_gone(c["pid"], c["args"])]
    for name in left:  # a stack killed with SIGKILL leaves its parts running
        child = state["children"][name]
        stop_group(child["pid"], child["args"])
    config.pid_file.unlink(missing_ok=True)
    print("stack stopped" + (f"; its {', '.join(left)} had been left running, stopped now" if left else ""))
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.stack", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["up", "down"])
    exit_now(up() if parser.parse_args().command == "up" else down())  # no SDK teardown at exit


if __name__ == "__main__":
    main()
