"""Stopping processes by pid, only ever the ones we started. Each child of the stack leads its own
session, so stopping its process group stops whatever it started too; a pid read back from a file
counts only while its command line is still the one recorded (pids are reused)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path


def command_of(pid: int) -> str | None:
    """The process's command line, or None when it is gone or a zombie."""
    if Path("/proc/self").exists():
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        return raw.replace(b"\0", b" ").decode(errors="replace").strip() or None  # a zombie has none
    ps = subprocess.run(["ps", "-o", "stat=,args=", "-p", str(pid)], capture_output=True, text=True)
    stat, _, args = ps.stdout.strip().partition(" ")
    return None if ps.returncode or stat.startswith("Z") else args.strip() or None


def gone(pid: int, marker: str) -> bool:
    """True unless `pid` runs and its command line contains `marker`."""
    command = command_of(pid)
    return command is None or marker not in command


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group `pgid`."""
    ps = subprocess.run(["ps", "-A", "-o", "pid=,pgid=,stat="], capture_output=True, text=True)
    members = []
    for line in ps.stdout.splitlines():
        pid, group, stat = line.split()[:3]
        if int(group) == pgid and not stat.startswith("Z"):
            members.append(int(pid))
    return members


def group_gone(pgid: int, args: list[str] | None = None) -> bool:
    """True when nothing of the group led by `pgid` runs. With `args`, a live leader counts only
    if it still runs that command (else its pid was reused by something that is not ours)."""
    members = group_members(pgid)
    if args is not None and pgid in members and command_of(pgid) != " ".join(args):
        return True
    return not members


def stop_group(child: subprocess.Popen | int, args: list[str] | None = None, timeout: float = 10.0) -> None:
    """SIGTERM to the child's process group, SIGKILL to what is left after `timeout`; a Popen child
    is reaped. With a bare pid, `args` guards against a reused pid as in `group_gone`."""
    pid = child.pid if isinstance(child, subprocess.Popen) else child

    def done() -> bool:
        if isinstance(child, subprocess.Popen):
            child.poll()
        return group_gone(pid, args)

    deadline = time.monotonic() + timeout
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if done():
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        while not done() and time.monotonic() < deadline:
            time.sleep(0.05)
        deadline = time.monotonic() + timeout
    if isinstance(child, subprocess.Popen):
        child.wait()
