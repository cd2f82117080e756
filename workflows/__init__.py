"""Workflows: when things happen. Deterministic: no I/O, no wall clock; the plan decides what."""

from workflows.heartbeat import HeartbeatWorkflow
from workflows.incident import IncidentWorkflow

__all__ = ["HeartbeatWorkflow", "IncidentWorkflow"]
