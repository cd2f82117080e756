"""A drill changes nothing: the policy in force, with every executor only echoing what it would run.

`make demo` and `make up` with the sandbox give their worker this policy (IRP_POLICY_FILE), so an
approved rollback in a drill prints `DRILL, nothing runs: bash scripts/rollback.sh backend` in the
bridge instead of touching a cluster. The file is the policy's own YAML with only the executors
changed: its `${VAR}` references stay references, so no secret is written out."""

from __future__ import annotations

from pathlib import Path

import yaml

from plan.drill_clock import MAX_SPEED_UP
from plan.policy import load_policy, policy_path

DRILL_PREFIX = ["echo", "DRILL, nothing runs:"]


def drill_policy(path: Path, source: Path | None = None, clock: tuple[int, int] | None = None) -> Path:
    """Write the drill version of `source` (default: IRP_POLICY_FILE or the shipped policy) to `path`.
    `clock`: (speed_up, after_resolution), a drill's sped-up clock (plan/drill_clock.py), for a
    worker in drill mode only."""
    source = source or policy_path()
    load_policy(source)  # a bad policy fails here, with its own message, not in the worker
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    for action in (raw.get("actions") or {}).values():
        executor = action.get("executor")
        if executor and executor.get("command", [])[:2] != DRILL_PREFIX:
            executor["command"] = [*DRILL_PREFIX, *executor["command"]]
    if clock:
        raw["drill_clock"] = {"speed_up": clock[0], "after_resolution": clock[1]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    load_policy(path)  # the speed-up in bounds, or PolicyError naming `drill_clock`
    return path


def speed_up(said: str | None) -> tuple[int, int] | None:
    """IRP_DRILL_SPEED_UP as `make up` reads it: "10" (×10 while open, ×1 after) or "10,1000" (×1000
    once resolved: the §8 week in 10 minutes); None when unset. ValueError with what it takes."""
    if not (said or "").strip():
        return None
    parts = [p.strip() for p in said.split(",")]
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (1, 2) or not all(1 <= n <= MAX_SPEED_UP for n in numbers):
        raise ValueError(
            f"IRP_DRILL_SPEED_UP={said!r}: give the speed-up while open and, optionally, after resolution, "
            f"each 1–{MAX_SPEED_UP} (e.g. 10,1000)"
        )
    return numbers[0], (numbers[1] if len(numbers) == 2 else 1)
