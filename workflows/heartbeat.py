"""The dead man's switch: one long-running heartbeat per alerting pipeline, whichever Alertmanager
peer sends its beats (README "The dead man's switch"). Each delivery of the always-firing
`Watchdog` re-arms a durable timer; when the policy's window passes with none, the on-call primary
is paged and the alerts channel hears that the alerting pipeline has gone silent. The next
delivery ends the alarm, resolves the page and says so. It continues as new every few hundred
beats, carrying absolute times, so it runs for months; each run pins the worker's policy as it
starts. A heartbeat whose pipeline is gone for good is retired by a person (`irp heartbeat
retire`), never by its own silence: a long silence is the outage it exists to page about."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.chat import BridgeActivities, ChannelPost
    from activities.paging import PageRequest, PagingActivities, ResolvePage
    from activities.policy import PolicyActivities
    from plan import Policy
    from plan.heartbeat import (
        KEEP_ENDED,
        Beat,
        BeatReceipt,
        HeartbeatInput,
        HeartbeatState,
        HeartbeatStatus,
        Retirement,
        Silence,
        back_text,
        deadline,
        page_key,
        page_summary,
        record_beat,
        retired_text,
        silence_text,
        silent,
    )
    from plan.person_input import too_large
    from workflows.outside import OUTSIDE, PAGING, failure
    from workflows.upgrade import build_of

PIN_POLICY = timedelta(seconds=30)


@workflow.defn  # PINNED (connection/deployment.py); each new run starts on the current build
class HeartbeatWorkflow:
    @workflow.init
    def __init__(self, input: HeartbeatInput) -> None:
        self.id, self.alertmanager = input.heartbeat_id, input.alertmanager
        self.s = input.state or HeartbeatState(started_at=workflow.now())
        if input.state:
            self.s.runs += 1
            self.s.beats_this_run = 0
        self.policy: Policy | None = input.policy
        self.beats_per_run = input.beats_per_run
        self.pipeline = input.pipeline
        self.retiring: Retirement | None = None

    @workflow.run
    async def run(self, input: HeartbeatInput) -> None:
        if self.s.moved_from is not None and self.s.moved_from != build_of(workflow.info()):
            self.s.moved_from = None  # its move reached another build
        # The policy this run works by: the worker's, read once and kept in history.
        self.policy = self.policy or await workflow.execute_local_activity_method(
            PolicyActivities.current_policy, start_to_close_timeout=PIN_POLICY
        )
        if self.s.alert_name and self.s.alert_name != self.policy.heartbeat.alert_name:
            workflow.logger.warning("heartbeat %s: %s", self.id, self._warning())
        while True:
            if self.retiring is not None and workflow.patched("heartbeat-retire"):
                return await self._retire()
            if self._time_to_continue():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self.retiring is not None:
                    continue  # retired meanwhile: end here, do not carry it on
                if self._moving():  # a pinned override that keeps it here is tried once
                    self.s.moved_from = build_of(workflow.info())
                workflow.continue_as_new(
                    HeartbeatInput(
                        heartbeat_id=self.id,
                        alertmanager=self.alertmanager,
                        state=self.s,  # the next run pins the worker's policy then in force
                        beats_per_run=self.beats_per_run,
                        pipeline=self.pipeline,
                    ),
                    # Months long: each new run starts on the deployment's current build.
                    initial_versioning_behavior=workflow.ContinueAsNewVersioningBehavior.AUTO_UPGRADE,
                )
            if self.s.alarm is None:
                # Armed: a beat before the deadline re-arms it; none, and the pipeline is silent.
                if not await self._beat_before_deadline() and self.retiring is None:
                    await self._sound_alarm()
            elif await self._next_beat():
                await self._end_alarm()

    @workflow.update(description="A delivery of the heartbeat alert (sent by the receiver).")
    def beat(self, beat: Beat) -> BeatReceipt:
        record_beat(self.s, beat.alertmanager, beat.alert_name, workflow.now())
        return BeatReceipt(heartbeat_id=self.id, beats=self.s.beats, ended_silence=self.s.alarm is not None)

    @beat.validator
    def _from_this_pipeline(self, beat: Beat) -> None:
        """Any peer's beat for this pipeline; a v2.0 heartbeat (no pipeline) takes only its URL's."""
        if why := too_large(beat):
            raise ApplicationError(why, type="Refused")
        if self.retiring is not None:
            raise ApplicationError(f"{self.id} is retired", type="Retired")
        if self.pipeline is not None and beat.pipeline != self.pipeline:  # both as intake kept them
            raise ApplicationError(f"{self.id} watches the pipeline {self.pipeline}", type="Refused")
        if self.pipeline is None and beat.alertmanager != self.alertmanager:
            raise ApplicationError(
                f"{self.id} watches Alertmanager {self.alertmanager!r}, not {beat.alertmanager!r}",
                type="Refused",
            )

    @workflow.update(description="Retire this heartbeat for good: its pipeline is gone (by, reason).")
    def retire(self, retirement: Retirement) -> HeartbeatStatus:
        self.retiring = retirement
        return self.status()

    @retire.validator
    def _retirable(self, retirement: Retirement) -> None:
        if why := too_large(retirement):
            raise ApplicationError(why, type="Refused")
        if not retirement.by.strip() or not retirement.reason.strip():
            raise ApplicationError("say who retires the heartbeat and why (by, reason)", type="Refused")
        if self.retiring is not None:
            raise ApplicationError(f"{self.id} is already retired", type="Retired")

    @workflow.query(description="Its Alertmanager, window, last beat and any alarm.")
    def status(self) -> HeartbeatStatus:
        rule = self.policy.heartbeat if self.policy else None
        return HeartbeatStatus(
            heartbeat_id=self.id,
            alertmanager=self.alertmanager,
            alert_name=rule.alert_name if rule else None,
            window=rule.window if rule else None,
            state=self.s,
            warning=self._warning(),
            pipeline=self.pipeline,
        )

    # --- waiting -------------------------------------------------------------------------------

    def _time_to_continue(self) -> bool:
        info = workflow.info()
        return (
            self.s.beats_this_run >= self.beats_per_run
            or info.is_continue_as_new_suggested()
            or self._moving()
        )

    def _moving(self) -> bool:
        """A newer build is current, and this one is not where a move already failed to leave."""
        info = workflow.info()
        return info.is_target_worker_deployment_version_changed() and self.s.moved_from != build_of(info)

    async def _beat_before_deadline(self) -> bool:
        """False once the window has run out with no beat; True on a beat (the timer re-arms)."""
        window = self.policy.heartbeat.window
        seen = self.s.beats
        if not silent(self.s, window, workflow.now()):
            try:
                await workflow.wait_condition(
                    lambda: self.s.beats != seen or self._time_to_continue() or self.retiring is not None,
                    timeout=deadline(self.s, window) - workflow.now(),
                    timeout_summary="heartbeat window",
                )
            except TimeoutError:
                pass
        return not silent(self.s, window, workflow.now())

    async def _next_beat(self) -> bool:
        """True once a beat came after the silence began (also one that came while the alarm was
        being sounded); False to continue as new first."""
        s = self.s

        def back() -> bool:
            return (s.last_beat or s.started_at) > s.alarm.since

        await workflow.wait_condition(lambda: back() or self._time_to_continue() or self.retiring is not None)
        return back()

    # --- the alarm -----------------------------------------------------------------------------

    async def _sound_alarm(self) -> None:
        """Page the on-call primary (one dedup key per alarm) and tell the alerts channel."""
        s, rule = self.s, self.policy.heartbeat
        s.silences += 1
        s.alarm = alarm = Silence(
            number=s.silences, since=s.last_beat or s.started_at, noticed_at=workflow.now(), role=rule.page
        )
        person, senders, last = self.policy.person(rule.page), self._senders(), self._last_sender()
        request = PageRequest(
            incident_id=self.id,
            role=rule.page,
            dedup_key=page_key(self.id, alarm.number),
            severity=rule.severity,
            summary=page_summary(senders, rule.alert_name, alarm),
            source=last or "alertmanager",
            details={"alertmanager": senders, "silent_since": alarm.since.isoformat()},
            links={"Alertmanager": last} if last.startswith("http") else {},
        )
        text = silence_text(senders, rule.alert_name, alarm, person)
        paged, _ = await asyncio.gather(
            self._step(PagingActivities.page_role, request, PAGING),
            self._post(f"silent-{alarm.number}", text),
        )
        alarm.paged = paged is not None and paged.outcome == "paged"
        alarm.detail = paged.detail if paged else alarm.detail
        workflow.logger.warning("heartbeat %s: silent since %s", self.id, alarm.since)

    async def _end_alarm(self) -> None:
        """The pipeline is back: resolve the page, say so, and arm again."""
        s, rule = self.s, self.policy.heartbeat
        alarm = s.alarm
        alarm.ended_at = s.last_beat
        steps = [self._post(f"back-{alarm.number}", back_text(self._senders(), rule.alert_name, alarm))]
        if alarm.paged:
            resolve = ResolvePage(role=alarm.role, dedup_key=page_key(self.id, alarm.number))
            steps.append(self._step(PagingActivities.resolve_page, resolve, OUTSIDE))
        await asyncio.gather(*steps)
        s.ended = [*s.ended, alarm][-KEEP_ENDED:]
        s.alarm = None

    async def _retire(self) -> None:
        """Ended for good: the open page (if any) is resolved, the alerts channel told once."""
        s, alarm = self.s, self.s.alarm
        s.retired = self.retiring
        text = retired_text(self.id, self.pipeline, s.retired, alarm is not None)
        steps = [self._post("retired", text)]
        if alarm is not None and alarm.paged:
            resolve = ResolvePage(role=alarm.role, dedup_key=page_key(self.id, alarm.number))
            steps.append(self._step(PagingActivities.resolve_page, resolve, OUTSIDE))
        await asyncio.gather(*steps)
        if alarm is not None:
            alarm.ended_at = workflow.now()
            s.ended, s.alarm = [*s.ended, alarm][-KEEP_ENDED:], None
        workflow.logger.warning("heartbeat %s retired: %s", self.id, s.retired.reason)

    async def _post(self, key: str, text: str):
        post = ChannelPost(incident_id=self.id, channel=self.policy.alerts_channel, key=key, text=text)
        return await self._step(BridgeActivities.post_to_channel, post, OUTSIDE)

    async def _step(self, activity, request, options: dict):
        """One outward step, retried with backoff; one that cannot succeed is logged, never fatal."""
        try:
            return await workflow.execute_activity_method(activity, request, **options)
        except ActivityError as e:
            if self.s.alarm is not None:
                self.s.alarm.detail = f"{activity.__name__}: {failure(e)}"
            workflow.logger.warning("heartbeat %s could not %s: %s", self.id, activity.__name__, failure(e))
            return None

    def _senders(self) -> str:
        """The peers that beat it lately, as shown (a v2.0 heartbeat's own Alertmanager)."""
        return ", ".join(self.s.senders) or self.alertmanager

    def _last_sender(self) -> str:
        return next(reversed(self.s.senders), self.alertmanager)

    def _warning(self) -> str | None:
        name = self.policy.heartbeat.alert_name if self.policy else None
        if name and self.s.alert_name and self.s.alert_name != name:
            return (
                f"the receiver sends {self.s.alert_name!r} as the heartbeat but the policy names {name!r}: "
                "set IRP_HEARTBEAT_ALERT to the policy's heartbeat.alert_name"
            )
        return None
