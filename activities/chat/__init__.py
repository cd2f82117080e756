"""The incident bridge (§4.1, §5): open the channel, invite the people, post the templates."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pydantic import BaseModel
from temporalio import activity

from plan.templates import channel_name


class Chat(Protocol):
    name: str

    async def find_channel(self, name_prefix: str, incident_id: str, purpose: str,
                           tried: str | None) -> tuple[str, str] | None: ...
    async def names_taken(self, prefix: str) -> set[str]: ...
    async def create_channel(self, name: str, purpose: str) -> tuple[str, str] | None: ...
    async def invite(self, channel_id: str, user_id: str) -> str | None: ...
    async def find_post(self, channel_id: str, incident_id: str, key: str) -> str | None: ...
    async def post(self, channel_id: str, text: str, incident_id: str, key: str, thread_ts: str | None) -> str: ...
    async def open_dm(self, user_id: str) -> str: ...
    async def archive(self, channel_id: str) -> None: ...


class OpenBridgeRequest(BaseModel):
    incident_id: str
    channel_prefix: str
    started_at: datetime
    purpose: str


class BridgeChannel(BaseModel):
    channel_id: str | None = None
    channel: str | None = None
    skipped: str | None = None


class InviteRequest(BaseModel):
    channel_id: str
    user_ids: list[str]


class InviteResult(BaseModel):
    failed: dict[str, str] = {}


class BridgePost(BaseModel):
    """One message. `key` names it within the incident (e.g. "opening"), so it is posted once."""

    incident_id: str
    channel_id: str
    key: str
    text: str
    thread_ts: str | None = None


class ArchiveBridge(BaseModel):
    channel_id: str


class PersonNotice(BaseModel):
    """A direct message to one person (reminders, invitations, escalations): after the bridge
    is archived, people are reached where they are."""

    incident_id: str
    user_id: str
    key: str
    text: str


class PostResult(BaseModel):
    ts: str | None = None
    reused: bool = False


MAX_NAME_RACES = 20
# Names this worker believes free are tried this many times before it looks at the list again
# (other workers, or people, may have taken them meanwhile).
GUESSES = 3
DAYS_REMEMBERED = 7


class BridgeActivities:
    def __init__(self, chat: Chat | None, *, missing: str = "chat"):
        self.chat, self.missing = chat, missing
        # Channel names known taken, per day's base name: a busy day lists the channels once per
        # worker, not once per incident (conversations.list is rate-limited, and slow on a big
        # workspace).
        self.taken: dict[str, set[str]] = {}

    @activity.defn
    async def open_bridge(self, request: OpenBridgeRequest) -> BridgeChannel:
        if self.chat is None:
            return BridgeChannel(skipped=f"skipped: {self.missing} not configured")
        base = channel_name(request.channel_prefix, request.started_at)
        if activity.info().attempt > 1:
            tried = activity.info().heartbeat_details[0] if activity.info().heartbeat_details else None
            if found := await self.chat.find_channel(base, request.incident_id, request.purpose, tried):
                return BridgeChannel(channel_id=found[0], channel=found[1])
        taken = self.taken.get(base)
        if taken is None:  # nothing known about this day yet: the plain name first
            activity.heartbeat(base)
            if created := await self.chat.create_channel(base, request.purpose):
                self._remember(base, {base})
                return BridgeChannel(channel_id=created[0], channel=created[1])
            taken = self._remember(base, await self.chat.names_taken(base) | {base})
        for attempt in range(1, MAX_NAME_RACES + 1):
            n = next(n for n in range(2, len(taken) + 3)
                     if channel_name(request.channel_prefix, request.started_at, n) not in taken)
            name = channel_name(request.channel_prefix, request.started_at, n)
            activity.heartbeat(name)
            taken.add(name)  # reserved before asking, so concurrent openings pick different names
            try:
                created = await self.chat.create_channel(name, request.purpose)
            except Exception:
                taken.discard(name)
                raise
            if created:
                return BridgeChannel(channel_id=created[0], channel=created[1])
            if attempt % GUESSES == 0:
                taken |= await self.chat.names_taken(base)
        raise RuntimeError(f"{MAX_NAME_RACES} tries at the next free name after {base} were all taken first")

    def _remember(self, base: str, names: set[str]) -> set[str]:
        self.taken[base] = names
        while len(self.taken) > DAYS_REMEMBERED:
            self.taken.pop(next(iter(self.taken)))
        return names

    @activity.defn
    async def invite_to_bridge(self, request: InviteRequest) -> InviteResult:
        assert self.chat is not None, "the workflow invites only into an open bridge"
        failed = {}
        for user_id in request.user_ids:
            if error := await self.chat.invite(request.channel_id, user_id):
                failed[user_id] = error
        return InviteResult(failed=failed)

    @activity.defn
    async def post_to_bridge(self, post: BridgePost) -> PostResult:
        assert self.chat is not None, "the workflow posts only into an open bridge"
        if activity.info().attempt > 1 and (ts := await self.chat.find_post(post.channel_id, post.incident_id, post.key)):
            return PostResult(ts=ts, reused=True)
        ts = await self.chat.post(post.channel_id, post.text, post.incident_id, post.key, post.thread_ts)
        activity.logger.info("posted %s in %s (ts %s)", post.key, post.channel_id, ts)
        return PostResult(ts=ts)

    @activity.defn
    async def archive_bridge(self, request: ArchiveBridge) -> bool:
        """§4.5 step 6: archive the incident channel (already archived counts as done)."""
        assert self.chat is not None, "the workflow archives only an open bridge"
        await self.chat.archive(request.channel_id)
        return True

    @activity.defn
    async def notify_person(self, notice: PersonNotice) -> PostResult:
        if self.chat is None:
            return PostResult()
        channel_id = await self.chat.open_dm(notice.user_id)
        return await self.post_to_bridge(BridgePost(incident_id=notice.incident_id, channel_id=channel_id,
                                                    key=notice.key, text=notice.text))
