"""A drill changes nothing: the policy in force, with every executor only echoing what it would run.

`make demo` and `make up` with the sandbox give their worker this policy (IRP_POLICY_FILE), so an
approved rollback in a drill prints `DRILL, nothing runs: bash scripts/rollback.sh backend` in the
bridge instead of touching a cluster. The file is the policy's own YAML with only the executors
changed: its `${VAR}` references stay references, so no secret is written out."""

from __future__ import annotations

from pathlib import Path

import yaml

from plan.policy import load_policy, policy_path

DRILL_PREFIX = ["echo", "DRILL, nothing runs:"]


def drill_policy(path: Path, source: Path | None = None) -> Path:
    """Write the drill version of `source` (default: IRP_POLICY_FILE or the shipped policy) to `path`."""
    source = source or policy_path()
    load_policy(source)  # a bad policy fails here, with its own message, not in the worker
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    for action in (raw.get("actions") or {}).values():
        executor = action.get("executor")
        if executor and executor.get("command", [])[:2] != DRILL_PREFIX:
            executor["command"] = [*DRILL_PREFIX, *executor["command"]]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
