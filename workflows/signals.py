"""Every signal an incident takes, declared once: its name, its JSON (the pydantic model), its
decider (plan/decide/), the authority it needs and its command in the CLI.

The workflow's handlers, their descriptions in the Web UI (with the JSON shape taken from the
model), starter.py's commands and the authority check are all derived from SIGNALS."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from plan.approvals import ActionDone, Decide, RequestAction
    from plan.decide import claims, gate, ledger, lifecycle, pins, requests, roles
    from plan.deliverables import AddActionItem, CompleteDeliverable, EditCustomerEmail, WaiveDeliverable
    from plan.models import GatedAction
    from plan.signals import (
        Acknowledge,
        AssignRole,
        ConfirmClaim,
        DeclareBlastRadius,
        Handover,
        Mitigate,
        PagerDutyEvent,
        PinMessage,
        PostUpdate,
        Resolve,
        SetSeverity,
        TickChecklist,
        json_shape,
    )


@dataclass(frozen=True)
class Cli:
    """How starter.py spells the signal: its command, which fields are positional, flags whose
    name differs from the field's (`current_action` → `--action`), defaults, and optional fields
    the command still asks for (a denial says why)."""

    command: str
    help: str
    positional: tuple[str, ...] = ()
    flags: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()


@dataclass(frozen=True)
class Signal:
    """`decide` is its decider (plan/decide/): `decide(draft, input, actor)`; `authority` None means
    the signal is not a person's gated decision (approvals are governed by the action catalogue)."""

    name: str
    model: type[BaseModel]
    decide: Callable[..., object]
    authority: GatedAction | None
    summary: str
    cli: Cli | None = None

    @property
    def description(self) -> str:
        return f"{self.summary} {json_shape(self.model)}"


A = GatedAction
SIGNALS = (
    Signal(
        "acknowledge",
        Acknowledge,
        lifecycle.acknowledge,
        A.acknowledge,
        "On-call acknowledges the page (§4.1).",
        Cli("ack", "acknowledge the page"),
    ),
    Signal(
        "set_severity",
        SetSeverity,
        lifecycle.set_severity,
        A.set_severity,
        "The IC re-declares severity (§3).",
        Cli("severity", "re-declare severity (IC)", ("severity",)),
    ),
    Signal(
        "assign_role",
        AssignRole,
        roles.assign_role,
        A.assign_role,
        "Give a role to a person for this incident (policy roles.<role>.may_hold says who may hold it).",
        Cli("role", "give a role to a person", ("role", "person")),
    ),
    Signal(
        "handover",
        Handover,
        roles.handover,
        None,
        "Hand a role over with a note (its holder, or whoever may assign roles).",
        Cli("handover", "hand a role over to a person, with a note", ("role", "person")),
    ),
    Signal(
        "tick_checklist",
        TickChecklist,
        roles.tick,
        None,
        "The holder of a role ticks an item of its checklist (0-based).",
        Cli("tick", "tick an item of your role's checklist", ("role", "item")),
    ),
    Signal(
        "post_update",
        PostUpdate,
        lifecycle.post_update,
        A.post_update,
        "§5.2 update; `public` also updates the status page (§5.3).",
        Cli(
            "update",
            "post the §5.2 update",
            flags={"current_action": "action", "what_we_know": "know", "next_update_minutes": "next"},
            defaults={"status": "ONGOING"},
        ),
    ),
    Signal(
        "declare_blast_radius",
        DeclareBlastRadius,
        lifecycle.declare_blast_radius,
        A.declare_blast_radius,
        "§4.2 step 7: all users? one tenant? one endpoint?",
        Cli(
            "blast-radius",
            "declare the blast radius (§4.2 step 7)",
            flags={"tenants": "tenant", "endpoints": "endpoint"},
        ),
    ),
    Signal(
        "mitigate",
        Mitigate,
        lifecycle.mitigate,
        A.mitigate,
        "Service restored; root-causing continues (§4.4).",
        Cli("mitigate", "service restored; root-causing continues"),
    ),
    Signal(
        "resolve",
        Resolve,
        gate.resolve,
        A.resolve,
        "Verify recovery (§4.5) and resolve.",
        Cli("resolve", "verify recovery (§4.5) and resolve"),
    ),
    Signal(
        "request_action",
        RequestAction,
        requests.request_action,
        A.request_action,
        "Ask for a risky (§4.3) or forbidden (§7) action.",
        Cli(
            "request",
            "ask for a risky (§4.3) or forbidden (§7) action",
            ("action", "target"),
            flags={"params": "param", "request_id": "id"},
        ),
    ),
    Signal(
        "approve",
        Decide,
        requests.approve,
        None,
        "Approve a request.",
        Cli("approve", "approve a request (answers at once)", ("request_id",)),
    ),
    Signal(
        "deny",
        Decide,
        requests.deny,
        None,
        "Deny a request (its approvers or its requester).",
        Cli("deny", "deny a request", ("request_id",), required=("reason",)),
    ),
    Signal(
        "action_done",
        ActionDone,
        requests.action_done,
        A.action_done,
        "Report an approved action without an executor as carried out.",
        Cli("done", "report an approved manual action as carried out", ("request_id",)),
    ),
    Signal(
        "complete_deliverable",
        CompleteDeliverable,
        ledger.complete_deliverable,
        A.complete_deliverable,
        "A §8 deliverable is done.",
        Cli("complete", "a §8 deliverable is done", ("deliverable",)),
    ),
    Signal(
        "waive_deliverable",
        WaiveDeliverable,
        ledger.waive_deliverable,
        A.waive_deliverable,
        "Waive a §8 deliverable (Engineering Lead).",
        Cli("waive", "waive a §8 deliverable", ("deliverable",)),
    ),
    Signal(
        "add_action_item",
        AddActionItem,
        ledger.add_action_item,
        A.add_action_item,
        "A post-mortem action item, as a ticket.",
        Cli("action-item", "a post-mortem action item, as a ticket"),
    ),
    Signal(
        "edit_customer_email",
        EditCustomerEmail,
        requests.edit_customer_email,
        A.edit_customer_email,
        "Change the §5.4 customer email draft before approving it.",
        Cli("edit-email", "change the customer email draft before approving it"),
    ),
    Signal(
        "confirm_claim",
        ConfirmClaim,
        claims.confirm_claim,
        None,
        "The named person's own answer to a decision sent in their name (from a chat click only).",
    ),
    Signal(
        "pin_message",
        PinMessage,
        pins.pin_message,
        None,
        "A bridge message pinned to the timeline with the policy's pin emoji (from the chat app).",
    ),
    Signal(
        "pagerduty_event",
        PagerDutyEvent,
        lifecycle.pagerduty_event,
        None,
        "A verified PagerDuty webhook event (sent by the webhook receiver).",
    ),
)
BY_NAME = {s.name: s for s in SIGNALS}
PEOPLES = {s.name for s in SIGNALS if s.name != "pagerduty_event"}  # what a person may send through `act`


def handled(cls: type) -> type:
    """Give the workflow class one `@workflow.signal` method per row of SIGNALS, each passing its
    raw payload to `cls.receive(signal, payload)`: raw, so the SDK drops nothing it cannot decode
    (plan/person_input.py reads it). Apply below `@workflow.defn`."""
    for signal in SIGNALS:
        setattr(cls, signal.name, _handler(signal))
    return cls


def _handler(signal: Signal):
    def handler(self, payload: RawValue) -> None:
        self.receive(signal, payload)

    handler.__name__ = handler.__qualname__ = signal.name
    return workflow.signal(name=signal.name, description=signal.description)(handler)
