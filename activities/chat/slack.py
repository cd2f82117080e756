"""The bridge on Slack: the Web API (https://api.slack.com/methods) through slack_sdk's
AsyncWebClient, with its rate-limit retries. A person's Slack user is found by email
(users.lookupByEmail, cached per worker; needs the `users:read.email` scope), else it is
`contacts.slack` in the roster (`U…` or `W…`); `<person:EMAIL>` tokens become `<@U…>` mentions."""

from __future__ import annotations

import logging
import re
import ssl
import time
from collections.abc import Iterable
from datetime import timedelta

import aiohttp
from pydantic import Field, SecretStr
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from activities.chat import PERSON_TOKEN, BridgeLost, Directory, FileUpload
from activities.errors import give_up, rate_limited, try_again
from activities.settings import SharedSettings, secret
from plan.alert_digest import clip
from plan.bridge_proof import SeenChannel
from plan.buttons import ChatButton
from plan.models import Person

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")  # Slack's user ids: U… (or W… on Enterprise Grid)
METADATA_EVENT = "preskool_irp_message"
# chat.postMessage's documented limit on `text`, and room for the "… (truncated, N more characters)".
MAX_TEXT = 40_000
CUT_NOTE = 60
PART = MAX_TEXT - 200  # one follow-up message of a cut text (room for its header and note)
SECTION = 3_000  # Block Kit: a section's text is at most 3,000 characters
MORE_PARTS = 12  # follow-ups of one cut text: about 480,000 characters in all
# What a workspace does to a channel: the bridge is reopened (Chat.rejoin), or, deleted, continued
# in a new channel by the workflow; then the post is sent again.
LOST = {"is_archived", "not_in_channel", "channel_not_found"}
# The only errors waiting can clear (Slack's own trouble; 429s are ridden out by the retry
# handler first). Every other error code is final: it fails the step once, visibly, so an
# error that will never clear (restricted_action, account_inactive, invalid_auth, or one
# this code has never heard of) never holds the chat lane.
# conversations.invite's refusals of one person (Slack's method documentation), in words for the IC.
INVITE_REFUSALS = {
    "ura_max_channels": "a single-channel guest already in their one channel; a Slack admin must make "
    "them a multi-channel guest or a member",
    "user_is_restricted": "a guest account this app may not invite",
    "user_is_ultra_restricted": "a single-channel guest this app may not invite",
    "cant_invite": "Slack does not let this account be invited here (deactivated, or not allowed in "
    "this channel)",
    "user_not_found": "Slack does not know this user",
    "user_is_bot": "a bot user",
    "cant_invite_self": "the app's own user",
    "user_disabled": "a deactivated account",
}
TRANSIENT_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
# users.lookupByEmail answers kept per worker: found users for good (bounded), "no such user" a while.
USERS_KEPT = 2048
MISS_KEPT_SECONDS = 600.0
# A 429 is waited out in place (its Retry-After, plus up to 1 s of slack_sdk's jitter) while one
# request's waits stay within IN_PLACE_WAIT seconds, so a burst of 429s never fails a step (each
# step has 60 s). A longer wait goes back to Temporal, whose retry waits Retry-After too.
IN_PLACE_WAIT = 20
IN_PLACE_TRIES = 10

log = logging.getLogger(__name__)


def retry_after(headers) -> int | None:
    """A 429's Retry-After in whole seconds (Slack sends an integer), None when absent or unreadable.
    `headers`: aiohttp's, or slack_sdk's retry view of them (each value a list)."""
    value = next((v for k, v in (headers or {}).items() if k.lower() == "retry-after"), None)
    value = value[0] if isinstance(value, list) and value else value
    try:
        return max(0, int(str(value)))
    except ValueError:
        return None


class RateLimitWait(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 handler (it sleeps Retry-After plus up to 1 s, then sends the same request
    again: a 429 means Slack did nothing), bounded by the total wait of one request."""

    def __init__(self, budget: float = IN_PLACE_WAIT, tries: int = IN_PLACE_TRIES):
        super().__init__(max_retry_count=tries)
        self.budget = budget

    async def _can_retry_async(self, *, state, request, response=None, error=None) -> bool:
        if response is None or response.status_code != 429:
            return False
        waited = (state.custom_values or {}).get("waited", 0.0)
        after = retry_after(response.headers)
        if after is None and any(k.lower() == "retry-after" for k in response.headers):
            return False  # slack_sdk's own wait would fail to read it: Temporal's retry waits instead
        wait = (1 if after is None else after) + 1  # slack_sdk waits 1 s without one; its jitter < 1 s
        if waited + wait > self.budget:
            return False
        state.custom_values = {**(state.custom_values or {}), "waited": waited + wait}
        return True


def blocks(text: str, buttons: list[ChatButton]) -> list[dict]:
    """The message as Block Kit (https://api.slack.com/block-kit): the text in sections of at most
    3,000 characters (Slack's limit per section; at most 45 of them), then the buttons."""
    sections = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text[i : i + SECTION]}}
        for i in range(0, min(len(text), SECTION * 45), SECTION)
    ]
    elements = [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": b.label},
            "action_id": b.action,
            "value": b.value,
            **({"style": b.style} if b.style else {}),
        }
        for b in buttons
    ]
    return [*sections, {"type": "actions", "block_id": "irp-actions", "elements": elements}]


def not_full_member(user: dict) -> str | None:
    """Why a Slack user (users.info / users.lookupByEmail `user`) is not a full member of the
    workspace, or None: guests (`is_restricted`, `is_ultra_restricted`), bots, deactivated
    accounts and members of another workspace (Slack Connect: `is_stranger`) are not."""
    for flag, why in (
        ("deleted", "their Slack account is deactivated"),
        ("is_bot", "it is a bot"),
        ("is_app_user", "it is an app"),
        ("is_ultra_restricted", "they are a single-channel guest in Slack"),
        ("is_restricted", "they are a guest in Slack"),
        ("is_stranger", "they belong to another workspace (Slack Connect)"),
    ):
        if user.get(flag):
            return f"{why} ({flag}); only full members may hold this role"
    return None


def slack_error(e: SlackApiError) -> str:
    """Slack's error code; a 5xx from a proxy has a text body and no code."""
    data = e.response.data
    return (data.get("error") if isinstance(data, dict) else None) or f"HTTP {e.response.status_code}"


class SlackSettings(SharedSettings):
    """SLACK_BOT_TOKEN turns Slack on; SLACK_API_URL for a proxy or a fake."""

    slack_bot_token: SecretStr | None = Field(
        None,
        description=(
            "The Slack app's bot token (xoxb-…): turns Slack on; its scopes are in deploy/slack-app-"
            "manifest.yaml."
        ),
    )
    slack_api_url: str = Field(
        "https://slack.com/api/",
        description="Slack's Web API, or a proxy or the sandbox in its place.",
    )


class SlackChat:
    """The bridge on Slack. Posts carry message metadata naming the incident and the message's
    key, so a retried post finds the first one instead of posting twice."""

    name = "slack"
    Settings = SlackSettings
    enabled_by = ("SLACK_BOT_TOKEN",)

    @classmethod
    def from_settings(cls, settings: SlackSettings, people: tuple[Person, ...] = ()) -> SlackChat | None:
        """None when SLACK_BOT_TOKEN is unset; ValueError for a roster Slack id that is not one."""
        token = secret(settings.slack_bot_token)
        return cls(token, settings.slack_api_url, settings.ssl_context, people) if token else None

    def __init__(self, token: str, api_url: str, ssl_context: ssl.SSLContext, people: Iterable[Person] = ()):
        """`people`: the roster this worker serves. Their Slack ids are checked here, so a typo
        stops the worker at start rather than a mention or an invitation mid-incident."""
        bad = {
            p.email: p.contacts[self.name]
            for p in people
            if self.name in p.contacts and not USER_ID.match(p.contacts[self.name])
        }
        if bad:
            raise ValueError(
                "roster contacts.slack must be Slack user ids (U… or W…, capitals and "
                "digits): " + ", ".join(f"{email}: {value!r}" for email, value in bad.items())
            )
        self.client = AsyncWebClient(
            token=token,
            base_url=api_url,
            ssl=ssl_context,
            timeout=15,
            # A 429 means Slack did nothing: retrying in place is safe. A 5xx may come after Slack
            # acted, so it goes back to Temporal, whose retry looks for the first post before posting.
            retry_handlers=[RateLimitWait()],
        )
        self._me: str | None = None  # the bot's own user id (auth.test), asked once
        self._users: dict[str, str] = {}  # email → Slack user id, from users.lookupByEmail
        self._missed: dict[str, float] = {}  # email → when Slack said users_not_found (monotonic s)

    async def bot_user(self) -> str:
        """The bot's own Slack user id (auth.test, asked once per worker)."""
        if self._me is None:
            self._me = (await self._call("auth.test", self.client.auth_test))["user_id"]
        return self._me

    @staticmethod
    def _seen(ch: dict) -> SeenChannel:
        purpose = ch.get("purpose") or {}
        return SeenChannel(
            id=ch["id"],
            name=ch.get("name", ""),
            creator=ch.get("creator", ""),
            purpose=purpose.get("value", ""),
            purpose_by=purpose.get("creator", ""),
            archived=bool(ch.get("is_archived")),
            created=int(ch.get("created") or 0),
        )

    async def channel(self, channel_id: str) -> SeenChannel | None:
        """conversations.info of one channel; None when it is gone or the bot cannot see it."""
        try:
            response = await self.client.conversations_info(channel=channel_id)
        except SlackApiError as e:
            if slack_error(e) == "channel_not_found":
                return None
            raise self._classify("conversations.info", e) from None
        return self._seen(response["channel"])

    async def open_channels(self, private: bool = False) -> list[SeenChannel]:
        """Every open public channel (`private`: every open private one the bot is in, the only
        ones Slack lists to it), with who made it and its purpose."""
        types = "private_channel" if private else "public_channel"
        return [self._seen(ch) async for ch in self._channels(exclude_archived=True, types=types)]

    async def channel_named(self, name: str) -> str | None:
        """The id of the open channel called `name` that the bot can see (conversations.list)."""
        async for ch in self._channels(exclude_archived=True, types="public_channel,private_channel"):
            if ch["name"] == name:
                return ch["id"]
        return None

    async def names_taken(self, prefix: str) -> set[str]:
        """Every channel name starting with `prefix`, archived ones too (they keep their names)."""
        return {
            ch["name"]
            async for ch in self._channels(exclude_archived=False, types="public_channel,private_channel")
            if ch["name"].startswith(prefix)
        }

    async def _channels(self, **filters):
        """Every channel conversations.list gives with `filters`, page after page (cursor)."""
        cursor = None
        while True:
            page = await self._call(
                "conversations.list", self.client.conversations_list, limit=1000, cursor=cursor, **filters
            )
            for channel in page["channels"]:
                yield channel
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return

    async def create_channel(self, name: str, *, private: bool = False) -> tuple[str, str] | None:
        """conversations.create: the new channel's id and name, or None when the name is taken.
        A private one (`is_private`, scope groups:write) is seen only by its members."""
        try:
            response = await self.client.conversations_create(
                name=name, **({"is_private": True} if private else {})
            )
        except SlackApiError as e:
            if slack_error(e) == "name_taken":
                return None
            raise self._classify("conversations.create", e) from None
        channel = response["channel"]
        return channel["id"], channel["name"]

    async def set_purpose(self, channel_id: str, purpose: str) -> str | None:
        """conversations.setPurpose: None when set, else Slack's refusal (e.g. `is_archived`).
        Raises try_again / rate_limited when waiting can clear it."""
        try:
            await self.client.conversations_setPurpose(channel=channel_id, purpose=purpose)
        except SlackApiError as e:
            retry = self._classify("conversations.setPurpose", e)
            if retry.non_retryable:
                return slack_error(e)
            raise retry from None
        return None

    async def user_id(self, person: Person) -> str | None:
        """The person's Slack user id: found by email (users.lookupByEmail, cached), else the
        roster's `contacts.slack`; None when neither knows one."""
        if found := await self._by_email(person.email):
            return found
        user_id = person.contacts.get(self.name)
        return user_id if user_id and USER_ID.match(user_id) else None

    async def _by_email(self, email: str) -> str | None:
        """users.lookupByEmail, cached. Any failure is no answer (the roster's id stands in);
        only `users_not_found` is remembered, for MISS_KEPT_SECONDS."""
        key = email.lower()
        if key in self._users:
            return self._users[key]
        if time.monotonic() - self._missed.get(key, -MISS_KEPT_SECONDS) < MISS_KEPT_SECONDS:
            return None
        try:
            response = await self.client.users_lookupByEmail(email=email)
        except SlackApiError as e:
            if slack_error(e) == "users_not_found":
                self._missed[key] = time.monotonic()
            else:
                log.warning("Slack users.lookupByEmail failed: %s", slack_error(e))
            return None
        except (TimeoutError, aiohttp.ClientError) as e:
            log.warning("Slack users.lookupByEmail failed: %s", type(e).__name__)
            return None
        if len(self._users) >= USERS_KEPT:
            self._users.pop(next(iter(self._users)))
        user_id = self._users[key] = response["user"]["id"]
        return user_id

    async def mentions(self, text: str, people: Directory) -> str:
        """`text` with each `<person:EMAIL>` as `<@U…>`, or the person's name where Slack has no user."""
        ids = {e.lower(): await self.user_id(people.person(e)) for e in set(PERSON_TOKEN.findall(text))}
        return people.render(text, lambda p: f"<@{u}>" if (u := ids.get(p.email.lower())) else None)

    async def invite(self, channel_id: str, person: Person) -> str | None:
        """None when invited (or already there), else why not: "no slack user", or Slack's refusal
        of this person (`ura_max_channels`: a single-channel guest; `cant_invite`, …) in words.
        Raises only for what is not about the person (the channel, the token, a rate limit)."""
        user_id = await self.user_id(person)
        if user_id is None:
            return "no slack user"
        try:
            await self.client.conversations_invite(channel=channel_id, users=user_id)
        except SlackApiError as e:
            error = slack_error(e)
            if error == "already_in_channel":
                return None
            data = e.response.data if isinstance(e.response.data, dict) else {}  # a 5xx may be text
            refused = {x.get("error") for x in data.get("errors") or [] if isinstance(x, dict)}
            if error in INVITE_REFUSALS or error in refused:
                return f"{error}: {INVITE_REFUSALS.get(error, 'Slack refused to invite this user')}"
            raise self._classify("conversations.invite", e) from None
        return None

    async def find_post(self, channel_id: str, incident_id: str, key: str) -> str | None:
        """The ts (Slack's message id) of the latest 200 messages' one whose metadata is ours.
        Raises BridgeLost when the bot may no longer read the channel."""
        try:
            page = await self.client.conversations_history(
                channel=channel_id, limit=200, include_all_metadata=True
            )
        except SlackApiError as e:
            if slack_error(e) in LOST:
                raise BridgeLost(slack_error(e)) from None
            raise self._classify("conversations.history", e) from None
        for message in page["messages"]:
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("incident_id") == incident_id and payload.get("key") == key:
                return message["ts"]
        return None

    async def post(
        self,
        channel_id: str,
        text: str,
        incident_id: str,
        key: str,
        thread: str | None,
        people: Directory,
        look_first: bool = False,
        buttons: list[ChatButton] = (),
    ) -> tuple[str, bool]:
        """chat.postMessage with our metadata, `<person:EMAIL>` rendered as mentions: (ts, whether
        it was found already posted). With `look_first` (a retry) each part is looked for before
        it is posted. Text over Slack's 40,000 characters is cut with a visible note, and the rest
        follows in numbered messages (at most MORE_PARTS), so the whole text reaches people; a
        message Slack still finds too long is cut further and sent again, never given up. Raises
        BridgeLost for an archived, left or deleted channel."""
        rendered = await self.mentions(text, people)
        found = look_first and await self.find_post(channel_id, incident_id, key)
        ts, shown = (
            (found, MAX_TEXT - CUT_NOTE)
            if found
            else await self._post_cut(channel_id, rendered, incident_id, key, thread, buttons)
        )
        rest = rendered[shown:]
        parts = [rest[i : i + PART] for i in range(0, min(len(rest), PART * MORE_PARTS), PART)]
        for n, part in enumerate(parts, start=2):
            more_key = f"{key}/part-{n}"
            if look_first and await self.find_post(channel_id, incident_id, more_key):
                continue
            header = f"(continued, part {n} of {len(parts) + 1})\n"
            if n == len(parts) + 1 and (left := len(rest) - PART * MORE_PARTS) > 0:
                part += f"… (truncated, {left:,} more characters)"
            await self._post_cut(channel_id, header + part, incident_id, more_key, thread)
        return ts, bool(found)

    async def _post_cut(
        self,
        channel_id: str,
        text: str,
        incident_id: str,
        key: str,
        thread: str | None,
        buttons: list[ChatButton] = (),
    ) -> tuple[str, int]:
        """One chat.postMessage of `text`, cut to fit (and cut to a quarter on msg_too_long):
        its ts, and how many of the text's characters it holds."""
        for limit in (MAX_TEXT, MAX_TEXT // 4):
            try:
                response = await self.client.chat_postMessage(
                    channel=channel_id,
                    text=clip(text, limit - CUT_NOTE),
                    blocks=blocks(clip(text, limit - CUT_NOTE), buttons) if buttons else None,
                    thread_ts=thread,
                    unfurl_links=False,
                    metadata={
                        "event_type": METADATA_EVENT,
                        "event_payload": {"incident_id": incident_id, "key": key},
                    },
                )
                return response["ts"], limit - CUT_NOTE
            except SlackApiError as e:
                if slack_error(e) in LOST:
                    raise BridgeLost(slack_error(e)) from None
                if slack_error(e) != "msg_too_long" or limit != MAX_TEXT:
                    raise self._classify("chat.postMessage", e) from None
        raise AssertionError("unreachable: the last try returns or raises")

    async def find_file(self, channel_id: str, thread: str | None, title: str) -> str | None:
        """The id of a file titled `title` in the latest 200 messages of the channel, or of the
        thread of `thread` (conversations.replies). Raises BridgeLost when the bot may no longer
        read the channel (a thread whose parent is gone has no file: None)."""
        try:
            if thread:
                page = await self.client.conversations_replies(channel=channel_id, ts=thread, limit=200)
            else:
                page = await self.client.conversations_history(channel=channel_id, limit=200)
        except SlackApiError as e:
            if slack_error(e) in LOST:
                raise BridgeLost(slack_error(e)) from None
            if slack_error(e) == "thread_not_found":
                return None
            raise self._classify("conversations.replies" if thread else "conversations.history", e) from None
        for message in page["messages"]:
            for file in message.get("files") or []:
                if isinstance(file, dict) and file.get("title") == title:
                    return file.get("id")
        return None

    async def share_file(self, channel_id: str, thread: str | None, upload: FileUpload) -> str:
        """slack_sdk's files_upload_v2: files.getUploadURLExternal, the bytes POSTed to its
        upload URL, files.completeUploadExternal with channel_id, thread_ts and initial_comment
        (files.upload, v1, is retired). The file's id. Raises BridgeLost for an archived, left or
        deleted channel; an upload URL answering 5xx or 429 is try_again, any other status final."""
        try:
            response = await self.client.files_upload_v2(
                channel=channel_id,
                thread_ts=thread,
                filename=upload.filename,
                title=upload.title,
                content=upload.content,
                alt_txt=upload.alt_text or None,
                initial_comment=upload.comment or None,
            )
        except SlackApiError as e:
            if slack_error(e) in LOST:
                raise BridgeLost(slack_error(e)) from None
            raise self._classify(e.response.api_url.rsplit("/", 1)[-1] or "files upload", e) from None
        except SlackRequestError as e:  # the upload URL's answer (slack_sdk says its status in words)
            status = re.search(r"status: (\d+)", str(e))
            if status and (int(status[1]) >= 500 or int(status[1]) == 429):
                raise try_again(f"Slack's upload URL failed: {e}") from None
            raise give_up(f"Slack's upload URL refused the file: {e}") from None
        return response["files"][0]["id"]

    async def rejoin(self, channel_id: str, lost: BridgeLost) -> str | None:
        """`is_archived`: conversations.unarchive; `not_in_channel`: conversations.join;
        `channel_not_found` (deleted): None, nothing can bring it back."""
        if lost.why == "channel_not_found":
            return None
        if lost.why == "is_archived":
            try:
                await self.client.conversations_unarchive(channel=channel_id)
            except SlackApiError as e:
                if slack_error(e) != "not_archived":  # someone unarchived it first: done
                    raise self._classify("conversations.unarchive", e) from None
            return "the bridge had been archived: unarchived it"
        await self._call("conversations.join", self.client.conversations_join, channel=channel_id)
        return "the bot had been removed from the bridge: joined it again"

    async def open_dm(self, person: Person) -> str | None:
        """The direct-message channel with a person (the same one every time); None without a user."""
        user_id = await self.user_id(person)
        if user_id is None:
            return None
        response = await self._call("conversations.open", self.client.conversations_open, users=user_id)
        return response["channel"]["id"]

    async def archive(self, channel_id: str) -> None:
        """conversations.archive; `already_archived` (or a deleted channel) counts as done."""
        try:
            await self.client.conversations_archive(channel=channel_id)
        except SlackApiError as e:
            if slack_error(e) not in ("already_archived", "channel_not_found"):  # deleted: done too
                raise self._classify("conversations.archive", e) from None

    async def member(self, email: str) -> str | None:
        """users.lookupByEmail, asked afresh: None for a full member of the workspace; else why
        not (no user, a guest, a bot, a deactivated account, a member of another workspace)."""
        try:
            user = (await self.client.users_lookupByEmail(email=email))["user"]
        except SlackApiError as e:
            if slack_error(e) == "users_not_found":
                return f"Slack has no user with the email {email}"
            raise self._classify("users.lookupByEmail", e) from None
        return not_full_member(user)

    async def _call(self, method: str, fn, **kwargs):
        try:
            return await fn(**kwargs)
        except SlackApiError as e:
            raise self._classify(method, e) from None

    @staticmethod
    def _classify(method: str, e: SlackApiError):
        """A 429 (still limited after the in-place waits) is retried by Temporal no sooner than its
        Retry-After; other errors waiting can clear are retried with backoff; the rest are final."""
        error = slack_error(e)
        if e.response.status_code == 429:
            after = retry_after(e.response.headers)
            return rate_limited(
                f"Slack {method} failed: {error}", timedelta(seconds=after) if after is not None else None
            )
        if error in TRANSIENT_ERRORS or error.startswith("HTTP 5"):
            return try_again(f"Slack {method} failed: {error}")
        return give_up(f"Slack {method} refused: {error}")
