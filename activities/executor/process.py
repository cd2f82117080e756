"""Approved actions as local processes: argv through asyncio's subprocess exec, never a shell, so
a target or parameter is one argument whatever it contains."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta

from activities.executor import ActionResult
from activities.settings import SharedSettings
from plan.models import Person

OUTPUT_LIMIT = 4000  # characters of output kept, the last ones


class ProcessExecutor:
    """Runs the command on the worker's machine, stdout and stderr together."""

    name = "process"
    enabled_by = ()  # always on
    Settings = SharedSettings  # nothing of its own to configure

    @classmethod
    def from_settings(cls, settings: SharedSettings, people: tuple[Person, ...] = ()) -> ProcessExecutor:
        """Always available."""
        return cls()

    async def run(self, command: list[str], timeout: timedelta, alive: Callable[[], None]) -> ActionResult:
        """Exit code and the output's tail; exit code None when it could not start or was killed."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
            )
        except OSError as e:
            return ActionResult(exit_code=None, output=f"could not start {command[0]}: {e.strerror}")
        try:
            output = await asyncio.wait_for(_collect(proc, alive), timeout.total_seconds())
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            return ActionResult(exit_code=None, output=f"killed after {timeout}: no result")
        return ActionResult(exit_code=proc.returncode, output=_tail(output))


async def _collect(proc: asyncio.subprocess.Process, alive: Callable[[], None]) -> bytes:
    chunks = []
    while chunk := await proc.stdout.read(65536):
        chunks.append(chunk)
        alive()
    await proc.wait()
    return b"".join(chunks)


def _tail(output: bytes) -> str:
    text = output.decode("utf-8", "replace")
    return text if len(text) <= OUTPUT_LIMIT else "…" + text[-OUTPUT_LIMIT:]
