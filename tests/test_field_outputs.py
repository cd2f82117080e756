"""What the field does to our outputs, on the real dev server with the sandbox: the same person
typed twice, an optional lookup that fails, a huge annotation, what a workspace does to the
bridge, and thirty bridges opened at once while Slack rate-limits."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from temporalio.client import Client

from activities.chat.slack import METADATA_EVENT
from incident_client.intake import deliver_alerts
from plan import AlertmanagerDelivery
from plan.bridge_proof import purpose_names
from sandbox.slack import BOT_USER_ID
from tests.helpers import finish, status_when
from tests.payloads import alert, delivery
from tests.test_ports import retried_no_sooner_than_retry_after
from worker import build_worker

IC, LEAD = "asha.rao@preskool.com", "dana.whitfield@preskool.com"


async def open_incident(client, tq, **labels):
    payload = delivery(alert(**labels), group=f"Field{uuid.uuid4().hex[:8]}")
    receipt = await deliver_alerts(client, tq, AlertmanagerDelivery.model_validate(payload))
    handle = client.get_workflow_handle(receipt.incident_id)
    await status_when(handle, lambda s: s.channel)
    return handle


async def test_the_same_person_typed_twice_is_one_identity(dev_env, run_worker, pagerduty):
    """The primary is handed to grace.mensah@preskool.com, then to Grace.Mensah@PreSkool.com: one page, one
    dedup key; an acknowledgement in capitals is the roster's person."""
    async with run_worker(dev_env.client) as tq:
        handle = await open_incident(dev_env.client, tq, module="fees")
        for typed in ("grace.mensah@preskool.com", " Grace.Mensah@PreSkool.com "):
            await handle.signal("assign_role", {"role": "oncall_primary", "person": typed, "by": IC})
        await handle.signal("acknowledge", {"by": "Ben.Okafor@PreSkool.com"})
        status = await status_when(
            handle,
            lambda s: (
                s.acknowledged_by
                and len([e for e in s.timeline if e.kind == "role"]) == 2
                and any(p.person == "grace.mensah@preskool.com" for p in s.paged)
            ),
        )
        await finish(handle)
    keys = {
        t["dedup_key"]
        for t in pagerduty.triggers()
        if t["dedup_key"].startswith(f"{status.outward_id}:oncall_primary:")
    }
    assert keys == {f"{status.outward_id}:oncall_primary:grace.mensah@preskool.com"}
    assert status.acknowledged_by == "ben.okafor@preskool.com"
    assert [r.person for r in status.roles if r.role == "oncall_primary"] == ["grace.mensah@preskool.com"]


async def test_a_failed_assignee_lookup_never_blocks_the_ticket(
    dev_env, run_worker, jira, prometheus, policy
):
    """A bot account that may not browse users gets 403 from user search: the §8 action item is
    created unassigned, and the timeline says why."""
    prometheus.healthy(policy)
    async with run_worker(dev_env.client) as tq:
        handle = await open_incident(dev_env.client, tq, severity="info")
        await handle.signal("resolve", {"by": IC, "summary": "Cosmetic", "force_reason": "no metric for it"})
        await status_when(handle, lambda s: s.phase == "REVIEW" and len(s.tickets) >= 2)
        jira.fail_next("/rest/api/3/user/search", 403, times=5)
        await handle.signal("add_action_item", {"title": "Canary deploys", "owner": LEAD, "by": IC})
        status = await status_when(handle, lambda s: "action-item-1" in s.tickets)
        await finish(handle)
    issue = next(i for i in jira.issues.values() if i["fields"]["summary"] == "Canary deploys")
    assert issue["fields"]["assignee"] is None
    note = next(e.text for e in status.timeline if e.kind == "ticket" and e.text.startswith("action-item-1"))
    assert f"assignee {LEAD} could not be looked up" in note and "403" in note and "left unassigned" in note


def test_a_dedup_key_always_fits_pagerduty():
    from plan import Role
    from plan.raci import MAX_DEDUP_KEY, dedup_key

    assert dedup_key("inc-1", Role.oncall_primary) == "inc-1:oncall_primary"
    assert (
        dedup_key("inc-1", Role.oncall_primary, "sam.lee@preskool.com")
        == "inc-1:oncall_primary:sam.lee@preskool.com"
    )
    long = "a" * 240 + "@preskool.com"
    assert len(dedup_key("inc-1", Role.oncall_primary, long)) <= MAX_DEDUP_KEY
    assert dedup_key("inc-1", Role.oncall_primary, long) == dedup_key("inc-1", Role.oncall_primary, long)
    assert dedup_key("inc-1", Role.oncall_primary, long) != dedup_key(
        "inc-1", Role.oncall_primary, "b" + long
    )


async def test_a_huge_annotation_still_pages_and_opens_the_bridge(
    dev_env, run_worker, receiver, pagerduty, slack
):
    """An `impact` listing every affected school (~560 KB) in a delivery well under the limit:
    every page is accepted by PagerDuty (512 KB events, 1,024-character summaries), the §5.1
    opening is posted (Slack's 40,000 characters), and the incident keeps a bounded copy."""
    from tests.test_webhook import AUTH

    schools = ", ".join(f"school-{n:05d} (Springfield district {n % 97})" for n in range(14_000))
    assert len(schools) > 512 * 1024
    payload = delivery(
        alert(module="fees", summary="Fee collection failing"), group=f"Huge{uuid.uuid4().hex[:8]}"
    )
    payload["alerts"][0]["annotations"]["impact"] = schools
    async with run_worker(dev_env.client) as tq, receiver(tq) as http:
        answer = await http.post("/webhooks/alertmanager", json=payload, headers=AUTH)
        assert answer.status_code == 202, answer.text
        handle = dev_env.client.get_workflow_handle(answer.json()["incidents"][0]["incident_id"])
        status = await status_when(
            handle,
            lambda s: len(s.paged) == 4 and any(e.text.startswith("posted the opening") for e in s.timeline),
        )
        await finish(handle)
    assert {p.outcome for p in status.paged} == {"paged"}
    assert len(status.impact) < 2_300 and "(truncated, " in status.impact
    # The whole text stays where a person can read it: on the alert, in Alertmanager's UI.
    assert "the whole text: http://alertmanager:9093/#/alerts?filter=%7Balertname%3D" in status.impact
    opening = next(
        m["text"] for m in slack.messages(status.channel) if m["text"].startswith("🚨 INCIDENT OPENED")
    )
    assert "more characters; the whole text: http://alertmanager:9093" in opening


async def test_the_bridge_survives_what_a_workspace_does_to_it(dev_env, run_worker, slack):
    """Hours into a P1 a clean-up archives the bridge, later someone removes the bot: the next
    update and the approval request still reach the bridge, the IC hears it directly, and the
    chat lane keeps moving."""
    async with run_worker(dev_env.client) as tq:
        handle = await open_incident(dev_env.client, tq, module="fees")
        status = await status_when(
            handle, lambda s: any(e.text.startswith("posted the triage") for e in s.timeline)
        )
        slack.archive_as_a_person(status.channel)
        await handle.signal(
            "post_update",
            {"by": IC, "status": "ONGOING", "current_action": "Rolling back", "what_we_know": "A bad deploy"},
        )
        await status_when(handle, lambda s: any(e.text.startswith("posted the update") for e in s.timeline))
        slack.remove_bot(status.channel)
        await handle.signal(
            "request_action",
            {
                "request_id": "rollback-1",
                "action": "rollback",
                "target": "backend",
                "by": IC,
                "reason": "errors since the deploy",
            },
        )
        status = await status_when(
            handle, lambda s: any(e.text.startswith("posted the approval-request") for e in s.timeline)
        )
        await finish(handle)
    texts = [m["text"] for m in slack.messages(status.channel)]
    assert any(t.startswith("📝 UPDATE") for t in texts) and any("rollback-1" in t for t in texts)
    channel = slack.channel_by_name(status.channel)
    assert not channel.is_archived and BOT_USER_ID in channel.members
    recovered = [e.text for e in status.timeline if e.kind == "bridge-recovered"]
    assert len(recovered) == 2 and "unarchived" in recovered[0] and "joined it again" in recovered[1]
    told = [e.text for e in status.timeline if e.kind == "notified" and e.text.startswith("bridge-recovered")]
    assert len(told) == 2


async def test_a_deleted_bridge_continues_in_a_new_channel(dev_env, run_worker, slack):
    """An admin deletes the bridge mid-incident (`channel_not_found` from then on): the next update
    opens a continuation bridge whose purpose names the incident and the old channel, everyone
    engaged is invited, the update is posted there once, and the IC hears it directly."""
    async with run_worker(dev_env.client) as tq:
        handle = await open_incident(dev_env.client, tq, module="fees")
        status = await status_when(
            handle, lambda s: any(e.text.startswith("posted the triage") for e in s.timeline)
        )
        old = status.channel
        members = set(slack.channel_by_name(old).members)
        slack.delete_as_a_person(old)
        await handle.signal(
            "post_update",
            {"by": IC, "status": "ONGOING", "current_action": "Rolling back", "what_we_know": "A bad deploy"},
        )
        status = await status_when(
            handle, lambda s: any(e.text.startswith("bridge-continued") for e in s.timeline)
        )
        await finish(handle)
    assert status.channel != old and slack.channel_by_name(old) is None
    new = slack.channel_by_name(status.channel)
    assert handle.id in new.purpose["value"] and f"#{old}" in new.purpose["value"]
    assert members <= set(new.members)
    texts = [m["text"] for m in new.messages]
    assert texts[0].startswith("🔁 BRIDGE CONTINUED") and f"#{old} is gone" in texts[0]
    assert sum(t.startswith("📝 UPDATE") for t in texts) == 1
    lost = [e.text for e in status.timeline if e.kind == "bridge-lost"]
    assert len(lost) == 1 and "channel_not_found" in lost[0]
    assert any(e.kind == "notified" and e.text.startswith("bridge-continued") for e in status.timeline)
    assert not [e for e in status.timeline if e.kind == "step-failed"]


async def test_a_failed_attempt_hands_the_channel_its_create_made_to_the_retry(dev_env, run_worker, slack):
    """conversations.create answered, then setPurpose failed (503): the attempt fails with the
    channel's id heartbeated and no purpose on the channel. The retry adopts that channel by the
    id alone — looked up by id, no list, one create — which it can only have had from the last
    heartbeat details the SDK sent with the failed attempt (a throttled heartbeat, sent after the
    first). Checked on the dev server: the time-skipping test server does not keep heartbeat
    details across a failure (the SDK warns it lacks `activity_failure_include_heartbeat`)."""
    slack.fail_next("conversations.setPurpose", 503)
    async with run_worker(dev_env.client) as tq:
        handle = await open_incident(dev_env.client, tq, module="fees")
        status = await status_when(
            handle, lambda s: any(e.text.startswith("posted the opening") for e in s.timeline)
        )
        await finish(handle)
    channel = slack.channel_by_name(status.channel)
    assert [c.name for c in slack.channels.values() if c.name.startswith("preskool-incident")] == [
        channel.name
    ]
    assert purpose_names(channel.purpose["value"], handle.id)
    assert [(c.status, c.params["channel"]) for c in slack.calls_to("conversations.setPurpose")] == [
        (503, channel.id),
        (200, channel.id),
    ]
    assert [c.params["channel"] for c in slack.calls_to("conversations.info")] == [channel.id]
    assert len(slack.calls_to("conversations.create")) == 1 and not slack.calls_to("conversations.list")


# Issue 20's Retry-After is 3 s. The test keeps it: the whole storm takes about 30 s here (2 cores).
RETRY_AFTER = 3
LIMITED = ["conversations.list", "conversations.create", "conversations.setPurpose"]


async def test_thirty_bridges_at_once_while_slack_rate_limits(
    dev_env, run_worker, slack, policy, integrations
):
    """Issue 20: thirty alert groups delivered within a second to three workers, and Slack answers
    every third conversations.list, create and setPurpose with 429 and Retry-After. Thirty
    incidents, thirty distinct channels; each incident's status names its own channel (its purpose
    names the incident), each opening is posted once, in its own channel, and no channel holds two
    incidents' posts. Each rate-limited setPurpose was sent again no sooner than Retry-After, by
    the sandbox's own record of when it answered and when the next one arrived. (Three workers, as
    in the field: each learns the day's taken names on its own, so their openings race for names
    and list the channels.)"""
    slack.fail_every(LIMITED, 3, retry_after=RETRY_AFTER)
    group = uuid.uuid4().hex[:8]
    async with run_worker(dev_env.client) as tq, contextlib.AsyncExitStack() as more:
        for _ in range(2):  # each its own connection, as another process's would be
            client = await Client.connect(
                dev_env.client.service_client.config.target_host, data_converter=dev_env.client.data_converter
            )
            await more.enter_async_context(build_worker(client, tq, policy, integrations))
        receipts = await asyncio.gather(
            *(
                deliver_alerts(
                    dev_env.client,
                    tq,
                    AlertmanagerDelivery.model_validate(
                        delivery(
                            alert(module="fees", summary=f"Fees down at school {n}"), group=f"Storm{group}{n}"
                        )
                    ),
                )
                for n in range(30)
            )
        )
        handles = [dev_env.client.get_workflow_handle(r.incident_id) for r in receipts]
        statuses = [
            await status_when(
                h, lambda s: any(e.text.startswith("posted the opening") for e in s.timeline), timeout=240
            )
            for h in handles
        ]
        for handle in handles:
            await finish(handle)
    assert len({s.incident_id for s in statuses}) == 30
    assert len({s.channel for s in statuses}) == 30
    for s in statuses:
        assert purpose_names(slack.channel_by_name(s.channel).purpose["value"], s.incident_id), s.channel
    posted = [
        (m["metadata"]["event_payload"], c.name)
        for c in slack.channels.values()
        for m in c.messages
        if (m.get("metadata") or {}).get("event_type") == METADATA_EVENT
    ]
    openings = sorted((p["incident_id"], name) for p, name in posted if p["key"] == "opening")
    assert openings == sorted((s.incident_id, s.channel) for s in statuses)
    incidents_in = {}
    for payload, name in posted:
        incidents_in.setdefault(name, set()).add(payload["incident_id"])
    assert all(len(ids) == 1 for ids in incidents_in.values()), incidents_in
    assert all(any(c.status == 429 for c in slack.calls_to(m)) for m in LIMITED)
    by_channel: dict = {}
    for call in slack.calls_to("conversations.setPurpose"):
        by_channel.setdefault(call.params["channel"], []).append(call)
    assert all(retried_no_sooner_than_retry_after(calls) for calls in by_channel.values())
    assert not [e.text for s in statuses for e in s.timeline if e.kind == "step-failed"]
