"""When an incident moves to the current build (issue 21; docs/operating.md "Deploy a new build").

An incident is PINNED to the Worker Deployment build it started on: DETECTION → RESOLVE run to the
end on that code, whatever is deployed meanwhile. Its REVIEW (the §8 ledger, open for up to a
week) must not keep an old build alive that long, so in REVIEW the incident continues as new on
the deployment's current build as soon as Temporal says the target build changed. Temporal says
so on a workflow task, and a quiet ledger may have none for days: this clock wakes the incident
every `review_build_check` of its policy (an hour) while in REVIEW so that it looks (a state
carried from an earlier build is given `moves_in_review` by plan/incident.py `carried`)."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from plan.models import Phase
    from workflows.router import Router


def build_of(info: workflow.Info) -> str:
    """The build running this workflow task ("" for an unversioned worker)."""
    version = info.get_current_deployment_version()
    return version.build_id if version else ""


class Upgrade:
    def __init__(self, router: Router) -> None:
        self.router = router
        self.looked_at: datetime | None = None  # the last wake of this clock (None: not in REVIEW yet)

    def due(self) -> bool:
        """In REVIEW (an incident of this release's code), and Temporal says the deployment's target
        build is not this one."""
        s, info = self.router.state, workflow.info()
        return (
            s.phase is Phase.REVIEW
            and s.moves_in_review
            and info.is_target_worker_deployment_version_changed()
            and (s.moved_from is None or s.moved_from != build_of(info))  # a pin holds it: try once
        )

    def moving(self) -> None:
        """Before a continue-as-new: when it is a move, remember the build it starts from. A new run
        still on that build was kept there by a pinned override (docs/operating.md "Roll back")
        and must not move again and again; one on another build has moved (`arrived`)."""
        if self.due():
            self.router.state.moved_from = build_of(workflow.info())

    def arrived(self) -> None:
        """At a run's start: a move that reached another build is done."""
        s = self.router.state
        if s.moved_from is not None and s.moved_from != build_of(workflow.info()):
            s.moved_from = None

    def next_clock(self) -> datetime | None:
        if self.router.state.phase is not Phase.REVIEW or not self.router.state.moves_in_review:
            return None
        self.looked_at = self.looked_at or self.router.now()
        return self.looked_at + self.router.policy.review_build_check

    def check(self, now: datetime) -> None:
        """The wake is the look: the run loop reads `due()` after every wake."""
        if self.looked_at is not None and now >= self.looked_at + self.router.policy.review_build_check:
            self.looked_at = now
