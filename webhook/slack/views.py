"""The modals behind the buttons and `/incident declare` (Block Kit views, https://api.slack.com/
surfaces/modals): each asks for exactly the fields of one signal's model, and what does not fit
is answered in the modal, field by field, from that model's own validation."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel, ValidationError

from plan import Declaration
from plan.approvals import Decide
from plan.deliverables import CompleteDeliverable, WaiveDeliverable
from plan.signals import Mitigate, PostUpdate, Resolve

DECIDE = "decide"  # the declare modal's "let the decision tree decide" severity


@dataclass(frozen=True)
class Field:
    """One input: its block (= the model's field name), label, kind, and choices for a select."""

    name: str
    label: str
    kind: str = "text"  # text | multiline | number | select | check | datetime
    optional: bool = False
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Modal:
    title: str
    signal: str | None  # None: a declaration, not a signal
    model: type[BaseModel]
    fields: tuple[Field, ...] = field(default_factory=tuple)


MODALS = {
    "irp.update": Modal(
        "Post update (§5.2)",
        "post_update",
        PostUpdate,
        (
            Field("status", "Status", "select", options=("ONGOING", "MITIGATED", "RESOLVED")),
            Field("current_action", "What we're doing right now"),
            Field("what_we_know", "What we know (root cause hypothesis)", "multiline"),
            Field("next_update_minutes", "Next update in (minutes)", "number", optional=True),
            Field("public", "Also update the status page (§5.3)", "check", optional=True),
        ),
    ),
    "irp.mitigate": Modal(
        "Mitigate (§4.4)", "mitigate", Mitigate, (Field("summary", "What restored service", "multiline"),)
    ),
    "irp.resolve": Modal(
        "Resolve (§4.5)",
        "resolve",
        Resolve,
        (
            Field("summary", "Resolution", "multiline"),
            Field("root_cause", "Root cause, if known", "multiline", optional=True),
            Field("force_reason", "Force without verification: why (Incident Commander only)", optional=True),
        ),
    ),
    "irp.deny": Modal("Deny", "deny", Decide, (Field("reason", "Why not", "multiline"),)),
    "irp.complete": Modal(
        "Complete deliverable (§8)",
        "complete_deliverable",
        CompleteDeliverable,
        (Field("link", "Link to it"),),
    ),
    "irp.waive": Modal(
        "Waive deliverable (§8)",
        "waive_deliverable",
        WaiveDeliverable,
        (Field("reason", "Why it is not needed", "multiline"),),
    ),
    "irp.declare": Modal(
        "Declare an incident",
        None,
        Declaration,
        (
            Field("summary", "Summary"),
            Field("impact", "Impact (who is affected, how)", "multiline", optional=True),
            Field("severity", "Severity", "select", options=(DECIDE, "P0", "P1", "P2", "P3")),
            Field("module", "Module (fees, attendance, …)", optional=True),
            Field("started_at", "When did the problem begin? (if before now)", "datetime", optional=True),
            Field(
                "private",
                "Private: data at risk or need-to-know (a private bridge, nothing public)",
                "check",
                optional=True,
            ),
        ),
    ),
}


def view(callback_id: str, context: dict) -> dict:
    """The modal for `callback_id`, carrying `context` (incident, message, request…) as metadata."""
    modal = MODALS[callback_id]
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": json.dumps(context, separators=(",", ":")),
        "title": {"type": "plain_text", "text": modal.title[:24]},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [_block(f) for f in modal.fields],
    }


NOTICE = "irp.notice"  # a modal that only tells (no submit): waiting for the incident, or why not


def notice(title: str, text: str, context: dict | None = None) -> dict:
    """A modal with one line of `text` and a Close button: what views.open shows at once, within
    Slack's 3 seconds, while the incident is asked (then views.update replaces it), or why the
    form cannot be shown."""
    return {
        "type": "modal",
        "callback_id": NOTICE,
        "private_metadata": json.dumps(context or {}, separators=(",", ":")),
        "title": {"type": "plain_text", "text": title[:24]},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}],
    }


def waiting(callback_id: str) -> dict:
    """The form's title with "asking the incident…", shown until its answer fills the form."""
    return notice(MODALS[callback_id].title, "⏳ Asking the incident… this form fills in a moment.")


def read(callback_id: str, submitted: dict, fixed: dict) -> tuple[dict, dict[str, str]]:
    """The signal's (or declaration's) input from a view_submission's `view`, with `fixed` fields
    (by, request_id…) added, and Slack's `errors` shape ({block_id: message}) for what does not fit."""
    modal = MODALS[callback_id]
    values = (submitted.get("state") or {}).get("values") or {}
    data = dict(fixed)
    for f in modal.fields:
        value = _value(f, (values.get(f.name) or {}).get(f.name) or {})
        if value not in (None, ""):
            data[f.name] = value
    if callback_id == "irp.declare" and data.get("severity") == DECIDE:
        data.pop("severity")
    errors: dict[str, str] = {}
    for f in modal.fields:
        if f.kind == "number" and isinstance(data.get(f.name), str):
            errors[f.name] = "a whole number of minutes, e.g. 30"
    try:
        modal.model.model_validate(data)
    except ValidationError as e:
        for err in e.errors():
            where = str(err["loc"][0]) if err["loc"] else ""
            block = where if any(f.name == where for f in modal.fields) else modal.fields[0].name
            errors.setdefault(block, err["msg"] if where == block else f"{where}: {err['msg']}")
    return data, errors


def _block(f: Field) -> dict:
    element: dict = {"action_id": f.name}
    if f.kind == "select":
        element |= {
            "type": "static_select",
            "options": [_option(o) for o in f.options],
            "initial_option": _option(f.options[0]),
        }
    elif f.kind == "check":
        element |= {"type": "checkboxes", "options": [_option("yes")]}
    elif f.kind == "datetime":  # Slack answers a Unix timestamp: no time zone to guess
        element |= {"type": "datetimepicker"}
    else:
        element |= {"type": "plain_text_input", "multiline": f.kind == "multiline"}
    return {
        "type": "input",
        "block_id": f.name,
        "optional": f.optional,
        "label": {"type": "plain_text", "text": f.label[:2000]},
        "element": element,
    }


def _option(value: str) -> dict:
    text = "let the decision tree decide" if value == DECIDE else value
    return {"text": {"type": "plain_text", "text": text}, "value": value}


def _value(f: Field, state: dict):
    if f.kind == "select":
        return (state.get("selected_option") or {}).get("value")
    if f.kind == "check":
        return bool(state.get("selected_options"))
    if f.kind == "datetime":
        return _picked(state.get("selected_date_time"))
    value = (state.get("value") or "").strip()
    if f.kind == "number" and value:
        return int(value) if value.isascii() and value.isdecimal() else value
    return value


def _picked(seconds: object) -> str | None:
    """A datetimepicker's Unix seconds as RFC 3339 UTC; what is no such time is passed on as
    text, so the model refuses it in the modal."""
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(int(seconds), UTC).isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        return f"not a time: {str(seconds)[:40]}"
