"""Issue 23, case 6: the PagerDuty shift ends mid-incident. Kind: long-running watchers follow the
world as it changes. The rule of when to look again is pure (plan/oncall.py, plan/decide/shifts.py:
tables and a Hypothesis property over rotations and failed looks); the sandbox's PagerDuty answers
GET /oncalls for a moment as PagerDuty does; and an incident open across a shift's end, on the
time-skipping server, announces the handoff, invites the new person and moves the role, its
authority and its reminders."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio
from hypothesis import given
from hypothesis import strategies as st

from activities.on_call.pagerduty import PagerDutyOnCall
from plan import AlertmanagerDelivery, Policy, Role
from plan.alert_digest import digest
from plan.decide import shifts
from plan.decision import Given, decide
from plan.incident import IncidentInput, IncidentState
from plan.models import OnCallSource
from plan.oncall import LOOK_AGAIN, Holder, Look, OnCallPerson, next_shift_look, settle, shifts_ended
from sandbox.settings import PAGERDUTY_API_TOKEN
from sandbox.slack import SlackFake
from tests.helpers import finish, status_when
from tests.payloads import alert, delivery
from workflows import IncidentWorkflow

PRIMARY, IC = Role.oncall_primary, Role.incident_commander
T = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
ZOE = ("PZOE001", "Zoe Adams", "zoe.adams@preskool.com", "UZOE00001")
YUSUF = ("PYUSUF1", "Yusuf Ali", "yusuf.ali@preskool.com", "UYUSUF001")
INES = ("PINES01", "Ines Costa", "ines.costa@preskool.com", "UINES0001")
OMAR = ("POMAR01", "Omar Haddad", "omar.haddad@preskool.com", "UOMAR0001")


def held(name: str, until: datetime | None, source: str = "pagerduty") -> Holder:
    return Holder(name=name, email=f"{name.lower()}@preskool.com", source=source, detail="d", until=until)


# --- the rule: when to look again -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("holders", "assigned", "asked", "expected"),
    [
        # Nothing PagerDuty fills, or shifts with no end: nothing to follow.
        ({}, set(), None, None),
        ({PRIMARY: held("ben", T, source="roster")}, set(), None, None),
        ({PRIMARY: held("zoe", None)}, set(), None, None),
        # The earliest end among the holders.
        ({PRIMARY: held("zoe", T + timedelta(minutes=10)), IC: held("ines", T)}, set(), None, T),
        # A role the IC assigned by hand is not PagerDuty's any more.
        (
            {PRIMARY: held("zoe", T + timedelta(minutes=10)), IC: held("ines", T)},
            {IC},
            None,
            T + timedelta(minutes=10),
        ),
        # Looked at already: the next end after that look.
        ({PRIMARY: held("zoe", T + timedelta(hours=8))}, set(), T, T + timedelta(hours=8)),
        # A look at the end that could not name anyone new: looked at again LOOK_AGAIN later.
        ({PRIMARY: held("zoe", T)}, set(), T, T + LOOK_AGAIN),
        ({PRIMARY: held("zoe", T)}, set(), T + LOOK_AGAIN, T + 2 * LOOK_AGAIN),
        # ... unless another shift ends sooner.
        (
            {PRIMARY: held("zoe", T), IC: held("ines", T + timedelta(minutes=5))},
            set(),
            T,
            T + timedelta(minutes=5),
        ),
    ],
)
def test_when_a_shift_end_looks_again(holders, assigned, asked, expected):
    assert next_shift_look(holders, assigned, asked) == expected


def state(**changes) -> IncidentState:
    from plan.severity import SeverityDecision

    decision = SeverityDecision.model_construct(severity="P1", data_at_risk=False)
    return IncidentState(started_at=T, decision=decision, **changes)


@pytest.mark.parametrize(
    ("changes", "now", "looks"),
    [
        # The shift ended: one look, its reason naming whose shift and when.
        (
            {"on_call": {PRIMARY: held("Zoe", T)}},
            T,
            ["Zoe's shift as On-Call Engineer (Primary) ended at 09:00 UTC"],
        ),
        # Not yet.
        ({"on_call": {PRIMARY: held("Zoe", T)}}, T - timedelta(seconds=1), []),
        # Already asked for at this end: not twice.
        ({"on_call": {PRIMARY: held("Zoe", T)}, "shift_look_asked": T}, T + timedelta(minutes=1), []),
        # In REVIEW the people who worked the incident keep their roles.
        ({"on_call": {PRIMARY: held("Zoe", T)}, "phase": "REVIEW"}, T, []),
    ],
)
def test_the_decider_asks_once_per_end(policy: Policy, changes, now, looks):
    with_pd = policy.model_copy(update={"on_call": {PRIMARY: OnCallSource(pagerduty_schedule="PSCHED1")}})
    decision = decide(state(**changes), Given("inc-x", with_pd, now), shifts.ended)
    assert [e.why.removeprefix("a shift's end: ") for e in decision.effects] == looks
    if looks:
        assert decision.changes["shift_look_asked"] == now


ROTATION = st.lists(st.integers(min_value=1, max_value=600), min_size=1, max_size=8)  # minutes each


@given(
    lengths=ROTATION,
    opened=st.integers(min_value=0, max_value=3000),
    failing=st.sets(st.integers(min_value=0, max_value=12), max_size=4),
)
def test_following_a_rotation_always_names_who_is_on_call(lengths, opened, failing):
    """Whatever the rotation and whichever looks PagerDuty does not answer: each look comes after
    the last (never a loop), at most LOOK_AGAIN after a failed one, and after every look that was
    answered the holder is whom the schedule names at that moment, until the rotation ends."""
    starts = [T + timedelta(minutes=sum(lengths[:i])) for i in range(len(lengths))]
    rota = [
        (f"p{i % 3}", s, s + timedelta(minutes=n))
        for i, (s, n) in enumerate(zip(starts, lengths, strict=True))
    ]

    def on_call(at: datetime) -> OnCallPerson | None:
        for name, start, end in rota:
            if start <= at < end:
                return OnCallPerson(name=name, email=f"{name}@preskool.com", until=end)
        return None

    def look(at: datetime, n: int) -> Look:
        found = on_call(at)
        if n in failing or found is None:
            return Look(failed={PRIMARY: "no answer" if found else "nobody is on call"})
        return Look(found={PRIMARY: found})

    now = T + timedelta(minutes=opened % (sum(lengths) + 1))
    holders = settle([PRIMARY], {}, {}, look(now, -1)).holders
    asked, n = None, 0
    while (due := next_shift_look(holders, set(), asked)) is not None and n < 60:
        assert asked is None or due > asked
        if asked is not None and holders[PRIMARY].until and holders[PRIMARY].until <= asked:
            assert due <= asked + LOOK_AGAIN
        answer = look(due, n)
        holders = settle([PRIMARY], {}, holders, answer).holders
        if answer.found:
            assert holders[PRIMARY].name == on_call(due).name
        asked, n = due, n + 1
    # The rotation ran out (a schedule with nobody after it): looked at every LOOK_AGAIN, bounded
    # in the incident by REVIEW; otherwise every end was followed.
    assert n == 60 or due is None


def test_shifts_ended_names_the_roles_and_their_holders():
    holders = {PRIMARY: held("zoe", T), IC: held("ines", T + timedelta(hours=1))}
    assert shifts_ended(holders, set(), T) == {PRIMARY: holders[PRIMARY]}
    assert shifts_ended(holders, {PRIMARY}, T + timedelta(hours=2)) == {IC: holders[IC]}


# --- the sandbox's PagerDuty answers for a moment, as PagerDuty does ---------------------------------


async def test_oncalls_for_a_moment_and_the_provider_takes_the_shift_that_holds_it(pagerduty):
    book = pagerduty.rest
    for user_id, name, email, _ in (ZOE, YUSUF):
        book.add_user(user_id, name, email)
    ends = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
    book.rotate([ZOE[0], YUSUF[0]], schedule="PSCHED1", first_ends=ends)
    directory = PagerDutyOnCall(PAGERDUTY_API_TOKEN, pagerduty.url, pagerduty.client_ssl_context())
    source = OnCallSource(pagerduty_schedule="PSCHED1")
    now = await asyncio.to_thread(directory.on_call, source)
    before = await asyncio.to_thread(directory.on_call, source, ends - timedelta(seconds=1))
    at_end = await asyncio.to_thread(directory.on_call, source, ends)
    assert (now.name, before.name, at_end.name) == ("Zoe Adams", "Zoe Adams", "Yusuf Ali")
    assert now.until == ends and at_end.until == ends + timedelta(hours=8)
    asked = pagerduty.calls_to("/oncalls")[-1].params["query"]
    assert asked["since"] == [ends.isoformat()] and asked["until"] == [
        (ends + timedelta(seconds=1)).isoformat()
    ]
    # A range over both shifts answers both; earliest=true keeps one per policy, level and user.
    book.rotate([ZOE[0], YUSUF[0], ZOE[0]], schedule="PSCHED1", first_ends=ends)
    async with httpx.AsyncClient(verify=pagerduty.client_ssl_context(), base_url=pagerduty.url) as http:

        async def users(**query) -> list[str]:
            answer = await http.get(
                "/oncalls",
                params={"schedule_ids[]": "PSCHED1", **query},
                headers={"Authorization": f"Token token={PAGERDUTY_API_TOKEN}"},
            )
            return [o["user"]["id"] for o in answer.json()["oncalls"]]

        day = {
            "since": (ends - timedelta(hours=1)).isoformat(),
            "until": (ends + timedelta(days=1)).isoformat(),
        }
        assert await users(**day) == [ZOE[0], YUSUF[0], ZOE[0]]
        assert await users(**day, earliest="true") == [ZOE[0], YUSUF[0]]
        assert await users() == [ZOE[0]]  # now


# --- an incident open across the shift's end (time-skipping server) --------------------------------


@pytest_asyncio.fixture
async def slack(policy):
    users = {p.contacts["slack"]: {"name": p.name, "email": p.email} for p in policy.roster.values()}
    users |= {uid: {"name": name, "email": email} for _, name, email, uid in (ZOE, YUSUF, INES, OMAR)}
    async with SlackFake(users=users) as fake:
        yield fake


def said(status, text: str) -> bool:
    return any(text in e.text for e in status.timeline)


async def test_a_shift_that_ends_mid_incident_hands_the_role_over(
    time_env, run_worker, policy, slack, pagerduty
):
    book = pagerduty.rest
    for user_id, name, email, _ in (ZOE, YUSUF, INES, OMAR):
        book.add_user(user_id, name, email)
    ends = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
    book.rotate([ZOE[0], YUSUF[0]], schedule="PSCHED1", first_ends=ends)
    book.rotate([INES[0], OMAR[0]], schedule="PICSCHD", first_ends=ends, schedule_name="IC rotation")
    data = policy.model_dump(mode="json")
    data["roster"]["oncall_primary"]["on_call"] = {"pagerduty_schedule": "PSCHED1"}
    data["roster"]["incident_commander"]["on_call"] = {"pagerduty_schedule": "PICSCHD"}
    with_pd = Policy.model_validate(data)
    async with run_worker(time_env.client, with_policy=with_pd) as tq:
        incident_id = f"inc-{uuid.uuid4().hex[:12]}"
        handle = await time_env.client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(incident_id=incident_id, group_key="g"),
            id=incident_id,
            task_queue=tq,
        )
        payload = delivery(alert(module="fees", severity="critical", summary="Fee collection failing"))
        await handle.execute_update(
            IncidentWorkflow.receive_alerts, digest(AlertmanagerDelivery.model_validate(payload))
        )
        await status_when(handle, lambda s: said(s, "posted the triage-checklist"))
        await handle.signal("acknowledge", {"by": ZOE[2]})
        await handle.signal("set_severity", {"by": OMAR[2], "severity": "P1", "reason": "before his shift"})
        await status_when(handle, lambda s: said(s, f"refused set_severity: unknown person: {OMAR[2]}"))
        # Nobody changes a severity or a role: only the shift ends.
        await time_env.sleep(timedelta(minutes=11))
        status = await status_when(
            handle,
            lambda s: sum(e.text.startswith("posted the handoff") for e in s.timeline) == 2,
            timeout=60,
        )
        # The role's authority moved: the new IC may set the severity, the one off shift may not.
        await handle.signal("set_severity", {"by": INES[2], "severity": "P0", "reason": "after her shift"})
        await handle.signal("set_severity", {"by": OMAR[2], "severity": "P0", "reason": "all schools"})
        await status_when(handle, lambda s: s.severity == "P0")
        # Its reminders too: the next overdue §5.2 update names the IC on call now.
        await time_env.sleep(timedelta(minutes=16))
        status = await status_when(handle, lambda s: said(s, "posted the update-overdue"), timeout=60)
        await finish(handle)
    channel = slack.channel_by_name(status.channel)
    texts = [m["text"] for m in channel.messages]
    handoffs = [t for t in texts if t.startswith("🔁 On-call handoff")]
    at = f"{ends:%Y-%m-%d %H:%M} UTC"
    assert sorted(handoffs) == [
        "🔁 On-call handoff: Incident Commander (IC) is now <@UOMAR0001> (was Ines Costa; PagerDuty "
        f"schedule PICSCHD (IC rotation)). Ines Costa's shift ended at {at}.",
        "🔁 On-call handoff: On-Call Engineer (Primary) is now <@UYUSUF001> (was Zoe Adams; PagerDuty "
        f"schedule PSCHED1 (Primary rotation)). Zoe Adams's shift ended at {at}.",
    ]
    assert {YUSUF[3], OMAR[3]} <= set(channel.members)  # the new people invited
    assert said(status, "On-Call Engineer (Primary): handed over from Zoe Adams to Yusuf Ali")
    assert said(
        status, f"[at a shift's end: Ines Costa's shift as Incident Commander (IC) ended at {ends:%H:%M}"
    )
    assert said(status, "Incident Commander (IC): handed over from Ines Costa to Omar Haddad")
    assert said(status, f"refused set_severity: unknown person: {INES[2]} is not in the roster")
    [overdue] = [t for t in texts if "update is overdue" in t]
    assert overdue.startswith("⏰ <@UOMAR0001>")
    roles = {r.role: r.person for r in status.roles}
    assert roles[PRIMARY] == YUSUF[2] and roles[IC] == OMAR[2]


def test_the_v2_1_history_records_both_patches():
    """tests/histories/v2.1/people.json (tests/histories/record.py `people`) is the new path: the
    invitations refused and told (`invite-each`), the shift's end followed (`shift-end`)."""
    from pathlib import Path

    from tests.test_replay import patches

    path = Path(__file__).parent / "histories" / "v2.1" / "people.json"
    assert patches(path) == {"invite-each", "shift-end"}
