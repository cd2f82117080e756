"""The incident bridge (§4.1, §5), as the chat lane: the channel, who is in it, everything said
there, and direct messages. What to say is decided before (plan/decide/); this lane says it, in
order, and records what came of it (plan/decide/outcomes.py). `send` says it now, from whichever
lane is running (the close-out's last words before the bridge is archived)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.chat import (
        ArchiveBridge,
        BridgeActivities,
        BridgePicture,
        BridgePost,
        InviteRequest,
        MemberQuery,
        OpenBridgeRequest,
        PersonNotice,
    )
    from plan import Role, templates
    from plan import buttons as chat_buttons
    from plan.bridge_proof import bridge_purpose
    from plan.buttons import ChatButton
    from plan.decide import outcomes, roles
    from plan.events import EventKind as K
    from plan.oncall import Handoff
    from plan.picture import TimelinePicture
    from workflows import oncall
    from workflows.outside import outside

LANE = "chat"
TELL_NOT_INVITED = "invite-each"  # the IC and each person not invited are told directly (issue 23)
ONCE = ("opening", "triage-checklist")  # messages an incident posts once; every other is numbered


async def open_(r) -> None:
    """#<prefix>-<YYYY-MM-DD>, its members, and the §5.1 opening."""
    s = r.state
    await oncall.look(r, "open")  # before anyone is invited or named
    if not await _open_channel(r, bridge_purpose(r.incident_id, _about(r))):
        return
    await _invite(r, r.engaged.bridge_members)
    definition = r.policy.severities[s.decision.severity]
    opening = await send(
        r,
        templates.bridge_opening(
            severity=s.decision.severity,
            summary=s.summary,
            impact=s.impact or f"{definition.name}: {definition.definition}",
            started_at=s.started_at,
            received_at=s.received_at or s.started_at,
            start_believed=s.start_believed,
            ic=r.holder(Role.incident_commander),
            primary=r.holder(Role.oncall_primary),
            secondary=r.holder(Role.oncall_secondary),
            pagerduty=f"{r.policy.links.pagerduty} (dedup key {r.key_id}:<role>)",
        ),
        "opening",
        buttons=chat_buttons.opening(r.incident_id),
    )
    r.decide(outcomes.bridge, opening_message_id=opening)


async def send(r, text: str, what: str, thread: bool = False, buttons: list[ChatButton] = ()) -> str | None:
    """Post in the bridge. Each post has a key of its own, so a retry never posts twice."""
    bridge = r.state.bridge
    if not bridge.channel_id or bridge.archived:
        if bridge.channel and not bridge.archived:  # lost, not closed: say what was not posted
            r.note(K.post_skipped, f"the {what} message was not posted: the incident has no bridge")
        return None
    r.decide(outcomes.counted_post)
    key = what if what in ONCE else f"{what}-{r.state.posts}"
    posted = await _outside(
        r,
        BridgeActivities.post_to_bridge,
        BridgePost(
            incident_id=r.incident_id,
            channel_id=bridge.channel_id,
            key=key,
            text=text,
            thread=bridge.opening_message_id if thread else None,
            buttons=list(buttons),
        ),
        f"post the {what} message",
    )
    if posted and posted.skipped:
        r.note(K.post_skipped, f"the {what} message was not posted: {posted.skipped}")
        return None
    if posted and posted.gone:
        return await _continue(r, posted.gone, text, what, thread, buttons)
    if posted and posted.recovered:
        await _recovered(r, posted.recovered, what)
    if posted:
        r.note(K.posted, f"posted the {what} message in #{r.state.bridge.channel}")
    return posted.message_id if posted else None


async def share_picture(r, drawn: TimelinePicture, thread: str | None, filename: str) -> None:
    """§4.6: the timeline picture as a file in the thread of the post-mortem draft (`thread`, its
    message id), once: its title carries the incident's outward key, which a retry looks for.
    Not shared (said as a typed event, never a failed step) when the draft did not reach the
    bridge, or the bridge is archived, left or deleted, or the chat service refuses the file."""
    bridge = r.state.bridge
    if not bridge.channel_id or bridge.archived or not thread:
        why = "the post-mortem draft is not in the bridge" if bridge.channel_id else "there is no bridge"
        r.note(K.picture_skipped, f"the timeline picture was not shared in the bridge: {why}")
        return
    shared = await _outside(
        r,
        BridgeActivities.share_picture,
        BridgePicture(
            channel_id=bridge.channel_id,
            thread=thread,
            filename=filename,
            title=f"Incident timeline {r.key_id}",
            comment=f"🖼️ {r.incident_id}'s timeline: phases, pages, acknowledgements, updates, approvals, "
            "the gate (§4.6). It is attached to the post-mortem ticket too.",
            picture=drawn,
        ),
        "share the timeline picture",
    )
    if shared and shared.skipped:
        r.note(K.picture_skipped, f"the timeline picture was not shared in the bridge: {shared.skipped}")
    elif shared:
        r.note(K.picture_shared, f"the timeline picture {filename} is in #{bridge.channel}, under the draft")


async def _recovered(r, how: str, what: str) -> None:
    """The workspace archived the bridge or removed the bot; the provider reopened it. The
    timeline says so and the IC hears it directly: someone did that to an open incident."""
    channel = r.state.bridge.channel
    r.note(K.bridge_recovered, f"#{channel}: {how}; the {what} message was posted after it")
    await tell(
        r,
        Role.incident_commander,
        f"bridge-recovered-{r.state.posts}",
        f"⚠️ Incident {r.incident_id}: #{channel} — {how}, so the {what} message got through. "
        "Check who did it, and that everyone is still in the bridge.",
    )


async def _continue(r, why: str, text: str, what: str, thread: bool, buttons) -> str | None:
    """The bridge was deleted mid-incident: open a continuation bridge (its purpose names the
    incident and the old channel), bring the people in, say so there and to the IC, then post
    what was missed. Once per loss: a continuation lost at once fails visibly."""
    old = r.state.bridge.channel
    r.decide(outcomes.bridge, channel_id=None)
    r.note(K.bridge_lost, f"#{old}: {why}; the bridge continues in a new channel")
    if r.continuing:
        return None
    r.continuing, message_id = True, None
    try:
        if await _open_channel(r, bridge_purpose(r.incident_id, _about(r), continues=old)):
            await _invite(r, r.engaged.bridge_members)
            opening = await send(r, templates.bridge_continued(r.incident_id, old, why), "continuation")
            r.decide(outcomes.bridge, opening_message_id=opening)
            message_id = await send(r, text, what, thread, buttons)
    finally:
        r.continuing = False
    where = (
        f"The bridge continues in #{r.state.bridge.channel}; everyone engaged was invited."
        if r.state.bridge.channel_id
        else "No new bridge could be opened: the incident has no bridge now (its timeline has all)."
    )
    await tell(
        r,
        Role.incident_commander,
        f"bridge-continued-{r.state.posts}",
        f"⚠️ Incident {r.incident_id}: #{old} was deleted ({why}). {where} Check who deleted it.",
    )
    return message_id


async def tell(r, role: Role, key: str, text: str, buttons: list[ChatButton] = ()) -> None:
    """A direct message to whoever holds `role` now (reminders reach people after the archive)."""
    person = r.holder(role)
    if not person:
        r.note(K.notify_skipped, f"nobody holds the {role.title} role: {key} not sent")
        return
    await tell_person(r, person.email, key, text, buttons, person.name)


async def tell_person(r, email: str, key: str, text: str, buttons=(), name: str | None = None) -> None:
    """A direct message to this person, whatever role they hold now."""
    sent = await _outside(
        r,
        BridgeActivities.notify_person,
        PersonNotice(
            incident_id=r.key_id,
            email=email,
            key=key,
            text=text,
            buttons=list(buttons),
        ),
        f"message {name or email}",
    )
    if sent and sent.skipped:
        r.note(K.notify_skipped, f"{key} not sent: {sent.skipped}")
    elif sent and sent.message_id:
        r.note(K.notified, f"{key} → {name or email}")


async def archive(r) -> None:
    """§4.5 step 6."""
    bridge = r.state.bridge
    if not bridge.channel_id:
        return
    archived = await _outside(
        r, BridgeActivities.archive_bridge, ArchiveBridge(channel_id=bridge.channel_id), "archive the bridge"
    )
    r.decide(outcomes.bridge, archived=archived is not None)
    if archived is not None:
        r.note(K.bridge, f"bridge #{bridge.channel} archived")


async def look_and_invite(r, roles: list[Role] | None, why: str) -> None:
    """Look who is on call, announce each handoff, then invite `roles` (None: only the handoffs'
    new holders)."""
    handoffs = await oncall.look(r, why)
    for handoff in handoffs:
        await _announce(r, handoff)
    if roles is not None or handoffs:
        await _invite(r, list(dict.fromkeys([*(roles or []), *(h.role for h in handoffs)])))


async def _announce(r, handoff: Handoff) -> None:
    """In the bridge; a shift that ended (PagerDuty's `end`, issue 23) is said with its time."""
    before, now = handoff.before.name or "nobody", r.holder(handoff.role)
    until = handoff.before.until
    ended = (
        f". {before}'s shift ended at {templates.timestamp(until)}."
        if until and until <= workflow.now()
        else ""
    )
    await send(
        r,
        f"🔁 On-call handoff: {handoff.role.title} is now {templates.mention(now)} "
        f"(was {before}; {handoff.after.detail}){ended}",
        "handoff",
    )


async def _open_channel(r, purpose: str) -> bool:
    """A new bridge channel whose purpose names the incident; False (noted) when none opened."""
    s = r.state
    opened = await _outside(
        r,
        BridgeActivities.open_bridge,
        OpenBridgeRequest(
            incident_id=r.incident_id,
            channel_prefix=r.policy.bridge_channel_prefix,
            started_at=s.started_at,
            purpose=purpose,
            private=s.private,
        ),
        "open the incident bridge",
    )
    if opened is None or opened.skipped:
        r.decide(outcomes.bridge, skipped=opened.skipped if opened else "failed")
        if opened:
            r.note(K.bridge_skipped, opened.skipped)
        return False
    r.decide(outcomes.bridge, channel=opened.channel, channel_id=opened.channel_id)
    r.note(K.bridge, f"bridge opened: #{opened.channel}")
    if opened.left_behind:  # a lost create's channel, maybe: people decide (plan/bridge_proof.py)
        r.note(K.bridge_left_behind, opened.left_behind)
    return True


def _about(r) -> str:
    """The purpose's summary: none for a private incident (its purpose names only its id)."""
    return "" if r.state.private else r.state.summary


async def _invite(r, roles: list[Role]) -> None:
    bridge = r.state.bridge
    if not bridge.channel_id or bridge.archived:
        return
    held = {}  # email → the roles they are invited for
    for role in roles:
        if person := r.holder(role):
            held.setdefault(person.email, []).append(role)
    invited = await _outside(
        r,
        BridgeActivities.invite_to_bridge,
        InviteRequest(channel_id=bridge.channel_id, emails=list(held)),
        "invite people to the bridge",
    )
    if invited and invited.failed:  # each on their own, the IC and they told (issue 23)
        r.decide(outcomes.not_invited, invited.failed, held, workflow.patched(TELL_NOT_INVITED))


async def _outside(r, activity, request, what: str):
    return await outside(r, activity, request, what=what, slow_in_bridge=False)


async def verify_holder(r, asked) -> None:
    """Issue 23: ask the chat provider whether `asked.person` is a full member of the workspace,
    then give them the role or refuse it with the reason (plan/decide/roles.py)."""
    found = await _outside(
        r, BridgeActivities.check_member, MemberQuery(email=asked.person), f"verify {asked.person}"
    )
    member = bool(found and found.member)
    why = found.why if found else "the chat provider could not be asked (see the timeline)"
    r.decide(roles.verified, asked, member, why)
