"""§3, §4.3 and §7 as rules: who may approve an action, when its approvals are complete, and
exactly what it will run. Pure: the workflow keeps the requests and decides when."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from plan.models import ActionPolicy, Executor, Person, Policy, Role
from plan.signals import HumanInput

SAFE_ARG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/=@+-]{0,200}$")


class RequestState(StrEnum):
    """Where a request is in its one lifecycle (plan/decide/requests.py): pending → approved
    (complete for exactly what was asked) → running → done or failed; or denied, or expired."""

    pending = "pending"
    approved = "approved"
    denied = "denied"
    expired = "expired"
    running = "running"
    done = "done"
    failed = "failed"


class RequestAction(HumanInput):
    """`request_action`: ask for a risky or forbidden action."""

    request_id: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    action: str
    target: str = Field(pattern=SAFE_ARG.pattern)
    params: dict[str, str] = {}
    reason: str = Field(min_length=1, max_length=1000)


class Decide(HumanInput):
    """`approve` / `deny`."""

    request_id: str = Field(min_length=1, max_length=64)
    reason: str | None = Field(default=None, max_length=1000)
    digest: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{16}$",
        description="the exact request decided on (its digest): refused if the request has changed since",
    )


class ActionDone(HumanInput):
    """`action_done`: a person carried out an approved action without an executor."""

    request_id: str = Field(min_length=1, max_length=64)
    outcome: str = Field(min_length=1, max_length=2000)


class Approval(BaseModel):
    """One approval. `user`: the chat user an attestation proved it came from (None when the
    incident checks no attestations): distinct people are counted by it, not by email."""

    by: str
    roles: list[Role]
    at: datetime
    digest: str
    reason: str | None = None
    user: str | None = None

    @property
    def who(self) -> str:
        return self.user or self.by.lower()


class ActionRequest(BaseModel):
    """A request as the incident keeps it: what, by whom, its approvals, and what came of it."""

    request_id: str
    action: str
    title: str
    forbidden: bool
    target: str
    params: dict[str, str]
    by: str
    reason: str
    digest: str
    command: list[str] | None
    requested_at: datetime
    expires_at: datetime
    state: RequestState = RequestState.pending
    automatic: bool = False  # carried out by the product itself once approved (the §5.4 customer email)
    approvals: list[Approval] = []
    decided_by: str | None = None
    decided_at: datetime | None = None
    outcome: str | None = None
    exit_code: int | None = None


def digest(action: str, target: str, params: dict[str, str]) -> str:
    """What an approval binds to: the exact action, target and params."""
    canonical = json.dumps({"action": action, "target": target, "params": params}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def render_command(executor: Executor, target: str, params: dict[str, str]) -> list[str]:
    """The argv the action runs. Values go in whole, as single arguments, never through a shell."""
    values = {"target": target, **params}
    for name, value in values.items():
        if not SAFE_ARG.match(value):
            raise ValueError(
                f"{name}={value!r} is not a safe argument (letters, digits, _.:/=@+-, no leading -)"
            )
    try:
        return [part.format(**values) for part in executor.command]
    except KeyError as e:
        raise ValueError(f"the executor needs the param {e.args[0]!r}") from None


def refuse_request(policy: Policy, request: RequestAction) -> str | None:
    """Why a request cannot be taken, or None."""
    action = policy.actions.get(request.action)
    if action is None:
        return f"unknown action {request.action!r}; known: {', '.join(policy.actions)}"
    if action.executor:
        try:
            render_command(action.executor, request.target, request.params)
        except ValueError as e:
            return str(e)
    return None


def eligible_roles(action: ActionPolicy, roles: set[Role]) -> list[Role]:
    return [r for r in action.approvers if r in roles]


def refuse_approval(
    action: ActionPolicy,
    request: ActionRequest,
    by: str,
    roles: set[Role],
    now: datetime,
    user: str | None = None,
) -> str | None:
    """Why `by` (holding `roles`; proved to be chat user `user`, if known) cannot approve
    `request` now, or None. One person is one approver, whichever email they use."""
    if request.state == "expired" or (request.state == "pending" and now >= request.expires_at):
        return f"request {request.request_id} expired at {request.expires_at:%H:%M UTC}; request it again"
    if request.state != "pending":
        return f"request {request.request_id} is already {request.state}"
    if by.lower() == request.by.lower():
        return f"{by} requested {request.request_id} and cannot approve it"
    if not eligible_roles(action, roles):
        needed = ", ".join(r.title for r in action.approvers)
        return f"{by} may not approve {request.action}: it needs {needed}"
    if any(a.who in (by.lower(), user) and a.digest == request.digest for a in request.approvals):
        return f"{by} already approved {request.request_id}"
    return None


def approvals_complete(action: ActionPolicy, request: ActionRequest) -> bool:
    """Enough distinct approvers, every required role among them, none the requester, all for
    exactly this action, target and params."""
    valid = [
        a for a in request.approvals if a.digest == request.digest and a.by.lower() != request.by.lower()
    ]
    people = {a.who for a in valid}
    held = {r for a in valid for r in a.roles}
    return len(people) >= action.approvals and set(action.required) <= held


def who_may_approve(
    policy: Policy, action: ActionPolicy, holder: Callable[[Role], Person | None] | None = None
) -> str:
    """For the bridge: how many approvals, from whom. `holder` says who holds a role now (the
    incident's: an assignment, PagerDuty's on-call); the roster's by default."""
    holder = holder or policy.person
    names = [f"{r.title} ({p.name})" if (p := holder(r)) else r.title for r in action.approvers]
    need = f"{action.approvals} approval{'s' if action.approvals > 1 else ''} from " + ", ".join(names)
    if action.required:
        need += "; must include " + ", ".join(r.title for r in action.required)
    return need + "; never the requester"
