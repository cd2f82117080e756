"""§4.6 and §8 after resolution: the post-mortem draft, the Jira tickets, the customer email
and the ledger of deliverables, each on a durable clock with reminders and one escalation."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.chat import BridgeActivities, PersonNotice
    from activities.email import EmailActivities, EmailRequest
    from activities.postmortem import PostmortemActivities, PostmortemFacts
    from activities.tickets import TicketActivities, TicketRequest
    from plan import Role, templates
    from plan.approvals import ActionRequest, approvals_complete, digest
    from plan.deliverables import (
        AddActionItem, CompleteDeliverable, Deliverable, EditCustomerEmail, WaiveDeliverable, ledger_closed,
        next_moment, open_ledger,
    )
    from plan.postmortem import facts
    from workflows import metrics
    from workflows.approvals import ApprovalSteps

CUSTOMER_EMAIL = "send_customer_email"


class DeliverableSteps(ApprovalSteps):
    def _closed(self) -> bool:
        return self.s.post_incident and ledger_closed(self.s.ledger)

    def _review_done(self) -> bool:
        return not self.s.post_incident or (ledger_closed(self.s.ledger) and self._idle())

    # --- at resolution ---------------------------------------------------------------------------

    async def _before_archive(self) -> None:
        self.s.postmortem_draft = await self._outside(
            PostmortemActivities.draft_postmortem, PostmortemFacts(incident_id=self.incident_id,
                                                                   facts=facts(self.incident_id, self.s)),
            what="draft the post-mortem") or ""
        if self.s.postmortem_draft:
            await self._post("📝 Post-mortem draft (§4.6), from this incident's timeline; it is attached to the "
                             "post-mortem ticket:\n" + self.s.postmortem_draft[:35000], "postmortem-draft")

    def _open_review(self) -> None:
        resolved = self.s.resolution.at
        self.s.ledger = open_ledger(self.policy, self.s.decision.severity, resolved)
        self._note("ledger", "§8 deliverables: " + "; ".join(f"{d.title} due {d.due_at:%Y-%m-%d %H:%M}"
                                                           for d in self.s.ledger))
        meeting = self._due("postmortem_meeting", resolved + timedelta(hours=72))
        self._later(self._ticket, "postmortem", f"Post-mortem: {self.s.summary}", self.s.postmortem_draft
                    or "Post-mortem draft to be written.", meeting, Role.incident_commander)
        self._later(self._ticket, "postmortem-meeting", f"Post-mortem meeting: {self.s.summary}",
                    f"Blameless post-mortem meeting for incident {self.incident_id}, with every engineer involved "
                    f"(§4.6). Hold it before {meeting:%Y-%m-%d %H:%M} UTC.", meeting, Role.incident_commander)
        self._later(self._invite_to_postmortem, meeting)
        if any(d.key == "runbook_update" for d in self.s.ledger):
            self._later(self._ticket, "runbook-update", f"Runbook update after {self.incident_id}",
                        f"Update {self.policy.links.runbooks} with what this incident taught (§4.6).\n\n"
                        f"Summary: {self.s.summary}", self._due("runbook_update", resolved + timedelta(days=7)),
                        Role.oncall_primary)
        if any(d.key == "customer_email" for d in self.s.ledger):
            self._draft_customer_email()

    def _due(self, key: str, default: datetime) -> datetime:
        return next((d.due_at for d in self.s.ledger if d.key == key), default)

    # --- the customer email (§5.4) ---------------------------------------------------------------

    def _draft_customer_email(self, edit: EditCustomerEmail | None = None) -> None:
        """The draft is a request for the Communications Lead's approval; its text is the request's
        params, so an approval binds to exactly the text that will be sent."""
        s, res = self.s, self.s.resolution
        draft = s.customer_email or {
            "start": s.started_at.isoformat(), "end": res.at.isoformat(),
            "affected": s.impact or self._default_impact(),
            "root_cause": res.root_cause or "We are still confirming the root cause; the post-mortem will follow.",
            "resolution": res.summary,
            "preventive_actions": "Action items from our post-mortem are tracked and will be completed.",
            "courtesy_days": str(self.policy.customer_email.courtesy_days),
        }
        if edit:
            draft = {**draft, **{k: v for k, v in edit.model_dump(exclude={"by"}).items() if v is not None}}
        s.customer_email = draft
        due = self._due("customer_email", res.at + timedelta(hours=2))
        request = ActionRequest(
            request_id="customer-email", action=CUSTOMER_EMAIL, title=self.policy.actions[CUSTOMER_EMAIL].title,
            forbidden=False, target="customers", params=draft, by="preskool-irp",
            reason="§8: customer email within 2 hours of resolution", digest=digest(CUSTOMER_EMAIL, "customers", draft),
            command=None, requested_at=workflow.now(), expires_at=due)
        earlier = s.requests.get("customer-email")
        if earlier:
            request.approvals = earlier.approvals  # kept for the record; they no longer match the new text
        s.requests["customer-email"] = request
        subject, body = self._customer_email_text(draft)
        self._note("customer-email", "customer email drafted" + (f", edited by {edit.by}" if edit else ""))
        self._later(self._notify, Role.communications_lead, f"customer-email-draft-{len(self.s.timeline)}",
                    f"✉️ Customer email draft for incident {self.incident_id} (§5.4), due {due:%H:%M} UTC. "
                    f"To: {', '.join(self._customer_recipients())}\nSubject: {subject}\n\n{body}\n\n"
                    f"Send it: `approve` {{\"request_id\": \"customer-email\", \"by\": \"<your email>\"}}. "
                    f"Change it first: `edit_customer_email` {{\"by\", \"affected\"?, \"root_cause\"?, "
                    f"\"resolution\"?, \"preventive_actions\"?, \"courtesy_days\"?}}.")

    def _customer_email_text(self, draft: dict[str, str]) -> tuple[str, str]:
        return templates.customer_email(
            start=datetime.fromisoformat(draft["start"]), end=datetime.fromisoformat(draft["end"]),
            affected=draft["affected"], root_cause=draft["root_cause"], resolution=draft["resolution"],
            preventive_actions=draft["preventive_actions"], courtesy_days=int(draft["courtesy_days"]),
            support=self.policy.customer_email.support)

    def _customer_recipients(self) -> list[str]:
        tenants = self.s.blast_radius.tenants if self.s.blast_radius and self.s.blast_radius.scope == "tenant" else []
        chosen = [a for t in tenants for a in self.policy.customer_email.recipients.get(t, [])]
        if not tenants:
            chosen = [a for addrs in self.policy.customer_email.recipients.values() for a in addrs]
        return list(dict.fromkeys(chosen + self.policy.customer_email.default_recipients))

    def _edit_customer_email(self, edit: EditCustomerEmail) -> None:
        request = self.s.requests.get("customer-email")
        if request is None or request.state != "pending":
            self._refuse("edit_customer_email", "there is no customer email draft waiting for approval"
                         + (f" (it is {request.state})" if request else ""))
            return
        if not self._allowed("edit_customer_email", edit.by):
            return
        self._draft_customer_email(edit)

    def _approved(self, request: ActionRequest, by: str) -> None:
        if request.action != CUSTOMER_EMAIL:
            super()._approved(request, by)
            return
        request.state, request.decided_by, request.decided_at = "approved", by, workflow.now()
        self._later(self._send_customer_email)

    async def _send_customer_email(self) -> None:
        request = self.s.requests["customer-email"]
        if request.state != "approved" or not approvals_complete(self.policy.actions[CUSTOMER_EMAIL], request):
            self._note("refused", "customer email not sent: its approval does not match the draft")
            return
        subject, body = self._customer_email_text(request.params)
        sent, failed = [], []
        for n, address in enumerate(self._customer_recipients(), 1):  # one each: schools never see each other
            result = await self._outside(EmailActivities.send_email, EmailRequest(
                incident_id=self.incident_id, key=f"customer-email-{n}", to=[address], subject=subject, body=body),
                what=f"send the customer email to {address}")
            (sent if result and result.message_id else failed).append(
                address if result and result.message_id else f"{address} ({result.skipped if result else 'failed'})")
        request.outcome = f"sent to {len(sent)} school(s)" + (f"; not sent: {', '.join(failed)}" if failed else "")
        request.state = "done" if sent and not failed else "failed"
        self._note("customer-email", f"customer email {request.outcome}", by=request.decided_by)
        if request.state == "done":
            self._close("customer_email", "done", request.decided_by, link=f"sent to {', '.join(sent)}")

    # --- tickets and invitations -----------------------------------------------------------------

    async def _ticket(self, key: str, summary: str, description: str, due: datetime, owner: Role | str) -> None:
        """`owner` is a role, or a person's email (action items)."""
        assignee = owner if isinstance(owner, str) else getattr(self._person(owner), "email", None)
        result = await self._outside(TicketActivities.create_ticket, TicketRequest(
            incident_id=self.incident_id, key=key, summary=summary[:250], description=description, due=due.date(),
            assignee_email=assignee), what=f"create the {key} ticket")
        if result and result.url:
            self.s.tickets[key] = result.url
            self._note("ticket", f"{key}: {result.key} {result.url}" + (f" ({result.note})" if result.note else ""))
        elif result and result.skipped:
            self._note("ticket-skipped", f"{key}: {result.skipped}")

    async def _invite_to_postmortem(self, meeting: datetime) -> None:
        """§4.6: all involved engineers — everyone paged, invited or acting in the incident."""
        involved = {p.person for p in self.s.paged if p.person} | {e.by for e in self.s.timeline if e.by and "@" in e.by}
        for email in sorted(involved):
            roles = self.policy.role_of(email)
            if roles:
                await self._notify(roles[0], f"postmortem-invitation-{email}", templates.postmortem_invitation(
                    incident_id=self.incident_id, summary=self.s.summary, due_at=meeting,
                    ticket=self.s.tickets.get("postmortem-meeting")))

    async def _notify(self, role: Role, key: str, text: str) -> None:
        person = self._person(role)
        if not person:
            self._note("notify-skipped", f"nobody holds the {role.title} role: {key} not sent")
            return
        sent = await self._outside(BridgeActivities.notify_person, PersonNotice(
            incident_id=self.incident_id, email=person.email, key=key, text=text),
            what=f"message {person.name}")
        if sent and sent.skipped:
            self._note("notify-skipped", f"{key} not sent: {sent.skipped}")
        elif sent and sent.message_id:
            self._note("notified", f"{key} → {person.name}")

    # --- the ledger ------------------------------------------------------------------------------

    def _complete(self, done: CompleteDeliverable) -> None:
        if entry := self._open_entry("complete_deliverable", done.deliverable):
            self._close(entry.key, "done", done.by, link=done.link)

    def _waive(self, waive: WaiveDeliverable) -> None:
        if self._allowed("waive_deliverable", waive.by) and (entry := self._open_entry("waive_deliverable",
                                                                                      waive.deliverable)):
            self._close(entry.key, "waived", waive.by, reason=waive.reason)

    def _open_entry(self, signal: str, key: str) -> Deliverable | None:
        entry = next((d for d in self.s.ledger if d.key == key), None)
        if entry is None:
            known = ", ".join(d.key for d in self.s.ledger) or "none yet: the ledger opens at resolution"
            self._refuse(signal, f"no deliverable {key!r}; the ledger has: {known}")
        elif not entry.open:
            self._refuse(signal, f"{key} is already {entry.state}")
            entry = None
        return entry

    def _close(self, key: str, state: str, by: str | None, link: str | None = None, reason: str | None = None) -> None:
        entry = next(d for d in self.s.ledger if d.key == key)
        entry.state, entry.closed_by, entry.closed_at, entry.link, entry.reason = state, by, workflow.now(), link, reason
        self._note("deliverable", f"{entry.title}: {state} by {by}" + (f" ({link or reason})" if link or reason else ""),
                   by=by)

    def _add_action_item(self, item: AddActionItem) -> None:
        n = 1 + sum(1 for e in self.s.timeline if e.kind == "action-item")
        due = datetime.fromisoformat(item.due) if item.due else \
            (self.s.resolution.at if self.s.resolution else workflow.now()) + timedelta(hours=72)
        self._note("action-item", f"action item {n}: {item.title} (owner {item.owner}, due {due:%Y-%m-%d})", by=item.by)
        self._later(self._ticket, f"action-item-{n}", item.title,
                    f"Action item from the post-mortem of incident {self.incident_id} ({self.s.summary}).\n\n"
                    f"Added by {item.by}.", due, item.owner)

    def _next_clock(self) -> datetime | None:
        return min([m for m in (super()._next_clock(), next_moment(self.s.ledger)) if m], default=None)

    def _check_clocks(self) -> None:
        super()._check_clocks()
        now = workflow.now()
        for d in self.s.ledger:
            while d.state == "pending" and d.reminded < len(d.reminders) and now >= d.reminders[d.reminded]:
                d.reminded += 1
                if now < d.due_at:
                    self._note("reminder", f"reminded {d.owner.title}: {d.title} due {d.due_at:%Y-%m-%d %H:%M}")
                    self._later(self._notify, d.owner, f"reminder-{d.key}-{d.reminded}", templates.deliverable_reminder(
                        title=d.title, incident_id=self.incident_id, due_at=d.due_at, key=d.key))
            if d.state == "pending" and now >= d.due_at:
                d.state = "overdue"
                self._note("overdue", f"{d.title} is overdue")
                metrics.deliverable_overdue(d.key)
                if not d.optional and not d.escalated:
                    d.escalated = True
                    self.s.escalations += 1
                    self._later(self._escalate, d.key)

    async def _escalate(self, key: str) -> None:
        """Once per deliverable: the Engineering Lead hears in chat and by email."""
        d = next(d for d in self.s.ledger if d.key == key)
        owner = self._person(d.owner)
        text = templates.deliverable_overdue(title=d.title, incident_id=self.incident_id, due_at=d.due_at,
                                             owner=owner.name if owner else d.owner.title)
        self._note("escalated", f"{d.title} overdue: escalated to the Engineering Lead")
        await self._notify(Role.engineering_lead, f"escalation-{key}", text)
        lead = self._person(Role.engineering_lead)
        if lead:
            await self._outside(EmailActivities.send_email, EmailRequest(
                incident_id=self.incident_id, key=f"escalation-{key}", to=[lead.email],
                subject=f"[preskool-irp] Overdue: {d.title} ({self.incident_id})", body=text),
                what="email the escalation")

