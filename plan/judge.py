"""Who sent this, and may they? (§3, §7; issues 14 and 15). Pure.

Every input a person sends takes one path, whichever door it came by (a signal, the `act`
update, the approval updates, a confirmed claim): `judge` it, then hand it to its decider. The
judge answers a Judgement: the input as its model (or the refusal of what does not fit it), and
who acted — a known person, with the roles they hold and, when the chat app attested it, the
chat user it proved. Refused here: an unknown person for a decision that needs a known one, an
authority the person lacks, an attestation that does not prove exactly this decision. Held as a
claim: a decision that needs proof (attestation keys on) and came without it — its person is
asked, directly, to confirm it (plan/claims.py)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ValidationError

from plan.attestation import MAX_AGE, key_id, refusal
from plan.decision import NOTHING, Decision, refused
from plan.events import Event, EventKind
from plan.holders import roles_of, stranger
from plan.incident import IncidentState
from plan.models import ANYONE, GatedAction, Policy, Role

# Decisions whose person must be proved (issue 15); `resolve` only when forced. A request is proved
# too: its requester may never approve it, so who asked must be known.
PROVED = frozenset(
    {
        "approve",
        "deny",
        "waive_deliverable",
        "set_severity",
        "assign_role",
        "confirm_claim",
        "request_action",
        "edit_customer_email",
    }
)


@dataclass(frozen=True)
class Actor:
    """Who acted: their email, the roles they hold now, and the chat user an attestation proved
    (None when not attested)."""

    email: str
    roles: frozenset[Role]
    user: str | None = None


@dataclass(frozen=True)
class Judgement:
    """`accepted` and `actor` are set when the input goes on to its decider; otherwise `decision`
    says why not (refused, or held as a claim). `decision` also carries what judging itself
    changed (a flagged stranger, a nonce now used)."""

    decision: Decision = NOTHING
    accepted: BaseModel | None = None
    actor: Actor | None = None
    needs_proof: bool = False  # it would go ahead, but only once its person proves it (a claim)


def needs_proof(signal: str, accepted: BaseModel) -> bool:
    return signal in PROVED or (signal == "resolve" and bool(getattr(accepted, "force_reason", None)))


def validated(signal: str, model: type[BaseModel], value: object) -> BaseModel | Decision:
    """The input as its model, or the refusal of what does not fit, field by field."""
    try:
        return model.model_validate(value)
    except ValidationError as e:
        reason = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'input'}: {err['msg']}" for err in e.errors())
        return refused(signal, reason)


def known(state: IncidentState, policy: Policy, signal: str, gated: bool, accepted: BaseModel) -> Decision:
    """A person is someone the roster names (or PagerDuty's on-call). An unknown `by` or
    `person` refuses a gated decision; a step anyone may take goes ahead, flagged — unless the
    chat app vouched for who this is: a chat user in no roster is refused."""
    attested = getattr(accepted, "attestation", None) is not None
    flags: list[Event] = []
    for field in ("by", "person"):
        email = getattr(accepted, field, None)
        why = email and stranger(state, policy, email)
        if not why:
            continue
        if gated or attested or field == "person":
            return refused(signal, f"unknown person: {why}")
        flags.append(
            Event(kind=EventKind.not_in_roster, text=f"{signal} by {why}: accepted, flagged", by=email, signal=signal)
        )
    return Decision(events=tuple(flags))


def authorised(state: IncidentState, policy: Policy, action: GatedAction, by: str) -> Decision:
    """The policy's authority for `action`; a refusal names who may."""
    if policy.may(action, roles_of(state, policy, by)):
        return NOTHING
    needed = ", ".join(r.title for r in policy.authority.get(action) or [])
    return refused(action.value, f"{by} may not {action.value.replace('_', ' ')}: it needs {needed or 'nobody'}")


def proved(
    state: IncidentState, policy: Policy, incident_id: str, signal: str, accepted: BaseModel, value: dict, now: datetime
) -> tuple[Decision, str | None]:
    """With attestation keys pinned: an attestation must prove exactly this decision (refused if
    not; its nonce is then used up); none, on a decision that needs proof, is for a claim
    (Verdict.held with no claim yet: the caller makes it). Answers the decision and the chat
    user proved (None when not attested)."""
    attestation = getattr(accepted, "attestation", None)
    if not policy.attestation_keys:
        return NOTHING, None
    if attestation is None:
        if not needs_proof(signal, accepted):
            return NOTHING, None
        if signal == "confirm_claim":
            return refused(signal, "a claim is confirmed only by its person's own click in chat"), None
        return Decision(verdict="held"), None
    keys = {key_id(k): k for k in map(base64.b64decode, policy.attestation_keys)}
    why = refusal(
        attestation, keys, incident_id=incident_id, signal=signal,
        signal_input=value, by=accepted.by, now=now, seen=set(state.nonces),
    )  # fmt: skip
    if why:
        return refused(signal, f"attestation refused: {why}"), None
    nonces = {n: at for n, at in state.nonces.items() if now - at <= MAX_AGE + timedelta(minutes=1)}
    return Decision(changes={"nonces": {**nonces, attestation.nonce: attestation.at}}), attestation.user


def gated(policy: Policy, authority: GatedAction | None) -> bool:
    """A decision that needs a known person: any but the steps anyone may take."""
    return authority is None or policy.authority.get(authority) != ANYONE
