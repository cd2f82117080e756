"""One production incident, from the first alert to review (plan §4), as one durable workflow."""

from __future__ import annotations

import asyncio
from typing import Any
from datetime import timedelta

from pydantic import ValidationError
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.bridge import BridgeActivities, BridgePost, InviteRequest, OpenBridgeRequest
    from activities.paging import PageRequest, PagingActivities
    from plan import Declaration, Engagement, Role, SeverityDecision, classify_alerts, classify_declaration, engagement
    from plan.alerts import AlertmanagerDelivery
    from plan.incident import (
        Acknowledge, Bridge, DeliveryReceipt, IncidentInput, IncidentStatus, Page, RoleAssignment, TimelineEntry,
    )
    from plan.models import Phase
    from plan.templates import bridge_opening

# Outside systems may be down for minutes: retry with backoff, for as long as it takes.
OUTSIDE = dict(
    start_to_close_timeout=timedelta(seconds=60),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                             maximum_interval=timedelta(minutes=1)),
)
FIRST_ALERT_WAIT = timedelta(minutes=5)


@workflow.defn
class IncidentWorkflow:
    @workflow.init
    def __init__(self, input: IncidentInput) -> None:
        self.incident_id = input.incident_id
        self.policy = input.policy
        self.started_at = workflow.now()
        self.phase = Phase.DETECTION
        self.timeline: list[TimelineEntry] = []
        self.deliveries = 0
        self.decision: SeverityDecision | None = None
        self.engaged: Engagement | None = None
        self.summary = self.impact = ""
        self.source = "preskool-irp"
        self.paged: list[Page] = []
        self.bridge = Bridge()
        self.acknowledged: Acknowledge | None = None
        self.acknowledged_at = None
        if input.declaration:
            self._declared(input.declaration)

    @workflow.run
    async def run(self, input: IncidentInput) -> IncidentStatus:
        # Phase 1: DETECTION — an alert (or a person) says something is wrong.
        if not await self._first_alert():
            self._note("abandoned", "no alert arrived; nothing to respond to")
            return self.status()
        self.engaged = engagement(self.policy, self.decision.severity, self.decision.data_at_risk)
        await self._page(self.engaged.page)          # page first: people before tooling
        await self._open_bridge()                    # then #preskool-incident-<date> and §5.1

        # Phase 2: TRIAGE begins when on-call acknowledges.
        await workflow.wait_condition(lambda: self.acknowledged is not None)
        self._enter(Phase.TRIAGE)
        await workflow.wait_condition(lambda: self.phase is Phase.REVIEW)
        return self.status()

    # --- inputs -------------------------------------------------------------------------------

    @workflow.update(description="An Alertmanager delivery for this alert group (sent by the webhook).")
    async def receive_alerts(self, delivery: AlertmanagerDelivery) -> DeliveryReceipt:
        created = self.deliveries == 0 and self.decision is None
        self.deliveries += 1
        firing = len(delivery.firing)
        if created:
            self.decision = classify_alerts(delivery.alerts, self.policy.triage)
            self.summary, self.impact, self.source = delivery.summary, delivery.impact, delivery.source
            self._note("detected", f"Alertmanager: {self.summary}", by="alertmanager")
            self._note("severity", f"{self.decision.severity}: " + "; ".join(self.decision.reasons))
        else:
            self._note("delivery", f"Alertmanager delivery #{self.deliveries} ({delivery.status}): "
                       f"{firing} firing, {len(delivery.alerts) - firing} resolved", by="alertmanager")
        return DeliveryReceipt(incident_id=self.incident_id, severity=self.decision.severity, created=created)

    @workflow.signal(description='On-call acknowledges the page. JSON: {"by": "<email>"}')
    def acknowledge(self, payload: Any) -> None:
        if not (ack := self._accept("acknowledge", Acknowledge, payload)):
            return
        if self.acknowledged:
            self._note("acknowledged", f"also acknowledged by {ack.by}", by=ack.by)
            return
        self.acknowledged, self.acknowledged_at = ack, workflow.now()
        self._note("acknowledged", f"acknowledged by {ack.by}", by=ack.by)

    @workflow.query(description="Everything about the incident: severity and why, phase, roles, bridge, timeline.")
    def status(self) -> IncidentStatus:
        letters = self.engaged.letters if self.engaged else {}
        how = {}
        if self.engaged:
            how = {**{r: "informed" for r in self.engaged.inform}, **{r: "invited" for r in self.engaged.invite},
                   **{r: "paged" for r in self.engaged.page}}
        roles = []
        for role, letter in letters.items():
            person = self.policy.person(role)
            roles.append(RoleAssignment(role=role, letter=letter, engaged=how.get(role, "none"),
                                        person=person.email if person else None, name=person.name if person else None))
        return IncidentStatus(
            incident_id=self.incident_id, severity=self.decision.severity if self.decision else None,
            severity_reasons=self.decision.reasons if self.decision else [], phase=self.phase,
            summary=self.summary, impact=self.impact, started_at=self.started_at,
            acknowledged_by=self.acknowledged.by if self.acknowledged else None,
            acknowledged_at=self.acknowledged_at, roles=roles, channel=self.bridge.channel,
            paged=self.paged, deliveries=self.deliveries, timeline=self.timeline,
        )

    # --- steps --------------------------------------------------------------------------------

    async def _first_alert(self) -> bool:
        try:
            await workflow.wait_condition(lambda: self.decision is not None, timeout=FIRST_ALERT_WAIT)
        except asyncio.TimeoutError:
            return False
        return True

    async def _page(self, roles: list[Role]) -> None:
        results = await asyncio.gather(*(self._page_role(role) for role in roles if not self._was_paged(role)))
        self.paged.extend(results)

    async def _page_role(self, role: Role) -> Page:
        person = self.policy.person(role)
        request = PageRequest(
            incident_id=self.incident_id, role=role, dedup_key=f"{self.incident_id}:{role.value}",
            severity=self.decision.severity, summary=self.summary, source=self.source,
            details={"reasons": "; ".join(self.decision.reasons), "impact": self.impact},
        )
        try:
            result = await workflow.execute_activity_method(PagingActivities.page_role, request, **OUTSIDE)
        except ActivityError as e:
            detail = str(e.cause or e)
            self._note("page-failed", f"could not page {role.title}: {detail}")
            return Page(role=role, person=person and person.email, dedup_key=request.dedup_key,
                        outcome="failed", detail=detail, at=workflow.now())
        who = f"{role.title} ({person.name})" if person else role.title
        self._note("paged" if result.outcome == "paged" else "page-skipped",
                   f"paged {who}" if result.outcome == "paged" else f"{who}: {result.detail}")
        return Page(role=role, person=person and person.email, dedup_key=request.dedup_key,
                    outcome=result.outcome, detail=result.detail, at=workflow.now())

    def _was_paged(self, role: Role) -> bool:
        return any(p.role == role and p.outcome == "paged" for p in self.paged)

    async def _open_bridge(self) -> None:
        opened = await self._outside(BridgeActivities.open_bridge, OpenBridgeRequest(
            incident_id=self.incident_id, channel_prefix=self.policy.slack_channel_prefix,
            started_at=self.started_at, purpose=f"Incident {self.incident_id}: {self.summary}"[:250]),
            what="open the incident bridge")
        if opened is None or opened.skipped:
            self.bridge.skipped = opened.skipped if opened else "failed"
            if opened:
                self._note("bridge-skipped", opened.skipped)
            return
        self.bridge.channel, self.bridge.channel_id = opened.channel, opened.channel_id
        self._note("bridge", f"bridge opened: #{opened.channel}")
        members = [self.policy.person(r) for r in self.engaged.bridge_members]
        invited = await self._outside(BridgeActivities.invite_to_bridge, InviteRequest(
            channel_id=opened.channel_id, user_ids=list(dict.fromkeys(p.slack_user_id for p in members if p))),
            what="invite people to the bridge")
        if invited and invited.failed:
            self._note("invite-failed", "could not invite " + ", ".join(f"{u} ({e})" for u, e in invited.failed.items()))
        ic, primary, secondary = (self.policy.person(r) for r in (
            Role.incident_commander, Role.oncall_primary, Role.oncall_secondary))
        self.bridge.opening_ts = await self._post("opening", bridge_opening(
            severity=self.decision.severity, summary=self.summary,
            impact=self.impact or self._default_impact(), started_at=self.started_at,
            ic=ic, primary=primary, secondary=secondary,
            pagerduty=f"{self.policy.links.pagerduty} (dedup key {self.incident_id}:<role>)"))

    async def _post(self, key: str, text: str, thread_ts: str | None = None) -> str | None:
        if not self.bridge.channel_id:
            return None
        posted = await self._outside(BridgeActivities.post_to_bridge, BridgePost(
            incident_id=self.incident_id, channel_id=self.bridge.channel_id, key=key, text=text,
            thread_ts=thread_ts), what=f"post the {key} message")
        if posted:
            self._note("posted", f"posted {key} message in #{self.bridge.channel}")
        return posted.ts if posted else None

    async def _outside(self, activity, request, *, what: str):
        """Run one outside step; a step that cannot succeed is recorded, never fatal."""
        try:
            return await workflow.execute_activity_method(activity, request, **OUTSIDE)
        except ActivityError as e:
            self._note("step-failed", f"could not {what}: {e.cause or e}")
            return None

    # --- bookkeeping --------------------------------------------------------------------------

    def _declared(self, declaration: Declaration) -> None:
        self.decision = classify_declaration(declaration, self.policy.triage)
        self.summary, self.impact, self.source = declaration.summary, declaration.impact, declaration.source
        self._note("detected", f"declared by {declaration.reporter} ({declaration.source}): {self.summary}",
                   by=declaration.reporter)
        self._note("severity", f"{self.decision.severity}: " + "; ".join(self.decision.reasons))

    def _default_impact(self) -> str:
        definition = self.policy.severities[self.decision.severity]
        return f"{definition.name}: {definition.definition}"

    def _accept(self, signal: str, model, payload):
        """Human input is validated here, not by the SDK, so a bad one is refused visibly."""
        try:
            return model.model_validate(payload)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'input'}: {err['msg']}" for err in e.errors())
            self._note("refused", f"refused {signal}: {problems}")
            return None

    def _enter(self, phase: Phase) -> None:
        self.phase = phase
        self._note("phase", f"phase {phase}")

    def _note(self, kind: str, text: str, by: str | None = None) -> None:
        self.timeline.append(TimelineEntry(at=workflow.now(), kind=kind, text=text, by=by))
