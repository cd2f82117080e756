"""The dead man's switch: one long-running heartbeat per Alertmanager (README "The dead man's
switch"). Each delivery of the always-firing `Watchdog` re-arms a durable timer; when the policy's
window passes with none, the on-call primary is paged and the alerts channel hears that the
alerting pipeline has gone silent. The next delivery ends the alarm, resolves the page and says so.
It continues as new every few hundred beats, carrying absolute times, so it runs for months; each
run pins the worker's policy as it starts."""

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
        Silence,
        back_text,
        deadline,
        page_key,
        page_summary,
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
            if self._time_to_continue():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._moving():  # a pinned override that keeps it here is tried once
                    self.s.moved_from = build_of(workflow.info())
                workflow.continue_as_new(
                    HeartbeatInput(
                        heartbeat_id=self.id,
                        alertmanager=self.alertmanager,
                        state=self.s,  # the next run pins the worker's policy then in force
                        beats_per_run=self.beats_per_run,
                    ),
                    # Months long: each new run starts on the deployment's current build.
                    initial_versioning_behavior=workflow.ContinueAsNewVersioningBehavior.AUTO_UPGRADE,
                )
            if self.s.alarm is None:
                # Armed: a beat before the deadline re-arms it; none, and the pipeline is silent.
                if not await self._beat_before_deadline():
                    await self._sound_alarm()
            elif await self._next_beat():
                await self._end_alarm()

    @workflow.update(description="A delivery of the heartbeat alert (sent by the receiver).")
    def beat(self, beat: Beat) -> BeatReceipt:
        s = self.s
        s.beats += 1
        s.beats_this_run += 1
        s.last_beat = workflow.now()
        s.alert_name = beat.alert_name
        return BeatReceipt(heartbeat_id=self.id, beats=s.beats, ended_silence=s.alarm is not None)

    @beat.validator
    def _from_this_alertmanager(self, beat: Beat) -> None:
        if why := too_large(beat):
            raise ApplicationError(why, type="Refused")
        if beat.alertmanager != self.alertmanager:
            raise ApplicationError(
                f"{self.id} watches Alertmanager {self.alertmanager!r}, not {beat.alertmanager!r}",
                type="Refused",
            )

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
                    lambda: self.s.beats != seen or self._time_to_continue(),
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

        await workflow.wait_condition(lambda: back() or self._time_to_continue())
        return back()

    # --- the alarm -----------------------------------------------------------------------------

    async def _sound_alarm(self) -> None:
        """Page the on-call primary (one dedup key per alarm) and tell the alerts channel."""
        s, rule = self.s, self.policy.heartbeat
        s.silences += 1
        s.alarm = alarm = Silence(
            number=s.silences, since=s.last_beat or s.started_at, noticed_at=workflow.now(), role=rule.page
        )
        person = self.policy.person(rule.page)
        request = PageRequest(
            incident_id=self.id,
            role=rule.page,
            dedup_key=page_key(self.id, alarm.number),
            severity=rule.severity,
            summary=page_summary(self.alertmanager, rule.alert_name, alarm),
            source=self.alertmanager or "alertmanager",
            details={"alertmanager": self.alertmanager, "silent_since": alarm.since.isoformat()},
            links={"Alertmanager": self.alertmanager} if self.alertmanager.startswith("http") else {},
        )
        text = silence_text(self.alertmanager, rule.alert_name, alarm, person)
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
        steps = [self._post(f"back-{alarm.number}", back_text(self.alertmanager, rule.alert_name, alarm))]
        if alarm.paged:
            resolve = ResolvePage(role=alarm.role, dedup_key=page_key(self.id, alarm.number))
            steps.append(self._step(PagingActivities.resolve_page, resolve, OUTSIDE))
        await asyncio.gather(*steps)
        s.ended = [*s.ended, alarm][-KEEP_ENDED:]
        s.alarm = None

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

    def _warning(self) -> str | None:
        name = self.policy.heartbeat.alert_name if self.policy else None
        if name and self.s.alert_name and self.s.alert_name != name:
            return (
                f"the receiver sends {self.s.alert_name!r} as the heartbeat but the policy names {name!r}: "
                "set IRP_HEARTBEAT_ALERT to the policy's heartbeat.alert_name"
            )
        return None
