"""Determinism: every recorded history replays on today's workflow code."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from connection.temporal import replay_runner
from worker import WORKFLOWS
from workflows import effects, paging, status
from workflows.outside import Watch
from workflows.router import Router

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*/*.json"))


# v2.0 is the baseline: the deciders and the router (issue 22), shipped as a new build. Incidents
# begun under v1.x stay pinned to their build (Worker Deployments, docs/operating.md), so no v1.x
# history can meet this code; only what moves at a continue-as-new does (tests/test_moves.py).
BASELINE = "v2.0"
# Later eras: changes that would alter a running v2.0 incident's commands, each behind its
# workflow.patched id; a history of the era records the new path (tests/histories/record.py).
ERAS = {
    "v2.1": {
        "keys-looked-up",
        "invite-each",
        "shift-end",
        "private-memo",
        "email-each-address",
        "roles-anyone",
        "heartbeat-retire",
        "ticket-failed",
        "picture-in-bridge",
    }
}


def test_there_are_histories_to_replay():
    eras = {path.parent.name for path in HISTORIES}
    assert eras == {BASELINE, *ERAS} and sum(p.parent.name == BASELINE for p in HISTORIES) >= 14


def test_every_patch_of_a_later_era_has_its_path_recorded():
    """Each patch id a later era introduced is in at least one of its histories, and no history
    records a patch nobody declared here."""
    for era, ids in ERAS.items():
        recorded = set().union(*(patches(p) for p in HISTORIES if p.parent.name == era))
        assert recorded == ids, era


def patches(path: Path) -> set[str]:
    """The workflow.patched ids a history recorded (marker details are base64 JSON payloads)."""
    found = set()
    for event in json.loads(path.read_text())["events"]:
        details = event.get("markerRecordedEventAttributes", {}).get("details", {})
        for p in details.get("patch-data", {}).get("payloads", []):
            found.add(json.loads(base64.b64decode(p["data"])).get("id"))
    return found


def test_the_baseline_holds_no_patches():
    """v2.0 is a new build with no workflow.patched branches: a later change that must meet a
    running v2.0 incident adds its patch and a new era folder beside this one."""
    for path in HISTORIES:
        if path.parent.name == BASELINE:
            assert not patches(path), path


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: f"{p.parent.name}/{p.stem}")
async def test_history_replays(path):
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    await Replayer(
        workflows=WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=replay_runner()
    ).replay_workflow(history)


async def test_replay_catches_a_non_deterministic_change():
    """The check can fail: the same history against a workflow that pages nobody must not replay."""
    first = next(p for p in HISTORIES if p.stem == "p1_acknowledged")
    history = WorkflowHistory.from_json("x", json.loads(first.read_text()))
    original = paging.page

    async def page_nobody(r, roles):
        return None

    paging.page = page_nobody
    try:
        await fails_to_replay(history)
    finally:
        paging.page = original


async def test_replay_catches_a_change_in_how_a_slow_step_is_watched():
    """A subtle change fails too: a step the incident's clock watched (p0_status_page_down) given
    its own timer instead."""
    path = next(p for p in HISTORIES if p.stem == "p0_status_page_down")
    history = WorkflowHistory.from_json("x", json.loads(path.read_text()))
    original = Watch.covers
    Watch.covers = lambda self, slow_at: False
    try:
        await fails_to_replay(history)
    finally:
        Watch.covers = original


async def test_replay_catches_issue_23s_roles_without_their_patch():
    """A v2.0 incident that gave a role to someone in no roster (refused then) and to a person of the
    roster (no checklist then) must not replay with `roles-anyone` taken as on: the patch matters."""
    path = next(p for p in HISTORIES if p.stem == "p1_roles_before")
    history = WorkflowHistory.from_json("x", json.loads(path.read_text()))
    original = Router.given
    Router.given = lambda self: dataclasses.replace(original(self), patched=lambda _change: True)
    try:
        await fails_to_replay(history)
    finally:
        Router.given = original


async def test_replay_catches_the_bridge_picture_without_its_patch():
    """A v2.0 incident closed out before issue 24's picture in the bridge (p1_lifecycle_resolved)
    must not replay with the picture shared regardless of `picture-in-bridge`: the patch matters."""
    from plan.picture import picture

    path = next(p for p in HISTORIES if p.stem == "p1_lifecycle_resolved")
    history = WorkflowHistory.from_json("x", json.loads(path.read_text()))
    original = effects._bridge_picture
    effects._bridge_picture = lambda r: picture(status.of(r), r.now())
    try:
        await fails_to_replay(history)
    finally:
        effects._bridge_picture = original


async def fails_to_replay(history: WorkflowHistory) -> None:
    """Replayed unsandboxed (so a patched module is the code that runs): non-determinism."""
    with pytest.raises(Exception, match="[Nn]ondetermin"):
        await Replayer(
            workflows=WORKFLOWS,
            data_converter=pydantic_data_converter,
            workflow_runner=UnsandboxedWorkflowRunner(),
        ).replay_workflow(history)
