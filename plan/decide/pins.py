"""📌 to the timeline (issue 15) as a decider: a bridge message someone reacts to with the policy's
pin emoji goes into the incident's timeline (and so the §4.6 post-mortem draft), with its author
and time; taking the reaction away takes it out again. Another emoji, or another channel, is no
pin: nothing happens (by design, not a refusal). Pure."""

from __future__ import annotations

from plan.alert_digest import clip
from plan.bounds import PIN_TEXT, PINS
from plan.bounds import clip as clip_to
from plan.decision import Actor, Draft
from plan.events import EventKind as K
from plan.incident import PinnedMessage
from plan.signals import PinMessage


def pin_message(d: Draft, pin: PinMessage, actor: Actor) -> None:
    s = d.s
    if pin.emoji != d.policy.pin_emoji or pin.channel != s.bridge.channel_id:
        return
    if pin.removed:
        if pin.message_id in s.pins:
            s.pins = {k: v for k, v in s.pins.items() if k != pin.message_id}
            d.unpin = pin.message_id  # the router takes its entry out of the timeline (by its field)
        return
    if pin.message_id in s.pins:
        return
    if len(s.pins) >= PINS:
        d.refuse("pin_message", f"the timeline already holds {PINS} pinned messages: unpin one first")
    s.pins = {
        **s.pins,
        pin.message_id: PinnedMessage(
            message_id=pin.message_id,
            author=pin.author,
            text=clip_to(pin.text, PIN_TEXT),
            at=d.now,
            by=pin.by,
        ),
    }
    text = f"📌 {pin.author or 'someone'}: {clip(' '.join(pin.text.split()), 500)} (pinned by {pin.by})"
    d.note(K.pinned, f"{text} · message {pin.message_id}", by=pin.by, message_id=pin.message_id)
