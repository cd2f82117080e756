"""A Slack Web API that `slack_sdk`'s AsyncWebClient can be pointed at (`base_url=fake.url`).

Held to the published OpenAPI 2.0 spec (slackapi/slack-api-specs, 2021): every answer has the
shape and the error codes the spec gives for that method, and errors are HTTP 200 with
`ok: false`, as Slack does. The spec predates message `metadata` (2022) and the
`include_all_metadata` flag of conversations.history: they are accepted and answered as the
real API does today, and the contract test states those additions explicitly."""

from __future__ import annotations

import base64
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from sandbox.base import Call, FakeServer

DEFAULT_TOKEN = "xoxb-sandbox-token"
TEAM_ID = "TSANDBOX01"
BOT_USER_ID = "USANDBOXBOT"
BOT_ID = "BSANDBOXBOT"
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
NAME_CHARS = re.compile(r"^[a-z0-9_-]+$")
MAX_TEXT = 40_000
MAX_TOPIC = 250


class SlackError(Exception):
    """An `ok: false` answer."""

    def __init__(self, error: str):
        super().__init__(error)
        self.error = error


@dataclass
class Channel:
    id: str
    name: str  # for a DM, the user's id
    created: int
    creator: str = BOT_USER_ID
    is_private: bool = False
    is_general: bool = False
    is_im: bool = False
    is_archived: bool = False
    members: list[str] = field(default_factory=lambda: [BOT_USER_ID])
    topic: dict = field(default_factory=lambda: {"value": "", "creator": "", "last_set": 0})
    purpose: dict = field(default_factory=lambda: {"value": "", "creator": "", "last_set": 0})
    messages: list[dict] = field(default_factory=list)  # oldest first, replies included


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


def _int(value: Any, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(value)))
    except (TypeError, ValueError):
        return default


def _cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _offset(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        kind, _, number = base64.b64decode(str(cursor)).decode().partition(":")
        if kind == "offset":
            return int(number)
    except ValueError:
        pass
    raise SlackError("invalid_cursor")


def _json_field(value: Any, error: str) -> Any:
    """Form-encoded callers send objects as JSON strings; JSON callers send them as objects."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise SlackError(error) from None
    return value


class SlackFake(FakeServer):
    prefix = "/api/"

    def __init__(
        self,
        *,
        tokens: set[str] | frozenset[str] = frozenset({DEFAULT_TOKEN}),
        users: dict[str, dict] | None = None,
        channels: tuple[str, ...] = ("general",),
        **kw,
    ):
        """`users`: user id -> {"name", "email"}; None accepts any well-formed user id.
        `channels`: public channels that exist from the start (the first is #general)."""
        super().__init__(**kw)
        self.tokens = set(tokens)
        self.users = users
        self._seed = channels
        self._last_ts = 0
        self._ids = 0
        self.channels: dict[str, Channel] = {}
        self._methods = {
            "auth.test": self._auth_test,
            "conversations.archive": self._archive,
            "conversations.create": self._create,
            "conversations.history": self._history,
            "conversations.info": self._info,
            "conversations.invite": self._invite,
            "conversations.join": self._join,
            "conversations.unarchive": self._unarchive,
            "conversations.list": self._list,
            "conversations.open": self._open,
            "conversations.setPurpose": lambda p: self._set_text(p, "purpose"),
            "conversations.setTopic": lambda p: self._set_text(p, "topic"),
            "chat.postMessage": self._post,
            "chat.update": self._update,
            "users.lookupByEmail": self._lookup_by_email,
        }
        self._reseed()

    # helpers for tests and the demo ----------------------------------------------------------

    def archive_as_a_person(self, name: str) -> None:
        """A workspace clean-up archives the channel (the bot is not told)."""
        self.channel_by_name(name).is_archived = True

    def delete_as_a_person(self, name: str) -> None:
        """An admin deletes the channel: every later call naming it gets channel_not_found, and
        its name is free again."""
        del self.channels[self.channel_by_name(name).id]

    def remove_bot(self, name: str) -> None:
        """Someone removes the bot from the channel (/remove @bot)."""
        channel = self.channel_by_name(name)
        channel.members = [m for m in channel.members if m != BOT_USER_ID]

    def channel_by_name(self, name: str) -> Channel | None:
        name = name.lstrip("#")
        return next((c for c in self.channels.values() if c.name == name and not c.is_im), None)

    def messages(self, channel_name_or_id: str) -> list[dict]:
        channel = self.channels.get(channel_name_or_id) or self.channel_by_name(channel_name_or_id)
        return list(channel.messages) if channel else []

    def posts(self) -> list[Call]:
        """chat.postMessage calls that posted something."""
        return [
            c
            for c in self.calls_to("chat.postMessage")
            if isinstance(c.response, dict) and c.response.get("ok")
        ]

    def counts(self) -> Counter:
        """Requests per API method, failed and injected ones included."""
        return Counter(c.path.rsplit("/", 1)[-1] for c in self.calls)

    def reset(self) -> None:
        super().reset()
        self._reseed()

    def snapshot(self) -> dict:
        channels = [
            {
                "id": c.id,
                "name": c.name,
                "is_archived": c.is_archived,
                "members": c.members,
                "purpose": c.purpose["value"],
                "topic": c.topic["value"],
                "messages": c.messages,
            }
            for c in self.channels.values()
        ]
        return {**super().snapshot(), "channels": channels}

    # wire ------------------------------------------------------------------------------------

    async def parse(self, request: web.Request, raw: bytes) -> dict:
        """slack_sdk sends JSON bodies (chat.postMessage), form bodies, and query strings (GET
        methods, and conversations.create & co. as POST with the arguments in the URL)."""
        params: dict[str, Any] = dict(request.query)
        if not raw:
            return params
        if request.content_type == "application/json":
            try:
                body = json.loads(raw)
            except ValueError:
                return {**params, "_error": "invalid_json"}
            if not isinstance(body, dict):
                return {**params, "_error": "json_not_object"}
            params.update(body)
        else:
            params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        return params

    async def handle(self, request: web.Request, params: dict) -> tuple[int, Any, dict]:
        method = self._methods.get(request.path.removeprefix(self.prefix))
        try:
            if method is None:
                raise SlackError("unknown_method")
            self._check_auth(request.headers.get("Authorization", ""))
            if "_error" in params:
                raise SlackError(params["_error"])
            return 200, {"ok": True, **method(params)}, {}
        except SlackError as e:
            return 200, {"ok": False, "error": e.error}, {}

    def fault_body(self, status: int) -> Any:
        if status == 429:
            return {"ok": False, "error": "ratelimited"}
        return super().fault_body(status)

    def _check_auth(self, header: str) -> None:
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token:
            raise SlackError("not_authed")
        if token not in self.tokens:
            raise SlackError("invalid_auth")

    # state -----------------------------------------------------------------------------------

    def _reseed(self) -> None:
        self.channels.clear()
        for i, name in enumerate(self._seed):
            self._new_channel(name, is_general=(i == 0))

    def _new_id(self, kind: str) -> str:
        self._ids += 1
        return f"{kind}0SBX{self._ids:06d}"

    def _new_channel(self, name: str, **kw) -> Channel:
        channel = Channel(self._new_id("D" if kw.get("is_im") else "C"), name, int(time.time()), **kw)
        self.channels[channel.id] = channel
        return channel

    def _next_ts(self) -> str:
        """Unique and increasing, like Slack's message timestamps (which are message ids)."""
        micros = max(int(time.time() * 1_000_000), self._last_ts + 100)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _known_user(self, user_id: str) -> bool:
        if user_id == BOT_USER_ID:
            return True
        return bool(USER_ID.match(user_id)) if self.users is None else user_id in self.users

    def _channel(self, params: dict, *, by_name: bool = False, open_dm: bool = False) -> Channel:
        ref = str(params.get("channel") or "")
        channel = self.channels.get(ref)
        if channel is None and by_name:
            channel = self.channel_by_name(ref)
        if (
            channel is None
            and open_dm
            and USER_ID.match(ref)
            and self._known_user(ref)
            and ref != BOT_USER_ID
        ):
            channel = next((c for c in self.channels.values() if c.is_im and c.name == ref), None)
            channel = channel or self._new_channel(ref, is_im=True, members=[BOT_USER_ID, ref])
        if channel is None or (channel.is_private and BOT_USER_ID not in channel.members):
            raise SlackError("channel_not_found")
        return channel

    def _conversation(self, c: Channel) -> dict:
        if c.is_im:
            return {
                "id": c.id,
                "created": c.created,
                "is_im": True,
                "is_org_shared": False,
                "user": c.name,
                "priority": 0,
                "is_archived": False,
                "is_open": True,
            }
        return {
            "id": c.id,
            "name": c.name,
            "name_normalized": c.name,
            "created": c.created,
            "creator": c.creator,
            "is_archived": c.is_archived,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_general": c.is_general,
            "is_private": c.is_private,
            "is_shared": False,
            "is_org_shared": False,
            "is_ext_shared": False,
            "is_pending_ext_shared": False,
            "is_member": BOT_USER_ID in c.members,
            "num_members": len(c.members),
            "unlinked": 0,
            "previous_names": [],
            "shared_team_ids": [TEAM_ID],
            "topic": dict(c.topic),
            "purpose": dict(c.purpose),
        }

    @staticmethod
    def _wire_message(message: dict, with_metadata: bool) -> dict:
        return {k: v for k, v in message.items() if k != "metadata" or with_metadata}

    # methods ---------------------------------------------------------------------------------

    def _auth_test(self, p: dict) -> dict:
        return {
            "url": "https://preskool-sandbox.slack.com/",
            "team": "PreSkool Sandbox",
            "user": "irp-bot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _create(self, p: dict) -> dict:
        name = str(p.get("name") or "")
        if not name:
            raise SlackError("invalid_name_required")
        if len(name) > 80:
            raise SlackError("invalid_name_maxlength")
        if not NAME_CHARS.match(name):
            raise SlackError("invalid_name_specials")  # also upper case, as Slack says
        if not name.strip("-_"):
            raise SlackError("invalid_name_punctuation")
        if self.channel_by_name(name):
            raise SlackError("name_taken")  # archived channels keep their names
        return {"channel": self._conversation(self._new_channel(name, is_private=_flag(p.get("is_private"))))}

    def _invite(self, p: dict) -> dict:
        channel = self._channel(p)
        if channel.is_im:
            raise SlackError("method_not_supported_for_channel_type")
        if channel.is_archived:
            raise SlackError("is_archived")
        users = [u.strip() for u in str(p.get("users") or "").split(",") if u.strip()]
        if not users:
            raise SlackError("no_user")
        if len(users) > 1000:
            raise SlackError("too_many_users")
        for user in users:
            if user == BOT_USER_ID:
                raise SlackError("cant_invite_self")
            if not self._known_user(user):
                raise SlackError("user_not_found")
        new = [u for u in dict.fromkeys(users) if u not in channel.members]
        if not new:
            raise SlackError("already_in_channel")
        channel.members.extend(new)
        return {"channel": self._conversation(channel)}

    def _list(self, p: dict) -> dict:
        types = set(str(p.get("types") or "public_channel").split(","))
        exclude_archived = _flag(p.get("exclude_archived"))
        limit = _int(p.get("limit"), 100, 1, 1000)
        start = _offset(p.get("cursor"))

        def wanted(c: Channel) -> bool:
            kind = "im" if c.is_im else "private_channel" if c.is_private else "public_channel"
            if kind not in types or (exclude_archived and c.is_archived):
                return False
            return not c.is_private or BOT_USER_ID in c.members

        matches = [c for c in self.channels.values() if wanted(c)]
        page = matches[start : start + limit]
        more = start + limit < len(matches)
        return {
            "channels": [self._conversation(c) for c in page],
            "response_metadata": {"next_cursor": _cursor(start + limit) if more else ""},
        }

    def _open(self, p: dict) -> dict:
        """Direct messages only (one user), which is what the incident sends: reminders, invitations."""
        if p.get("channel"):
            return {"ok": True, "channel": {"id": self._channel(p).id}}
        users = [u for u in str(p.get("users") or "").split(",") if u]
        if len(users) != 1:
            raise SlackError("not_enough_users" if not users else "too_many_users")
        existing = next((c for c in self.channels.values() if c.is_im and c.name == users[0]), None)
        if not self._known_user(users[0]) or users[0] == BOT_USER_ID:
            raise SlackError("user_not_found")
        channel = self._channel({"channel": users[0]}, open_dm=True)
        return {
            "ok": True,
            "no_op": existing is not None,
            "already_open": existing is not None,
            "channel": {"id": channel.id},
        }

    def _info(self, p: dict) -> dict:
        return {"channel": self._conversation(self._channel(p))}

    def _set_text(self, p: dict, which: str) -> dict:
        channel = self._channel(p)
        if channel.is_archived:
            raise SlackError("is_archived")
        value = str(p.get(which) or "")
        if len(value) > MAX_TOPIC:
            raise SlackError("too_long")
        setattr(channel, which, {"value": value, "creator": BOT_USER_ID, "last_set": int(time.time())})
        return {"channel": self._conversation(channel)}

    def _archive(self, p: dict) -> dict:
        channel = self._channel(p)
        if channel.is_im:
            raise SlackError("method_not_supported_for_channel_type")
        if channel.is_general:
            raise SlackError("cant_archive_general")
        if channel.is_archived:
            raise SlackError("already_archived")
        channel.is_archived = True
        return {}

    def _unarchive(self, p: dict) -> dict:
        channel = self._channel(p)
        if not channel.is_archived:
            raise SlackError("not_archived")
        channel.is_archived = False
        return {}

    def _join(self, p: dict) -> dict:
        """Bots join public channels only; archived ones refuse."""
        channel = self._channel(p)
        if channel.is_private or channel.is_im:
            raise SlackError("method_not_supported_for_channel_type")
        if channel.is_archived:
            raise SlackError("is_archived")
        already = BOT_USER_ID in channel.members
        if not already:
            channel.members.append(BOT_USER_ID)
        return {"channel": self._conversation(channel)} | ({"already_in_channel": True} if already else {})

    def _history(self, p: dict) -> dict:
        channel = self._channel(p)
        if not channel.is_im and BOT_USER_ID not in channel.members:
            raise SlackError("not_in_channel")  # a bot reads only the channels it is in
        latest, oldest = p.get("latest"), p.get("oldest")
        for value, error in ((latest, "invalid_ts_latest"), (oldest, "invalid_ts_oldest")):
            if value is not None and not re.match(r"^\d+(\.\d+)?$", str(value)):
                raise SlackError(error)
        inclusive = _flag(p.get("inclusive"))

        def in_window(m: dict) -> bool:
            ts = float(m["ts"])
            if latest is not None and (ts > float(latest) or (ts == float(latest) and not inclusive)):
                return False
            return oldest is None or ts > float(oldest) or (ts == float(oldest) and inclusive)

        # Newest first; thread replies stay in their thread unless broadcast, as in Slack.
        top = [
            m
            for m in reversed(channel.messages)
            if m.get("thread_ts", m["ts"]) == m["ts"] or m.get("subtype") == "thread_broadcast"
        ]
        top = [m for m in top if in_window(m)]
        limit = _int(p.get("limit"), 100, 1, 999)
        start = _offset(p.get("cursor"))
        page, more = top[start : start + limit], start + limit < len(top)
        with_metadata = _flag(p.get("include_all_metadata"))
        answer = {
            "messages": [self._wire_message(m, with_metadata) for m in page],
            "has_more": more,
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
        }
        if more:  # the real API pages history with a cursor; the 2021 spec leaves this out
            answer["response_metadata"] = {"next_cursor": _cursor(start + limit)}
        return answer

    def _content(self, p: dict, message: dict) -> None:
        """Text, blocks and metadata of a post or an update, checked as Slack checks them."""
        text = p.get("text")
        blocks = _json_field(p.get("blocks"), "invalid_blocks")
        if not text and not blocks and not p.get("attachments"):
            raise SlackError("no_text")
        if text and len(str(text)) > MAX_TEXT:
            raise SlackError("msg_too_long")
        message["text"] = str(text or "")
        if blocks:
            if not isinstance(blocks, list) or not all(isinstance(b, dict) and "type" in b for b in blocks):
                raise SlackError("invalid_blocks")
            message["blocks"] = blocks
        metadata = _json_field(p.get("metadata"), "invalid_metadata_format")
        if metadata:
            if not (
                isinstance(metadata, dict)
                and isinstance(metadata.get("event_type"), str)
                and isinstance(metadata.get("event_payload", {}), dict)
            ):
                raise SlackError("invalid_metadata_format")
            message["metadata"] = {
                "event_type": metadata["event_type"],
                "event_payload": metadata.get("event_payload", {}),
            }

    def _post(self, p: dict) -> dict:
        channel = self._channel(p, by_name=True, open_dm=True)
        if channel.is_archived:
            raise SlackError("is_archived")
        if not channel.is_im and BOT_USER_ID not in channel.members:
            raise SlackError("not_in_channel")  # a bot token posts only where the bot is a member
        # Legacy attachments count as content but are not echoed back.
        message = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "team": TEAM_ID}
        self._content(p, message)
        message["ts"] = self._next_ts()
        thread_ts = p.get("thread_ts")
        parent = next((m for m in channel.messages if m["ts"] == thread_ts), None) if thread_ts else None
        if parent is not None:
            message["thread_ts"] = parent["ts"]
            parent.update(
                thread_ts=parent["ts"],
                reply_count=parent.get("reply_count", 0) + 1,
                latest_reply=message["ts"],
            )
            if _flag(p.get("reply_broadcast")):
                message["subtype"] = "thread_broadcast"
        channel.messages.append(message)
        return {"channel": channel.id, "ts": message["ts"], "message": self._wire_message(message, True)}

    def _update(self, p: dict) -> dict:
        channel = self._channel(p)  # chat.update takes the channel's id only
        message = next((m for m in channel.messages if m["ts"] == p.get("ts")), None)
        if message is None:
            raise SlackError("message_not_found")
        updated = dict(message)
        updated.pop("blocks", None)
        self._content(p, updated)
        message.clear()
        message.update(updated)
        return {
            "channel": channel.id,
            "ts": message["ts"],
            "text": message["text"],
            "message": self._wire_message(message, True),
        }

    def _lookup_by_email(self, p: dict) -> dict:
        email = str(p.get("email") or "").lower()
        for user_id, user in (self.users or {}).items():
            if str(user.get("email", "")).lower() == email:
                name = user.get("name", user_id)
                profile = {
                    "real_name": name,
                    "real_name_normalized": name,
                    "display_name": name,
                    "display_name_normalized": name,
                    "email": user["email"],
                    "avatar_hash": "",
                    "title": "",
                    "phone": "",
                    "skype": "",
                    "status_text": "",
                    "status_emoji": "",
                    "fields": None,
                    "team": TEAM_ID,
                }
                return {
                    "user": {
                        "id": user_id,
                        "team_id": TEAM_ID,
                        "name": name,
                        "real_name": name,
                        "deleted": False,
                        "is_bot": False,
                        "is_app_user": False,
                        "updated": int(time.time()),
                        "profile": profile,
                    }
                }
        raise SlackError("users_not_found")
