"""Determinism: every recorded history replays on today's workflow code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from workflows.incident import IncidentWorkflow
from worker import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*/*.json"))


def test_there_are_histories_to_replay():
    eras = {path.parent.name for path in HISTORIES}
    assert {"v1-skeleton", "v2-lifecycle", "v3-lanes"} <= eras and len(HISTORIES) >= 10


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: f"{p.parent.name}/{p.stem}")
async def test_history_replays(path):
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    await Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter).replay_workflow(history)


async def test_replay_catches_a_non_deterministic_change():
    """The check can fail: the same history against a workflow that pages nobody must not replay."""
    history = WorkflowHistory.from_json("x", json.loads(HISTORIES[0].read_text()))
    original = IncidentWorkflow._page

    async def page_nobody(self, roles):
        return None

    IncidentWorkflow._page = page_nobody
    try:
        with pytest.raises(Exception, match="[Nn]ondetermin"):
            await Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter,
                           workflow_runner=UnsandboxedWorkflowRunner()).replay_workflow(history)
    finally:
        IncidentWorkflow._page = original
