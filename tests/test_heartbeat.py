"""The dead man's switch (docs/integrations.md, "The dead man's switch") on the real time-skipping
server, through the real receiver app, with Slack and PagerDuty faked at the HTTP boundary."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from activities import build_activities
from incident_client.intake import incident_id_for_group
from plan.heartbeat import Beat, HeartbeatInput, Retirement, heartbeat_id, page_key, pipeline_id
from plan.models import HeartbeatPolicy
from sandbox.slack import SlackFake
from tests import payloads
from tests.helpers import AUTH, ROUTING_KEY, SLACK_TOKEN, TOKEN, eventually, finish
from tests.payloads import alert
from webhook.app import create_app
from worker import WORKFLOWS
from workflows import HeartbeatWorkflow

ALERTS = "preskool-alerts"
ROOT = Path(__file__).resolve().parent.parent


@pytest_asyncio.fixture
async def slack():
    """Slack with the policy's alerts channel, as a workspace that follows the plan has it."""
    async with SlackFake(channels=("general", ALERTS)) as fake:
        yield fake


def receiver(env, task_queue: str, heartbeat_alert: str = "Watchdog") -> httpx.AsyncClient:
    async def connect():
        return env.client

    app = create_app(
        token=SecretStr(TOKEN), task_queue=task_queue, connect=connect, heartbeat_alert=heartbeat_alert
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver")


async def post(http: httpx.AsyncClient, payload: dict) -> dict:
    answer = await http.post("/webhooks/alertmanager", json=payload, headers=AUTH)
    assert answer.status_code == 202, answer.text
    return answer.json()


async def no_workflow(env, workflow_id: str) -> bool:
    try:
        await env.client.get_workflow_handle(workflow_id).describe()
    except RPCError as e:
        return e.status is RPCStatusCode.NOT_FOUND
    return False


def watchdog(url: str, status: str = "firing", cluster: str | None = None) -> dict:
    """A Watchdog from the peer at `url`, of the pipeline `cluster` (default: one of its own)."""
    return payloads.watchdog(url, status, prometheus=f"monitoring/{cluster or url}")


def pipeline_of(payload: dict) -> str:
    """The heartbeat a Watchdog delivery beats: its pipeline's (plan/heartbeat.py pipeline_id)."""
    return pipeline_id(payload["alerts"][0]["labels"])


def alerts_posts(slack: SlackFake) -> list[str]:
    return [m.get("text", "") for m in slack.messages(ALERTS)]


async def test_a_watchdog_opens_no_incident_and_ten_silent_minutes_page_the_primary_once(
    time_env, run_worker, policy, slack, pagerduty
):
    url = f"http://alertmanager-{uuid.uuid4().hex[:6]}:9093"
    handle = time_env.client.get_workflow_handle(pipeline_of(watchdog(url)))
    async with run_worker(time_env.client) as tq, receiver(time_env, tq) as http:
        first = await post(http, watchdog(url))
        assert first == {
            "incidents": [],
            "heartbeat": {"heartbeat_id": pipeline_of(watchdog(url)), "beats": 1, "ended_silence": False},
        }
        assert await no_workflow(time_env, incident_id_for_group(watchdog(url)["groupKey"]))

        # Every delivery re-arms the window: 9 + 9 minutes with a beat between is no silence.
        await time_env.sleep(timedelta(minutes=9))
        assert (await post(http, watchdog(url)))["heartbeat"]["beats"] == 2
        await time_env.sleep(timedelta(minutes=9))
        assert pagerduty.triggers() == [] and alerts_posts(slack) == []

        # Ten minutes after the last delivery: the on-call primary is paged, the channel told.
        await time_env.sleep(timedelta(minutes=2))
        key = page_key(pipeline_of(watchdog(url)), 1)
        await eventually(lambda: pagerduty.triggers(key) and alerts_posts(slack))
        # Silence goes on: still one page, one post.
        await time_env.sleep(timedelta(minutes=45))
        status = await handle.query(HeartbeatWorkflow.status)
        assert len(pagerduty.triggers()) == 1 and len(alerts_posts(slack)) == 1
        assert status.state.alarm.paged and status.state.alarm.number == 1
        trigger = pagerduty.triggers()[0]
        assert trigger["dedup_key"] == key and trigger["payload"]["severity"] == "warning"
        assert "Alerting pipeline silent since" in trigger["payload"]["summary"]
        assert "silent since" in alerts_posts(slack)[0] and "<@U0ONCALL01> is paged" in alerts_posts(slack)[0]

        # The next delivery ends the alarm: the page is resolved, and the channel hears so.
        back = await post(http, watchdog(url))
        assert back["heartbeat"]["ended_silence"] is True
        await eventually(lambda: not pagerduty.open_alerts() and len(alerts_posts(slack)) == 2)
        assert "is back" in alerts_posts(slack)[1] and "minutes of silence" in alerts_posts(slack)[1]
        status = await eventually(
            lambda: _status_if(handle, lambda s: s.state.alarm is None and len(s.state.ended) == 1)
        )
        assert status.alert_name == "Watchdog" and status.window == timedelta(minutes=10)
        await finish(handle)
    # The pinned policy and every step's input keep no secret (routing keys stay in the worker).
    history = (await handle.fetch_history()).to_json()
    assert ROUTING_KEY not in history and SLACK_TOKEN not in history
    assert len(pagerduty.triggers()) == 1  # paged once in all


async def _status_if(handle, predicate):
    status = await handle.query(HeartbeatWorkflow.status)
    return status if predicate(status) else None


async def test_a_delivery_mixing_watchdog_with_real_alerts_still_opens_their_incident(
    time_env, run_worker, policy, slack, pagerduty
):
    url = f"http://alertmanager-{uuid.uuid4().hex[:6]}:9093"
    mixed = watchdog(url)
    mixed["alerts"].append(alert(module="fees", severity="critical", summary="Fee collection failing"))
    async with run_worker(time_env.client) as tq, receiver(time_env, tq) as http:
        answer = await post(http, mixed)
        [incident] = answer["incidents"]
        assert incident["created"] and incident["severity"] == "P1"
        assert answer["heartbeat"]["beats"] == 1
        await finish(time_env.client.get_workflow_handle(incident["incident_id"]))
        await finish(time_env.client.get_workflow_handle(pipeline_of(watchdog(url))))


async def test_a_resolved_watchdog_is_no_beat_and_no_incident(time_env, run_worker, policy):
    url = f"http://alertmanager-{uuid.uuid4().hex[:6]}:9093"
    async with run_worker(time_env.client) as tq, receiver(time_env, tq) as http:
        assert await post(http, watchdog(url, "resolved")) == {"incidents": [], "heartbeat": None}
    assert await no_workflow(time_env, pipeline_of(watchdog(url)))


async def beat_with_start(client, task_queue: str, url: str, beats_per_run: int = 2):
    """One beat as intake sends it, to a heartbeat that continues as new every `beats_per_run`."""
    beat_id = heartbeat_id(url)
    start = WithStartWorkflowOperation(
        HeartbeatWorkflow.run,
        HeartbeatInput(heartbeat_id=beat_id, alertmanager=url, beats_per_run=beats_per_run),
        id=beat_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    return await client.execute_update_with_start_workflow(
        HeartbeatWorkflow.beat, Beat(alertmanager=url, alert_name="Watchdog"), start_workflow_operation=start
    )


def uncached_worker(client, task_queue: str, policy, integrations) -> Worker:
    """The worker, with no workflow cache: the next worker's task never waits on this one's sticky queue."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=build_activities(integrations, policy),
        max_cached_workflows=0,
    )


async def test_each_run_pins_the_worker_s_policy_then_in_force(time_env, policy, integrations):
    """A heartbeat runs for months: a changed window reaches it at its next run."""
    url, tq = f"http://alertmanager-{uuid.uuid4().hex[:6]}:9093", f"tq-{uuid.uuid4().hex[:8]}"
    handle = time_env.client.get_workflow_handle(heartbeat_id(url))
    async with uncached_worker(time_env.client, tq, policy, integrations):
        await beat_with_start(time_env.client, tq, url)
        assert (await handle.query(HeartbeatWorkflow.status)).window == timedelta(minutes=10)
    longer = policy.model_copy(update={"heartbeat": HeartbeatPolicy(window=timedelta(minutes=30))})
    async with uncached_worker(time_env.client, tq, longer, integrations):
        await beat_with_start(time_env.client, tq, url)  # the second beat: the next run
        status = await eventually(lambda: _status_if(handle, lambda s: s.state.runs == 2), timeout=30)
        assert status.window == timedelta(minutes=30)
        await finish(handle)


@pytest.mark.parametrize("alarm_open", [False, True])
async def test_continue_as_new_keeps_the_last_beat_and_an_open_alarm(
    time_env, run_worker, policy, slack, pagerduty, alarm_open
):
    url = f"http://alertmanager-{uuid.uuid4().hex[:6]}:9093"
    beat_id = heartbeat_id(url)

    handle = time_env.client.get_workflow_handle(beat_id)
    async with run_worker(time_env.client) as tq:
        await beat_with_start(time_env.client, tq, url)
        if alarm_open:
            await time_env.sleep(timedelta(minutes=11))
            await eventually(lambda: pagerduty.triggers(page_key(beat_id, 1)))
        await beat_with_start(time_env.client, tq, url)  # the run's second beat: it continues as new
        status = await eventually(lambda: _status_if(handle, lambda s: s.state.runs == 2))
        assert status.state.beats == 2 and status.state.last_beat is not None
        # The window still counts from the last beat, in the new run.
        await time_env.sleep(timedelta(minutes=11))
        alarms = 2 if alarm_open else 1
        await eventually(lambda: pagerduty.triggers(page_key(beat_id, alarms)))
        status = await handle.query(HeartbeatWorkflow.status)
        assert status.state.silences == alarms and status.state.runs == 2
        await finish(handle)


async def test_the_receiver_s_name_decides_and_a_mismatch_with_the_policy_is_shown(
    time_env, run_worker, policy, slack, pagerduty
):
    """IRP_HEARTBEAT_ALERT names the heartbeat at the receiver (which reads no policy); the heartbeat
    says when that is not the policy's heartbeat.alert_name."""
    url = f"http://alertmanager-{uuid.uuid4().hex[:6]}:9093"
    switch = watchdog(url)
    switch["alerts"][0]["labels"]["alertname"] = "DeadMansSwitch"
    async with run_worker(time_env.client) as tq, receiver(time_env, tq, "DeadMansSwitch") as http:
        assert (await post(http, switch))["heartbeat"]["beats"] == 1
        handle = time_env.client.get_workflow_handle(pipeline_of(switch))
        status = await eventually(lambda: _status_if(handle, lambda s: s.alert_name is not None))
        assert "IRP_HEARTBEAT_ALERT" in status.warning and "'DeadMansSwitch'" in status.warning
        # To this receiver a Watchdog is an ordinary alert: it goes to its group's incident.
        [incident] = (await post(http, watchdog(url)))["incidents"]
        await finish(time_env.client.get_workflow_handle(incident["incident_id"]))
        await finish(handle)


async def test_a_beat_while_the_alarm_is_still_sounding_ends_it(
    time_env, run_worker, policy, slack, pagerduty
):
    """The page is slow to go out; the pipeline comes back meanwhile. The alarm still ends: the
    page goes once and is resolved, and the channel hears both."""
    url = f"http://alertmanager-{uuid.uuid4().hex[:6]}:9093"
    async with run_worker(time_env.client) as tq, receiver(time_env, tq) as http:
        await post(http, watchdog(url))
        pagerduty.delay_next("/v2/enqueue", 3.0)
        silence = asyncio.create_task(time_env.sleep(timedelta(minutes=11)))
        await eventually(lambda: pagerduty.held_for("/v2/enqueue"))
        assert (await post(http, watchdog(url)))["heartbeat"]["ended_silence"] is True
        await silence
        await eventually(
            lambda: pagerduty.triggers() and not pagerduty.open_alerts() and len(alerts_posts(slack)) == 2
        )
        handle = time_env.client.get_workflow_handle(pipeline_of(watchdog(url)))
        status = await eventually(lambda: _status_if(handle, lambda s: s.state.alarm is None))
        assert len(pagerduty.triggers()) == 1 and [a.number for a in status.state.ended] == [1]
        await finish(handle)


# --- issue 23 case 6's kind: the heartbeat follows its pipeline, whichever peer sends -----------


async def beat_for_minutes(time_env, http, urls: list[str], minutes: int, cluster: str) -> list[dict]:
    """The peers at `urls` take turns sending the pipeline's Watchdog every 4 minutes."""
    answers = []
    for n in range(minutes // 4):
        answers.append((await post(http, watchdog(urls[n % len(urls)], cluster=cluster)))["heartbeat"])
        await time_env.sleep(timedelta(minutes=4))
    return answers


async def test_ha_peers_taking_turns_page_nobody_until_every_peer_stops(
    time_env, run_worker, policy, slack, pagerduty
):
    """The field case: two Alertmanager peers of one HA cluster alternate sending the Watchdog;
    then one stops and the other goes on; then both stop. Only the last pages, once."""
    cluster = f"k8s-{uuid.uuid4().hex[:6]}"
    peers = [f"http://alertmanager-{i}.{cluster}:9093" for i in range(2)]
    beat_id = pipeline_of(watchdog(peers[0], cluster=cluster))
    handle = time_env.client.get_workflow_handle(beat_id)
    async with run_worker(time_env.client) as tq, receiver(time_env, tq) as http:
        turns = await beat_for_minutes(time_env, http, peers, 32, cluster)
        assert pagerduty.triggers() == [] and alerts_posts(slack) == []

        # Peer 0 stops for good; peer 1 goes on: each window has a beat, nobody is paged.
        turns += await beat_for_minutes(time_env, http, [peers[1]], 32, cluster)
        assert pagerduty.triggers() == [] and alerts_posts(slack) == []
        assert {a["heartbeat_id"] for a in turns} == {beat_id} and turns[-1]["beats"] == 16
        status = await handle.query(HeartbeatWorkflow.status)
        assert set(status.state.senders) == set(peers) and status.state.alarm is None

        # Every peer stops: the pipeline is silent, paged once.
        await time_env.sleep(timedelta(minutes=30))
        await eventually(lambda: pagerduty.triggers(page_key(beat_id, 1)) and alerts_posts(slack))
        status = await handle.query(HeartbeatWorkflow.status)
        assert len(pagerduty.triggers()) == 1 and status.state.silences == 1
        assert peers[1] in alerts_posts(slack)[0]  # the peer heard from last is named
        await finish(handle)
    assert await no_workflow(time_env, heartbeat_id(peers[0])) and await no_workflow(
        time_env, heartbeat_id(peers[1])
    )


async def test_a_sender_re_created_under_a_new_name_beats_the_same_heartbeat(
    time_env, run_worker, policy, slack, pagerduty
):
    """Alertmanager redeployed with a new externalURL: the pipeline's heartbeat goes on, no page."""
    cluster = f"k8s-{uuid.uuid4().hex[:6]}"
    old, new = f"http://alertmanager.{cluster}:9093", f"https://alertmanager.{cluster}.example.com"
    beat_id = pipeline_of(watchdog(old, cluster=cluster))
    async with run_worker(time_env.client) as tq, receiver(time_env, tq) as http:
        await beat_for_minutes(time_env, http, [old], 12, cluster)
        renamed = await beat_for_minutes(time_env, http, [new], 40, cluster)
        assert pagerduty.triggers() == [] and alerts_posts(slack) == []
        assert {a["heartbeat_id"] for a in renamed} == {beat_id} and renamed[-1]["beats"] == 13
        await finish(time_env.client.get_workflow_handle(beat_id))


@pytest.mark.parametrize("alarm_open", [False, True])
async def test_a_running_url_keyed_heartbeat_is_retired_by_its_sender_s_first_beat(
    time_env, run_worker, policy, slack, pagerduty, alarm_open
):
    """A heartbeat v2.0 started (keyed by the sender's URL) is still running at the upgrade. Its
    sender's first beat to the pipeline's heartbeat retires it, with one notice (and its open page
    resolved), so it never pages when that peer stops and another beats on."""
    cluster = f"k8s-{uuid.uuid4().hex[:6]}"
    peers = [f"http://alertmanager-{i}.{cluster}:9093" for i in range(2)]
    legacy = time_env.client.get_workflow_handle(heartbeat_id(peers[0]))
    async with run_worker(time_env.client) as tq, receiver(time_env, tq) as http:
        await beat_with_start(time_env.client, tq, peers[0], beats_per_run=500)  # as v2.0's intake
        if alarm_open:
            await time_env.sleep(timedelta(minutes=11))
            await eventually(lambda: pagerduty.triggers(page_key(legacy.id, 1)))
        answer = (await post(http, watchdog(peers[0], cluster=cluster)))["heartbeat"]
        beat_id = pipeline_of(watchdog(peers[0], cluster=cluster))
        assert answer["heartbeat_id"] == beat_id
        await asyncio.wait_for(legacy.result(), 60)  # retired: ended
        status = await legacy.query(HeartbeatWorkflow.status)
        assert status.state.retired.superseded_by == beat_id and status.state.alarm is None
        await eventually(lambda: any("superseded by" in t for t in alerts_posts(slack)))
        assert not pagerduty.open_alerts()
        # Peer 0 stops, peer 1 beats on: nothing more pages.
        await beat_for_minutes(time_env, http, [peers[1]], 32, cluster)
        assert len(pagerduty.triggers()) == int(alarm_open) and not pagerduty.open_alerts()
        await finish(time_env.client.get_workflow_handle(beat_id))


async def test_a_heartbeat_whose_pipeline_is_gone_is_retired_by_a_person_with_one_notice(
    time_env, run_worker, policy, slack, pagerduty
):
    """A cluster decommissioned: its heartbeat pages (as it must: silence is the outage it exists
    for) until a person retires it, saying why; the page is resolved and the channel told once.
    A retirement with no reason is refused; the same pipeline beating again starts afresh."""
    cluster = f"k8s-{uuid.uuid4().hex[:6]}"
    url = f"http://alertmanager.{cluster}:9093"
    beat_id = pipeline_of(watchdog(url, cluster=cluster))
    handle = time_env.client.get_workflow_handle(beat_id)
    async with run_worker(time_env.client) as tq, receiver(time_env, tq) as http:
        await post(http, watchdog(url, cluster=cluster))
        await time_env.sleep(timedelta(hours=3))
        await eventually(lambda: pagerduty.triggers(page_key(beat_id, 1)))
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(HeartbeatWorkflow.retire, Retirement(by="ben", reason=" "))
        await handle.execute_update(
            HeartbeatWorkflow.retire, Retirement(by="ben.okafor@preskool.com", reason="eu-1 decommissioned")
        )
        await asyncio.wait_for(handle.result(), 60)
        await eventually(lambda: not pagerduty.open_alerts() and len(alerts_posts(slack)) == 2)
        assert (
            "eu-1 decommissioned" in alerts_posts(slack)[1] and "page is resolved" in alerts_posts(slack)[1]
        )
        assert len(pagerduty.triggers()) == 1
        again = (await post(http, watchdog(url, cluster=cluster)))["heartbeat"]
        assert again == {"heartbeat_id": beat_id, "beats": 1, "ended_silence": False}
        await finish(handle)


async def test_irp_heartbeat_status_and_retire(cli, dev_env, run_worker, policy, slack, pagerduty):
    """From the command line: a pipeline's heartbeat shows its peers; retiring it needs a reason,
    ends it, and says so in the alerts channel; an unknown heartbeat is named as such."""
    cluster = f"k8s-{uuid.uuid4().hex[:6]}"
    url = f"http://alertmanager.{cluster}:9093"
    async with run_worker(dev_env.client) as tq, receiver(dev_env, tq) as http:
        beat_id = (await post(http, watchdog(url, cluster=cluster)))["heartbeat"]["heartbeat_id"]
        code, out, err = await cli("heartbeat", "status", beat_id)
        assert code == 0, err
        shown = json.loads(out)
        assert shown["pipeline"]["prometheus"] == f"monitoring/{cluster}" and url in shown["state"]["senders"]

        code, _, err = await cli("heartbeat", "retire", beat_id, "--by", "ben.okafor@preskool.com")
        assert code == 2 and "--reason" in err  # argparse: a retirement says why
        code, out, err = await cli(
            "heartbeat",
            "retire",
            beat_id,
            "--by",
            "ben.okafor@preskool.com",
            "--reason",
            "cluster decommissioned",
            "--wait",
            "60",
        )
        assert code == 0 and f"retired: {beat_id}" in out, (out, err)
        await eventually(lambda: any("cluster decommissioned" in t for t in alerts_posts(slack)))
        handle = dev_env.client.get_workflow_handle(beat_id)
        assert (await handle.query(HeartbeatWorkflow.status)).state.retired.by == "ben.okafor@preskool.com"

        code, _, err = await cli("heartbeat", "status", "heartbeat-p-000000000000")
        assert code == 1 and "no heartbeat 'heartbeat-p-000000000000'" in err
