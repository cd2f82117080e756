"""§3, §4.3 and §7 in the incident: risky and forbidden actions wait for the right people.

Requests, approvals and denials are recorded as they arrive; an approved action with an
executor runs once, in the actions lane, after `approvals_complete` holds for exactly what was
requested. An `automatic` request (the §5.4 customer email) is carried out by its owner."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.executor import ExecutorActivities, RunAction
    from plan import buttons as chat_buttons
    from plan import templates
    from plan.approvals import (
        ActionDone,
        ActionRequest,
        Approval,
        Decide,
        RequestAction,
        approvals_complete,
        digest,
        refuse_approval,
        refuse_request,
        render_command,
        who_may_approve,
    )
    from plan.bounds import REQUESTS, over
    from plan.privacy import PUBLIC_STATEMENT_ACTION
    from workflows.bridge import Bridge
    from workflows.context import IncidentContext, minutes
    from workflows.outside import outside


class Approvals:
    LANE = "actions"

    def __init__(self, ctx: IncidentContext, bridge: Bridge) -> None:
        self.ctx, self.bridge = ctx, bridge

    def request_action(self, request: RequestAction) -> None:
        ctx, s = self.ctx, self.ctx.s
        if reason := refuse_request(ctx.policy, request):
            ctx.refuse("request_action", reason)
            return
        action = ctx.policy.actions[request.action]
        request_id = request.request_id or f"{request.action.replace('_', '-')}-{len(s.requests) + 1}"
        bound = digest(request.action, request.target, request.params)
        earlier = s.requests.get(request_id)
        if (
            earlier is None
            and s.refusals is not None
            and (why := over(len(s.requests), REQUESTS, "requests"))
        ):
            ctx.refuse("request_action", why)
            return
        if why := _not_replaceable(earlier, request, workflow.patched("requester-only")):
            ctx.refuse("request_action", why)
            return
        if earlier and earlier.digest == bound:
            ctx.note(
                "action", f"{request.by} asked again for {request_id}; it is still pending", by=request.by
            )
            return
        r = s.requests[request_id] = self._recorded(request, request_id, bound, earlier)
        changed = " (changed: earlier approvals no longer count)" if earlier else ""
        ctx.note(
            "action-requested",
            f"{request.by} requests {request_id}: {action.title} on {request.target}{changed}; "
            f"needs {who_may_approve(ctx.policy, action)}",
            by=request.by,
        )
        self.bridge.post(
            templates.approval_request(
                incident_id=ctx.incident_id,
                request_id=request_id,
                title=action.title,
                plan=action.plan,
                forbidden=action.forbidden,
                by=r.by,
                reason=r.reason,
                target=r.target,
                params=r.params,
                command=r.command,
                who=who_may_approve(ctx.policy, action, ctx.person),
                expires_at=r.expires_at,
            ),
            "approval-request",
            buttons=chat_buttons.approval(ctx.incident_id, request_id, r.digest),
        )

    def _recorded(
        self, request: RequestAction, request_id: str, bound: str, earlier: ActionRequest | None
    ) -> ActionRequest:
        """The request as the incident keeps it, bound to exactly its action, target and params."""
        action, now = self.ctx.policy.actions[request.action], workflow.now()
        command = render_command(action.executor, request.target, request.params) if action.executor else None
        return ActionRequest(
            request_id=request_id,
            action=request.action,
            title=action.title,
            forbidden=action.forbidden,
            target=request.target,
            params=request.params,
            by=request.by,
            reason=request.reason,
            digest=bound,
            command=command,
            requested_at=now,
            expires_at=now + self.ctx.policy.approval_expiry,
            approvals=earlier.approvals if earlier else [],  # kept for the record; they no longer match
            automatic=request.action == PUBLIC_STATEMENT_ACTION,  # asked again: the product publishes it
        )

    def approval_refusal(self, decision: Decide) -> str | None:
        """Why this approval cannot count (pure: the update's validator asks it too)."""
        if self.ctx.checks_people and (stranger := self.ctx.stranger(decision.by)):
            return f"unknown person: {stranger}"
        request = self.ctx.s.requests.get(decision.request_id)
        if request is None:
            known = ", ".join(self.ctx.s.requests) or "none"
            return f"no request {decision.request_id!r} in this incident (requests: {known})"
        if changed := _changed(request, decision):
            return changed
        return refuse_approval(
            self.ctx.policy.actions[request.action],
            request,
            decision.by,
            self.ctx.roles_of(decision.by),
            workflow.now(),
            self.ctx.verified_user,
        )

    def approve(self, decision: Decide) -> None:
        ctx = self.ctx
        if reason := self.approval_refusal(decision):
            ctx.refuse("approve", reason)
            return
        request = ctx.s.requests[decision.request_id]
        action = ctx.policy.actions[request.action]
        roles = [r for r in action.approvers if r in ctx.roles_of(decision.by)]
        request.approvals.append(
            Approval(
                by=decision.by,
                roles=roles,
                at=workflow.now(),
                digest=request.digest,
                reason=decision.reason,
                user=ctx.verified_user,
            )
        )
        ctx.note(
            "approved",
            f"{decision.by} ({', '.join(r.title for r in roles)}) approved {request.request_id}",
            by=decision.by,
        )
        if approvals_complete(action, request):
            self._approved(request, decision.by)
        else:
            self.bridge.post(
                f"✔️ {decision.by} approved {request.request_id}; still needs "
                f"{who_may_approve(ctx.policy, action, ctx.person)}",
                "approval",
            )

    def denial_refusal(self, decision: Decide) -> str | None:
        if self.ctx.checks_people and (stranger := self.ctx.stranger(decision.by)):
            return f"unknown person: {stranger}"
        request = self.ctx.s.requests.get(decision.request_id)
        if request is not None and (changed := _changed(request, decision)):
            return changed
        if request is None or request.state != "pending" or workflow.now() >= request.expires_at:
            return self.approval_refusal(decision)
        action = self.ctx.policy.actions[request.action]
        if decision.by.lower() != request.by.lower() and not set(action.approvers) & self.ctx.roles_of(
            decision.by
        ):
            return f"{decision.by} may not deny {request.action}: only its approvers or the requester may"
        return None

    def deny(self, decision: Decide) -> None:
        if reason := self.denial_refusal(decision):
            self.ctx.refuse("deny", reason)
            return
        request = self.ctx.s.requests[decision.request_id]
        request.state, request.decided_by, request.decided_at = "denied", decision.by, workflow.now()
        request.outcome = decision.reason
        why = decision.reason or "no reason given"
        self.ctx.note("denied", f"{decision.by} denied {request.request_id}: {why}", by=decision.by)
        self.bridge.post(f"🛑 {request.request_id} denied by {decision.by}: {why}", "approval")

    def action_done(self, done: ActionDone) -> None:
        request = self.ctx.s.requests.get(done.request_id)
        if request is None or request.state != "approved" or request.command or request.automatic:
            state = "unknown" if request is None else request.state
            why = (
                "it runs by itself"
                if request and (request.command or request.automatic)
                else f"it is {state}"
            )
            self.ctx.refuse("action_done", f"{done.request_id} cannot be reported done: {why}")
            return
        request.state, request.outcome = "done", done.outcome
        self.ctx.note(
            "action-done", f"{done.by} carried out {request.request_id}: {done.outcome}", by=done.by
        )
        self.bridge.post(f"🔧 {request.request_id} done by {done.by}: {done.outcome}", "action-done")

    def _approved(self, request: ActionRequest, by: str) -> None:
        request.state, request.decided_by, request.decided_at = "approved", by, workflow.now()
        if request.automatic:
            return  # its owner sees the approval and carries it out
        if request.command:
            self.bridge.post(
                f"✅ {request.request_id} approved: running `{' '.join(request.command)}` once", "approval"
            )
            self.ctx.later(self.LANE, self._run, request.request_id)
        else:
            self.bridge.post(
                f"✅ {request.request_id} approved: carry out “{request.title}” on {request.target}, "
                f'then report with `action_done` {{"request_id": "{request.request_id}", '
                f'"by": "<your email>", "outcome": "..."}}',
                "approval",
            )

    async def _run(self, request_id: str) -> None:
        """Runs at most once. The guard is checked here, at the last moment, not when approved."""
        ctx, request = self.ctx, self.ctx.s.requests[request_id]
        action = ctx.policy.actions[request.action]
        if request.state != "approved" or not approvals_complete(action, request) or not request.command:
            ctx.note("refused", f"{request_id} not run: it is {request.state} without complete approvals")
            return
        request.state = "running"
        ctx.note("action-running", f"running {request_id}: {' '.join(request.command)}")
        timeout = action.executor.timeout
        result = await outside(
            ctx,
            ExecutorActivities.run_action,
            RunAction(
                incident_id=ctx.incident_id, request_id=request_id, command=request.command, timeout=timeout
            ),
            what=f"run {request_id}",
            options=dict(
                start_to_close_timeout=timeout + timedelta(minutes=1),
                retry_policy=RetryPolicy(maximum_attempts=1),
            ),
        )
        if result is None:
            request.state, request.outcome = (
                "failed",
                "no result (the worker stopped or timed out): check by hand",
            )
        else:
            request.exit_code, request.outcome = result.exit_code, result.output
            request.state = "done" if result.exit_code == 0 else "failed"
        output = request.outcome or ""
        ctx.note(
            f"action-{request.state}",
            f"{request_id} {request.state} (exit code {request.exit_code}): {output[-300:]}",
        )
        self.bridge.post(
            f"{'🟢' if request.state == 'done' else '🔴'} {request_id} {request.state}, "
            f"exit code {request.exit_code}:\n```\n{output[-1500:]}\n```",
            "action-result",
        )

    # --- the approval clock --------------------------------------------------------------------

    def next_clock(self) -> datetime | None:
        return min((r.expires_at for r in self.ctx.s.requests.values() if r.state == "pending"), default=None)

    def check(self, now: datetime) -> None:
        for request in self.ctx.s.requests.values():
            if request.state == "pending" and now >= request.expires_at:
                request.state, request.decided_at = "expired", now
                self.ctx.note("expired", f"{request.request_id} expired without its approvals")
                self.bridge.post(
                    f"⌛ {request.request_id} expired without its approvals "
                    f"({minutes(self.ctx.policy.approval_expiry)} min); request it again if still needed",
                    "approval",
                )


def _not_replaceable(
    earlier: ActionRequest | None, request: RequestAction, requester_only: bool
) -> str | None:
    """A request id already used is refused, unless it is still pending and (`requester_only`,
    the `requester-only` patch) its requester asks."""
    if earlier is None:
        return None
    if earlier.state != "pending":
        return f"request {earlier.request_id} is already {earlier.state}; use a new request_id"
    if requester_only and earlier.by.lower() != request.by.lower():
        return (
            f"request {earlier.request_id} is pending, asked by {earlier.by}: only they may change "
            "it; use a new request_id"
        )
    return None


def _changed(request: ActionRequest, decision: Decide) -> str | None:
    """A decision made on another version of the request (a button or a claim from before it
    changed) is refused: an approval is of exactly what the approver saw."""
    if decision.digest and decision.digest != request.digest:
        return (
            f"request {request.request_id} has changed since this decision was made on it: "
            f"now {request.action} on {request.target} {request.params or ''}; look again".replace(" ;", ";")
        )
    return None
