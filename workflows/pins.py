"""📌 to the timeline (issue 15): a bridge message someone reacts to with the policy's pin emoji
goes into the incident's timeline (and so the §4.6 post-mortem draft), with its author and time;
taking the reaction away takes it out again."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from plan.alert_digest import clip
    from plan.bounds import PIN_TEXT, PINS
    from plan.bounds import clip as clip_to
    from plan.incident import PinnedMessage
    from plan.signals import PinMessage
    from workflows.context import IncidentContext


class Pins:
    def __init__(self, ctx: IncidentContext) -> None:
        self.ctx = ctx

    def pin_message(self, pin: PinMessage) -> None:
        """Reactions with another emoji, or in another channel, are not pins: nothing to do."""
        ctx, s = self.ctx, self.ctx.s
        if pin.emoji != ctx.policy.pin_emoji or pin.channel != s.bridge.channel_id:
            return
        text = f"📌 {pin.author or 'someone'}: {clip(' '.join(pin.text.split()), 500)} (pinned by {pin.by})"
        if pin.removed:
            if s.pins.pop(pin.message_id, None):
                s.timeline = [
                    e for e in s.timeline if not (e.kind == "pinned" and e.text.endswith(pin.message_id))
                ]
                ctx.wake = True
            return
        if pin.message_id in s.pins:
            return
        if s.refusals is not None and len(s.pins) >= PINS:
            ctx.refuse("pin_message", f"the timeline already holds {PINS} pinned messages: unpin one first")
            return
        kept = clip_to(pin.text, PIN_TEXT) if s.refusals is not None else pin.text
        s.pins[pin.message_id] = PinnedMessage(
            message_id=pin.message_id, author=pin.author, text=kept, at=workflow.now(), by=pin.by
        )
        ctx.note("pinned", f"{text} · message {pin.message_id}", by=pin.by)
