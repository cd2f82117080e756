"""Who acted (issue 15): a decision proves its person with an attestation, or waits for them.

With attestation keys pinned (the worker's IRP_ATTESTATION_PUBLIC_KEYS), a gated decision — approve
or deny a §4.3/§7 action, force a resolve, waive a deliverable, change severity, assign a role —
counts only when it carries the receiver's attestation for exactly that decision, or when the
person it names confirms it with their own verified click. Without keys, `by` is believed, as
before, so drills without a chat app still run."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from plan import Role, buttons, templates
    from plan.attestation import MAX_AGE, key_id, refusal
    from plan.bounds import CLAIMS, over
    from plan.incident import Claim
    from plan.signals import ConfirmClaim
    from workflows.bridge import Bridge
    from workflows.context import IncidentContext

# Decisions whose person must be proved (issue 15, item 6); `resolve` only when forced. A request
# is proved too: its requester may never approve it, so who asked must be known.
PROVED = {
    "approve",
    "deny",
    "waive_deliverable",
    "set_severity",
    "assign_role",
    "confirm_claim",
    "request_action",
    "edit_customer_email",
}


PENDING_CLAIMS = 3  # decisions in one person's name waiting for their confirmation at once


def needs_proof(signal: str, accepted: BaseModel) -> bool:
    return signal in PROVED or (signal == "resolve" and bool(getattr(accepted, "force_reason", None)))


class Identity:
    LANE = "chat"

    def __init__(self, ctx: IncidentContext, bridge: Bridge) -> None:
        self.ctx, self.bridge = ctx, bridge
        # Applies a confirmed claim's input as its person's (set by the workflow).
        self.apply_as: Callable[[str, dict, str], None] = lambda signal, value, user: None
        # Why a decision could not count even if confirmed (set by the workflow): refused at
        # once, so nobody is asked to confirm what would be refused anyway.
        self.refusal: Callable[[str, BaseModel], str | None] = lambda signal, accepted: None
        # What a decision acts on (set by the workflow): (fields that bind the claim to exactly
        # that — a request's digest — and its words for the confirmation).
        self.about: Callable[[str, BaseModel], tuple[dict, str]] = lambda signal, accepted: ({}, "")

    @property
    def checking(self) -> bool:
        return bool(self.ctx.policy.attestation_keys)

    def admit(self, signal: str, accepted: BaseModel, value: dict) -> bool:
        """Whether `accepted` (read from `value`) goes ahead now. A bad attestation is refused; a
        decision that needs proof and has none becomes a claim. Sets ctx.verified_user."""
        attestation = getattr(accepted, "attestation", None)
        if attestation is None or not self.checking:
            if self.checking and needs_proof(signal, accepted):
                if signal == "confirm_claim":
                    self.ctx.refuse(signal, "a claim is confirmed only by its person's own click in chat")
                elif why := self.refusal(signal, accepted):
                    self.ctx.refuse(signal, why)
                else:
                    self.claim(signal, value, accepted)
                return False
            return True
        keys = {key_id(k): k for k in map(base64.b64decode, self.ctx.policy.attestation_keys)}
        now, s = workflow.now(), self.ctx.s
        why = refusal(
            attestation, keys, incident_id=self.ctx.incident_id, signal=signal,
            signal_input=value, by=accepted.by, now=now, seen=set(s.nonces),
        )  # fmt: skip
        if why:
            self.ctx.refuse(signal, f"attestation refused: {why}")
            return False
        s.nonces = {n: at for n, at in s.nonces.items() if now - at <= MAX_AGE + timedelta(minutes=1)}
        s.nonces[attestation.nonce] = attestation.at
        self.ctx.verified_user = attestation.user
        return True

    def claim(self, signal: str, value: dict, accepted: BaseModel) -> None:
        """Hold the decision, bound to exactly what it acts on now; ask its person, directly, to
        confirm it."""
        s, by = self.ctx.s, accepted.by
        waiting = [c.claim_id for c in s.claims.values() if c.state == "pending" and c.by == by]
        if s.refusals is not None and len(waiting) >= PENDING_CLAIMS:  # no flood of prompts to one person
            self.ctx.refuse(
                signal, f"{len(waiting)} decisions in {by}'s name already wait for their confirmation "
                f"({', '.join(waiting)}): they answer those first",
            )  # fmt: skip
            return
        if s.refusals is not None and (
            why := over(len(s.claims), CLAIMS, "decisions sent in someone's name")
        ):
            self.ctx.refuse(signal, why)
            return
        claim_id = f"claim-{len(s.claims) + 1}"
        bound, described = self.about(signal, accepted)
        kept = {k: v for k, v in value.items() if k != "attestation"}
        s.claims[claim_id] = Claim(
            claim_id=claim_id, signal=signal, input={**kept, **bound}, by=by, at=workflow.now()
        )
        self.ctx.note(
            "claimed",
            f"{signal} in {by}'s name came without proof ({claim_id}): it counts once {by} confirms it",
            by=by,
        )
        self.bridge.notify_email(
            by,
            claim_id,
            templates.claim_confirmation(self.ctx.incident_id, claim_id, signal, kept, described),
            buttons.claim(self.ctx.incident_id, claim_id),
        )

    def confirm_claim(self, answer: ConfirmClaim) -> None:
        """The claimed person's verified answer: confirmed, the decision is applied as theirs;
        disowned, a security notice in the bridge and to the Engineering Lead."""
        ctx = self.ctx
        claim = ctx.s.claims.get(answer.claim_id)
        if claim is None or claim.state != "pending":
            ctx.refuse("confirm_claim", f"{answer.claim_id} is {claim.state if claim else 'unknown'}")
            return
        if workflow.now() - claim.at > ctx.policy.approval_expiry:  # a stale decision is not confirmed
            ctx.refuse(
                "confirm_claim", f"{claim.claim_id} expired: send the decision again if it still holds"
            )
            return
        if not self._same_person(claim.by, answer.by, ctx.verified_user):
            ctx.refuse("confirm_claim", f"only {claim.by} may answer {claim.claim_id}, not {answer.by}")
            return
        if answer.confirmed:
            claim.state = "confirmed"
            ctx.note(
                "claim-confirmed", f"{claim.by} confirmed {claim.claim_id} ({claim.signal})", by=claim.by
            )
            self.apply_as(claim.signal, claim.input, ctx.verified_user)
            return
        claim.state = "disowned"
        notice = templates.claim_disowned(ctx.incident_id, claim.claim_id, claim.signal, claim.by)
        ctx.note("security", notice, by=claim.by)
        self.bridge.post(notice, "security")
        self.bridge.notify(Role.engineering_lead, f"security-{claim.claim_id}", notice)

    def _same_person(self, claimed: str, by: str, user: str | None) -> bool:
        """`by` (proved to be chat user `user`) is the person the claim names: the same email, or
        the roster's entry for that email names that chat user."""
        if claimed.lower() == by.lower():
            return True
        person = next((p for p in self.ctx.policy.roster.values() if p.email == claimed.lower()), None)
        return bool(person and user and user in person.contacts.values())
