"""§3, §4.3 and §7 in the incident: risky and forbidden actions wait for the right people.

Requests, approvals and denials are recorded as they arrive; an action runs only from the main
loop, and only after `approvals_complete` holds for exactly what was requested."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.executor import ExecutorActivities, RunAction
    from plan import templates
    from plan.approvals import (
        ActionDone, ActionRequest, Approval, Decide, RequestAction, approvals_complete, digest, refuse_approval,
        refuse_request, render_command, who_may_approve,
    )
    from workflows.steps import IncidentSteps


class ApprovalSteps(IncidentSteps):
    def _request_action(self, request: RequestAction) -> None:
        if reason := refuse_request(self.policy, request):
            self._refuse("request_action", reason)
            return
        action = self.policy.actions[request.action]
        request_id = request.request_id or f"{request.action.replace('_', '-')}-{len(self.s.requests) + 1}"
        bound = digest(request.action, request.target, request.params)
        earlier = self.s.requests.get(request_id)
        if earlier and earlier.state != "pending":
            self._refuse("request_action", f"request {request_id} is already {earlier.state}; use a new request_id")
            return
        if earlier and earlier.digest == bound:
            self._note("action", f"{request.by} asked again for {request_id}; it is still pending", by=request.by)
            return
        now = workflow.now()
        self.s.requests[request_id] = ActionRequest(
            request_id=request_id, action=request.action, title=action.title, forbidden=action.forbidden,
            target=request.target, params=request.params, by=request.by, reason=request.reason, digest=bound,
            command=render_command(action.executor, request.target, request.params) if action.executor else None,
            requested_at=now, expires_at=now + self.policy.approval_expiry,
            approvals=earlier.approvals if earlier else [])  # kept for the record; they no longer match
        changed = " (changed: earlier approvals no longer count)" if earlier else ""
        self._note("action-requested", f"{request.by} requests {request_id}: {action.title} on {request.target}{changed}",
                   by=request.by)
        r = self.s.requests[request_id]
        self._later(self._post, templates.approval_request(
            incident_id=self.incident_id, request_id=request_id, title=action.title, plan=action.plan,
            forbidden=action.forbidden, by=r.by, reason=r.reason, target=r.target, params=r.params, command=r.command,
            who=who_may_approve(self.policy, action), expires_at=r.expires_at), "approval-request")

    def _approval_refusal(self, decision: Decide) -> str | None:
        """Why this approval cannot count (pure: the update's validator asks it too)."""
        request = self.s.requests.get(decision.request_id)
        if request is None:
            known = ", ".join(self.s.requests) or "none"
            return f"no request {decision.request_id!r} in this incident (requests: {known})"
        return refuse_approval(self.policy.actions[request.action], request, decision.by,
                               self._roles_of(decision.by), workflow.now())

    def _approve(self, decision: Decide) -> None:
        if reason := self._approval_refusal(decision):
            self._refuse("approve", reason)
            return
        request = self.s.requests[decision.request_id]
        action = self.policy.actions[request.action]
        roles = [r for r in action.approvers if r in self._roles_of(decision.by)]
        request.approvals.append(Approval(by=decision.by, roles=roles, at=workflow.now(), digest=request.digest,
                                          reason=decision.reason))
        self._note("approved", f"{decision.by} ({', '.join(r.title for r in roles)}) approved {request.request_id}",
                   by=decision.by)
        if approvals_complete(action, request):
            self._approved(request, decision.by)
        else:
            self._later(self._post, f"✔️ {decision.by} approved {request.request_id}; still needs "
                        f"{who_may_approve(self.policy, action)}", "approval")

    def _approved(self, request: ActionRequest, by: str) -> None:
        request.state, request.decided_by, request.decided_at = "approved", by, workflow.now()
        if request.command:
            self._later(self._post, f"✅ {request.request_id} approved: running `{' '.join(request.command)}` once",
                        "approval")
            self._later(self._run_action, request.request_id)
        else:
            self._later(self._post, f"✅ {request.request_id} approved: carry out “{request.title}” on {request.target}, "
                        f"then report with `action_done` {{\"request_id\": \"{request.request_id}\", "
                        f"\"by\": \"<your email>\", \"outcome\": \"...\"}}", "approval")

    def _denial_refusal(self, decision: Decide) -> str | None:
        request = self.s.requests.get(decision.request_id)
        if request is None or request.state != "pending" or workflow.now() >= request.expires_at:
            return self._approval_refusal(decision)
        action = self.policy.actions[request.action]
        if decision.by.lower() != request.by.lower() and not set(action.approvers) & self._roles_of(decision.by):
            return f"{decision.by} may not deny {request.action}: only its approvers or the requester may"
        return None

    def _deny(self, decision: Decide) -> None:
        if reason := self._denial_refusal(decision):
            self._refuse("deny", reason)
            return
        request = self.s.requests[decision.request_id]
        request.state, request.decided_by, request.decided_at = "denied", decision.by, workflow.now()
        request.outcome = decision.reason
        why = decision.reason or "no reason given"
        self._note("denied", f"{decision.by} denied {request.request_id}: {why}", by=decision.by)
        self._later(self._post, f"🛑 {request.request_id} denied by {decision.by}: {why}", "approval")

    def _action_done(self, done: ActionDone) -> None:
        request = self.s.requests.get(done.request_id)
        if request is None or request.state != "approved" or request.command:
            state = "unknown" if request is None else request.state
            why = "it runs by itself" if request and request.command else f"it is {state}"
            self._refuse("action_done", f"{done.request_id} cannot be reported done: {why}")
            return
        request.state, request.outcome = "done", done.outcome
        self._note("action-done", f"{done.by} carried out {request.request_id}: {done.outcome}", by=done.by)
        self._later(self._post, f"🔧 {request.request_id} done by {done.by}: {done.outcome}", "action-done")

    async def _run_action(self, request_id: str) -> None:
        """Runs at most once. The guard is checked here, at the last moment, not when approved."""
        request = self.s.requests[request_id]
        action = self.policy.actions[request.action]
        if request.state != "approved" or not approvals_complete(action, request) or not request.command:
            self._note("refused", f"{request_id} not run: it is {request.state} without complete approvals")
            return
        request.state = "running"
        self._note("action-running", f"running {request_id}: {' '.join(request.command)}")
        timeout = action.executor.timeout
        result = await self._outside(ExecutorActivities.run_action, RunAction(
            incident_id=self.incident_id, request_id=request_id, command=request.command, timeout=timeout),
            what=f"run {request_id}", options=dict(start_to_close_timeout=timeout + timedelta(minutes=1),
                                                  retry_policy=RetryPolicy(maximum_attempts=1)))
        if result is None:
            request.state, request.outcome = "failed", "no result (the worker stopped or timed out): check by hand"
        else:
            request.exit_code, request.outcome = result.exit_code, result.output
            request.state = "done" if result.exit_code == 0 else "failed"
        self._note(f"action-{request.state}", f"{request_id} {request.state} (exit code {request.exit_code}): "
                   f"{(request.outcome or '')[-300:]}")
        self._later(self._post, f"{'🟢' if request.state == 'done' else '🔴'} {request_id} {request.state}, "
                    f"exit code {request.exit_code}:\n```\n{(request.outcome or '')[-1500:]}\n```", "action-result")

    # --- the approval clock --------------------------------------------------------------------

    def _next_clock(self) -> datetime | None:
        expiries = [r.expires_at for r in self.s.requests.values() if r.state == "pending"]
        return min([m for m in (super()._next_clock(), *expiries) if m], default=None)

    def _check_clocks(self) -> None:
        super()._check_clocks()
        now = workflow.now()
        for request in self.s.requests.values():
            if request.state == "pending" and now >= request.expires_at:
                request.state, request.decided_at = "expired", now
                self._note("expired", f"{request.request_id} expired without its approvals")
                self._later(self._post, f"⌛ {request.request_id} expired without its approvals "
                            f"({self._minutes(self.policy.approval_expiry)} min); request it again if still needed",
                            "approval")
