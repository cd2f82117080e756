"""The on-call port: who holds a role right now, from the paging service's schedules and
escalation policies (issue 16). Providers: on_call/pagerduty.py (PagerDuty's REST API v2)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel
from temporalio import activity

from plan.models import OnCallSource, Role
from plan.oncall import Look, OnCallPerson


class OnCallDirectory(Protocol):
    """A service that knows who is on call. `on_call` blocks (it runs in a thread) and raises
    with a message fit for the timeline (never a credential) when the service does not answer."""

    name: str

    def on_call(self, source: OnCallSource, at: datetime | None = None) -> OnCallPerson | None:
        """Who is on call for `source` at `at` (None: now); None when nobody is."""
        ...


class OnCallRequest(BaseModel):
    """Look up the holders of these roles: role → where the role's holder is kept; `at` the
    incident's time of the look (None: the service's now), so a look at a shift's end asks about
    that moment whatever the clocks of the worker and the service say."""

    sources: dict[Role, OnCallSource]
    at: datetime | None = None


class OnCallActivities:
    """Looks through `directory`, or None when no provider is configured (`missing` names what is
    missing in the skip note). Optional enrichment: a look never fails; a role it could not
    answer for is in `Look.failed`, and the workflow falls back to the roster's person."""

    def __init__(self, directory: OnCallDirectory | None, *, missing: str = "on-call"):
        self.directory, self.missing = directory, missing

    @activity.defn
    async def who_is_on_call(self, request: OnCallRequest) -> Look:
        """Each role looked up on its own, at the same time; one that cannot be answered does not
        hide the others."""
        if self.directory is None:
            return Look(skipped=f"{self.missing} not configured")
        roles = list(request.sources)
        answers = await asyncio.gather(
            *(asyncio.to_thread(self.directory.on_call, request.sources[r], request.at) for r in roles),
            return_exceptions=True,
        )
        look = Look()
        for role, answer in zip(roles, answers, strict=True):
            if isinstance(answer, Exception):
                look.failed[role] = f"{self.directory.name} did not answer: {_said(answer)}"
                activity.logger.warning("on-call look for %s failed: %s", role.value, _said(answer))
            elif answer is None:
                look.failed[role] = f"nobody is on call for {request.sources[role].describe()}"
            else:
                look.found[role] = answer
        return look


def _said(error: Exception) -> str:
    """The provider's own message (its errors are worded for the timeline), else the error's kind."""
    message = getattr(error, "message", None)
    return message if isinstance(message, str) and message else type(error).__name__
