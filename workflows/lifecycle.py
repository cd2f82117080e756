"""§4 and §5.2 in the incident: what each person's signal means for the lifecycle, and its
clocks — the 2-minute escalation, the phase windows and the update cadence."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from plan import (
        Declaration,
        Role,
        SeverityDecision,
        classify_declaration,
        templates,
    )
    from plan.incident import BlastRadius, Cadence
    from plan.lifecycle import (
        WINDOWED,
        cadence,
        escalate_unacknowledged,
        escalation_due,
        next_update_due,
        phase_deadline,
        windows_passed,
    )
    from plan.models import Phase
    from plan.signals import (
        Acknowledge,
        AssignRole,
        DeclareBlastRadius,
        Mitigate,
        PagerDutyEvent,
        PostUpdate,
        SetSeverity,
    )
    from plan.start import Source, Start, problem_start, start_line
    from workflows import metrics
    from workflows.bridge import Bridge
    from workflows.context import IncidentContext, minutes
    from workflows.paging import Paging
    from workflows.status_page import PUBLIC_STATUS, StatusPage

PAGERDUTY_EVENTS_KEPT = 500  # webhook event ids remembered, to take each PagerDuty event once
SCOPE = {"all": "all users", "many": "many users"}


class Lifecycle:
    def __init__(self, ctx: IncidentContext, bridge: Bridge, paging: Paging, status_page: StatusPage) -> None:
        self.ctx, self.bridge, self.paging, self.status_page = ctx, bridge, paging, status_page

    # --- 1. DETECTION ------------------------------------------------------------------------------

    def declared(self, declaration: Declaration) -> None:
        s = self.ctx.s
        s.summary, s.impact, s.source = declaration.summary, declaration.impact, declaration.source
        self.ctx.note(
            "detected",
            f"declared by {declaration.reporter} ({declaration.source}): {declaration.summary}",
            by=declaration.reporter,
        )
        given = [declaration.started_at] if declaration.started_at else []
        self.began(given, "declared", f" by {declaration.reporter}")
        self.decide(classify_declaration(declaration, self.ctx.policy.triage))

    # --- when the problem began (plan/start.py) ----------------------------------------------------

    def began(self, starts: list[datetime], source: Source, by: str = "") -> None:
        """The problem's start, from the first delivery's firing alerts or the declaration, kept
        beside the receipt (`received_at`: when this incident's workflow began). Incidents opened
        before `v1.1` have no `received_at` and keep counting from their receipt."""
        s = self.ctx.s
        if s.received_at is None:
            return
        if not starts and source == "declared":  # nobody said when: it began when it was declared
            return
        self._moved(problem_start(starts, s.received_at, source=source), source, by)

    def began_earlier(self, starts: list[datetime], what: str) -> None:
        """A later delivery whose alerts began before the known start moves it earlier (never
        later); the §4 windows that have passed because of it are said once."""
        s = self.ctx.s
        if s.received_at is None or s.resolution:  # opened before `v1.1`, or closing
            return
        start = problem_start(starts, workflow.now(), known=s.started_at)
        if start.moved:
            self._moved(start, "alert", prefix=f"{what} shows an earlier start: ")
            self.say_windows_passed(f"{what} moved the start earlier: we are now")

    def _moved(self, start: Start, source: Source, by: str = "", prefix: str = "") -> None:
        s = self.ctx.s
        s.started_at, s.start_believed = start.at, start.believed
        s.phases[Phase.DETECTION] = start.at
        self.ctx.note("start", prefix + start_line(start, s.received_at, source, by))
        for line in start.said:
            self.ctx.note("start", line)

    def say_windows_passed(self, how: str = "") -> None:
        """Once, plainly: the §4 windows (counted from the problem's start) that had ended before
        we could act, marked so none of them nudges later (an alert 40 minutes late must not
        spray nudges). The unacknowledged page still escalates, counted from the page."""
        s, policy, now = self.ctx.s, self.ctx.policy, workflow.now()
        if s.received_at is None or s.resolution:
            return
        passed = [p for p in windows_passed(policy, s.started_at, now) if p not in s.windows_nudged]
        if not passed:
            return
        s.windows_nudged += passed
        names = [(p.value, minutes(getattr(policy.phase_windows, p.value))) for p in passed]
        self.ctx.note(
            "windows-passed", "passed before we could act: " + ", ".join(f"{p} ({m} min)" for p, m in names)
        )
        upcoming = next((p for p in WINDOWED if phase_deadline(policy, s.started_at, p) > now), None)
        ends = (
            f"{upcoming}'s ends at {phase_deadline(policy, s.started_at, upcoming):%H:%M} UTC"
            if upcoming
            else ""
        )
        declared = "This incident was declared" if s.declaration_digest else "This alert reached us"
        self.bridge.post(
            templates.windows_passed_on_arrival(
                late_by=now - s.started_at,
                started_at=s.started_at,
                passed=names,
                how=how or declared,
                ends=ends,
            ),
            "windows-passed",
        )

    def post_triage_checklist(self) -> None:
        """§4.2, in the opening's thread, with links around the incident's start."""
        s, links = self.ctx.s, self.ctx.policy.links
        start_ms = int((s.started_at - timedelta(minutes=30)).timestamp() * 1000)
        self.bridge.post(
            templates.triage_checklist(
                runbook=s.runbook or links.runbooks,
                severity=s.decision.severity.value,
                grafana=f"{links.grafana_slo}?from={start_ms}&to=now",
                loki=f"{links.loki}?from={start_ms}&to=now",
                jaeger=f"{links.jaeger}/search?start={start_ms * 1000}",
            ),
            "triage-checklist",
            thread=True,
        )

    # --- 2–4. TRIAGE, CONTAIN, FIX: what people's signals mean -----------------------------------

    def acknowledge(self, ack: Acknowledge) -> None:
        self.acknowledged(ack.by)

    def acknowledged(self, by: str, via: str = "") -> None:
        s = self.ctx.s
        if s.acknowledged_by:
            self.ctx.note("acknowledged", f"also acknowledged by {by}{via}", by=by)
            return
        s.acknowledged_by, s.acknowledged_at = by, workflow.now()
        self.ctx.note("acknowledged", f"acknowledged by {by}{via}", by=by)
        metrics.took("irp_time_to_acknowledge", s.decision.severity, workflow.now() - s.started_at)
        if s.phase is Phase.DETECTION:
            self.ctx.enter(Phase.TRIAGE)

    def set_severity(self, change: SetSeverity) -> None:
        before = self.ctx.s.decision.severity
        self.ctx.s.declared_severity_by = f"{change.severity} declared by {change.by}"
        if change.severity == before:
            self.ctx.note("severity", f"{change.by} confirmed {before}: {change.reason}", by=change.by)
            return
        reasons = [f"re-declared {change.severity} by {change.by}: {change.reason}"]
        self.change_severity(
            self.ctx.s.decision.model_copy(update={"severity": change.severity, "reasons": reasons}),
            f"⚠️ Severity {before} → {change.severity}, declared by {change.by}: {change.reason}",
        )

    def change_severity(self, decision: SeverityDecision, announcement: str) -> None:
        """A new severity: said in the bridge; the cadence re-timed; whoever the RACI now engages
        paged and invited; the status page opened where customers are affected."""
        self.decide(decision)
        self.retime_cadence()
        self.bridge.post(announcement, "severity")
        engaged = self.ctx.engaged
        self.paging.page(engaged.page)
        self.bridge.invite(engaged.bridge_members)
        self.status_page.open()

    def assign_role(self, assignment: AssignRole) -> None:
        ctx, role = self.ctx, assignment.role
        ctx.s.assignments[role] = assignment.person
        ctx.note("role", f"{role.title} is now {assignment.person} (by {assignment.by})", by=assignment.by)
        self.bridge.post(f"👤 {role.title}: {self._mention(role)} (assigned by {assignment.by})", "role")
        if role in ctx.engaged.page:
            self.paging.page([role])
        self.bridge.invite([role])

    def post_update(self, update: PostUpdate) -> None:
        s, now = self.ctx.s, workflow.now()
        due = next_update_due(self.ctx.policy, s.decision.severity, now, now, update.next_update_minutes)
        promised = minutes(due - now) if due else update.next_update_minutes
        kept = s.cadence = s.cadence or Cadence(last_update_at=now)
        kept.last_update_at, kept.next_due, kept.updates_posted = now, due, kept.updates_posted + 1
        self.ctx.note(
            "update", f"{update.status} update by {update.by}: {update.current_action}", by=update.by
        )
        self.bridge.post(
            templates.update_message(
                at=now,
                status=update.status,
                current_action=update.current_action,
                what_we_know=update.what_we_know,
                next_update_minutes=promised,
            ),
            "update",
        )
        if update.status == "RESOLVED":
            self.ctx.note(
                "hint", "a RESOLVED update does not resolve the incident: send `resolve` to verify and close"
            )
        if update.public:
            title, body = templates.status_page_investigating(promised or 30)
            self.status_page.publish(
                PUBLIC_STATUS[update.status], title, update.public_message or body, "degraded_performance"
            )

    def declare_blast_radius(self, radius: DeclareBlastRadius) -> None:
        s = self.ctx.s
        s.blast_radius = BlastRadius(**radius.model_dump(), at=workflow.now())
        scope = SCOPE.get(radius.scope) or (
            f"tenant(s) {', '.join(radius.tenants)}"
            if radius.scope == "tenant"
            else f"endpoint(s) {', '.join(radius.endpoints)}"
        )
        self.ctx.note("blast-radius", f"blast radius: {scope} (by {radius.by})", by=radius.by)
        self.bridge.post(f"💥 Blast radius: {scope} (declared by {radius.by})", "blast-radius")
        self.ctx.publish()
        if s.phase in (Phase.DETECTION, Phase.TRIAGE):
            self.ctx.enter(Phase.CONTAIN)

    def mitigate(self, mitigation: Mitigate) -> None:
        s = self.ctx.s
        if not s.mitigated_at:
            s.mitigated_at = workflow.now()
            metrics.took("irp_time_to_mitigate", s.decision.severity, workflow.now() - s.started_at)
        self.ctx.note("mitigated", f"mitigated by {mitigation.by}: {mitigation.summary}", by=mitigation.by)
        self.bridge.post(
            templates.update_message(
                at=workflow.now(),
                status="MITIGATED",
                current_action=mitigation.summary,
                what_we_know="Service restored; root cause under investigation (§4.4)",
                next_update_minutes=self.ctx.cadence_minutes(),
            ),
            "mitigated",
        )
        if s.phase in (Phase.DETECTION, Phase.TRIAGE, Phase.CONTAIN):
            self.ctx.enter(Phase.FIX)

    def pagerduty_event(self, event: PagerDutyEvent) -> None:
        """A verified PagerDuty webhook: an acknowledgement there counts here (§4.1)."""
        s = self.ctx.s
        if event.event_id in s.pagerduty_events:
            return
        s.pagerduty_events.append(event.event_id)
        if s.refusals is not None:  # PagerDuty retries within hours: the latest ids are enough
            s.pagerduty_events = s.pagerduty_events[-PAGERDUTY_EVENTS_KEPT:]
        who = event.agent_email or self._roster_email(event.agent) or event.agent or "someone"
        if event.event_type == "incident.acknowledged":
            self.acknowledged(who, via=" in PagerDuty")
        elif event.event_type == "incident.resolved":
            self.ctx.note(
                "pagerduty", f"PagerDuty incident resolved by {who}; this incident stays open until `resolve`"
            )
        else:
            self.ctx.note("pagerduty", f"PagerDuty {event.event_type} by {who}")

    # --- the clocks of §4 and §5.2 -------------------------------------------------------------

    def retime_cadence(self) -> None:
        """§5.2: the next update is due one cadence after the last communication (the opening
        message counts); a severity change re-times it."""
        s, now = self.ctx.s, workflow.now()
        s.cadence = s.cadence or Cadence(last_update_at=now)
        s.cadence.next_due = next_update_due(
            self.ctx.policy, s.decision.severity, s.cadence.last_update_at, now
        )

    def next_clock(self) -> datetime | None:
        """The earliest moment a clock of the live incident needs looking at."""
        s, policy = self.ctx.s, self.ctx.policy
        if s.resolution:
            return None
        moments = []
        if not s.acknowledged_by and not s.escalated_unacknowledged:
            moments.append(self._escalation_due())
        if s.phase in WINDOWED and s.phase not in s.windows_nudged and s.phase is not Phase.DETECTION:
            moments.append(phase_deadline(policy, s.started_at, s.phase))
        if s.cadence and s.cadence.next_due:
            moments.append(s.cadence.next_due)
        return min((m for m in moments if m), default=None)

    def check(self, now: datetime) -> None:
        if self.ctx.s.resolution:
            return
        self._escalate_unacknowledged(now)
        self._nudge_window(now)
        self._nudge_update(now)

    def _escalate_unacknowledged(self, now: datetime) -> None:
        s, policy = self.ctx.s, self.ctx.policy
        if s.acknowledged_by or s.escalated_unacknowledged or now < self._escalation_due():
            return
        s.escalated_unacknowledged = True
        if Phase.DETECTION not in s.windows_nudged:
            s.windows_nudged.append(Phase.DETECTION)
        roles = escalate_unacknowledged(s.decision.severity, self.ctx.engaged, self.paging.paged_roles())
        self.ctx.note(
            "escalated",
            "no acknowledgement within the detection window: paging "
            + (", ".join(r.title for r in roles) or "nobody new"),
        )
        self.paging.page(roles)
        self.bridge.look_up_on_call("the escalation page")
        self.bridge.post(
            templates.unacknowledged(
                paged=[r.title for r in roles], minutes=minutes(policy.phase_windows.DETECTION)
            ),
            "unacknowledged",
        )

    def _nudge_window(self, now: datetime) -> None:
        s, policy = self.ctx.s, self.ctx.policy
        if (
            s.phase not in WINDOWED
            or s.phase is Phase.DETECTION
            or s.phase in s.windows_nudged
            or now < phase_deadline(policy, s.started_at, s.phase)
        ):
            return
        s.windows_nudged.append(s.phase)
        window = minutes(getattr(policy.phase_windows, s.phase.value))
        self.ctx.note("window", f"{s.phase} window ({window} min) passed")
        self.bridge.post(
            templates.window_passed(
                ic=self.ctx.person(Role.incident_commander), phase=s.phase.value, window_minutes=window
            ),
            "window",
        )

    def _nudge_update(self, now: datetime) -> None:
        s = self.ctx.s
        if not (s.cadence and s.cadence.next_due and now >= s.cadence.next_due):
            return
        every = cadence(self.ctx.policy, s.decision.severity)
        s.cadence.overdue_updates += 1
        metrics.update_overdue(s.decision.severity)
        s.cadence.next_due = now + every if every else None
        self.ctx.note("update-overdue", f"update overdue (#{s.cadence.overdue_updates})")
        self.bridge.post(
            templates.update_overdue(
                ic=self.ctx.person(Role.incident_commander),
                severity=s.decision.severity.value,
                every_minutes=minutes(every) if every else 0,
                last_at=s.cadence.last_update_at,
            ),
            "update-overdue",
        )

    # --- helpers ----------------------------------------------------------------------------------

    def _escalation_due(self) -> datetime:
        """From the page (plan/lifecycle.py escalation_due, which says why): the first page goes
        out as the incident hears of the problem. Before `v1.1`, from the start, which
        was then the receipt too."""
        s = self.ctx.s
        if s.received_at is None:
            return phase_deadline(self.ctx.policy, s.started_at, Phase.DETECTION)
        return escalation_due(self.ctx.policy, s.received_at)

    def decide(self, decision: SeverityDecision) -> None:
        self.ctx.s.decision = decision
        self.ctx.note("severity", f"{decision.severity}: " + "; ".join(decision.reasons))
        self.ctx.publish()

    def _mention(self, role: Role) -> str:
        person = self.ctx.person(role)
        return templates.mention(person) if person else "nobody"

    def _roster_email(self, name: str | None) -> str | None:
        """The email of the roster's person, or PagerDuty's on-call holder, with this name."""
        people = [*self.ctx.policy.roster.values(), *self.ctx.s.on_call.values()]
        return next(
            (p.email for p in people if name and p.name and p.email and p.name.lower() == name.lower()),
            None,
        )
