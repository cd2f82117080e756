"""Workflows: when things happen. Deterministic: no I/O, no wall clock; the plan decides what."""

from workflows.incident import IncidentWorkflow

__all__ = ["IncidentWorkflow"]
