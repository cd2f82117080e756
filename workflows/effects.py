"""The lanes that carry out what the deciders decided (plan/effects.py): one lane per outside
system, steps of a lane in order, lanes apart — a system that is down holds up only its own lane,
never the pages, the bridge, the other systems or the clocks of §4 and §5.2.

`run(router, effect)` queues each effect on its lane (a metric is counted at once). The steps
below do what an effect says and hand what they found to a decider (plan/decide/)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import ValidationError
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.email import EmailActivities, EmailRequest
    from activities.executor import ExecutorActivities, RunAction
    from activities.policy import PolicyActivities
    from activities.postmortem import PostmortemActivities, PostmortemFacts
    from activities.recovery import VerificationActivities, VerifyRecovery
    from activities.tickets import TicketActivities, TicketRequest
    from plan import Role, templates
    from plan import effects as fx
    from plan.approvals import RequestState, approvals_complete
    from plan.compliance import ComplianceCard, family, render
    from plan.decide import gate, keys, outcomes, requests
    from plan.decision import Draft
    from plan.incident import GateCheck, GateRun
    from plan.models import CUSTOMER_EMAIL_ACTION
    from plan.picture import picture
    from plan.postmortem import PICTURE, facts
    from plan.privacy import PUBLIC_STATEMENT_ACTION
    from workflows import bridge, metrics, paging, status, status_page
    from workflows.outside import VERIFY, outside

INCIDENT, ACTIONS, EMAIL, TICKETS, KEYS = "incident", "actions", "email", "tickets", "keys"
POSTMORTEM_TICKET = "postmortem"  # plan/decide/ledger.py's key for the post-mortem's ticket
KEYS_TIMEOUT = timedelta(seconds=30)
# An address the email port refuses (plan/addresses.py) fails that one email, not the whole step.
EACH_ADDRESS = "email-each-address"
# A ticket Jira refuses for good (a required field, a localised issue type) is said in the bridge.
TICKET_FAILED = "ticket-failed"
# §4.6 (issue 24): the timeline picture shared in the bridge, in the post-mortem draft's thread.
PICTURE_IN_BRIDGE = "picture-in-bridge"


def run(r, effect: fx.Effect) -> None:
    """Queue `effect` on its lane."""
    match effect:
        case fx.Measure(name, severity, seconds):
            metrics.measure(name, severity, seconds)
        case fx.Promised(promise, severity, outcome):
            metrics.promised(promise, severity, outcome)
        case fx.Post(what, text, thread, buttons):
            r.later(bridge.LANE, bridge.send, r, text, what, thread, list(buttons))
        case fx.OpenBridge():
            r.later(bridge.LANE, bridge.open_, r)
        case fx.Invite(roles):
            r.later(bridge.LANE, bridge.look_and_invite, r, list(roles), "a page or role change")
        case fx.LookUpOnCall(why) if r.policy.on_call:
            r.later(bridge.LANE, bridge.look_and_invite, r, None, why)
        case fx.Notify(key, text, role, email, buttons):
            step = (bridge.tell, role) if role else (bridge.tell_person, email)
            r.later(bridge.LANE, step[0], r, step[1], key, text, list(buttons))
        case fx.VerifyHolder():
            r.later(bridge.LANE, bridge.verify_holder, r, effect)
        case fx.InviteToPostmortem(due):
            r.later(bridge.LANE, invite_to_postmortem, r, datetime.fromisoformat(due))
        case fx.Page(roles):
            r.later(paging.LANE, paging.page, r, roles)
        case fx.OpenStatusPage():
            r.later(status_page.LANE, status_page.open_, r)
        case fx.PublishStatus(status, title, body, component_status):
            r.later(status_page.LANE, status_page.publish, r, status, title, body, component_status)
        case fx.RunAction(request_id):
            r.later(ACTIONS, run_action, r, request_id)
        case fx.CarryOut(request_id):
            email = r.state.requests[request_id].action == CUSTOMER_EMAIL_ACTION
            r.later(
                EMAIL if email else status_page.LANE,
                send_email if email else publish_statement,
                r,
                request_id,
            )
        case fx.Verify():
            r.later(INCIDENT, verify, r, effect)
        case fx.CloseOut():
            r.later(INCIDENT, close_out, r)
        case fx.Ticket():
            r.later(TICKETS, ticket, r, effect)
        case fx.Escalate(deliverable):
            r.later(EMAIL, escalate, r, deliverable)
        case fx.LookUpKeys():
            r.later(KEYS, look_up_keys, r)


# --- attestation keys that rotated since the incident opened (plan/decide/keys.py) -----------------


async def look_up_keys(r) -> None:
    """Ask the worker for its current attestation public keys (a local activity: its own
    environment), learn the new ones, and take again every decision that waited for them. A
    look-up that fails learns nothing: the waiting decisions are then refused with their reason."""
    current: list[str] = []
    if workflow.patched("keys-looked-up"):
        try:
            current = await workflow.execute_local_activity(
                PolicyActivities.attestation_keys,
                schedule_to_close_timeout=KEYS_TIMEOUT,
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=5)),
            )
        except Exception:  # a worker without the activity, a timeout: nothing learned, said below
            workflow.logger.warning("%s: the workers' keys could not be read", r.incident_id)
    for waiting in r.decide(keys.learned, current).handoff or []:
        r.retake(waiting)


# --- §4.3: an approved action, run once -------------------------------------------------------------


async def run_action(r, request_id: str) -> None:
    """Runs at most once. The guard is checked here, at the last moment, not when approved."""
    r.decide(requests.running, request_id)
    if r.state.requests[request_id].state != RequestState.running:  # refused at the last moment
        return
    request = r.state.requests[request_id]
    timeout = r.policy.actions[request.action].executor.timeout
    result = await outside(
        r,
        ExecutorActivities.run_action,
        RunAction(incident_id=r.incident_id, request_id=request_id, command=request.command, timeout=timeout),
        what=f"run {request_id}",
        options=dict(
            start_to_close_timeout=timeout + timedelta(minutes=1),
            retry_policy=RetryPolicy(maximum_attempts=1),
        ),
    )
    r.decide(
        requests.ran, request_id, result.exit_code if result else None, result.output if result else None
    )


# --- what the product carries out itself once approved ----------------------------------------------


async def send_email(r, request_id: str) -> None:
    """§5.4: one message per school (schools never see each other), once approved."""
    request = r.state.requests[request_id]
    if not approvals_complete(r.policy.actions[CUSTOMER_EMAIL_ACTION], request):
        r.decide(
            requests.carried_out,
            request_id,
            [],
            ["its approval does not match the draft"],
            "not sent: its approval does not match the draft",
        )
        return
    draft = Draft(r.state, r.given())
    subject, body = requests.email_text(draft, request.params)
    sent, failed = [], []
    for n, address in enumerate(requests.recipients(draft), 1):
        try:
            email = EmailRequest(
                incident_id=r.key_id, key=f"customer-email-{n}", to=[address], subject=subject, body=body
            )
        except ValidationError as e:  # one school's address: failed on its own, the rest go on
            if not workflow.patched(EACH_ADDRESS):
                raise
            failed.append(f"{address} (not sent: {refusal(e)})")
            continue
        result = await outside(
            r, EmailActivities.send_email, email, what=f"send the customer email to {address}"
        )
        if result and result.message_id:
            sent.append(address)
        else:
            failed.append(f"{address} ({result.skipped if result else 'failed'})")
    note = f"sent to {len(sent)} school(s)" + (f"; not sent: {', '.join(failed)}" if failed else "")
    r.decide(requests.carried_out, request_id, sent, failed, note)


def refusal(e: ValidationError) -> str:
    """The first reason pydantic gives, without its "Value error, " prefix."""
    error = e.errors()[0]
    return str(error.get("ctx", {}).get("error") or error["msg"])


async def publish_statement(r, request_id: str) -> None:
    """A private incident's approved public statement: the status page opens with exactly its text
    (resolved, if it was approved after the incident resolved)."""
    request = r.state.requests[request_id]
    if not approvals_complete(r.policy.actions[PUBLIC_STATEMENT_ACTION], request):
        r.decide(
            requests.carried_out,
            request_id,
            [],
            ["approvals"],
            "not published: its approvals do not match its text",
        )
        return
    r.decide(outcomes.stated, True)
    if r.state.resolution:
        title, body = templates.status_page_resolved(r.state.decision.module or "PreSkool ERP", r.now())
        await status_page.publish(r, "resolved", title, body, "operational")
    else:
        await status_page.publish(
            r, "investigating", request.params["title"], request.params["body"], "degraded_performance"
        )
    if not r.state.status_page_id:  # the page was not updated: nothing public was said after all
        r.decide(outcomes.stated, False)
    done = bool(r.state.status_page_id)
    r.decide(
        requests.carried_out,
        request_id,
        ["status page"] if done else [],
        [] if done else ["status page"],
        "status page " + ("opened" if done else "not updated"),
    )


# --- §4.5: verify, then close out --------------------------------------------------------------------


async def verify(r, asked: fx.Verify) -> None:
    verdict = await outside(
        r,
        VerificationActivities.verify_recovery,
        VerifyRecovery(incident_id=r.incident_id, checks=r.policy.recovery_checks),
        what="verify recovery",
        options=VERIFY,
    )
    run = GateRun(
        at=r.now(),
        by=asked.by,
        passed=bool(verdict and verdict.passed),
        checks=[
            GateCheck(name=c.name, passed=c.passed, detail=c.detail)
            for c in (verdict.results if verdict else [])
        ],
        note=(verdict.skipped or "") if verdict else "the checks could not run",
    )
    r.decide(gate.verified, asked, run)


async def close_out(r) -> None:
    """§4.5 steps 4–6: status page and customers, PagerDuty, the RESOLVED update, the post-mortem
    draft, the archived bridge; then REVIEW and the §8 ledger."""
    resolution = r.state.resolution
    await status_page.resolve(r)
    await paging.resolve_all(r)
    card = status.compliance(r, r.now())
    count_promises(card)
    await bridge.send(
        r,
        templates.update_message(
            at=r.now(),
            status="RESOLVED",
            current_action=resolution.summary,
            what_we_know=resolution.root_cause or "Root cause to be written up in the post-mortem (§4.6)",
            next_update_minutes=None,
        )
        + (f"\n\n{render(card)}" if card else ""),
        "resolved",
    )
    await draft_postmortem(r, card)
    await bridge.archive(r)
    r.decide(gate.closed_out)


def count_promises(card: ComplianceCard | None) -> None:
    """The §4 and §5 promises, each kept or missed by the close-out, counted once (the §8 ones are
    counted at their due time, plan/decide/ledger.py)."""
    for promise in card.promises if card else []:
        if promise.section != "§8" and promise.state != "open":
            metrics.promised(family(promise.key), card.severity or "none", promise.state)


async def draft_postmortem(r, card: ComplianceCard | None = None) -> None:
    """§4.6: the draft from the timeline, the last words in the bridge before it is archived; its
    timeline picture shared in the draft's thread (not for a private incident), which the draft
    says, as it says the picture is attached to the post-mortem ticket."""
    drawn = _bridge_picture(r)
    shown_in = r.state.bridge.channel if drawn else None
    draft = await outside(
        r,
        PostmortemActivities.draft_postmortem,
        PostmortemFacts(incident_id=r.incident_id, facts=facts(r.incident_id, r.state, card, shown_in)),
        what="draft the post-mortem",
    )
    r.decide(outcomes.postmortem, draft or "")
    if draft:
        where = "its timeline picture is in this thread, and both go" if drawn else "it is attached"
        posted = await bridge.send(
            r,
            f"📝 Post-mortem draft (§4.6), from this incident's timeline; {where} to the "
            "post-mortem ticket:\n" + draft[:35000],
            "postmortem-draft",
        )
        if drawn:
            await bridge.share_picture(r, drawn, posted, PICTURE)


def _bridge_picture(r):
    """The timeline picture to share in the bridge, or None: a private incident's is shared
    nowhere (plan/privacy.py); an incident without an open bridge has nowhere to share it; an
    incident begun before PICTURE_IN_BRIDGE shares none (its commands stay as they were)."""
    bridge_ = r.state.bridge
    if r.state.private or not bridge_.channel_id or bridge_.archived:
        return None
    return picture(status.of(r), r.now()) if workflow.patched(PICTURE_IN_BRIDGE) else None


# --- §8: tickets, invitations, escalations -----------------------------------------------------------


async def ticket(r, asked: fx.Ticket) -> None:
    """A §8 ticket. The post-mortem's carries the incident's timeline picture (§4.6), drawn and
    attached by the same activity; a private incident's carries none (Jira is read widely)."""
    drawn = None
    if asked.key == POSTMORTEM_TICKET and not r.state.private:
        drawn = picture(status.of(r), r.now())
    result = await outside(
        r,
        TicketActivities.create_ticket,
        TicketRequest(
            incident_id=r.key_id,
            key=asked.key,
            summary=asked.title,
            description=asked.description,
            due=datetime.fromisoformat(asked.due).date(),
            assignee_email=asked.owner,
            picture=drawn,
        ),
        what=f"create the {asked.key} ticket",
    )
    if result and result.failed:  # refused for good, on its own (issue 23): said in the bridge too
        r.decide(
            outcomes.ticket_failed, asked.key, asked.title, result.failed, workflow.patched(TICKET_FAILED)
        )
    elif result:
        r.decide(outcomes.ticket, asked.key, result.url, result.key, result.note, result.skipped)


async def invite_to_postmortem(r, meeting: datetime) -> None:
    """§4.6: all involved engineers — everyone paged, invited or acting in the incident."""
    s = r.state
    involved = {p.person for p in s.paged if p.person} | {e.by for e in s.timeline if e.by and "@" in e.by}
    for email in sorted(involved):
        if r.policy.role_of(email):  # to the person who was there, not the role's holder now
            await bridge.tell_person(
                r,
                email,
                f"postmortem-invitation-{email}",
                templates.postmortem_invitation(
                    incident_id=r.incident_id,
                    summary=s.summary,
                    due_at=meeting,
                    ticket=s.tickets.get("postmortem-meeting"),
                ),
            )


async def escalate(r, key: str) -> None:
    """Once per deliverable: the Engineering Lead hears on chat and by email."""
    entry = next(d for d in r.state.ledger if d.key == key)
    owner = r.holder(entry.owner)
    text = templates.deliverable_overdue(
        title=entry.title,
        incident_id=r.incident_id,
        due_at=entry.due_at,
        owner=owner.name if owner else entry.owner.title,
    )
    r.note(outcomes.K.escalated, f"{entry.title} overdue: escalated to the Engineering Lead", deliverable=key)
    await bridge.tell(r, Role.engineering_lead, f"escalation-{key}", text)
    if lead := r.holder(Role.engineering_lead):
        await outside(
            r,
            EmailActivities.send_email,
            EmailRequest(
                incident_id=r.key_id,
                key=f"escalation-{key}",
                to=[lead.email],
                subject=f"[preskool-irp] Overdue: {entry.title} ({r.incident_id})",
                body=text,
            ),
            what="email the escalation",
        )
