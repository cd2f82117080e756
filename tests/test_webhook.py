"""The receiver end to end on the real dev server: Alertmanager in, one incident per group out."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import httpx
import pytest
from pydantic import SecretStr

from plan import load_policy
from tests.helpers import eventually, status_when, finish
from tests.payloads import alert, delivery
from webhook.app import MAX_BODY, create_app
from workflows import IncidentWorkflow

TOKEN = "test-webhook-token-5f1c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def receiver(dev_env, policy):
    """An httpx client on the real app, wired to the dev server and a fresh task queue."""

    def make(task_queue: str, connect=None):
        async def default_connect():
            return dev_env.client
        app = create_app(token=SecretStr(TOKEN), policy=policy, task_queue=task_queue, connect=connect or default_connect)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver")

    return make


def unique(payload: dict, request) -> dict:
    """A group key of this test's own, so runs never join each other's incidents."""
    payload["groupKey"] += f":{request.node.name}:{os.urandom(4).hex()}"
    return payload


async def test_same_payload_twice_and_concurrently_is_one_incident(dev_env, run_worker, receiver, pagerduty, request):
    payload = unique(delivery(alert(scope="all")), request)
    async with run_worker(dev_env.client) as tq, receiver(tq) as http:
        answers = await asyncio.gather(*(http.post("/webhooks/alertmanager", json=payload, headers=AUTH) for _ in range(4)))
        again = await http.post("/webhooks/alertmanager", json=payload, headers=AUTH)
        assert {a.status_code for a in answers} | {again.status_code} == {202}
        incidents = [a.json()["incidents"][0] for a in (*answers, again)]
        assert len({i["incident_id"] for i in incidents}) == 1
        assert sorted(i["created"] for i in incidents) == [False] * 4 + [True]
        assert {i["severity"] for i in incidents} == {"P0"}
        handle = dev_env.client.get_workflow_handle(incidents[0]["workflow_id"])
        status = await status_when(handle, lambda s: s.channel and len(s.paged) == 5)
        await finish(handle)
    # One page per role: five R/A roles for P0, each triggered once.
    dedup_keys = [t["dedup_key"] for t in pagerduty.triggers()]
    assert len(dedup_keys) == len(set(dedup_keys)) == 5
    assert status.deliveries == 5


async def test_resolved_delivery_without_open_incident_starts_nothing(dev_env, receiver, request):
    payload = unique(delivery(alert(status="resolved")), request)
    async with receiver("unused-queue") as http:
        answer = await http.post("/webhooks/alertmanager", json=payload, headers=AUTH)
    assert answer.status_code == 202 and answer.json() == {"incidents": []}


@pytest.mark.parametrize("headers, reason", [
    ({}, "missing bearer token"),
    ({"Authorization": "Bearer wrong"}, "wrong bearer token"),
    ({"Authorization": f"Basic {TOKEN}"}, "missing bearer token"),
])
async def test_bad_token_is_401(receiver, headers, reason):
    async with receiver("unused-queue") as http:
        answer = await http.post("/webhooks/alertmanager", json=delivery(), headers=headers)
    assert answer.status_code == 401 and reason in answer.json()["error"]


@pytest.mark.parametrize("body, where", [
    (b"{not json", "not valid JSON"),
    (json.dumps({**delivery(), "version": "3"}).encode(), "version"),
    (json.dumps({**delivery(), "alerts": []}).encode(), "alerts"),
    (json.dumps({**delivery(), "alerts": "many"}).encode(), "alerts"),
    (json.dumps({k: v for k, v in delivery().items() if k != "groupKey"}).encode(), "groupKey"),
])
async def test_malformed_payload_is_422_with_the_reason(receiver, body, where):
    async with receiver("unused-queue") as http:
        answer = await http.post("/webhooks/alertmanager", content=body, headers=AUTH)
    assert answer.status_code == 422
    assert where in json.dumps(answer.json())


async def test_oversized_payload_is_413(receiver):
    async with receiver("unused-queue") as http:
        answer = await http.post("/webhooks/alertmanager", content=b"x" * (MAX_BODY + 1), headers=AUTH)
    assert answer.status_code == 413


async def test_temporal_unreachable_is_503_so_alertmanager_retries(receiver):
    async def unreachable():
        raise RuntimeError("Failed client connect: connection refused")
    async with receiver("unused-queue", connect=unreachable) as http:
        answer = await http.post("/webhooks/alertmanager", json=delivery(), headers=AUTH)
    assert answer.status_code == 503 and "Temporal is unreachable" in answer.json()["error"]


async def test_healthz(receiver):
    async with receiver("unused-queue") as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}


def test_receiver_refuses_to_start_without_a_token():
    env = {k: v for k, v in os.environ.items() if k != "IRP_WEBHOOK_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "webhook"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "IRP_WEBHOOK_TOKEN is not set" in done.stderr
