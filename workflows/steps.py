"""The incident's steps: what each signal means for the incident, the clocks of §4 and §5.2, and
the bookkeeping (timeline, authority, details). The outward steps are in outward.py.

Handlers only validate and record; anything that touches the outside world is queued with
`_later` and run in its lane (or, for incidents begun before lanes, by the main loop one at a
time), so continue-as-new only happens between steps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from pydantic import BaseModel, ValidationError
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from plan import Role, SeverityDecision, classify_declaration, engagement
    from plan.alerts import AlertmanagerDelivery
    from plan.incident import (
        BlastRadius, Cadence, IncidentInput, IncidentState, IncidentStatus, RoleAssignment, TimelineEntry,
    )
    from plan.lifecycle import WINDOWED, cadence, escalate_unacknowledged, may, next_update_due, phase_deadline
    from plan.models import Person, Phase
    from plan import templates
    from workflows import metrics, search
    from workflows.lanes import Lanes
    from workflows.outward import OutwardSteps
    from plan.signals import AssignRole, DeclareBlastRadius, Mitigate, PagerDutyEvent, PostUpdate, SetSeverity


class IncidentSteps(OutwardSteps):
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
            return known or Person.model_construct(name=email, email=email, contacts={})
        return self.policy.person(role)

    def _mention(self, role: Role) -> str:
        person = self._person(role)
        return templates.mention(person) if person else "nobody"

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

