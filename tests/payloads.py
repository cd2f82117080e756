"""Realistic Alertmanager webhook payloads (version 4), as its webhook_configs sends them."""

from __future__ import annotations

import copy

FIRING_ENDS_AT = "0001-01-01T00:00:00Z"


def alert(status: str = "firing", summary: str = "API returning 500s for all requests", **labels) -> dict:
    labels = {"alertname": "ApiErrorsAllRequests", "job": "backend", "namespace": "preskool", **labels}
    return {
        "status": status,
        "labels": labels,
        "annotations": {
            "summary": summary,
            "runbook_url": "observability/runbooks/incident-response.md#api-5xx",
        },
        "startsAt": "2026-11-27T09:58:00Z",
        "endsAt": FIRING_ENDS_AT if status == "firing" else "2026-11-27T10:30:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=rate(http_requests_total)",
        "fingerprint": "c8b7f1e2d3a4b5c6",
    }


def delivery(*alerts: dict, group: str = "ApiErrorsAllRequests", status: str | None = None) -> dict:
    alerts = alerts or (alert(),)
    firing = any(a["status"] == "firing" for a in alerts)
    return copy.deepcopy(
        {
            "version": "4",
            "groupKey": f'{{}}/{{severity=~"critical|warning"}}:{{alertname="{group}"}}',
            "truncatedAlerts": 0,
            "status": status or ("firing" if firing else "resolved"),
            "receiver": "preskool-irp",
            "groupLabels": {"alertname": group},
            "commonLabels": dict(alerts[0]["labels"]),
            "commonAnnotations": {"summary": alerts[0]["annotations"]["summary"]},
            "externalURL": "http://alertmanager:9093",
            "alerts": list(alerts),
        }
    )
