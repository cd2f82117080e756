"""People act from Slack (issue 15), end to end: the real receiver on uvicorn with its Slack app,
the real dev server and worker, and the sandbox Slack, where `SlackUser` clicks, submits and
types exactly what Slack would send, signed as Slack signs it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from pydantic import SecretStr

from incident_client.intake import deliver_alerts
from plan import AlertmanagerDelivery
from plan.attestation import attest, load_private_key, new_key_pair
from sandbox.slack import DEFAULT_TOKEN, SlackFake
from sandbox.slack_user import SlackUser
from tests.conftest import TOKEN
from tests.helpers import eventually, finish, slack_receiver_at, status_when
from tests.payloads import alert, delivery
from webhook.app import create_app
from webhook.slack import SlackAppSettings

SECRET = "sandbox-signing-secret-for-tests"
PRIVATE, PUBLIC = new_key_pair()
IC, PRIMARY, LEAD, SECONDARY = "U0IC000001", "U0ONCALL01", "U0ENGLEAD1", "U0ONCALL02"
STRANGER = "U0STRANGER"


@pytest_asyncio.fixture
async def slack(policy):
    """The sandbox Slack, knowing the roster's people (users.info gives their emails) and one
    stranger, a member of the workspace who is in no roster."""
    users = {p.contacts["slack"]: {"name": p.name, "email": p.email} for p in policy.roster.values()}
    users[STRANGER] = {"name": "Sam Stranger", "email": "sam.stranger@preskool.com"}
    async with SlackFake(users=users) as fake:
        yield fake


@pytest.fixture
def keyed(integrations):
    return integrations.model_copy(update={"irp_attestation_public_keys": PUBLIC})


@pytest.fixture
def slack_receiver(dev_env, slack):
    """`async with slack_receiver(task_queue) as url:` the receiver, its Slack app on, on a port."""

    def serve(task_queue: str):
        return slack_receiver_at(dev_env.client, slack.url, task_queue, PRIVATE, SECRET)

    return serve


def attested(incident_id: str, signal: str, data: dict, email: str, user: str) -> dict:
    """The input as the receiver sends it for a verified Slack user."""
    proof = attest(
        load_private_key(PRIVATE), incident_id=incident_id, signal=signal, signal_input=data,
        person=email, user=user, at=datetime.now(UTC),
    )  # fmt: skip
    return {**data, "by": email, "attestation": proof.model_dump(mode="json")}


def person(slack, url: str, user_id: str) -> SlackUser:
    return SlackUser(slack, url, SECRET, user_id)


async def open_incident(client, tq):
    payload = delivery(alert(module="fees"), group=f"Slack{uuid.uuid4().hex[:8]}")
    receipt = await deliver_alerts(client, tq, AlertmanagerDelivery.model_validate(payload))
    handle = client.get_workflow_handle(receipt.incident_id)
    status = await status_when(
        handle, lambda s: any(e.text.startswith("posted the opening") for e in s.timeline)
    )
    return handle, status


def opening_now(slack, channel: str) -> dict:
    return message_with(slack, channel, "🚨 INCIDENT OPENED")


def message_with(slack, channel: str, start: str) -> dict:
    return next(m for m in slack.messages(channel) if m["text"].startswith(start))


async def test_forged_stale_replayed_and_foreign_requests_get_401_and_change_nothing(
    dev_env, run_worker, keyed, slack, slack_receiver
):
    async with run_worker(dev_env.client, keyed) as tq, slack_receiver(tq) as url:
        handle, status = await open_incident(dev_env.client, tq)
        opening = message_with(slack, status.channel, "🚨 INCIDENT OPENED")
        ben = person(slack, url, PRIMARY)
        for refused in (
            await ben.forge().click(status.channel, opening["ts"], "irp.ack"),
            await ben.stale().click(status.channel, opening["ts"], "irp.ack"),
            await SlackUser(slack, url, SECRET, PRIMARY, team_id="TOTHERTEAM").click(
                status.channel, opening["ts"], "irp.ack"
            ),
        ):
            assert refused.status_code == 401, refused.text
        first = await ben.click(status.channel, opening["ts"], "irp.ack")
        assert first.status_code == 200, first.text
        assert (await ben.replay(first)).status_code == 401
        status = await status_when(handle, lambda s: s.acknowledged_by)
        await eventually(
            lambda: "Acknowledged by <@U0ONCALL01>" in str(message_with(slack, status.channel, "🚨"))
        )
        await finish(handle)
    assert status.acknowledged_by == "ben.okafor@preskool.com"
    assert len([e for e in status.timeline if e.kind == "acknowledged"]) <= 1
    buttons = [
        e["action_id"]
        for b in message_with(slack, status.channel, "🚨")["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    assert "irp.ack" not in buttons and "irp.resolve" in buttons  # the decision in place of its button


async def test_an_approve_click_runs_the_rollback_once_and_a_raw_approval_waits_for_the_lead(
    dev_env, run_worker, keyed, slack, slack_receiver
):
    """A raw signal approving the rollback as the Engineering Lead does not count; a Confirm click by
    anyone else does not count; the Lead's own Approve click counts and runs the executor once (a
    double click changes nothing), and the message shows who approved, in place of the buttons."""
    async with run_worker(dev_env.client, keyed) as tq, slack_receiver(tq) as url:
        handle, status = await open_incident(dev_env.client, tq)
        asked = {
            "request_id": "rb-1",
            "action": "rollback",
            "target": "backend",
            "reason": "since the deploy",
        }
        await handle.signal(
            "request_action", attested(handle.id, "request_action", asked, "asha.rao@preskool.com", IC)
        )
        await handle.signal("approve", {"request_id": "rb-1", "by": "dana.whitfield@preskool.com"})
        await status_when(handle, lambda s: any(e.text.startswith("claim-1 →") for e in s.timeline))
        dm = next(c for c in slack.channels.values() if c.is_im and c.name == LEAD)
        claim = next(m for m in dm.messages if "sent in your name" in m["text"])
        chen = person(slack, url, SECONDARY)
        assert (await chen.click(dm.id, claim["ts"], "irp.confirm")).status_code == 200
        status = await status_when(
            handle, lambda s: any("only dana.whitfield@" in e.text for e in s.timeline)
        )
        assert status.requests[0].state == "pending" and not status.requests[0].approvals
        asking = next(m for m in slack.messages(status.channel) if "rb-1" in m["text"] and m.get("blocks"))
        dana = person(slack, url, LEAD)
        clicks = await asyncio.gather(
            *(dana.click(status.channel, asking["ts"], "irp.approve") for _ in range(2))
        )
        assert [c.status_code for c in clicks] == [200, 200]
        status = await status_when(handle, lambda s: s.requests[0].state in ("done", "failed"), timeout=30)
        shown = await eventually(
            lambda: (
                "Approved by <@U0ENGLEAD1>" in str(message_with(slack, status.channel, asking["text"][:30]))
            )
        )
        await finish(handle)
    assert shown and len([e for e in status.timeline if e.kind == "action-running"]) == 1
    assert [a.user for a in status.requests[0].approvals] == [LEAD]
    assert not any(
        b["type"] == "actions" for b in message_with(slack, status.channel, asking["text"][:30])["blocks"]
    )


async def test_a_modal_answers_what_does_not_fit_and_a_stranger_is_told_only_they_see(
    dev_env, run_worker, keyed, slack, slack_receiver
):
    """Post update opens the §5.2 modal; a missing field is answered in the modal, field by field;
    the full modal posts the update. A Slack user in no roster is told so, only to them, and
    nothing happens."""
    async with run_worker(dev_env.client, keyed) as tq, slack_receiver(tq) as url:
        handle, status = await open_incident(dev_env.client, tq)
        opening = message_with(slack, status.channel, "🚨 INCIDENT OPENED")
        asha = person(slack, url, IC)
        assert (await asha.click(status.channel, opening["ts"], "irp.update")).status_code == 200
        (modal,) = await eventually(lambda: slack.views_for(IC))
        half = await asha.submit(modal, {"current_action": {"current_action": "Rolling back"}})
        assert half.status_code == 200 and half.json()["response_action"] == "errors", half.text
        assert "what_we_know" in half.json()["errors"]
        full = await asha.submit(
            modal,
            {
                "status": {"status": "ONGOING"},
                "current_action": {"current_action": "Rolling back"},
                "what_we_know": {"what_we_know": "A bad deploy at 02:10"},
                "next_update_minutes": {"next_update_minutes": "20"},
            },
        )
        assert full.status_code == 200 and not full.content.strip(b"{}"), full.text
        slack.channel_by_name(status.channel).members.append(STRANGER)  # they joined the channel
        stranger = person(slack, url, STRANGER)
        assert (await stranger.click(status.channel, opening["ts"], "irp.ack")).status_code == 200
        told = await eventually(lambda: slack.ephemeral(STRANGER))
        status = await status_when(handle, lambda s: s.cadence and s.cadence.updates_posted == 1)
        await finish(handle)
    assert "not in the roster" in told[0]["text"] and status.acknowledged_by is None
    assert any(m["text"].startswith("📝 UPDATE") and "A bad deploy at 02:10" in m["text"]
               for m in slack.messages(status.channel))  # fmt: skip


async def test_slash_command_and_pushpin(dev_env, run_worker, keyed, slack, slack_receiver):
    """`/incident status` answers only the caller; 📌 on a bridge message puts it in the timeline
    with its author, and taking the reaction away takes it out again; `/incident help` anywhere."""
    async with run_worker(dev_env.client, keyed) as tq, slack_receiver(tq) as url:
        handle, status = await open_incident(dev_env.client, tq)
        ben = person(slack, url, PRIMARY)
        help_ = await ben.slash("general", "help")
        assert help_.status_code == 200 and "declare" in help_.text, help_.text
        assert (await ben.slash(status.channel, "status")).status_code == 200
        answer = await eventually(lambda: slack.responses)
        asha = person(slack, url, IC)
        assert (
            await asha.slash(status.channel, f"role oncall_secondary <@{SECONDARY}|chen>")
        ).status_code == 200
        await status_when(handle, lambda s: any(e.kind == "role" for e in s.timeline))
        said = slack.post_as(SECONDARY, status.channel, "DB CPU at 100% since 02:05")
        assert (await ben.react(status.channel, said["ts"], "pushpin")).status_code == 200
        pinned = await status_when(handle, lambda s: any(e.kind == "pinned" for e in s.timeline))
        assert (await ben.react(status.channel, said["ts"], "pushpin", removed=True)).status_code == 200
        unpinned = await status_when(handle, lambda s: not any(e.kind == "pinned" for e in s.timeline))
        await finish(handle)
    assert f"*{handle.id}* · P1 · " in answer[0]["body"]["text"]
    (entry,) = [e for e in pinned.timeline if e.kind == "pinned"]
    assert (
        "chen.li@preskool.com: DB CPU at 100% since 02:05" in entry.text
        and entry.by == "ben.okafor@preskool.com"
    )
    assert not [e for e in unpinned.timeline if "DB CPU" in e.text]


def test_the_slack_app_never_starts_half_set_up(dev_env):
    """With SLACK_SIGNING_SECRET set, the receiver refuses to start without the attestation key
    (it would act for people it cannot vouch for) or without the bot token."""
    half = SlackAppSettings(slack_signing_secret=SecretStr(SECRET), slack_bot_token=SecretStr(DEFAULT_TOKEN))
    assert half.problems() == ["SLACK_SIGNING_SECRET is set but IRP_ATTESTATION_KEY is not"]

    async def connect():
        return dev_env.client

    with pytest.raises(ValueError, match="IRP_ATTESTATION_KEY is not"):
        create_app(token=SecretStr(TOKEN), task_queue="tq", connect=connect, slack=half)
    assert SlackAppSettings().problems() == []  # off: nothing to set up


async def test_the_declare_modal_takes_when_the_problem_began(
    dev_env, run_worker, keyed, slack, slack_receiver
):
    """`/incident declare` with the datetime picker (Slack answers Unix seconds, so no time zone is
    guessed): the incident starts then, in UTC, the receipt beside it in the opening."""
    async with run_worker(dev_env.client, keyed) as tq, slack_receiver(tq) as url:
        asha = person(slack, url, IC)
        assert (await asha.slash("general", "declare")).status_code == 200
        (modal,) = await eventually(lambda: slack.views_for(IC))
        picker = {b["block_id"]: b for b in modal["blocks"]}["started_at"]["element"]
        assert picker["type"] == "datetimepicker"
        began = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=40)
        sent = await asha.submit(
            modal,
            {
                "summary": {"summary": "Schools cannot log in"},
                "severity": {"severity": "P1"},
                "started_at": {"started_at": int(began.timestamp())},
            },
        )
        assert sent.status_code == 200 and not sent.content.strip(b"{}"), sent.text
        told = await eventually(lambda: [m for m in direct(slack, IC) if m["text"].startswith("Declared")])
        handle = dev_env.client.get_workflow_handle(told[0]["text"].split()[1])
        status = await status_when(
            handle, lambda s: any(e.text.startswith("posted the opening") for e in s.timeline)
        )
        await finish(handle)
    assert status.started_at == began and status.received_at - began >= timedelta(minutes=40)
    opening = message_with(slack, status.channel, "🚨 INCIDENT OPENED")["text"]
    assert (
        f"Started At: {began:%Y-%m-%d %H:%M} UTC (received {status.received_at:%H:%M} UTC, 40 min later)"
        in opening
    )


def direct(slack, user_id: str) -> list[dict]:
    return next((c.messages for c in slack.channels.values() if c.is_im and c.name == user_id), [])
