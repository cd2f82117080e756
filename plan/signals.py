"""What people send an incident: one JSON object each, so it can be typed into the Temporal UI.

People are named by email. Unknown fields are refused, so a typo is an error, not a no-op."""

from __future__ import annotations

import difflib
from enum import Enum
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field

from plan.attestation import Attestation
from plan.models import Email, Role, Severity

PEOPLE = ("by", "person", "owner")


class HumanInput(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    by: Annotated[Email, Field(description="your email, as in the roster")]
    # Set by the receiver for an action taken in Slack (plan/attestation.py); never typed.
    attestation: Attestation | None = None


class ConfirmClaim(HumanInput):
    """`confirm_claim`: the claimed person's own verified answer to a decision sent in their name
    from the Web UI or the CLI (issue 15): it counts only once they confirm."""

    claim_id: str = Field(pattern=r"^claim-[0-9]{1,6}$")
    confirmed: bool


class PinMessage(HumanInput):
    """`pin_message`: a bridge message someone reacted to with the policy's pin emoji (§4.6: it goes
    into the timeline and the post-mortem draft); `removed` takes it out again."""

    channel: str = Field(max_length=64)
    message_id: str = Field(max_length=64, description="the message's id in the chat service")
    author: str = Field(default="", max_length=254)
    text: str = Field(default="", max_length=4000)
    emoji: str = Field(max_length=100)
    removed: bool = False


class Acknowledge(HumanInput):
    """On-call acknowledges the page (§4.1)."""


class SetSeverity(HumanInput):
    """The IC re-declares severity (§3: IC "declares severity")."""

    severity: Severity
    reason: str = Field(min_length=1, max_length=1000)


class AssignRole(HumanInput):
    role: Role
    person: Email


class Handover(HumanInput):
    """`handover`: the role `by` holds (or `role`, which the IC may hand over for anyone) goes to
    `person`, with the outgoing holder's summary (`note`) posted in the bridge."""

    role: Role | None = Field(default=None, description="the role handed over (default: the one you hold)")
    person: Email
    note: str = Field(default="", max_length=3000, description="your summary for the new holder")


class TickChecklist(HumanInput):
    """`tick_checklist`: the holder of `role` ticks item `item` (0-based) of its checklist."""

    role: Role
    item: int = Field(ge=0, lt=20)


class PostUpdate(HumanInput):
    """§5.2 update. `public` also updates the status page (§5.3)."""

    status: Literal["ONGOING", "MITIGATED", "RESOLVED"]
    current_action: str = Field(min_length=1, max_length=2000, description="what we're doing right now")
    what_we_know: str = Field(
        min_length=1, max_length=2000, description="what we know (root cause hypothesis)"
    )
    next_update_minutes: int | None = Field(
        default=None, ge=1, le=24 * 60, description="next update in N minutes"
    )
    public: bool = Field(default=False, description="also update the status page")
    public_message: str | None = Field(default=None, max_length=2000)


class Mitigate(HumanInput):
    summary: str = Field(min_length=1, max_length=2000)


class Resolve(HumanInput):
    summary: str = Field(min_length=1, max_length=2000)
    root_cause: str | None = Field(default=None, max_length=2000)
    force_reason: str | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="resolve even if the checks fail (IC only); recorded",
    )


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


def json_shape(model: type[BaseModel]) -> str:
    """The JSON a person types for `model`, as a hint: `{"by": "<email>", "severity"?: "P0|P1"}`
    (a `?` marks an optional key). Shown in the Web UI's signal descriptions and the CLI's help."""
    parts = []
    for name, field in model.model_fields.items():
        if name == "attestation":
            continue
        parts.append(f'"{name}"{"" if field.is_required() else "?"}: {_example(name, field.annotation)}')
    return "{" + ", ".join(parts) + "}"


def _example(name: str, annotation: object) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, UnionType):
        return _example(name, next(a for a in args if a is not type(None)))
    if origin is Literal:
        return '"' + "|".join(map(str, args)) + '"'
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return '"' + "|".join(m.value for m in annotation) + '"'
    if annotation is bool:
        return "true"
    if annotation is int:
        return "N"
    if origin is list:
        return "[...]"
    if origin is dict:
        return "{...}"
    return '"<email>"' if name in PEOPLE else '"..."'


class Act(BaseModel):
    """`act`: any person's signal, answered with its outcome (what the CLI sends)."""

    model_config = ConfigDict(extra="forbid")

    signal: str = Field(description="a signal's name, e.g. acknowledge")
    input: Any = Field(description="the signal's JSON object")


class Outcome(BaseModel):
    """What came of one signal sent through `act`: accepted or refused (with the reason), what the
    incident noted on the way, and the ids of requests it made."""

    signal: str
    accepted: bool
    reason: str | None = None
    notes: list[str] = []
    requests: list[str] = []
    claimed: str | None = None  # held as this claim until the named person confirms it
    pending: bool = False  # taken, but what it decides still waits (more approvals, a claim)
    checking_key: bool = False  # signed with a key new to the incident: held while its workers are asked


def outcome(
    signal: str, entries: list, requests: list[str], pending: bool = False, refusal: str | None = None
) -> Outcome:
    """The Outcome of `signal` from the timeline entries it wrote (TimelineEntry: kind, text);
    `refusal`: "signal: reason" it was refused for, if it was (else read from a refusal entry)."""
    refusal = refusal or next((e.text.removeprefix("refused ") for e in entries if e.kind == "refused"), None)
    claimed = next((e.text.split("(", 1)[1].split(")")[0] for e in entries if e.kind == "claimed"), None)
    return Outcome(
        signal=signal,
        accepted=refusal is None,
        reason=refusal,
        notes=[e.text for e in entries if e.kind != "refused"][:10],
        requests=requests,
        claimed=claimed,
        pending=refusal is None and (pending or claimed is not None),
    )


def nearest(name: str, known: list[str]) -> str:
    """ " (did you mean `x`?)" for the known name closest to a misspelt one, else ""."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""
