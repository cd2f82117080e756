"""When an incident moves to the current build (issue 21; docs/operating.md "Deploy a new build").

An incident is PINNED to the Worker Deployment build it started on: DETECTION → RESOLVE run to the
end on that code, whatever is deployed meanwhile. Its REVIEW (the §8 ledger, open for up to a
week) must not keep an old build alive that long, so in REVIEW the incident continues as new on
the deployment's current build as soon as Temporal says the target build changed. Temporal says
so on a workflow task, and a quiet ledger may have none for days: this clock wakes the incident
every CHECK_EVERY while in REVIEW so that it looks (incidents begun before this code do not:
`moves_in_review` in their state is false)."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from plan.models import Phase
    from workflows.context import IncidentContext

CHECK_EVERY = timedelta(hours=1)  # an old build serves a REVIEW incident at most this long after a deploy


class Upgrade:
    def __init__(self, ctx: IncidentContext) -> None:
        self.ctx = ctx
        self.looked_at: datetime | None = None  # the last wake of this clock (None: not in REVIEW yet)

    def due(self) -> bool:
        """In REVIEW, and Temporal says the deployment's target build is not this one."""
        return (
            self.ctx.s.phase is Phase.REVIEW and workflow.info().is_target_worker_deployment_version_changed()
        )

    def next_clock(self) -> datetime | None:
        if self.ctx.s.phase is not Phase.REVIEW or not self.ctx.s.moves_in_review:
            return None
        self.looked_at = self.looked_at or workflow.now()
        return self.looked_at + CHECK_EVERY

    def check(self, now: datetime) -> None:
        """The wake is the look: the run loop reads `due()` after every wake."""
        if self.looked_at is not None and now >= self.looked_at + CHECK_EVERY:
            self.looked_at = now
