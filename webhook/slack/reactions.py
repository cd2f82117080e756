"""📌 as people really react in Slack (issue 23): on a reply in a thread, on an edited message,
on another app's message (often only attachments or blocks), on a message deleted since, on a file
or an item that is no message. What the reaction event and the message Slack holds say, read into
the incident's `pin_message` input, or the one line the person is told when nothing can be pinned
(never silence). Pure: no Slack, no Temporal, no clock.

Shapes read (https://api.slack.com/events/reaction_added, https://api.slack.com/events/message and
its subtypes): `item` {type: message, channel, ts} | {type: file, file} | {type: file_comment, …};
a message's `user` or, for an app's, `bot_id` / `username` / `bot_profile.name`; its words in
`text`, else `attachments[].pretext|title|text|fallback` and the blocks' text; `files[].name`;
`edited`; `subtype: tombstone` for a deleted thread parent that keeps its replies."""

from __future__ import annotations

from typing import Any

from plan.models import Policy

DEFAULT_PIN = Policy.model_fields["pin_emoji"].default  # the pin emoji of a policy that names none
TEXT = 4000  # PinMessage.text's limit
NAME = 254  # PinMessage.author's limit
NOT_SAID = ("actions", "input", "button", "image", "static_select", "overflow", "datepicker")
BLOCK_TEXTS = 50  # texts read from a message's blocks at most (a message holds at most 50 blocks)


def not_a_message(item: Any) -> str:
    """What a person is told for the pin emoji on an item that is no message (a file, a file
    comment, what Slack adds later): it has no bridge channel to be part of."""
    kind = item.get("type") if isinstance(item, dict) else None
    what = {"file": "a file", "file_comment": "a comment on a file"}.get(kind, f"a {kind or 'thing'}")
    return (
        f"📌 puts a message of an incident's bridge in its timeline, and this was {what}: post it "
        "(or a link to it) in the bridge and 📌 that message."
    )


def unpinnable(message: dict | None) -> str | None:
    """Why `message` (as Slack answered it; None: Slack holds no message with that ts) cannot be
    pinned, in words for the person who reacted; None when it can."""
    if message is None:
        return "📌 found no such message in the bridge (deleted since?): nothing was pinned."
    if message.get("subtype") == "tombstone":
        return "📌 on a deleted message: nothing was pinned."
    return None


def author(message: dict) -> tuple[str, str]:
    """(the Slack user whose verified email names the author, or "", and the name to show when
    Slack vouches for no email: another app's message names the app, else the user id)."""
    user = _text(message.get("user"))
    profile = message.get("bot_profile")
    app = (
        (_text(profile.get("name")) if isinstance(profile, dict) else "")
        or _text(message.get("username"))
        or _text(message.get("bot_id"))
    )
    return user, (f"{app} (app)" if app else user)[:NAME]


def words(message: dict) -> str:
    """What a message says, at most TEXT characters: its text, else (apps often post only these)
    its attachments' and blocks' text; its files' names; "(edited)" when it was edited."""
    parts = [_text(message.get("text"))]
    if not parts[0].strip():
        for attachment in _list(message.get("attachments")):
            keys = ("pretext", "title", "text", "fallback")
            parts.append(next((_text(attachment.get(k)) for k in keys if _text(attachment.get(k))), ""))
        parts.extend(_block_texts(message.get("blocks")))
    for file in _list(message.get("files")):
        name = _text(file.get("name")) or _text(file.get("title")) or _text(file.get("id"))
        parts.append(f"[file: {name}]" if name else "[a file]")
    said = " ".join(" ".join(p.split()) for p in parts if p.strip())
    if message.get("edited"):
        said = f"{said} (edited)" if said else "(edited)"
    return said[:TEXT]


def pin_input(
    channel: str, ts: str, reaction: str, removed: bool, message: dict | None, email: str | None
) -> dict:
    """The `pin_message` input (plan.signals.PinMessage without `by`) for a reaction on the message
    `ts` of `channel`. A removal needs no message (it may be deleted): the id is enough."""
    data: dict = {"channel": channel, "message_id": ts, "emoji": reaction, "removed": removed}
    if message is not None and not removed:
        user, shown = author(message)
        data |= {"author": (email or shown or user)[:NAME], "text": words(message)}
    return data


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _list(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _block_texts(blocks: Any) -> list[str]:
    """The text of a message's blocks (section, header, context, rich text), depth first."""
    found: list[str] = []
    stack = list(reversed(_list(blocks)))
    while stack and len(found) < BLOCK_TEXTS:
        node = stack.pop()
        if node.get("type") in NOT_SAID:
            continue
        text = node.get("text")
        if isinstance(text, str):
            found.append(text)
        elif isinstance(text, dict) and isinstance(text.get("text"), str):
            found.append(text["text"])
        for key in ("fields", "elements"):
            stack.extend(reversed(_list(node.get(key))))
    return found
