"""§8 as deciders: the ledger of deliverables opened at resolution, what people close or waive,
action items, and the ledger's clock (reminders, overdue, one escalation). Pure."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from plan import buttons as chat_buttons
from plan import templates
from plan.bounds import ACTION_ITEMS, over
from plan.decide import requests
from plan.decide.common import close_deliverable
from plan.decision import Actor, Draft
from plan.deliverables import AddActionItem, CompleteDeliverable, Deliverable, WaiveDeliverable, open_ledger
from plan.effects import Escalate, InviteToPostmortem, Measure, Notify, Promised, Ticket
from plan.events import EventKind as K
from plan.models import DeliverableKey, Role
from plan.privacy import ticket_content


def open_(d: Draft) -> None:
    """§8: what is owed, by whom, by when; the tickets and invitations that start it; the §5.4
    customer email's draft, for the Communications Lead to approve."""
    s, resolved = d.s, d.s.resolution.at
    s.ledger, s.ledger_opened = open_ledger(d.policy, s.decision.severity, resolved), True
    d.note(
        K.ledger,
        "§8 deliverables: " + "; ".join(f"{e.title} due {e.due_at:%Y-%m-%d %H:%M}" for e in s.ledger),
    )
    meeting = _due(s.ledger, DeliverableKey.postmortem_meeting, resolved + timedelta(hours=72))
    d.effect(
        _ticket(
            d,
            "postmortem",
            f"Post-mortem: {s.summary}",
            s.postmortem_draft or "Post-mortem draft to be written.",
            meeting,
            Role.incident_commander,
        ),
        _ticket(
            d,
            "postmortem-meeting",
            f"Post-mortem meeting: {s.summary}",
            f"Blameless post-mortem meeting for incident {d.given.incident_id}, with every engineer "
            f"involved (§4.6). Hold it before {meeting:%Y-%m-%d %H:%M} UTC.",
            meeting,
            Role.incident_commander,
        ),
        InviteToPostmortem(meeting.isoformat()),
    )
    if _entry(s.ledger, DeliverableKey.runbook_update):
        d.effect(
            _ticket(
                d,
                "runbook-update",
                f"Runbook update after {d.given.incident_id}",
                f"Update {d.policy.links.runbooks} with what this incident taught (§4.6).\n\n"
                f"Summary: {s.summary}",
                _due(s.ledger, DeliverableKey.runbook_update, resolved + timedelta(days=7)),
                Role.oncall_primary,
            )
        )
    if _entry(s.ledger, DeliverableKey.customer_email):
        requests.draft_customer_email(d)


def complete_deliverable(d: Draft, done: CompleteDeliverable, actor: Actor) -> None:
    entry = _open_entry(d, "complete_deliverable", done.deliverable)
    close_deliverable(d, entry.key, "done", done.by, link=done.link)


def waive_deliverable(d: Draft, waive: WaiveDeliverable, actor: Actor) -> None:
    entry = _open_entry(d, "waive_deliverable", waive.deliverable)
    close_deliverable(d, entry.key, "waived", waive.by, reason=waive.reason)


def add_action_item(d: Draft, item: AddActionItem, actor: Actor) -> None:
    """A post-mortem action item, as a ticket (§8: within 72 hours), numbered in order."""
    s = d.s
    done = s.action_items or 0
    if why := over(done, ACTION_ITEMS, "action items"):
        d.refuse("add_action_item", why)
    n = s.action_items = done + 1
    due = (
        datetime.combine(item.due, time(), tzinfo=UTC)
        if item.due
        else (s.resolution.at if s.resolution else d.now) + timedelta(hours=72)
    )
    d.note(
        K.action_item,
        f"action item {n}: {item.title} (owner {item.owner}, due {due:%Y-%m-%d})",
        by=item.by,
        number=n,
    )
    d.effect(
        _ticket(
            d,
            f"action-item-{n}",
            item.title,
            f"Action item from the post-mortem of incident {d.given.incident_id} ({s.summary}).\n\n"
            f"Added by {item.by}.",
            due,
            item.owner,
        )
    )


# --- the ledger's clock ------------------------------------------------------------------------------


def tick(d: Draft) -> None:
    """Reminders at their moments; a deliverable past its SLA is overdue, and escalated once."""
    for entry in list(d.s.ledger):
        _remind(d, entry)
        entry = _entry(d.s.ledger, entry.key)
        if entry.state == "pending" and d.now >= entry.due_at:
            escalate = not entry.optional and not entry.escalated
            _replace(d, entry, state="overdue", escalated=entry.escalated or escalate)
            d.note(K.overdue, f"{entry.title} is overdue", deliverable=entry.key)
            d.effect(Measure("irp_deliverables_overdue", entry.key))
            if not entry.optional:  # §8's promise missed (plan/compliance.py)
                d.effect(Promised(entry.key, d.s.decision.severity, "missed"))
            if escalate:
                d.s.escalations += 1
                d.effect(Escalate(entry.key))


def _remind(d: Draft, entry: Deliverable) -> None:
    reminded = entry.reminded
    while entry.state == "pending" and reminded < len(entry.reminders) and d.now >= entry.reminders[reminded]:
        reminded += 1
        if d.now < entry.due_at:
            d.note(
                K.reminder,
                f"reminded {entry.owner.title}: {entry.title} due {entry.due_at:%Y-%m-%d %H:%M}",
                deliverable=entry.key,
            )
            d.effect(
                Notify(
                    key=f"reminder-{entry.key}-{reminded}",
                    role=entry.owner,
                    text=templates.deliverable_reminder(
                        title=entry.title, incident_id=d.given.incident_id, due_at=entry.due_at, key=entry.key
                    ),
                    buttons=tuple(chat_buttons.deliverable(d.given.incident_id, entry.key)),
                )
            )
    if reminded != entry.reminded:
        _replace(d, entry, reminded=reminded)


def _replace(d: Draft, entry: Deliverable, **update) -> None:
    d.s.ledger = [e.model_copy(update=update) if e.key == entry.key else e for e in d.s.ledger]


# --- helpers -------------------------------------------------------------------------------------


def _ticket(d: Draft, key: str, summary: str, description: str, due: datetime, owner: Role | str) -> Ticket:
    """`owner` is a role (its holder now) or a person's email (action items)."""
    # A Role is a str too (StrEnum): ask for the role first, or its key is taken for an email.
    assignee = getattr(d.holder(owner), "email", None) if isinstance(owner, Role) else owner
    title, description = ticket_content(
        d.given.incident_id, key, title=summary, description=description, private=d.s.private
    )
    return Ticket(
        key=key, title=title[:250], description=description, due=due.date().isoformat(), owner=assignee
    )


def _entry(ledger: list[Deliverable], key: str) -> Deliverable | None:
    return next((e for e in ledger if e.key == key), None)


def _due(ledger: list[Deliverable], key: str, default: datetime) -> datetime:
    entry = _entry(ledger, key)
    return entry.due_at if entry else default


def _open_entry(d: Draft, signal: str, key: str) -> Deliverable:
    entry = _entry(d.s.ledger, key)
    if entry is None:
        known = ", ".join(e.key for e in d.s.ledger) or "none yet: the ledger opens at resolution"
        d.refuse(signal, f"no deliverable {key!r}; the ledger has: {known}")
    if not entry.open:
        d.refuse(signal, f"{key} is already {entry.state}")
    return entry
