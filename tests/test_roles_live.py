"""Roles any verified person can take (issue 23), end to end: the real receiver with its Slack app,
signed requests as Slack sends them, the real dev server and worker, the sandbox Slack (which
knows a colleague outside the roster and two guests), and the CLI as a process. The rules
themselves, as tables and properties: tests/test_roles.py."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest_asyncio

from plan.buttons import TICK
from sandbox.slack import SlackFake
from tests.helpers import eventually, finish, status_when
from tests.test_lifecycle import open_incident as opened_on_time
from tests.test_slack_app import IC, PRIMARY, keyed, open_incident, person, slack_receiver  # noqa: F401

ZOE, ZOE_EMAIL = "U0ZOE00001", "zoe.nakamura@preskool.com"  # a full member, in no roster
GUEST, GUEST_EMAIL = "U0GUEST001", "gabe.guest@partner.example"  # a multi-channel guest
SOLO, SOLO_EMAIL = "U0SOLO0001", "sol.single@partner.example"  # a single-channel guest
WAIT = 60  # the machine is shared: conditions, not timings


@pytest_asyncio.fixture
async def slack(policy):
    users = {p.contacts["slack"]: {"name": p.name, "email": p.email} for p in policy.roster.values()}
    users[ZOE] = {"name": "Zoe Nakamura", "email": ZOE_EMAIL}
    users[GUEST] = {"name": "Gabe Guest", "email": GUEST_EMAIL, "guest": "multi"}
    users[SOLO] = {"name": "Sol Single", "email": SOLO_EMAIL, "guest": "single"}
    async with SlackFake(users=users) as fake:
        yield fake


def holder(status, role: str) -> str | None:
    return next((r.person for r in status.roles if r.role == role), None)


def dm(slack, user_id: str, starts: str) -> dict | None:
    """The newest direct message to `user_id` that starts with `starts`."""
    ims = [c for c in slack.channels.values() if c.is_im and c.name == user_id]
    found = [m for c in ims for m in c.messages if m.get("text", "").startswith(starts)]
    return found[-1] if found else None


async def test_slack_roles_and_handover(dev_env, run_worker, keyed, slack, slack_receiver):  # noqa: F811
    """The field case through signed requests: the IC gives the Communications Lead to Zoe (in no
    roster); Slack vouches for her, she gets the checklist and ticks an item with its button; a
    guest is refused with why; the IC hands the IC role over with a note and Zoe holds it."""
    async with run_worker(dev_env.client, keyed) as tq, slack_receiver(tq) as url:
        handle, status = await open_incident(dev_env.client, tq)
        asha, zoe = person(slack, url, IC), person(slack, url, ZOE)
        said = await asha.slash(status.channel, f"role communications_lead <@{ZOE}|zoe>")
        assert said.status_code == 200, said.text
        given = await status_when(handle, lambda s: holder(s, "communications_lead") == ZOE_EMAIL, WAIT)
        checklist = await eventually(lambda: dm(slack, ZOE, "You are now the Communications Lead"), WAIT)
        ids = [e["action_id"] for b in checklist["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert ids == [f"{TICK}.0", f"{TICK}.1", f"{TICK}.2"]  # unique in the block, as Slack wants
        dm_channel = next(c.id for c in slack.channels.values() if c.is_im and c.name == ZOE)
        clicked = await zoe.click(dm_channel, checklist["ts"], f"{TICK}.0")
        assert clicked.status_code == 200, clicked.text
        ticked = await status_when(handle, lambda s: any(e.kind == "checklist" for e in s.timeline), WAIT)

        refused = await asha.slash(status.channel, f"role incident_commander <@{GUEST}|gabe>")
        assert refused.status_code == 200
        guest_answer = await eventually(
            lambda: [r for r in slack.responses if "gabe" in json.dumps(r) or GUEST in json.dumps(r)], WAIT
        )

        note = "Fees queue drains slowly; rollback done at 02:40"
        handed = await asha.slash(status.channel, f"handover <@{ZOE}|zoe> {note}")
        assert handed.status_code == 200, handed.text
        after = await status_when(handle, lambda s: holder(s, "incident_commander") == ZOE_EMAIL, WAIT)
        bridge = await eventually(
            lambda: [m for m in slack.messages(status.channel) if m["text"].startswith("🤝 Handover")], WAIT
        )
        ic_dm = await eventually(lambda: dm(slack, ZOE, "You are now the Incident Commander"), WAIT)
        # Zoe now has the IC's authority here: her /incident role is taken.
        await zoe.slash(status.channel, f"role oncall_secondary <@{PRIMARY}|ben>")
        await status_when(handle, lambda s: holder(s, "oncall_secondary") == "ben.okafor@preskool.com", WAIT)
        await finish(handle)
    verified = [e for e in given.timeline if e.kind == "role" and "verified a full member" in e.text]
    assert verified and "Communications Lead is now zoe.nakamura@preskool.com" in verified[0].text
    assert "Update the status page (§5.3)" in checklist["text"]
    (tick,) = [e for e in ticked.timeline if e.kind == "checklist"]
    assert "“Update the status page (§5.3)” done by zoe.nakamura@preskool.com" in tick.text
    assert [r.checklist_done for r in ticked.roles if r.role == "communications_lead"] == [[0]]
    assert "is_restricted" in json.dumps(guest_answer) and "cannot take a role" in json.dumps(guest_answer)
    assert holder(after, "communications_lead") == ZOE_EMAIL
    (handover,) = [e for e in after.timeline if e.kind == "handover"]
    assert f"from asha.rao@preskool.com to {ZOE_EMAIL}" in handover.text and note in handover.text
    assert note in bridge[0]["text"] and f"§5.1 now reads: IC: <@{ZOE}>" in bridge[0]["text"]
    assert note in ic_dm["text"] and "Declare (or confirm) the severity" in ic_dm["text"]
    assert ZOE in slack.channel_by_name(after.channel).members  # invited into the bridge


async def test_through_the_cli_roles_follow_their_rules_with_a_real_worker(cli, dev_env, run_worker, slack):  # noqa: F811
    """`irp role`, `irp handover` and `irp tick` as a person types them: Zoe is verified by the
    worker's own question to Slack; the single-channel guest is refused in the timeline with why;
    the Engineering Lead keeps the roster rule; the on-call hands over with a note."""
    async with run_worker(dev_env.client) as tq:
        handle, status = await open_incident(dev_env.client, tq)
        inc = handle.id

        code, out, err = await cli(
            "role", inc, "communications_lead", ZOE_EMAIL, "--by", "asha.rao@preskool.com"
        )
        assert code == 0 and "checked with the chat provider" in out, (out, err)
        await status_when(handle, lambda s: holder(s, "communications_lead") == ZOE_EMAIL, WAIT)

        code, out, err = await cli(
            "role", inc, "incident_commander", SOLO_EMAIL, "--by", "asha.rao@preskool.com"
        )
        assert code == 0, (out, err)  # accepted for checking; the answer is in the timeline
        solo = await status_when(
            handle,
            lambda s: any(e.kind == "refused" and SOLO_EMAIL in (e.reason or "") for e in s.timeline),
            WAIT,
        )

        code, out, err = await cli(
            "role", inc, "engineering_lead", ZOE_EMAIL, "--by", "asha.rao@preskool.com"
        )
        assert code == 3 and "held only by people of the roster" in out, (out, err)

        note = "DB CPU back to 40%; watch the fees queue"
        code, out, err = await cli(
            "handover",
            inc,
            "oncall_primary",
            "chen.li@preskool.com",
            "--by",
            "ben.okafor@preskool.com",
            "--note",
            note,
        )
        assert code == 0, (out, err)
        handed = await status_when(
            handle, lambda s: holder(s, "oncall_primary") == "chen.li@preskool.com", WAIT
        )
        told = await eventually(
            lambda: dm(slack, "U0ONCALL02", "You are now the On-Call Engineer (Primary)"), WAIT
        )

        code, out, err = await cli("tick", inc, "oncall_primary", "0", "--by", "chen.li@preskool.com")
        assert code == 0, (out, err)
        code, out, err = await cli("tick", inc, "oncall_primary", "0", "--by", "ben.okafor@preskool.com")
        assert code == 3 and "does not hold" in out, (out, err)
        ticked = await status_when(handle, lambda s: any(e.kind == "checklist" for e in s.timeline), WAIT)
        await finish(handle)
    (refusal,) = [e for e in solo.timeline if e.kind == "refused" and SOLO_EMAIL in (e.reason or "")]
    assert "single-channel guest" in refusal.reason and "is_ultra_restricted" in refusal.reason
    assert holder(solo, "incident_commander") == "asha.rao@preskool.com"
    assert any("🚫" in m["text"] and SOLO_EMAIL in m["text"] for m in slack.messages(status.channel))
    assert note in [e for e in handed.timeline if e.kind == "handover"][0].text
    assert note in told["text"] and "Acknowledge the page" in told["text"]
    assert [r.checklist_done for r in ticked.roles if r.role == "oncall_primary"] == [[0]]


async def test_reminders_go_to_the_new_holder_after_a_handover(time_env, run_worker, policy, slack):
    """The IC hands over to Zoe (verified by Slack) and she resolves: the §8 reminders the IC owns
    reach her, not the roster's IC, half-way through their SLA (time-skipping server)."""
    async with run_worker(time_env.client) as tq:
        handle = await open_on(time_env, tq)
        await handle.signal(
            "handover", {"by": "asha.rao@preskool.com", "person": ZOE_EMAIL, "note": "all yours"}
        )
        await status_when(handle, lambda s: holder(s, "incident_commander") == ZOE_EMAIL, WAIT)
        await handle.signal(
            "resolve", {"by": ZOE_EMAIL, "summary": "Rolled back", "force_reason": "no metric for it"}
        )
        await status_when(handle, lambda s: s.phase == "REVIEW", WAIT)
        await time_env.sleep(timedelta(hours=12, minutes=5))  # incident report: 24 h, reminded at half
        reminded = await status_when(
            handle,
            lambda s: any(e.kind == "notified" and "reminder-incident_report" in e.text for e in s.timeline),
            WAIT,
        )
        await finish(handle)
    to_zoe = dm(slack, ZOE, "⏳ Reminder: “Incident report (internal)”")
    assert to_zoe is not None and handle.id in to_zoe["text"]
    assert dm(slack, IC, "⏳ Reminder") is None  # the roster's IC handed it over
    notified = [
        e.text for e in reminded.timeline if e.kind == "notified" and "reminder-incident_report" in e.text
    ]
    assert notified == [f"reminder-incident_report-1 → {ZOE_EMAIL}"], notified


async def open_on(env, tq):
    return await opened_on_time(env, tq, None, module="fees")


async def test_when_slack_cannot_say_the_role_is_refused_never_given(dev_env, run_worker, slack):
    """Security fails closed: Slack answering users.lookupByEmail with an error leaves the role
    where it was, refused with why in the timeline and the bridge; the next try, answered, works."""
    async with run_worker(dev_env.client) as tq:
        handle, status = await open_incident(dev_env.client, tq)
        slack.fail_next("users.lookupByEmail", 403, times=100)
        ask = {"by": "asha.rao@preskool.com", "role": "communications_lead", "person": ZOE_EMAIL}
        await handle.signal("assign_role", ask)
        refused = await status_when(
            handle,
            lambda s: any(e.kind == "refused" and ZOE_EMAIL in (e.reason or "") for e in s.timeline),
            WAIT,
        )
        slack.reset()
        await handle.signal("assign_role", ask)
        given = await status_when(handle, lambda s: holder(s, "communications_lead") == ZOE_EMAIL, WAIT)
        await finish(handle)
    (refusal,) = [e for e in refused.timeline if e.kind == "refused" and ZOE_EMAIL in (e.reason or "")]
    assert "could not be asked" in refusal.reason
    assert holder(refused, "communications_lead") == "elif.demir@preskool.com"
    assert holder(given, "communications_lead") == ZOE_EMAIL
