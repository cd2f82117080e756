"""PagerDuty Webhooks v3 payloads: only the parts the incident needs, typed, so a signed body of
the wrong shape is a 422 with the reason (a non-string `data.id` was a 500). Unknown fields are
ignored."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

OUR_KEY = re.compile(r"^(inc-[0-9a-f]{12}(?:-\d+)?):")


class Reference(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    summary: str | None = None
    type: str | None = None


class Data(BaseModel):
    """The event's resource (an incident): the parts the receiver reads are typed, the rest kept."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    incident_key: str | None = None


class Event(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    event_type: str
    resource_type: str = "incident"
    occurred_at: str | None = None
    agent: Reference | None = None
    data: Data = Data()

    def incident_id(self) -> str | None:
        """Our incident, from the dedup key we paged with (the PagerDuty incident's incident_key)."""
        match = OUR_KEY.match(self.data.incident_key or "")
        return match.group(1) if match else None

    def agent_name(self) -> str | None:
        return self.agent.summary if self.agent else None


class PagerDutyWebhook(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event: Event
