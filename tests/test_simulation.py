"""Simulation (issue 22): the deciders driven through random sequences of alerts, people's inputs,
clock ticks and outside results, with no server, checking the plan's invariants after every step.

The machine plays the workflow's part exactly as workflows/incident.py and workflows/router.py do
— `decide`, then `applied` (plan/decision.py) — and the lanes' part as workflows/effects.py does:
each effect is carried out in order, its result (paged or failed, exit 0 or 1, checks passed or not) drawn at
random and handed to the decider the lane hands it to. Both parts are plan/rerun.py's `Rerun`,
the harness `irp whatif` replays recorded incidents with. People's inputs come from
the roster, strangers and typos, as the right shape or as garbage; with attestation keys on,
some are attested, some are not (claims), some are stale.

Invariants (the issue's, each checked after every step):
- a role's holder is paged once per severity change: never two pages with one dedup key;
- a refused input changes nothing but the timeline;
- an alert never lowers the severity;
- an approval counts once per verified person, and only from an approver who is not the requester;
- a forbidden (or any) action never runs without its approvers;
- the §8 ledger closes only when every deliverable is done or waived, by a person;
- every refusal has a reason;
and: no decider raises, and the clocks always move on.

`make test` runs a fixed budget (the same sequences each run); `make fuzz` a long, new one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from plan import AlertmanagerDelivery, Declaration, load_policy
from plan.alert_digest import digest
from plan.approvals import RequestState
from plan.attestation import attest, load_private_key, new_key_pair
from plan.decide import alerts, claims
from plan.decision import Decision, Given, Verdict
from plan.deliverables import ledger_closed
from plan.events import EventKind
from plan.incident import IncidentState
from plan.judge import take
from plan.models import HoldRule, Phase, Role
from plan.rerun import Rerun
from tests.fuzz import budget
from tests.payloads import alert, delivery
from workflows.router import incident_status
from workflows.signals import BY_NAME, SIGNALS

POLICY = load_policy()
PRIVATE, PUBLIC = new_key_pair()
KEYED = POLICY.model_copy(update={"attestation_keys": [PUBLIC]})
ROSTER = {p.email: p for p in POLICY.roster.values()}
PEOPLE = [*ROSTER, "nobody@preskool.com", "ben.okafr@preskool.com", "not-an-email", ""]
SEVERITIES = ["P0", "P1", "P2", "P3"]  # most severe first
T0 = datetime(2026, 12, 7, 2, 10, tzinfo=UTC)
INCIDENT = "inc-sim"

ALERTS = st.sampled_from(
    [
        {"scope": "all"},
        {"module": "fees"},
        {"module": "grades"},
        {"severity": "info"},
        {"severity": "warning"},
        {"data_at_risk": "true", "module": "fees"},
        {"security": "true"},
        {"scope": "tenant", "tenant": "school-42"},
    ]
)
TWO = st.sampled_from(["rollback", "modify_secrets"])  # one approval and a command; two, one the IC's
TEXT = st.sampled_from(["x", "Rolling back", "", "a" * 3000, "é🙂"])


# Well-formed values, from people in the roster: the inputs that move an incident on.
SANE = {
    "by": st.sampled_from(list(ROSTER)),
    "severity": st.sampled_from(SEVERITIES),
    "reason": st.just("because"),
    "role": st.sampled_from([r.value for r in Role]),
    "person": st.sampled_from(list(ROSTER)),
    "status": st.sampled_from(["ONGOING", "MITIGATED"]),
    "current_action": st.just("Rolling back"),
    "what_we_know": st.just("A deploy at 02:10"),
    "next_update_minutes": st.sampled_from([None, 10]),
    "scope": st.sampled_from(["all", "tenant"]),
    "tenants": st.just(["school-42"]),
    "summary": st.just("Rolled back"),
    "force_reason": st.sampled_from([None, "no metric for it"]),
    "action": st.sampled_from(
        ["rollback", "restart_scale", "modify_secrets", "drop_tables", "contact_media"]
    ),
    "target": st.just("backend"),
    "outcome": st.just("done"),
    "link": st.just("https://x"),
    "title": st.just("Canary deploys"),
    "owner": st.sampled_from(list(ROSTER)),
    "text": st.just("the deploy at 02:10"),
    "author": st.sampled_from(list(ROSTER)),
    "emoji": st.just(POLICY.pin_emoji),
    "confirmed": st.just(True),
}


def values(signal: str, state: IncidentState, data, sane: bool = False) -> object:
    """An input for `signal`: mostly its own shape from pools that reach every branch (the
    incident's real request ids, deliverables, claims and channel among them), sometimes garbage;
    `sane`: well-formed, from the roster, about what the incident holds."""
    if not sane and data.draw(st.integers(0, 9)) == 0:
        return data.draw(
            st.one_of(
                st.none(),
                st.integers(),
                st.text(max_size=20),
                st.dictionaries(st.text(max_size=12), st.one_of(st.none(), st.text(max_size=12)), max_size=4),
            )
        )
    model = BY_NAME[signal].model
    requests_ = list(state.requests)
    pools = {
        "by": st.sampled_from(PEOPLE),
        "severity": st.sampled_from([*SEVERITIES, "P9"]),
        "reason": st.sampled_from(["because", "", None]),
        "role": st.sampled_from([*(r.value for r in Role), "ceo"]),
        "person": st.sampled_from(PEOPLE),
        "status": st.sampled_from(["ONGOING", "MITIGATED", "RESOLVED", "DONE"]),
        "current_action": TEXT,
        "what_we_know": TEXT,
        "next_update_minutes": st.sampled_from([None, 5, 0, 90]),
        "public": st.booleans(),
        "public_message": st.sampled_from([None, "All good"]),
        "scope": st.sampled_from(["all", "many", "tenant", "endpoint", "galaxy"]),
        "tenants": st.sampled_from([[], ["school-42"]]),
        "endpoints": st.sampled_from([[], ["/fees"]]),
        "summary": st.sampled_from(["Rolled back", ""]),
        "root_cause": st.sampled_from([None, "A bad deploy"]),
        "force_reason": st.sampled_from([None, None, "no metric for it"]),
        "request_id": st.sampled_from([*requests_, "rb-1", "customer-email", "public-statement", "x"]),
        "action": st.sampled_from([*POLICY.actions, "nuke"]),
        "target": st.sampled_from(["backend", "db; rm -rf /"]),
        "params": st.sampled_from([{}, {"replicas": "3"}]),
        "outcome": st.sampled_from(["done", ""]),
        "deliverable": st.sampled_from([*(e.key for e in state.ledger), "nope"]),
        "link": st.sampled_from(["https://x", ""]),
        "title": st.sampled_from(["Canary deploys", ""]),
        "owner": st.sampled_from(PEOPLE),
        "due": st.sampled_from([None, "2026-12-31", "tomorrow"]),
        "affected": st.sampled_from([None, "Fee collection"]),
        "resolution": st.sampled_from([None, "Rolled back"]),
        "preventive_actions": st.sampled_from([None, "Canaries"]),
        "courtesy_days": st.sampled_from([None, "3", "x"]),
        "claim_id": st.sampled_from([*state.claims, "claim-1", "claim-9"]),
        "confirmed": st.booleans(),
        "channel": st.sampled_from([state.bridge.channel_id or "C0", "C0"]),
        "message_id": st.sampled_from(["m1", "m2"]),
        "author": st.sampled_from(PEOPLE),
        "text": TEXT,
        "emoji": st.sampled_from([POLICY.pin_emoji, "tada"]),
        "removed": st.booleans(),
        "digest": st.sampled_from([None, "0123456789abcdef", *(r.digest for r in state.requests.values())]),
        "event_id": st.sampled_from(["e1", "e2", "e3"]),
        "event_type": st.sampled_from(["incident.acknowledged", "incident.resolved", "incident.reassigned"]),
        "agent": st.sampled_from([None, "Ben Okafor"]),
        "agent_email": st.sampled_from([None, *PEOPLE]),
        "pagerduty_incident": st.sampled_from([None, "PD1"]),
        "note": st.sampled_from(["", "Rollback half done; watch the fees queue"]),
        "item": st.sampled_from([0, 1, 2, 19, -1]),
    }
    if sane:
        pools.update(SANE)
        if requests_:
            pools["request_id"] = st.sampled_from(requests_)
            pools["digest"] = st.just(None)
        if state.ledger:
            pools["deliverable"] = st.sampled_from([e.key for e in state.ledger])
        if state.claims:
            pools["claim_id"] = st.sampled_from(list(state.claims))
    value = {
        name: data.draw(pools[name])
        for name in model.model_fields
        if name in pools and (sane or data.draw(st.integers(0, 19)) > 0)  # now and then a field is missing
    }
    authority = POLICY.authority.get(BY_NAME[signal].authority) if BY_NAME[signal].authority else None
    if sane and isinstance(authority, list) and data.draw(st.integers(0, 3)):  # mostly one who may
        value["by"] = data.draw(st.sampled_from([POLICY.person(role).email for role in authority]))
    if sane and signal in ("approve", "deny") and value.get("request_id") in state.requests:
        action = POLICY.actions[state.requests[value["request_id"]].action]
        value["by"] = data.draw(st.sampled_from([POLICY.person(role).email for role in action.approvers]))
    if signal == "request_action" and sane:
        value["request_id"] = data.draw(st.sampled_from([None, "rb-1", "sec-1"]))
    elif requests_ and "request_id" in value and data.draw(st.booleans()):
        value["request_id"] = data.draw(st.sampled_from(requests_))
    return value


class Incident(RuleBasedStateMachine):
    """One incident, decided as the workflow decides it, with the policy in `POLICY_IN_FORCE`: the
    workflow's and the lanes' parts are plan/rerun.py's `Rerun`, the harness `irp whatif` uses."""

    POLICY_IN_FORCE = POLICY

    def __init__(self) -> None:
        super().__init__()
        self.policy = self.POLICY_IN_FORCE
        self.run = Rerun(INCIDENT, self.policy, T0, BY_NAME)
        self.state = self.run.state

    @property
    def now(self) -> datetime:
        return self.run.now

    @property
    def lanes(self):
        return self.run.lanes

    def given(self) -> Given:
        return self.run.given()

    def decide(self, decider, *args) -> Decision:
        """Decide and apply as the workflow does (Rerun.decide); every refusal has its reason."""
        decision = self.run.decide(decider, *args)
        assert decision.verdict is not Verdict.refused or decision.reason, decision
        return decision

    @initialize(
        labels=st.lists(ALERTS, min_size=1, max_size=3), declared=st.sampled_from([None, *SEVERITIES])
    )
    def open(self, labels, declared):
        """An Alertmanager delivery, or a person's declaration, then the opening."""
        if declared:
            declaration = Declaration(summary="Fees down", severity=declared, reporter="support@preskool.com")
            self.decide(alerts.declared, declaration)
        else:
            body = delivery(*(alert(**{**one, "fingerprint": f"f{n}"}) for n, one in enumerate(labels)))
            self.decide(alerts.detected, digest(AlertmanagerDelivery.model_validate(body)))
        self.run.open(False)

    @rule(labels=st.lists(ALERTS, min_size=1, max_size=3), resolved=st.booleans())
    def another_delivery(self, labels, resolved):
        """A later delivery of the group: re-evaluated, it may raise the severity, never lower it."""
        if self.state.resolution is not None:
            return  # the workflow's validator answers these: the next incident's
        before = SEVERITIES.index(self.state.decision.severity)
        body = delivery(
            *(alert(status="resolved" if resolved else "firing", **one) for one in labels),
            status="resolved" if resolved else None,
        )
        self.state.deliveries += 1
        self.decide(alerts.later_delivery, digest(AlertmanagerDelivery.model_validate(body)))
        assert SEVERITIES.index(self.state.decision.severity) <= before, "an alert lowered the severity"

    @rule(signal=st.sampled_from([s.name for s in SIGNALS]), data=st.data())
    def anyone(self, signal, data):
        """Anything anyone sends: strangers, typos, missing fields, garbage."""
        self.person(signal, values(signal, self.state, data), data)

    @rule(signal=st.sampled_from([s.name for s in SIGNALS]), data=st.data())
    def the_roster(self, signal, data):
        """A well-formed input from someone in the roster (who may still lack the authority)."""
        self.person(signal, values(signal, self.state, data, sane=True), data)

    @rule(data=st.data())
    def the_plan_goes_on(self, data):
        """The next step the plan expects, by the person it expects (so that random sequences also
        reach REVIEW and the ledger's end): acknowledge; ask for, approve and run a rollback;
        resolve; let the lanes work; close the deliverables."""
        s, ic, lead = self.state, POLICY.person(Role.incident_commander), POLICY.person(Role.engineering_lead)
        primary = POLICY.person(Role.oncall_primary).email
        claimed = [c for c in s.claims.values() if c.state == "pending" and c.by in ROSTER]
        if claimed and data.draw(st.booleans()):
            claim = claimed[0]
            answer = {"claim_id": claim.claim_id, "confirmed": data.draw(st.booleans())}
            self.person(
                "confirm_claim", self.attested("confirm_claim", {**answer, "by": claim.by}, self.now), data
            )
            return
        if s.phase is Phase.DETECTION:
            step = ("acknowledge", {"by": primary})
        elif s.phase is Phase.REVIEW:
            open_ = [e for e in s.ledger if e.open]
            if not open_:
                return
            entry = data.draw(st.sampled_from(open_))
            step = data.draw(
                st.sampled_from(
                    [
                        (
                            "complete_deliverable",
                            {"deliverable": entry.key, "by": ic.email, "link": "https://x"},
                        ),
                        ("waive_deliverable", {"deliverable": entry.key, "by": lead.email, "reason": "n/a"}),
                    ]
                )
            )
        elif s.resolution or s.phase is Phase.RESOLVE or data.draw(st.integers(0, 3)) == 0:
            self.lanes_work([True] * len(self.lanes))
            return
        elif pending := [r for r in s.requests.values() if r.state is RequestState.pending]:
            request = pending[0]
            approvers = [POLICY.person(r).email for r in POLICY.actions[request.action].approvers]
            approver = data.draw(st.sampled_from([a for a in approvers if a != request.by] or approvers))
            step = ("approve", {"request_id": request.request_id, "by": approver})
        else:
            step = data.draw(
                st.sampled_from(
                    [
                        (
                            "request_action",
                            {
                                "by": primary,
                                "action": data.draw(TWO),
                                "target": "backend",
                                "reason": "deploy",
                            },
                        ),
                        (
                            "resolve",
                            {
                                "by": ic.email,
                                "summary": "Rolled back",
                                "force_reason": data.draw(st.sampled_from([None, "forced"])),
                            },
                        ),
                        ("mitigate", {"by": primary, "summary": "Rolled back"}),
                        (
                            "set_severity",
                            {
                                "by": ic.email,
                                "severity": data.draw(st.sampled_from(SEVERITIES)),
                                "reason": "wider",
                            },
                        ),
                    ]
                )
            )
        signal, value = step
        if self.policy.attestation_keys and data.draw(st.integers(0, 3)):
            value = self.attested(signal, value, self.now)
        self.person(signal, value, data)

    def person(self, signal, value, data):
        """One person's input through `take`, as every door takes it; a confirmed claim is then
        taken as its person's (the router's hand-off)."""
        if self.policy.attestation_keys and isinstance(value, dict) and value.get("by") in ROSTER:
            if data.draw(st.integers(0, 2)):
                stale = data.draw(st.sampled_from([timedelta(0), timedelta(0), timedelta(minutes=20)]))
                value = self.attested(signal, value, self.now - stale)
        before = self.state.model_copy(deep=True)
        decision = self.decide(take, BY_NAME[signal], value, None)
        if decision.verdict is Verdict.refused:
            assert not decision.changes and not decision.effects and not decision.unpin
            assert all(e.kind is EventKind.refused and e.reason for e in decision.events), decision.events
            unchanged = {"timeline", "refusals", "timeline_dropped"}
            assert self.state.model_dump(exclude=unchanged) == before.model_dump(exclude=unchanged)
        if signal == "confirm_claim" and isinstance(decision.handoff, claims.Confirmed):
            claim = decision.handoff
            self.decide(take, BY_NAME[claim.signal], claim.value, (claim.user,))

    def attested(self, signal: str, value: dict, at: datetime) -> dict:
        data = {k: v for k, v in value.items() if k not in ("by", "attestation")}
        person = ROSTER[value["by"]]
        proof = attest(
            load_private_key(PRIVATE), incident_id=INCIDENT, signal=signal, signal_input=data,
            person=person.email, user=person.contacts["slack"], at=at,
        )  # fmt: skip
        return {**data, "by": person.email, "attestation": proof.model_dump(mode="json")}

    @rule(minutes=st.sampled_from([0, 1, 2, 3, 7, 16, 31, 61, 180, 1500, 4400]))
    def time_passes(self, minutes):
        """The workflow sleeps until its next clock and then ticks, as often as clocks come due
        (Rerun.until raises if a clock does not move on); the lanes keep their own pace."""
        self.run.until(self.now + timedelta(minutes=minutes), settle=False)

    @rule(results=st.lists(st.booleans(), min_size=1, max_size=30))
    def lanes_work(self, results):
        """The next outward steps, each as its lane carries it out (succeeding or failing)."""
        self.run.lanes_work(results)

    # --- the plan's invariants, after every step ------------------------------------------------------

    @invariant()
    def each_action_runs_once(self):
        assert len(self.run.ran) == len(set(self.run.ran)), f"ran twice: {self.run.ran}"

    @invariant()
    def each_holder_paged_once(self):
        keys = [p.dedup_key for p in self.state.paged if p.outcome == "paged"]
        assert len(keys) == len(set(keys)), f"paged twice: {sorted(keys)}"

    @invariant()
    def each_approval_counts_once_from_an_approver(self):
        for request in self.state.requests.values():
            who = [a.who for a in request.approvals]
            assert len(who) == len(set(who)), f"{request.request_id}: {who}"
            action = self.policy.actions[request.action]
            for approval in request.approvals:
                assert approval.by.lower() != request.by.lower(), (
                    f"{request.request_id} approved by its requester"
                )
                assert set(approval.roles) & set(action.approvers), (
                    f"{approval.by} may not approve {request.action}"
                )

    @invariant()
    def no_action_goes_ahead_without_its_approvers(self):
        """Approved, running or done (or run and failed) only with every approval its action needs."""
        for request in self.state.requests.values():
            ahead = request.state in (RequestState.approved, RequestState.running, RequestState.done)
            if ahead or (request.state is RequestState.failed and request.command):
                action = self.policy.actions[request.action]
                # Counted here, not by the deciders' own approvals_complete: distinct people, not
                # the requester, for exactly this request, holding an approver's role, the
                # required roles among them; with keys on, each proved (a chat user).
                valid = [
                    a
                    for a in request.approvals
                    if a.digest == request.digest and a.by.lower() != request.by.lower()
                    and set(a.roles) & set(action.approvers)
                ]  # fmt: skip
                people = {a.by.lower() for a in valid}
                held = {r for a in valid for r in a.roles}
                assert len(people) >= action.approvals and set(action.required) <= held, (
                    f"{request.request_id} is {request.state} without its approvers: {request.approvals}"
                )
                if self.policy.attestation_keys:
                    assert all(a.user for a in valid), f"{request.request_id}: an unproved approval counted"

    @invariant()
    def the_ledger_closes_only_when_all_done_or_waived_by_a_person(self):
        s = self.state
        for entry in s.ledger:
            if not entry.open:
                assert entry.state in ("done", "waived") and entry.closed_by and entry.closed_at, entry
        if incident_status(s) == "closed":
            assert s.resolution and s.phase is Phase.REVIEW and ledger_closed(s.ledger)

    @invariant()
    def a_role_is_held_only_as_its_rule_allows(self):
        """Issue 23: a roster-only role is never held by a stranger; a listed role only by the list."""
        for role, email in self.state.assignments.items():
            rule = self.policy.roles[role].may_hold
            if isinstance(rule, list):
                assert email in rule, f"{role} held by {email}, not in its list"
            elif rule is HoldRule.roster:
                assert email in ROSTER, f"{role} (roster only) held by {email}"

    @invariant()
    def every_refusal_has_a_reason(self):
        for entry in self.state.timeline:
            if entry.kind is EventKind.refused:
                assert entry.reason and entry.signal is not None, entry


class KeyedIncident(Incident):
    """The same, with attestation keys pinned: gated decisions need proof or become claims."""

    POLICY_IN_FORCE = KEYED


def steps(examples: int) -> settings:
    return settings(budget(examples), stateful_step_count=60)


@pytest.mark.fuzz
@pytest.mark.parametrize("machine", [Incident, KeyedIncident], ids=["by-is-believed", "attested"])
def test_the_plans_invariants_hold_through_random_incidents(machine):
    run_state_machine_as_test(machine, settings=steps(40))
