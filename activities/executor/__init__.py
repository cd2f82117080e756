"""The executor port (§4.3): running an approved action's command once, with its output and exit
code recorded. Providers: executor/process.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from pydantic import BaseModel
from temporalio import activity


class RunAction(BaseModel):
    """The approved command, as argv (never a shell line), and how long it may take."""

    incident_id: str
    request_id: str
    command: list[str]
    timeout: timedelta


class ActionResult(BaseModel):
    """The exit code (None: it did not start, was killed, or did not run) and the output's tail."""

    exit_code: int | None
    output: str


class Executor(Protocol):
    """Runs one command. Never raises for the command's own failure: that is its result."""

    name: str

    async def run(self, command: list[str], timeout: timedelta, alive: Callable[[], None]) -> ActionResult:
        """Run `command` (argv) once; after `timeout` stop it and say so. `alive` is called while
        output comes, so Temporal knows the run is still going."""
        ...


class ExecutorActivities:
    """The workflow runs this with one attempt: an action like a rollback must never run twice,
    so a crash mid-run is reported as an unknown outcome for a person to check. `executor` None
    (or `missing`) means commands are not run here."""

    def __init__(self, executor: Executor | None, *, missing: str = "executor"):
        self.executor, self.missing = executor, missing

    @activity.defn
    async def run_action(self, request: RunAction) -> ActionResult:
        """Run the approved command once; its result, whatever the exit code."""
        if self.executor is None:
            return ActionResult(exit_code=None, output=f"skipped: {self.missing} not configured")
        return await self.executor.run(request.command, request.timeout, activity.heartbeat)
