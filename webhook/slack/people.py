"""Who a Slack user is, and which incident a channel is the bridge of, asked of Slack itself.

A person is their Slack user's verified email (users.info, `users:read.email`), cached for ten
minutes; the incident matches it to its roster. A bridge's purpose names its incident (the chat
provider sets "Incident inc-…: …" when it opens one), so `/incident` and 📌 in a bridge need no
table of channels."""

from __future__ import annotations

import re
import time

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

INCIDENT_IN_PURPOSE = re.compile(r"\bIncident (inc-[A-Za-z0-9_-]{1,100})")
FLAGS = ("is_bot", "deleted", "is_restricted", "is_ultra_restricted", "is_stranger")  # not a full member
TTL = 600.0  # seconds a user's email is trusted before Slack is asked again
REPLY_PAGE, REPLY_PAGES = 20, 5  # a reply is looked for from its own ts on: it leads the first page


class SlackPeople:
    def __init__(self, web: AsyncWebClient, team_id: str | None = None):
        self.web, self.team_id = web, team_id
        self.emails: dict[str, tuple[str | None, float]] = {}

    async def email(self, user_id: str) -> str | None:
        """The user's email as Slack verified it, lower-cased. None for anyone whose email our
        workspace does not vouch for: a bot, a deleted user, a guest, a member of another
        workspace (Slack Connect), or a user of another team than SLACK_TEAM_ID."""
        cached = self.emails.get(user_id)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        try:
            user = (await self.web.users_info(user=user_id))["user"]
        except (SlackApiError, OSError, TimeoutError):
            return None
        email = (user.get("profile") or {}).get("email")
        found = email.strip().lower() if email and vouched(user, self.team_id) else None
        self.emails[user_id] = (found, time.monotonic() + TTL)
        return found

    async def member(self, user_id: str) -> tuple[str | None, str | None]:
        """(the user's verified email, None), or (None, why Slack does not vouch for them): a
        person named to take a role (issue 23), asked of Slack afresh."""
        try:
            user = (await self.web.users_info(user=user_id))["user"]
        except (SlackApiError, OSError, TimeoutError) as e:
            error = e.response.get("error") if isinstance(e, SlackApiError) else type(e).__name__
            return None, f"Slack does not know this user ({error})"
        email = (user.get("profile") or {}).get("email")
        if not vouched(user, self.team_id):
            flags = [f for f in FLAGS if user.get(f)]
            return None, f"not a full member of this workspace ({', '.join(flags) or 'another team'})"
        if not email:
            return None, "Slack has no verified email for them"
        return email.strip().lower(), None

    async def incident_of(self, channel_id: str) -> str | None:
        """The incident whose bridge `channel_id` is, from the channel's purpose; None elsewhere."""
        try:
            channel = (await self.web.conversations_info(channel=channel_id))["channel"]
        except (SlackApiError, OSError, TimeoutError):
            return None
        purpose = (channel.get("purpose") or {}).get("value", "")
        found = INCIDENT_IN_PURPOSE.search(purpose)
        return found[1] if found else None

    async def message(self, channel_id: str, ts: str) -> dict | None:
        """One message of a channel by its ts (for a pin, or to update after a modal), a thread's
        reply included: conversations.history holds only a channel's top-level messages (and
        replies also sent to the channel), so a ts it does not hold is looked for in its thread
        (conversations.replies takes any message's ts and answers its thread, parent first on
        every page). None when Slack holds no such message (deleted) or cannot say."""
        try:
            page = await self.web.conversations_history(
                channel=channel_id, latest=ts, inclusive=True, limit=1
            )
        except (SlackApiError, OSError, TimeoutError):
            page = {}
        found = next((m for m in page.get("messages", []) if m.get("ts") == ts), None)
        return found or await self._reply(channel_id, ts)

    async def _reply(self, channel_id: str, ts: str) -> dict | None:
        cursor = None
        for _ in range(REPLY_PAGES):
            try:
                page = await self.web.conversations_replies(
                    channel=channel_id, ts=ts, oldest=ts, inclusive=True, limit=REPLY_PAGE, cursor=cursor
                )
            except (SlackApiError, OSError, TimeoutError):
                return None
            found = next((m for m in page.get("messages", []) if m.get("ts") == ts), None)
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if found or not cursor:
                return found
        return None


def vouched(user: dict, team_id: str | None) -> bool:
    """A full member of our workspace: not a bot, deleted, a guest (restricted), a stranger (Slack
    Connect), nor of another team when SLACK_TEAM_ID is set (users.info's `objs_user` fields)."""
    if any(user.get(flag) for flag in FLAGS):
        return False
    return not team_id or user.get("team_id") == team_id
