"""What a person sends an incident, read the way people type it: one JSON object, taken from the
raw payload so that nothing undecodable is dropped before the incident sees it. Pure.

`read(encoding, data, key_id)` answers a `Reading`: the object (and a note when it took an
unambiguous liberty: one level of string encoding, a list of one object), or the reason it
cannot, in words a person can act on. `encoding` and `key_id` come from the payload's metadata
(Temporal's `json/plain`; `binary/encrypted` with the `encryption-key-id` of connection/codec.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SMART_QUOTES = "“”‘’„‟«»"
JSON = "json/plain"
# How connection/codec.py marks a sealed payload, and names its key.
SEALED = "binary/encrypted"
SEALED_KEY_ID = "encryption-key-id"
# How the worker's codec marks a payload of a key it has that does not open (passed on, refused).
UNOPENED = "binary/unopened"


@dataclass(frozen=True)
class Reading:
    """`value` is a dict when the input can be used; otherwise `refusal` says why."""

    value: dict | None = None
    note: str | None = None
    refusal: str | None = None


def read(encoding: str, data: bytes, key_id: str | None = None) -> Reading:
    """One JSON object from a payload, or the reason it is not one."""
    key = (key_id or "(no key id)")[:32]
    if encoding == UNOPENED:
        return Reading(
            refusal=f"sealed with payload key {key}, but it does not open (altered, truncated, or "
            "sealed by another key with that id): send it again"
        )
    if encoding == SEALED:
        return Reading(
            refusal=f"sealed with payload key {key}, which the workers do not "
            "have: add that key to IRP_PAYLOAD_OLD_KEYS on the workers (or send with their key)"
        )
    if encoding == "binary/null":
        return Reading(refusal='no input: send one JSON object, e.g. {"by": "you@preskool.com"}')
    if encoding != JSON:
        return Reading(refusal=f"payload encoding {encoding or '(none)'} is not JSON: send one JSON object")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return Reading(refusal=f"not UTF-8 text (byte {e.start}): send one JSON object")
    return _object(text)


def read_text(text: str) -> Reading:
    """One JSON object from text a person typed (the CLI's `irp signal`), read as the incident
    reads a signal's payload: the same liberties, the same reasons."""
    return _object(text)


def _object(text: str) -> Reading:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        return Reading(refusal=_why_not_json(text, e))
    except (ValueError, RecursionError) as e:  # an integer of 5,000 digits, 100,000 nested brackets
        return Reading(
            refusal=f"not JSON this incident can take ({type(e).__name__}: {str(e)[:120]}): "
            "send one plain JSON object"
        )
    if isinstance(value, str):
        inner = _object(value) if value.lstrip()[:1] in ("{", "[", '"') else None
        if inner and inner.value is not None:
            return Reading(
                value=inner.value, note="the JSON object came as a JSON string; read it as the object"
            )
        return Reading(refusal=f"a JSON string ({value[:40]!r}), not an object: send one JSON object")
    if isinstance(value, list):
        if len(value) == 1 and isinstance(value[0], dict):
            return Reading(value=value[0], note="a list of one object; read it as that object")
        return Reading(refusal=f"a list of {len(value)} item(s): send one JSON object, not a list")
    if not isinstance(value, dict):
        return Reading(refusal=f"a JSON {type(value).__name__}, not an object: send one JSON object")
    return Reading(value=value)


def _why_not_json(text: str, e: json.JSONDecodeError) -> str:
    where = f"not valid JSON at character {e.pos + 1}"
    if quote := next((q for q in SMART_QUOTES if q in text), None):
        first = text.index(quote) + 1
        return (
            f'not valid JSON at character {first}: use straight quotes (") instead of {quote} (a chat app '
            "or word processor changed them)"
        )
    if _trailing_comma(text, e.pos):
        return f"{where}: remove the comma before the closing bracket"
    return f"{where}: {e.msg}"


def _trailing_comma(text: str, pos: int) -> bool:
    before = text[:pos].rstrip()
    return before.endswith(",") and text[pos:].lstrip()[:1] in ("}", "]")


# The largest update input an incident takes, in bytes of JSON: every validator refuses more, so
# no accepted update fills the incident's history. Temporal's worker echoes an update's input back
# to the server when it accepts or rejects it, and fails the workflow task for good when that echo
# is over the namespace's 2 MiB payload limit: an update that large wedges any workflow, whatever
# its code. The server's `history.maxInFlightUpdatePayloads` (devstack/devserver.py
# UPDATE_PAYLOAD_LIMIT; docs/operating.md) refuses such an update before it reaches a worker.
MAX_UPDATE_BYTES = 512 * 1024


def too_large(value: Any) -> str | None:
    """Why an update's input (decoded JSON, or a pydantic model) is refused for its size or depth,
    or None. For validators: raises nothing."""
    try:
        size = len(
            value.model_dump_json() if hasattr(value, "model_dump_json") else json.dumps(value, default=str)
        )
    except (RecursionError, ValueError, TypeError) as e:
        return f"an input this incident cannot read ({type(e).__name__}): send one plain JSON object"
    if size > MAX_UPDATE_BYTES:
        return f"an input of {size:,} bytes (at most {MAX_UPDATE_BYTES:,}): send less"
    return None
