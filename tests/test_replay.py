"""Determinism: every recorded history replays on today's workflow code."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from connection.temporal import replay_runner
from worker import WORKFLOWS
from workflows.paging import Paging

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*/*.json"))


BASELINE = "v1.0"
# The first recorded code of a workflow type added after v1.0 is that type's baseline: unpatched.
NEW_TYPE_BASELINES = {"heartbeat-v1.0"}


def test_there_are_histories_to_replay():
    eras = {path.parent.name for path in HISTORIES}
    assert BASELINE in eras and len([p for p in HISTORIES if p.parent.name == BASELINE]) >= 7


def patches(path: Path) -> set[str]:
    """The workflow.patched ids a history recorded (marker details are base64 JSON payloads)."""
    found = set()
    for event in json.loads(path.read_text())["events"]:
        details = event.get("markerRecordedEventAttributes", {}).get("details", {})
        for p in details.get("patch-data", {}).get("payloads", []):
            found.add(json.loads(base64.b64decode(p["data"])).get("id"))
    return found


def test_the_baseline_holds_no_patches_and_later_eras_hold_theirs():
    """v1.0 is the code of the first release, unpatched; every era after it exists to pin a
    patched path, so its histories must record that patch."""
    for path in HISTORIES:
        if path.parent.name == BASELINE or path.parent.name in NEW_TYPE_BASELINES:
            assert not patches(path), path
        else:
            assert patches(path), f"{path}: an era after {BASELINE} that records no workflow.patched id"


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: f"{p.parent.name}/{p.stem}")
async def test_history_replays(path):
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    await Replayer(
        workflows=WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=replay_runner()
    ).replay_workflow(history)


async def test_replay_catches_a_non_deterministic_change():
    """The check can fail: the same history against a workflow that pages nobody must not replay."""
    first = next(p for p in HISTORIES if p.parent.name == BASELINE)
    history = WorkflowHistory.from_json("x", json.loads(first.read_text()))
    original = Paging._page

    async def page_nobody(self, roles):
        return None

    Paging._page = page_nobody
    try:
        with pytest.raises(Exception, match="[Nn]ondetermin"):
            await Replayer(
                workflows=WORKFLOWS,
                data_converter=pydantic_data_converter,
                workflow_runner=UnsandboxedWorkflowRunner(),
            ).replay_workflow(history)
    finally:
        Paging._page = original
