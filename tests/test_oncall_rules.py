"""Issue 16's pure rules (plan/oncall.py): who holds a role given the roster and a look at
PagerDuty, and when a role changed hands; and how the policy names a role's schedule."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from plan.models import OnCallSource, Person, Policy, Role
from plan.oncall import Holder, Look, OnCallPerson, holder_after, settle

PRIMARY, SECONDARY = Role.oncall_primary, Role.oncall_secondary
BEN = Person(name="Ben Okafor", email="ben.okafor@preskool.com")
CHEN = Person(name="Chen Li", email="chen.li@preskool.com")
ZOE = OnCallPerson(name="Zoe Adams", email="zoe.adams@preskool.com", where="PagerDuty schedule PSCHED1")
YUSUF = OnCallPerson(name="Yusuf Ali", email="yusuf.ali@preskool.com", where="PagerDuty schedule PSCHED1")
ZOE_CAPITALISED = ZOE.model_copy(update={"email": "Zoe.Adams@preskool.com"})
ROSTER_BEN = Holder(name=BEN.name, email=BEN.email, source="roster", detail="pagerduty not configured")
PD_ZOE = Holder(name=ZOE.name, email=ZOE.email, source="pagerduty", detail=ZOE.where)


@pytest.mark.parametrize(
    ("look", "fixed", "before", "expected"),
    [
        # PagerDuty names someone: they hold the role, whatever the roster or the last look said.
        (Look(found={PRIMARY: ZOE}), BEN, None, ("Zoe Adams", "pagerduty")),
        (Look(found={PRIMARY: ZOE}), None, ROSTER_BEN, ("Zoe Adams", "pagerduty")),
        # Not configured, or no answer, at the first look: the roster's person, saying why.
        (Look(skipped="pagerduty not configured"), BEN, None, ("Ben Okafor", "roster")),
        (Look(failed={PRIMARY: "pagerduty did not answer: 503"}), BEN, None, ("Ben Okafor", "roster")),
        # ... and with no fixed person: nobody.
        (Look(failed={PRIMARY: "nobody is on call"}), None, None, (None, "roster")),
        # A later look that fails keeps PagerDuty's last answer: a failure is no handoff.
        (Look(failed={PRIMARY: "timeout"}), BEN, PD_ZOE, ("Zoe Adams", "pagerduty")),
        (Look(skipped="pagerduty not configured"), BEN, PD_ZOE, ("Zoe Adams", "pagerduty")),
    ],
)
def test_who_holds_the_role(look, fixed, before, expected):
    held = holder_after(look, PRIMARY, fixed, before)
    assert (held.name, held.source) == expected


def test_the_first_look_says_where_each_holder_came_from():
    settled = settle(
        [PRIMARY, SECONDARY],
        {PRIMARY: BEN, SECONDARY: CHEN},
        {},
        Look(found={PRIMARY: ZOE}, failed={SECONDARY: "pagerduty did not answer: 503"}),
    )
    assert settled.holders[PRIMARY].email == ZOE.email and settled.holders[SECONDARY].email == CHEN.email
    assert settled.notes == [
        "On-Call Engineer (Primary): Zoe Adams, on call per PagerDuty schedule PSCHED1",
        "On-Call Engineer (Secondary): Chen Li, the roster's (pagerduty did not answer: 503)",
    ]
    assert settled.handoffs == []


@pytest.mark.parametrize(
    ("before", "look", "handed_to", "note"),
    [
        # The schedule moved on.
        (PD_ZOE, Look(found={PRIMARY: YUSUF}), "Yusuf Ali", "handed over from Zoe Adams to Yusuf Ali"),
        # PagerDuty came back and names someone other than the stand-in.
        (ROSTER_BEN, Look(found={PRIMARY: ZOE}), "Zoe Adams", "handed over from Ben Okafor to Zoe Adams"),
        # The same person again (any case of email): nothing to say.
        (PD_ZOE, Look(found={PRIMARY: ZOE_CAPITALISED}), None, None),
        # No answer this time: the holder stays, and the timeline says PagerDuty was not heard.
        (PD_ZOE, Look(failed={PRIMARY: "503"}), None, "still Zoe Adams; PagerDuty did not answer (503)"),
        # Still no PagerDuty: the stand-in stays, quietly.
        (ROSTER_BEN, Look(skipped="not configured"), None, None),
    ],
)
def test_later_looks_report_handoffs(before, look, handed_to, note):
    settled = settle([PRIMARY], {PRIMARY: BEN}, {PRIMARY: before}, look)
    assert [h.after.name for h in settled.handoffs] == ([handed_to] if handed_to else [])
    assert [n.removeprefix("On-Call Engineer (Primary): ") for n in settled.notes] == (
        [f"{note} ({settled.holders[PRIMARY].detail})" if handed_to else note] if note else []
    )


def test_a_roster_role_names_a_schedule_beside_or_instead_of_a_person(policy):
    data = policy.model_dump(mode="json")
    data["roster"]["oncall_primary"]["on_call"] = {"pagerduty_schedule": "PSCHED1"}
    data["roster"]["oncall_secondary"] = {
        "on_call": {"pagerduty_escalation_policy": "PEP0001", "escalation_level": 2}
    }
    lifted = Policy.model_validate(data)
    assert lifted.on_call == {
        PRIMARY: OnCallSource(pagerduty_schedule="PSCHED1"),
        SECONDARY: OnCallSource(pagerduty_escalation_policy="PEP0001", escalation_level=2),
    }
    assert lifted.roster[PRIMARY].email == BEN.email and SECONDARY not in lifted.roster
    # The pinned policy (as workflow history keeps it) reads back the same.
    assert Policy.model_validate(lifted.model_dump(mode="json")) == lifted
    assert lifted.on_call[SECONDARY].describe() == "PagerDuty escalation policy PEP0001 level 2"


@pytest.mark.parametrize(
    "source",
    [
        {},
        {"pagerduty_schedule": "PSCHED1", "pagerduty_escalation_policy": "PEP0001"},
        {"pagerduty_schedule": "not an id"},
        {"pagerduty_escalation_policy": "PEP0001", "escalation_level": 0},
        {"pagerduty_schedul": "PSCHED1"},
    ],
)
def test_a_bad_on_call_source_is_refused(source):
    with pytest.raises(ValidationError):
        OnCallSource.model_validate(source)
