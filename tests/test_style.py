"""The house rules a reader relies on: short functions where the plan and the process live."""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 50  # a function that reads in one screen


def long_functions(folder: str, limit: int = MAX_LINES) -> list[str]:
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_in_the_workflow_or_the_plan_is_over_fifty_lines():
    assert not long_functions("workflows") and not long_functions("plan"), long_functions(
        "workflows"
    ) + long_functions("plan")


def test_the_length_check_can_fail():
    assert long_functions("workflows", limit=5), "every function under five lines? the check reads nothing"


def test_no_workflow_class_inherits_another_of_the_projects_classes():
    """Behaviour is composed (the workflow holds its components), never inherited."""
    ours = {
        node.name
        for path in (ROOT / "workflows").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
    }
    inherited = [
        f"{path.name}: {node.name}({ast.unparse(base)})"
        for path in (ROOT / "workflows").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        for base in node.bases
        if ast.unparse(base).split(".")[-1] in ours
    ]
    assert {"IncidentWorkflow", "HeartbeatWorkflow", "Router", "Lanes"} <= ours and not inherited, inherited


BUILD_ARTIFACTS = ("*.whl", "*.egg", "*.tar.gz", "*.pyc")  # made by builds, never sources


def build_artifacts(paths: list[str]) -> list[str]:
    """The paths among `paths` that a build makes (wheels, eggs, sdists, bytecode)."""
    return [path for path in paths if any(Path(path).match(pattern) for pattern in BUILD_ARTIFACTS)]


def tracked_files() -> list[str]:
    """Every file git tracks in this checkout (skips where the tree is not a git checkout)."""
    if not shutil.which("git") or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing tracked to check")
    done = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [name for name in done.stdout.decode().split("\0") if name]


def test_no_build_artifact_is_committed():
    """A wheel once rode in at the repository root (kustomize-0.6.0-py3-none-any.whl): none may."""
    assert not build_artifacts(tracked_files()), build_artifacts(tracked_files())


def test_the_artifact_check_can_fail():
    assert build_artifacts(["README.md", "kustomize-0.6.0-py3-none-any.whl", "dist/x-1.tar.gz"]) == [
        "kustomize-0.6.0-py3-none-any.whl",
        "dist/x-1.tar.gz",
    ]


def test_gitignore_keeps_wheels_out():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "*.whl" in ignored, "a built wheel would show as a new file to commit"
