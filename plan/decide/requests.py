"""§3, §4.3, §5.4 and §7 as deciders: one request lifecycle for whatever waits for people's
approval — a risky or forbidden action, the customer email, a private incident's public statement.

A request is made (`pending`), approved by the right people (`approved` once complete for exactly
what was asked: its digest) or denied or left to expire; then carried out — an action's command
run once (`RunAction`), a manual action reported done (`action_done`), the email or the statement
carried out by the product (`CarryOut`) — and ends `done` or `failed`. What a person sees of each
is the same: who asked, what exactly, who may approve, by when. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta

from plan import buttons as chat_buttons
from plan import templates
from plan.approvals import (
    ActionDone,
    ActionRequest,
    Approval,
    Decide,
    RequestAction,
    RequestState,
    approvals_complete,
    digest,
    refuse_approval,
    refuse_request,
    render_command,
    who_may_approve,
)
from plan.bounds import REQUESTS, over
from plan.decide.common import cadence_minutes, close_deliverable
from plan.decision import Actor, Draft, Verdict
from plan.deliverables import EditCustomerEmail
from plan.effects import CarryOut, Notify, OpenStatusPage, RunAction
from plan.events import EventKind as K
from plan.holders import roles_of, stranger
from plan.models import CUSTOMER_EMAIL_ACTION, DeliverableKey, Role
from plan.privacy import PUBLIC_STATEMENT_ACTION

EMAIL = "customer-email"  # the customer email's request id
STATEMENT = "public-statement"  # a private incident's public statement's request id
STATEMENT_WINDOW = timedelta(days=30)  # a statement may be approved any time while the incident runs


def new_id(d: Draft, action: str) -> str:
    """An automatic request id: `<action>-<n>`, never one already taken (a person may have chosen
    `rollback-2` before the second rollback was asked for)."""
    n = len(d.s.requests) + 1
    while (candidate := f"{action.replace('_', '-')}-{n}") in d.s.requests:
        n += 1
    return candidate


def request_action(d: Draft, request: RequestAction, actor: Actor) -> None:
    """Ask for a §4.3/§7 action: bound to exactly its action, target and params."""
    s, policy = d.s, d.policy
    if reason := refuse_request(policy, request):
        d.refuse("request_action", reason)
    request_id = request.request_id or new_id(d, request.action)
    earlier = s.requests.get(request_id)
    if earlier is None and (why := over(len(s.requests), REQUESTS, "requests")):
        d.refuse("request_action", why)
    if why := _not_replaceable(earlier, request):
        d.refuse("request_action", why)
    bound = digest(request.action, request.target, request.params)
    if earlier and earlier.digest == bound:
        d.note(
            K.action,
            f"{request.by} asked again for {request_id}; it is still pending",
            by=request.by,
            request_id=request_id,
        )
        return
    action = policy.actions[request.action]
    command = render_command(action.executor, request.target, request.params) if action.executor else None
    made = ActionRequest(
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
        requested_at=d.now,
        expires_at=d.now + policy.approval_expiry,
        approvals=earlier.approvals if earlier else [],  # kept for the record; they no longer match
        automatic=request.action == PUBLIC_STATEMENT_ACTION,  # asked again: the product publishes it
    )
    _ask(d, made, changed=earlier is not None)


def _ask(d: Draft, request: ActionRequest, changed: bool = False) -> None:
    """Record a request and ask for its approvals in the bridge, with its buttons."""
    action = d.policy.actions[request.action]
    d.s.requests = {**d.s.requests, request.request_id: request}
    note = " (changed: earlier approvals no longer count)" if changed else ""
    on = f" on {request.target}" if request.action != PUBLIC_STATEMENT_ACTION else ""
    d.note(
        K.action_requested,
        f"{request.by} requests {request.request_id}: {action.title}{on}{note}; "
        f"needs {who_may_approve(d.policy, action)}",
        by=request.by,
        request_id=request.request_id,
    )
    d.post(
        "approval-request",
        templates.approval_request(
            incident_id=d.given.incident_id,
            request_id=request.request_id,
            title=action.title,
            plan=action.plan,
            forbidden=action.forbidden,
            by=request.by,
            reason=request.reason,
            target=request.target,
            params=request.params,
            command=request.command,
            who=who_may_approve(d.policy, action, d.holder),
            expires_at=request.expires_at,
        ),
        buttons=chat_buttons.approval(d.given.incident_id, request.request_id, request.digest),
    )


def _not_replaceable(earlier: ActionRequest | None, request: RequestAction) -> str | None:
    """A request id already used is refused, unless it is still pending and its requester asks."""
    if earlier is None:
        return None
    if earlier.state != RequestState.pending:
        return f"request {earlier.request_id} is already {earlier.state}; use a new request_id"
    if earlier.by.lower() != request.by.lower():
        return (
            f"request {earlier.request_id} is pending, asked by {earlier.by}: only they may change it; "
            "use a new request_id"
        )
    return None


# --- deciding: approve, deny --------------------------------------------------------------------


def approval_refusal(state, policy, decision: Decide, now: datetime, user: str | None) -> str | None:
    """Why this approval cannot count (the update's validator and a claim ask it too), or None."""
    if stranger_why := stranger(state, policy, decision.by):
        return f"unknown person: {stranger_why}"
    request = state.requests.get(decision.request_id)
    if request is None:
        known = ", ".join(state.requests) or "none"
        return f"no request {decision.request_id!r} in this incident (requests: {known})"
    if changed := _changed(request, decision):
        return changed
    return refuse_approval(
        policy.actions[request.action], request, decision.by, roles_of(state, policy, decision.by), now, user
    )


def denial_refusal(state, policy, decision: Decide, now: datetime) -> str | None:
    """Why this denial cannot count, or None: only a pending request's approvers or requester."""
    if stranger_why := stranger(state, policy, decision.by):
        return f"unknown person: {stranger_why}"
    request = state.requests.get(decision.request_id)
    if request is not None and (changed := _changed(request, decision)):
        return changed
    if request is None or request.state != RequestState.pending or now >= request.expires_at:
        return approval_refusal(state, policy, decision, now, None)
    action = policy.actions[request.action]
    if decision.by.lower() != request.by.lower() and not set(action.approvers) & roles_of(
        state, policy, decision.by
    ):
        return f"{decision.by} may not deny {request.action}: only its approvers or the requester may"
    return None


def approve(d: Draft, decision: Decide, actor: Actor) -> None:
    if reason := approval_refusal(d.s, d.policy, decision, d.now, actor.user):
        d.refuse("approve", reason)
    request = d.s.requests[decision.request_id]
    action = d.policy.actions[request.action]
    roles = [r for r in action.approvers if r in actor.roles]
    approval = Approval(
        by=decision.by, roles=roles, at=d.now, digest=request.digest, reason=decision.reason, user=actor.user
    )
    request = request.model_copy(update={"approvals": [*request.approvals, approval]})
    _keep(d, request)
    d.note(
        K.approved,
        f"{decision.by} ({', '.join(r.title for r in roles)}) approved {request.request_id}",
        by=decision.by,
        request_id=request.request_id,
    )
    if approvals_complete(action, request):
        _approved(d, request, decision.by)
    else:
        d.verdict = Verdict.pending
        d.post(
            "approval",
            f"✔️ {decision.by} approved {request.request_id}; still needs "
            f"{who_may_approve(d.policy, action, d.holder)}",
        )


def deny(d: Draft, decision: Decide, actor: Actor) -> None:
    if reason := denial_refusal(d.s, d.policy, decision, d.now):
        d.refuse("deny", reason)
    request = d.s.requests[decision.request_id]
    why = decision.reason or "no reason given"
    _keep(
        d,
        request.model_copy(
            update={
                "state": RequestState.denied,
                "decided_by": decision.by,
                "decided_at": d.now,
                "outcome": decision.reason,
            }
        ),
    )
    d.note(
        K.denied,
        f"{decision.by} denied {request.request_id}: {why}",
        by=decision.by,
        request_id=request.request_id,
        reason=why,
    )
    d.post("approval", f"🛑 {request.request_id} denied by {decision.by}: {why}")


def _approved(d: Draft, request: ActionRequest, by: str) -> None:
    """Complete: carried out once — by the product (the email, the statement), by its command, or
    by a person who reports it done."""
    _keep(
        d,
        request := request.model_copy(
            update={"state": RequestState.approved, "decided_by": by, "decided_at": d.now}
        ),
    )
    if request.automatic:
        _keep(d, request.model_copy(update={"state": RequestState.running}))
        d.effect(CarryOut(request.request_id))
    elif request.command:
        d.post("approval", f"✅ {request.request_id} approved: running `{' '.join(request.command)}` once")
        d.effect(RunAction(request.request_id))
    else:
        d.post(
            "approval",
            f"✅ {request.request_id} approved: carry out “{request.title}” on {request.target}, "
            f'then report with `action_done` {{"request_id": "{request.request_id}", '
            f'"by": "<your email>", "outcome": "..."}}',
        )


def action_done(d: Draft, done: ActionDone, actor: Actor) -> None:
    """A person carried out an approved action that has no command."""
    request = d.s.requests.get(done.request_id)
    if request is None or request.state != RequestState.approved or request.command or request.automatic:
        state = "unknown" if request is None else request.state
        why = "it runs by itself" if request and (request.command or request.automatic) else f"it is {state}"
        d.refuse("action_done", f"{done.request_id} cannot be reported done: {why}")
    _keep(d, request.model_copy(update={"state": RequestState.done, "outcome": done.outcome}))
    d.note(
        K.action_done,
        f"{done.by} carried out {request.request_id}: {done.outcome}",
        by=done.by,
        request_id=request.request_id,
    )
    d.post("action-done", f"🔧 {request.request_id} done by {done.by}: {done.outcome}")


def _keep(d: Draft, request: ActionRequest) -> None:
    d.s.requests = {**d.s.requests, request.request_id: request}


def _changed(request: ActionRequest, decision: Decide) -> str | None:
    """A decision made on another version of the request is refused: an approval is of exactly
    what the approver saw."""
    if decision.digest and decision.digest != request.digest:
        return (
            f"request {request.request_id} has changed since this decision was made on it: "
            f"now {request.action} on {request.target} {request.params or ''}; look again"
        ).replace(" ;", ";")
    return None


# --- the requests' clock, and what their carrying out came to -------------------------------------


def next_clock(state) -> datetime | None:
    return min(
        (r.expires_at for r in state.requests.values() if r.state == RequestState.pending), default=None
    )


def tick(d: Draft) -> None:
    """A pending request past its expiry expires, said in the bridge."""
    for request in d.s.requests.values():
        if request.state == RequestState.pending and d.now >= request.expires_at:
            _keep(d, request.model_copy(update={"state": RequestState.expired, "decided_at": d.now}))
            d.note(
                K.expired,
                f"{request.request_id} expired without its approvals",
                request_id=request.request_id,
            )
            minutes = int(d.policy.approval_expiry.total_seconds() // 60)
            d.post(
                "approval",
                f"⌛ {request.request_id} expired without its approvals ({minutes} min); "
                "request it again if still needed",
            )


def running(d: Draft, request_id: str) -> bool:
    """Just before its command runs: still approved, and complete for exactly what was asked (the
    guard checked at the last moment). False (refused in the timeline) if not."""
    request = d.s.requests[request_id]
    action = d.policy.actions[request.action]
    if (
        request.state != RequestState.approved
        or not approvals_complete(action, request)
        or not request.command
    ):
        why = f"{request_id} not run: it is {request.state}" + (
            "" if request.state != RequestState.approved else " without complete approvals"
        )
        d.note(
            K.refused, f"refused run_action: {why}", signal="run_action", reason=why, request_id=request_id
        )
        return False
    _keep(d, request.model_copy(update={"state": RequestState.running}))
    d.note(K.action_running, f"running {request_id}: {' '.join(request.command)}", request_id=request_id)
    return True


def ran(d: Draft, request_id: str, exit_code: int | None, output: str | None) -> None:
    """What the command came to (None: no result — the worker stopped or it timed out)."""
    request = d.s.requests[request_id]
    if output is None:
        state, outcome = RequestState.failed, "no result (the worker stopped or timed out): check by hand"
    else:
        state, outcome = (RequestState.done if exit_code == 0 else RequestState.failed), output
    _keep(d, request.model_copy(update={"state": state, "exit_code": exit_code, "outcome": outcome}))
    kind = K.action_done if state == RequestState.done else K.action_failed
    d.note(
        kind, f"{request_id} {state} (exit code {exit_code}): {(outcome or '')[-300:]}", request_id=request_id
    )
    d.post(
        "action-result",
        f"{'🟢' if state == RequestState.done else '🔴'} {request_id} {state}, exit code "
        f"{exit_code}:\n```\n{(outcome or '')[-1500:]}\n```",
    )


# --- the §5.4 customer email: a request the Communications Lead approves ------------------------------


def draft_customer_email(d: Draft, edit: EditCustomerEmail | None = None) -> None:
    """The draft is a request whose params are its text: an approval binds to exactly that text."""
    s = d.s
    changes = (
        {k: v for k, v in edit.model_dump(exclude={"by", "attestation"}).items() if v is not None}
        if edit
        else {}
    )
    draft = {**(s.customer_email or _first_draft(d)), **changes}
    s.customer_email = draft
    earlier = s.requests.get(EMAIL)
    due = next(
        (e.due_at for e in s.ledger if e.key == DeliverableKey.customer_email),
        s.resolution.at + timedelta(hours=2),
    )
    _keep(
        d,
        _automatic(
            d, EMAIL, CUSTOMER_EMAIL_ACTION, "customers", draft,
            "§8: customer email within 2 hours of resolution", due, earlier.approvals if earlier else [],
        ),
    )  # fmt: skip
    d.note(
        K.customer_email,
        "customer email drafted" + (f", edited by {edit.by}" if edit else ""),
        request_id=EMAIL,
    )
    d.effect(_draft_for_review(d, draft, due))


def _draft_for_review(d: Draft, draft: dict[str, str], due: datetime) -> Notify:
    """The draft, to the Communications Lead, keyed by its text (a retry never sends it twice; a
    changed draft is sent again)."""
    subject, body = email_text(d, draft)
    return Notify(
        key=f"customer-email-draft-{digest(CUSTOMER_EMAIL_ACTION, 'customers', draft)}",
        role=Role.communications_lead,
        text=f"✉️ Customer email draft for incident {d.given.incident_id} (§5.4), due {due:%H:%M} UTC. "
        f"To: {', '.join(recipients(d))}\nSubject: {subject}\n\n{body}\n\n"
        f'Send it: `approve` {{"request_id": "{EMAIL}", "by": "<your email>"}}. '
        f'Change it first: `edit_customer_email` {{"by", "affected"?, "root_cause"?, '
        f'"resolution"?, "preventive_actions"?, "courtesy_days"?}}.',
    )


def edit_customer_email(d: Draft, edit: EditCustomerEmail, actor: Actor) -> None:
    request = d.s.requests.get(EMAIL)
    if request is None or request.state != RequestState.pending:
        d.refuse(
            "edit_customer_email",
            "there is no customer email draft waiting for approval"
            + (f" (it is {request.state})" if request else ""),
        )
    draft_customer_email(d, edit)


def _first_draft(d: Draft) -> dict[str, str]:
    s, resolution = d.s, d.s.resolution
    definition = d.policy.severities[s.decision.severity]
    return {
        "start": s.started_at.isoformat(),
        "end": resolution.at.isoformat(),
        "affected": s.impact or f"{definition.name}: {definition.definition}",
        "root_cause": resolution.root_cause
        or "We are still confirming the root cause; the post-mortem will follow.",
        "resolution": resolution.summary,
        "preventive_actions": "Action items from our post-mortem are tracked and will be completed.",
        "courtesy_days": str(d.policy.customer_email.courtesy_days),
    }


def email_text(d: Draft, draft: dict[str, str]) -> tuple[str, str]:
    return templates.customer_email(
        start=datetime.fromisoformat(draft["start"]),
        end=datetime.fromisoformat(draft["end"]),
        affected=draft["affected"],
        root_cause=draft["root_cause"],
        resolution=draft["resolution"],
        preventive_actions=draft["preventive_actions"],
        courtesy_days=int(draft["courtesy_days"]),
        support=d.policy.customer_email.support,
    )


def recipients(d: Draft) -> list[str]:
    """The schools the blast radius names (their addresses), else all of them, and the defaults."""
    policy, radius = d.policy.customer_email, d.s.blast_radius
    tenants = radius.tenants if radius and radius.scope == "tenant" else []
    chosen = [a for t in tenants for a in policy.recipients.get(t, [])]
    if not tenants:
        chosen = [a for addrs in policy.recipients.values() for a in addrs]
    return list(dict.fromkeys(chosen + policy.default_recipients))


def carried_out(d: Draft, request_id: str, sent: list[str], failed: list[str], note: str) -> None:
    """What carrying out the email or the statement came to: `sent` (addresses, or the status page)
    and `failed`; `note` says it for the timeline."""
    request = d.s.requests[request_id]
    state = RequestState.done if sent and not failed else RequestState.failed
    _keep(d, request.model_copy(update={"state": state, "outcome": note}))
    kind = K.customer_email if request_id == EMAIL else K.public_statement
    what = "customer email" if request_id == EMAIL else "public statement"
    d.note(kind, f"{what} {note}", by=request.decided_by, request_id=request_id)
    if request_id == EMAIL and state == RequestState.done:
        close_deliverable(
            d, DeliverableKey.customer_email, "done", request.decided_by, link=f"sent to {', '.join(sent)}"
        )


# --- a private incident's public statement ---------------------------------------------------------


def request_statement(d: Draft) -> None:
    """Instead of §5.3's automatic "investigating": a request for the statement, once, for the
    severities the status page covers. Its text is its params: approval binds to exactly it."""
    s, policy = d.s, d.policy
    if STATEMENT in s.requests or s.decision.severity not in policy.status_page.severities:
        return
    title, body = templates.status_page_investigating(cadence_minutes(d) or 30)
    params = {"title": title, "body": body}
    _ask(
        d,
        _automatic(
            d, STATEMENT, PUBLIC_STATEMENT_ACTION, "status-page", params,
            "a private incident says nothing public until its statement is approved (§7)",
            d.now + STATEMENT_WINDOW,
        ),
    )  # fmt: skip


def _automatic(
    d: Draft, request_id: str, action: str, target: str, params: dict[str, str], reason: str,
    expires_at: datetime, approvals: list | None = None,
) -> ActionRequest:  # fmt: skip
    """A request the product carries out itself once approved (the §5.4 customer email, a private
    incident's public statement), bound to exactly its text (`params`)."""
    return ActionRequest(
        request_id=request_id,
        action=action,
        title=d.policy.actions[action].title,
        forbidden=False,
        target=target,
        params=params,
        by="preskool-irp",
        automatic=True,
        reason=reason,
        digest=digest(action, target, params),
        command=None,
        requested_at=d.now,
        expires_at=expires_at,
        approvals=approvals or [],
    )


def open_status_page(d: Draft) -> None:
    """§5.3 Investigating, for severities with customer impact (the lane opens it once); a private
    incident's status page waits for its public statement to be approved: a request instead."""
    if d.s.private and not d.s.public_statement:
        request_statement(d)
    else:
        d.effect(OpenStatusPage())
