"""The buttons under the incident's messages (issue 15): what each does and what it acts on.

The chat provider renders them (Slack: an actions block); the receiver's chat app reads a click's
`action` and `value` back. Both sides take the names from here, so they cannot drift apart."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, Field

ACK, UPDATE, MITIGATE, RESOLVE = "irp.ack", "irp.update", "irp.mitigate", "irp.resolve"
APPROVE, DENY = "irp.approve", "irp.deny"
COMPLETE, WAIVE = "irp.complete", "irp.waive"
CONFIRM, NOT_ME = "irp.confirm", "irp.not_me"
TICK = "irp.tick"  # numbered per item (`irp.tick.0`, …): Slack wants action ids unique in a block


class ChatButton(BaseModel):
    """One button: its label, the action it takes (one of the names above) and what it acts on,
    as compact JSON (`{"incident": …, "request_id": …}`; at most 2,000 characters, Slack's limit)."""

    label: str = Field(max_length=75)
    action: str = Field(pattern=r"^irp\.[a-z_]+(\.[0-9]{1,2})?$")  # a numbered one: of a list (TICK)
    value: str = Field(max_length=2000)
    style: Literal["primary", "danger"] | None = None


def target(incident_id: str, **more: str) -> str:
    """A button's value: the incident and what else the action needs."""
    return json.dumps({"incident": incident_id, **more}, separators=(",", ":"))


def opening(incident_id: str) -> list[ChatButton]:
    """§5.1 opening: Acknowledge, Post update, Mitigate, Resolve."""
    value = target(incident_id)
    return [
        ChatButton(label="Acknowledge", action=ACK, value=value, style="primary"),
        ChatButton(label="Post update", action=UPDATE, value=value),
        ChatButton(label="Mitigate", action=MITIGATE, value=value),
        ChatButton(label="Resolve", action=RESOLVE, value=value),
    ]


def approval(incident_id: str, request_id: str, digest: str) -> list[ChatButton]:
    """§4.3 / §7 approval request: Approve, Deny (asks why). `digest` binds a click to exactly
    this version of the request: one made on it after it changed is refused."""
    value = target(incident_id, request_id=request_id, digest=digest)
    return [
        ChatButton(label="Approve", action=APPROVE, value=value, style="primary"),
        ChatButton(label="Deny", action=DENY, value=value, style="danger"),
    ]


def deliverable(incident_id: str, key: str) -> list[ChatButton]:
    """§8 reminder: Complete (asks for the link), Waive (Engineering Lead; asks why)."""
    value = target(incident_id, deliverable=key)
    return [
        ChatButton(label="Complete", action=COMPLETE, value=value, style="primary"),
        ChatButton(label="Waive", action=WAIVE, value=value),
    ]


def claim(incident_id: str, claim_id: str) -> list[ChatButton]:
    """A decision sent in someone's name from outside the chat: Confirm, It wasn't me."""
    value = target(incident_id, claim_id=claim_id)
    return [
        ChatButton(label="Confirm", action=CONFIRM, value=value, style="primary"),
        ChatButton(label="It wasn't me", action=NOT_ME, value=value, style="danger"),
    ]


def checklist(incident_id: str, role: str, items: list[str]) -> list[ChatButton]:
    """A role's checklist (policy `roles.<role>.checklist`): one Done button per item."""
    return [
        ChatButton(
            label=f"Done: {item}"[:75],
            action=f"{TICK}.{n}",
            value=target(incident_id, role=role, item=str(n)),
        )
        for n, item in enumerate(items)
    ]
