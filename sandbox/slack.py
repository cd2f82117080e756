"""A Slack Web API that `slack_sdk`'s AsyncWebClient can be pointed at (`base_url=fake.url`).

Held to the published OpenAPI 2.0 spec (slackapi/slack-api-specs, 2021): every answer has the
shape and the error codes the spec gives for that method, and errors are HTTP 200 with
`ok: false`, as Slack does. The spec predates message `metadata` (2022) and the
`include_all_metadata` flag of conversations.history: they are accepted and answered as the
real API does today, and the contract test states those additions explicitly.

Threads as Slack keeps them: conversations.history answers a channel's top-level messages (and
replies also sent to the channel), never other replies; conversations.replies answers a thread by
its parent's or any reply's ts. People's replies, edits, deletions (a thread's parent stays as a
tombstone) and other apps' posts are made with `reply_as`, `edit_as`, `delete_as`, `post_as_app`.

Interactivity (issue 15, the section at the end): chat.postEphemeral, views.open/update/push with
single-use 3-second trigger_ids, users.info, reactions.add/remove, and a response_url per
interaction served at `POST {root_url}/response/<token>`. `sandbox.slack_user.SlackUser` acts as
a person: it registers each interaction here (`new_interaction`) and posts it, signed, to the app."""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from sandbox.base import Call, FakeServer
from sandbox.slack_files import UPLOAD_PATH, SlackFiles, upload_params

DEFAULT_TOKEN = "xoxb-sandbox-token"
TEAM_ID = "TSANDBOX01"
BOT_USER_ID = "USANDBOXBOT"
BOT_ID = "BSANDBOXBOT"
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
NAME_CHARS = re.compile(r"^[a-z0-9_-]+$")
MAX_TEXT = 40_000
MAX_TOPIC = 250
RESPONSE_PATH = "/response/"  # where the fake serves each interaction's response_url


class SlackError(Exception):
    """An `ok: false` answer."""

    def __init__(self, error: str, errors: list[dict] | None = None):
        super().__init__(error)
        self.error = error
        self.errors = errors  # conversations.invite: one {"ok", "error", "user"} per user refused


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


class SlackFake(SlackFiles, FakeServer):
    """The Web API above; file uploads (files.getUploadURLExternal, the upload URL,
    files.completeUploadExternal) are sandbox/slack_files.py's."""

    prefix = "/api/"

    def __init__(
        self,
        *,
        tokens: set[str] | frozenset[str] = frozenset({DEFAULT_TOKEN}),
        users: dict[str, dict] | None = None,
        channels: tuple[str, ...] = ("general",),
        signing_secret: str | None = None,
        **kw,
    ):
        """`users`: user id -> {"name", "email"} (and optionally "guest": "single" or "multi", the
        guest's own channels in "in", "deleted": True); None accepts any well-formed user id.
        `channels`: public channels that exist from the start (the first is #general).
        `signing_secret`: the app's, so another process can act as a person (POST /_sandbox/act)."""
        super().__init__(**kw)
        self.signing_secret = signing_secret
        self.tokens = set(tokens)
        self.users = users
        self.invite_refusals: dict[str, str] = {}  # user id -> the error conversations.invite answers
        self._seed = channels
        self._last_ts = 0
        self._ids = 0
        self.channels: dict[str, Channel] = {}
        self._methods = {
            "auth.test": self._auth_test,
            "conversations.archive": self._archive,
            "conversations.create": self._create,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
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
        self._methods.update(self._interaction_methods())
        self._methods.update(self._file_methods())
        self._reset_interactions()
        self._reset_files()
        self._reseed()

    # helpers for tests and the demo ----------------------------------------------------------

    def archive_as_a_person(self, name: str) -> None:
        """A workspace clean-up archives the channel (the bot is not told)."""
        self.channel_by_name(name).is_archived = True

    def delete_as_a_person(self, name: str) -> None:
        """An admin deletes the channel: every later call naming it gets channel_not_found, and
        its name is free again."""
        del self.channels[self.channel_by_name(name).id]

    def refuse_invites(self, user_id: str, error: str) -> None:
        """conversations.invite answers `error` for this user from now on (any per-user refusal
        Slack documents for it, e.g. `user_is_restricted`, `cant_invite`)."""
        self.invite_refusals[user_id] = error

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
        self._reset_interactions()
        self._reset_files()
        self._reseed()

    async def control(self, what: str, body: Any) -> web.Response:
        """POST /_sandbox/act: act as a person in the workspace (sandbox/slack_control.py)."""
        if what != "act" or not self.signing_secret or not isinstance(body, dict):
            return await super().control(what, body)
        from sandbox.slack_control import act  # it imports this module

        return await act(self, self.signing_secret, body)

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
        return {**super().snapshot(), "channels": channels, **self._interaction_snapshot()}

    # wire ------------------------------------------------------------------------------------

    async def parse(self, request: web.Request, raw: bytes) -> dict:
        """slack_sdk sends JSON bodies (chat.postMessage), form bodies, and query strings (GET
        methods, and conversations.create & co. as POST with the arguments in the URL)."""
        if request.path.startswith(UPLOAD_PATH):
            return upload_params(request.content_type, raw)
        params: dict[str, Any] = dict(request.query)
        if not raw:
            return params
        if request.content_type == "application/json" or request.path.startswith(RESPONSE_PATH):
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
        if request.path.startswith(RESPONSE_PATH):
            return self._respond(request.path.removeprefix(RESPONSE_PATH), params)
        if request.path.startswith(UPLOAD_PATH):
            return self._take_bytes(request.path.removeprefix(UPLOAD_PATH), params)
        method = self._methods.get(request.path.removeprefix(self.prefix))
        try:
            if method is None:
                raise SlackError("unknown_method")
            self._check_auth(request.headers.get("Authorization", ""))
            if "_error" in params:
                raise SlackError(params["_error"])
            return 200, {"ok": True, **method(params)}, {}
        except SlackError as e:
            return 200, {"ok": False, "error": e.error, **({"errors": e.errors} if e.errors else {})}, {}

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
        self.invite_refusals.clear()
        for i, name in enumerate(self._seed):
            channel = self._new_channel(name, is_general=(i == 0))
            channel.members += [u for u, user in (self.users or {}).items() if user.get("in") == name]

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
        """All or nothing, as Slack does without `force`: one user refused and nobody is invited;
        the answer's `error` is the first refusal and `errors` has one entry per refused user.
        With `force=true` the others are invited and the refusals still answered."""
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
        refused = [(u, why) for u in dict.fromkeys(users) if (why := self._cannot_join(u, channel))]
        new = [u for u in dict.fromkeys(users) if u not in channel.members and u not in dict(refused)]
        if refused and _flag(p.get("force")):
            channel.members.extend(new)
        if refused:
            raise SlackError(refused[0][1], [{"ok": False, "error": e, "user": u} for u, e in refused])
        if not new:
            raise SlackError("already_in_channel")
        channel.members.extend(new)
        return {"channel": self._conversation(channel)}

    def _cannot_join(self, user: str, channel: Channel) -> str | None:
        """Why Slack refuses to invite `user` here: unknown (`user_not_found`), the bot itself
        (`cant_invite_self`), a deactivated account (`cant_invite`), a single-channel guest
        already in their one channel (`ura_max_channels`), or what `refuse_invites` set."""
        if user == BOT_USER_ID:
            return "cant_invite_self"
        if not self._known_user(user):
            return "user_not_found"
        if user in channel.members:
            return None
        known = (self.users or {}).get(user, {})
        if forced := self.invite_refusals.get(user):
            return forced
        if known.get("deleted"):
            return "cant_invite"
        if known.get("guest") == "single" and any(
            user in c.members for c in self.channels.values() if not c.is_im
        ):
            return "ura_max_channels"
        return None

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

    def _replies(self, p: dict) -> dict:
        """conversations.replies: the thread `ts` belongs to (its parent's ts or any reply's), the
        parent first and then the replies oldest first within latest/oldest/inclusive; an
        unthreaded message alone. As Slack does, the parent leads every page whatever the window.
        `thread_not_found` for a ts the channel does not hold (a deleted message)."""
        channel = self._channel(p)
        if not channel.is_im and BOT_USER_ID not in channel.members:
            raise SlackError("not_in_channel")
        ts = str(p.get("ts") or "")
        message = next((m for m in channel.messages if m["ts"] == ts), None)
        if message is None:
            raise SlackError("thread_not_found")
        root = message.get("thread_ts", message["ts"])
        parent = next((m for m in channel.messages if m["ts"] == root), None)
        if parent is None:
            raise SlackError("thread_not_found")
        latest, oldest, inclusive = p.get("latest"), p.get("oldest"), _flag(p.get("inclusive"))
        for value, error in ((latest, "invalid_ts_latest"), (oldest, "invalid_ts_oldest")):
            if value is not None and not re.match(r"^\d+(\.\d+)?$", str(value)):
                raise SlackError(error)

        def in_window(m: dict) -> bool:
            at = float(m["ts"])
            if latest is not None and (at > float(latest) or (at == float(latest) and not inclusive)):
                return False
            return oldest is None or at > float(oldest) or (at == float(oldest) and inclusive)

        replies = [m for m in channel.messages if m.get("thread_ts") == root and m["ts"] != root]
        replies = [m for m in replies if in_window(m)]
        limit = _int(p.get("limit"), 10, 1, 1000)
        start = _offset(p.get("cursor"))
        page, more = replies[start : start + limit], start + limit < len(replies)
        with_metadata = _flag(p.get("include_all_metadata"))
        answer = {
            "messages": [self._wire_message(m, with_metadata) for m in [parent, *page]],
            "has_more": more,
        }
        if more:
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
            _check_block_kit(blocks)
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
        if self._in_thread(channel, message, p.get("thread_ts")) and _flag(p.get("reply_broadcast")):
            message["subtype"] = "thread_broadcast"
        channel.messages.append(message)
        return {"channel": channel.id, "ts": message["ts"], "message": self._wire_message(message, True)}

    def _in_thread(self, channel, message: dict, thread_ts: object) -> bool:
        """Make `message` a reply under `thread_ts` when that message is in `channel` (its parent
        counts the reply), as Slack threads it; False when it is not a reply (no such parent)."""
        parent = next((m for m in channel.messages if m["ts"] == thread_ts), None) if thread_ts else None
        if parent is None:
            return False
        message["thread_ts"] = parent["ts"]
        parent.update(
            thread_ts=parent["ts"], reply_count=parent.get("reply_count", 0) + 1, latest_reply=message["ts"]
        )
        return True

    def _update(self, p: dict) -> dict:
        channel = self._channel(p)  # chat.update takes the channel's id only
        message = next((m for m in channel.messages if m["ts"] == p.get("ts")), None)
        if message is None:
            raise SlackError("message_not_found")
        if message.get("user") != BOT_USER_ID:
            raise SlackError("cant_update_message")  # a bot edits only its own messages
        updated = dict(message)
        if "blocks" in p:  # left out, the blocks stay; `[]` removes them (chat.update's docs)
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
                return {"user": _user_object(user_id, user)}
        raise SlackError("users_not_found")

    # interactivity (issue 15): what people do in Slack, and the app's answers -------------------

    def _interaction_methods(self) -> dict:
        return {
            "chat.postEphemeral": self._post_ephemeral,
            "views.open": lambda p: self._open_view(p, push=False),
            "views.push": lambda p: self._open_view(p, push=True),
            "views.update": self._update_view,
            "users.info": self._user_info,
            "reactions.add": lambda p: self._react(p, BOT_USER_ID, removed=False),
            "reactions.remove": lambda p: self._react(p, BOT_USER_ID, removed=True),
        }

    def _reset_interactions(self) -> None:
        self.trigger_ttl = 3.0  # seconds a trigger_id is good for (Slack: 3)
        self.response_ttl = 30 * 60.0  # seconds a response_url is good for (Slack: 30 minutes)
        self.response_uses = 5  # posts one response_url takes (Slack: 5)
        self.interactions: dict[str, Interaction] = {}  # by response_url token
        self.triggers: dict[str, Trigger] = {}
        self.views: dict[str, dict] = {}  # view id -> the view object as Slack answers it
        self.view_owner: dict[str, str] = {}  # view id -> the user it was opened for
        self.ephemerals: list[dict] = []  # what each user saw only for themselves, in order
        self.responses: list[dict] = []  # every response_url post: {"token", "body", "error"}

    def new_interaction(
        self, user_id: str, channel_id: str | None = None, message_ts: str | None = None, view_id: str = ""
    ) -> Interaction:
        """A fresh trigger_id (good once, for `trigger_ttl` seconds) and response_url (good
        `response_uses` times for `response_ttl` seconds) for something `user_id` just did."""
        now = time.monotonic()
        trigger_id = f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
        self.triggers[trigger_id] = Trigger(user_id, now, view_id)
        token = secrets.token_urlsafe(18)
        self.interactions[token] = Interaction(
            trigger_id, f"{self.root_url}{RESPONSE_PATH}{token}", user_id, channel_id, message_ts, now
        )
        return self.interactions[token]

    def ephemeral(self, user_id: str) -> list[dict]:
        """The ephemeral messages `user_id` saw (chat.postEphemeral or a response_url), oldest first:
        {"channel", "user", "ts", "text", "blocks"?, "thread_ts"?, "via"}."""
        return [m for m in self.ephemerals if m["user"] == user_id]

    def views_for(self, user_id: str) -> list[dict]:
        """The views opened for `user_id` that are still open, oldest first (as views.open answered,
        updated since)."""
        return [v for i, v in self.views.items() if self.view_owner[i] == user_id and not v.get("_closed")]

    def post_as(self, user_id: str, channel: str, text: str) -> dict:
        """A person's own message (the bot cannot chat.update it)."""
        target = self.channels.get(channel) or self.channel_by_name(channel)
        message = {"type": "message", "user": user_id, "team": TEAM_ID, "text": text, "ts": self._next_ts()}
        target.messages.append(message)
        return message

    def reply_as(
        self, user_id: str, channel: str, thread_ts: str, text: str, broadcast: bool = False
    ) -> dict:
        """A person's reply in the thread of `thread_ts` (also sent to the channel: `broadcast`)."""
        target = self.channels.get(channel) or self.channel_by_name(channel)
        parent = next(m for m in target.messages if m["ts"] == thread_ts)
        message = self.post_as(user_id, target.id, text)
        message["thread_ts"] = parent["ts"]
        message["parent_user_id"] = parent.get("user", "")
        if broadcast:
            message["subtype"] = "thread_broadcast"
        parent.update(
            thread_ts=parent["ts"], reply_count=parent.get("reply_count", 0) + 1, latest_reply=message["ts"]
        )
        return message

    def post_as_app(self, channel: str, *, bot_id: str, name: str, text: str = "", **content) -> dict:
        """Another app's message (a monitoring tool, a CI bot): `subtype: bot_message`, no `user`,
        often its words only in `attachments` or `blocks` (`content`)."""
        target = self.channels.get(channel) or self.channel_by_name(channel)
        message = {
            "type": "message",
            "subtype": "bot_message",
            "bot_id": bot_id,
            "username": name,
            "text": text,
            "ts": self._next_ts(),
            **content,
        }
        if isinstance(content.get("attachments"), list):  # Slack numbers a message's attachments
            message["attachments"] = [{"id": i, **a} for i, a in enumerate(content["attachments"], 1)]
        target.messages.append(message)
        return message

    def edit_as(self, user_id: str, channel: str, ts: str, text: str) -> dict:
        """The author edits their message: new text, and `edited` {user, ts}, as Slack keeps it."""
        target = self.channels.get(channel) or self.channel_by_name(channel)
        message = next(m for m in target.messages if m["ts"] == ts)
        message.update(text=text, edited={"user": user_id, "ts": self._next_ts()})
        return message

    def delete_as(self, channel: str, ts: str) -> None:
        """The author (or an admin) deletes a message. A thread's parent with replies stays as a
        tombstone ("This message was deleted.", `subtype: tombstone`), as Slack shows it."""
        target = self.channels.get(channel) or self.channel_by_name(channel)
        message = next(m for m in target.messages if m["ts"] == ts)
        if message.get("reply_count"):
            kept = {k: message[k] for k in ("type", "ts", "thread_ts", "reply_count", "latest_reply")}
            message.clear()
            message.update(kept, subtype="tombstone", text="This message was deleted.", user="USLACKBOT")
        else:
            target.messages.remove(message)

    def react_as(self, user_id: str, channel: str, ts: str, name: str, removed: bool = False) -> dict:
        """A person adds (or removes) a reaction; the message reacted to, as stored."""
        self._react({"channel": channel, "timestamp": ts, "name": name}, user_id, removed)
        return next(m for m in self._channel({"channel": channel}, by_name=True).messages if m["ts"] == ts)

    def answer_submission(self, view_id: str, answer: dict) -> None:
        """What Slack does with the app's answer to a view_submission: close the view (an empty
        answer), close its whole stack (`clear`), replace it (`update`) or stack one on it
        (`push`); `errors` leaves it open."""
        action = answer.get("response_action")
        root = self.views[view_id]["root_view_id"]
        if action is None or action == "clear":
            for other in self.views.values():
                if other["id"] == view_id or (action == "clear" and other["root_view_id"] == root):
                    other["_closed"] = True
        elif action == "update":
            self._update_view({"view_id": view_id, "view": answer.get("view")})
        elif action == "push":
            trigger = self.new_interaction(self.view_owner[view_id], view_id=view_id).trigger_id
            self._open_view({"trigger_id": trigger, "view": answer.get("view")}, push=True)

    def _interaction_snapshot(self) -> dict:
        views = [{**self._wire_view(i), "user": self.view_owner[i]} for i in self.views]
        return {"ephemerals": self.ephemerals, "views": views, "responses": self.responses}

    def _post_ephemeral(self, p: dict) -> dict:
        channel = self._channel(p, by_name=True)
        if channel.is_archived:
            raise SlackError("is_archived")
        user = str(p.get("user") or "")
        in_channel = user == channel.name if channel.is_im else channel.is_general or user in channel.members
        if not in_channel:
            raise SlackError("user_not_in_channel")
        message = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID}
        self._content(p, message)
        message.pop("metadata", None)  # ephemeral messages carry no metadata
        message.update(ts=self._next_ts(), channel=channel.id, via="chat.postEphemeral")
        if p.get("thread_ts"):
            message["thread_ts"] = str(p["thread_ts"])
        self.ephemerals.append({**message, "user": user})
        return {"message_ts": message["ts"]}

    def _take_trigger(self, p: dict) -> Trigger:
        trigger = self.triggers.get(str(p.get("trigger_id") or ""))
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if time.monotonic() - trigger.issued > self.trigger_ttl:
            raise SlackError("expired_trigger_id")
        trigger.used = True
        return trigger

    def _view_arg(self, p: dict) -> dict:
        view = _json_field(p.get("view"), "invalid_arguments")
        if not (
            isinstance(view, dict) and view.get("type") == "modal" and isinstance(view.get("title"), dict)
        ):
            raise SlackError("invalid_arguments")
        blocks = view.get("blocks")
        if not isinstance(blocks, list) or len(blocks) > 100 or not all("type" in b for b in blocks):
            raise SlackError("invalid_arguments")
        return view

    def _open_view(self, p: dict, push: bool) -> dict:
        """views.open / views.push: a modal for the trigger's user; a push stacks it on that
        user's open modal (at most 3 deep, as Slack)."""
        view = self._view_arg(p)
        trigger = self._take_trigger(p)
        under = None
        if push:
            under = self.views.get(trigger.view_id) or next(iter(self.views_for(trigger.user)[-1:]), None)
            if under is None:
                raise SlackError("not_found")
            if sum(v["root_view_id"] == under["root_view_id"] for v in self.views_for(trigger.user)) >= 3:
                raise SlackError("push_limit_reached")
        external_id = view.get("external_id", "")
        if external_id and any(v["external_id"] == external_id for v in self.views.values()):
            raise SlackError("duplicate_external_id")
        view_id = self._new_id("V")
        self.views[view_id] = self._view_object(view_id, view, under)
        self.view_owner[view_id] = trigger.user
        return {"view": self._wire_view(view_id)}

    def _update_view(self, p: dict) -> dict:
        external_id = p.get("external_id")
        view_id = p.get("view_id") or next(
            (i for i, v in self.views.items() if external_id and v["external_id"] == external_id), None
        )
        if view_id not in self.views or self.views[view_id].get("_closed"):
            raise SlackError("not_found")
        current = self.views[view_id]
        if p.get("hash") and p["hash"] != current["hash"]:
            raise SlackError("hash_conflict")  # someone updated it since this caller read it
        under = self.views.get(current["previous_view_id"] or "")
        view = {"external_id": current["external_id"], **self._view_arg(p)}  # the id stays
        self.views[view_id] = self._view_object(view_id, view, under, root=current["root_view_id"])
        return {"view": self._wire_view(view_id)}

    def _view_object(self, view_id: str, view: dict, under: dict | None, root: str = "") -> dict:
        """The view as Slack stores and answers it (views.open's documented response)."""
        return {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": "modal",
            "title": view["title"],
            "submit": view.get("submit"),
            "close": view.get("close"),
            "blocks": view["blocks"],
            "private_metadata": str(view.get("private_metadata", "")),
            "callback_id": str(view.get("callback_id", "")),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": root or (under["root_view_id"] if under else view_id),
            "previous_view_id": under["id"] if under else None,
            "app_id": APP_ID,
            "external_id": str(view.get("external_id", "")),
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }

    def _wire_view(self, view_id: str) -> dict:
        return {k: v for k, v in self.views[view_id].items() if not k.startswith("_")}

    def _user_info(self, p: dict) -> dict:
        """users.info: the user object, with profile.email (users:read.email)."""
        user_id = str(p.get("user") or "")
        if user_id == BOT_USER_ID:
            return {"user": _user_object(user_id, {"name": "irp-bot"}, is_bot=True)}
        if self.users is not None and user_id in self.users:
            return {"user": _user_object(user_id, self.users[user_id])}
        if self.users is None and USER_ID.match(user_id):
            return {"user": _user_object(user_id, {"name": user_id})}  # no email known
        raise SlackError("user_not_found")

    def _react(self, p: dict, user_id: str, removed: bool) -> dict:
        """reactions.add / reactions.remove on a message, by the bot (or a person: react_as)."""
        if not p.get("channel") or not p.get("timestamp"):
            raise SlackError("no_item_specified")
        name = str(p.get("name") or "")
        if not re.match(r"^[a-z0-9_+'-]+$", name):
            raise SlackError("invalid_name")
        channel = self._channel(p, by_name=True)
        message = next((m for m in channel.messages if m["ts"] == p["timestamp"]), None)
        if message is None:
            raise SlackError("message_not_found")
        reactions = message.get("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if removed:
            if reaction is None or user_id not in reaction["users"]:
                raise SlackError("no_reaction")
            reaction["users"].remove(user_id)
        elif reaction is None:
            reactions.append({"name": name, "users": [user_id], "count": 1})
        elif user_id in reaction["users"]:
            raise SlackError("already_reacted")
        else:
            reaction["users"].append(user_id)
        reactions = [{**r, "count": len(r["users"])} for r in reactions if r["users"]]
        if reactions:
            message["reactions"] = reactions
        else:
            message.pop("reactions", None)
        return {}

    def _respond(self, token: str, body: dict) -> tuple[int, Any, dict]:
        """POST to a response_url: `{"text", "blocks", "response_type": "ephemeral" (the default)
        | "in_channel", "replace_original", "delete_original", "thread_ts"}`. Replaces or deletes
        the message the interaction came from, or posts a new one (ephemeral to the person, or in
        the channel as the app). Answers `{"ok": true}`; 404 `expired_url` after `response_ttl`
        or for an unknown token, `used_url` after `response_uses` posts, 400 `invalid_payload`
        / `no_text` (hooks.slack.com's codes: the Web API spec does not cover response_url)."""
        interaction = self.interactions.get(token)
        record = {"token": token, "body": body, "error": None}
        self.responses.append(record)
        status, error = 200, None
        if interaction is None or time.monotonic() - interaction.issued > self.response_ttl:
            status, error = 404, "expired_url"
        elif interaction.uses >= self.response_uses:
            status, error = 404, "used_url"
        else:
            interaction.uses += 1
            try:
                self._apply_response(interaction, body)
            except SlackError as e:
                status, error = 400, e.error
        record["error"] = error
        return status, ({"ok": True} if error is None else {"ok": False, "error": error}), {}

    def _apply_response(self, interaction: Interaction, body: dict) -> None:
        if "_error" in body:
            raise SlackError("invalid_payload")
        channel = self.channels.get(interaction.channel_id or "")
        ts, user = interaction.message_ts, interaction.user_id
        messages = channel.messages if channel else []
        original = next((m for m in messages if m["ts"] == ts), None)
        if original is None:  # the click was on an ephemeral message: only its user's copy changes
            messages = self.ephemerals
            original = next((m for m in messages if m["ts"] == ts and m["user"] == user), None)
        if _flag(body.get("delete_original")):
            if original is not None:
                messages.remove(original)
            return
        if _flag(body.get("replace_original")) and original is not None:
            replaced = {k: v for k, v in original.items() if k not in ("text", "blocks")}
            self._content(body, replaced)
            original.clear()
            original.update(replaced, edited={"user": BOT_USER_ID, "ts": self._next_ts()})
            return
        message = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID}
        self._content(body, message)
        message.pop("metadata", None)
        if channel is None:
            raise SlackError("channel_not_found")
        if body.get("response_type") == "in_channel":
            channel.messages.append({**message, "team": TEAM_ID, "ts": self._next_ts()})
        else:
            message.update(ts=self._next_ts(), channel=channel.id, via="response_url")
            self.ephemerals.append({**message, "user": interaction.user_id})


APP_ID = "ASANDBOXAPP"


@dataclass
class Trigger:
    """A trigger_id: whose interaction made it, when (monotonic seconds), from which view if any."""

    user: str
    issued: float
    view_id: str = ""
    used: bool = False


@dataclass
class Interaction:
    """What a person's click or command gives the app to answer with."""

    trigger_id: str
    response_url: str
    user_id: str
    channel_id: str | None
    message_ts: str | None
    issued: float
    uses: int = 0


# Block Kit's documented limits (https://api.slack.com/reference/block-kit/blocks and
# /block-elements): Slack answers `invalid_blocks` for a message that breaks one.
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_ACTION_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTION_ID = 255


def _check_block_kit(blocks: list[dict]) -> None:
    """A message's blocks within Block Kit's limits, else SlackError("invalid_blocks")."""
    if len(blocks) > MAX_BLOCKS:
        raise SlackError("invalid_blocks")
    for block in blocks:
        text = (block.get("text") or {}).get("text", "") if block["type"] == "section" else ""
        elements = block.get("elements") or [] if block["type"] == "actions" else []
        if len(text) > MAX_SECTION_TEXT or len(elements) > MAX_ACTION_ELEMENTS:
            raise SlackError("invalid_blocks")
        for e in elements:
            if e.get("type") == "button" and (
                len((e.get("text") or {}).get("text", "")) > MAX_BUTTON_TEXT
                or len(str(e.get("value", ""))) > MAX_BUTTON_VALUE
                or len(str(e.get("action_id", ""))) > MAX_ACTION_ID
            ):
                raise SlackError("invalid_blocks")


def _user_object(user_id: str, user: dict, is_bot: bool = False) -> dict:
    """A users.info `user` (objs_user); profile.email only when the fake knows one."""
    name = user.get("name", user_id)
    profile = {
        "real_name": name,
        "real_name_normalized": name,
        "display_name": name,
        "display_name_normalized": name,
        "avatar_hash": "",
        "title": "",
        "phone": "",
        "skype": "",
        "status_text": "",
        "status_emoji": "",
        "fields": None,
        "team": TEAM_ID,
    }
    if user.get("email"):
        profile["email"] = user["email"]
    return {
        "id": user_id,
        "team_id": TEAM_ID,
        "name": name,
        "real_name": name,
        "deleted": bool(user.get("deleted")),
        "is_bot": is_bot,
        "is_restricted": user.get("guest") in ("single", "multi"),
        "is_ultra_restricted": user.get("guest") == "single",
        "is_app_user": False,
        "updated": int(time.time()),
        "profile": profile,
    }
