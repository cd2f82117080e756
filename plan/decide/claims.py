"""Who acted (issue 15) as deciders: a decision sent in someone's name without proof (the Web UI,
the CLI, a raw signal, with attestation keys on) is held as a claim — bound to exactly what it acts
on now — until that person confirms it with their own verified click, or says it wasn't them.
Pure: confirming hands the claim back to the router to apply as theirs (`Confirmed`)."""

from __future__ import annotations

from dataclasses import dataclass

from plan import buttons, templates
from plan.bounds import CLAIMS, over
from plan.decide import requests
from plan.decision import Actor, Draft, Verdict
from plan.effects import Notify
from plan.events import EventKind as K
from plan.incident import Claim
from plan.models import Role
from plan.signals import ConfirmClaim

PENDING_CLAIMS = 3  # decisions in one person's name waiting for their confirmation at once


@dataclass(frozen=True)
class Confirmed:
    """A confirmed claim, for the router to decide as its person's: the signal, its input (bound
    to what it acted on), and the chat user the confirmation proved."""

    signal: str
    value: dict
    user: str | None


def hold(d: Draft, signal: str, value: dict, by: str, bound: dict, described: str) -> None:
    """Hold `signal` (its input `value`, in `by`'s name) as a claim bound to `bound` (a request's
    digest), and ask `by`, directly, to confirm it."""
    s = d.s
    waiting = [c.claim_id for c in s.claims.values() if c.state == "pending" and c.by == by]
    if len(waiting) >= PENDING_CLAIMS:  # no flood of prompts to one person
        d.refuse(
            signal,
            f"{len(waiting)} decisions in {by}'s name already wait for their confirmation "
            f"({', '.join(waiting)}): they answer those first",
        )
    if why := over(len(s.claims), CLAIMS, "decisions sent in someone's name"):
        d.refuse(signal, why)
    claim_id = f"claim-{len(s.claims) + 1}"
    kept = {k: v for k, v in value.items() if k != "attestation"}
    s.claims = {
        **s.claims,
        claim_id: Claim(claim_id=claim_id, signal=signal, input={**kept, **bound}, by=by, at=d.now),
    }
    d.note(
        K.claimed,
        f"{signal} in {by}'s name came without proof ({claim_id}): it counts once {by} confirms it",
        by=by,
        claim_id=claim_id,
        signal=signal,
    )
    d.effect(
        Notify(
            key=claim_id,
            email=by,
            text=templates.claim_confirmation(d.given.incident_id, claim_id, signal, kept, described),
            buttons=tuple(buttons.claim(d.given.incident_id, claim_id)),
        )
    )
    d.verdict, d.claim_id = Verdict.held, claim_id


def hold_for(d: Draft, signal: str, accepted, value: dict) -> None:
    """A decision that needs proof and came without it: refused at once if it could not count
    whoever confirmed it (an approval's own rules), else held — bound to exactly the request it
    acts on now (its digest) — and its person asked."""
    if signal == "approve" and (why := requests.approval_refusal(d.s, d.policy, accepted, d.now, None)):
        d.refuse(signal, why)
    if signal == "deny" and (why := requests.denial_refusal(d.s, d.policy, accepted, d.now)):
        d.refuse(signal, why)
    bound, described = {}, ""
    if signal in ("approve", "deny") and (request := d.s.requests.get(accepted.request_id)):
        params = ", ".join(f"{k}={v}" for k, v in request.params.items())
        bound = {"digest": request.digest}
        described = f"{request.title} on {request.target}" + (f" ({params})" if params else "")
    hold(d, signal, value if isinstance(value, dict) else {}, accepted.by, bound, described)


def confirm_claim(d: Draft, answer: ConfirmClaim, actor: Actor) -> Confirmed | None:
    """The claimed person's verified answer: confirmed, the claim is handed back to be decided as
    theirs; disowned, a security notice in the bridge and to the Engineering Lead."""
    claim = d.s.claims.get(answer.claim_id)
    if claim is None or claim.state != "pending":
        d.refuse("confirm_claim", f"{answer.claim_id} is {claim.state if claim else 'unknown'}")
    if d.now - claim.at > d.policy.approval_expiry:  # a stale decision is not confirmed
        d.refuse("confirm_claim", f"{claim.claim_id} expired: send the decision again if it still holds")
    if not _same_person(d, claim.by, answer.by, actor.user):
        d.refuse("confirm_claim", f"only {claim.by} may answer {claim.claim_id}, not {answer.by}")
    state = "confirmed" if answer.confirmed else "disowned"
    d.s.claims = {**d.s.claims, claim.claim_id: claim.model_copy(update={"state": state})}
    if answer.confirmed:
        d.note(
            K.claim_confirmed,
            f"{claim.by} confirmed {claim.claim_id} ({claim.signal})",
            by=claim.by,
            claim_id=claim.claim_id,
            signal=claim.signal,
        )
        return Confirmed(claim.signal, claim.input, actor.user)
    notice = templates.claim_disowned(d.given.incident_id, claim.claim_id, claim.signal, claim.by)
    d.note(K.security, notice, by=claim.by, claim_id=claim.claim_id, signal=claim.signal)
    d.post("security", notice)
    d.effect(Notify(key=f"security-{claim.claim_id}", role=Role.engineering_lead, text=notice))
    return None


def _same_person(d: Draft, claimed: str, by: str, user: str | None) -> bool:
    """`by` (proved to be chat user `user`) is the person the claim names: the same email, or the
    roster's entry for that email names that chat user."""
    if claimed.lower() == by.lower():
        return True
    person = next((p for p in d.policy.roster.values() if p.email == claimed.lower()), None)
    return bool(person and user and user in person.contacts.values())
