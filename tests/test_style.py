"""The house rules a reader relies on: short functions where the plan and the process live."""

from __future__ import annotations

import ast
from pathlib import Path

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
