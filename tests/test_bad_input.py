"""The bad-input catalogue: each case gets a clear answer, nothing is started by mistake, and no
incident fails or sticks because of what someone sent. (More cases live beside the features:
tests/test_webhook.py, tests/test_approvals.py, tests/test_starter.py, tests/test_policy.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from plan.policy import DEFAULT_POLICY_FILE
from tests.helpers import AUTH, finish, status_when
from tests.payloads import alert, delivery
from tests.test_lifecycle import PRIMARY, kinds, open_incident

ROOT = Path(__file__).resolve().parent.parent
GOOD = json.dumps(delivery())


@pytest.mark.parametrize(
    "body, status, reason",
    [
        (GOOD[: len(GOOD) // 2].encode(), 422, "body is not valid JSON"),  # truncated
        (b"", 422, "body is not valid JSON"),
        (b"\xff\xfe not utf-8", 422, "body is not valid JSON"),
        (b"[1, 2, 3]", 422, "not a valid AlertmanagerDelivery payload"),
        (json.dumps({**delivery(), "status": 7}).encode(), 422, "status"),
        (json.dumps({**delivery(), "alerts": [{**alert(), "labels": {"x": 1}}]}).encode(), 422, "labels"),
        (
            json.dumps({**delivery(), "alerts": [{**alert(), "startsAt": "yesterday"}]}).encode(),
            422,
            "startsAt",
        ),
        (json.dumps({**delivery(), "version": "5"}).encode(), 422, "version"),
        (json.dumps({**delivery(), "groupKey": ""}).encode(), 422, "groupKey"),
        (json.dumps({**delivery(), "alerts": []}).encode(), 422, "alerts"),
    ],
)
async def test_bad_alertmanager_payloads_are_refused_and_start_nothing(
    receiver, dev_env, body, status, reason
):
    before = [w.id async for w in dev_env.client.list_workflows("WorkflowType = 'IncidentWorkflow'")]
    async with receiver("unused-queue") as http:
        answer = await http.post("/webhooks/alertmanager", content=body, headers=AUTH)
    assert answer.status_code == status and reason in json.dumps(answer.json()), answer.text
    after = [w.id async for w in dev_env.client.list_workflows("WorkflowType = 'IncidentWorkflow'")]
    assert len(after) == len(before)


async def test_unknown_fields_in_alertmanager_payloads_are_ignored(receiver, dev_env, run_worker, request):
    """Newer Alertmanagers add fields: a receiver that refused them would drop real alerts."""
    payload = {**delivery(), "futureField": {"x": 1}, "alerts": [{**alert(), "newThing": True}]}
    payload["groupKey"] += request.node.name
    async with run_worker(dev_env.client) as tq, receiver(tq) as http:
        answer = await http.post("/webhooks/alertmanager", json=payload, headers=AUTH)
        handle = dev_env.client.get_workflow_handle(answer.json()["incidents"][0]["incident_id"])
        await status_when(handle, lambda s: s.channel)
        await finish(handle)
    assert answer.status_code == 202


async def test_a_barrage_of_bad_signals_leaves_the_incident_working(time_env, run_worker, policy):
    async with run_worker(time_env.client) as tq:
        handle = await open_incident(time_env, tq, policy, module="fees")
        bad = [
            ("acknowledge", None),
            ("acknowledge", 42),
            ("set_severity", {"severity": "P7", "by": PRIMARY, "reason": "x"}),
            ("assign_role", {"role": "janitor", "person": PRIMARY, "by": PRIMARY}),
            ("post_update", {"by": PRIMARY, "status": "FINE"}),
            ("declare_blast_radius", {"scope": "galaxy"}),
            ("mitigate", {}),
            ("resolve", {"by": "not-an-email", "summary": "x"}),
            ("approve", {"request_id": "nope", "by": PRIMARY}),
            ("complete_deliverable", {"by": PRIMARY}),
            ("pagerduty_event", {"event_type": "incident.acknowledged"}),
        ]
        for name, payload in bad:
            await handle.signal(name, payload)
        await handle.signal("acknowledge", {"by": PRIMARY})
        status = await status_when(handle, lambda s: s.phase == "TRIAGE")
        described = await handle.describe()
        await finish(handle)
    assert len(kinds(status, "refused")) == len(bad)
    assert described.status.name == "RUNNING"


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_bad_policy_file_stops_the_worker_with_the_bad_key(tmp_path):
    """The worker is the one reader of the policy (the receiver never loads it): it refuses to
    start, naming each bad key, and a misspelt authority key is one of them — never "anyone"."""
    raw = yaml.safe_load(DEFAULT_POLICY_FILE.read_text())
    raw["raci"]["cto"]["P0"] = "X"
    raw["authority"]["resolv"] = raw["authority"].pop("resolve")  # misspelt: would have meant "anyone"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    done = run(["worker.py"], IRP_POLICY_FILE=str(bad), TEMPORAL_ADDRESS="127.0.0.1:1")
    assert done.returncode != 0
    assert f"{bad}: raci.cto.P0: Input should be 'R', 'A', 'C', 'I' or '—'" in done.stderr, done.stderr
    assert "authority.resolv: Input should be 'acknowledge', " in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
