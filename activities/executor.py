"""Running an approved action's command (§4.3): once, with its output and exit code recorded."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity

OUTPUT_LIMIT = 4000


class RunAction(BaseModel):
    incident_id: str
    request_id: str
    command: list[str]
    timeout: timedelta


class ActionResult(BaseModel):
    exit_code: int | None
    output: str


class ExecutorActivities:
    """The workflow runs this with one attempt: an action like a rollback must never run twice,
    so a crash mid-run is reported as an unknown outcome for a person to check."""

    @activity.defn
    async def run_action(self, request: RunAction) -> ActionResult:
        try:
            proc = await asyncio.create_subprocess_exec(
                *request.command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        except OSError as e:
            return ActionResult(exit_code=None, output=f"could not start {request.command[0]}: {e.strerror}")
        try:
            output = await self._collect(proc, request.timeout.total_seconds())
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            return ActionResult(exit_code=None, output=f"killed after {request.timeout}: no result")
        return ActionResult(exit_code=proc.returncode, output=_tail(output))

    @staticmethod
    async def _collect(proc: asyncio.subprocess.Process, timeout: float) -> bytes:
        async def read() -> bytes:
            chunks = []
            while chunk := await proc.stdout.read(65536):
                chunks.append(chunk)
                activity.heartbeat()
            await proc.wait()
            return b"".join(chunks)

        return await asyncio.wait_for(read(), timeout)


def _tail(output: bytes) -> str:
    text = output.decode("utf-8", "replace")
    return text if len(text) <= OUTPUT_LIMIT else "…" + text[-OUTPUT_LIMIT:]
