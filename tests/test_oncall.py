"""Issue 16, "On call from PagerDuty": the look-up against the PagerDuty sandbox's REST API over
HTTPS, Slack users found by email, and the incident naming whom PagerDuty says is on call — or
the roster's person when PagerDuty does not answer, said in the timeline — and announcing a
handoff in the bridge."""

from __future__ import annotations

import ssl
import time
import uuid

import pytest
import pytest_asyncio
from temporalio.testing import ActivityEnvironment

from activities.chat import BridgeActivities, BridgePost, Directory
from activities.chat.slack import SlackChat
from activities.on_call import OnCallActivities, OnCallRequest
from activities.on_call.pagerduty import PagerDutyOnCall
from plan import AlertmanagerDelivery, Policy, Role
from plan.alert_digest import digest
from plan.incident import IncidentInput
from plan.models import OnCallSource
from sandbox.settings import PAGERDUTY_API_TOKEN
from sandbox.slack import DEFAULT_TOKEN, SlackFake
from tests.helpers import finish, status_when
from tests.payloads import alert, delivery
from workflows import IncidentWorkflow

PRIMARY = Role.oncall_primary
BEN = "ben.okafor@preskool.com"
SCHEDULE = OnCallSource(pagerduty_schedule="PSCHED1")
ZOE = ("PZOE001", "Zoe Adams", "zoe.adams@preskool.com", "UZOE00001")
YUSUF = ("PYUSUF1", "Yusuf Ali", "yusuf.ali@preskool.com", "UYUSUF001")


@pytest_asyncio.fixture
async def slack(policy):
    """Slack knows the roster's people and the two engineers on PagerDuty's rotation, by email."""
    users = {p.contacts["slack"]: {"name": p.name, "email": p.email} for p in policy.roster.values()}
    users |= {uid: {"name": name, "email": email} for _, name, email, uid in (ZOE, YUSUF)}
    async with SlackFake(users=users) as fake:
        yield fake


@pytest.fixture
def book(pagerduty):
    """The sandbox's PagerDuty: Zoe on call on the primary schedule, Yusuf next."""
    for user_id, name, email, _ in (ZOE, YUSUF):
        pagerduty.rest.add_user(user_id, name, email)
    pagerduty.rest.put_on_call(ZOE[0], schedule="PSCHED1")
    return pagerduty.rest


def directory(pagerduty, token: str = PAGERDUTY_API_TOKEN) -> PagerDutyOnCall:
    return PagerDutyOnCall(token, pagerduty.url, pagerduty.client_ssl_context())


async def look(pagerduty, sources: dict, token: str = PAGERDUTY_API_TOKEN):
    activities = OnCallActivities(directory(pagerduty, token))
    return await ActivityEnvironment().run(activities.who_is_on_call, OnCallRequest(sources=sources))


# --- the look-up, against the sandbox over HTTPS -----------------------------------------------------


async def test_a_schedule_answers_who_is_on_call_with_name_and_email(pagerduty, book):
    answer = await look(pagerduty, {PRIMARY: SCHEDULE})
    zoe = answer.found[PRIMARY]
    assert (zoe.name, zoe.email) == ("Zoe Adams", "zoe.adams@preskool.com")
    assert zoe.where == "PagerDuty schedule PSCHED1 (Primary rotation)" and zoe.until is not None
    oncalls, user = pagerduty.calls_to("GET")
    assert oncalls.path == "/oncalls" and oncalls.params["query"] == {
        "schedule_ids[]": ["PSCHED1"],
        "earliest": ["true"],
    }
    assert user.path == "/users/PZOE001"


async def test_an_escalation_policy_answers_for_its_level(pagerduty, book):
    book.put_on_call(YUSUF[0], escalation_policy="PEP0002", level=2)
    book.put_on_call(ZOE[0], escalation_policy="PEP0002", level=1)
    source = OnCallSource(pagerduty_escalation_policy="PEP0002", escalation_level=2)
    answer = await look(pagerduty, {Role.oncall_secondary: source})
    assert answer.found[Role.oncall_secondary].name == "Yusuf Ali"


async def test_nobody_on_call_or_no_answer_is_reported_per_role_never_raised(pagerduty, book):
    pagerduty.fail_next("/oncalls", 503, times=2)  # the client's one retry, then Temporal's fallback
    empty = OnCallSource(pagerduty_schedule="PEMPTY1")
    answer = await look(pagerduty, {PRIMARY: SCHEDULE, Role.oncall_secondary: empty})
    assert answer.found == {}
    assert set(answer.failed.values()) == {
        "pagerduty did not answer: PagerDuty answered 503 to GET /oncalls",
        "nobody is on call for PagerDuty schedule PEMPTY1",
    }


async def test_429_is_retried_once_not_forever(pagerduty, book):
    pagerduty.fail_next("/oncalls", 429, times=50)
    started = time.monotonic()
    answer = await look(pagerduty, {PRIMARY: SCHEDULE})
    assert answer.failed[PRIMARY].endswith("PagerDuty answered 429 to GET /oncalls")
    assert len(pagerduty.calls_to("/oncalls")) == 2 and time.monotonic() - started < 5


async def test_a_refused_key_is_said_without_the_key(pagerduty, book):
    pagerduty.rest.api_tokens = {PAGERDUTY_API_TOKEN}
    answer = await look(pagerduty, {PRIMARY: SCHEDULE}, token="u+wrongRestApiKey0001")
    assert answer.failed[PRIMARY] == "pagerduty did not answer: PagerDuty refused GET /oncalls (401)"
    assert "wrong" not in str(answer.model_dump())


async def test_not_configured_is_skipped_and_http_is_refused(pagerduty):
    skipped = await ActivityEnvironment().run(
        OnCallActivities(None, missing="pagerduty").who_is_on_call, OnCallRequest(sources={PRIMARY: SCHEDULE})
    )
    assert skipped.skipped == "pagerduty not configured" and not skipped.found
    with pytest.raises(ValueError, match="must be an https:// URL"):
        PagerDutyOnCall(PAGERDUTY_API_TOKEN, "http://127.0.0.1:9", ssl.create_default_context())


# --- Slack users by email ----------------------------------------------------------------------------


async def test_slack_users_are_found_by_email_once_per_worker(slack, policy):
    ben = policy.roster[PRIMARY]
    ghost = ben.model_copy(update={"email": "ghost@preskool.com"})  # Slack does not know the email
    people = Directory([ghost])
    chat = SlackChat(DEFAULT_TOKEN, slack.url, ssl.create_default_context(), people)
    channel_id, _ = await chat.create_channel("inc-by-email")
    bridge = BridgeActivities(chat, people)
    for key in ("opening", "update-1"):
        await ActivityEnvironment().run(
            bridge.post_to_bridge,
            BridgePost(
                incident_id="inc-by-email",
                channel_id=channel_id,
                key=key,
                text=f"On-Call: <person:{ZOE[2]}> + <person:{ghost.email}>",
            ),
        )
    texts = [m["text"] for m in slack.messages("inc-by-email")]
    # Zoe is not in the roster at all; the ghost falls back to the roster's contacts.slack.
    assert texts == ["On-Call: <@UZOE00001> + <@U0ONCALL01>"] * 2
    assert len(slack.calls_to("users.lookupByEmail")) == 2  # one per person, then cached


# --- the incident ----------------------------------------------------------------------------------


def on_call_policy(policy: Policy, **roles: dict) -> Policy:
    """The policy with `roster.<role>.on_call` set for each of `roles`."""
    data = policy.model_dump(mode="json")
    for role, source in roles.items():
        data["roster"][role]["on_call"] = source
    return Policy.model_validate(data)


async def open_p1(env, task_queue):
    incident_id = f"inc-{uuid.uuid4().hex[:12]}"
    handle = await env.client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id=incident_id, group_key="g"),
        id=incident_id,
        task_queue=task_queue,
    )
    payload = delivery(alert(module="fees", severity="critical", summary="Fee collection failing"))
    await handle.execute_update(
        IncidentWorkflow.receive_alerts, digest(AlertmanagerDelivery.model_validate(payload))
    )
    return handle


def said(status, text: str) -> bool:
    return any(text in e.text for e in status.timeline)


async def test_the_bridge_and_the_opening_name_whom_pagerduty_says_is_on_call(
    time_env, run_worker, policy, slack, pagerduty, book
):
    with_pd = on_call_policy(policy, oncall_primary={"pagerduty_schedule": "PSCHED1"})
    async with run_worker(time_env.client, with_policy=with_pd) as tq:
        handle = await open_p1(time_env, tq)
        status = await status_when(handle, lambda s: said(s, "posted the opening message"))
        await finish(handle)
    channel = f"preskool-incident-{status.started_at:%Y-%m-%d}"
    opening = slack.messages(channel)[0]["text"]
    assert "On-Call: <@UZOE00001> + <@U0ONCALL02>" in opening
    assert "UZOE00001" in slack.channel_by_name(channel).members
    assert "U0ONCALL01" not in slack.channel_by_name(channel).members  # Ben is not on call this week
    assert said(status, "On-Call Engineer (Primary): Zoe Adams, on call per PagerDuty schedule PSCHED1")
    primary = next(r for r in status.roles if r.role == PRIMARY)
    assert primary.person == "zoe.adams@preskool.com"
    # Paged through the role's own address (the roster's routing key), whoever is on call.
    assert pagerduty.triggers(f"{status.outward_id}:oncall_primary")


async def test_when_pagerduty_does_not_answer_the_roster_person_stands_in(
    time_env, run_worker, policy, slack, pagerduty, book
):
    pagerduty.fail_next("/oncalls", 503, times=100)
    with_pd = on_call_policy(policy, oncall_primary={"pagerduty_schedule": "PSCHED1"})
    async with run_worker(time_env.client, with_policy=with_pd) as tq:
        handle = await open_p1(time_env, tq)
        status = await status_when(handle, lambda s: said(s, "posted the opening message"))
        await finish(handle)
    opening = slack.messages(f"preskool-incident-{status.started_at:%Y-%m-%d}")[0]["text"]
    assert "On-Call: <@U0ONCALL01> + <@U0ONCALL02>" in opening
    assert said(
        status,
        "On-Call Engineer (Primary): Ben Okafor, the roster's "
        "(pagerduty did not answer: PagerDuty answered 503 to GET /oncalls)",
    )


async def test_a_handoff_is_noticed_at_the_next_look_and_announced(
    time_env, run_worker, policy, slack, pagerduty, book
):
    with_pd = on_call_policy(policy, oncall_primary={"pagerduty_schedule": "PSCHED1"})
    async with run_worker(time_env.client, with_policy=with_pd) as tq:
        handle = await open_p1(time_env, tq)
        await status_when(handle, lambda s: said(s, "posted the triage-checklist"))
        book.put_on_call(YUSUF[0], schedule="PSCHED1")  # the rotation moves on mid-incident
        await handle.signal(
            "assign_role",
            {"by": "asha.rao@preskool.com", "role": "database_lead", "person": "grace.mensah@preskool.com"},
        )
        status = await status_when(handle, lambda s: said(s, "posted the handoff message"))
        await finish(handle)
    channel = f"preskool-incident-{status.started_at:%Y-%m-%d}"
    texts = [m["text"] for m in slack.messages(channel)]
    assert (
        "🔁 On-call handoff: On-Call Engineer (Primary) is now <@UYUSUF001> "
        "(was Zoe Adams; PagerDuty schedule PSCHED1 (Primary rotation))"
    ) in texts
    assert "UYUSUF001" in slack.channel_by_name(channel).members
    assert said(status, "On-Call Engineer (Primary): handed over from Zoe Adams to Yusuf Ali")


async def test_authority_follows_whoever_is_on_call(time_env, run_worker, policy, slack, pagerduty, book):
    book.put_on_call(ZOE[0], schedule="PICSCHD")
    with_pd = on_call_policy(policy, incident_commander={"pagerduty_schedule": "PICSCHD"})
    async with run_worker(time_env.client, with_policy=with_pd) as tq:
        handle = await open_p1(time_env, tq)
        await status_when(handle, lambda s: said(s, "Incident Commander (IC): Zoe Adams"))
        await handle.signal(
            "set_severity", {"by": "asha.rao@preskool.com", "severity": "P0", "reason": "all"}
        )
        await handle.signal(
            "set_severity", {"by": "zoe.adams@preskool.com", "severity": "P0", "reason": "all"}
        )
        status = await status_when(handle, lambda s: s.severity == "P0")
        # Approvals name, and take, the IC on call.
        await handle.signal(
            "request_action",
            {"by": BEN, "request_id": "flag-off", "action": "circuit_break", "target": "fees", "reason": "x"},
        )
        await status_when(handle, lambda s: any(r.request_id == "flag-off" for r in s.requests))
        request = await handle.execute_update(
            IncidentWorkflow.approve_action, {"request_id": "flag-off", "by": ZOE[2]}
        )
        await status_when(handle, lambda s: said(s, "posted the approval-request message"))
        await finish(handle)
    assert said(status, "refused set_severity: asha.rao@preskool.com may not set severity")
    assert request.state != "pending" and request.approvals[0].by == ZOE[2]
    texts = " ".join(m["text"] for m in slack.messages(f"preskool-incident-{status.started_at:%Y-%m-%d}"))
    assert "Incident Commander (IC) (Zoe Adams)" in texts
