"""§5.4 the customer email: drafted at resolution, sent only after the Communications Lead
approves exactly that text, one message per school."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.email import EmailActivities, EmailRequest
    from plan import Role, templates
    from plan.approvals import ActionRequest, approvals_complete, digest
    from plan.deliverables import EditCustomerEmail, close
    from plan.models import CUSTOMER_EMAIL_ACTION, DeliverableKey
    from workflows.bridge import Bridge
    from workflows.context import IncidentContext
    from workflows.outside import outside

REQUEST_ID = "customer-email"


class CustomerEmail:
    LANE = "email"

    def __init__(self, ctx: IncidentContext, bridge: Bridge) -> None:
        self.ctx, self.bridge = ctx, bridge

    def draft(self, edit: EditCustomerEmail | None = None) -> None:
        """The draft is a request for the Communications Lead's approval; its text is the request's
        params, so an approval binds to exactly the text that will be sent."""
        ctx, s = self.ctx, self.ctx.s
        draft = {
            **(s.customer_email or self._first_draft()),
            **({k: v for k, v in edit.model_dump(exclude={"by"}).items() if v is not None} if edit else {}),
        }
        s.customer_email = draft
        due = self._due()
        earlier = s.requests.get(REQUEST_ID)
        s.requests[REQUEST_ID] = ActionRequest(
            request_id=REQUEST_ID,
            action=CUSTOMER_EMAIL_ACTION,
            title=ctx.policy.actions[CUSTOMER_EMAIL_ACTION].title,
            forbidden=False,
            target="customers",
            params=draft,
            by="preskool-irp",
            automatic=True,
            reason="§8: customer email within 2 hours of resolution",
            digest=digest(CUSTOMER_EMAIL_ACTION, "customers", draft),
            command=None,
            requested_at=workflow.now(),
            expires_at=due,
            approvals=earlier.approvals if earlier else [],
        )  # kept; they no longer match
        subject, body = self._text(draft)
        ctx.note("customer-email", "customer email drafted" + (f", edited by {edit.by}" if edit else ""))
        self.bridge.notify(
            Role.communications_lead,
            f"customer-email-draft-{len(s.timeline)}",
            f"✉️ Customer email draft for incident {ctx.incident_id} (§5.4), due {due:%H:%M} UTC. "
            f"To: {', '.join(self._recipients())}\nSubject: {subject}\n\n{body}\n\n"
            f'Send it: `approve` {{"request_id": "{REQUEST_ID}", "by": "<your email>"}}. '
            f'Change it first: `edit_customer_email` {{"by", "affected"?, "root_cause"?, '
            f'"resolution"?, "preventive_actions"?, "courtesy_days"?}}.',
        )

    def edit_customer_email(self, edit: EditCustomerEmail) -> None:
        request = self.ctx.s.requests.get(REQUEST_ID)
        if request is None or request.state != "pending":
            self.ctx.refuse(
                "edit_customer_email",
                "there is no customer email draft waiting for approval"
                + (f" (it is {request.state})" if request else ""),
            )
            return
        self.draft(edit)

    def next_clock(self) -> None:
        """No clock of its own: its expiry is the approval's, and it acts when approved."""
        return None

    def check(self, now: datetime) -> None:
        """Once approved, send it (once)."""
        request = self.ctx.s.requests.get(REQUEST_ID)
        if request and request.state == "approved":
            request.state = "running"
            self.ctx.later(self.LANE, self._send)

    async def _send(self) -> None:
        ctx, request = self.ctx, self.ctx.s.requests[REQUEST_ID]
        if not approvals_complete(ctx.policy.actions[CUSTOMER_EMAIL_ACTION], request):
            ctx.note("refused", "customer email not sent: its approval does not match the draft")
            return
        subject, body = self._text(request.params)
        sent, failed = [], []
        for n, address in enumerate(self._recipients(), 1):  # one each: schools never see each other
            result = await outside(
                ctx,
                EmailActivities.send_email,
                EmailRequest(
                    incident_id=ctx.incident_id,
                    key=f"customer-email-{n}",
                    to=[address],
                    subject=subject,
                    body=body,
                ),
                what=f"send the customer email to {address}",
            )
            if result and result.message_id:
                sent.append(address)
            else:
                failed.append(f"{address} ({result.skipped if result else 'failed'})")
        request.outcome = f"sent to {len(sent)} school(s)" + (
            f"; not sent: {', '.join(failed)}" if failed else ""
        )
        request.state = "done" if sent and not failed else "failed"
        ctx.note("customer-email", f"customer email {request.outcome}", by=request.decided_by)
        if request.state == "done":
            ctx.note(
                "deliverable",
                close(
                    ctx.s.ledger,
                    DeliverableKey.customer_email,
                    "done",
                    request.decided_by,
                    workflow.now(),
                    link=f"sent to {', '.join(sent)}",
                ),
                by=request.decided_by,
            )

    def _first_draft(self) -> dict[str, str]:
        s, resolution = self.ctx.s, self.ctx.s.resolution
        return {
            "start": s.started_at.isoformat(),
            "end": resolution.at.isoformat(),
            "affected": s.impact or self.ctx.default_impact(),
            "root_cause": resolution.root_cause
            or "We are still confirming the root cause; the post-mortem will follow.",
            "resolution": resolution.summary,
            "preventive_actions": "Action items from our post-mortem are tracked and will be completed.",
            "courtesy_days": str(self.ctx.policy.customer_email.courtesy_days),
        }

    def _due(self) -> datetime:
        entry = next((d for d in self.ctx.s.ledger if d.key == DeliverableKey.customer_email), None)
        return entry.due_at if entry else self.ctx.s.resolution.at + timedelta(hours=2)

    def _text(self, draft: dict[str, str]) -> tuple[str, str]:
        return templates.customer_email(
            start=datetime.fromisoformat(draft["start"]),
            end=datetime.fromisoformat(draft["end"]),
            affected=draft["affected"],
            root_cause=draft["root_cause"],
            resolution=draft["resolution"],
            preventive_actions=draft["preventive_actions"],
            courtesy_days=int(draft["courtesy_days"]),
            support=self.ctx.policy.customer_email.support,
        )

    def _recipients(self) -> list[str]:
        policy, radius = self.ctx.policy.customer_email, self.ctx.s.blast_radius
        tenants = radius.tenants if radius and radius.scope == "tenant" else []
        chosen = [a for t in tenants for a in policy.recipients.get(t, [])]
        if not tenants:
            chosen = [a for addrs in policy.recipients.values() for a in addrs]
        return list(dict.fromkeys(chosen + policy.default_recipients))
