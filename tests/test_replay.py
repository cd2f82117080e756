"""Determinism: every recorded history replays on today's workflow code."""

from __future__ import annotations

import base64
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
    assert {"v1-skeleton", "v2-lifecycle", "v3-lanes", "v4-kept-clock"} <= eras and len(HISTORIES) >= 15


def patches(path: Path) -> set[str]:
    """The workflow.patched ids a history recorded (marker details are base64 JSON payloads)."""
    found = set()
    for event in json.loads(path.read_text())["events"]:
        for payloads in event.get("markerRecordedEventAttributes", {}).get("details", {}).values():
            for p in payloads.get("payloads", []):
                found.add(json.loads(base64.b64decode(p["data"])).get("id"))
    return found


def test_each_era_pins_the_code_path_it_was_recorded_on():
    """Old eras keep proving the old paths replay; the newest proves the patched one does."""
    for path in HISTORIES:
        if path.parent.name == "v3-lanes":
            assert "lanes" in patches(path) and "kept-clock" not in patches(path), path
        if path.parent.name == "v4-kept-clock":
            assert {"lanes", "kept-clock"} <= patches(path), path


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
