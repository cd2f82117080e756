"""Several receivers and several workers behave as one (issue 21, item 6), on one real dev server:
two `python -m webhook` processes behind "one URL" (a test sends each request to either) and two
`python worker.py` processes on one task queue. A Slack request is taken once, whichever receiver
it reaches (webhook/slack/guard.py records it in Temporal); an attestation's nonce is taken once,
through any door and across continue-as-new (the incident keeps them); and every page, post,
ticket and email happens once. The fakes count what the outside world saw."""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx
import pytest
import pytest_asyncio
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from connection.search_attributes import register_search_attributes
from devstack.devserver import dynamic_config_args
from incident_client.intake import deliver_alerts
from plan import AlertmanagerDelivery
from plan.attestation import attest, load_private_key, new_key_pair
from sandbox.slack import DEFAULT_TOKEN, TEAM_ID, SlackFake
from sandbox.slack_user import SlackUser, sign
from tests.conftest import binary
from tests.fuzz import budget
from tests.helpers import TOKEN, eventually, finish, status_when
from tests.payloads import alert, delivery
from tests.processes import Receiver, free_port, logs
from webhook.app import create_app
from webhook.slack import SlackAppSettings
from webhook.slack.guard import REPLAY, UNCHECKED, SlackGuard, TakenRequests, request_id
from worker import build_worker
from workflows import IncidentWorkflow

SECRET = "sandbox-signing-secret-for-several"
PRIVATE, PUBLIC = new_key_pair()
IC, PRIMARY, LEAD, COMMS = "U0IC000001", "U0ONCALL01", "U0ENGLEAD1", "U0COMMS001"
EMAILS = {
    IC: "asha.rao@preskool.com",
    PRIMARY: "ben.okafor@preskool.com",
    LEAD: "dana.whitfield@preskool.com",
    COMMS: "elif.demir@preskool.com",
}


@pytest_asyncio.fixture
async def slack(policy):
    """The sandbox Slack, knowing the roster's people (users.info gives their emails)."""
    users = {p.contacts["slack"]: {"name": p.name, "email": p.email} for p in policy.roster.values()}
    async with SlackFake(users=users) as fake:
        yield fake


def attested(incident_id: str, signal: str, data: dict, user: str) -> dict:
    """The input as a receiver sends it for a verified Slack user: `by` and a fresh attestation."""
    proof = attest(
        load_private_key(PRIVATE), incident_id=incident_id, signal=signal, signal_input=data,
        person=EMAILS[user], user=user, at=datetime.now(UTC),
    )  # fmt: skip
    return {**data, "by": EMAILS[user], "attestation": proof.model_dump(mode="json")}


def signed(body: bytes, at: int | None = None) -> dict[str, str]:
    """Headers as Slack signs `body` with SECRET."""
    at = int(time.time()) if at is None else at
    return {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": str(at),
        "x-slack-signature": sign(SECRET, at, body),
    }


def slash_body(text: str) -> bytes:
    """A `/incident` command from our workspace, unique by `text`."""
    fields = {"team_id": TEAM_ID, "user_id": PRIMARY, "command": "/incident", "text": text}
    return urlencode(fields).encode()


def percentiles(seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return f"p50 {statistics.median(ms):.1f} ms, p90 {p90:.1f} ms, max {ms[-1]:.1f} ms over {len(ms)}"


# --- the replay check, shared through Temporal ---------------------------------------------------


async def test_a_request_is_taken_once_whichever_receiver_it_reaches(client, server, policy, integrations):
    """Two guards, each with its own Temporal connection as two receiver processes have: a request
    taken by one is refused by the other as a replay, also when both get it at the same moment,
    and also after its record has closed. No worker is needed for the check: the records wait as
    pending executions until one runs them. Prints what the check adds to a Slack request."""
    other = await Client.connect(server.address, data_converter=pydantic_data_converter)
    tq = f"several-{uuid.uuid4().hex[:8]}"
    first = SlackGuard(SECRET, TEAM_ID, TakenRequests(lambda: _ready(client), tq))
    second = SlackGuard(SECRET, TEAM_ID, TakenRequests(lambda: _ready(other), tq))
    bodies = [slash_body(f"status {uuid.uuid4().hex}") for _ in range(40)]
    requests = [(signed(b), b) for b in bodies]

    taken, replayed = [], []
    for headers, body in requests:
        started = time.perf_counter()
        assert await first.refusal(headers, body) is None
        taken.append(time.perf_counter() - started)
    for headers, body in requests:
        started = time.perf_counter()
        assert await second.refusal(headers, body) == (401, REPLAY)
        replayed.append(time.perf_counter() - started)
    racing = [(signed(b), b) for b in (slash_body(f"race {n}") for n in range(10))]
    answers = await asyncio.gather(*(g.refusal(h, b) for h, b in racing for g in (first, second)))
    print(f"\nthe shared replay check, one start per request: taken {percentiles(taken)}")
    print(f"the shared replay check: a replay refused {percentiles(replayed)}")

    record = client.get_workflow_handle(request_id(requests[0][0]["x-slack-signature"]))
    assert (await record.describe()).status is WorkflowExecutionStatus.RUNNING  # no worker: it waits
    async with build_worker(client, tq, policy, integrations):
        await eventually(lambda: _closed(record), timeout=30)
        assert await second.refusal(*requests[0]) == (401, REPLAY)  # a closed record still refuses
        assert await first.refusal(*requests[1]) == (401, REPLAY)
    for pair in zip(answers[::2], answers[1::2], strict=True):
        assert sorted(pair, key=bool) == [None, (401, REPLAY)], pair  # exactly one of the two took it
    history = await record.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.workflow_type.name == "SlackRequestTaken" and not started.input.payloads
    described = await record.describe()
    assert described.status is WorkflowExecutionStatus.COMPLETED
    assert "not an incident" in (await described.static_summary())


async def _ready(client: Client) -> Client:
    return client


@pytest_asyncio.fixture(scope="module")
async def guards(server, client):
    """Three receivers' guards, each with its own connection to the module's dev server, on a task
    queue no worker polls (the check needs none)."""
    clients = [client, *[await Client.connect(server.address) for _ in range(2)]]
    tq = f"several-{uuid.uuid4().hex[:8]}"
    return [SlackGuard(SECRET, TEAM_ID, TakenRequests(lambda c=c: _ready(c), tq)) for c in clients]


# Batches sent at once; in each, which request (of 4) reaches which receiver (of 3).
DELIVERIES = st.lists(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), min_size=1, max_size=6),
    min_size=1,
    max_size=4,
)


@budget(20)
@given(batches=DELIVERIES)
async def test_any_interleaving_over_receivers_takes_each_request_once(guards, batches):
    """Any number of deliveries of a few signed requests to any of three receivers, some at the
    same moment: each request is taken exactly once, and every other delivery of it is refused as
    a replay."""
    salt = uuid.uuid4().hex  # the dev server keeps its records: each example its own requests
    requests = [(signed(b), b) for b in (slash_body(f"status {salt} {n}") for n in range(4))]
    answers: dict[int, list] = {}
    for batch in batches:
        said = await asyncio.gather(*(guards[g].refusal(*requests[r]) for r, g in batch))
        for (r, _), answer in zip(batch, said, strict=True):
            answers.setdefault(r, []).append(answer)
    for r, seen in answers.items():
        assert seen.count(None) == 1 and seen.count((401, REPLAY)) == len(seen) - 1, (r, seen)


async def _closed(handle) -> bool:
    return (await handle.describe()).status is not WorkflowExecutionStatus.RUNNING


async def test_when_temporal_cannot_say_the_request_is_refused_and_nothing_reads_it(slack):
    """Fail-closed: with Temporal unreachable (nothing listens) or silent (a socket that never
    answers), the receiver cannot tell a request from a replay, so it answers 503 with the reason
    within Slack's 3 seconds, and the Slack app never reads the request (it calls no Slack API)."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # the kernel takes the connection; nobody ever speaks on it
    settings = SlackAppSettings(
        slack_signing_secret=SecretStr(SECRET), slack_bot_token=SecretStr(DEFAULT_TOKEN),
        slack_api_url=slack.url, slack_team_id=TEAM_ID, irp_attestation_key=SecretStr(PRIVATE),
    )  # fmt: skip
    answers = {}
    try:
        for name, address in (
            ("unreachable", f"127.0.0.1:{free_port()}"),
            ("silent", f"127.0.0.1:{silent.getsockname()[1]}"),
        ):

            async def connect(address=address):
                return await Client.connect(address, data_converter=pydantic_data_converter)

            app = create_app(token=SecretStr(TOKEN), task_queue="tq", connect=connect, slack=settings)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://receiver", timeout=30) as http:
                body = slash_body("status")
                answers[name] = await http.post("/slack/events", content=body, headers=signed(body))
    finally:
        silent.close()
    for name, answer in answers.items():
        assert answer.status_code == 503, (name, answer.text)
        assert answer.json()["error"].startswith(f"not taken: {UNCHECKED}: "), answer.text
    assert "Temporal is unreachable" in answers["unreachable"].json()["error"]
    assert "did not answer within 2 s" in answers["silent"].json()["error"]
    assert slack.calls == []  # Bolt never saw them: it would have asked auth.test first


# --- an attestation's nonce, across doors and runs -------------------------------------------------


@pytest_asyncio.fixture(scope="module")
async def short_runs():
    """A dev server that suggests continue-as-new after 150 events (Temporal's default is 4,096),
    so an incident continues as new within minutes of an attestation."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=pydantic_data_converter,
        ui=False,
        dev_server_log_level="error",
        dev_server_extra_args=[
            *dynamic_config_args(),
            *("--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=150"),
        ],
    )
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture
def keyed(integrations):
    return integrations.model_copy(update={"irp_attestation_public_keys": PUBLIC})


async def test_an_attested_decision_is_applied_once_through_any_door_and_across_continue_as_new(
    short_runs, run_worker, keyed, slack
):
    """The same attested §5.2 update sent as a signal, then through the `act` update (the door a
    receiver uses), then again after the incident continued as new: posted once; each repeat
    refused "its nonce was used before", in the timeline and as the update's answer. The nonces
    live in the incident's state, which every receiver's attestations reach and continue-as-new
    carries."""
    client = short_runs.client
    async with run_worker(client, keyed) as tq:
        payload = delivery(alert(module="fees"), group=f"Nonce{uuid.uuid4().hex[:8]}")
        receipt = await deliver_alerts(client, tq, AlertmanagerDelivery.model_validate(payload))
        handle = client.get_workflow_handle(receipt.incident_id)
        await status_when(handle, lambda s: any(e.text.startswith("posted the opening") for e in s.timeline))
        update = {"status": "ONGOING", "current_action": "Rolling back", "what_we_know": "A deploy at 02:10"}
        sent = attested(handle.id, "post_update", update, IC)
        await handle.signal("post_update", sent)
        await status_when(handle, lambda s: s.cadence and s.cadence.updates_posted == 1)
        again = await handle.execute_update(IncidentWorkflow.act, {"signal": "post_update", "input": sent})
        for _ in range(40):  # refused signals, each an event, until the run continues as new
            if (await handle.query(IncidentWorkflow.status)).runs > 1:
                break
            await asyncio.gather(*(handle.signal("no_such_signal", {"n": i}) for i in range(10)))
        continued = await status_when(handle, lambda s: s.runs > 1, timeout=30)
        await handle.signal("post_update", sent)
        status = await status_when(
            handle, lambda s: sum("nonce was used before" in e.text for e in s.timeline) == 2
        )
        await finish(handle)
    assert not again.accepted and "its nonce was used before (a replay)" in again.reason, again
    assert continued.runs > 1 and status.cadence.updates_posted == 1
    updates = [m for m in slack.messages(status.channel) if m["text"].startswith("📝 UPDATE")]
    assert len(updates) == 1, updates


# --- two receivers, two workers, one incident ------------------------------------------------------


@pytest.fixture
def receivers(base_env, tmp_path, processes):
    """`await receivers(2)`: that many `python -m webhook` processes with the Slack app on, each on
    its own port, all on this test's dev server and task queue."""

    async def start(n: int) -> list[Receiver]:
        started = []
        for i in range(1, n + 1):
            env = {
                **base_env,
                "IRP_WEBHOOK_TOKEN": TOKEN,
                "IRP_WEBHOOK_PORT": str(free_port()),
                "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_TEAM_ID": TEAM_ID,
                "IRP_ATTESTATION_KEY": PRIVATE,
            }
            proc = Receiver(tmp_path / f"webhook-{i}.log", env)
            processes.append(proc)
            started.append(proc.start())
        return [await proc.healthy() for proc in started]

    return start


def keyed_messages(slack) -> Counter:
    """How often each keyed message (Slack metadata) is in each channel: bridge, DMs, alerts."""
    return Counter(
        (channel.name, key)
        for channel in slack.channels.values()
        for m in channel.messages
        if (key := ((m.get("metadata") or {}).get("event_payload") or {}).get("key"))
    )


async def test_two_receivers_and_two_workers_make_every_effect_once(
    client, worker, receivers, processes, policy, slack, pagerduty, statuspage, jira, smtp, prometheus
):
    """One Alertmanager group delivered to both receivers at once; then, from Slack, each request
    to one receiver or the other: acknowledge, a §5.2 update (the modal opened through one and
    submitted through the other), the Engineering Lead's approval of a rollback, the resolution,
    and the Communications Lead's confirmation that sends the customer email. Two workers poll the
    task queue throughout. Every page, Slack post, status page incident, Jira ticket and email happened once;
    a signed request replayed to the other receiver is refused as a replay."""
    prometheus.healthy(policy)
    workers = [await worker(IRP_ATTESTATION_PUBLIC_KEYS=PUBLIC, IRP_DRILL="1") for _ in range(2)]
    a, b = await receivers(2)
    payload = delivery(alert(module="fees"), group=f"Several{uuid.uuid4().hex[:8]}")
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as http:
        deliveries = await asyncio.gather(
            *(http.post(f"{r.url}/webhooks/alertmanager", json=payload) for r in (a, b))
        )
    assert [d.status_code for d in deliveries] == [202, 202], [d.text for d in deliveries]
    opened = [d.json()["incidents"][0] for d in deliveries]
    created = sorted(o["created"] for o in opened)
    assert len({o["incident_id"] for o in opened}) == 1 and created == [False, True], opened
    handle = client.get_workflow_handle(opened[0]["incident_id"])
    status = await status_when(
        handle, lambda s: any(e.text.startswith("posted the opening") for e in s.timeline), timeout=30
    )
    channel = status.channel

    def person(user: str, receiver: Receiver) -> SlackUser:
        return SlackUser(slack, receiver.url, SECRET, user)

    # Acknowledge, through A.
    opening = next(m for m in slack.messages(channel) if m["text"].startswith("🚨 INCIDENT OPENED"))
    assert (await person(PRIMARY, a).click(channel, opening["ts"], "irp.ack")).status_code == 200
    await status_when(handle, lambda s: s.acknowledged_by, timeout=30)

    # The worker holding the incident dies (no goodbye): the other takes every step from here.
    await eventually(lambda: _idle(handle), 30)
    holder = await _holder(handle)
    dead = next(w for w in workers if w.identity == holder)
    dead.kill9()

    # A §5.2 update: the modal opened through B, submitted through A.
    assert (await person(IC, b).click(channel, opening["ts"], "irp.update")).status_code == 200
    (modal,) = await eventually(lambda: slack.views_for(IC))
    filled = {
        "status": {"status": "ONGOING"},
        "current_action": {"current_action": "Rolling back the 02:10 deploy"},
        "what_we_know": {"what_we_know": "The fees deploy at 02:10 broke receipts"},
    }
    assert (await person(IC, a).submit(modal, filled)).status_code == 200
    await status_when(handle, lambda s: s.cadence and s.cadence.updates_posted == 1, timeout=30)

    # A rollback the IC asked for (attested, as a receiver sends it), approved by the Lead's click on B.
    asked = {"request_id": "rb-1", "action": "rollback", "target": "fees", "reason": "since the deploy"}
    await handle.signal("request_action", attested(handle.id, "request_action", asked, IC))
    asking = await eventually(
        lambda: next((m for m in slack.messages(channel) if "rb-1" in m["text"] and m.get("blocks")), None)
    )
    approval = await person(LEAD, b).click(channel, asking["ts"], "irp.approve")
    assert approval.status_code == 200, approval.text
    await status_when(handle, lambda s: s.requests and s.requests[0].state in ("done", "failed"), timeout=60)

    # The same signed click, replayed to the other receiver and to its own: refused, nothing done.
    for receiver in (a, b):
        replay = await person(LEAD, receiver).replay(_to(approval, receiver))
        assert replay.status_code == 401 and replay.json()["error"].endswith(REPLAY), replay.text

    # Resolve: the modal opened through A, submitted through B; the gate asks Prometheus.
    assert (await person(IC, a).click(channel, opening["ts"], "irp.resolve")).status_code == 200
    modal = await eventually(
        lambda: next((v for v in slack.views_for(IC) if v["callback_id"] == "irp.resolve"), None)
    )
    resolved = {
        "summary": {"summary": "Rolled back the 02:10 deploy"},
        "root_cause": {"root_cause": "A bad deploy"},
    }
    assert (await person(IC, b).submit(modal, resolved)).status_code == 200
    await status_when(
        handle,
        lambda s: s.resolution and any(e.text.startswith("customer-email-draft") for e in s.timeline),
        timeout=60,
    )

    # The Communications Lead approves the email in her name (a claim), and confirms it on A.
    await handle.signal("approve", {"request_id": "customer-email", "by": EMAILS[COMMS]})
    dm = await eventually(
        lambda: next((c for c in slack.channels.values() if c.is_im and c.name == COMMS), None)
    )
    claim = await eventually(lambda: next((m for m in dm.messages if "sent in your name" in m["text"]), None))
    assert (await person(COMMS, a).click(dm.id, claim["ts"], "irp.confirm")).status_code == 200
    await status_when(
        handle,
        lambda s: any(r.request_id == "customer-email" and r.state == "done" for r in s.requests),
        timeout=60,
    )
    await eventually(lambda: _idle(handle), timeout=60)  # nothing left in flight to count later
    status = await handle.query(IncidentWorkflow.status)
    history = await handle.fetch_history()
    await finish(handle)

    alive = [w for w in workers if w is not dead]
    assert all(w.alive for w in alive) and all(r.alive for r in (a, b)), logs(*processes)
    pages = Counter(t["dedup_key"] for t in pagerduty.triggers())
    assert pages and set(pages.values()) == {1}, pages
    posts = keyed_messages(slack)
    assert posts and set(posts.values()) == {1}, posts.most_common(5)
    assert len([i for i in statuspage.incidents.values() if i["metadata"].get("preskool_irp")]) == 1
    tickets = Counter(
        label for i in jira.issues.values() for label in i["fields"]["labels"] if label.startswith("irp-")
    )
    assert tickets and set(tickets.values()) == {1}, tickets
    emails = Counter((m.headers.get("X-IRP-Key"), tuple(m.rcpt_tos)) for m in smtp.messages)
    customer = [k for k in emails if (k[0] or "").startswith("customer-email")]
    assert customer and set(emails.values()) == {1}, emails
    assert len([e for e in status.timeline if e.kind == "action-running"]) == 1
    assert [e.kind for e in status.timeline].count("acknowledged") == 1
    # Both workers took steps: the first until it died, the other after (activities mostly run on
    # the worker that holds the incident, so the split is forced by the kill, not left to chance).
    ran_by = Counter(
        e.activity_task_started_event_attributes.identity
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    )
    print(f"\nactivities by worker: {dict(ran_by)}; emails: {len(smtp.messages)}; pages: {len(pages)}")
    assert set(ran_by) == {w.identity for w in workers}, ran_by


def _to(response: httpx.Response, receiver: Receiver) -> httpx.Request:
    """The exact signed request of `response`, addressed to `receiver` (the same path)."""
    sent = response.request
    return httpx.Request("POST", f"{receiver.url}/slack/events", content=sent.content, headers=sent.headers)


async def _holder(handle) -> str:
    """The worker that took the incident's last workflow task (its sticky holder)."""
    return [
        e.workflow_task_started_event_attributes.identity
        async for e in handle.fetch_history_events()
        if e.HasField("workflow_task_started_event_attributes")
    ][-1]


async def _idle(handle) -> bool:
    raw = (await handle.describe()).raw_description
    return not raw.pending_activities and not raw.HasField("pending_workflow_task")
