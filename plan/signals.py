"""What people send an incident: one JSON object each, so it can be typed into the Temporal UI.

People are named by email. Unknown fields are refused, so a typo is an error, not a no-op."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from plan.models import EMAIL, Role, Severity

Email = Field(max_length=254, pattern=EMAIL)


class HumanInput(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    by: str = Email


class Acknowledge(HumanInput):
    """On-call acknowledges the page (§4.1)."""


class SetSeverity(HumanInput):
    """The IC re-declares severity (§3: IC "declares severity")."""

    severity: Severity
    reason: str = Field(min_length=1, max_length=1000)


class AssignRole(HumanInput):
    role: Role
    person: str = Email


class PostUpdate(HumanInput):
    """§5.2 update. `public` also updates the status page (§5.3)."""

    status: Literal["ONGOING", "MITIGATED", "RESOLVED"]
    current_action: str = Field(min_length=1, max_length=2000)
    what_we_know: str = Field(min_length=1, max_length=2000)
    next_update_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    public: bool = False
    public_message: str | None = Field(default=None, max_length=2000)


class Mitigate(HumanInput):
    summary: str = Field(min_length=1, max_length=2000)


class Resolve(HumanInput):
    summary: str = Field(min_length=1, max_length=2000)
    root_cause: str | None = Field(default=None, max_length=2000)
    force_reason: str | None = Field(default=None, min_length=1, max_length=1000)


class DeclareBlastRadius(HumanInput):
    """§4.2 step 7: all users? one tenant? one endpoint?"""

    scope: Literal["all", "many", "tenant", "endpoint"]
    tenants: list[str] = []
    endpoints: list[str] = []


class PagerDutyEvent(BaseModel):
    """Sent by the webhook receiver for a verified PagerDuty v3 webhook."""

    model_config = ConfigDict(extra="forbid")

    event_id: str
    event_type: str
    agent: str | None = None
    agent_email: str | None = None
    pagerduty_incident: str | None = None
