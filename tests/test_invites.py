"""Issue 23, case 3: one person's failure never stops the others. A single-channel guest among
the people a private incident engages: Slack answers `ura_max_channels` for them, the others
are invited all the same, and the IC and the guest hear it directly; the timeline has one typed
event per person not invited. The sandbox Slack refuses invitations as Slack does (all or
nothing without `force`, one `errors` entry per user refused)."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.chat import BridgeActivities, Directory, InviteRequest
from activities.chat.slack import SlackChat
from incident_client.intake import deliver_alerts
from plan import AlertmanagerDelivery, Role
from plan.decide import outcomes
from plan.decision import Given, decide
from sandbox.slack import BOT_USER_ID, DEFAULT_TOKEN, SlackFake
from tests.helpers import finish, status_when
from tests.payloads import alert, delivery

GUEST = "U0ONCALL01"  # the on-call primary, a single-channel guest already in #general
DEACTIVATED = "U0DBLEAD01"


def workspace(policy, **special: dict) -> dict[str, dict]:
    """Slack's users: the roster's people by their contacts, some of them special."""
    users = {p.contacts["slack"]: {"name": p.name, "email": p.email} for p in policy.roster.values()}
    for user_id, extra in special.items():
        users[user_id] = {**users[user_id], **extra}
    return users


@pytest_asyncio.fixture
async def slack(policy):
    users = workspace(policy, **{GUEST: {"guest": "single", "in": "general"}, DEACTIVATED: {"deleted": True}})
    async with SlackFake(users=users) as fake:
        yield fake


def dms(slack, user_id: str) -> list[str]:
    channel = next((c for c in slack.channels.values() if c.is_im and c.name == user_id), None)
    return [m["text"] for m in channel.messages] if channel else []


# --- the sandbox answers as Slack does -------------------------------------------------------------


async def refusal(call) -> dict:
    with pytest.raises(SlackApiError) as info:
        await call
    return dict(info.value.response.data)


async def test_the_sandbox_refuses_a_guest_and_a_deactivated_account_as_slack_does(slack):
    client = AsyncWebClient(token=DEFAULT_TOKEN, base_url=slack.url)
    channel = (await client.conversations_create(name="inc-guest", is_private=True))["channel"]["id"]
    answer = await refusal(client.conversations_invite(channel=channel, users=f"U0IC000001,{GUEST}"))
    assert answer == {
        "ok": False,
        "error": "ura_max_channels",
        "errors": [{"ok": False, "error": "ura_max_channels", "user": GUEST}],
    }
    assert slack.channel_by_name("inc-guest").members == [BOT_USER_ID]  # without force: nobody
    answer = await refusal(client.conversations_invite(channel=channel, users=f"{DEACTIVATED},U0NOBODY1"))
    assert [(e["user"], e["error"]) for e in answer["errors"]] == [
        (DEACTIVATED, "cant_invite"),
        ("U0NOBODY1", "user_not_found"),
    ]
    slack.refuse_invites("U0COMMS001", "user_is_restricted")
    answer = await refusal(
        client.conversations_invite(channel=channel, users="U0IC000001,U0COMMS001", force=True)
    )
    assert answer["error"] == "user_is_restricted"
    assert slack.channel_by_name("inc-guest").members == [BOT_USER_ID, "U0IC000001"]  # force: the rest
    user = (await client.users_info(user=GUEST))["user"]
    assert user["is_restricted"] and user["is_ultra_restricted"]
    # The guest's one channel is #general: there they are a member; a channel of their own is refused.
    assert GUEST in slack.channel_by_name("general").members


# --- the field's case: a private incident, a real worker, the sandbox's Slack --------------------


def not_invited(status) -> dict[str, object]:
    return {e.person: e for e in status.timeline if e.kind == "invite-failed"}


async def test_a_single_channel_guest_stops_nobody_and_is_told_directly(
    time_env, run_worker, policy, slack, request
):
    payload = delivery(
        alert(alertname="FeeLedgerCorruption", data_at_risk="true", module="fees", summary="Ledger rows"),
        group=f"Guest-{request.node.name}",
    )
    async with run_worker(time_env.client) as tq:
        receipt = await deliver_alerts(time_env.client, tq, AlertmanagerDelivery.model_validate(payload))
        handle = time_env.client.get_workflow_handle(receipt.incident_id)
        status = await status_when(
            handle,
            lambda s: (
                len(not_invited(s)) == 2
                and sum(e.kind == "notified" and e.text.startswith("not-invited") for e in s.timeline) == 3
            ),
        )
        await finish(handle)
    engaged = {r.role for r in status.roles if r.engaged != "none"}
    assert {Role.oncall_primary, Role.database_lead} <= engaged  # the guest and the deactivated one
    channel = slack.channel_by_name(status.channel)
    assert channel.is_private
    everyone_else = {policy.roster[r].contacts["slack"] for r in engaged} - {GUEST, DEACTIVATED}
    assert set(channel.members) == {BOT_USER_ID} | everyone_else  # after the guest too
    failed = not_invited(status)
    guest, lead = policy.roster[Role.oncall_primary].email, policy.roster[Role.database_lead].email
    assert failed[guest].role is Role.oncall_primary and failed[guest].reason.startswith("ura_max_channels")
    assert failed[lead].role is Role.database_lead and failed[lead].reason.startswith("cant_invite")
    [to_ic] = dms(slack, "U0IC000001")
    assert f"could not invite to #{status.channel}" in to_ic and "ura_max_channels" in to_ic
    assert f"<@{GUEST}>" in to_ic and f"<@{DEACTIVATED}>" in to_ic
    [to_guest] = dms(slack, GUEST)
    assert "you are engaged as On-Call Engineer (Primary)" in to_guest and "<@U0IC000001>" in to_guest
    assert "Ledger rows" not in to_guest + to_ic  # a private incident's DMs carry its id only


# --- the kind: whatever Slack refuses for whomever, the others are invited -------------------------

PER_USER = ["ura_max_channels", "cant_invite", "user_is_restricted", "user_not_found", "user_is_bot"]
PEOPLE = [f"U0PERSON{i:02d}" for i in range(6)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(refused=st.dictionaries(st.sampled_from(PEOPLE), st.sampled_from(PER_USER), max_size=6))
async def test_any_refusals_leave_everyone_else_invited_and_each_reported(refused):
    users = {u: {"name": u, "email": f"{u.lower()}@preskool.com"} for u in PEOPLE}
    async with SlackFake(users=users) as slack:
        for user, error in refused.items():
            slack.refuse_invites(user, error)
        chat = SlackChat(DEFAULT_TOKEN, slack.url, ssl.create_default_context())
        directory = Directory()
        channel = (await chat.create_channel("inc-kind", private=True))[0]
        activities = BridgeActivities(chat, directory)
        emails = [users[u]["email"] for u in PEOPLE]
        result = await ActivityEnvironment().run(
            activities.invite_to_bridge, InviteRequest(channel_id=channel, emails=emails)
        )
        members = slack.channel_by_name("inc-kind").members
    assert set(members) == {BOT_USER_ID} | (set(PEOPLE) - set(refused))
    assert {e: why.split(":")[0] for e, why in result.failed.items()} == {
        users[u]["email"]: error for u, error in refused.items()
    }


async def test_a_failure_waiting_can_clear_is_retried_after_the_others_are_invited(policy):
    """Slack 5xx on the first person's invitation: the others are invited in the same attempt; the
    attempt then fails retryably, and the retry (Temporal's) invites that person, the others
    already in (`already_in_channel`) and none reported."""
    users = {u: {"name": u, "email": f"{u.lower()}@preskool.com"} for u in PEOPLE[:3]}
    async with SlackFake(users=users) as slack:
        chat = SlackChat(DEFAULT_TOKEN, slack.url, ssl.create_default_context())
        channel = (await chat.create_channel("inc-again", private=True))[0]
        activities = BridgeActivities(chat, Directory())
        request = InviteRequest(channel_id=channel, emails=[u["email"] for u in users.values()])
        slack.fail_next("conversations.invite", 500)
        with pytest.raises(ApplicationError) as first:
            await ActivityEnvironment().run(activities.invite_to_bridge, request)
        assert not first.value.non_retryable
        assert slack.channel_by_name("inc-again").members == [BOT_USER_ID, *PEOPLE[1:3]]
        again = await ActivityEnvironment().run(activities.invite_to_bridge, request)
        assert again.failed == {} and set(slack.channel_by_name("inc-again").members) == {
            BOT_USER_ID,
            *PEOPLE[:3],
        }


# --- the decider: once per bridge and reason; told only on the new path --------------------------


def _state(channel_id: str = "C1", not_invited: dict | None = None):
    from plan.incident import Bridge, IncidentState

    return IncidentState(
        started_at=datetime(2026, 12, 7, tzinfo=UTC),
        bridge=Bridge(channel="preskool-incident-2026-12-07", channel_id=channel_id),
        not_invited=not_invited or {},
    )


GUEST_EMAIL = "ben.okafor@preskool.com"
WHY = "ura_max_channels: a single-channel guest"


@pytest.mark.parametrize(
    ("seen", "tell", "events", "told"),
    [
        # The first refusal: one event; the IC and the person told.
        ({}, True, 1, ["incident_commander", GUEST_EMAIL]),
        # An incident begun before `invite-each`: the event only.
        ({}, False, 1, []),
        # The same person, the same bridge, the same reason (a later role change invites again): nothing.
        ({f"C1 {GUEST_EMAIL}": WHY}, True, 0, []),
        # Another reason, or another bridge (a continuation): said again.
        ({f"C1 {GUEST_EMAIL}": "cant_invite: …"}, True, 1, ["incident_commander", GUEST_EMAIL]),
        ({f"C0 {GUEST_EMAIL}": WHY}, True, 1, ["incident_commander", GUEST_EMAIL]),
    ],
)
def test_a_refusal_is_said_once_per_bridge_and_reason(policy, seen, tell, events, told):
    """(The IC not invited hears it once: tests/test_invites.py::test_the_ic_not_invited_is_told_once.)"""
    decision = decide(
        _state(not_invited=seen),
        Given("inc-x", policy, datetime(2026, 12, 7, 1, tzinfo=UTC)),
        outcomes.not_invited,
        {GUEST_EMAIL: WHY},
        {GUEST_EMAIL: [Role.oncall_primary]},
        tell,
    )
    assert [(e.kind, e.person, e.role, e.reason) for e in decision.events] == [
        ("invite-failed", GUEST_EMAIL, Role.oncall_primary, WHY)
    ] * events
    assert [e.role or e.email for e in decision.effects] == told
    if told:
        assert "Ben Okafor" not in decision.effects[0].text  # named by a mention token, rendered by Slack
        assert f"<person:{GUEST_EMAIL}> (On-Call Engineer (Primary)): {WHY}" in decision.effects[0].text


def test_the_ic_not_invited_is_told_once(policy):
    ic = policy.roster[Role.incident_commander].email
    decision = decide(
        _state(),
        Given("inc-x", policy, datetime(2026, 12, 7, 1, tzinfo=UTC)),
        outcomes.not_invited,
        {ic: WHY},
        {ic: [Role.incident_commander]},
        True,
    )
    assert [e.role for e in decision.effects] == [Role.incident_commander]
