"""§4.6 and §8 after resolution: the post-mortem draft, the tickets, the invitations and the
ledger of deliverables, each on a durable clock with reminders and one escalation."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.email import EmailActivities, EmailRequest
    from activities.postmortem import PostmortemActivities, PostmortemFacts
    from activities.tickets import TicketActivities, TicketRequest
    from plan import Role, templates
    from plan import buttons as chat_buttons
    from plan.bounds import ACTION_ITEMS, over
    from plan.deliverables import (
        AddActionItem,
        CompleteDeliverable,
        Deliverable,
        WaiveDeliverable,
        close,
        next_moment,
        open_ledger,
    )
    from plan.models import DeliverableKey
    from plan.postmortem import facts
    from workflows import metrics
    from workflows.bridge import Bridge
    from workflows.context import IncidentContext
    from workflows.customer_email import CustomerEmail
    from workflows.outside import outside


class Ledger:
    TICKETS = "tickets"
    ESCALATIONS = "email"

    def __init__(self, ctx: IncidentContext, bridge: Bridge, customer_email: CustomerEmail) -> None:
        self.ctx, self.bridge, self.customer_email = ctx, bridge, customer_email

    # --- at resolution ---------------------------------------------------------------------------

    async def draft_postmortem(self) -> None:
        """§4.6: the draft from the timeline, the last words in the bridge before it is archived."""
        ctx, s = self.ctx, self.ctx.s
        s.postmortem_draft = (
            await outside(
                ctx,
                PostmortemActivities.draft_postmortem,
                PostmortemFacts(incident_id=ctx.incident_id, facts=facts(ctx.incident_id, s)),
                what="draft the post-mortem",
            )
            or ""
        )
        if s.postmortem_draft:
            await self.bridge.send(
                "📝 Post-mortem draft (§4.6), from this incident's timeline; it is attached to the "
                "post-mortem ticket:\n" + s.postmortem_draft[:35000],
                "postmortem-draft",
            )

    def open(self) -> None:
        """§8: what is owed, by whom, by when; the tickets and invitations that start it."""
        ctx, s = self.ctx, self.ctx.s
        resolved = s.resolution.at
        s.ledger, s.ledger_opened = open_ledger(ctx.policy, s.decision.severity, resolved), True
        ctx.note(
            "ledger",
            "§8 deliverables: " + "; ".join(f"{d.title} due {d.due_at:%Y-%m-%d %H:%M}" for d in s.ledger),
        )
        meeting = self._due(DeliverableKey.postmortem_meeting, resolved + timedelta(hours=72))
        self._ticket(
            "postmortem",
            f"Post-mortem: {s.summary}",
            s.postmortem_draft or "Post-mortem draft to be written.",
            meeting,
            Role.incident_commander,
        )
        self._ticket(
            "postmortem-meeting",
            f"Post-mortem meeting: {s.summary}",
            f"Blameless post-mortem meeting for incident {ctx.incident_id}, with every engineer involved "
            f"(§4.6). Hold it before {meeting:%Y-%m-%d %H:%M} UTC.",
            meeting,
            Role.incident_commander,
        )
        ctx.later(
            Bridge.LANE, self._invite_to_postmortem, meeting
        )  # not behind Jira: a ticket link if one is ready
        if self._entry(DeliverableKey.runbook_update):
            self._ticket(
                "runbook-update",
                f"Runbook update after {ctx.incident_id}",
                f"Update {ctx.policy.links.runbooks} with what this incident taught (§4.6).\n\n"
                f"Summary: {s.summary}",
                self._due(DeliverableKey.runbook_update, resolved + timedelta(days=7)),
                Role.oncall_primary,
            )
        if self._entry(DeliverableKey.customer_email):
            self.customer_email.draft()
        ctx.publish()

    # --- what people send ----------------------------------------------------------------------------

    def complete_deliverable(self, done: CompleteDeliverable) -> None:
        if entry := self._open_entry("complete_deliverable", done.deliverable):
            self.ctx.note(
                "deliverable",
                close(self.ctx.s.ledger, entry.key, "done", done.by, workflow.now(), link=done.link),
                by=done.by,
            )
            self.ctx.publish()

    def waive_deliverable(self, waive: WaiveDeliverable) -> None:
        if entry := self._open_entry("waive_deliverable", waive.deliverable):
            self.ctx.note(
                "deliverable",
                close(self.ctx.s.ledger, entry.key, "waived", waive.by, workflow.now(), reason=waive.reason),
                by=waive.by,
            )
            self.ctx.publish()

    def add_action_item(self, item: AddActionItem) -> None:
        s = self.ctx.s
        done = (
            s.action_items if s.action_items is not None else sum(e.kind == "action-item" for e in s.timeline)
        )
        if s.refusals is not None and (why := over(done, ACTION_ITEMS, "action items")):
            self.ctx.refuse("add_action_item", why)
            return
        n = s.action_items = done + 1
        due = (
            datetime.combine(item.due, time(), tzinfo=UTC)
            if item.due
            else (s.resolution.at if s.resolution else workflow.now()) + timedelta(hours=72)
        )
        self.ctx.note(
            "action-item",
            f"action item {n}: {item.title} (owner {item.owner}, due {due:%Y-%m-%d})",
            by=item.by,
        )
        self._ticket(
            f"action-item-{n}",
            item.title,
            f"Action item from the post-mortem of incident "
            f"{self.ctx.incident_id} ({s.summary}).\n\nAdded by {item.by}.",
            due,
            item.owner,
        )

    # --- the clock ----------------------------------------------------------------------------------

    def next_clock(self) -> datetime | None:
        return next_moment(self.ctx.s.ledger)

    def check(self, now: datetime) -> None:
        for d in self.ctx.s.ledger:
            self._remind(d, now)
            if d.state == "pending" and now >= d.due_at:
                d.state = "overdue"
                self.ctx.note("overdue", f"{d.title} is overdue")
                metrics.deliverable_overdue(d.key)
                self.ctx.publish()
                if not d.optional and not d.escalated:
                    d.escalated = True
                    self.ctx.s.escalations += 1
                    self.ctx.later(self.ESCALATIONS, self._escalate, d.key)

    def _remind(self, d: Deliverable, now: datetime) -> None:
        while d.state == "pending" and d.reminded < len(d.reminders) and now >= d.reminders[d.reminded]:
            d.reminded += 1
            if now < d.due_at:
                self.ctx.note(
                    "reminder", f"reminded {d.owner.title}: {d.title} due {d.due_at:%Y-%m-%d %H:%M}"
                )
                self.bridge.notify(
                    d.owner,
                    f"reminder-{d.key}-{d.reminded}",
                    templates.deliverable_reminder(
                        title=d.title, incident_id=self.ctx.incident_id, due_at=d.due_at, key=d.key
                    ),
                    chat_buttons.deliverable(self.ctx.incident_id, d.key),
                )

    # --- steps ----------------------------------------------------------------------------------------

    def _ticket(self, key: str, summary: str, description: str, due: datetime, owner: Role | str) -> None:
        """`owner` is a role, or a person's email (action items)."""
        self.ctx.later(self.TICKETS, self._create_ticket, key, summary, description, due, owner)

    async def _create_ticket(
        self, key: str, summary: str, description: str, due: datetime, owner: Role | str
    ) -> None:
        ctx = self.ctx
        # A Role is a str too (StrEnum): ask for the role first, or its key is taken for an email.
        assignee = getattr(ctx.person(owner), "email", None) if isinstance(owner, Role) else owner
        result = await outside(
            ctx,
            TicketActivities.create_ticket,
            TicketRequest(
                incident_id=ctx.incident_id,
                key=key,
                summary=summary[:250],
                description=description,
                due=due.date(),
                assignee_email=assignee,
            ),
            what=f"create the {key} ticket",
        )
        if result and result.url:
            ctx.s.tickets[key] = result.url
            ctx.note(
                "ticket", f"{key}: {result.key} {result.url}" + (f" ({result.note})" if result.note else "")
            )
        elif result and result.skipped:
            ctx.note("ticket-skipped", f"{key}: {result.skipped}")

    async def _invite_to_postmortem(self, meeting: datetime) -> None:
        """§4.6: all involved engineers — everyone paged, invited or acting in the incident."""
        ctx, s = self.ctx, self.ctx.s
        involved = {p.person for p in s.paged if p.person} | {
            e.by for e in s.timeline if e.by and "@" in e.by
        }
        for email in sorted(involved):
            if ctx.policy.role_of(email):  # to the person who was there, not the role's holder now
                await self.bridge.tell_person(
                    email,
                    f"postmortem-invitation-{email}",
                    templates.postmortem_invitation(
                        incident_id=ctx.incident_id,
                        summary=s.summary,
                        due_at=meeting,
                        ticket=s.tickets.get("postmortem-meeting"),
                    ),
                )

    async def _escalate(self, key: str) -> None:
        """Once per deliverable: the Engineering Lead hears on chat and by email."""
        ctx, d = self.ctx, self._entry(key)
        owner = ctx.person(d.owner)
        text = templates.deliverable_overdue(
            title=d.title,
            incident_id=ctx.incident_id,
            due_at=d.due_at,
            owner=owner.name if owner else d.owner.title,
        )
        ctx.note("escalated", f"{d.title} overdue: escalated to the Engineering Lead")
        await self.bridge.tell(Role.engineering_lead, f"escalation-{key}", text)
        if lead := ctx.person(Role.engineering_lead):
            await outside(
                ctx,
                EmailActivities.send_email,
                EmailRequest(
                    incident_id=ctx.incident_id,
                    key=f"escalation-{key}",
                    to=[lead.email],
                    subject=f"[preskool-irp] Overdue: {d.title} ({ctx.incident_id})",
                    body=text,
                ),
                what="email the escalation",
            )

    # --- helpers --------------------------------------------------------------------------------------

    def _entry(self, key: str) -> Deliverable | None:
        return next((d for d in self.ctx.s.ledger if d.key == key), None)

    def _due(self, key: str, default: datetime) -> datetime:
        entry = self._entry(key)
        return entry.due_at if entry else default

    def _open_entry(self, signal: str, key: str) -> Deliverable | None:
        entry = self._entry(key)
        if entry is None:
            known = ", ".join(d.key for d in self.ctx.s.ledger) or "none yet: the ledger opens at resolution"
            self.ctx.refuse(signal, f"no deliverable {key!r}; the ledger has: {known}")
        elif not entry.open:
            self.ctx.refuse(signal, f"{key} is already {entry.state}")
            entry = None
        return entry
