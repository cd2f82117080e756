"""What starts an incident (§4.1 Detection): an Alertmanager delivery or a person's declaration."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from plan.models import Severity


def clip(text: str, limit: int = 2_000, whole: str = "") -> str:
    """`text`, cut to `limit` characters with a visible note of what was cut (and of where the
    `whole` text is, when that is known)."""
    if len(text) <= limit:
        return text
    where = f"; the whole text: {whole}" if whole else ""
    return text[:limit] + f"… (truncated, {len(text) - limit:,} more characters{where})"


def clipped(limit: int) -> AfterValidator:
    """A str field kept to `limit` characters (clip): a long text is taken, cut visibly, never
    refused for its length."""
    return AfterValidator(lambda text: clip(text, limit) if text is not None else None)


class Alert(BaseModel):
    """One alert of an Alertmanager webhook (payload version 4). Unknown fields are ignored:
    newer Alertmanagers add some."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str = ""

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "alert")

    @property
    def summary(self) -> str:
        return self.annotations.get("summary") or self.annotations.get("description") or self.name


class AlertmanagerDelivery(BaseModel):
    """Alertmanager's webhook_config payload, version "4". No length or count is capped here: a
    genuine delivery is never refused for a limit we picked (Alertmanager never retries a 4xx).
    The receiver's body limit bounds it (webhook/app.py), the incident keeps a bounded digest of
    it (plan/alert_digest.py) and is keyed by a hash of the whole groupKey (incident_client/intake.py).
    Label names and values are any UTF-8 (Alertmanager 0.28 allows UTF-8 names)."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    groupKey: str = Field(min_length=1)  # route and group labels: 64 KiB and more with many labels
    status: Literal["firing", "resolved"]
    receiver: str = ""
    alerts: list[Alert] = Field(min_length=1)  # Alertmanager never notifies an empty group
    groupLabels: dict[str, str] = {}
    commonLabels: dict[str, str] = {}
    commonAnnotations: dict[str, str] = {}
    externalURL: str = ""
    truncatedAlerts: int = 0

    @property
    def firing(self) -> list[Alert]:
        return [a for a in self.alerts if a.status == "firing"]

    @property
    def summary(self) -> str:
        """One line for the bridge: the group's common summary, else its first firing alert's."""
        first = (self.firing or self.alerts)[0]
        text = self.commonAnnotations.get("summary") or first.summary
        return text if len(self.alerts) == 1 else f"{text} ({len(self.firing)} firing)"

    @property
    def impact(self) -> str:
        return self.commonAnnotations.get("impact") or next(
            (a.annotations["impact"] for a in self.alerts if "impact" in a.annotations), ""
        )

    @property
    def source(self) -> str:
        labels = self.commonLabels or (self.firing or self.alerts)[0].labels
        return labels.get("instance") or labels.get("job") or labels.get("service") or "alertmanager"


class Declaration(BaseModel):
    """An incident declared by a person (§4.1 customer report, health check failure). A long
    text (a customer report's whole description as `impact`) is taken and cut visibly, never
    refused for its length: an automation that is refused may never retry. `module` is cut too:
    it becomes the incident's Module search attribute. `reporter` is an email (at most 254)."""

    model_config = ConfigDict(extra="forbid")

    summary: Annotated[str, Field(min_length=1), clipped(500)]
    impact: Annotated[str, clipped(2000)] = ""
    severity: Severity | None = None
    reporter: str = Field(min_length=1, max_length=254)
    source: Annotated[str, clipped(100)] = "manual"
    module: Annotated[str | None, clipped(100)] = None
    private: bool = Field(default=False, description="Need-to-know: a private bridge, nothing public")
    started_at: AwareDatetime | None = Field(
        default=None,
        description="When the problem began, if known (RFC 3339 with an offset, e.g. 2026-12-07T08:32:00Z); "
        "the incident's start follows plan/start.py's rules",
    )

    def digest(self) -> str:
        """What an Idempotency-Key binds to: exactly this declaration (16 hex characters). One
        without `private` or `started_at` hashes as it did before they existed."""
        unset = {"private"} if not self.private else set()
        unset |= {"started_at"} if self.started_at is None else set()
        dumped = self.model_dump_json(exclude=unset or None)
        return hashlib.sha256(dumped.encode()).hexdigest()[:16]
