"""Logs and metrics of the running processes: JSON log lines that carry the incident, the
workflow and the activity (from Temporal's workflow and activity loggers), and the worker's
Prometheus endpoint (the SDK's metrics and the incident metrics of workflows/metrics.py)."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from workflows.metrics import DURATION_BUCKETS, HISTOGRAMS


class JsonFormatter(logging.Formatter):
    """One JSON object a line. Temporal's loggers attach `temporal_workflow` / `temporal_activity`
    to each record; their ids become top-level fields (the workflow id is the incident id)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = (
            getattr(record, "temporal_workflow", None) or getattr(record, "temporal_activity", None) or {}
        )
        if context:
            line["incident_id"] = line["workflow_id"] = context.get("workflow_id")
            line["run_id"] = context.get("run_id") or context.get("workflow_run_id")
            line["workflow_type"] = context.get("workflow_type")
        if activity := getattr(record, "temporal_activity", None):
            line["activity"] = activity.get("activity_type")
            line["attempt"] = activity.get("attempt")
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging() -> None:
    """IRP_LOG_FORMAT=json (containers, log shippers) or text (a terminal, the default);
    IRP_LOG_LEVEL (INFO). At DEBUG, client libraries log message text: keep INFO in production."""
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("IRP_LOG_FORMAT", "text").lower() == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=os.environ.get("IRP_LOG_LEVEL", "INFO").upper(), handlers=[handler], force=True)


def metrics_runtime() -> Runtime | None:
    """A Temporal runtime exporting metrics on IRP_METRICS_ADDRESS (e.g. 0.0.0.0:9464), or None."""
    address = os.environ.get("IRP_METRICS_ADDRESS")
    if not address:
        return None
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=address,
                durations_as_seconds=True,
                histogram_bucket_overrides={
                    name: [float(b) for b in DURATION_BUCKETS] for name in HISTOGRAMS
                },
            )
        )
    )
