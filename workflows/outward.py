"""The incident's outward steps: paging, the bridge, the status page, the resolve gate and the
close-out. Each is an activity call that retries for as long as the outside system needs, and a
step that cannot succeed is recorded in the timeline, never fatal."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.chat import ArchiveBridge, BridgeActivities, BridgePost, InviteRequest, OpenBridgeRequest
    from activities.paging import PageRequest, PagingActivities, ResolvePage
    from activities.status_page import StatusPageActivities, StatusPageUpdate
    from activities.recovery import VerificationActivities, VerifyRecovery
    from plan import Role
    from plan.incident import GateCheck, GateRun, Page, Resolution
    from plan.models import Phase
    from plan import templates
    from workflows import metrics
    from plan.signals import Resolve

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


BRIDGE_STEPS = (BridgeActivities.open_bridge, BridgeActivities.invite_to_bridge,
                BridgeActivities.post_to_bridge, BridgeActivities.archive_bridge, BridgeActivities.notify_person)


def failure(e: ActivityError) -> str:
    """What went wrong, in the outside system's words (not the SDK's wrapping)."""
    cause = e.cause
    while isinstance(cause, ActivityError) and cause.cause:
        cause = cause.cause
    return getattr(cause, "message", None) or str(cause or e)


class OutwardSteps:
    """Mixed into IncidentSteps, whose state (`self.s`) and bookkeeping (`_note`) these use."""

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
                                       in_bridge=activity not in BRIDGE_STEPS)
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
        self.s.bridge.opening_message_id = await self._post(templates.bridge_opening(
            severity=self.s.decision.severity, summary=self.s.summary,
            impact=self.s.impact or self._default_impact(), started_at=self.s.started_at,
            ic=self._person(Role.incident_commander), primary=self._person(Role.oncall_primary),
            secondary=self._person(Role.oncall_secondary),
            pagerduty=f"{self.policy.links.pagerduty} (dedup key {self.incident_id}:<role>)"), "opening")

    async def _invite(self, roles: list[Role]) -> None:
        if not self.s.bridge.channel_id or self.s.bridge.archived:
            return
        emails = list(dict.fromkeys(p.email for p in map(self._person, roles) if p))
        invited = await self._outside(BridgeActivities.invite_to_bridge, InviteRequest(
            channel_id=self.s.bridge.channel_id, emails=emails), what="invite people to the bridge")
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
            thread=self.s.bridge.opening_message_id if thread else None), what=f"post the {what} message")
        if posted:
            self._note("posted", f"posted the {what} message in #{self.s.bridge.channel}")
        return posted.message_id if posted else None

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

