"""The incident as the workflow keeps it, and the one-object inputs people send it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from plan.alerts import AlertmanagerDelivery, Declaration
from plan.models import EMAIL, Phase, Policy, Raci, Role, Severity


class IncidentInput(BaseModel):
    """How an incident workflow starts. Alert deliveries arrive by update; a declaration here."""

    incident_id: str
    policy: Policy
    declaration: Declaration | None = None
    group_key: str | None = None


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    text: str
    by: str | None = None


class Page(BaseModel):
    role: Role
    person: str | None
    dedup_key: str
    outcome: Literal["paged", "skipped", "failed"]
    detail: str = ""
    at: datetime


class RoleAssignment(BaseModel):
    role: Role
    letter: Raci
    engaged: Literal["paged", "invited", "informed", "none"]
    person: str | None = None
    name: str | None = None


class Bridge(BaseModel):
    channel: str | None = None
    channel_id: str | None = None
    opening_ts: str | None = None
    skipped: str | None = None


class IncidentStatus(BaseModel):
    """What `status` answers: enough to run the incident from the CLI or the UI."""

    incident_id: str
    severity: Severity | None
    severity_reasons: list[str]
    phase: Phase
    summary: str
    impact: str
    started_at: datetime
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    roles: list[RoleAssignment]
    channel: str | None
    paged: list[Page]
    deliveries: int
    timeline: list[TimelineEntry]


class DeliveryReceipt(BaseModel):
    """The answer to an Alertmanager delivery, once the workflow holds it."""

    incident_id: str
    severity: Severity
    created: bool


class Acknowledge(BaseModel):
    """`acknowledge` signal: {"by": "<email>"}."""

    model_config = ConfigDict(extra="forbid")

    by: str = Field(max_length=254, pattern=EMAIL)


__all__ = [
    "Acknowledge", "AlertmanagerDelivery", "Bridge", "Declaration", "DeliveryReceipt", "IncidentInput",
    "IncidentStatus", "Page", "RoleAssignment", "TimelineEntry",
]
