"""A drill's clock on a running stack (issue 24): the plan's time runs `speed_up` times faster than
Temporal's, so a whole incident and its §8 week are rehearsed in minutes while people join live.

Only in drill mode: the policy's `drill_clock` section (DrillClockPolicy) is refused by a worker
not started with IRP_DRILL=1 (worker.py), so no production incident ever runs on it. The clock is
piecewise linear and continuous: at `real` (Temporal's time) the plan's time was `plan`, and since
then it has run `speed_up` plan seconds per real second. It starts at the moment the incident pins
its policy (plan = real then, so an alert's own startsAt before it needs no mapping) at the policy's
`speed_up`, and runs at `after_resolution` from the moment the incident is resolved (the §8 week).

Everything the incident decides is on the plan's time (Given.now: windows, cadence, expiries, §8
due times, the compliance card); what outsiders date stays on Temporal's (Given.wall: attestation
ages, PagerDuty's shift ends). Pure: no I/O, no clock of its own."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

MAX_SPEED_UP = 3600  # an hour of the plan per real second: §4.1's 2 minutes still last 33 ms


class DrillClock(BaseModel):
    """The incident's drill clock now: `plan` (UTC) was the plan's time at Temporal's `real` (UTC),
    and it runs `speed_up` plan seconds per real second from there."""

    model_config = ConfigDict(frozen=True)

    speed_up: int = Field(ge=1, le=MAX_SPEED_UP)
    real: datetime
    plan: datetime

    @classmethod
    def starting(cls, speed_up: int, real: datetime) -> DrillClock:
        """Started at Temporal's `real`, where the plan's time is the same."""
        return cls(speed_up=speed_up, real=real, plan=real)

    def now(self, real: datetime) -> datetime:
        """The plan's time at Temporal's `real` (not before the anchor: the clock never goes back)."""
        return self.plan + max(real - self.real, timedelta(0)) * self.speed_up

    def real_wait(self, span: timedelta) -> timedelta:
        """How long Temporal's clock takes to let `span` of the plan's time pass (0 for a past one)."""
        return max(span, timedelta(0)) / self.speed_up

    def at_speed(self, speed_up: int, real: datetime) -> DrillClock:
        """The same clock, running at `speed_up` from Temporal's `real` on (continuous there)."""
        return DrillClock(speed_up=speed_up, real=real, plan=self.now(real))


def plan_now(clock: DrillClock | None, real: datetime) -> datetime:
    """The incident's time at Temporal's `real`: the drill clock's, or `real` itself without one."""
    return clock.now(real) if clock else real


def real_wait(clock: DrillClock | None, span: timedelta) -> timedelta:
    """Temporal's time for `span` of the incident's time to pass (`span` itself without a drill clock)."""
    return clock.real_wait(span) if clock else span


def plan_span(clock: DrillClock | None, real_span: timedelta) -> timedelta:
    """How much of the incident's time passes in `real_span` of Temporal's."""
    return real_span * clock.speed_up if clock else real_span
