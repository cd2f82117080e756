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
TTL = 600.0  # seconds a user's email is trusted before Slack is asked again


class SlackPeople:
    def __init__(self, web: AsyncWebClient):
        self.web = web
        self.emails: dict[str, tuple[str | None, float]] = {}

    async def email(self, user_id: str) -> str | None:
        """The user's email as Slack verified it, lower-cased; None for a bot or a user without one."""
        cached = self.emails.get(user_id)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        try:
            user = (await self.web.users_info(user=user_id))["user"]
        except SlackApiError:
            return None
        email = (user.get("profile") or {}).get("email")
        found = email.strip().lower() if email and not user.get("is_bot") else None
        self.emails[user_id] = (found, time.monotonic() + TTL)
        return found

    async def incident_of(self, channel_id: str) -> str | None:
        """The incident whose bridge `channel_id` is, from the channel's purpose; None elsewhere."""
        try:
            channel = (await self.web.conversations_info(channel=channel_id))["channel"]
        except SlackApiError:
            return None
        purpose = (channel.get("purpose") or {}).get("value", "")
        found = INCIDENT_IN_PURPOSE.search(purpose)
        return found[1] if found else None

    async def message(self, channel_id: str, ts: str) -> dict | None:
        """One message of a channel by its ts (for a pin, or to update after a modal)."""
        try:
            page = await self.web.conversations_history(
                channel=channel_id, latest=ts, inclusive=True, limit=1
            )
        except SlackApiError:
            return None
        return next((m for m in page.get("messages", []) if m.get("ts") == ts), None)
