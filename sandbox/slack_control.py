"""`POST /_sandbox/act` on the sandbox Slack: another process (the demo) acts as a person in the
workspace — clicks a button, submits the modal the app opened, types `/incident`, reacts — and
the sandbox sends the receiver exactly what Slack would, signed as Slack signs it (SlackUser).

Body: {"as": USER_ID, "do": "click"|"submit"|"slash"|"react", "receiver": URL, …}
  click:  "channel" (name or id; "dm" for the person's direct messages), "starting" (the text the
          message starts with, newest first) or "containing", "action_id"; with neither text, the
          newest message with the button `action_id` whose value holds "value" ({key: value}, a
          drill's request_id or claim_id)
  submit: "values" {block_id: value} for the newest modal open for the person
  slash:  "channel", "text"
  react:  "channel", "starting", "reaction", "removed"?
Answer: {"status": the receiver's HTTP status, "body": its text, "ts": the message acted on}."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from sandbox.slack_user import SlackUser, _find_button


async def act(fake, signing_secret: str, body: Any) -> web.Response:
    """Do what `body` says as `body["as"]`; 400 with the reason for a request it cannot follow."""
    try:
        user = SlackUser(fake, body["receiver"], signing_secret, body["as"])
        do = body["do"]
        if do == "submit":
            view = fake.views_for(body["as"])[-1]
            values = {block: {block: value} for block, value in body["values"].items()}
            return _answer(await user.submit(view, values))
        if do == "slash":
            return _answer(await user.slash(body["channel"], body["text"]))
        channel, message = _find(fake, body)
        if do == "click":
            return _answer(await user.click(channel, message["ts"], body["action_id"]), message["ts"])
        if do == "react":
            answer = await user.react(channel, message["ts"], body["reaction"], bool(body.get("removed")))
            return _answer(answer, message["ts"])
    except (KeyError, LookupError, IndexError, AttributeError, TypeError) as e:
        return web.json_response({"error": f"cannot act: {e!r}"}, status=400)
    return web.json_response({"error": f"unknown action {body.get('do')!r}"}, status=400)


def _find(fake, body: dict) -> tuple[str, dict]:
    """(channel id, the newest message of the channel that starts with / contains the text)."""
    if body["channel"] == "dm":
        channel = next((c for c in fake.channels.values() if c.is_im and c.name == body["as"]), None)
    else:
        channel = fake.channels.get(body["channel"]) or fake.channel_by_name(body["channel"])
    if channel is None:
        raise LookupError(f"no channel {body['channel']!r}")
    if "starting" not in body and "containing" not in body:
        return channel.id, _by_button(channel, body["action_id"], body.get("value") or {})
    for message in reversed(channel.messages):
        text = message.get("text", "")
        if ("starting" in body and text.startswith(body["starting"])) or body.get("containing", "\0") in text:
            return channel.id, message
    raise LookupError(
        f"no message like {body.get('starting') or body.get('containing')!r} in #{channel.name}"
    )


def _by_button(channel, action_id: str, want: dict) -> dict:
    """The newest message of `channel` with the button `action_id` whose JSON value holds `want`."""
    for message in reversed(channel.messages):
        try:
            _, button = _find_button(message, action_id)
            value = json.loads(button.get("value") or "{}")
        except (LookupError, ValueError):
            continue
        if isinstance(value, dict) and all(value.get(k) == v for k, v in want.items()):
            return message
    raise LookupError(f"no {action_id} button like {want} in #{channel.name}")


def _answer(response, ts: str | None = None) -> web.Response:
    return web.json_response({"status": response.status_code, "body": response.text, "ts": ts})
