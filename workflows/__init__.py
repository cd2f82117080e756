"""Workflows: when things happen. Deterministic: no I/O, no wall clock; the plan decides what."""

from workflows.heartbeat import HeartbeatWorkflow
from workflows.incident import IncidentWorkflow
from workflows.slack_request import SlackRequestTaken

__all__ = ["HeartbeatWorkflow", "IncidentWorkflow", "SlackRequestTaken"]
