"""The receiver end to end on the real dev server: Alertmanager in, one incident per group out."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid

import httpx
import pytest
from pydantic import SecretStr

from tests.helpers import AUTH, TOKEN, finish, status_when
from tests.payloads import alert, delivery
from webhook.app import MAX_ALERTMANAGER_BODY, MAX_BODY, create_app


def unique(payload: dict, request) -> dict:
    """A group key of this test's own, so runs never join each other's incidents."""
    payload["groupKey"] += f":{request.node.name}:{os.urandom(4).hex()}"
    return payload


async def test_same_payload_twice_and_concurrently_is_one_incident(
    dev_env, run_worker, receiver, pagerduty, request
):
    payload = unique(delivery(alert(scope="all")), request)
    async with run_worker(dev_env.client) as tq, receiver(tq) as http:
        answers = await asyncio.gather(
            *(http.post("/webhooks/alertmanager", json=payload, headers=AUTH) for _ in range(4))
        )
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


@pytest.mark.parametrize(
    "headers, reason",
    [
        ({}, "missing bearer token"),
        ({"Authorization": "Bearer wrong"}, "wrong bearer token"),
        ({"Authorization": f"Basic {TOKEN}"}, "missing bearer token"),
    ],
)
async def test_bad_token_is_401(receiver, headers, reason):
    async with receiver("unused-queue") as http:
        answer = await http.post("/webhooks/alertmanager", json=delivery(), headers=headers)
    assert answer.status_code == 401 and reason in answer.json()["error"]


@pytest.mark.parametrize(
    "body, where",
    [
        (b"{not json", "not valid JSON"),
        (json.dumps({**delivery(), "version": "3"}).encode(), "version"),
        (json.dumps({**delivery(), "alerts": []}).encode(), "alerts"),
        (json.dumps({**delivery(), "alerts": "many"}).encode(), "alerts"),
        (json.dumps({k: v for k, v in delivery().items() if k != "groupKey"}).encode(), "groupKey"),
    ],
)
async def test_malformed_payload_is_422_with_the_reason(receiver, body, where):
    async with receiver("unused-queue") as http:
        answer = await http.post("/webhooks/alertmanager", content=body, headers=AUTH)
    assert answer.status_code == 422
    assert where in json.dumps(answer.json())


async def test_oversized_payload_is_413(receiver):
    async with receiver("unused-queue") as http:
        answer = await http.post(
            "/webhooks/alertmanager", content=b"x" * (MAX_ALERTMANAGER_BODY + 1), headers=AUTH
        )
        assert answer.status_code == 413 and "33554432" in answer.text, answer.text
        declared = await http.post("/incidents", content=b"x" * (MAX_BODY + 1), headers=AUTH)
        assert declared.status_code == 413
        unsigned = await http.post("/webhooks/alertmanager", content=b"x" * (MAX_ALERTMANAGER_BODY + 1))
    assert unsigned.status_code == 401, "authenticated first: no one unauthenticated makes us read 32 MiB"


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
    done = subprocess.run(
        [sys.executable, "-m", "webhook"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "IRP_WEBHOOK_TOKEN is not set" in done.stderr


PD_SECRET = "pd-webhook-secret-9a7e"


def signed(body: bytes, *secrets: str) -> dict:
    import hashlib
    import hmac

    sigs = ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets)
    return {"X-PagerDuty-Signature": sigs, "Content-Type": "application/json"}


def pd_event(
    event_type: str, incident_key: str, event_id: str | None = None, agent: str = "Ben Okafor"
) -> bytes:
    """A PagerDuty Webhooks v3 payload, trimmed to what matters and what PagerDuty always sends."""
    return json.dumps(
        {
            "event": {
                "id": event_id or os.urandom(8).hex(),
                "event_type": event_type,
                "resource_type": "incident",
                "occurred_at": "2026-11-27T10:01:00.000Z",
                "agent": {
                    "id": "PUSER01",
                    "summary": agent,
                    "type": "user_reference",
                    "html_url": "https://preskool.pagerduty.com/users/PUSER01",
                },
                "client": None,
                "data": {
                    "id": "Q1PDINC",
                    "type": "incident",
                    "number": 42,
                    "status": event_type.split(".")[1],
                    "incident_key": incident_key,
                    "title": "[P1] Fee collection failing",
                    "html_url": "https://preskool.pagerduty.com/incidents/Q1PDINC",
                },
            }
        }
    ).encode()


@pytest.fixture
def pd_receiver(dev_env, policy):
    def make(task_queue: str):
        async def connect():
            return dev_env.client

        app = create_app(
            token=SecretStr(TOKEN),
            task_queue=task_queue,
            connect=connect,
            pagerduty_secret=SecretStr(PD_SECRET),
        )
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver")

    return make


async def test_pagerduty_acknowledgement_reaches_the_incident(dev_env, run_worker, pd_receiver, request):
    payload = unique(delivery(alert(module="fees")), request)
    async with run_worker(dev_env.client) as tq, pd_receiver(tq) as http:
        opened = (await http.post("/webhooks/alertmanager", json=payload, headers=AUTH)).json()["incidents"][
            0
        ]
        incident = opened["incident_id"]
        handle = dev_env.client.get_workflow_handle(incident)
        await status_when(handle, lambda s: s.channel)
        body = pd_event("incident.acknowledged", f"{incident}:oncall_primary", event_id="EVT-ACK-1")
        answer = await http.post(
            "/webhooks/pagerduty", content=body, headers=signed(body, "old-secret", PD_SECRET)
        )
        assert answer.status_code == 202, answer.text
        replay = await http.post("/webhooks/pagerduty", content=body, headers=signed(body, PD_SECRET))
        assert replay.status_code == 202 and "already delivered" in replay.json()["ignored"]
        resolved = pd_event("incident.resolved", f"{incident}:oncall_primary")
        await http.post("/webhooks/pagerduty", content=resolved, headers=signed(resolved, PD_SECRET))
        status = await status_when(
            handle, lambda s: s.phase == "TRIAGE" and any(e.kind == "pagerduty" for e in s.timeline)
        )
        await finish(handle)
    assert status.acknowledged_by == "ben.okafor@preskool.com"
    assert [e.text for e in status.timeline if e.kind == "acknowledged"] == [
        "acknowledged by ben.okafor@preskool.com in PagerDuty"
    ]
    assert status.resolution is None  # a PagerDuty resolve is a note, not a resolution


@pytest.mark.parametrize(
    "headers, reason",
    [
        ({}, "missing X-PagerDuty-Signature"),
        ({"X-PagerDuty-Signature": "v1=deadbeef"}, "does not match"),
        ({"X-PagerDuty-Signature": "v0=abc"}, "missing X-PagerDuty-Signature"),
    ],
)
async def test_pagerduty_bad_signature_is_401(pd_receiver, headers, reason):
    async with pd_receiver("unused") as http:
        answer = await http.post(
            "/webhooks/pagerduty", content=pd_event("incident.acknowledged", "inc-x:y"), headers=headers
        )
    assert answer.status_code == 401 and reason in answer.json()["error"]


async def test_pagerduty_event_for_someone_else_is_ignored(pd_receiver):
    body = pd_event("incident.acknowledged", "some-other-integration-key")
    async with pd_receiver("unused") as http:
        answer = await http.post("/webhooks/pagerduty", content=body, headers=signed(body, PD_SECRET))
    assert answer.status_code == 202 and "not an incident this service paged" in answer.json()["ignored"]


async def test_pagerduty_webhooks_off_without_a_secret(receiver):
    async with receiver("unused") as http:
        answer = await http.post("/webhooks/pagerduty", content=b"{}")
    assert answer.status_code == 404 and "PAGERDUTY_WEBHOOK_SECRET" in answer.json()["error"]


async def test_declare_from_a_customer_report(dev_env, run_worker, receiver, pagerduty):
    report = {
        "summary": "Schools cannot mark attendance",
        "impact": "Reported by 14 schools via Zendesk",
        "reporter": "support@preskool.com",
        "source": "zendesk",
        "module": "attendance",
    }
    async with run_worker(dev_env.client) as tq, receiver(tq) as http:
        assert (await http.post("/incidents", json=report)).status_code == 401
        bad = await http.post("/incidents", json={**report, "severity": "P9"}, headers=AUTH)
        assert bad.status_code == 422 and "severity" in bad.text
        answer = await http.post("/incidents", json=report, headers=AUTH)
        assert answer.status_code == 201
        [incident] = answer.json()["incidents"]
        handle = dev_env.client.get_workflow_handle(incident["incident_id"])
        status = await status_when(handle, lambda s: len(s.paged) == 4)
        await finish(handle)
    assert incident["severity"] == "P1" and status.summary == "Schools cannot mark attendance"
    assert status.impact == "Reported by 14 schools via Zendesk"


async def test_a_retried_declaration_is_one_incident(dev_env, run_worker, receiver, pagerduty):
    """Support's automation times out and retries with the same Idempotency-Key, and a person
    double-clicks: one incident, one set of pages; the same key with another body is a 409."""
    report = {
        "summary": "Schools report fee payments failing",
        "reporter": "support@preskool.com",
        "source": "zendesk",
        "module": "fees",
    }
    key = {**AUTH, "Idempotency-Key": f"zendesk-{uuid.uuid4().hex[:8]}"}
    async with run_worker(dev_env.client) as tq, receiver(tq) as http:
        answers = await asyncio.gather(*(http.post("/incidents", json=report, headers=key) for _ in range(3)))
        incidents = [a.json()["incidents"][0] for a in answers]
        assert len({i["incident_id"] for i in incidents}) == 1
        assert sorted(a.status_code for a in answers) == [200, 200, 201]
        assert sorted(i["created"] for i in incidents) == [False, False, True]
        other = await http.post("/incidents", json={**report, "summary": "something else"}, headers=key)
        assert other.status_code == 409 and "another body" in other.json()["error"], other.text
        handle = dev_env.client.get_workflow_handle(incidents[0]["incident_id"])
        status = await status_when(handle, lambda s: len(s.paged) == 4)
        await finish(handle)
    assert len(pagerduty.events) == 4, "each role paged once"
    assert [e.kind for e in status.timeline].count("detected") == 1


async def test_group_firing_again_after_resolution_opens_a_new_incident(
    dev_env, run_worker, receiver, prometheus, policy, request
):
    prometheus.healthy(policy)
    payload = unique(delivery(alert(module="fees")), request)
    async with run_worker(dev_env.client) as tq, receiver(tq) as http:
        first = (await http.post("/webhooks/alertmanager", json=payload, headers=AUTH)).json()["incidents"][0]
        handle = dev_env.client.get_workflow_handle(first["incident_id"])
        await status_when(handle, lambda s: s.cadence)
        await handle.signal("resolve", {"by": "asha.rao@preskool.com", "summary": "Fixed"})
        await status_when(handle, lambda s: s.phase == "REVIEW")
        again = (await http.post("/webhooks/alertmanager", json=payload, headers=AUTH)).json()["incidents"][0]
        resolved = unique(delivery(alert(status="resolved", module="fees")), request)
        resolved["groupKey"] = payload["groupKey"]
        late = (await http.post("/webhooks/alertmanager", json=resolved, headers=AUTH)).json()["incidents"]
        second = dev_env.client.get_workflow_handle(again["incident_id"])
        status = await status_when(second, lambda s: s.deliveries == 2)
        await finish(second)
        await finish(handle)
    assert again["created"] and again["incident_id"] == first["incident_id"] + "-2"
    assert late and late[0]["incident_id"] == again["incident_id"]
    assert status.incident_id == again["incident_id"]
