"""The scripts the policy's executors run: each one is in the repository, and rollback.sh does what
§4.3 option 2 says, a drill changes nothing, and a machine without kubectl gets a clear refusal."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from plan import load_policy

ROOT = Path(__file__).resolve().parent.parent
BASH = shutil.which("bash")


def rollback(*args: str, path: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("IRP_DRILL", "IRP_K8S_NAMESPACE")}
    return subprocess.run(
        [BASH, "scripts/rollback.sh", *args],
        cwd=ROOT,
        env={**base, "PATH": path, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def fake_kubectl(tmp_path: Path) -> str:
    """A kubectl that only says how it was called."""
    (tmp_path / "kubectl").write_text('#!/bin/sh\necho "kubectl $*"\n')
    (tmp_path / "kubectl").chmod(0o755)
    return str(tmp_path)


def test_every_script_an_executor_names_is_in_the_repository():
    named = [
        arg
        for action in load_policy().actions.values()
        if action.executor
        for arg in action.executor.command
        if arg.startswith("scripts/")
    ]
    assert "scripts/rollback.sh" in named
    assert [s for s in named if not (ROOT / s).is_file()] == []


def test_rollback_undoes_the_deployment_and_waits_for_it(tmp_path):
    done = rollback("backend", path=fake_kubectl(tmp_path), IRP_K8S_NAMESPACE="preskool-staging")
    assert done.returncode == 0, done.stderr
    assert "kubectl rollout undo deployment/backend -n preskool-staging" in done.stdout
    assert "kubectl rollout status deployment/backend -n preskool-staging --timeout=10m" in done.stdout


def test_a_drill_only_says_what_would_run(tmp_path):
    done = rollback("backend", path=fake_kubectl(tmp_path), IRP_DRILL="1")
    assert done.returncode == 0
    assert done.stdout.startswith("DRILL (IRP_DRILL=1), nothing runs: kubectl rollout undo deployment/")
    assert "\nkubectl " not in done.stdout  # the fake was never called


def test_without_kubectl_nothing_is_rolled_back_and_it_says_why(tmp_path):
    done = rollback("backend", path=str(tmp_path))
    assert done.returncode == 127
    assert "kubectl is not installed" in done.stderr and "nothing was rolled back" in done.stderr


def test_a_target_that_is_not_one_kubernetes_name_is_refused(tmp_path):
    for target in ("-n", "Backend", "a b", ""):
        done = rollback(target, path=fake_kubectl(tmp_path))
        assert done.returncode == 2 and "usage" in done.stderr, target
