"""What an incident does outside, as typed effects (issue 22). Pure data.

A decider says what should happen outside; the workflow's lanes do it (workflows/effects.py
runs each kind in its system's lane: pages in `paging`, the bridge and direct messages in
`chat`, the status page in `status`, approved actions in `actions`, the §8 ledger's tickets and
emails in theirs). What an effect's outcome means for the incident (a page that failed, a status
page incident's id) is decided again, by the decider the lane hands the result to."""

from __future__ import annotations

from dataclasses import dataclass

from plan.buttons import ChatButton
from plan.models import Role


@dataclass(frozen=True)
class Post:
    """A message in the bridge. `what` names it (and keys it: a retry never posts it twice)."""

    what: str
    text: str
    thread: bool = False  # in the opening's thread
    buttons: tuple[ChatButton, ...] = ()


@dataclass(frozen=True)
class OpenBridge:
    """§4.1: open #preskool-incident-<date> (private: for the people engaged), invite them, and
    post the §5.1 opening."""


@dataclass(frozen=True)
class Page:
    """Page these roles (each once per person: a role already paged is not paged again)."""

    roles: tuple[Role, ...]


@dataclass(frozen=True)
class Invite:
    """Invite these roles' holders to the bridge (looking up who is on call first)."""

    roles: tuple[Role, ...]


@dataclass(frozen=True)
class LookUpKeys:
    """Ask the workers for their current attestation public keys (plan/decide/keys.py)."""


@dataclass(frozen=True)
class LookUpOnCall:
    """Ask PagerDuty again who is on call (a handoff is announced), `why` said in the timeline."""

    why: str


@dataclass(frozen=True)
class Notify:
    """A direct message to a role's holder (`role`) or a person by email (`email`), keyed."""

    key: str
    text: str
    role: Role | None = None
    email: str | None = None
    buttons: tuple[ChatButton, ...] = ()


@dataclass(frozen=True)
class VerifyHolder:
    """Ask the chat provider whether `person` is a full member of the workspace before they take
    `role` (policy `roles.<role>.may_hold: verified_members`); then the role goes to them, as
    `how` said (`assign_role` or `handover`, with `note`), or it is refused with the reason."""

    role: Role
    person: str
    by: str
    how: str
    note: str = ""


@dataclass(frozen=True)
class OpenStatusPage:
    """§5.3 Investigating, for a severity with customer impact, once."""


@dataclass(frozen=True)
class PublishStatus:
    """A status-page update people chose to make public (§5.3)."""

    status: str
    title: str
    body: str
    component_status: str


@dataclass(frozen=True)
class RunAction:
    """Run an approved action's command once (§4.3), in the actions lane."""

    request_id: str


@dataclass(frozen=True)
class CarryOut:
    """Carry out an approved request the product itself owns: the §5.4 customer email, or a
    private incident's public statement."""

    request_id: str


@dataclass(frozen=True)
class Verify:
    """§4.5: verify recovery, then resolve (or force) as `by` asked."""

    by: str
    summary: str
    root_cause: str | None = None
    force_reason: str | None = None
    back_to: str = "FIX"  # the phase it returns to if recovery is not verified


@dataclass(frozen=True)
class Ticket:
    """A Jira ticket for the §8 ledger (an action item, the post-mortem), keyed."""

    key: str
    title: str
    description: str
    due: str  # ISO date
    owner: str | None = None


@dataclass(frozen=True)
class Escalate:
    """§8: a deliverable past its SLA, told once to the Engineering Lead (chat and email)."""

    deliverable: str


@dataclass(frozen=True)
class InviteToPostmortem:
    """§4.6: invite everyone involved to the post-mortem meeting (due at `due`, ISO)."""

    due: str


@dataclass(frozen=True)
class CloseOut:
    """§4.5 steps 4–6 once resolved: the status page, PagerDuty, the RESOLVED update, the
    post-mortem draft, the archived bridge; then REVIEW and the §8 ledger."""


@dataclass(frozen=True)
class Measure:
    """One of the incident metrics (workflows/metrics.py): a duration, in seconds, by severity, or
    a count (`seconds` None)."""

    name: str
    severity: str
    seconds: float | None = None


@dataclass(frozen=True)
class Promised:
    """A promise of the plan kept or missed (plan/compliance.py), counted by the worker's
    `irp_promises` metric: the promise's key family (`acknowledge`, `update`, a §8 key), the
    incident's severity, `kept` or `missed`. Nothing private: no ids, names or words."""

    promise: str
    severity: str
    outcome: str


Effect = (
    Measure
    | Promised
    | Post
    | OpenBridge
    | Page
    | Invite
    | LookUpOnCall
    | LookUpKeys
    | Notify
    | VerifyHolder
    | OpenStatusPage
    | PublishStatus
    | RunAction
    | CarryOut
    | Verify
    | Ticket
    | Escalate
    | InviteToPostmortem
    | CloseOut
)
