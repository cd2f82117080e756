"""The deciders (plan/decide/, plan/judge.py, plan/decision.py) as tables, with no server: what
each input decides — the verdict and its reason, the typed events, the typed effects — on an
incident opened the way the workflow opens one. The random sequences are in test_simulation.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from plan import effects as fx
from plan.approvals import RequestState
from plan.decide import clocks, requests
from plan.decision import Decision, Verdict, after, applied, decide
from plan.events import EventKind
from plan.judge import take
from plan.models import Phase, Role, Severity
from plan.raci import engagement
from tests.test_simulation import Incident, KeyedIncident
from workflows.signals import BY_NAME

IC, PRIMARY, LEAD, COMMS = (
    "asha.rao@preskool.com",
    "ben.okafor@preskool.com",
    "dana.whitfield@preskool.com",
    "elif.demir@preskool.com",
)


def opened(labels=None, machine=Incident) -> Incident:
    """A P1 for the fees module (or `labels`), opened, its opening's steps all carried out."""
    incident = machine()
    incident.open([labels or {"module": "fees"}], None)
    incident.lanes_work([True] * len(incident.lanes))
    return incident


def send(incident: Incident, signal: str, value: object) -> Decision:
    """One person's input, judged and decided as every door decides it, then applied."""
    return incident.decide(take, BY_NAME[signal], value, None)


def kinds(decision: Decision) -> list[str]:
    return [e.kind.value for e in decision.events]


# --- who sent it, and may they (plan/judge.py) -----------------------------------------------------

REFUSALS = [
    ("acknowledge", {"by": "not-an-email"}, "by: String should match pattern"),
    ("acknowledge", 7, "input: Input should be a valid dictionary"),
    ("set_severity", {"by": "nobody@preskool.com", "severity": "P0", "reason": "x"}, "unknown person"),
    ("set_severity", {"by": PRIMARY, "severity": "P0", "reason": "x"}, "may not set severity: it needs"),
    ("resolve", {"by": PRIMARY, "summary": "done"}, "may not resolve"),
    ("resolve", {"by": LEAD, "summary": "done", "force_reason": "no metric"}, "may not force resolve"),
    ("waive_deliverable", {"by": IC, "deliverable": "nope", "reason": "x"}, "may not waive deliverable"),
    ("approve", {"by": LEAD, "request_id": "nope"}, "no request 'nope' in this incident"),
    ("request_action", {"by": PRIMARY, "action": "nuke", "target": "x", "reason": "y"}, "nuke"),
    ("confirm_claim", {"by": IC, "claim_id": "claim-1", "confirmed": True}, "claim-1"),
]


@pytest.mark.parametrize("signal, value, reason", REFUSALS, ids=[f"{s}-{r[:24]}" for s, _, r in REFUSALS])
def test_a_refused_input_is_refused_with_its_reason_and_changes_nothing_else(signal, value, reason):
    incident = opened()
    before = incident.state.model_dump(exclude={"timeline", "refusals"})
    decision = send(incident, signal, value)
    assert decision.verdict is Verdict.refused and reason in decision.reason, decision.reason
    assert kinds(decision) == ["refused"] and not decision.changes and not decision.effects
    assert incident.state.model_dump(exclude={"timeline", "refusals"}) == before
    assert incident.state.timeline[-1].reason and incident.state.timeline[-1].signal == signal


def test_a_stranger_may_take_a_step_anyone_may_take_flagged_in_the_timeline_and_the_bridge():
    incident = opened()
    decision = send(incident, "acknowledge", {"by": "ben.okafr@preskool.com"})
    assert decision.verdict is Verdict.accepted and kinds(decision)[0] == "not-in-roster"
    assert "did you mean `ben.okafor@preskool.com`" in decision.events[0].text
    assert any(isinstance(e, fx.Post) and "flagged" in e.text for e in incident.lanes)


def test_with_attestation_keys_a_decision_without_proof_is_held_as_a_claim():
    incident = opened(machine=KeyedIncident)
    decision = send(incident, "set_severity", {"by": IC, "severity": "P0", "reason": "every school"})
    assert decision.verdict is Verdict.held and decision.claim_id == "claim-1"
    assert incident.state.decision.severity == "P1" and incident.state.claims["claim-1"].by == IC
    assert any(isinstance(e, fx.Notify) and e.email == IC for e in decision.effects)


# --- §4: the lifecycle ---------------------------------------------------------------------------------


def test_the_first_acknowledgement_ends_detection_and_a_second_is_only_noted():
    incident = opened()
    first = send(incident, "acknowledge", {"by": PRIMARY})
    second = send(incident, "acknowledge", {"by": IC})
    assert kinds(first) == ["acknowledged", "phase"] and incident.state.phase is Phase.TRIAGE
    assert kinds(second) == ["acknowledged"] and "also acknowledged" in second.events[0].text
    assert incident.state.acknowledged_by == PRIMARY


@pytest.mark.parametrize("to", ["P0", "P1", "P2"])
def test_a_new_severity_pages_whom_the_raci_now_engages_and_nobody_twice(to):
    """§3/§6: raising P1 → P0 pages the roles P0's RACI adds (the secondary); the same or a lower
    one pages nobody new; nobody is paged twice."""
    incident = opened()
    before = {p.role for p in incident.state.paged}
    assert before == set(engagement(incident.policy, Severity.P1).page)
    send(incident, "set_severity", {"by": IC, "severity": to, "reason": "scope"})
    incident.lanes_work([True] * len(incident.lanes))
    added = set(engagement(incident.policy, Severity(to)).page) - before
    assert {p.role for p in incident.state.paged} - before == added
    assert (to == "P0") == (added == {Role.oncall_secondary}), added
    assert len(incident.state.paged) == len({p.dedup_key for p in incident.state.paged})


def test_the_unacknowledged_page_escalates_once_two_minutes_after_it_was_sent():
    incident = opened()
    incident.time_passes(1)
    assert not incident.state.escalated_unacknowledged
    incident.time_passes(2)
    assert incident.state.escalated_unacknowledged
    escalations = [e for e in incident.state.timeline if e.kind is EventKind.escalated]
    incident.time_passes(30)
    assert len([e for e in incident.state.timeline if e.kind is EventKind.escalated]) == len(escalations) == 1


def test_the_clock_says_when_it_must_next_look():
    incident = opened()
    due = clocks.next_clock(incident.state, incident.policy)
    assert due == incident.now + timedelta(minutes=2)  # the escalation of the unanswered page
    tick = decide(incident.state, incident.given(), clocks.tick)
    assert tick.verdict is Verdict.accepted and not tick.effects  # nothing is due yet


# --- §4.3/§7: one request lifecycle ------------------------------------------------------------------


def test_a_rollback_waits_for_the_engineering_lead_then_its_command_is_queued_once():
    incident = opened()
    ask = {"by": PRIMARY, "action": "rollback", "target": "backend", "reason": "deploy"}
    asked = send(incident, "request_action", ask)
    assert kinds(asked) == ["action-requested"] and asked.events[0].request_id == "rollback-1"
    own = send(incident, "approve", {"by": PRIMARY, "request_id": "rollback-1"})
    assert own.verdict is Verdict.refused
    approved = send(incident, "approve", {"by": LEAD, "request_id": "rollback-1"})
    assert approved.verdict is Verdict.accepted
    assert [type(e) for e in approved.effects if isinstance(e, fx.RunAction)] == [fx.RunAction]
    assert incident.state.requests["rollback-1"].state is RequestState.approved


def test_two_approvals_one_the_ics_before_secrets_change():
    """The first approval leaves it pending, the same person's second is refused, the IC's
    completes it."""
    incident = opened()
    send(
        incident,
        "request_action",
        {"by": PRIMARY, "action": "modify_secrets", "target": "db", "reason": "leak"},
    )
    first = send(incident, "approve", {"by": LEAD, "request_id": "modify-secrets-1"})
    again = send(incident, "approve", {"by": LEAD, "request_id": "modify-secrets-1"})
    second = send(incident, "approve", {"by": IC, "request_id": "modify-secrets-1"})
    assert first.verdict is Verdict.pending and again.verdict is Verdict.refused
    assert second.verdict is Verdict.accepted
    assert incident.state.requests["modify-secrets-1"].state is RequestState.approved


def test_an_automatic_request_id_never_takes_one_a_person_chose():
    incident = opened()
    ask = {"by": PRIMARY, "action": "rollback", "target": "backend", "reason": "deploy"}
    send(incident, "request_action", {**ask, "request_id": "rollback-2"})
    send(incident, "request_action", {**ask, "target": "frontend"})
    assert sorted(incident.state.requests) == ["rollback-2", "rollback-3"]
    assert decide(incident.state, incident.given(), requests.new_id, "rollback").handoff == "rollback-4"


# --- §4.5 and §8 --------------------------------------------------------------------------------------


def resolved(forced: bool = False) -> Incident:
    incident = opened()
    value = {"by": IC, "summary": "Rolled back", **({"force_reason": "no metric"} if forced else {})}
    send(incident, "resolve", value)
    incident.lanes_work([not forced] * len(incident.lanes))  # the checks fail when forced
    incident.lanes_work([True] * len(incident.lanes))
    return incident


@pytest.mark.parametrize("forced", [False, True])
def test_resolving_verifies_or_is_forced_then_review_opens_the_ledger(forced):
    incident = resolved(forced)
    s = incident.state
    assert s.phase is Phase.REVIEW and s.resolution.forced is forced and s.ledger
    again = send(incident, "resolve", {"by": IC, "summary": "again"})
    assert again.verdict is Verdict.refused and "already being resolved or is resolved" in again.reason


def test_a_failed_check_keeps_the_incident_open_in_the_phase_it_was_in():
    incident = opened()
    send(incident, "acknowledge", {"by": PRIMARY})
    send(incident, "resolve", {"by": IC, "summary": "Rolled back"})
    incident.lanes_work([False] * len(incident.lanes))
    assert incident.state.phase is Phase.TRIAGE and incident.state.resolution is None
    assert [e.kind for e in incident.state.timeline].count(EventKind.gate_failed) == 1


def test_action_items_are_numbered_from_a_field_and_the_ledger_closes_when_all_are_done_or_waived():
    incident = resolved()
    for title in ("Canary deploys", "Alert on 5xx"):
        send(incident, "add_action_item", {"by": IC, "title": title, "owner": PRIMARY})
    numbers = [e.number for e in incident.state.timeline if e.kind is EventKind.action_item]
    assert numbers == [1, 2] and incident.state.action_items == 2
    keys = [e.key for e in incident.state.ledger]
    for key in keys[:-1]:
        send(incident, "complete_deliverable", {"by": IC, "deliverable": key, "link": "https://x"})
    assert any(e.open for e in incident.state.ledger)
    send(incident, "waive_deliverable", {"by": LEAD, "deliverable": keys[-1], "reason": "n/a"})
    assert not any(e.open for e in incident.state.ledger)
    done = send(incident, "complete_deliverable", {"by": IC, "deliverable": keys[0], "link": "https://y"})
    assert done.verdict is Verdict.refused and "done" in done.reason, done.reason


# --- decisions themselves --------------------------------------------------------------------------


def test_a_decision_names_only_fields_the_incident_has():
    with pytest.raises(ValueError, match="fields the incident has not: \\['severity_level'\\]"):
        Decision(changes={"severity_level": "P0"})


def test_decisions_chain_and_a_refusal_first_keeps_its_reason():
    incident = opened()
    ack = decide(incident.state, incident.given(), take, BY_NAME["acknowledge"], {"by": PRIMARY}, None)
    then = decide(
        after(incident.state, ack),
        incident.given(),
        take,
        BY_NAME["mitigate"],
        {"by": PRIMARY, "summary": "x"},
        None,
    )
    both = ack.then(then)
    assert kinds(both) == kinds(ack) + kinds(then) and both.changes["acknowledged_by"] == PRIMARY
    refused = decide(incident.state, incident.given(), take, BY_NAME["acknowledge"], {"by": 1}, None)
    assert refused.then(ack).verdict is Verdict.refused and refused.then(ack).reason == refused.reason


def test_applying_a_refusal_tells_the_bridge_and_keeps_the_timeline_bounded():
    incident = opened()
    decision = decide(incident.state, incident.given(), take, BY_NAME["acknowledge"], {"by": "x"}, None)
    told = applied(incident.state, decision, incident.now)
    assert [type(e) for e in told] == [fx.Post] and told[0].text.startswith("🚫 Refused `acknowledge`")
    assert incident.state.timeline[-1].kind is EventKind.refused


@pytest.mark.parametrize("state", ["done", "expired", "pending"])
def test_the_last_moment_guard_refuses_a_request_that_is_no_longer_approved_with_its_reason(state):
    """Just before its command runs (`requests.running`): refused, with the signal and reason."""
    incident = opened()
    ask = {"by": PRIMARY, "action": "rollback", "target": "backend", "reason": "deploy"}
    send(incident, "request_action", ask)
    request = incident.state.requests["rollback-1"]
    incident.state.requests["rollback-1"] = request.model_copy(update={"state": RequestState(state)})
    decision = decide(incident.state, incident.given(), requests.running, "rollback-1")
    assert decision.handoff is False and kinds(decision) == ["refused"]
    event = decision.events[0]
    assert event.signal == "run_action" and event.reason == f"rollback-1 not run: it is {state}"
    told = applied(incident.state, decision, incident.now)
    assert told[0].text == f"🚫 Refused `run_action`: rollback-1 not run: it is {state}"


@pytest.mark.parametrize(
    "before, skipped",
    [
        ("TRIAGE", ["CONTAIN", "FIX"]),
        ("CONTAIN", ["FIX"]),
        ("FIX", []),
    ],
)
def test_a_resolve_that_passes_over_a_phase_says_so_in_the_timeline(before, skipped):
    """A newcomer's friction (issue 23): `resolve` from CONTAIN skipped FIX without a word. Every
    §4 phase a resolve passes over is a typed `phase-skipped` event naming it."""
    incident = opened()
    incident.state.phase = Phase(before)
    decision = send(incident, "resolve", {"by": IC, "summary": "rolled back"})
    said = [e for e in decision.events if e.kind is EventKind.phase_skipped]
    assert [e.phase.value for e in said] == skipped
    assert all(f"resolve was sent in {before}" in e.text for e in said)
    assert incident.state.phase is Phase.RESOLVE
