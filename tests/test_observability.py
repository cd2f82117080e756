"""Metrics and logs a team watches: incident metrics on the worker's Prometheus endpoint, the
receiver's request metrics, and JSON log lines that carry the incident."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import httpx

from connection.observability import JsonFormatter
from incident_client.intake import deliver_alerts
from plan import AlertmanagerDelivery
from tests.helpers import eventually, finish, metrics_client, status_when
from tests.payloads import alert, delivery
from tests.processes import free_port
from tests.test_lifecycle import IC, PRIMARY


async def test_incident_metrics_on_the_worker_endpoint(dev_env, run_worker, policy, prometheus, monkeypatch):
    client, address = await metrics_client(dev_env, monkeypatch)
    prometheus.healthy(policy)
    late = alert(scope="all")  # began 40 min before we heard of it: the times count from then
    late["startsAt"] = (datetime.now(UTC) - timedelta(minutes=40)).isoformat()
    async with run_worker(client) as tq:
        receipt = await deliver_alerts(
            client,
            tq,
            AlertmanagerDelivery.model_validate(delivery(late, group=f"Metrics-{free_port()}")),
        )
        handle = client.get_workflow_handle(receipt.incident_id)
        await handle.signal("acknowledge", {"by": PRIMARY})
        await handle.signal("mitigate", {"by": PRIMARY, "summary": "Rolled back"})
        await handle.signal("resolve", {"by": IC, "summary": "Rolled back"})
        await status_when(handle, lambda s: s.phase == "REVIEW")

        async def scraped():
            text = httpx.get(f"http://{address}/metrics").text
            return text if "irp_time_to_resolve_bucket" in text else None

        text = await eventually(scraped)
        await finish(handle)
    assert "irp_incidents_opened{" in text and 'severity="P0"' in text
    for name in ("irp_time_to_acknowledge", "irp_time_to_mitigate", "irp_time_to_resolve"):
        assert f"{name}_count" in text and f"{name}_bucket{{" in text, name
        [total] = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(f"{name}_sum")]
        assert total >= 40 * 60, f"{name} counts from the problem's start: {total}"
    assert "temporal_workflow_task_execution_latency" in text or "temporal_request" in text  # the SDK's own
    # the plan's promises at the close-out (plan/compliance.py): acknowledged 40 min after the start
    promises = [line for line in text.splitlines() if line.startswith("irp_promises{")]
    assert any(
        'promise="acknowledge"' in p and 'outcome="missed"' in p and 'severity="P0"' in p for p in promises
    )
    assert any('promise="fix"' in p and 'outcome="kept"' in p for p in promises), promises


async def test_receiver_request_metrics(receiver):
    async with receiver("unused") as http:
        await http.post("/webhooks/alertmanager", json=delivery(), headers={})
        await http.get("/healthz")
        text = (await http.get("/metrics/")).text
    assert 'irp_webhook_requests_total{endpoint="/webhooks/alertmanager",status="401"} 1.0' in text
    assert 'irp_webhook_request_seconds_count{endpoint="/healthz"} 1.0' in text


def test_json_log_lines_carry_the_incident_and_the_activity():
    record = logging.LogRecord("temporalio.activity", logging.INFO, __file__, 1, "paged %s", ("cto",), None)
    record.temporal_activity = {
        "workflow_id": "inc-123",
        "workflow_run_id": "r1",
        "activity_type": "page_role",
        "attempt": 2,
        "workflow_type": "IncidentWorkflow",
    }
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "paged cto" and line["incident_id"] == line["workflow_id"] == "inc-123"
    assert (line["activity"], line["attempt"], line["run_id"]) == ("page_role", 2, "r1")
