"""A person in the sandbox Slack: what they do (click a button, submit a modal, type /incident,
react to a message) reaches the app as the request Slack itself would send, signed as Slack signs
it (https://api.slack.com/authentication/verifying-requests-from-slack), posted to
`receiver_url + "/slack/events"`.

Payload shapes follow Slack's docs: block_actions and view_submission
(https://api.slack.com/reference/interaction-payloads) form-encoded as `payload=<json>`; slash
commands (https://api.slack.com/interactivity/slash-commands) as plain form fields; Events API
callbacks (https://api.slack.com/apis/connections/events-api) as JSON. Each click or command
registers a trigger_id and a response_url with the fake, so the app can open a modal or answer."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import secrets
import time
from urllib.parse import urlencode

import httpx

from sandbox.slack import APP_ID, BOT_USER_ID, TEAM_ID, SlackFake

VERIFICATION_TOKEN = "sandboxverificationtoken"  # the deprecated token Slack still sends
TEAM_DOMAIN = "preskool-sandbox"
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
STALE_BY = 10 * 60  # seconds: twice the 5 minutes a receiver allows


def sign(secret: str, timestamp: int | str, body: bytes | str) -> str:
    """Slack's request signature: `v0=` + hex HMAC-SHA256(secret, "v0:{timestamp}:{body}")."""
    raw = body.encode() if isinstance(body, str) else body
    base = f"v0:{timestamp}:".encode() + raw
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclasses.dataclass
class SlackUser:
    """Acts as `user_id` in the fake's workspace. Every method returns the receiver's
    httpx.Response (its `.request` holds the exact bytes and headers sent)."""

    fake: SlackFake
    receiver_url: str
    signing_secret: str
    user_id: str
    team_id: str = TEAM_ID
    clock_skew: int = 0  # seconds added to the timestamp (stale() sets -10 minutes)
    wrong_secret: bool = False  # forge() signs with a secret that is not the app's

    # variants for the security tests -----------------------------------------------------------

    def forge(self) -> SlackUser:
        """The same person, but every request is signed with the wrong secret."""
        return dataclasses.replace(self, wrong_secret=True)

    def stale(self) -> SlackUser:
        """The same person, but every request carries a timestamp 10 minutes old (correctly signed)."""
        return dataclasses.replace(self, clock_skew=-STALE_BY)

    async def replay(self, earlier: httpx.Response | httpx.Request) -> httpx.Response:
        """Sends an earlier request again: the same bytes, headers and URL."""
        request = earlier.request if isinstance(earlier, httpx.Response) else earlier
        async with httpx.AsyncClient() as http:
            return await http.post(str(request.url), content=request.content, headers=dict(request.headers))

    # what a person does ------------------------------------------------------------------------

    async def click(self, channel: str, message_ts: str, action_id: str, value: str | None = None):
        """Clicks the button `action_id` on a stored message, or on an ephemeral one this person
        saw (then, as Slack, the payload carries no `message`): a `block_actions` interaction.
        LookupError when the message, or a button with that action_id on it, is not there."""
        channel_id, channel_name, message, ephemeral = self._message(channel, message_ts)
        block_id, button = _find_button(message, action_id)
        interaction = self.fake.new_interaction(self.user_id, channel_id, message_ts)
        action = {
            "action_id": action_id,
            "block_id": block_id,
            "text": button.get("text"),
            "value": value if value is not None else button.get("value"),
            "type": "button",
            "style": button.get("style"),  # Slack echoes a styled button's style
            "action_ts": _ts(),
        }
        payload = {
            **self._envelope("block_actions", interaction.trigger_id),
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel_id,
                "is_ephemeral": ephemeral,
            },
            "channel": {"id": channel_id, "name": channel_name},
            **({} if ephemeral else {"message": message}),
            "state": {"values": {}},
            "response_url": interaction.response_url,
            "actions": [{k: v for k, v in action.items() if v is not None}],
        }
        return await self._post_form({"payload": json.dumps(payload)})

    async def submit(self, view: dict, values: dict[str, dict[str, object]]):
        """Submits a modal the app opened for this person (from `fake.views_for(user_id)`):
        `values` is {block_id: {action_id: value}} (a list of values for checkboxes and
        multi-selects). KeyError for a block or action the view does not have. The fake then does
        what Slack does with the app's answer (`SlackFake.answer_submission`)."""
        state = {
            block: {action: _state(view, block, action, v) for action, v in acts.items()}
            for block, acts in values.items()
        }
        trigger = self.fake.new_interaction(self.user_id, view_id=view["id"]).trigger_id
        submitted = {**view, "state": {"values": state}}
        payload = {**self._envelope("view_submission", trigger), "view": submitted, "response_urls": []}
        response = await self._post_form({"payload": json.dumps(payload)})
        if response.status_code == 200:
            self.fake.answer_submission(view["id"], response.json() if response.content else {})
        return response

    async def slash(self, channel: str, text: str, command: str = "/incident"):
        """Types `command text` in a channel: a slash command, with a trigger_id and response_url."""
        target = self.fake.channels.get(channel) or self.fake.channel_by_name(channel)
        if target is None:
            raise LookupError(f"no channel {channel!r} in the fake")
        interaction = self.fake.new_interaction(self.user_id, target.id)
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": TEAM_DOMAIN,
            "channel_id": target.id,
            "channel_name": "directmessage" if target.is_im else target.name,
            "user_id": self.user_id,
            "user_name": self._username(),
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": interaction.response_url,
            "trigger_id": interaction.trigger_id,
        }
        return await self._post_form(fields)

    async def react(self, channel: str, ts: str, reaction: str, removed: bool = False):
        """Adds (or removes) a reaction in the fake, then sends the `reaction_added` /
        `reaction_removed` event the app subscribed to."""
        message = self.fake.react_as(self.user_id, channel, ts, reaction, removed)
        target = self.fake.channels.get(channel) or self.fake.channel_by_name(channel)
        event = {
            "type": "reaction_removed" if removed else "reaction_added",
            "user": self.user_id,
            "reaction": reaction,
            "item_user": message.get("user", BOT_USER_ID),
            "item": {"type": "message", "channel": target.id, "ts": ts},
            "event_ts": _ts(),
        }
        return await self._post_json(self._event(event))

    async def react_to(self, item: dict, reaction: str, removed: bool = False, item_user: str = ""):
        """A reaction event on any item Slack names (`{"type": "file", "file": "F…"}`, a
        `file_comment`, a message the fake does not hold: one deleted since), as Slack sends it;
        the fake's messages are left as they are."""
        event = {
            "type": "reaction_removed" if removed else "reaction_added",
            "user": self.user_id,
            "reaction": reaction,
            **({"item_user": item_user} if item_user else {}),
            "item": item,
            "event_ts": _ts(),
        }
        return await self._post_json(self._event(event))

    async def event(self, event: dict):
        """Any Events API callback (a `message` event, `app_mention`, …) as Slack wraps it."""
        return await self._post_json(self._event({"event_ts": _ts(), **event}))

    async def send_interaction(self, payload: dict):
        """Any interaction payload (a shortcut, a button of an older message, `view_closed`, …),
        with this person's envelope and a fresh trigger_id."""
        trigger = self.fake.new_interaction(self.user_id).trigger_id
        envelope = self._envelope(payload["type"], trigger)
        return await self._post_form({"payload": json.dumps({**envelope, **payload})})

    async def verify_url(self, challenge: str = "") -> httpx.Response:
        """Slack's `url_verification` handshake when the Events URL is saved; the app echoes
        the challenge."""
        body = {"token": VERIFICATION_TOKEN, "challenge": challenge or secrets.token_urlsafe(24)}
        return await self._post_json({**body, "type": "url_verification"})

    # building and sending -----------------------------------------------------------------------

    def _username(self) -> str:
        known = (self.fake.users or {}).get(self.user_id, {})
        return known.get("email", "").partition("@")[0] or self.user_id.lower()

    def _envelope(self, kind: str, trigger_id: str) -> dict:
        name = self._username()
        return {
            "type": kind,
            "team": {"id": self.team_id, "domain": TEAM_DOMAIN},
            "user": {"id": self.user_id, "username": name, "name": name, "team_id": self.team_id},
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": trigger_id,
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def _event(self, event: dict) -> dict:
        return {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": "Ev" + secrets.token_hex(5).upper(),
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }

    def _message(self, channel: str, ts: str) -> tuple[str, str, dict, bool]:
        """(channel id, channel name, the message, whether it is an ephemeral one of this person's)."""
        target = self.fake.channels.get(channel) or self.fake.channel_by_name(channel)
        if target is None:
            raise LookupError(f"no channel {channel!r} in the fake")
        name = "directmessage" if target.is_im else target.name
        message = next((m for m in target.messages if m["ts"] == ts), None)
        if message is not None:
            return target.id, name, message, False
        mine = [m for m in self.fake.ephemeral(self.user_id) if m["channel"] == target.id and m["ts"] == ts]
        if not mine:
            raise LookupError(f"no message {ts} in {channel!r} that {self.user_id} can see")
        return target.id, name, mine[0], True

    async def _post_form(self, fields: dict) -> httpx.Response:
        return await self._send(urlencode(fields).encode(), "application/x-www-form-urlencoded")

    async def _post_json(self, body: dict) -> httpx.Response:
        return await self._send(json.dumps(body).encode(), "application/json")

    async def _send(self, body: bytes, content_type: str) -> httpx.Response:
        timestamp = int(time.time()) + self.clock_skew
        secret = "not-" + self.signing_secret if self.wrong_secret else self.signing_secret
        headers = {
            "Content-Type": content_type,
            "User-Agent": USER_AGENT,
            "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": sign(secret, timestamp, body),
        }
        async with httpx.AsyncClient() as http:
            return await http.post(
                self.receiver_url.rstrip("/") + "/slack/events", content=body, headers=headers
            )


def _ts() -> str:
    return f"{time.time():.6f}"


def _find_button(message: dict, action_id: str) -> tuple[str, dict]:
    """(block_id, button) of the button `action_id` in an actions or section block."""
    for block in message.get("blocks") or []:
        elements = block.get("elements") or ([block["accessory"]] if "accessory" in block else [])
        for element in elements:
            if element.get("type") == "button" and element.get("action_id") == action_id:
                return block.get("block_id", ""), element
    raise LookupError(f"no button {action_id!r} on message {message.get('ts')}")


def _state(view: dict, block_id: str, action_id: str, value: object) -> dict:
    """One entry of `view.state.values`, in Slack's shape for the element's type."""
    block = next((b for b in view["blocks"] if b.get("block_id") == block_id), None)
    element = (block or {}).get("element") or {}
    if element.get("action_id") != action_id:
        raise KeyError(f"no input {block_id}/{action_id} in view {view['id']}")
    kind = element["type"]
    options = {o["value"]: o for o in element.get("options", [])}

    def option(v: object) -> dict:
        if v not in options:
            raise KeyError(f"{v!r} is not an option of {block_id}/{action_id}")
        return options[v]

    if kind in ("static_select", "radio_buttons"):
        return {"type": kind, "selected_option": option(value) if value is not None else None}
    if kind in ("checkboxes", "multi_static_select"):
        return {"type": kind, "selected_options": [option(v) for v in value]}
    if kind in ("users_select", "conversations_select", "channels_select"):
        field = {"users_select": "selected_user", "channels_select": "selected_channel"}
        return {"type": kind, field.get(kind, "selected_conversation"): value}
    if kind == "multi_users_select":
        return {"type": kind, "selected_users": list(value)}
    if kind == "datetimepicker":  # Unix seconds, as Slack answers it
        return {"type": kind, "selected_date_time": value}
    return {"type": kind, "value": value}  # plain_text_input, number_input, email_text_input, …
