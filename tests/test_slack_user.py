"""SlackUser sends what Slack sends, signed as Slack signs: proved against slack_sdk's own
SignatureVerifier (what slack_bolt verifies with) in a tiny receiver that also answers as an app
would (opens a modal on a click, answers through response_url, refuses bad input)."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import parse_qsl

import httpx
import pytest
import pytest_asyncio
from aiohttp import web
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from sandbox.slack import DEFAULT_TOKEN, SlackFake
from sandbox.slack_user import SlackUser, sign

SECRET = "sandbox-signing-secret"
ASHA = "U0IC000001"
USERS = {ASHA: {"name": "Asha Rao", "email": "asha.rao@preskool.com"}}
# Slack's worked example (api.slack.com/authentication/verifying-requests-from-slack): a slash
# command's body, its timestamp, the app's secret, and the signature Slack sent.
DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_TIMESTAMP = 1531420618
DOC_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
ACK = {
    "type": "actions",
    "block_id": "incident",
    "elements": [
        {
            "type": "button",
            "action_id": "ack",
            "value": "INC-1",
            "text": {"type": "plain_text", "text": "Ack"},
        }
    ],
}
SEVERITIES = [{"text": {"type": "plain_text", "text": s}, "value": s} for s in ("SEV1", "SEV2")]
DECLARE = {
    "type": "modal",
    "callback_id": "declare",
    "title": {"type": "plain_text", "text": "Declare"},
    "blocks": [
        {
            "type": "input",
            "block_id": "title",
            "label": {"type": "plain_text", "text": "Title"},
            "element": {"type": "plain_text_input", "action_id": "title"},
        },
        {
            "type": "input",
            "block_id": "severity",
            "label": {"type": "plain_text", "text": "Severity"},
            "element": {"type": "static_select", "action_id": "severity", "options": SEVERITIES},
        },
    ],
}


class Receiver:
    """The app's side: verifies every request as Bolt does (401 when it fails), then answers."""

    def __init__(self, fake: SlackFake):
        self.verifier = SignatureVerifier(SECRET)
        self.client = AsyncWebClient(token=DEFAULT_TOKEN, base_url=fake.url)
        self.seen: list[dict] = []  # {"kind", "body" (parsed), "raw", "headers"}
        self.runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/slack/events", self.events)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def events(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if not self.verifier.is_valid_request(raw, dict(request.headers)):
            return web.Response(status=401)
        if request.content_type == "application/json":
            body = json.loads(raw)
        else:
            fields = dict(parse_qsl(raw.decode(), keep_blank_values=True))
            body = json.loads(fields["payload"]) if "payload" in fields else fields
        kind = body.get("type") or "slash_command"
        self.seen.append(
            {
                "kind": kind,
                "body": body,
                "raw": raw,
                "headers": {k.lower(): v for k, v in request.headers.items()},
            }
        )
        if kind == "url_verification":
            return web.json_response({"challenge": body["challenge"]})
        if kind == "block_actions":
            await self.client.views_open(trigger_id=body["trigger_id"], view=DECLARE)
        if kind == "view_submission":
            title = body["view"]["state"]["values"]["title"]["title"]["value"]
            if not title.strip():
                return web.json_response(
                    {"response_action": "errors", "errors": {"title": "Say what is wrong"}}
                )
        if kind == "slash_command":
            await self.client.chat_postEphemeral(channel=body["channel_id"], user=body["user_id"], text="ok")
        return web.Response(status=200)


@pytest_asyncio.fixture
async def world():
    async with SlackFake(users=USERS) as fake:
        receiver = Receiver(fake)
        url = await receiver.start()
        yield fake, receiver, SlackUser(fake, url, SECRET, ASHA)
        await receiver.runner.cleanup()


def test_sign_gives_slacks_documented_signature():
    assert sign(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY) == DOC_SIGNATURE
    independent = hmac.new(b"k", b"v0:1:{}", hashlib.sha256).hexdigest()
    assert sign("k", 1, b"{}") == "v0=" + independent


async def test_a_click_carries_the_message_and_a_trigger_the_app_opens_a_modal_with(world):
    fake, receiver, asha = world
    posted = await receiver.client.chat_postMessage(channel="general", text="INC-1 opened", blocks=[ACK])
    response = await asha.click("general", posted["ts"], "ack")
    assert response.status_code == 200
    payload = receiver.seen[-1]["body"]
    assert payload["type"] == "block_actions" and payload["user"]["id"] == ASHA
    assert payload["user"]["username"] == "asha.rao" and payload["message"]["ts"] == posted["ts"]
    assert payload["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": posted["channel"],
        "is_ephemeral": False,
    }
    assert payload["actions"][0] | {"action_ts": "-"} == {
        "action_id": "ack",
        "block_id": "incident",
        "value": "INC-1",
        "type": "button",
        "text": {"type": "plain_text", "text": "Ack"},
        "action_ts": "-",
    }
    assert payload["response_url"].startswith(fake.root_url + "/response/")
    (modal,) = fake.views_for(ASHA)  # the receiver opened it with the click's trigger_id
    assert modal["callback_id"] == "declare"
    with pytest.raises(LookupError, match="no button 'resolve'"):
        await asha.click("general", posted["ts"], "resolve")


async def test_a_click_on_an_ephemeral_message_is_marked_so_and_its_answer_replaces_it(world):
    fake, receiver, asha = world
    shown = await receiver.client.chat_postEphemeral(channel="general", user=ASHA, text="Ack?", blocks=[ACK])
    await asha.click("general", shown["message_ts"], "ack")
    payload = receiver.seen[-1]["body"]
    assert payload["container"]["is_ephemeral"] is True and "message" not in payload
    async with httpx.AsyncClient() as http:
        await http.post(payload["response_url"], json={"replace_original": True, "text": "Acknowledged"})
    assert [m["text"] for m in fake.ephemeral(ASHA)] == ["Acknowledged"]
    with pytest.raises(LookupError):
        await SlackUser(fake, "http://unused", SECRET, "U0ONCALL01").click(
            "general", shown["message_ts"], "ack"
        )


async def test_submitting_a_modal_gives_slacks_state_and_the_apps_errors_keep_it_open(world):
    fake, receiver, asha = world
    posted = await receiver.client.chat_postMessage(channel="general", text="x", blocks=[ACK])
    await asha.click("general", posted["ts"], "ack")
    (modal,) = fake.views_for(ASHA)
    refused = await asha.submit(modal, {"title": {"title": " "}, "severity": {"severity": "SEV1"}})
    assert refused.json() == {"response_action": "errors", "errors": {"title": "Say what is wrong"}}
    assert fake.views_for(ASHA) == [modal]  # still open, showing the error
    accepted = await asha.submit(modal, {"title": {"title": "DB down"}, "severity": {"severity": "SEV2"}})
    assert accepted.status_code == 200 and fake.views_for(ASHA) == []
    state = receiver.seen[-1]["body"]["view"]["state"]["values"]
    assert state["title"]["title"] == {"type": "plain_text_input", "value": "DB down"}
    assert state["severity"]["severity"] == {"type": "static_select", "selected_option": SEVERITIES[1]}
    with pytest.raises(KeyError):
        await asha.submit(modal, {"severity": {"severity": "SEV9"}})


async def test_the_apps_answer_to_a_submission_updates_or_pushes_the_modal(world):
    fake, receiver, asha = world
    posted = await receiver.client.chat_postMessage(channel="general", text="x", blocks=[ACK])
    await asha.click("general", posted["ts"], "ack")
    (modal,) = fake.views_for(ASHA)
    thanks = {**DECLARE, "title": {"type": "plain_text", "text": "Declared"}, "blocks": []}
    fake.answer_submission(modal["id"], {"response_action": "update", "view": thanks})
    assert [v["title"]["text"] for v in fake.views_for(ASHA)] == ["Declared"]
    fake.answer_submission(modal["id"], {"response_action": "push", "view": DECLARE})
    assert [v["previous_view_id"] for v in fake.views_for(ASHA)] == [None, modal["id"]]
    fake.answer_submission(modal["id"], {"response_action": "clear"})
    assert fake.views_for(ASHA) == []


async def test_a_slash_command_is_plain_form_fields(world):
    fake, receiver, asha = world
    assert (await asha.slash("general", "declare DB down")).status_code == 200
    fields = receiver.seen[-1]["body"]
    assert (fields["command"], fields["text"], fields["user_id"]) == ("/incident", "declare DB down", ASHA)
    assert fields["channel_name"] == "general" and fields["trigger_id"] in fake.triggers
    assert [m["text"] for m in fake.ephemeral(ASHA)] == ["ok"]


async def test_reactions_arrive_as_events_with_unique_ids(world):
    fake, receiver, asha = world
    posted = await receiver.client.chat_postMessage(channel="general", text="INC-2 opened")
    await asha.react("general", posted["ts"], "eyes")
    await asha.react("general", posted["ts"], "eyes", removed=True)
    added, removed = (s["body"] for s in receiver.seen)
    assert added["type"] == "event_callback" and added["event_id"] != removed["event_id"]
    assert (added["event"]["type"], removed["event"]["type"]) == ("reaction_added", "reaction_removed")
    assert added["event"]["item"] == {"type": "message", "channel": posted["channel"], "ts": posted["ts"]}
    assert added["event"]["item_user"] == "USANDBOXBOT" and added["event"]["user"] == ASHA
    assert "reactions" not in fake.messages("general")[0]


async def test_url_verification_is_signed_too(world):
    _, _, asha = world
    assert (await asha.verify_url("c-123")).json() == {"challenge": "c-123"}


async def test_forged_and_stale_requests_are_refused_and_a_replay_is_byte_for_byte(world):
    fake, receiver, asha = world
    posted = await receiver.client.chat_postMessage(channel="general", text="x", blocks=[ACK])
    assert (await asha.forge().click("general", posted["ts"], "ack")).status_code == 401
    assert (await asha.stale().slash("general", "status")).status_code == 401
    assert (await asha.forge().react("general", posted["ts"], "eyes")).status_code == 401
    assert receiver.seen == [] and fake.views_for(ASHA) == []

    first = await asha.slash("general", "status")
    again = await asha.replay(first)
    # SignatureVerifier only checks the signature and the 5-minute window: a replay inside it
    # passes, so refusing replays is the app's job (it sees the same bytes twice).
    assert again.status_code == 200 and receiver.seen[0]["raw"] == receiver.seen[1]["raw"]
    slack_headers = [
        {k: v for k, v in seen["headers"].items() if k.startswith("x-slack")} for seen in receiver.seen
    ]
    assert slack_headers[0] == slack_headers[1] and len(slack_headers[0]) == 2
