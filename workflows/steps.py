"""The incident's steps: what each signal means for the incident, the clocks of §4 and §5.2,
and the outward steps (page, post, status page, verify, close out) as activity calls.

Handlers only validate and record; anything that touches the outside world is queued with
`_later` and run by the main loop one at a time, so steps never interleave and continue-as-new
only happens between them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from datetime import datetime, timedelta

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.bridge import ArchiveBridge, BridgeActivities, BridgePost, InviteRequest, OpenBridgeRequest
    from activities.paging import PageRequest, PagingActivities, ResolvePage
    from activities.status_page import StatusPageActivities, StatusPageUpdate
    from activities.verification import VerificationActivities, VerifyRecovery
    from plan import Role, Severity, SeverityDecision, classify_declaration, engagement
    from plan.alerts import AlertmanagerDelivery
    from plan.incident import (
        BlastRadius, Cadence, GateCheck, GateRun, IncidentInput, IncidentState, IncidentStatus, Page, Resolution,
        RoleAssignment, TimelineEntry,
    )
    from plan.lifecycle import WINDOWED, cadence, escalate_unacknowledged, may, next_update_due, phase_deadline
    from plan.models import Person, Phase
    from plan import templates
    from workflows import metrics, search
    from workflows.lanes import Lanes
    from plan.signals import AssignRole, DeclareBlastRadius, Mitigate, PagerDutyEvent, PostUpdate, Resolve, SetSeverity

# Resolved incidents go on to the post-mortem draft and the §8 ledger; older ones ended at REVIEW.
POST_INCIDENT = "post-incident-deliverables"
# A step retrying this long gets one note, so people know why nothing happened.
SLOW_STEP = timedelta(minutes=2)
# Messages an incident posts once; every other post is numbered.
ONCE = ("opening", "triage-checklist")
# Outside systems may be down for minutes: retry with backoff, for as long as it takes.
OUTSIDE = dict(
    start_to_close_timeout=timedelta(seconds=60),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                             maximum_interval=timedelta(minutes=1)),
)
# A page is the first thing people hear: an attempt cut off by a dying worker is retried soon.
PAGING = dict(OUTSIDE, start_to_close_timeout=timedelta(seconds=15))
# The resolve gate answers a person who is waiting: a few tries, then say it could not verify.
VERIFY = dict(start_to_close_timeout=timedelta(seconds=30),
              retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3))


SLACK_STEPS = (BridgeActivities.open_bridge, BridgeActivities.invite_to_bridge, BridgeActivities.post_to_bridge,
               BridgeActivities.archive_bridge, BridgeActivities.notify_person)


def failure(e: ActivityError) -> str:
    """What went wrong, in the outside system's words (not the SDK's wrapping)."""
    cause = e.cause
    while isinstance(cause, ActivityError) and cause.cause:
        cause = cause.cause
    return getattr(cause, "message", None) or str(cause or e)


class IncidentSteps:
    def __init__(self, input: IncidentInput) -> None:
        self.incident_id = input.incident_id
        self.policy = input.policy
        self.steps: list[Callable[[], Awaitable]] = []
        self.lanes: Lanes | None = None
        self.wake = False
        self.clock: asyncio.Task | None = None
        self.clock_at: datetime | None = None
        self.running = False
        if input.state:
            self.s = input.state
            self.s.runs += 1
        else:
            self.s = IncidentState(started_at=workflow.now(), phases={Phase.DETECTION: workflow.now()})
            if input.declaration:
                declaration = input.declaration
                self.s.summary, self.s.impact, self.s.source = declaration.summary, declaration.impact, declaration.source
                self._note("detected", f"declared by {declaration.reporter} ({declaration.source}): {declaration.summary}",
                           by=declaration.reporter)
                self._set_decision(classify_declaration(declaration, self.policy.triage))
        self.engaged = engagement(self.policy, self.s.decision.severity, self.s.decision.data_at_risk) \
            if self.s.decision else None

    def _carried(self) -> IncidentInput:
        return IncidentInput(incident_id=self.incident_id, policy=self.policy, state=self.s)

    # --- what signals mean ---------------------------------------------------------------------

    def _detected_by_alerts(self, delivery: AlertmanagerDelivery, decision: SeverityDecision) -> None:
        self.s.summary, self.s.impact, self.s.source = delivery.summary, delivery.impact, delivery.source
        self.s.runbook = next((a.annotations["runbook_url"] for a in delivery.alerts if "runbook_url" in a.annotations), None)
        self._note("detected", f"Alertmanager: {self.s.summary}", by="alertmanager")
        self._set_decision(decision)

    def _set_decision(self, decision: SeverityDecision) -> None:
        self.s.decision = decision
        self._note("severity", f"{decision.severity}: " + "; ".join(decision.reasons))
        self._publish()

    def _later_delivery(self, delivery: AlertmanagerDelivery) -> None:
        firing = len(delivery.firing)
        self._note("delivery", f"Alertmanager delivery #{self.s.deliveries} ({delivery.status}): "
                   f"{firing} firing, {len(delivery.alerts) - firing} resolved", by="alertmanager")
        if not firing and not self.s.alerts_resolved:
            self.s.alerts_resolved = True
            self._later(self._post, "✅ All alerts in this group resolved — ready to verify (§4.5). "
                                   "The incident stays open until someone sends `resolve`.", "alerts-resolved")
        elif firing and self.s.alerts_resolved:
            self.s.alerts_resolved = False
            self._later(self._post, f"🔁 Alerts firing again: {delivery.summary}", "alerts-firing")

    def _acknowledged(self, by: str, via: str = "") -> None:
        if self.s.acknowledged_by:
            self._note("acknowledged", f"also acknowledged by {by}{via}", by=by)
            return
        self.s.acknowledged_by, self.s.acknowledged_at = by, workflow.now()
        self._note("acknowledged", f"acknowledged by {by}{via}", by=by)
        metrics.took("irp_time_to_acknowledge", self.s.decision.severity, workflow.now() - self.s.started_at)
        if self.s.phase is Phase.DETECTION:
            self._enter(Phase.TRIAGE)

    def _change_severity(self, change: SetSeverity) -> None:
        before = self.s.decision.severity
        if change.severity == before:
            self._note("severity", f"{change.by} confirmed {before}: {change.reason}", by=change.by)
            return
        self._set_decision(self.s.decision.model_copy(update={
            "severity": change.severity, "reasons": [f"re-declared {change.severity} by {change.by}: {change.reason}"]}))
        self.engaged = engagement(self.policy, change.severity, self.s.decision.data_at_risk)
        self._retime_cadence()
        self._later(self._post, f"⚠️ Severity {before} → {change.severity}, declared by {change.by}: {change.reason}",
                               "severity")
        self._later(self._page, self.engaged.page)
        self._later(self._invite, self.engaged.bridge_members)
        self._later(self._open_status_page)

    def _assign(self, assignment: AssignRole) -> None:
        self.s.assignments[assignment.role] = assignment.person
        self._note("role", f"{assignment.role.title} is now {assignment.person} (by {assignment.by})", by=assignment.by)
        self._later(self._post, f"👤 {assignment.role.title}: {self._mention(assignment.role)} (assigned by {assignment.by})",
                               "role")
        if assignment.role in (self.engaged.page if self.engaged else []):
            self._later(self._page, [assignment.role])
        self._later(self._invite, [assignment.role])

    def _update(self, update: PostUpdate) -> None:
        now = workflow.now()
        due = next_update_due(self.policy, self.s.decision.severity, now, now, update.next_update_minutes)
        minutes = self._minutes(due - now) if due else update.next_update_minutes
        cadence_ = self.s.cadence = self.s.cadence or Cadence(last_update_at=now)
        cadence_.last_update_at, cadence_.next_due, cadence_.updates_posted = now, due, cadence_.updates_posted + 1
        self._note("update", f"{update.status} update by {update.by}: {update.current_action}", by=update.by)
        self._later(self._post, templates.update_message(
            at=now, status=update.status, current_action=update.current_action, what_we_know=update.what_we_know,
            next_update_minutes=minutes), "update")
        if update.status == "RESOLVED":
            self._note("hint", "a RESOLVED update does not resolve the incident: send `resolve` to verify and close")
        if update.public:
            title, body = templates.status_page_investigating(minutes or 30)
            status = {"ONGOING": "identified", "MITIGATED": "monitoring", "RESOLVED": "monitoring"}[update.status]
            self._later(self._publish_status, status, title, update.public_message or body, "degraded_performance")

    def _blast_radius(self, radius: DeclareBlastRadius) -> None:
        self.s.blast_radius = BlastRadius(**radius.model_dump(), at=workflow.now())
        scope = {"all": "all users", "many": "many users", "tenant": "tenant(s) " + ", ".join(radius.tenants),
                 "endpoint": "endpoint(s) " + ", ".join(radius.endpoints)}[radius.scope]
        self._note("blast-radius", f"blast radius: {scope} (by {radius.by})", by=radius.by)
        self._later(self._post, f"💥 Blast radius: {scope} (declared by {radius.by})", "blast-radius")
        self._publish()
        if self.s.phase in (Phase.DETECTION, Phase.TRIAGE):
            self._enter(Phase.CONTAIN)

    def _mitigated(self, mitigation: Mitigate) -> None:
        if not self.s.mitigated_at:
            self.s.mitigated_at = workflow.now()
            metrics.took("irp_time_to_mitigate", self.s.decision.severity, workflow.now() - self.s.started_at)
        self._note("mitigated", f"mitigated by {mitigation.by}: {mitigation.summary}", by=mitigation.by)
        self._later(self._post, templates.update_message(
            at=workflow.now(), status="MITIGATED", current_action=mitigation.summary,
            what_we_know="Service restored; root cause under investigation (§4.4)",
            next_update_minutes=self._cadence_minutes()), "mitigated")
        if self.s.phase in (Phase.DETECTION, Phase.TRIAGE, Phase.CONTAIN):
            self._enter(Phase.FIX)

    def _pagerduty(self, event: PagerDutyEvent) -> None:
        self.s.pagerduty_events.append(event.event_id)
        who = event.agent_email or event.agent or "someone"
        if event.event_type == "incident.acknowledged":
            self._acknowledged(who, via=" in PagerDuty")
        elif event.event_type == "incident.resolved":
            self._note("pagerduty", f"PagerDuty incident resolved by {who}; this incident stays open until `resolve`")
        else:
            self._note("pagerduty", f"PagerDuty {event.event_type} by {who}")

    # --- the clocks of §4 and §5.2 -------------------------------------------------------------

    def _next_clock(self) -> datetime | None:
        """The earliest moment a clock of the live incident needs looking at."""
        if self.s.resolution:
            return None
        moments = []
        if not self.s.acknowledged_by and not self.s.escalated_unacknowledged:
            moments.append(phase_deadline(self.policy, self.s.started_at, Phase.DETECTION))
        if self.s.phase in WINDOWED and self.s.phase not in self.s.windows_nudged and self.s.phase is not Phase.DETECTION:
            moments.append(phase_deadline(self.policy, self.s.started_at, self.s.phase))
        if self.s.cadence and self.s.cadence.next_due:
            moments.append(self.s.cadence.next_due)
        return min((m for m in moments if m), default=None)

    def _check_clocks(self) -> None:
        now, s = workflow.now(), self.s
        if s.resolution:
            return
        if not s.acknowledged_by and not s.escalated_unacknowledged and \
                now >= phase_deadline(self.policy, s.started_at, Phase.DETECTION):
            s.escalated_unacknowledged = True
            s.windows_nudged.append(Phase.DETECTION)
            roles = escalate_unacknowledged(s.decision.severity, self.engaged, self._paged_roles())
            self._note("escalated", "no acknowledgement within the detection window: paging "
                       + (", ".join(r.title for r in roles) or "nobody new"))
            self._later(self._page, roles)
            self._later(self._post, templates.unacknowledged(
                paged=[r.title for r in roles], minutes=self._minutes(self.policy.phase_windows.DETECTION)),
                "unacknowledged")
        if s.phase in WINDOWED and s.phase is not Phase.DETECTION and s.phase not in s.windows_nudged and \
                now >= phase_deadline(self.policy, s.started_at, s.phase):
            s.windows_nudged.append(s.phase)
            window = self._minutes(getattr(self.policy.phase_windows, s.phase.value))
            self._note("window", f"{s.phase} window ({window} min) passed")
            self._later(self._post, templates.window_passed(ic=self._person(Role.incident_commander),
                                                           phase=s.phase.value, window_minutes=window),
                                   "window")
        if s.cadence and s.cadence.next_due and now >= s.cadence.next_due:
            every = cadence(self.policy, s.decision.severity)
            s.cadence.overdue_updates += 1
            metrics.update_overdue(s.decision.severity)
            s.cadence.next_due = now + every if every else None
            self._note("update-overdue", f"update overdue (#{s.cadence.overdue_updates})")
            self._later(self._post, templates.update_overdue(
                ic=self._person(Role.incident_commander), severity=s.decision.severity.value,
                every_minutes=self._minutes(every) if every else 0, last_at=s.cadence.last_update_at),
                "update-overdue")

    # --- outward steps -------------------------------------------------------------------------

    def _later(self, step: Callable[..., Awaitable], *args) -> None:
        """Queue an outward step: in its system's lane, or (incidents begun before lanes) in the
        one queue the main loop runs."""
        if self.lanes:
            self.lanes.add(step.__name__, partial(step, *args))
        else:
            self.steps.append(partial(step, *args))

    async def _do_steps(self) -> None:
        while self.steps:
            await self.steps.pop(0)()

    def _idle(self) -> bool:
        return self.lanes.idle if self.lanes else not self.steps

    async def _outside(self, activity, request, *, what: str, options: dict = OUTSIDE):
        """Run one outside step; a step that cannot succeed is recorded, never fatal."""
        try:
            return await self._watched(workflow.start_activity_method(activity, request, **options), what,
                                       in_bridge=activity not in SLACK_STEPS)
        except ActivityError as e:
            self._note("step-failed", f"could not {what}: {failure(e)}")
            return None

    async def _watched(self, call, what: str, in_bridge: bool = True):
        """A step still retrying after SLOW_STEP gets one clear note (in the bridge too, unless the
        bridge is what is failing), then keeps retrying with backoff."""
        if self.lanes:
            try:
                await workflow.wait_condition(call.done, timeout=SLOW_STEP)
            except asyncio.TimeoutError:
                minutes = self._minutes(SLOW_STEP)
                self._note("slow-step", f"still trying to {what} after {minutes} min; retrying with backoff")
                if in_bridge:
                    self._later(self._post, f"⚠️ Still trying to {what} after {minutes} minutes: the service is "
                                f"failing or slow. Retrying with backoff; the worker log has each error.", "slow-step")
        return await call

    async def _page(self, roles: list[Role]) -> None:
        pages = [self._page_role(r) for r in roles if r not in self._paged_roles()]
        self.s.paged.extend(await asyncio.gather(*pages))

    async def _page_role(self, role: Role) -> Page:
        person = self._person(role)
        email = person.email if person else self.s.assignments.get(role)
        dedup_key = f"{self.incident_id}:{role.value}" + (f":{email}" if role in self.s.assignments else "")
        request = PageRequest(incident_id=self.incident_id, role=role, person=email, dedup_key=dedup_key,
                              severity=self.s.decision.severity, summary=self.s.summary, source=self.s.source,
                              details={"reasons": "; ".join(self.s.decision.reasons), "impact": self.s.impact})
        try:
            result = await self._watched(workflow.start_activity_method(
                PagingActivities.page_role, request, **PAGING), f"page the {role.title}")
            outcome, detail = result.outcome, result.detail
        except ActivityError as e:
            outcome, detail = "failed", failure(e)
        who = f"{role.title} ({person.name})" if person else role.title
        kind = {"paged": "paged", "skipped": "page-skipped", "failed": "page-failed"}[outcome]
        self._note(kind, f"paged {who}" if outcome == "paged" else f"{who}: {detail}")
        return Page(role=role, person=email, dedup_key=dedup_key, outcome=outcome, detail=detail, at=workflow.now())

    def _paged_roles(self) -> set[Role]:
        return {p.role for p in self.s.paged if p.outcome == "paged"
                and (p.role not in self.s.assignments or p.person == self.s.assignments[p.role])}

    async def _open_bridge(self) -> None:
        opened = await self._outside(BridgeActivities.open_bridge, OpenBridgeRequest(
            incident_id=self.incident_id, channel_prefix=self.policy.slack_channel_prefix,
            started_at=self.s.started_at, purpose=f"Incident {self.incident_id}: {self.s.summary}"[:250]),
            what="open the incident bridge")
        if opened is None or opened.skipped:
            self.s.bridge.skipped = opened.skipped if opened else "failed"
            if opened:
                self._note("bridge-skipped", opened.skipped)
            return
        self.s.bridge.channel, self.s.bridge.channel_id = opened.channel, opened.channel_id
        self._note("bridge", f"bridge opened: #{opened.channel}")
        await self._invite(self.engaged.bridge_members)
        self.s.bridge.opening_ts = await self._post(templates.bridge_opening(
            severity=self.s.decision.severity, summary=self.s.summary,
            impact=self.s.impact or self._default_impact(), started_at=self.s.started_at,
            ic=self._person(Role.incident_commander), primary=self._person(Role.oncall_primary),
            secondary=self._person(Role.oncall_secondary),
            pagerduty=f"{self.policy.links.pagerduty} (dedup key {self.incident_id}:<role>)"), "opening")

    async def _invite(self, roles: list[Role]) -> None:
        if not self.s.bridge.channel_id or self.s.bridge.archived:
            return
        users = list(dict.fromkeys(p.slack_user_id for p in map(self._person, roles) if p))
        invited = await self._outside(BridgeActivities.invite_to_bridge, InviteRequest(
            channel_id=self.s.bridge.channel_id, user_ids=users), what="invite people to the bridge")
        if invited and invited.failed:
            self._note("invite-failed", "could not invite " + ", ".join(f"{u} ({e})" for u, e in invited.failed.items()))

    async def _post(self, text: str, what: str, thread: bool = False) -> str | None:
        """Post in the bridge. Each post has a key of its own, so a retry never posts twice."""
        if not self.s.bridge.channel_id or self.s.bridge.archived:
            return None
        self.s.posts += 1
        key = what if what in ONCE else f"{what}-{self.s.posts}"
        posted = await self._outside(BridgeActivities.post_to_bridge, BridgePost(
            incident_id=self.incident_id, channel_id=self.s.bridge.channel_id, key=key, text=text,
            thread_ts=self.s.bridge.opening_ts if thread else None), what=f"post the {what} message")
        if posted:
            self._note("posted", f"posted the {what} message in #{self.s.bridge.channel}")
        return posted.ts if posted else None

    async def _post_triage_checklist(self) -> None:
        start_ms = int((self.s.started_at - timedelta(minutes=30)).timestamp() * 1000)
        links = self.policy.links
        await self._post(templates.triage_checklist(
            runbook=self.s.runbook or links.runbooks, severity=self.s.decision.severity.value,
            grafana=f"{links.grafana_slo}?from={start_ms}&to=now", loki=f"{links.loki}?from={start_ms}&to=now",
            jaeger=f"{links.jaeger}/search?start={start_ms * 1000}"), "triage-checklist", thread=True)

    async def _open_status_page(self) -> None:
        """§5.3 Investigating, for severities with customer impact, once."""
        if self.s.status_page_id or self.s.decision.severity not in self.policy.status_page.severities:
            return
        title, body = templates.status_page_investigating(self._cadence_minutes() or 30)
        await self._publish_status("investigating", title, body, "degraded_performance")

    async def _publish_status(self, status: str, title: str, body: str, component_status: str) -> None:
        component = self.policy.status_page.components.get(self.s.decision.module or "") or \
            self.policy.status_page.default_component
        result = await self._outside(StatusPageActivities.publish_status, StatusPageUpdate(
            incident_id=self.incident_id, status=status, title=title, body=body,
            components={component: component_status} if component else {}), what="update the status page")
        if result and result.skipped:
            self._note("status-page-skipped", result.skipped)
        elif result:
            self.s.status_page_id = result.statuspage_incident_id
            self._note("status-page", f"status page: {status} ({title})")

    async def _resolve(self, request: Resolve) -> None:
        """§4.5: verify, then close out; a failed check keeps the incident open unless forced."""
        before = self.s.phase
        self._enter(Phase.RESOLVE)
        verdict = await self._outside(VerificationActivities.verify_recovery, VerifyRecovery(
            incident_id=self.incident_id, checks=self.policy.recovery_checks), what="verify recovery", options=VERIFY)
        run = GateRun(at=workflow.now(), by=request.by, passed=bool(verdict and verdict.passed),
                      checks=[GateCheck(name=r.name, passed=r.passed, detail=r.detail) for r in (verdict.results if verdict else [])],
                      note=(verdict.skipped or "") if verdict else "the checks could not run")
        self.s.gate_runs.append(run)
        lines = [f"{'✅' if c.passed else '❌'} {c.detail}" for c in run.checks] + ([run.note] if run.note else [])
        if not run.passed and not request.force_reason:
            self._note("gate-failed", "recovery not verified: " + "; ".join(lines), by=request.by)
            await self._post("🔍 Recovery NOT verified (§4.5); the incident stays open:\n" + "\n".join(lines)
                             + "\nFix what failed and `resolve` again, or the IC resolves with `force_reason`.",
                             "gate")
            self._enter(before)
            return
        if not run.passed:
            self._note("forced", f"resolved without verification by {request.by}: {request.force_reason}", by=request.by)
        await self._post(("🔍 Recovery verified (§4.5):\n" if run.passed else
                          f"⚠️ Resolving WITHOUT verification, by {request.by}: {request.force_reason}\n")
                         + "\n".join(lines), "gate")
        self.s.resolution = Resolution(by=request.by, summary=request.summary, root_cause=request.root_cause,
                                       forced=not run.passed, force_reason=request.force_reason, at=workflow.now())
        metrics.took("irp_time_to_resolve", self.s.decision.severity, workflow.now() - self.s.started_at)
        await self._close_out(request)

    async def _close_out(self, request: Resolve) -> None:
        """§4.5 steps 4–6: status page and customers, PagerDuty, the RESOLVED update, archive."""
        if self.s.status_page_id:
            title, body = templates.status_page_resolved(self.s.decision.module or "PreSkool ERP", workflow.now())
            await self._publish_status("resolved", title, body, "operational")
        for page in [p for p in self.s.paged if p.outcome == "paged" and not p.resolved]:
            done = await self._outside(PagingActivities.resolve_page, ResolvePage(
                role=page.role, person=page.person, dedup_key=page.dedup_key), what=f"resolve the {page.role.title} page")
            page.resolved = done is not None
        if resolved := [p.role.title for p in self.s.paged if p.resolved]:
            self._note("pages-resolved", "PagerDuty pages resolved: " + ", ".join(resolved))
        await self._post(templates.update_message(
            at=workflow.now(), status="RESOLVED", current_action=request.summary,
            what_we_know=request.root_cause or "Root cause to be written up in the post-mortem (§4.6)",
            next_update_minutes=None), "resolved")
        self.s.post_incident = workflow.patched(POST_INCIDENT)
        if self.s.post_incident:
            await self._before_archive()
        if self.s.bridge.channel_id:
            archived = await self._outside(BridgeActivities.archive_bridge, ArchiveBridge(
                channel_id=self.s.bridge.channel_id), what="archive the bridge")
            self.s.bridge.archived = archived is not None
            if self.s.bridge.archived:
                self._note("bridge", f"bridge #{self.s.bridge.channel} archived")
        self._enter(Phase.REVIEW)
        if self.s.post_incident:
            self._open_review()

    async def _before_archive(self) -> None:
        """Hook: the last words in the bridge (the post-mortem draft)."""

    def _open_review(self) -> None:
        """Hook: §4.6 and §8, what is owed after resolution."""

    # --- bookkeeping ---------------------------------------------------------------------------

    def _allowed(self, action: str, by: str) -> bool:
        roles = self._roles_of(by)
        if may(self.policy, action, roles):
            return True
        needed = ", ".join(r.title for r in self.policy.authority[action])
        self._refuse(action, f"{by} may not {action.replace('_', ' ')}: it needs {needed}")
        return False

    def _roles_of(self, email: str) -> set[Role]:
        """The roster's roles, unless this incident gave them to someone else, plus its assignments."""
        email = email.lower()
        assigned = {role: person.lower() for role, person in self.s.assignments.items()}
        roster = {r for r in self.policy.role_of(email) if assigned.get(r, email) == email}
        return roster | {r for r, person in assigned.items() if person == email}


    def _accept(self, signal: str, model: type[BaseModel], payload):
        """Human input is validated here, not by the SDK, so a bad one is refused visibly."""
        try:
            return model.model_validate(payload)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'input'}: {err['msg']}" for err in e.errors())
            self._refuse(signal, problems)
            return None

    def _refuse(self, signal: str, reason: str) -> None:
        self._note("refused", f"refused {signal}: {reason}")
        self._later(self._post, f"🚫 Refused `{signal}`: {reason}", "refusal")

    def _person(self, role: Role) -> Person | None:
        """Who holds the role now: an assignment in this incident, else the roster."""
        if email := self.s.assignments.get(role):
            known = next((p for p in self.policy.roster.values() if p.email.lower() == email.lower()), None)
            return known or Person.model_construct(name=email, email=email, slack_user_id="")
        return self.policy.person(role)

    def _mention(self, role: Role) -> str:
        person = self._person(role)
        return templates.mention(person) if person and person.slack_user_id else (person.email if person else "nobody")

    def _cadence_minutes(self) -> int | None:
        every = cadence(self.policy, self.s.decision.severity)
        return self._minutes(every) if every else None

    @staticmethod
    def _minutes(delta: timedelta) -> int:
        return int(delta.total_seconds() // 60)

    def _default_impact(self) -> str:
        definition = self.policy.severities[self.s.decision.severity]
        return f"{definition.name}: {definition.definition}"

    def _enter(self, phase: Phase) -> None:
        if phase is self.s.phase:
            return
        self.s.phase = phase
        self.s.phases[phase] = workflow.now()
        self._note("phase", f"phase {phase}")
        self._publish()

    def _retime_cadence(self) -> None:
        """§5.2: the next update is due one cadence after the last communication (the opening
        message counts); a severity change re-times it."""
        now = workflow.now()
        self.s.cadence = self.s.cadence or Cadence(last_update_at=now)
        self.s.cadence.next_due = next_update_due(self.policy, self.s.decision.severity,
                                                  self.s.cadence.last_update_at, now)

    def _publish(self) -> None:
        """The search attributes the Temporal UI filters incidents by."""
        if not self.running:  # __init__ builds the state; the run body publishes it once it starts
            return
        s = self.s
        workflow.set_current_details(self._details())
        search.upsert(severity=s.decision.severity.value if s.decision else None, phase=s.phase.value,
                      module=s.decision.module if s.decision else None,
                      tenants=s.blast_radius.tenants if s.blast_radius else [],
                      status="open" if not s.resolution else "closed" if self._closed() else "review")

    def _closed(self) -> bool:
        return False

    def _details(self) -> str:
        """What the Web UI shows on the incident's page without a query (markdown)."""
        s = self.s
        ic = self._person(Role.incident_commander)
        lines = [f"**{s.decision.severity if s.decision else '—'}** · {s.phase} · {s.summary}",
                 f"IC: {ic.name if ic else '—'} · bridge: #{s.bridge.channel or '—'} · "
                 f"acknowledged: {s.acknowledged_by or 'not yet'}"]
        if s.cadence and s.cadence.next_due:
            lines.append(f"Next update due {s.cadence.next_due:%H:%M} UTC ({s.cadence.overdue_updates} overdue so far)")
        pending = [r.request_id for r in s.requests.values() if r.state == "pending"]
        if pending:
            lines.append("Waiting for approval: " + ", ".join(pending))
        if s.ledger:
            lines.append("Deliverables: " + ", ".join(f"{d.key} {d.state}" for d in s.ledger))
        return "\n\n".join(lines)

    def _note(self, kind: str, text: str, by: str | None = None) -> None:
        self.s.timeline.append(TimelineEntry(at=workflow.now(), kind=kind, text=text, by=by))
        self.wake = True
        workflow.logger.info("%s: %s", kind, text)  # the timeline, in the logs (not repeated on replay)

    def _status(self) -> IncidentStatus:
        s, letters = self.s, (self.engaged.letters if self.engaged else {})
        how = {}
        if self.engaged:
            how = {**{r: "informed" for r in self.engaged.inform}, **{r: "invited" for r in self.engaged.invite},
                   **{r: "paged" for r in self.engaged.page}}
        roles = [RoleAssignment(role=role, letter=letter, engaged=how.get(role, "none"),
                                person=(p := self._person(role)) and p.email, name=p and p.name)
                 for role, letter in letters.items()]
        return IncidentStatus(
            incident_id=self.incident_id, severity=s.decision.severity if s.decision else None,
            severity_reasons=s.decision.reasons if s.decision else [], phase=s.phase, phases=s.phases,
            summary=s.summary, impact=s.impact, started_at=s.started_at, acknowledged_by=s.acknowledged_by,
            acknowledged_at=s.acknowledged_at, roles=roles, channel=s.bridge.channel, paged=s.paged,
            deliveries=s.deliveries, blast_radius=s.blast_radius, cadence=s.cadence, status_page_id=s.status_page_id,
            resolution=s.resolution, gate_runs=s.gate_runs, requests=list(s.requests.values()),
            deliverables=s.ledger, tickets=s.tickets, runs=s.runs,
            timeline=s.timeline)

