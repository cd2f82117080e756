"""The incident bridge (§4.1, §5): the channel, who is in it, and everything said there.

`post` queues a message in the chat lane; `send` says it now, from whichever lane is running
(the resolve gate's verdict, before the bridge is archived)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.chat import (
        ArchiveBridge,
        BridgeActivities,
        BridgePost,
        InviteRequest,
        OpenBridgeRequest,
        PersonNotice,
    )
    from plan import Role, templates
    from plan import buttons as chat_buttons
    from plan.bridge_proof import bridge_purpose
    from plan.buttons import ChatButton
    from plan.oncall import Handoff
    from workflows.context import IncidentContext
    from workflows.oncall import OnCall
    from workflows.outside import outside

# Messages an incident posts once; every other post is numbered.
ONCE = ("opening", "triage-checklist")


class Bridge:
    LANE = "chat"

    def __init__(self, ctx: IncidentContext) -> None:
        self.ctx = ctx
        self.on_call = OnCall(ctx)
        self.continuing = False  # opening a continuation bridge now (a deleted one's)

    # --- queued in the chat lane -----------------------------------------------------------------

    def open(self) -> None:
        """#<prefix>-<YYYY-MM-DD>, its members, and the §5.1 opening."""
        self.ctx.later(self.LANE, self._open)

    def post(self, text: str, what: str, thread: bool = False, buttons: list[ChatButton] = ()) -> None:
        self.ctx.later(self.LANE, self.send, text, what, thread, list(buttons))

    def invite(self, roles: list[Role]) -> None:
        """Who is on call is looked up first (a page or a role change), so the invitations name them."""
        self.ctx.later(self.LANE, self._look_and_invite, roles, "a page or role change")

    def look_up_on_call(self, why: str) -> None:
        """A look at who is on call (issue 16), with nobody new to invite but a handoff's new holder."""
        if self.on_call.wanted():
            self.ctx.later(self.LANE, self._look_and_invite, None, why)

    def notify(self, role: Role, key: str, text: str, buttons: list[ChatButton] = ()) -> None:
        """A direct message: reminders and invitations reach people after the bridge is archived."""
        self.ctx.later(self.LANE, self.tell, role, key, text, list(buttons))

    def notify_email(self, email: str, key: str, text: str, buttons: list[ChatButton] = ()) -> None:
        """A direct message to a person by email (someone a claim names may hold no role)."""
        self.ctx.later(self.LANE, self.tell_person, email, key, text, list(buttons))

    # --- done now, in the caller's lane -------------------------------------------------------------

    async def send(
        self, text: str, what: str, thread: bool = False, buttons: list[ChatButton] = ()
    ) -> str | None:
        """Post in the bridge. Each post has a key of its own, so a retry never posts twice."""
        s = self.ctx.s
        if not s.bridge.channel_id or s.bridge.archived:
            if s.bridge.channel and not s.bridge.archived:  # lost, not closed: say what was not posted
                self.ctx.note(
                    "post-skipped", f"the {what} message was not posted: the incident has no bridge"
                )
            return None
        s.posts += 1
        key = what if what in ONCE else f"{what}-{s.posts}"
        posted = await self._outside(
            BridgeActivities.post_to_bridge,
            BridgePost(
                incident_id=self.ctx.incident_id,
                channel_id=s.bridge.channel_id,
                key=key,
                text=text,
                thread=s.bridge.opening_message_id if thread else None,
                buttons=list(buttons),
            ),
            f"post the {what} message",
        )
        if posted and posted.skipped:
            self.ctx.note("post-skipped", f"the {what} message was not posted: {posted.skipped}")
            return None
        if posted and posted.gone:
            return await self._continue(posted.gone, text, what, thread, buttons)
        if posted and posted.recovered:
            await self._recovered(posted.recovered, what)
        if posted:
            self.ctx.note("posted", f"posted the {what} message in #{s.bridge.channel}")
        return posted.message_id if posted else None

    async def _recovered(self, how: str, what: str) -> None:
        """The workspace archived the bridge or removed the bot; the provider reopened it. The
        timeline says so and the IC hears it directly: someone did that to an open incident."""
        channel = self.ctx.s.bridge.channel
        self.ctx.note("bridge-recovered", f"#{channel}: {how}; the {what} message was posted after it")
        await self.tell(
            Role.incident_commander,
            f"bridge-recovered-{self.ctx.s.posts}",
            f"⚠️ Incident {self.ctx.incident_id}: #{channel} — {how}, so the {what} message got "
            f"through. Check who did it, and that everyone is still in the bridge.",
        )

    async def _continue(
        self, why: str, text: str, what: str, thread: bool, buttons: list[ChatButton]
    ) -> str | None:
        """The bridge was deleted mid-incident: open a continuation bridge (its purpose names the
        incident and the old channel), bring the people in, say so there and to the IC, then
        post what was missed. Once per loss: a continuation lost at once fails visibly."""
        ctx, s = self.ctx, self.ctx.s
        old, s.bridge.channel_id = s.bridge.channel, None
        ctx.note("bridge-lost", f"#{old}: {why}; the bridge continues in a new channel")
        if self.continuing:
            return None
        self.continuing = True
        message_id = None
        try:
            if await self._open_channel(bridge_purpose(ctx.incident_id, self._about(), continues=old)):
                await self._invite(ctx.engaged.bridge_members)
                s.bridge.opening_message_id = await self.send(
                    templates.bridge_continued(ctx.incident_id, old, why), "continuation"
                )
                message_id = await self.send(text, what, thread, buttons)
        finally:
            self.continuing = False
        where = (
            f"The bridge continues in #{s.bridge.channel}; everyone engaged was invited."
            if s.bridge.channel_id
            else "No new bridge could be opened: the incident has no bridge now (its timeline has all)."
        )
        await self.tell(
            Role.incident_commander,
            f"bridge-continued-{s.posts}",
            f"⚠️ Incident {ctx.incident_id}: #{old} was deleted ({why}). {where} Check who deleted it.",
        )
        return message_id

    async def tell(self, role: Role, key: str, text: str, buttons: list[ChatButton] = ()) -> None:
        person = self.ctx.person(role)
        if not person:
            self.ctx.note("notify-skipped", f"nobody holds the {role.title} role: {key} not sent")
            return
        await self.tell_person(person.email, key, text, buttons, person.name)

    async def tell_person(
        self, email: str, key: str, text: str, buttons: list[ChatButton] = (), name: str | None = None
    ) -> None:
        """A direct message to this person, whatever role they hold now."""
        sent = await self._outside(
            BridgeActivities.notify_person,
            PersonNotice(
                incident_id=self.ctx.incident_id, email=email, key=key, text=text, buttons=list(buttons)
            ),
            f"message {name or email}",
        )
        if sent and sent.skipped:
            self.ctx.note("notify-skipped", f"{key} not sent: {sent.skipped}")
        elif sent and sent.message_id:
            self.ctx.note("notified", f"{key} → {name or email}")

    async def archive(self) -> None:
        """§4.5 step 6."""
        s = self.ctx.s
        if not s.bridge.channel_id:
            return
        archived = await self._outside(
            BridgeActivities.archive_bridge,
            ArchiveBridge(channel_id=s.bridge.channel_id),
            "archive the bridge",
        )
        s.bridge.archived = archived is not None
        if s.bridge.archived:
            self.ctx.note("bridge", f"bridge #{s.bridge.channel} archived")

    # --- steps --------------------------------------------------------------------------------------

    async def _open(self) -> None:
        ctx, s = self.ctx, self.ctx.s
        await self.on_call.look("open")  # before anyone is invited or named
        if not await self._open_channel(bridge_purpose(ctx.incident_id, self._about())):
            return
        await self._invite(ctx.engaged.bridge_members)
        s.bridge.opening_message_id = await self.send(
            templates.bridge_opening(
                severity=s.decision.severity,
                summary=s.summary,
                impact=s.impact or ctx.default_impact(),
                started_at=s.started_at,
                received_at=s.received_at,
                start_believed=s.start_believed,
                ic=ctx.person(Role.incident_commander),
                primary=ctx.person(Role.oncall_primary),
                secondary=ctx.person(Role.oncall_secondary),
                pagerduty=f"{ctx.policy.links.pagerduty} (dedup key {ctx.incident_id}:<role>)",
            ),
            "opening",
            buttons=chat_buttons.opening(ctx.incident_id),
        )

    async def _look_and_invite(self, roles: list[Role] | None, why: str) -> None:
        """Look, announce each handoff, then invite `roles` (None: only the handoffs' new holders)."""
        handoffs = await self.on_call.look(why)
        for handoff in handoffs:
            await self._announce(handoff)
        if roles is not None or handoffs:
            await self._invite(list(dict.fromkeys([*(roles or []), *(h.role for h in handoffs)])))

    async def _announce(self, handoff: Handoff) -> None:
        """A handoff said in the bridge, naming the new holder as a mention."""
        before, now = handoff.before.name or "nobody", self.ctx.person(handoff.role)
        await self.send(
            f"🔁 On-call handoff: {handoff.role.title} is now {templates.mention(now)} "
            f"(was {before}; {handoff.after.detail})",
            "handoff",
        )

    async def _open_channel(self, purpose: str) -> bool:
        """A new bridge channel whose purpose names the incident; False (noted) when none opened."""
        ctx, s = self.ctx, self.ctx.s
        opened = await self._outside(
            BridgeActivities.open_bridge,
            OpenBridgeRequest(
                incident_id=ctx.incident_id,
                channel_prefix=ctx.policy.bridge_channel_prefix,
                started_at=s.started_at,
                purpose=purpose,
                private=s.private,
            ),
            "open the incident bridge",
        )
        if opened is None or opened.skipped:
            s.bridge.skipped = opened.skipped if opened else "failed"
            if opened:
                ctx.note("bridge-skipped", opened.skipped)
            return False
        s.bridge.channel, s.bridge.channel_id = opened.channel, opened.channel_id
        ctx.note("bridge", f"bridge opened: #{opened.channel}")
        if opened.left_behind:  # a lost create's channel, maybe: people decide (plan/bridge_proof.py)
            ctx.note("bridge-left-behind", opened.left_behind)
        return True

    def _about(self) -> str:
        """The purpose's summary: none for a private incident (its purpose names only its id)."""
        return "" if self.ctx.s.private else self.ctx.s.summary

    async def _invite(self, roles: list[Role]) -> None:
        s = self.ctx.s
        if not s.bridge.channel_id or s.bridge.archived:
            return
        emails = list(dict.fromkeys(p.email for p in map(self.ctx.person, roles) if p))
        invited = await self._outside(
            BridgeActivities.invite_to_bridge,
            InviteRequest(channel_id=s.bridge.channel_id, emails=emails),
            "invite people to the bridge",
        )
        if invited and invited.failed:
            self.ctx.note(
                "invite-failed",
                "could not invite " + ", ".join(f"{u} ({e})" for u, e in invited.failed.items()),
            )

    async def _outside(self, activity, request, what: str):
        return await outside(self.ctx, activity, request, what=what, slow_in_bridge=False)
