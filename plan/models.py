"""The plan's vocabulary as pydantic models: severities, roles, RACI, the policy file.

Everything here is data. The rules that read it live beside it (severity.py, raci.py).
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    field_validator,
    model_validator,
)

from plan.drill_clock import MAX_SPEED_UP

EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def normalised_email(value: object) -> object:
    """A person is one identity everywhere: emails are trimmed and lower-cased on the way in, so
    `Sam.Lee@PreSkool.com` and `sam.lee@preskool.com` are one person, one page, one dedup key."""
    return value.strip().lower() if isinstance(value, str) else value


# A person's email wherever the plan takes one: the roster, `by`, `person`, an action item's owner.
Email = Annotated[str, BeforeValidator(normalised_email), Field(max_length=254, pattern=EMAIL)]


class Strict(BaseModel):
    """Policy sections refuse unknown keys, so a typo in the file is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Severity(StrEnum):
    """§2 Severity Definitions. Ordered: P0 is the most severe."""

    P0 = "P0"
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"

    @property
    def rank(self) -> int:
        return int(self.value[1])

    def escalated(self) -> Severity:
        """One level more severe, never above P0."""
        return Severity(f"P{max(self.rank - 1, 0)}")


class Role(StrEnum):
    """§3 RACI roles, keyed as the roster keys them."""

    incident_commander = "incident_commander"
    oncall_primary = "oncall_primary"
    oncall_secondary = "oncall_secondary"
    engineering_lead = "engineering_lead"
    communications_lead = "communications_lead"
    cto = "cto"
    database_lead = "database_lead"

    @property
    def title(self) -> str:
        return ROLE_TITLES[self]


ROLE_TITLES = {
    Role.incident_commander: "Incident Commander (IC)",
    Role.oncall_primary: "On-Call Engineer (Primary)",
    Role.oncall_secondary: "On-Call Engineer (Secondary)",
    Role.engineering_lead: "Engineering Lead",
    Role.communications_lead: "Communications Lead",
    Role.cto: "CTO",
    Role.database_lead: "Database Lead",
}


class Raci(StrEnum):
    """R = Responsible | A = Accountable | C = Consulted | I = Informed | — = not involved."""

    R = "R"
    A = "A"
    C = "C"
    I = "I"  # noqa: E741 - the plan's letter
    none = "—"


class SeverityDefinition(Strict):
    name: str
    definition: str
    examples: list[str]
    customer_impact: bool = Field(
        description="Communications Lead engaged; status page and customer email apply."
    )


class RaciRow(Strict):
    """One row of §3: the role's letter for P0, P1, P2, P3."""

    P0: Raci
    P1: Raci
    P2: Raci
    P3: Raci
    only_if_customer_impact: bool = False
    responsibilities: str = ""

    @field_validator("P0", "P1", "P2", "P3", mode="before")
    @classmethod
    def _dash_means_none(cls, v: object) -> object:
        return Raci.none if v in ("-", "—", None, "") else v

    def letter(self, severity: Severity) -> Raci:
        return getattr(self, severity.value)


class Person(Strict):
    """A person of the roster. `contacts`: chat provider name → that provider's id for the
    person (e.g. `{slack: U0IC000001}`); each provider checks its own ids when it is built."""

    name: str
    email: Email
    contacts: dict[str, Annotated[str, Field(min_length=1)]] = {}
    paging_keys: dict[str, SecretStr] = Field(
        default={},
        exclude=True,
        description="Paging provider name → this person's secret address there (PagerDuty: a routing key); "
        "from the environment, never in workflow history.",
    )


# PagerDuty's object ids: capitals and digits (e.g. PI7DH85).
PagerDutyId = Annotated[str, Field(pattern=r"^[A-Z0-9]{2,32}$")]


class OnCallSource(Strict):
    """Where a role's holder is looked up: one PagerDuty schedule, or one escalation policy at
    `escalation_level` (1 is the first level). Written `roster.<role>.on_call` in the policy."""

    pagerduty_schedule: PagerDutyId | None = None
    pagerduty_escalation_policy: PagerDutyId | None = None
    escalation_level: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> OnCallSource:
        if (self.pagerduty_schedule is None) == (self.pagerduty_escalation_policy is None):
            raise ValueError("name one of pagerduty_schedule or pagerduty_escalation_policy")
        return self

    def describe(self) -> str:
        """In the timeline's words, e.g. "PagerDuty schedule PI7DH85"."""
        if self.pagerduty_schedule:
            return f"PagerDuty schedule {self.pagerduty_schedule}"
        return f"PagerDuty escalation policy {self.pagerduty_escalation_policy} level {self.escalation_level}"


class Links(Strict):
    """§9 Useful Quick Links."""

    grafana_slo: str
    alertmanager: str
    pagerduty: str
    loki: str
    jaeger: str
    runbooks: str
    rollback_script: str
    status_page: str


class Triage(Strict):
    """The §6 decision tree's inputs that are policy rather than logic."""

    critical_modules: list[str] = ["auth", "fees", "attendance", "grades"]
    alertmanager_severity: dict[str, Severity] = {
        "critical": Severity.P1,
        "warning": Severity.P2,
        "info": Severity.P3,
    }
    default_severity: Severity = Severity.P3


class PhaseWindows(Strict):
    """§4: each phase's window, counted from the incident's start (Detection 0–2 min, …)."""

    DETECTION: timedelta = timedelta(minutes=2)
    TRIAGE: timedelta = timedelta(minutes=10)
    CONTAIN: timedelta = timedelta(minutes=30)
    FIX: timedelta = timedelta(hours=4)


class RecoveryCheck(Strict):
    """One §4.5 verification, evaluated by Prometheus: every sample must satisfy `op threshold`."""

    name: str
    query: str
    op: Literal["<", "<=", "==", ">=", ">"]
    threshold: float
    shown_as: str = Field(description="How the plan states it, e.g. '< 0.1%'.")
    if_no_data: Literal["pass", "fail"] = "fail"


class StatusPagePolicy(Strict):
    """§5.3: which incidents reach the public status page, and which component each module is."""

    severities: list[Severity] = [Severity.P0, Severity.P1]
    components: dict[str, str] = {}
    default_component: str | None = None


class Executor(Strict):
    """The command an approved action runs: argv, no shell. `{target}` and `{name}` of a param
    are filled in from the request (each checked: no spaces, no leading '-')."""

    command: list[str] = Field(min_length=1)
    timeout: timedelta = timedelta(minutes=10)


class ActionPolicy(Strict):
    """One risky (§4.3) or forbidden (§7) action, and who must approve it."""

    title: str
    plan: str = Field(description="Where the plan names it, in its words.")
    forbidden: bool = False
    approvers: list[Role] = Field(min_length=1, description="Holders of these roles may approve.")
    required: list[Role] = Field(default=[], description="Roles that must be among the approvers.")
    approvals: int = Field(default=1, ge=1, description="Distinct approvers needed, never the requester.")
    executor: Executor | None = None

    @model_validator(mode="after")
    def _satisfiable(self) -> ActionPolicy:
        if not set(self.required) <= set(self.approvers):
            raise ValueError("required roles must be among the approvers")
        if self.approvals < len(self.required):
            raise ValueError("approvals must be at least the number of required roles")
        return self


class GatedAction(StrEnum):
    """Every decision a person sends an incident, as `authority` keys it. The policy names each
    one; an action anyone may take says `anyone`, so nothing is open by omission (§3)."""

    acknowledge = "acknowledge"
    set_severity = "set_severity"
    assign_role = "assign_role"
    post_update = "post_update"
    declare_blast_radius = "declare_blast_radius"
    mitigate = "mitigate"
    resolve = "resolve"
    force_resolve = "force_resolve"
    request_action = "request_action"
    action_done = "action_done"
    complete_deliverable = "complete_deliverable"
    waive_deliverable = "waive_deliverable"
    add_action_item = "add_action_item"
    edit_customer_email = "edit_customer_email"


ANYONE = "anyone"
Who = Literal["anyone"] | Annotated[list[Role], Field(min_length=1)]


class DeliverableKey(StrEnum):
    """§8 Post-Incident SLAs, one key per row of the plan's table."""

    customer_email = "customer_email"
    incident_report = "incident_report"
    postmortem_meeting = "postmortem_meeting"
    action_items = "action_items"
    runbook_update = "runbook_update"
    public_postmortem = "public_postmortem"


# Actions of the catalogue the product itself asks for, so the policy must define them.
CUSTOMER_EMAIL_ACTION = "send_customer_email"
# A private incident's public statement (plan/privacy.py). A policy without it (one pinned before
# private incidents) gets this default: §7 the IC's explicit approval, §3 the Communications Lead's.
PUBLIC_STATEMENT_ACTION = "public_statement"


def _every_key_named(table: dict, keys: type[StrEnum], hint: str) -> dict:
    missing = [k.value for k in keys if k not in table]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}: {hint}")
    return table


class DeliverablePolicy(Strict):
    """One row of §8 Post-Incident SLAs; the clock starts at resolution."""

    title: str
    sla: timedelta
    owner: Role
    severities: list[Severity] | None = Field(default=None, description="None: every severity.")
    applicable: bool = Field(default=True, description="False leaves it out of the ledger.")
    optional: bool = Field(default=False, description="Reminded, never escalated when overdue.")


class Reminders(Strict):
    """When the owner of an open deliverable hears about it before its due time."""

    at_fractions: list[Annotated[float, Field(gt=0, lt=1)]] = [0.5]
    before: list[timedelta] = [timedelta(hours=1)]


class CustomerEmailPolicy(Strict):
    """§5.4: who receives the customer email, and the courtesy extension it offers."""

    courtesy_days: int = Field(default=1, ge=0)
    recipients: dict[str, list[str]] = Field(
        default={}, description="Tenant → school administrators' emails."
    )
    default_recipients: list[str] = []
    support: str = "support@preskool.com"


class HeartbeatPolicy(Strict):
    """The dead man's switch on the alerting pipeline: Alertmanager's always-firing alert named
    `alert_name` is never an incident; when none arrives for `window`, `page` is paged and the
    alerts channel hears that alerting has gone silent (docs/integrations.md "The dead man's switch")."""

    alert_name: Annotated[str, Field(min_length=1, max_length=200)] = "Watchdog"
    window: Annotated[timedelta, Field(gt=timedelta(0))] = timedelta(minutes=10)
    page: Role = Role.oncall_primary
    severity: Severity = Severity.P2


class HoldRule(StrEnum):
    """Who may hold a role in an incident (policy `roles.<role>.may_hold`), besides a list of
    emails: `verified_members`, anyone the chat provider verifies as a full member of the
    workspace (Slack: not a guest, a bot or deactivated); `roster`, only people of the roster
    (or whom PagerDuty says is on call for a role of the incident)."""

    verified_members = "verified_members"
    roster = "roster"


def _hold_rule(value: object) -> object:
    """A misspelt rule is refused by name (security fails closed), not read as a list."""
    if isinstance(value, str) and value not in set(HoldRule):
        raise ValueError(f"{value!r} is no rule: write verified_members, roster, or a list of emails")
    return value


MayHold = Annotated[
    Annotated[HoldRule, Tag("rule")] | Annotated[list[Email], Field(min_length=1), Tag("emails")],
    Discriminator(lambda v: "rule" if isinstance(v, str) else "emails"),
    BeforeValidator(_hold_rule),
]
ChecklistItem = Annotated[str, Field(min_length=1, max_length=150)]


class RolePolicy(Strict):
    """One role's rules in an incident (§3): who may hold it, and its checklist (the
    responsibilities column of §3), sent to whoever takes the role and ticked with buttons."""

    may_hold: MayHold = HoldRule.roster
    checklist: list[ChecklistItem] = Field(default=[], max_length=20)


OPEN_ROLES = (Role.incident_commander, Role.oncall_primary, Role.oncall_secondary, Role.communications_lead)
DEFAULT_CHECKLISTS = {  # §3's responsibilities column, as steps
    Role.incident_commander: [
        "Declare (or confirm) the severity",
        "Run the bridge: who does what",
        "Drive to resolution: resolve through the §4.5 checks",
    ],
    Role.oncall_primary: ["Acknowledge the page", "Investigate: declare the blast radius", "Apply the fix"],
    Role.oncall_secondary: ["Join the bridge as backup", "Take the hands-on work the IC gives you"],
    Role.engineering_lead: ["Be the escalation point", "Approve or deny risky actions (rollbacks)"],
    Role.communications_lead: [
        "Update the status page (§5.3)",
        "Send the customer email (§5.4)",
        "Slack comms",
    ],
    Role.cto: ["Read the P0/P1 updates", "Take media and customer escalations"],
    Role.database_lead: ["Advise on database-related steps"],
}


class DrillClockPolicy(Strict):
    """A drill's clock speed-up (issue 24; plan/drill_clock.py): allowed only on a worker started in
    drill mode (IRP_DRILL=1, worker.py), which refuses a policy with it otherwise. Each is plan
    seconds per real second."""

    speed_up: int = Field(
        ge=1,
        le=MAX_SPEED_UP,
        description="while the incident is open (people join live: ×10 makes §4.1's 2 min 12 s)",
    )
    after_resolution: int = Field(
        default=1,
        ge=1,
        le=MAX_SPEED_UP,
        description="once it is resolved: the §8 week (×1000 makes it 10 min)",
    )


def default_roles() -> dict[Role, RolePolicy]:
    """The roles' rules when the policy names none (and for a role it leaves out): the IC,
    on-call and communications roles are open to verified members, the others keep the roster."""
    return {
        role: RolePolicy(
            may_hold=HoldRule.verified_members if role in OPEN_ROLES else HoldRule.roster,
            checklist=DEFAULT_CHECKLISTS[role],
        )
        for role in Role
    }


class Policy(Strict):
    """The plan as data (config/preskool.yaml)."""

    version: Literal[1]
    severities: dict[Severity, SeverityDefinition]
    raci: dict[Role, RaciRow]
    roster: dict[Role, Person]
    on_call: dict[Role, OnCallSource] = Field(
        default={},
        description="Roles whose holder PagerDuty knows (written `roster.<role>.on_call`); the roster's "
        "person for the role, if any, is the fallback.",
    )
    triage: Triage = Triage()
    bridge_channel_prefix: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,58}$")] = "preskool-incident"
    links: Links
    phase_windows: PhaseWindows = PhaseWindows()
    update_cadence: dict[Severity, timedelta] = {
        Severity.P0: timedelta(minutes=15),
        Severity.P1: timedelta(minutes=30),
    }
    recovery_checks: list[RecoveryCheck] = []
    status_page: StatusPagePolicy = StatusPagePolicy()
    authority: dict[GatedAction, Who]
    actions: dict[str, ActionPolicy]
    approval_expiry: timedelta = timedelta(minutes=30)
    review_build_check: timedelta = Field(
        default=timedelta(hours=1),
        gt=timedelta(0),
        description="how often an incident in REVIEW looks for a newer build to move to (at most this "
        "long after a deploy an old build still serves it; docs/operating.md)",
    )
    deliverables: dict[DeliverableKey, DeliverablePolicy]
    reminders: Reminders = Reminders()
    customer_email: CustomerEmailPolicy = CustomerEmailPolicy()
    pin_emoji: str = Field(
        default="pushpin",
        pattern=r"^[a-z0-9_+-]{1,100}$",
        description="a reaction with this emoji on a bridge message puts it in the timeline (§4.6 draft)",
    )
    attestation_keys: list[str] = Field(
        default=[],
        description="Ed25519 public keys (base64 of the raw 32 bytes) whose attestations prove who acted; "
        "the worker sets them from IRP_ATTESTATION_PUBLIC_KEYS",
    )
    # §4.1 "Prometheus alert → PagerDuty + Slack #preskool-alerts": where the pipeline's own
    # silence is told (the channel exists; the bot joins it if it is public).
    alerts_channel: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,79}$")] = "preskool-alerts"
    heartbeat: HeartbeatPolicy = HeartbeatPolicy()
    drill_clock: DrillClockPolicy | None = Field(
        default=None,
        description="drill mode only: the incident's clock runs this much faster (plan/drill_clock.py); "
        "a worker not started with IRP_DRILL=1 refuses a policy with it",
    )
    roles: dict[Role, RolePolicy] = Field(
        default_factory=default_roles,
        description="per role: who may hold it (`may_hold`) and its checklist; a role left out keeps "
        "its default (plan/models.py default_roles)",
    )

    @field_validator("roles")
    @classmethod
    def _every_role(cls, v: dict) -> dict:
        return {**default_roles(), **v}

    @model_validator(mode="before")
    @classmethod
    def _lift_on_call(cls, data: object) -> object:
        """`roster.<role>.on_call` goes to `on_call.<role>`; a roster entry that names only a
        schedule (no fixed person) leaves the roster."""
        if not isinstance(data, dict) or not isinstance(data.get("roster"), dict):
            return data
        roster, on_call = dict(data["roster"]), dict(data.get("on_call") or {})
        for role, entry in data["roster"].items():
            if isinstance(entry, dict) and "on_call" in entry:
                on_call[role] = entry["on_call"]
                rest = {k: v for k, v in entry.items() if k != "on_call"}
                if rest:
                    roster[role] = rest
                else:
                    roster.pop(role)
        return {**data, "roster": roster, "on_call": on_call} if on_call else data

    @field_validator("authority")
    @classmethod
    def _every_gated_action(cls, v: dict) -> dict:
        return _every_key_named(v, GatedAction, "name who may take each (roles, or `anyone`)")

    @field_validator("deliverables")
    @classmethod
    def _every_deliverable(cls, v: dict) -> dict:
        return _every_key_named(
            v, DeliverableKey, "every §8 row is named (`applicable: false` leaves one out)"
        )

    @field_validator("actions")
    @classmethod
    def _product_actions(cls, v: dict) -> dict:
        if CUSTOMER_EMAIL_ACTION not in v:
            raise ValueError(
                f"missing {CUSTOMER_EMAIL_ACTION}: the §5.4 customer email is approved through it"
            )
        if PUBLIC_STATEMENT_ACTION not in v:
            v[PUBLIC_STATEMENT_ACTION] = ActionPolicy(
                title="Make a public statement (status page)",
                plan="§7 press and public statements only with explicit IC approval; §3 Communications Lead",
                approvers=[Role.communications_lead, Role.incident_commander],
                required=[Role.communications_lead, Role.incident_commander],
                approvals=2,
            )
        return v

    @model_validator(mode="after")
    def _complete(self) -> Policy:
        for name, table in (("severities", self.severities), ("raci", self.raci)):
            missing = [k for k in (Severity if name == "severities" else Role) if k not in table]
            if missing:
                raise ValueError(f"{name} is missing {', '.join(m.value for m in missing)}")
        return self

    def person(self, role: Role) -> Person | None:
        return self.roster.get(role)

    def may(self, action: GatedAction, roles: set[Role]) -> bool:
        """Whether someone holding `roles` may take `action`; unknown means no (fail closed)."""
        allowed = self.authority.get(action)
        return allowed == ANYONE or bool(allowed and roles & set(allowed))

    def role_of(self, email: str) -> list[Role]:
        return [role for role, p in self.roster.items() if p.email.lower() == email.lower()]


class Phase(StrEnum):
    """§4 Incident Lifecycle: DETECTION → TRIAGE → CONTAIN → FIX → RESOLVE → REVIEW."""

    DETECTION = "DETECTION"
    TRIAGE = "TRIAGE"
    CONTAIN = "CONTAIN"
    FIX = "FIX"
    RESOLVE = "RESOLVE"
    REVIEW = "REVIEW"
