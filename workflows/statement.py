"""Private incidents (issue 16): whether this incident is one, and its public statement.

A private incident (plan/privacy.py: data at risk, or declared private) says nothing in public
until a public statement is approved: instead of §5.3's automatic "investigating", the status page
is a request for approval (§7: the IC's explicit approval; §3: the Communications Lead's), carried
out by the product once approved, like the §5.4 customer email."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from plan import Declaration, templates
    from plan import buttons as chat_buttons
    from plan.approvals import ActionRequest, approvals_complete, digest, who_may_approve
    from plan.privacy import PUBLIC_STATEMENT_ACTION, is_private
    from workflows.bridge import Bridge
    from workflows.context import IncidentContext
    from workflows.status_page import StatusPage

PATCH = "private-incidents"
REQUEST_ID = "public-statement"
TARGET = "status-page"
# A statement may be approved at any time while the incident runs, not only in the usual 30 minutes.
STATEMENT_WINDOW = timedelta(days=30)


class PublicStatement:
    LANE = "status"

    def __init__(self, ctx: IncidentContext, bridge: Bridge, status_page: StatusPage) -> None:
        self.ctx, self.bridge, self.status_page = ctx, bridge, status_page
        status_page.withheld = self.request

    def decide(self, declaration: Declaration | None) -> None:
        """At open, before anything is said anywhere: private or not, kept in the state. Behind
        the patch, so an incident with data at risk recorded before it replays as it ran."""
        s = self.ctx.s
        declared = bool(declaration and declaration.private)
        if not is_private(data_at_risk=s.decision.data_at_risk, declared_private=declared):
            return
        if not workflow.patched(PATCH):
            return
        s.private = True
        why = "declared private" if declared else "data at risk (§6)"
        self.ctx.note(
            "private",
            f"private incident ({why}): a private bridge for the people engaged; nothing public "
            "(status page, search attributes, memo) until a public statement is approved",
        )

    def turned_private(self) -> None:
        """Data found at risk after the incident opened: private from now on. What was already said
        stays said (the bridge stays the channel it is; the status page is resolved at close), but
        nothing more goes public until a statement is approved."""
        s = self.ctx.s
        if s.private or not workflow.patched(PATCH):
            return
        s.private = True
        self.ctx.note("private", "private incident from now on (data at risk, §6): nothing more public")
        self.bridge.post(
            "🔒 Data at risk: this incident is private from now on. Nothing more goes to the status page "
            "until a public statement is approved. This channel was opened public: make it private "
            "(or move to a private one) and keep details out of public channels.",
            "private",
        )

    def request(self) -> None:
        """Instead of the automatic §5.3 "investigating": a request for the statement, once, for
        severities the status page covers. Its text is its params: approval binds to exactly it."""
        ctx, s = self.ctx, self.ctx.s
        if REQUEST_ID in s.requests or s.decision.severity not in ctx.policy.status_page.severities:
            return
        action = ctx.policy.actions[PUBLIC_STATEMENT_ACTION]
        title, body = templates.status_page_investigating(ctx.cadence_minutes() or 30)
        params, now = {"title": title, "body": body}, workflow.now()
        r = s.requests[REQUEST_ID] = ActionRequest(
            request_id=REQUEST_ID,
            action=PUBLIC_STATEMENT_ACTION,
            title=action.title,
            forbidden=False,
            target=TARGET,
            params=params,
            by="preskool-irp",
            automatic=True,
            reason="a private incident says nothing public until its statement is approved (§7)",
            digest=digest(PUBLIC_STATEMENT_ACTION, TARGET, params),
            command=None,
            requested_at=now,
            expires_at=now + STATEMENT_WINDOW,
        )
        who = who_may_approve(ctx.policy, action, ctx.person)
        ctx.note("action-requested", f"preskool-irp requests {REQUEST_ID}: {action.title}; needs {who}")
        self.bridge.post(
            templates.approval_request(
                incident_id=ctx.incident_id,
                request_id=REQUEST_ID,
                title=action.title,
                plan=action.plan,
                forbidden=False,
                by=r.by,
                reason=r.reason,
                target=TARGET,
                params=params,
                command=None,
                who=who,
                expires_at=r.expires_at,
            ),
            "approval-request",
            buttons=chat_buttons.approval(ctx.incident_id, REQUEST_ID, r.digest),
        )

    def next_clock(self) -> None:
        """No clock of its own: its expiry is the approval's, and it acts when approved."""
        return None

    def check(self, now: datetime) -> None:
        """Once a statement is approved, publish it (once)."""
        for request in self.ctx.s.requests.values():
            if (
                request.action == PUBLIC_STATEMENT_ACTION
                and request.automatic
                and request.state == "approved"
            ):
                request.state = "running"
                self.ctx.later(self.LANE, self._publish, request.request_id)

    async def _publish(self, request_id: str) -> None:
        ctx, request = self.ctx, self.ctx.s.requests[request_id]
        if not approvals_complete(ctx.policy.actions[PUBLIC_STATEMENT_ACTION], request):
            request.state = "failed"
            ctx.note("refused", f"{request_id} not published: its approvals do not match its text")
            return
        default_title, default_body = templates.status_page_investigating(ctx.cadence_minutes() or 30)
        title, body = request.params.get("title", default_title), request.params.get("body", default_body)
        ctx.s.public_statement = True
        if ctx.s.resolution:  # approved after the incident resolved: say it is resolved
            title, body = templates.status_page_resolved(
                ctx.s.decision.module or "PreSkool ERP", workflow.now()
            )
            await self.status_page.post("resolved", title, body, "operational")
        else:
            await self.status_page.post("investigating", title, body, "degraded_performance")
        if not ctx.s.status_page_id:  # the page was not updated: nothing public was said after all
            ctx.s.public_statement = False
        request.state = "done" if ctx.s.status_page_id else "failed"
        request.outcome = "status page " + ("opened" if request.state == "done" else "not updated")
        ctx.note("public-statement", f"public statement {request.outcome}", by=request.decided_by)
