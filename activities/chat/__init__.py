"""The chat port, the incident bridge (§4.1, §5): open the channel, invite the people, post the
templates, message a person directly. Providers: chat/slack.py.

Texts are plain, and name people with the token `<person:EMAIL>` (plan/templates.py `mention`).
The provider renders each token right before posting: as its own mention of the person when
it knows their chat user (from `Person.contacts[<provider name>]` in the worker's roster), else
as the person's name, else (someone not in the roster) as the email. People are named by email
everywhere else too (invitations, direct messages): the provider maps them to its users."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import RATE_LIMITED, give_up
from plan.bridge_proof import Proof, SeenChannel, adopt, left_behind, purpose_names
from plan.buttons import ChatButton
from plan.models import Person
from plan.picture import TimelinePicture
from plan.templates import channel_name

PERSON_TOKEN = re.compile(r"<person:([^<>\s]+)>")


class Directory:
    """The worker's roster by email (case-insensitive): whom a token, an invitation or a direct
    message names. Someone not in it is a stand-in named by their email, with no contacts."""

    def __init__(self, people: Iterable[Person] = ()):
        self.people = {p.email.lower(): p for p in people}

    def __iter__(self):
        return iter(self.people.values())

    def person(self, email: str) -> Person:
        """The roster's person with this email, else a stand-in."""
        return self.people.get(email.lower()) or Person.model_construct(name=email, email=email, contacts={})

    def render(self, text: str, mention: Callable[[Person], str | None]) -> str:
        """`text` with each `<person:EMAIL>` replaced by `mention(person)`, or, where that is None,
        by the person's name (a stand-in's name is the email)."""

        def one(token: re.Match) -> str:
            person = self.person(token[1])
            return mention(person) or person.name

        return PERSON_TOKEN.sub(one, text)


class Chat(Protocol):
    """A chat service's channels and messages. Errors are `try_again` / `rate_limited` /
    `give_up` (activities/errors.py). Channel and message ids are the provider's, opaque here."""

    name: str

    async def bot_user(self) -> str:
        """The bot's own user id on the service (every channel this product makes is the bot's)."""
        ...

    async def channel(self, channel_id: str) -> SeenChannel | None:
        """One channel by id, with its creator and purpose; None when it is gone or unseen."""
        ...

    async def open_channels(self, private: bool = False) -> list[SeenChannel]:
        """Every open channel of the kind (`private`: the private ones the bot is in)."""
        ...

    async def channel_named(self, name: str) -> str | None:
        """The id of the open channel called `name` (e.g. the policy's alerts channel), if any."""
        ...

    async def names_taken(self, prefix: str) -> set[str]:
        """Every channel name starting with `prefix`, archived ones too."""
        ...

    async def create_channel(self, name: str, *, private: bool = False) -> tuple[str, str] | None:
        """(id, name) of the new channel (`private`: seen only by its members), or None when the
        name is taken. Raises an error of type RATE_LIMITED when the service did nothing."""
        ...

    async def set_purpose(self, channel_id: str, purpose: str) -> str | None:
        """Set the channel's purpose: None when set, else the service's refusal. Raises when
        waiting can clear the failure."""
        ...

    async def invite(self, channel_id: str, person: Person) -> str | None:
        """None when invited (or already there), else why not (e.g. "no slack user")."""
        ...

    async def find_post(self, channel_id: str, incident_id: str, key: str) -> str | None:
        """The message id of the post tagged (incident_id, key), if one is there."""
        ...

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
        """Post `text` (its tokens rendered with `people`) whole, in as many messages as the
        service needs, tagged (incident_id, key) so that `find_post` finds it; in the thread of
        message `thread` if given; `buttons` under the first. With `look_first` (a retry) a
        message already there is not posted again. (message id, whether it was found already
        posted)."""
        ...

    async def find_file(self, channel_id: str, thread: str | None, title: str) -> str | None:
        """The id of a file titled `title` shared in the channel (under message `thread` if given),
        if one is there. Raises BridgeLost when the bot may no longer read the channel."""
        ...

    async def share_file(self, channel_id: str, thread: str | None, upload: FileUpload) -> str:
        """Upload `upload` and share it in the channel (a reply under `thread` if given): its file
        id. Raises BridgeLost for an archived, left or deleted channel."""
        ...

    async def open_dm(self, person: Person) -> str | None:
        """The direct-message channel with the person (the same every time), or None when the
        person has no user on this service."""
        ...

    async def archive(self, channel_id: str) -> None:
        """Archive the channel; already archived counts as done."""
        ...

    async def member(self, email: str) -> str | None:
        """None when the service verifies `email` as a full member of the workspace (issue 23:
        who may take a role open to verified members), else why not, in words."""
        ...

    async def rejoin(self, channel_id: str, lost: BridgeLost) -> str | None:
        """Make the bridge postable again after `lost` (unarchive it, or join it again); what was
        done, in words. None when the channel is gone for good (deleted): the workflow continues
        the bridge in a new channel. Raises when it cannot be done (the post fails visibly)."""
        ...


class FileUpload(BaseModel):
    """A file to share: its name, the `title` people see (and a retry looks for), its bytes'
    `content`, the words shown with it (`comment`), and `alt_text` for screen readers."""

    filename: str
    title: str
    content: bytes
    comment: str = ""
    alt_text: str = ""


class BridgeLost(Exception):
    """A provider's post found the bridge archived, or the bot no longer in it: something a
    workspace did to the channel, which waiting cannot clear but `Chat.rejoin` can."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


class OpenBridgeRequest(BaseModel):
    """Open §4.1's `#<prefix>-<YYYY-MM-DD>` (then -2, -3…) for one incident."""

    incident_id: str
    channel_prefix: str
    started_at: datetime
    purpose: str
    private: bool = False  # a private incident's: only the people invited see it (plan/privacy.py)


class BridgeChannel(BaseModel):
    """The bridge's channel id and name, or why there is none (`skipped`). `left_behind`: a
    channel named as an earlier attempt's unanswered create, which nothing proves is this
    incident's (so it was not taken), said in words for the timeline."""

    channel_id: str | None = None
    channel: str | None = None
    skipped: str | None = None
    left_behind: str | None = None


class CreateAttempt(BaseModel):
    """What `open_bridge` heartbeats around each create, so a retry knows what its earlier attempt
    did (the SDK sends the last heartbeat with a failed attempt): `name` asked for and not yet
    answered (`made` None), or answered with the channel id `made` — the retry's proof."""

    name: str | None = None
    made: str | None = None

    @classmethod
    def last(cls, details) -> CreateAttempt:
        """The earlier attempt's last heartbeat; a bare name is an older worker's (in flight)."""
        last = details[-1] if details else None
        if isinstance(last, str):
            return cls(name=last)
        try:
            return cls.model_validate(last)
        except ValueError:  # nothing this code heartbeated: no proof, nothing in flight
            return cls()


class InviteRequest(BaseModel):
    """Invite people, by email, into the bridge."""

    channel_id: str
    emails: list[str]


class InviteResult(BaseModel):
    """email → why that person could not be invited; empty when everyone is in."""

    failed: dict[str, str] = {}


class BridgePost(BaseModel):
    """One message. `key` names it within the incident (e.g. "opening"), so it is posted once;
    `thread` is the message id of the post to reply under; `buttons` go under it."""

    incident_id: str
    channel_id: str
    key: str
    text: str
    thread: str | None = None
    buttons: list[ChatButton] = []


class BridgePicture(BaseModel):
    """§4.6: the incident's timeline picture, shared in the bridge under the post-mortem draft
    (`thread`: the draft's message id). `title` carries the incident's outward key, so a retry,
    or another worker, finds the picture already shared instead of sharing it twice."""

    channel_id: str
    thread: str | None = None
    filename: str
    title: str
    comment: str
    picture: TimelinePicture


class PictureResult(BaseModel):
    """The shared (or, found already shared: `reused`) file's id, or why it was not shared."""

    file_id: str | None = None
    reused: bool = False
    skipped: str | None = None


class ChannelPost(BaseModel):
    """One message in a standing channel the policy names (e.g. #preskool-alerts), not a bridge.
    `key` names it within `incident_id` (the posting workflow's id), so it is posted once."""

    incident_id: str
    channel: str
    key: str
    text: str


class ArchiveBridge(BaseModel):
    """Archive the bridge at the end of §4.5."""

    channel_id: str


class PersonNotice(BaseModel):
    """A direct message to one person, by email (reminders, invitations, escalations): after the
    bridge is archived, people are reached where they are."""

    incident_id: str
    email: str
    key: str
    text: str
    buttons: list[ChatButton] = []


class MemberQuery(BaseModel):
    """Is this person, by email, a full member of the chat workspace? (issue 23)"""

    email: str


class MemberCheck(BaseModel):
    """The chat provider's answer: `member`, or `why` not."""

    member: bool
    why: str | None = None


class PostResult(BaseModel):
    """The posted (or, on a retry, found: `reused`) message's id, or why nothing was posted."""

    message_id: str | None = None
    reused: bool = False
    skipped: str | None = None
    recovered: str | None = None  # what was done to reach the bridge again (it was archived, or left)
    gone: str | None = None  # the channel is gone for good (deleted): nothing was posted


MAX_NAME_RACES = 20
# Names this worker believes free are tried this many times before it looks at the list again
# (other workers, or people, may have taken them meanwhile).
GUESSES = 3
DAYS_REMEMBERED = 7


class BridgeActivities:
    """The bridge on `chat`, or None when no provider is configured (`missing` names what is
    missing in the skip note). `people`: the worker's roster, whom emails and tokens name."""

    def __init__(self, chat: Chat | None, people: Directory | None = None, *, missing: str = "chat"):
        self.chat, self.people, self.missing = chat, people or Directory(), missing
        # Channel names known taken, per day's base name: a busy day lists the channels once per
        # worker, not once per incident (listing is rate-limited, and slow on a big workspace).
        self.taken: dict[str, set[str]] = {}

    @activity.defn
    async def open_bridge(self, request: OpenBridgeRequest) -> BridgeChannel:
        """The incident's channel, made once. A retry takes only a channel it can prove is its own
        (plan/bridge_proof.py): the one its earlier attempt's create was answered with (kept in
        the heartbeat), or one whose purpose the bot set naming this incident. A channel nothing
        proves is never taken, whoever made it; one named as an unanswered create is reported."""
        if self.chat is None:
            return BridgeChannel(skipped=f"skipped: {self.missing} not configured")
        base = channel_name(request.channel_prefix, request.started_at)
        left = None
        if activity.info().attempt > 1:
            found, left = await self._own_channel(base, request)
            if found:
                return found
        opened = await self._new_channel(base, request)
        if left:
            opened.left_behind = (
                f"#{left.name} has no purpose: this incident's create for that name went unanswered, "
                "so it may be an empty channel that create left, or another incident's still being "
                "set up. Nothing proves it is this incident's, so it was not used; archive it if it "
                "stays empty"
            )
        return opened

    async def _own_channel(
        self, base: str, request: OpenBridgeRequest
    ) -> tuple[BridgeChannel | None, SeenChannel | None]:
        """(the channel this incident can prove it made, if any; else a channel named as its
        unanswered create, if one is there)."""
        before = CreateAttempt.last(activity.info().heartbeat_details)
        proof = Proof(request.incident_id, base, await self.chat.bot_user(), before.made)
        made = await self.chat.channel(before.made) if before.made else None
        if made and (own := adopt([made], proof)):
            return await self._adopted(own, request), None
        listed = await self.chat.open_channels(request.private)
        if own := adopt(listed, proof):
            return await self._adopted(own, request), None
        return None, left_behind(listed, proof, before.name if before.made is None else None)

    async def _adopted(self, own: SeenChannel, request: OpenBridgeRequest) -> BridgeChannel:
        """A proven channel: its purpose is set now if the earlier attempt could not set it."""
        if not purpose_names(own.purpose, request.incident_id):
            if refused := await self.chat.set_purpose(own.id, request.purpose):
                activity.logger.warning("bridge %s: the purpose was refused: %s", own.name, refused)
        return BridgeChannel(channel_id=own.id, channel=own.name)

    async def _new_channel(self, base: str, request: OpenBridgeRequest) -> BridgeChannel:
        """The day's first free name: the plain one while nothing is known of the day, else the
        next one this worker believes free (looked up again every GUESSES names taken first)."""
        if base not in self.taken:  # nothing known about this day yet: the plain name first
            if created := await self._create(base, request):
                self._known(base).add(base)
                return created
            self._known(base).update(await self.chat.names_taken(base) | {base})
        taken = self._known(base)
        for attempt in range(1, MAX_NAME_RACES + 1):
            n = next(
                n
                for n in range(2, len(taken) + 3)
                if channel_name(request.channel_prefix, request.started_at, n) not in taken
            )
            name = channel_name(request.channel_prefix, request.started_at, n)
            taken.add(name)  # reserved before asking, so concurrent openings pick different names
            try:
                created = await self._create(name, request)
            except Exception:
                taken.discard(name)
                raise
            if created:
                return created
            if attempt % GUESSES == 0:
                taken |= await self.chat.names_taken(base)
        raise RuntimeError(f"{MAX_NAME_RACES} tries at the next free name after {base} were all taken first")

    async def _create(self, name: str, request: OpenBridgeRequest) -> BridgeChannel | None:
        """One create. The id it answers is heartbeated before anything else is asked, so that if
        this attempt fails from here on (the purpose rate-limited past the in-place waits), the
        retry can prove the channel is this incident's. None when the name is taken."""
        activity.heartbeat(CreateAttempt(name=name))  # asked, not answered: its fate unknown
        try:
            created = await self.chat.create_channel(name, private=request.private)
        except ApplicationError as e:
            if e.type == RATE_LIMITED:  # the service did nothing
                activity.heartbeat(CreateAttempt())
            raise
        if created is None:
            activity.heartbeat(CreateAttempt())  # taken: nothing made
            return None
        channel_id, made = created
        activity.heartbeat(CreateAttempt(name=made, made=channel_id))
        if refused := await self.chat.set_purpose(channel_id, request.purpose):
            activity.logger.warning("bridge %s: the purpose was refused: %s", made, refused)
        return BridgeChannel(channel_id=channel_id, channel=made)

    def _known(self, base: str) -> set[str]:
        """The names this worker knows taken on the day of `base`, one set shared by every opening
        (so a name one reserves, the others skip); the last DAYS_REMEMBERED days are kept."""
        if base not in self.taken:
            self.taken[base] = set()
            while len(self.taken) > DAYS_REMEMBERED:
                self.taken.pop(next(iter(self.taken)))
        return self.taken[base]

    @activity.defn
    async def invite_to_bridge(self, request: InviteRequest) -> InviteResult:
        """Invite each person on their own; one who cannot be invited is reported (email → why),
        not an error, and never stops the others. A failure waiting can clear (a rate limit) is
        raised after the others were invited, so that Temporal retries."""
        if self.chat is None:
            return InviteResult(
                failed={e: f"{self.missing} not configured on this worker" for e in request.emails}
            )
        failed, again = {}, None
        for email in request.emails:  # one person's failure never stops the others
            try:
                error = await self.chat.invite(request.channel_id, self.people.person(email))
            except ApplicationError as e:
                if not e.non_retryable:  # waiting may clear it: the others first, then a retry
                    again = again or e
                    continue
                error = e.message
            if error:
                failed[email] = error
        if again is not None:
            raise again  # a retry invites everyone again: those already in are `already_in_channel`
        return InviteResult(failed=failed)

    @activity.defn
    async def post_to_bridge(self, post: BridgePost) -> PostResult:
        """Post once: a retry first looks for the post its lost attempt made. A bridge found
        archived or left (on the look or the post) is reopened once, then the post goes again;
        a deleted one is answered `gone` (the workflow continues the bridge elsewhere); still
        unreachable after that, the step fails visibly instead of holding the chat lane."""
        if self.chat is None:  # a worker without chat settings, serving an incident whose bridge is open
            return PostResult(skipped=f"skipped: {self.missing} not configured on this worker")
        try:
            return await self._post_once(post)
        except BridgeLost as lost:
            recovered = await self.chat.rejoin(post.channel_id, lost)
            if recovered is None:
                return PostResult(gone=f"the channel is gone ({lost.why}): it was deleted")
            activity.logger.warning("bridge %s: %s; %s", post.channel_id, lost.why, recovered)
        try:
            result = await self._post_once(post, look=True)  # parts may have gone before the loss
        except BridgeLost as again:
            raise give_up(f"the bridge is still unreachable after it was reopened: {again.why}") from None
        return result.model_copy(update={"recovered": recovered})

    async def _post_once(self, post: BridgePost, look: bool = False) -> PostResult:
        message_id, reused = await self.chat.post(
            post.channel_id,
            post.text,
            post.incident_id,
            post.key,
            post.thread,
            self.people,
            look_first=look or activity.info().attempt > 1,
            buttons=post.buttons,
        )
        activity.logger.info("posted %s in %s (message %s)", post.key, post.channel_id, message_id)
        return PostResult(message_id=message_id, reused=reused)

    @activity.defn
    async def share_picture(self, request: BridgePicture) -> PictureResult:
        """§4.6: the timeline picture drawn (PNG) and shared in the bridge, once: every attempt
        first looks for a file of this title in the draft's thread, so a retry after an upload
        whose answer was lost shares nothing more. An enrichment: a bridge archived, left or
        deleted, a picture that cannot be drawn, or a refusal for good (uploads disabled) is
        answered `skipped` with the reason; what may pass (429, 5xx) is retried."""
        if self.chat is None:
            return PictureResult(skipped=f"skipped: {self.missing} not configured on this worker")
        try:
            if found := await self.chat.find_file(request.channel_id, request.thread, request.title):
                return PictureResult(file_id=found, reused=True)
            try:
                from reporting.charts import timeline_png  # matplotlib, only when a picture is drawn

                png = timeline_png(request.picture)
            except Exception as e:  # never the incident's failure
                return PictureResult(skipped=f"the picture could not be drawn ({type(e).__name__}: {e})")
            upload = FileUpload(
                filename=request.filename,
                title=request.title,
                content=png,
                comment=request.comment,
                alt_text="The incident's timeline: phases, pages, acknowledgements, updates, the gate",
            )
            shared = await self.chat.share_file(request.channel_id, request.thread, upload)
            return PictureResult(file_id=shared)
        except BridgeLost as lost:
            return PictureResult(skipped=f"the bridge cannot take it ({lost.why})")
        except ApplicationError as e:
            if not e.non_retryable:
                raise
            return PictureResult(skipped=e.message)

    @activity.defn
    async def post_to_channel(self, post: ChannelPost) -> PostResult:
        """Post once in the channel named `post.channel` (found by name each time: it is not
        ours to create); a channel that does not exist fails the step once, visibly."""
        if self.chat is None:
            return PostResult(skipped=f"skipped: {self.missing} not configured")
        channel_id = await self.chat.channel_named(post.channel)
        if channel_id is None:
            raise give_up(f"no channel #{post.channel} on {self.chat.name}: create it (the bot joins it)")
        result = await self.post_to_bridge(
            BridgePost(incident_id=post.incident_id, channel_id=channel_id, key=post.key, text=post.text)
        )
        if result.gone:  # deleted between the look and the post: not ours to continue elsewhere
            raise give_up(f"#{post.channel}: {result.gone}")
        return result

    @activity.defn
    async def archive_bridge(self, request: ArchiveBridge) -> bool:
        """§4.5 step 6: archive the incident channel (already archived counts as done)."""
        if self.chat is None:
            raise give_up(f"{self.missing} is not configured on this worker: the bridge was not archived")
        await self.chat.archive(request.channel_id)
        return True

    @activity.defn
    async def notify_person(self, notice: PersonNotice) -> PostResult:
        """A direct message, posted once; skipped (not an error) for someone without a chat user."""
        if self.chat is None:
            return PostResult(skipped=f"skipped: {self.missing} not configured")
        person = self.people.person(notice.email)
        channel_id = await self.chat.open_dm(person)
        if channel_id is None:
            return PostResult(skipped=f"skipped: {person.name} has no {self.chat.name} user")
        sent = await self.post_to_bridge(
            BridgePost(
                incident_id=notice.incident_id,
                channel_id=channel_id,
                key=notice.key,
                text=notice.text,
                buttons=notice.buttons,
            )
        )
        if sent.gone:  # a direct message's channel is never deleted; should it be, say so
            raise give_up(f"the direct message to {person.name} could not be posted: {sent.gone}")
        return sent

    @activity.defn
    async def check_member(self, query: MemberQuery) -> MemberCheck:
        """Whether the chat provider verifies the person as a full member (issue 23); without a
        chat provider nobody can be verified."""
        if self.chat is None:
            why = f"{self.missing} is not configured on this worker to verify them"
            return MemberCheck(member=False, why=why)
        why = await self.chat.member(query.email)
        return MemberCheck(member=why is None, why=why)
