"""Roles any verified person can take (issue 23), with no server: the policy's `roles` section
(refused at validation with its path when misspelt), who may hold each role, a role given or
handed over, the chat provider's answer about someone outside the roster, the checklist. The
same through Slack and the CLI on a real worker: tests/test_roles_live.py."""

from __future__ import annotations

import re

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from plan import effects as fx
from plan.decide import roles
from plan.decision import Given, Verdict, decide
from plan.judge import take
from plan.models import DEFAULT_CHECKLISTS, HoldRule, Role
from plan.policy import DEFAULT_POLICY_FILE, PolicyError, parse_policy
from tests.test_deciders import IC, LEAD, PRIMARY, kinds, opened, send
from tests.test_simulation import POLICY, Incident
from webhook.slack.app import USAGE, role_command
from workflows.signals import BY_NAME

ZOE = "zoe.nakamura@preskool.com"  # a colleague outside the roster, a full member of the workspace
CHEN = "chen.li@preskool.com"
RAW = yaml.safe_load(DEFAULT_POLICY_FILE.read_text())


# --- the policy -------------------------------------------------------------------------------------


def test_by_default_the_ic_on_call_and_communications_roles_are_open_to_verified_members():
    rules = {role: POLICY.roles[role].may_hold for role in Role}
    assert rules == {
        Role.incident_commander: HoldRule.verified_members,
        Role.oncall_primary: HoldRule.verified_members,
        Role.oncall_secondary: HoldRule.verified_members,
        Role.communications_lead: HoldRule.verified_members,
        Role.engineering_lead: HoldRule.roster,
        Role.cto: HoldRule.roster,
        Role.database_lead: HoldRule.roster,
    }
    assert POLICY.roles[Role.communications_lead].checklist == DEFAULT_CHECKLISTS[Role.communications_lead]
    assert "Update the status page (§5.3)" in POLICY.roles[Role.communications_lead].checklist


def test_a_policy_without_roles_and_one_naming_a_few_keep_the_defaults_for_the_rest():
    without = parse_policy({k: v for k, v in RAW.items() if k != "roles"})
    assert without.roles == POLICY.roles
    some = parse_policy({**RAW, "roles": {"cto": {"may_hold": [ZOE]}}})
    assert some.roles[Role.cto].may_hold == [ZOE] and some.roles[Role.cto].checklist == []
    assert some.roles[Role.incident_commander] == POLICY.roles[Role.incident_commander]


BAD_ROLES = [
    ({"comms_lead": {"may_hold": "roster"}}, "roles.comms_lead: Input should be"),
    (
        {"cto": {"may_hold": "verified_member"}},
        "roles.cto.may_hold: Value error, 'verified_member' is no rule",
    ),
    ({"cto": {"may_hold": "anyone"}}, "roles.cto.may_hold: Value error, 'anyone' is no rule"),
    ({"cto": {"mayhold": "roster"}}, "roles.cto.mayhold: Extra inputs are not permitted"),
    ({"cto": {"may_hold": ["not-an-email"]}}, "roles.cto.may_hold.emails.0: String should match"),
    ({"cto": {"may_hold": []}}, "roles.cto.may_hold.emails: List should have at least 1 item"),
    ({"cto": {"checklist": [""]}}, "roles.cto.checklist.0: String should have at least 1 character"),
    ({"cto": {"checklist": ["x"] * 21}}, "roles.cto.checklist: List should have at most 20 items"),
]


@pytest.mark.parametrize("roles_section, where", BAD_ROLES, ids=[w.split(":")[0] for _, w in BAD_ROLES])
def test_a_misspelt_role_or_rule_is_refused_at_validation_with_its_path(roles_section, where):
    """Security fails closed: nothing misspelt is read as open (or as closed) by accident."""
    with pytest.raises(PolicyError) as refused:
        parse_policy({**RAW, "roles": roles_section})
    assert where in str(refused.value), str(refused.value)


# --- who may hold a role (plan/decide/roles.py), through the one door (plan/judge.py take) ----------


def test_the_ic_gives_the_communications_lead_to_a_colleague_outside_the_roster_once_slack_vouches():
    """The field case: refused before issue 23; now checked with the chat provider, then taken."""
    incident = opened()
    asked = send(incident, "assign_role", {"by": IC, "role": "communications_lead", "person": ZOE})
    assert asked.verdict is Verdict.pending, asked.reason
    check = next(e for e in incident.lanes if isinstance(e, fx.VerifyHolder))
    assert (check.role, check.person, check.how) == (Role.communications_lead, ZOE, "assign_role")
    assert Role.communications_lead not in incident.state.assignments  # not before Slack vouches
    taken = incident.decide(roles.verified, check, True, None)
    assert incident.state.assignments[Role.communications_lead] == ZOE
    assert "Communications Lead is now zoe.nakamura@preskool.com" in taken.events[0].text
    assert "verified a full member" in taken.events[0].text
    told = next(e for e in taken.effects if isinstance(e, fx.Notify))
    assert told.email == ZOE and "Update the status page (§5.3)" in told.text
    assert [b.label for b in told.buttons][:2] == [
        "Done: Update the status page (§5.3)",
        "Done: Send the customer email (§5.4)",
    ]
    assert fx.Invite((Role.communications_lead,)) in taken.effects
    assert any(isinstance(e, fx.Post) and "👤 Communications Lead" in e.text for e in taken.effects)


@pytest.mark.parametrize(
    "why",
    ["they are a guest in Slack (is_restricted)", "Slack has no user with the email zoe@x", "a bot"],
)
def test_someone_the_chat_provider_does_not_vouch_for_is_refused_with_its_reason(why):
    incident = opened()
    send(incident, "assign_role", {"by": IC, "role": "incident_commander", "person": ZOE})
    check = next(e for e in incident.lanes if isinstance(e, fx.VerifyHolder))
    refused = incident.decide(roles.verified, check, False, why)
    assert refused.verdict is Verdict.refused and why in refused.reason
    assert Role.incident_commander not in incident.state.assignments
    assert incident.state.timeline[-1].kind == "refused" and why in incident.state.timeline[-1].reason
    assert any(isinstance(e, fx.Post) and why in e.text for e in incident.lanes)  # told in the bridge


RULES = [
    # role, person, verdict, reason or effect
    (
        "engineering_lead",
        ZOE,
        Verdict.refused,
        "held only by people of the roster (policy roles.engineering_lead",
    ),
    ("cto", ZOE, Verdict.refused, "(policy roles.cto.may_hold: roster)"),
    ("database_lead", CHEN, Verdict.accepted, None),  # a person of the roster keeps today's rule
    ("oncall_secondary", LEAD, Verdict.accepted, None),
    ("oncall_primary", ZOE, Verdict.pending, "VerifyHolder"),
    ("incident_commander", ZOE, Verdict.pending, "VerifyHolder"),
]


@pytest.mark.parametrize(
    "role, person, verdict, detail", RULES, ids=[f"{r}-{p.split('.')[0]}" for r, p, *_ in RULES]
)
def test_each_role_keeps_its_rule(role, person, verdict, detail):
    incident = opened()
    decision = send(incident, "assign_role", {"by": IC, "role": role, "person": person})
    assert decision.verdict is verdict, decision.reason
    if verdict is Verdict.refused:
        assert detail in decision.reason
    elif verdict is Verdict.pending:
        assert any(type(e).__name__ == detail for e in decision.effects)
    else:
        assert incident.state.assignments[Role(role)] == person


def test_a_role_listed_in_the_policy_goes_only_to_the_listed_people():
    listed = parse_policy({**RAW, "roles": {"database_lead": {"may_hold": [ZOE]}}})

    class Listed(Incident):
        POLICY_IN_FORCE = listed

    incident = opened(machine=Listed)
    ok = send(incident, "assign_role", {"by": IC, "role": "database_lead", "person": ZOE})
    assert ok.verdict is Verdict.accepted and incident.state.assignments[Role.database_lead] == ZOE
    no = send(incident, "assign_role", {"by": IC, "role": "database_lead", "person": CHEN})
    assert (
        no.verdict is Verdict.refused and "the people policy roles.database_lead.may_hold lists" in no.reason
    )


def test_the_holder_has_the_roles_authority_for_this_incident_only():
    incident = opened()
    send(incident, "assign_role", {"by": IC, "role": "incident_commander", "person": ZOE})
    incident.decide(
        roles.verified, next(e for e in incident.lanes if isinstance(e, fx.VerifyHolder)), True, None
    )
    change = {"by": ZOE, "severity": "P0", "reason": "every school affected"}
    assert send(incident, "set_severity", change).verdict is Verdict.accepted
    assert incident.state.decision.severity == "P0"
    # Asha handed the IC over: she no longer has its authority here.
    again = send(incident, "set_severity", {**change, "by": IC, "severity": "P1"})
    assert again.verdict is Verdict.refused and "may not set severity" in again.reason
    other = opened()  # another incident: Zoe is nobody there
    assert "unknown person" in send(other, "set_severity", change).reason


def test_an_incident_begun_before_issue_23_still_refuses_a_stranger_as_it_did():
    """Replay: `workflow.patched` is false for it, and the judge refuses as before (no new command)."""
    incident = opened()
    old = Given(incident.given().incident_id, incident.policy, incident.now, patched=lambda _change: False)
    value = {"by": IC, "role": "communications_lead", "person": ZOE}
    decision = decide(incident.state, old, take, BY_NAME["assign_role"], value, None)
    assert decision.verdict is Verdict.refused and "unknown person: zoe.nakamura" in decision.reason
    assert not decision.effects
    roster = decide(incident.state, old, take, BY_NAME["assign_role"], {**value, "person": CHEN}, None)
    assert roster.verdict is Verdict.accepted
    assert not any(isinstance(e, fx.Notify) for e in roster.effects)  # no checklist: as it was


@pytest.mark.parametrize(
    "signal, value",
    [
        ("handover", {"by": PRIMARY, "person": CHEN}),
        ("tick_checklist", {"by": PRIMARY, "role": "oncall_primary", "item": 0}),
    ],
)
def test_signals_new_in_issue_23_are_refused_by_an_incident_begun_before_it(signal, value):
    """As its code did (an unknown signal: refused in the timeline and the bridge), so it replays."""
    incident = opened()
    old = Given(incident.given().incident_id, incident.policy, incident.now, patched=lambda _change: False)
    decision = decide(incident.state, old, take, BY_NAME[signal], value, None)
    assert (
        decision.verdict is Verdict.refused and f"this incident takes no signal '{signal}'" in decision.reason
    )
    assert kinds(decision) == ["refused"] and not decision.changes


# --- handover ---------------------------------------------------------------------------------------


def test_the_on_call_hands_their_role_over_with_their_summary():
    incident = opened()
    note = "Rollback half done; the fees queue drains slowly"
    decision = send(incident, "handover", {"by": PRIMARY, "person": CHEN, "note": note})
    assert decision.verdict is Verdict.accepted, decision.reason
    assert incident.state.assignments[Role.oncall_primary] == CHEN
    assert kinds(decision) == ["handover"] and note in decision.events[0].text
    post = next(e for e in decision.effects if isinstance(e, fx.Post))
    assert (
        post.what == "handover"
        and "🤝 Handover: On-Call Engineer (Primary)" in post.text
        and note in post.text
    )
    told = next(e for e in decision.effects if isinstance(e, fx.Notify))
    assert told.email == CHEN and note in told.text and "Acknowledge the page" in told.text
    assert fx.Invite((Role.oncall_primary,)) in decision.effects


def test_the_ic_hands_over_to_a_verified_colleague_during_a_long_night():
    incident = opened()
    asked = send(
        incident, "handover", {"by": IC, "role": "incident_commander", "person": ZOE, "note": "P1, fees"}
    )
    assert asked.verdict is Verdict.pending
    check = next(e for e in incident.lanes if isinstance(e, fx.VerifyHolder))
    assert check.how == "handover" and check.note == "P1, fees"
    done = incident.decide(roles.verified, check, True, None)
    assert incident.state.assignments[Role.incident_commander] == ZOE
    assert kinds(done) == ["handover"] and "from asha.rao@preskool.com to zoe.nakamura" in done.events[0].text
    # Zoe, now the IC, hands it on in turn (she is known here as its holder).
    on = send(incident, "handover", {"by": ZOE, "person": IC, "note": "back to you"})
    assert on.verdict is Verdict.accepted and incident.state.assignments[Role.incident_commander] == IC


HANDOVER_REFUSALS = [
    ({"by": CHEN, "role": "oncall_primary", "person": LEAD}, "does not hold the On-Call Engineer (Primary)"),
    ({"by": PRIMARY, "person": PRIMARY}, "already holds"),
    ({"by": "nobody@preskool.com", "person": CHEN}, "unknown person"),
    ({"by": IC, "role": "engineering_lead", "person": ZOE}, "held only by people of the roster"),
]


@pytest.mark.parametrize("value, reason", HANDOVER_REFUSALS, ids=[r[:20] for _, r in HANDOVER_REFUSALS])
def test_a_handover_is_refused_with_its_reason(value, reason):
    incident = opened()
    decision = send(incident, "handover", value)
    assert decision.verdict is Verdict.refused and reason in decision.reason, decision.reason
    assert incident.state.assignments == {}


def test_someone_holding_two_roles_names_the_one_they_hand_over():
    incident = opened()
    send(incident, "assign_role", {"by": IC, "role": "oncall_primary", "person": CHEN})
    two = send(incident, "handover", {"by": CHEN, "person": PRIMARY})
    assert two.verdict is Verdict.refused
    assert (
        "name the role to hand over: chen.li@preskool.com holds On-Call Engineer (Primary), On-Call"
        in two.reason
    )
    named = send(incident, "handover", {"by": CHEN, "role": "oncall_primary", "person": PRIMARY})
    assert named.verdict is Verdict.accepted and incident.state.assignments[Role.oncall_primary] == PRIMARY


# --- the checklist ----------------------------------------------------------------------------------


def test_the_holder_ticks_the_checklist_and_it_is_kept_in_the_timeline():
    incident = opened()
    assert send(incident, "tick_checklist", {"by": PRIMARY, "role": "oncall_primary", "item": 1}).accepted
    assert incident.state.checklists == {Role.oncall_primary: [1]}
    entry = incident.state.timeline[-1]
    assert (
        entry.kind == "checklist"
        and "“Investigate: declare the blast radius” done by ben.okafor" in entry.text
    )
    again = send(incident, "tick_checklist", {"by": PRIMARY, "role": "oncall_primary", "item": 1})
    assert again.accepted and "already done" in again.events[0].text
    assert (
        "does not hold"
        in send(incident, "tick_checklist", {"by": CHEN, "role": "oncall_primary", "item": 0}).reason
    )
    assert (
        "has 3 item(s)"
        in send(incident, "tick_checklist", {"by": PRIMARY, "role": "oncall_primary", "item": 5}).reason
    )
    send(incident, "handover", {"by": PRIMARY, "person": CHEN})
    assert Role.oncall_primary not in incident.state.checklists  # the new holder starts afresh


# --- the kind, searched (Hypothesis) ----------------------------------------------------------------

STRANGERS = [ZOE, "sam.stranger@preskool.com", "Zoe.Nakamura@PreSkool.com"]
RULE = st.sampled_from(
    [HoldRule.verified_members, HoldRule.roster, [ZOE], [CHEN, "sam.stranger@preskool.com"]]
)


@settings(max_examples=150, deadline=None)
@given(
    role=st.sampled_from(list(Role)),
    rule=RULE,
    person=st.sampled_from([*(p.email for p in POLICY.roster.values()), *STRANGERS]),
    by=st.sampled_from([IC, LEAD, PRIMARY, CHEN]),
    how=st.sampled_from(["assign_role", "handover"]),
    vouched=st.booleans(),
)
def test_a_role_goes_only_where_its_rule_allows_whoever_asks(role, rule, person, by, how, vouched):
    """Whatever the rule, the person, who asks and what the chat provider answers: a role is held
    only by someone its rule allows, the chat provider is asked only about someone outside the
    roster for a role open to verified members, and every refusal says why."""
    policy = parse_policy(
        {**RAW, "roles": {role.value: {"may_hold": rule if isinstance(rule, list) else rule.value}}}
    )

    class Ruled(Incident):
        POLICY_IN_FORCE = policy

    incident = opened(machine=Ruled)
    roster = {p.email for p in policy.roster.values()}
    decision = send(incident, how, {"by": by, "role": role.value, "person": person})
    checks = [e for e in decision.effects if isinstance(e, fx.VerifyHolder)]
    if decision.verdict is Verdict.refused:
        assert decision.reason
    if checks:
        assert rule is HoldRule.verified_members and person.lower() not in roster
        incident.decide(roles.verified, checks[0], vouched, None if vouched else "a guest in Slack")
    held = incident.state.assignments.get(role)
    if held is not None:
        if isinstance(rule, list):
            assert held in rule
        elif rule is HoldRule.roster or not vouched:
            assert held in roster


# --- what people type after /incident role and /incident handover ------------------------------------

SLACK_TEXT = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda role, user, name, note: f"{role}<@{user}{name}>{note}",
        st.sampled_from(["", "incident_commander ", "  comms ", "<@U1> ", "oncall_primary\n"]),
        st.from_regex(r"[UW][A-Z0-9]{2,12}", fullmatch=True) | st.text(max_size=6),
        st.sampled_from(["", "|zoe", "|", "|a>b"]),
        st.text(max_size=4000),
    ),
)


@settings(max_examples=300, deadline=None)
@given(verb=st.sampled_from(["role", "handover"]), text=SLACK_TEXT)
def test_whatever_follows_the_verb_is_read_or_answered_with_the_usage(verb, text):
    """Never an error: a Slack user and the input (never a `person` typed in), or the usage line."""
    read = role_command(verb, text)
    if isinstance(read, str):
        assert read == USAGE[verb]
        return
    user, data = read
    assert re.fullmatch(r"[UW][A-Z0-9]{2,20}", user) and f"<@{user}" in text
    assert "person" not in data and "by" not in data
    if verb == "role":
        assert data["role"] and "note" not in data
    else:
        assert len(data["note"]) <= 3000 and data["note"] == data["note"].strip()


@pytest.mark.parametrize(
    "verb, text, read",
    [
        ("role", " communications_lead <@U0ZOE00001|zoe>", ("U0ZOE00001", {"role": "communications_lead"})),
        ("role", " <@U0ZOE00001|zoe>", USAGE["role"]),  # a role is named
        ("role", " communications_lead @zoe", USAGE["role"]),  # an unescaped mention: no user id
        (
            "handover",
            " <@U0ZOE00001|zoe> Fees queue\nwatch it ",
            ("U0ZOE00001", {"note": "Fees queue\nwatch it"}),
        ),
        (
            "handover",
            " incident_commander <@W0ZOE00001>",
            ("W0ZOE00001", {"role": "incident_commander", "note": ""}),
        ),
        ("handover", "", USAGE["handover"]),
    ],
)
def test_the_slash_command_words(verb, text, read):
    assert role_command(verb, text) == read


def test_the_readmes_handover_line_is_taken_after_the_line_before_it():
    """README "Working an incident": `irp role … oncall_primary chen.li` then `irp handover …
    oncall_secondary grace.mensah … --by chen.li` (tests/test_stack.py runs them on `make up`)."""
    readme = (DEFAULT_POLICY_FILE.parent.parent / "README.md").read_text()
    assert "irp handover inc-3f2a9c1b7d10 oncall_secondary grace.mensah@preskool.com" in readme
    incident = opened()
    send(incident, "assign_role", {"by": IC, "role": "oncall_primary", "person": CHEN})
    value = {"by": CHEN, "role": "oncall_secondary", "person": "grace.mensah@preskool.com", "note": "DB fine"}
    assert send(incident, "handover", value).verdict is Verdict.accepted
    assert send(incident, "resolve", {"by": IC, "summary": "Rolled back"}).accepted  # Asha still the IC
