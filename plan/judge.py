"""Who sent this, and may they? (§3, §7; issues 14 and 15). Pure.

Every input a person sends takes one path, whichever door it came by (a signal, the `act`
update, the approval updates, a confirmed claim): `take` reads it as its model, judges the person
— known (the roster, or PagerDuty's on-call), holding the authority it needs, and, with
attestation keys on, proved to be who it says — and hands it to its decider. Refused on the way:
what does not fit the model, an unknown person for a decision that needs a known one, an authority
the person lacks, an attestation that does not prove exactly this decision. Held as a claim: a
decision that needs proof and came without it (plan/decide/claims.py)."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from plan.attestation import MAX_AGE, MAX_AHEAD, refusal
from plan.decide.claims import hold_for
from plan.decide.keys import known_keys, wait_for_keys
from plan.decide.roles import PATCH as ROLES_PATCH
from plan.decision import Actor, Draft
from plan.events import EventKind
from plan.holders import roles_of, stranger
from plan.models import ANYONE, GatedAction

# Decisions whose person must be proved (issue 15); `resolve` only when forced. A request is proved
# too: its requester may never approve it, so who asked must be known.
PROVED = frozenset(
    {
        "approve",
        "deny",
        "waive_deliverable",
        "set_severity",
        "assign_role",
        "handover",
        "confirm_claim",
        "request_action",
        "edit_customer_email",
    }
)


class Input(Protocol):
    """A row of the signal table (workflows/signals.py): its name, model, authority and decider."""

    name: str
    model: type[BaseModel]
    authority: GatedAction | None
    decide: Any


def take(
    d: Draft,
    row: Input,
    value: object,
    confirmed: tuple[str | None] | None = None,
    looked_up: bool = False,
) -> Any:
    """One person's input, judged then decided, into `d`; answers what its decider answers (a
    confirmed claim, for the router to take as its person's). `confirmed`: (the chat user) of a
    confirmed claim, whose proof is that person's own click, not an attestation. `looked_up`: the
    workers' current keys were asked for since it came (a key still unknown is then refused)."""
    accepted = validated(d, row.name, row.model, value)
    known(d, row.name, gated(d, row.authority), accepted)
    if row.authority:
        authorised(d, row.authority, accepted.by)
    signed = value if isinstance(value, dict) else {}
    user = confirmed[0] if confirmed else prove(d, row.name, accepted, signed, looked_up)
    if user is HELD:
        return hold_for(d, row.name, accepted, value)
    if user is NEW_KEY:
        return wait_for_keys(d, row.name, value, accepted.attestation.key_id)
    email = getattr(accepted, "by", "")
    actor = Actor(
        email=email, roles=frozenset(roles_of(d.s, d.policy, email)) if email else frozenset(), user=user
    )
    return row.decide(d, accepted, actor)


def validated(d: Draft, signal: str, model: type[BaseModel], value: object) -> BaseModel:
    """The input as its model, or refused field by field."""
    try:
        return model.model_validate(value)
    except ValidationError as e:
        d.refuse(
            signal,
            "; ".join(f"{'.'.join(map(str, err['loc'])) or 'input'}: {err['msg']}" for err in e.errors()),
        )


def gated(d: Draft, authority: GatedAction | None) -> bool:
    """A decision that needs a known person: any but the steps anyone may take."""
    return authority is None or d.policy.authority.get(authority) != ANYONE


def known(d: Draft, signal: str, gated: bool, accepted: BaseModel) -> None:
    """An unknown `by` or `person` refuses a gated decision; a step anyone may take goes ahead,
    flagged — unless the chat app vouched for who this is: a chat user in no roster is refused."""
    attested = getattr(accepted, "attestation", None) is not None
    for field in ("by", "person"):
        email = getattr(accepted, field, None)
        why = email and stranger(d.s, d.policy, email)
        if not why or (field == "person" and takes_role(d, signal)):
            continue
        if gated or attested or field == "person":
            d.refuse(signal, f"unknown person: {why}")
        d.note(
            EventKind.not_in_roster,
            f"{signal} by {why}: accepted, flagged",
            by=email,
            signal=signal,
            reason=why,
        )


def takes_role(d: Draft, signal: str) -> bool:
    """A role given or handed over to someone outside the roster: its decider applies the role's
    rule (plan/decide/roles.py; incidents begun before issue 23 refuse them here, as they did)."""
    return signal == "handover" or (signal == "assign_role" and d.given.patched(ROLES_PATCH))


def authorised(d: Draft, action: GatedAction, by: str, signal: str | None = None) -> None:
    """The policy's authority for `action`; a refusal (of `signal`, the input sent: `action` by
    default) names who may."""
    if d.policy.may(action, roles_of(d.s, d.policy, by)):
        return
    needed = ", ".join(r.title for r in d.policy.authority.get(action) or []) or "nobody"
    d.refuse(signal or action.value, f"{by} may not {action.value.replace('_', ' ')}: it needs {needed}")


HELD = object()  # prove(): no proof, on a decision that needs it — a claim
NEW_KEY = object()  # prove(): signed with a key the incident has not pinned — ask the workers first


def needs_proof(signal: str, accepted: BaseModel) -> bool:
    return signal in PROVED or (signal == "resolve" and bool(getattr(accepted, "force_reason", None)))


def prove(
    d: Draft, signal: str, accepted: BaseModel, value: dict, looked_up: bool = False
) -> str | object | None:
    """With attestation keys pinned: an attestation must prove exactly this decision (refused if
    not; its nonce is then used up); none, on a decision that needs proof, is for a claim (HELD);
    one signed with a key new to the incident waits for the workers' current keys (NEW_KEY)
    unless they were just asked (`looked_up`). Answers the chat user proved, or None (not
    attested, or no keys: `by` is believed)."""
    attestation = getattr(accepted, "attestation", None)
    if not d.policy.attestation_keys:
        return None
    if attestation is None:
        if not needs_proof(signal, accepted):
            return None
        if signal == "confirm_claim":
            d.refuse(signal, "a claim is confirmed only by its person's own click in chat")
        return HELD
    keys = known_keys(d)
    if attestation.key_id not in keys and not looked_up:
        return NEW_KEY
    why = refusal(
        attestation,
        keys,
        incident_id=d.given.incident_id,
        signal=signal,
        signal_input=value,
        by=accepted.by,
        now=d.wall,  # dated by the receiver's clock, not a drill's sped-up one (plan/drill_clock.py)
        seen=set(d.s.nonces),
    )
    if why:
        d.refuse(signal, f"attestation refused: {why}")
    kept = {n: at for n, at in d.s.nonces.items() if d.wall - at <= MAX_AGE + MAX_AHEAD}
    d.s.nonces = {**kept, attestation.nonce: attestation.at}
    return attestation.user
