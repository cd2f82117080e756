"""The incident as the workflow keeps it. All of it is one model, so continue-as-new carries it
whole, with absolute deadlines rather than timers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from plan.alerts import AlertmanagerDelivery, Declaration
from plan.approvals import ActionRequest
from plan.deliverables import Deliverable
from plan.drill_clock import DrillClock
from plan.events import TimelineEntry
from plan.models import Phase, Policy, Raci, Role, Severity
from plan.oncall import Holder
from plan.refusals import RefusalLog
from plan.severity import SeverityDecision
from plan.signals import Acknowledge


class Page(BaseModel):
    role: Role
    person: str | None
    dedup_key: str
    outcome: Literal["paged", "skipped", "failed"]
    detail: str = ""
    at: datetime
    resolved: bool = False


class RoleAssignment(BaseModel):
    role: Role
    letter: Raci
    engaged: Literal["paged", "invited", "informed", "none"]
    person: str | None = None
    name: str | None = None
    checklist_done: list[int] = []  # the role's checklist items its holder ticked (issue 23)


class Bridge(BaseModel):
    channel: str | None = None
    channel_id: str | None = None
    opening_message_id: str | None = None  # the §5.1 opening, which the triage checklist threads under
    skipped: str | None = None
    archived: bool = False


class BlastRadius(BaseModel):
    scope: Literal["all", "many", "tenant", "endpoint"]
    tenants: list[str] = []
    endpoints: list[str] = []
    by: str
    at: datetime


class Cadence(BaseModel):
    """§5.2: when the next update is due, and how often it was missed."""

    last_update_at: datetime
    next_due: datetime | None = None
    updates_posted: int = 0
    overdue_updates: int = 0


class Resolution(BaseModel):
    by: str
    summary: str
    root_cause: str | None = None
    forced: bool = False
    force_reason: str | None = None
    at: datetime


class GateCheck(BaseModel):
    name: str
    passed: bool
    detail: str


class GateRun(BaseModel):
    at: datetime
    by: str
    passed: bool
    checks: list[GateCheck] = []
    note: str = ""


class Claim(BaseModel):
    """A gated decision sent in `by`'s name from the Web UI or the CLI while the incident checks
    attestations: held until `by` confirms it with a verified click (or says it wasn't them)."""

    claim_id: str
    signal: str
    input: dict
    by: str
    at: datetime
    state: Literal["pending", "confirmed", "disowned"] = "pending"


class PinnedMessage(BaseModel):
    """A bridge message put in the timeline with the pin emoji (§4.6 post-mortem draft)."""

    message_id: str
    author: str
    text: str
    at: datetime
    by: str


class AwaitingKeys(BaseModel):
    """A person's input signed with a key this incident has not pinned (a rotation since it
    opened): held while its workers are asked for their current keys (plan/decide/keys.py).
    `value` is the input as read (plan/person_input.py), taken again once the keys are known."""

    signal: str
    value: Any
    key_id: str


class IncidentState(BaseModel):
    # The problem's earliest known start, UTC (plan/start.py); §4's windows and MTTA/MTTR count
    # from it. On incidents opened before the `v1.1` patch: when the incident heard of it.
    started_at: datetime
    received_at: datetime | None = None  # when the incident first heard of it; None before `v1.1`
    start_believed: bool = True  # False: no start the field gave was believed (started_at is the receipt)
    phase: Phase = Phase.DETECTION
    phases: dict[Phase, datetime] = {}
    decision: SeverityDecision | None = None
    summary: str = ""
    impact: str = ""
    private: bool = False  # need-to-know (plan/privacy.py): nothing public until a statement is approved
    public_statement: bool = False  # a private incident's public statement was approved and made
    source: str = "preskool-irp"
    runbook: str | None = None
    # This start of the incident in outside systems' keys (plan/outward.py); "" on an incident
    # begun before them: its keys stay its incident id.
    outward_id: str = ""
    deliveries: int = 0
    alerts_resolved: bool = False
    alerts_ended: dict[str, float] = {}  # fingerprint → latest endsAt seen (Unix seconds), bounded
    declared_severity_by: str | None = None  # who last set the severity by hand
    assignments: dict[Role, str] = {}
    checklists: dict[Role, list[int]] = {}  # the checklist items ticked by each role's holders (issue 23)
    on_call: dict[Role, Holder] = {}  # roles whose holder PagerDuty knows, as the last look settled them
    shift_look_asked: datetime | None = None  # when a shift's end last asked for a look (plan/oncall.py)
    paged: list[Page] = []
    bridge: Bridge = Bridge()
    # "<channel id> <email>" → why that person could not be invited to that bridge (said once)
    not_invited: dict[str, str] = {}
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    escalated_unacknowledged: bool = False
    windows_nudged: list[Phase] = []
    cadence: Cadence | None = None
    blast_radius: BlastRadius | None = None
    status_page_id: str | None = None
    mitigated_at: datetime | None = None
    resolution: Resolution | None = None
    gate_runs: list[GateRun] = []
    pagerduty_events: list[str] = []
    posts: int = 0
    requests: dict[str, ActionRequest] = {}
    ledger_opened: bool = False
    claims: dict[str, Claim] = {}  # decisions sent in someone's name without an attestation (issue 15)
    nonces: dict[str, datetime] = {}  # attestation nonces seen in the last MAX_AGE (replays refused)
    learned_keys: list[str] = []  # attestation public keys (base64) learned from the workers since the pin
    awaiting_keys: list[AwaitingKeys] = []  # decisions signed with a key new to this incident
    keys_asked: bool = False  # a look-up of the workers' current keys is on its way
    pins: dict[str, PinnedMessage] = {}  # bridge messages pinned to the timeline, by message id
    declaration_digest: str | None = None  # Declaration.digest of the body that opened it, if declared
    declaration_answers: int = 0  # how often `opened` answered: a retried declaration is not created twice
    ledger: list[Deliverable] = []
    tickets: dict[str, str] = {}
    postmortem_draft: str = ""
    customer_email: dict[str, str] = {}
    escalations: int = 0
    runs: int = 1
    # Bounds a flood of refusals (plan/refusals.py); None in incidents begun before it (unbounded).
    refusals: RefusalLog | None = None
    moves_in_review: bool = False  # to the deployment's current build in REVIEW (workflows/upgrade.py)
    moved_from: str | None = None  # the build a REVIEW move last started from (workflows/upgrade.py)
    # A drill's sped-up clock (plan/drill_clock.py; drill mode only); None: the incident's time is Temporal's.
    drill_clock: DrillClock | None = None
    timeline_dropped: int = 0  # older timeline entries let go (plan/bounds.py); the history has them
    action_items: int | None = None  # post-mortem action items added (None: count them in the timeline)
    timeline: list[TimelineEntry] = []


def carried(state: IncidentState) -> IncidentState:
    """A state carried into a new run (continue-as-new), brought to this code's shape: what an
    earlier build left unset is set as that build would have counted it — the refusal log, the
    action items (counted from the timeline: their numbers go on, never restart), the move to the
    current build in REVIEW, a pin's message id. A state this code wrote is unchanged. Changes
    `state` in place."""
    if state.refusals is None:
        state.refusals = RefusalLog()
    if state.action_items is None:
        state.action_items = sum(e.kind == "action-item" for e in state.timeline)
    for entry in state.timeline:  # v1.1 wrote a pin's message id only in its words: `… · message <id>`
        if entry.kind == "pinned" and entry.message_id is None:
            said = entry.text.rsplit(" · message ", 1)
            entry.message_id = said[1] if len(said) == 2 and said[1] in state.pins else None
    state.moves_in_review = True
    return state


class IncidentInput(BaseModel):
    """How an incident workflow starts: alert deliveries arrive by update, a declaration here.
    `policy` and `state` are set only when the incident continues as new: a new incident pins
    the worker's policy itself, once, in its own history."""

    incident_id: str
    policy: Policy | None = None
    declaration: Declaration | None = None
    group_key: str | None = None
    state: IncidentState | None = None


class IncidentStatus(BaseModel):
    """What `status` answers: enough to run the incident from the CLI or the UI."""

    incident_id: str
    # What outside systems know this start of the incident by: its dedup keys, Message-IDs, Jira
    # labels and Statuspage metadata (plan/outward.py); the incident id on one begun before.
    outward_id: str = ""
    severity: Severity | None
    severity_reasons: list[str]
    phase: Phase
    phases: dict[Phase, datetime]
    summary: str
    impact: str
    started_at: datetime  # when the problem began (UTC), as best known (plan/start.py)
    received_at: datetime | None = None  # when the incident first heard of it
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    roles: list[RoleAssignment]
    channel: str | None
    channel_id: str | None = None
    paged: list[Page]
    deliveries: int
    blast_radius: BlastRadius | None = None
    cadence: Cadence | None = None
    status_page_id: str | None = None
    private: bool = False  # need-to-know (README: Private incidents)
    pin_emoji: str = "pushpin"  # the policy's: a reaction with it on a bridge message pins it (§4.6)
    resolution: Resolution | None = None
    gate_runs: list[GateRun] = []
    requests: list[ActionRequest] = []
    deliverables: list[Deliverable] = []
    tickets: dict[str, str] = {}
    runs: int = 1
    refusals_not_kept: int = 0  # older refusals let go of the timeline (plan/refusals.py)
    timeline_not_kept: int = 0  # older timeline entries let go (plan/bounds.py); the history has them
    # A drill's sped-up clock (plan/drill_clock.py): the incident's times are on it. None: Temporal's.
    drill_clock: DrillClock | None = None
    timeline: list[TimelineEntry]


class DeliveryReceipt(BaseModel):
    """The answer to an Alertmanager delivery, once the workflow holds it."""

    incident_id: str
    severity: Severity
    created: bool
    severity_reasons: list[str] = []  # why it has its severity (§6): what `irp declare` shows


__all__ = [
    "Acknowledge",
    "AlertmanagerDelivery",
    "Bridge",
    "Declaration",
    "DeliveryReceipt",
    "IncidentInput",
    "IncidentState",
    "IncidentStatus",
    "Page",
    "RoleAssignment",
    "TimelineEntry",
]
