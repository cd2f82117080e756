"""What a person sends an incident, from the raw payload to the component that acts on it.

One path for every way in (a signal, the `act` update, the approval updates, a confirmed claim):
read as a person types it (plan/person_input.py), validated against the signal's model, the
people it names known, the authority checked, the proof of who acted weighed (identity.py),
then handed to the component the signal table names (workflows/signals.py). Anything refused
is told in the timeline and the bridge; an incident never fails because of what someone typed."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from plan import person_input
    from plan import signals as signals_plan
    from plan.models import ANYONE
    from plan.signals import Act, Outcome
    from workflows.approvals import Approvals
    from workflows.context import IncidentContext
    from workflows.identity import Identity
    from workflows.signals import BY_NAME, Signal


class People:
    def __init__(
        self, ctx: IncidentContext, identity: Identity, approvals: Approvals, handlers: dict[str, object]
    ) -> None:
        """`handlers`: the incident's components by the names the signal table uses."""
        self.ctx, self.approvals, self.handlers = ctx, approvals, handlers
        identity.apply_as, identity.refusal, identity.about = self.apply_as, self.refusal, self.about
        self.identity = identity

    def read(self, signal: Signal, payload: RawValue) -> None:
        """A signal's raw payload, read as a person types it, then applied."""
        reading = person_input.read(
            payload.payload.metadata.get("encoding", b"").decode(errors="replace"),
            payload.payload.data,
            payload.payload.metadata.get(person_input.SEALED_KEY_ID, b"").decode(errors="replace") or None,
        )
        if reading.refusal:
            self.ctx.refuse(signal.name, reading.refusal)
            return
        if reading.note:
            self.ctx.note("input", f"{signal.name}: {reading.note}")
        self.apply(signal, reading.value)

    def apply(self, signal: Signal, value: object) -> None:
        """Validate, check the people, the authority and (with attestation keys) the proof of
        who acted, then hand the input to its component."""
        ctx = self.ctx
        accepted = ctx.accept(signal.name, signal.model, value)
        gated = signal.authority is None or ctx.policy.authority.get(signal.authority) != ANYONE
        if accepted is None or not ctx.known_people(signal.name, gated, accepted):
            return
        if signal.authority and not ctx.allowed(signal.authority, accepted.by):
            return
        if self.identity.admit(signal.name, accepted, value):
            self._handle(signal, accepted)

    def outcome(self, act: Act) -> Outcome:
        """`act`: apply one signal and say what came of it: its refusal (the first reason it was
        refused for), else what it wrote in the timeline."""
        ctx, s = self.ctx, self.ctx.s
        noted, refused, requests = ctx.noted, len(ctx.refused), set(s.requests)
        self.apply(BY_NAME[act.signal], act.input)
        written = s.timeline[len(s.timeline) - (ctx.noted - noted) :] if ctx.noted > noted else []
        made = [r for r in s.requests if r not in requests]
        request_id = act.input.get("request_id") if isinstance(act.input, dict) else None
        asked = s.requests.get(request_id) if isinstance(request_id, str) else None
        waiting = act.signal == "approve" and asked is not None and asked.state == "pending"
        reason = ctx.refused[refused] if len(ctx.refused) > refused else None
        return signals_plan.outcome(act.signal, written, made, pending=waiting, refusal=reason)

    def apply_as(self, name: str, value: dict, user: str | None) -> None:
        """A confirmed claim: its input applied as its person's (proved to be chat user `user`)."""
        signal = BY_NAME[name]
        accepted = self.ctx.accept(name, signal.model, value)
        if accepted is None or (signal.authority and not self.ctx.allowed(signal.authority, accepted.by)):
            return
        self.ctx.verified_user = user
        self._handle(signal, accepted)

    def refusal(self, name: str, accepted: BaseModel) -> str | None:
        """Why a decision would be refused whoever confirmed it (approvals know; others don't)."""
        if name == "approve":
            return self.approvals.approval_refusal(accepted)
        if name == "deny":
            return self.approvals.denial_refusal(accepted)
        return None

    def about(self, name: str, accepted: BaseModel) -> tuple[dict, str]:
        """A claimed approval or denial is bound to the request as it is now (its digest)."""
        if name not in ("approve", "deny"):
            return {}, ""
        request = self.ctx.s.requests.get(accepted.request_id)
        if request is None:
            return {}, ""
        params = ", ".join(f"{k}={v}" for k, v in request.params.items())
        return {"digest": request.digest}, f"{request.title} on {request.target}" + (
            f" ({params})" if params else ""
        )

    def _handle(self, signal: Signal, accepted: BaseModel) -> None:
        component, method = signal.handler.split(".")
        try:
            getattr(self.handlers[component], method)(accepted)
        finally:
            self.ctx.verified_user = None
