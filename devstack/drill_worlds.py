"""Where a drill runs (devstack/drill_runner.py): its clock, its Temporal client, the receiver its
alerts go to, and the fakes its people and its Prometheus act through.

  SkippingWorld  the time-skipping test server, with a worker, the receiver and the fakes in this
                 process: the clock jumps over the time nobody acts.
  StackWorld     a running drill stack (`make up` with the sandbox and IRP_DRILL_SPEED_UP): the
                 incident's own sped-up clock (plan/drill_clock.py), read from its status; people
                 may join live with `irp` or the incident page while the scenario's steps run."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from plan import Policy
from plan.drill_clock import DrillClock
from plan.incident import IncidentStatus
from sandbox.prometheus import PrometheusFake
from sandbox.slack import SlackFake
from sandbox.slack_user import SlackUser, _find_button

BUTTONS = {"acknowledge": "irp.ack", "approve": "irp.approve", "confirm_claim": "irp.confirm"}
FORM = 30.0  # seconds (real) for the update form to open and be taken
LOOK = 1.0  # seconds (real) between looks at a running stack's incident while its clock runs


class DrillError(RuntimeError):
    """The drill could not go on (a step with nothing to act on, an alert refused, no stack)."""


def failing_value(check) -> float:
    """A value that fails recovery check `check` (a rate far over, a count of zero)."""
    return check.threshold * 20 if check.op in ("<", "<=") else 0.0


class SkippingWorld:
    """The time-skipping test server and the in-process fakes (`fakes` by name)."""

    def __init__(self, env: WorkflowEnvironment, fakes: dict, signing_secret: str):
        self.env, self.fakes, self.secret = env, fakes, signing_secret
        self.client: Client = env.client
        self.receiver = self.token = ""  # set once the receiver listens
        self.offset = timedelta(0)  # the test server's clock minus the wall clock
        self.where = "on the test server's clock"

    def clock(self) -> datetime:
        """The test server's time, for the receiver's attestations."""
        return datetime.now(UTC) + self.offset

    async def now(self) -> datetime:
        server = await self.env.get_current_time()
        self.offset = server - datetime.now(UTC)
        return server

    async def wall(self) -> datetime:
        """Temporal's time (the test server's), which the incident's queries take."""
        return await self.now()

    async def start(self) -> datetime:
        """T+0: the next whole second, as Alertmanager's startsAt is written."""
        now = await self.now()
        zero = now.replace(microsecond=0) + timedelta(seconds=1)
        await self.env.sleep(zero - now)
        return zero

    async def advance_to(self, at: datetime, drill) -> None:
        """Let the clock run (skipping) to `at`; the incident's timers fire on the way."""
        gap = at - await self.now()
        if gap > timedelta(0):
            await self.env.sleep(gap)
        await self.now()

    def saw(self, status: IncidentStatus) -> None:
        """The test server's clock is the incident's: nothing to learn from its status."""

    async def recovery(self, policy: Policy, said: dict) -> None:
        """What the §4.5 checks measure: `{healthy: true}` all pass, `{failing: <check>}` all but
        that one pass, anything else: all fail."""
        prometheus: PrometheusFake = self.fakes["prometheus"]
        (prometheus.healthy if said.get("healthy") or said.get("failing") else prometheus.unhealthy)(policy)
        for check in (c for c in policy.recovery_checks if c.name == said.get("failing")):
            prometheus.set(check.query, failing_value(check))

    async def in_slack(self, user_id: str, do: str, want: dict, bridge: str | None) -> str | None:
        """Click the step's button as `user_id` (for an update, fill in its form); None when Slack
        took it, else what went wrong."""
        slack: SlackFake = self.fakes["slack"]
        me = SlackUser(slack, self.receiver, self.secret, user_id)
        action = BUTTONS.get(do, "irp.update")
        channel, ts = self.button(user_id, action, want, bridge)
        views = len(slack.views_for(user_id))
        clicked = await me.click(channel, ts, action)
        if clicked.status_code != 200:
            return f"Slack answered {clicked.status_code}: {clicked.text}"
        if do != "post_update":
            return None
        await _eventually(lambda: len(slack.views_for(user_id)) > views, "the update form")
        view = slack.views_for(user_id)[-1]
        submitted = await me.submit(view, {block: {block: value} for block, value in want.items()})
        if submitted.status_code != 200 or "errors" in submitted.text:
            return f"the form was refused: {submitted.text}"
        return None

    def button(self, user_id: str, action: str, want: dict, bridge: str | None) -> tuple[str, str]:
        """(channel id, ts) of the newest message with button `action` the person can see (the
        bridge, then their direct messages) whose value matches `want`'s request or claim id."""
        slack: SlackFake = self.fakes["slack"]
        channels = (slack.channel_by_name(bridge) if bridge else None, _dm(slack, user_id))
        for channel in (c for c in channels if c is not None):
            for message in reversed(channel.messages):
                try:
                    _, found = _find_button(message, action)
                except LookupError:
                    continue
                value = json.loads(found.get("value") or "{}")
                if all(value.get(k) == want[k] for k in ("request_id", "claim_id") if k in want):
                    return channel.id, message["ts"]
        raise DrillError(f"no {action} button for {user_id} in Slack (looked in the bridge and their DMs)")


class StackWorld:
    """A running drill stack, found through the file `make up` keeps in its data directory."""

    def __init__(self, client: Client, found: dict, token: str):
        self.client, self.found, self.token = client, found, token
        self.receiver = found["receiver"]
        self.drill_clock: DrillClock | None = None  # the incident's, from its last status
        self.where = "on the incident's drill clock (the stack's IRP_DRILL_SPEED_UP)"

    async def now(self) -> datetime:
        """The incident's time: its drill clock at the wall's time (the stack runs on this machine)."""
        wall = datetime.now(UTC)
        return self.drill_clock.now(wall) if self.drill_clock else wall

    async def wall(self) -> datetime:
        """Temporal's time: the wall's (the stack runs on this machine)."""
        return datetime.now(UTC)

    async def start(self) -> datetime:
        wall = datetime.now(UTC)
        zero = wall.replace(microsecond=0) + timedelta(seconds=1)
        await asyncio.sleep((zero - wall).total_seconds())
        return zero

    async def advance_to(self, at: datetime, drill) -> None:
        """Wait, in real time, until the incident's clock reads `at`, showing what it does meanwhile."""
        while (now := await self.now()) < at:
            wait = self.drill_clock.real_wait(at - now) if self.drill_clock else at - now
            await asyncio.sleep(min(wait.total_seconds(), LOOK))
            await drill.show_timeline()  # reads the status: the clock's speed as it is now

    def saw(self, status: IncidentStatus) -> None:
        self.drill_clock = status.drill_clock or self.drill_clock

    async def recovery(self, policy: Policy, said: dict) -> None:
        """As SkippingWorld.recovery, through the sandbox Prometheus's /_sandbox endpoints."""
        root = self.found["prometheus_url"].rstrip("/")
        healthy = bool(said.get("healthy") or said.get("failing"))
        async with httpx.AsyncClient(timeout=FORM) as http:
            (await http.post(f"{root}/_sandbox/recovery", json={"healthy": healthy})).raise_for_status()
            failing = {
                c.query: failing_value(c) for c in policy.recovery_checks if c.name == said.get("failing")
            }
            if failing:
                (await http.post(f"{root}/_sandbox/answers", json=failing)).raise_for_status()

    async def in_slack(self, user_id: str, do: str, want: dict, bridge: str | None) -> str | None:
        """As SkippingWorld.in_slack, through the sandbox Slack's POST /_sandbox/act."""
        action = BUTTONS.get(do, "irp.update")
        value = {k: want[k] for k in ("request_id", "claim_id") if k in want}
        tried = []
        for channel in (c for c in (bridge, "dm") if c):
            done = await self.act(
                {"as": user_id, "do": "click", "channel": channel, "action_id": action, "value": value}
            )
            if done.get("status") == 200:
                break
            tried.append(done.get("error") or done.get("body"))
        else:
            return f"no {action} button for {user_id}: {'; '.join(map(str, tried))}"
        if do != "post_update":
            return None

        async def taken():  # the form opens at once and is filled when the incident answers
            done = await self.act({"as": user_id, "do": "submit", "values": want})
            return done if done.get("status") == 200 and "errors" not in done.get("body", "") else None

        await _eventually(taken, "the update form taken", FORM)
        return None

    async def act(self, body: dict) -> dict:
        root = self.found["slack_url"].rstrip("/").removesuffix("/api")
        async with httpx.AsyncClient(timeout=FORM) as http:
            answer = await http.post(f"{root}/_sandbox/act", json={**body, "receiver": self.receiver})
        try:
            return answer.json()
        except ValueError:  # not the sandbox's answer: say what came back
            return {"status": answer.status_code, "error": f"{root}/_sandbox/act: {answer.text[:200]}"}


def stack_found(data: Path) -> dict:
    """What `make up` keeps for drills (devstack/stack.py keep_for_drills); DrillError without it."""
    from devstack.stack import DRILL_STACK

    try:
        return json.loads((data / DRILL_STACK).read_text())
    except (OSError, ValueError):
        raise DrillError(
            f"no drill stack found in {data}: start one with `IRP_DRILL_SPEED_UP=10,1000 make up` "
            "(the sandbox's fakes; docs/drills.md)"
        ) from None


def _dm(slack: SlackFake, user_id: str):
    return next((c for c in slack.channels.values() if c.is_im and c.name == user_id), None)


async def _eventually(check, what: str, timeout: float = FORM):
    """The first truthy value of `check()` (sync or async), waiting in real time."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise DrillError(f"{what} did not come within {timeout:.0f} s")
        await asyncio.sleep(0.05)
