"""Slack as it really behaves (issue 23, cases 1 and 2), through signed requests to the real
receiver, a real worker on the dev server and the sandbox Slack.

1. Every shape people produce is handled or answered: 📌 on a reply in a thread (conversations.
   history never returns replies), on an edited message, on another app's message, on a message
   deleted since, on a file; every other request Slack sends is answered 200, and a person who
   acted hears what happened instead of silence.
2. Slack's 3-second rules hold whatever the incident's latency: `/incident update` opens its form
   at once and fills it when the incident answers (views.update), or says plainly to try again;
   a form Slack would not open (an expired trigger_id) is told to the person."""

from __future__ import annotations

import json
import time
from contextlib import asynccontextmanager

from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.web.async_client import AsyncWebClient

from plan.signals import PinMessage
from sandbox.slack import DEFAULT_TOKEN, SlackFake
from tests import test_slack_app as app_tests
from tests.fuzz import budget
from tests.helpers import eventually, finish, status_when
from tests.test_slack_app import IC, PRIMARY, SECONDARY, message_with, open_incident, person
from webhook.slack import app as slack_app
from webhook.slack import reactions
from webhook.slack.people import SlackPeople
from worker import build_worker

# The Slack app's fixtures: the sandbox knowing the roster, the worker's keys, the receiver on a port.
slack, keyed, slack_receiver = app_tests.slack, app_tests.keyed, app_tests.slack_receiver
GRAFANA = {"bot_id": "B0GRAFANA1", "name": "Grafana"}


def pinned(status) -> list:
    return [e for e in status.timeline if e.kind == "pinned"]


def told(slack, user: str, containing: str) -> list[dict]:
    """What `user` saw only for themselves (ephemeral, a direct message or a response_url) that
    contains `containing`."""
    seen = [m["text"] for m in slack.ephemeral(user)]
    seen += [m["text"] for c in slack.channels.values() if c.is_im and c.name == user for m in c.messages]
    seen += [r["body"].get("text", "") for r in slack.responses if isinstance(r["body"], dict)]
    return [t for t in seen if containing in t]


# --- case 1: 📌 on every kind of message -------------------------------------------------------------


async def test_pushpin_on_a_reply_in_the_openings_thread_pins_it(
    dev_env, run_worker, keyed, slack, slack_receiver
):
    """The field case: the triage checklist is posted in the opening's thread; 📌 on it (and on a
    person's reply there) puts it in the timeline, though conversations.history never returns
    replies; taking the 📌 away takes it out."""
    async with run_worker(dev_env.client, keyed) as tq, slack_receiver(tq) as url:
        handle, status = await open_incident(dev_env.client, tq)
        checklist = await eventually(
            lambda: next(
                (m for m in slack.messages(status.channel) if m["text"].startswith("🧭 TRIAGE")), None
            ),
            timeout=30,
        )
        opening = message_with(slack, status.channel, "🚨 INCIDENT OPENED")
        said = slack.reply_as(SECONDARY, status.channel, opening["ts"], "fees cron failing since 02:04")
        ben = person(slack, url, PRIMARY)
        for reply in (checklist, said):
            assert (await ben.react(status.channel, reply["ts"], "pushpin")).status_code == 200
        both = await status_when(handle, lambda s: len(pinned(s)) == 2, timeout=30)
        assert (await ben.react(status.channel, said["ts"], "pushpin", removed=True)).status_code == 200
        one = await status_when(handle, lambda s: len(pinned(s)) == 1, timeout=30)
        await finish(handle)
    assert checklist["thread_ts"] == opening["ts"] != checklist["ts"]  # a reply, not in history
    texts = [e.text for e in pinned(both)]
    assert any("🧭 TRIAGE CHECKLIST (§4.2)" in t for t in texts)
    assert any("chen.li@preskool.com: fees cron failing since 02:04" in t for t in texts)
    assert "TRIAGE" in pinned(one)[0].text and all(e.by == "ben.okafor@preskool.com" for e in pinned(both))
    assert slack.calls_to("conversations.replies")


async def test_every_message_shape_is_pinned_or_the_person_is_told(
    dev_env, run_worker, keyed, slack, slack_receiver
):
    """An edited message pins as it reads now; another app's message (its words only in an
    attachment) pins with the app as author; a message deleted since, a deleted thread parent
    (a tombstone) and a file each tell the person why nothing was pinned; a pinned message
    deleted since is unpinned when the 📌 is taken away; another emoji on a reply does nothing
    and says nothing."""
    async with run_worker(dev_env.client, keyed) as tq, slack_receiver(tq) as url:
        handle, status = await open_incident(dev_env.client, tq)
        channel, ben = status.channel, person(slack, url, PRIMARY)
        channel_id = slack.channel_by_name(channel).id
        edited = slack.post_as(SECONDARY, channel, "DB CPU at 90%")
        slack.edit_as(SECONDARY, channel, edited["ts"], "DB CPU at 100% since 02:05")
        app_said = slack.post_as_app(
            channel, **GRAFANA, attachments=[{"fallback": "[FIRING:1] fees p99 > 2 s", "color": "danger"}]
        )
        for message in (edited, app_said):
            assert (await ben.react(channel, message["ts"], "pushpin")).status_code == 200
        two = await status_when(handle, lambda s: len(pinned(s)) == 2, timeout=30)

        gone = slack.post_as(SECONDARY, channel, "wrong channel, sorry")
        slack.delete_as(channel, gone["ts"])
        item = {"type": "message", "channel": channel_id, "ts": gone["ts"]}
        assert (await ben.react_to(item, "pushpin")).status_code == 200
        await eventually(lambda: told(slack, PRIMARY, "found no such message"), timeout=30)

        parent = slack.post_as(SECONDARY, channel, "a thread")
        slack.reply_as(IC, channel, parent["ts"], "in it")
        slack.delete_as(channel, parent["ts"])
        assert (await ben.react(channel, parent["ts"], "pushpin")).status_code == 200
        await eventually(lambda: told(slack, PRIMARY, "on a deleted message"), timeout=30)

        assert (await ben.react_to({"type": "file", "file": "F0SBX00001"}, "pushpin")).status_code == 200
        await eventually(lambda: told(slack, PRIMARY, "this was a file"), timeout=30)

        reply = slack.reply_as(SECONDARY, channel, parent["ts"], "👀")
        assert (await ben.react(channel, reply["ts"], "eyes")).status_code == 200

        slack.delete_as(channel, edited["ts"])
        item = {"type": "message", "channel": channel_id, "ts": edited["ts"]}
        assert (await ben.react_to(item, "pushpin", removed=True)).status_code == 200
        status = await status_when(handle, lambda s: len(pinned(s)) == 1, timeout=30)
        await finish(handle)
    assert any("chen.li@preskool.com: DB CPU at 100% since 02:05 (edited)" in e.text for e in pinned(two))
    (left,) = pinned(status)
    assert "Grafana (app): [FIRING:1] fees p99 > 2 s" in left.text
    assert len([t for t in told(slack, PRIMARY, "") if t.startswith("📌")]) == 3  # nothing for 👀


async def test_every_other_request_slack_sends_is_answered_and_a_person_who_acted_hears_why(
    dev_env, run_worker, keyed, slack, slack_receiver
):
    """Bolt answers a request no listener takes 404, which Slack shows as a failure (and retries
    for events): a message event, a mention, a button this app does not serve, a shortcut, a
    closed form, a select's options and another command are each answered 200; the person who
    clicked, used the shortcut or typed the command is told what this app does."""
    async with run_worker(dev_env.client, keyed) as tq, slack_receiver(tq) as url:
        general = slack.channel_by_name("general").id
        ben = person(slack, url, PRIMARY)
        answers = [
            await ben.event(
                {"type": "message", "channel": general, "user": PRIMARY, "text": "hi", "ts": "1.1"}
            ),
            await ben.event({"type": "app_mention", "channel": general, "user": PRIMARY, "text": "<@U> hi"}),
            await ben.send_interaction(
                {
                    "type": "block_actions",
                    "container": {"type": "message", "channel_id": general, "message_ts": "1.1"},
                    "channel": {"id": general, "name": "general"},
                    "actions": [{"action_id": "old.button", "block_id": "b", "type": "button", "value": "x"}],
                }
            ),
            await ben.send_interaction({"type": "shortcut", "callback_id": "irp.something"}),
            await ben.send_interaction(
                {"type": "view_closed", "view": {"type": "modal", "callback_id": "irp.notice", "id": "V1"}}
            ),
            await ben.send_interaction(
                {"type": "block_suggestion", "action_id": "pick", "block_id": "b", "value": "fe"}
            ),
            await ben.send_interaction(
                {"type": "view_submission", "view": {"type": "modal", "callback_id": "v0.form", "id": "V2"}}
            ),
            await ben.slash("general", "anything", command="/other"),
        ]
        clicked = await eventually(lambda: told(slack, PRIMARY, "This app does not serve that"), 30)
        shortcut = await eventually(lambda: len(told(slack, PRIMARY, "does not serve")) >= 2, 30)
        form = await eventually(lambda: told(slack, PRIMARY, "That form is no longer served"), 30)
    assert [a.status_code for a in answers] == [200] * len(answers), [a.text for a in answers]
    assert clicked and shortcut and form and "answers `/incident` only" in answers[-1].text
    assert json.loads(answers[-3].text) == {"options": []}


# --- case 2: the 3-second rules, whatever the incident's latency ---------------------------------


@asynccontextmanager
async def worker_on(client, task_queue: str, policy, settings):
    """A worker on an existing task queue (as after a restart)."""
    async with build_worker(client, task_queue, policy, settings):
        yield


def triggers_expired(slack: SlackFake) -> bool:
    """Every trigger_id the sandbox gave out is past Slack's 3 seconds."""
    return all(time.monotonic() - t.issued > slack.trigger_ttl for t in slack.triggers.values())


def views_open_failed(slack: SlackFake) -> list:
    return [c.response for c in slack.calls_to("views.open") if not c.response.get("ok")]


async def test_incident_update_while_the_incident_is_slow_opens_at_once_and_fills_when_it_answers(
    dev_env, policy, keyed, slack, slack_receiver, monkeypatch
):
    """The field case: the incident's worker is down (as when it restarts on a long history), so
    its status does not answer for longer than Slack's 3 seconds. The form opens at once
    ("asking the incident…"); the worker comes back after the trigger_id has expired; the form is
    filled (views.update) and posts the §5.2 update."""
    monkeypatch.setattr(slack_app, "ASK", 120.0)  # the receiver waits; the test brings the worker back
    tq = f"tq-slow-{time.monotonic_ns()}"
    async with slack_receiver(tq) as url:
        async with worker_on(dev_env.client, tq, policy, keyed):
            handle, status = await open_incident(dev_env.client, tq)
        asha = person(slack, url, IC)
        assert (await asha.slash(status.channel, "update")).status_code == 200
        (waiting,) = await eventually(lambda: slack.views_for(IC), timeout=30)
        assert waiting["callback_id"] == "irp.notice" and "Asking the incident" in str(waiting["blocks"])
        await eventually(lambda: triggers_expired(slack), timeout=30)
        assert slack.views_for(IC)[0]["callback_id"] == "irp.notice"  # still asking
        async with worker_on(dev_env.client, tq, policy, keyed):
            (form,) = await eventually(
                lambda: [v for v in slack.views_for(IC) if v["callback_id"] == "irp.update"], timeout=90
            )
            sent = await asha.submit(
                form,
                {
                    "status": {"status": "ONGOING"},
                    "current_action": {"current_action": "Restarting the fees worker"},
                    "what_we_know": {"what_we_know": "The cron holds a lock"},
                },
            )
            status = await status_when(handle, lambda s: s.cadence and s.cadence.updates_posted == 1, 30)
            await finish(handle)
    assert sent.status_code == 200 and form["id"] == waiting["id"] and not views_open_failed(slack)
    assert json.loads(form["private_metadata"])["incident"] == handle.id
    assert any("Restarting the fees worker" in m["text"] for m in slack.messages(status.channel))


async def test_when_the_incident_never_answers_the_person_is_told_to_try_again(
    dev_env, policy, keyed, slack, slack_receiver, monkeypatch
):
    """No worker at all after the opening: `/incident update`'s form opens at once and then says
    the incident did not answer and to try again; `/incident status` says the same through its
    response_url; nothing waits on an expired trigger_id."""
    monkeypatch.setattr(slack_app, "ASK", 4.0)  # past Slack's 3 seconds
    tq = f"tq-gone-{time.monotonic_ns()}"
    async with slack_receiver(tq) as url:
        async with worker_on(dev_env.client, tq, policy, keyed):
            handle, status = await open_incident(dev_env.client, tq)
        asha = person(slack, url, IC)
        assert (await asha.slash(status.channel, "update")).status_code == 200
        assert (await asha.slash(status.channel, "status")).status_code == 200
        (notice,) = await eventually(
            lambda: [v for v in slack.views_for(IC) if "did not answer" in str(v["blocks"])], timeout=60
        )
        answered = await eventually(lambda: told(slack, IC, "did not answer within 4 s"), timeout=60)
        async with worker_on(dev_env.client, tq, policy, keyed):
            await finish(handle)
    assert "try `/incident update` again" in str(notice["blocks"]) and not views_open_failed(slack)
    assert "try `/incident status` again" in answered[0]


async def test_a_form_slack_will_not_open_is_told_to_the_person(
    dev_env, run_worker, keyed, slack, slack_receiver
):
    """A click whose trigger_id expired before views.open (Slack took long to deliver it, or the
    receiver was busy): the person is told plainly to try again, not left with nothing."""
    async with run_worker(dev_env.client, keyed) as tq, slack_receiver(tq) as url:
        handle, status = await open_incident(dev_env.client, tq)
        opening = message_with(slack, status.channel, "🚨 INCIDENT OPENED")
        slack.trigger_ttl = 0.0  # every trigger_id has expired by the time the app uses it
        asha = person(slack, url, IC)
        assert (await asha.click(status.channel, opening["ts"], "irp.update")).status_code == 200
        assert (await asha.slash("general", "declare")).status_code == 200
        await eventually(lambda: len(told(slack, IC, "Slack allows 3 seconds")) == 2, timeout=30)
        await finish(handle)
    assert not slack.views_for(IC) and len(views_open_failed(slack)) == 2


@budget(6)
@given(
    verb=st.sampled_from(["update", "status", "ack", "role oncall_secondary <@U0ONCALL02|chen>", "declare"]),
)
async def test_whatever_the_verb_a_slow_incident_leaves_nobody_in_silence(
    dev_env, policy, keyed, slack, slack_receiver, verb
):
    """Property (the kind of case 2): with the incident's worker down, each `/incident` verb is
    answered — a form opened within the trigger_id's life and then filled or explained, or a
    reply through the response_url — and views.open never meets an expired trigger_id."""
    saved, slack_app.ASK = slack_app.ASK, 3.5
    tq = f"tq-verb-{time.monotonic_ns()}"
    slack.reset()  # one sandbox for all examples: each starts from a clean workspace
    try:
        async with slack_receiver(tq) as url:
            async with worker_on(dev_env.client, tq, policy, keyed):
                handle, status = await open_incident(dev_env.client, tq)
            asha = person(slack, url, IC)
            assert (await asha.slash(status.channel, verb)).status_code == 200
            if verb == "declare":
                (form,) = await eventually(lambda: slack.views_for(IC), timeout=30)
                assert form["callback_id"] == "irp.declare"
            elif verb == "update":
                await eventually(
                    lambda: any("did not answer" in str(v["blocks"]) for v in slack.views_for(IC)), 60
                )
            else:
                await eventually(lambda: told(slack, IC, "did not answer within"), timeout=60)
            async with worker_on(dev_env.client, tq, policy, keyed):
                await finish(handle)
    finally:
        slack_app.ASK = saved
    assert not views_open_failed(slack)


# --- pure: what a message says, whatever Slack sends -------------------------------------------------

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
MESSAGE_KEYS = ["text", "user", "bot_id", "username", "bot_profile", "subtype", "attachments", "blocks",
                "files", "edited", "thread_ts"]  # fmt: skip
MESSAGES = st.dictionaries(st.sampled_from(MESSAGE_KEYS), JSONISH | st.text(max_size=5000), max_size=8)


@budget(300)
@given(message=MESSAGES, removed=st.booleans(), email=st.none() | st.just("chen.li@preskool.com"))
def test_any_message_slack_holds_makes_a_pin_the_incident_takes(message, removed, email):
    """Property: whatever a message Slack answers holds (any field any shape: an app's, a
    tombstone's, a file share's), either the person is told why it cannot be pinned or its pin
    input is one the incident's model takes."""
    if reactions.unpinnable(message):
        assert message.get("subtype") == "tombstone"
        return
    data = reactions.pin_input("C0SBX000001", "1700000000.000100", "pushpin", removed, message, email)
    PinMessage.model_validate({**data, "by": "ben.okafor@preskool.com"})


THREADS = st.lists(
    st.tuples(st.sampled_from(["post", "reply", "broadcast", "app", "edit", "delete"]), st.integers(0, 50)),
    min_size=1,
    max_size=25,
)


@budget(40)
@given(steps=THREADS)
async def test_every_message_a_person_can_react_to_is_found_and_history_keeps_replies_out(steps):
    """Property (the kind of case 1, on the sandbox held to Slack's rules): after any mix of
    posts, replies, replies also sent to the channel, apps' posts, edits and deletions, the
    receiver's lookup finds every message still there by its ts, a deleted one is None, and
    conversations.history answers no reply that was not also sent to the channel."""
    async with SlackFake(users={"U0ONCALL02": {"name": "Chen", "email": "chen.li@preskool.com"}}) as fake:
        channel = fake.channel_by_name("general").id
        tops: list[str] = []
        for kind, pick in steps:
            target = tops[pick % len(tops)] if tops else None
            if kind == "post" or target is None:
                tops.append(fake.post_as("U0ONCALL02", channel, f"said {pick}")["ts"])
            elif kind in ("reply", "broadcast"):
                fake.reply_as("U0ONCALL02", channel, target, f"reply {pick}", broadcast=kind == "broadcast")
            elif kind == "app":
                tops.append(fake.post_as_app(channel, **GRAFANA, attachments=[{"fallback": "x"}])["ts"])
            elif kind == "edit":
                fake.edit_as("U0ONCALL02", channel, target, f"edited {pick}")
            else:
                fake.delete_as(channel, target)
                tops.remove(target)
        deleted = [m for m in fake.messages(channel) if m.get("subtype") == "tombstone"]
        tops += [m["ts"] for m in deleted if m["ts"] not in tops]
        people = SlackPeople(AsyncWebClient(token=DEFAULT_TOKEN, base_url=fake.url))
        for stored in fake.messages(channel):
            found = await people.message(channel, stored["ts"])
            assert found is not None and found["ts"] == stored["ts"] and found["text"] == stored["text"]
        history = await AsyncWebClient(token=DEFAULT_TOKEN, base_url=fake.url).conversations_history(
            channel=channel, limit=999
        )
        assert await people.message(channel, "1.000001") is None
    replies = [m for m in history["messages"] if m.get("thread_ts", m["ts"]) != m["ts"]]
    assert all(m.get("subtype") == "thread_broadcast" for m in replies)
