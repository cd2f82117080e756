"""The incident workflow on the real time-skipping test server, with Slack and PagerDuty faked
at the HTTP boundary so the real clients run."""

from __future__ import annotations

import uuid

from activities import IntegrationSettings
from plan import AlertmanagerDelivery
from plan.alert_digest import digest
from plan.alerts import Declaration
from plan.incident import IncidentInput
from tests.helpers import ROUTING_KEY, finish, status_when
from tests.payloads import alert, delivery
from workflows import IncidentWorkflow


async def open_incident(env, task_queue, policy, payload) -> tuple:
    incident_id = f"inc-{uuid.uuid4().hex[:12]}"
    handle = await env.client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id=incident_id, group_key="g"),
        id=incident_id,
        task_queue=task_queue,
    )
    receipt = await handle.execute_update(
        IncidentWorkflow.receive_alerts, digest(AlertmanagerDelivery.model_validate(payload))
    )
    return handle, receipt


def opened(status) -> bool:
    """The opening is done: the triage checklist is posted (or a step could not be)."""
    return any(
        e.text.startswith("posted the triage-checklist") or e.kind == "step-failed" for e in status.timeline
    )


async def test_p1_pages_the_raci_and_opens_the_bridge(time_env, run_worker, policy, slack, pagerduty):
    async with run_worker(time_env.client) as tq:
        handle, receipt = await open_incident(
            time_env,
            tq,
            policy,
            delivery(alert(module="fees", severity="critical", summary="Fee collection failing")),
        )
        assert receipt.created and receipt.severity == "P1"
        status = await status_when(handle, opened)
        await finish(handle)

    # §3 P1: IC (R), primary (R), Engineering Lead (A), Communications Lead (R, customer impact).
    paged = {t["dedup_key"] for t in pagerduty.triggers()}
    assert paged == {
        f"{status.outward_id}:{r}"  # the incident's own keys (plan/outward.py)
        for r in ("incident_commander", "oncall_primary", "engineering_lead", "communications_lead")
    }
    assert all(t["routing_key"] == ROUTING_KEY for t in pagerduty.triggers())
    assert {t["payload"]["severity"] for t in pagerduty.triggers()} == {"error"}
    assert [p.outcome for p in status.paged] == ["paged"] * 4

    # §4.1 bridge #preskool-incident-<YYYY-MM-DD> of the incident's start date, with everyone engaged in it.
    channel = f"preskool-incident-{status.started_at:%Y-%m-%d}"
    assert status.channel == channel
    members = set(slack.channel_by_name(channel).members)
    engaged = {r.role for r in status.roles if r.engaged != "none"}
    assert {policy.roster[r].contacts["slack"] for r in engaged} <= members

    # §5.1 opening message, filled in; §4.2 triage checklist in its thread.
    opening, checklist = slack.messages(channel)
    text = opening["text"]
    assert checklist["thread_ts"] == opening["ts"]
    for line in (
        "1. Runbook for this alert: observability/runbooks/incident-response.md#api-5xx",
        "4. Grafana SLO dashboard: https://grafana.preskool.com/d/preskool-slo?from=",
        "5. Loki logs, look for exceptions: https://grafana.preskool.com/explore?from=",
        "6. Jaeger, look for trace anomalies: https://jaeger.preskool.com/search?start=",
        "7. Identify blast radius",
    ):
        assert line in checklist["text"], line
    for line in (
        "🚨 INCIDENT OPENED",
        "Severity: P1",
        "Summary: Fee collection failing",
        f"Started At: {status.started_at:%Y-%m-%d %H:%M} UTC",
        "IC: <@U0IC000001>",
        "On-Call: <@U0ONCALL01> + <@U0ONCALL02>",
        "PagerDuty: https://preskool.pagerduty.com",
        "Status: 🔴 INVESTIGATING",
    ):
        assert line in text, line
    assert "Impact: Major Degradation: Core functionality broken for many users" in text
    assert status.severity_reasons == ["critical module fees broken → P1"]


async def test_data_at_risk_pages_ic_db_lead_and_cto(time_env, run_worker, policy, pagerduty):
    async with run_worker(time_env.client) as tq:
        handle, receipt = await open_incident(
            time_env,
            tq,
            policy,
            delivery(
                alert(
                    alertname="GradebookCorruption",
                    data_at_risk="true",
                    severity="warning",
                    summary="Grades rows corrupted",
                )
            ),
        )
        status = await status_when(handle, opened)
        await finish(handle)
    assert receipt.severity == "P0"
    roles = {t["dedup_key"].split(":")[1] for t in pagerduty.triggers()}
    assert {"incident_commander", "oncall_secondary", "database_lead", "cto"} <= roles
    assert any("data at risk" in r for r in status.severity_reasons)


async def test_later_delivery_joins_without_paging_again(time_env, run_worker, policy, pagerduty):
    payload = delivery(alert(scope="all"))
    async with run_worker(time_env.client) as tq:
        handle, first = await open_incident(time_env, tq, policy, payload)
        await status_when(handle, opened)
        triggers = len(pagerduty.triggers())
        second = await handle.execute_update(
            IncidentWorkflow.receive_alerts, digest(AlertmanagerDelivery.model_validate(payload))
        )
        status = await handle.query(IncidentWorkflow.status)
        await finish(handle)
    assert (first.created, second.created) == (True, False)
    assert len(pagerduty.triggers()) == triggers == 5  # P0: IC, primary, secondary, Eng Lead, Comms Lead
    assert status.deliveries == 2
    assert [e.text for e in status.timeline if e.kind == "delivery"] == [
        "Alertmanager delivery #2 (firing): 1 firing, 0 resolved"
    ]


async def test_deliveries_keep_the_clock_timer_instead_of_restarting_it(time_env, run_worker, policy):
    """An alert storm joins an open incident many times; its clocks have not moved, so the one
    timer for the next deadline stays (each restart was two more events and server work)."""
    from temporalio.api.enums.v1 import EventType

    payload = delivery(alert(module="fees"))
    async with run_worker(time_env.client) as tq:
        handle, _ = await open_incident(time_env, tq, policy, payload)
        await status_when(handle, opened)
        before = [e.event_type for e in (await handle.fetch_history()).events]
        for _ in range(10):
            await handle.execute_update(
                IncidentWorkflow.receive_alerts, digest(AlertmanagerDelivery.model_validate(payload))
            )
        after = [e.event_type for e in (await handle.fetch_history()).events][len(before) :]
        status = await handle.query(IncidentWorkflow.status)
        await finish(handle)
    assert status.deliveries == 11
    assert after.count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED) == 10
    assert (
        EventType.EVENT_TYPE_TIMER_STARTED not in after and EventType.EVENT_TYPE_TIMER_CANCELED not in after
    )


async def test_acknowledge_moves_to_triage_and_bad_input_is_refused_visibly(time_env, run_worker, policy):
    async with run_worker(time_env.client) as tq:
        handle, _ = await open_incident(time_env, tq, policy, delivery())
        await status_when(handle, opened)
        await handle.signal("acknowledge", {"by": "not an email"})
        await handle.signal("acknowledge", "just a string")
        await handle.signal("acknowledge", {"by": "ben.okafor@preskool.com", "extra": 1})
        await handle.signal("acknowledge", {"by": "ben.okafor@preskool.com"})
        status = await status_when(handle, lambda s: s.phase == "TRIAGE")
        await finish(handle)
    refusals = [e.text for e in status.timeline if e.kind == "refused"]
    assert len(refusals) == 3
    assert "by: String should match pattern" in refusals[0]
    assert "a JSON string ('just a string'), not an object: send one JSON object" in refusals[1]
    assert "extra: Extra inputs are not permitted" in refusals[2]
    assert status.acknowledged_by == "ben.okafor@preskool.com"


async def test_taken_channel_name_gets_a_suffix(time_env, run_worker, policy, slack):
    async with run_worker(time_env.client) as tq:
        first, _ = await open_incident(time_env, tq, policy, delivery(group="One"))
        s1 = await status_when(first, opened)
        second, _ = await open_incident(time_env, tq, policy, delivery(group="Two"))
        s2 = await status_when(second, opened)
        await finish(first)
        await finish(second)
    assert s2.channel == s1.channel + "-2"


async def test_declared_incident_pages_by_declared_severity(time_env, run_worker, policy, pagerduty):
    incident_id = f"inc-{uuid.uuid4().hex[:12]}"
    async with run_worker(time_env.client) as tq:
        handle = await time_env.client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(
                incident_id=incident_id,
                declaration=Declaration(
                    summary="Schools report login failures",
                    impact="all schools",
                    severity="P0",
                    reporter="support@preskool.com",
                    source="zendesk",
                ),
            ),
            id=incident_id,
            task_queue=tq,
        )
        status = await status_when(handle, opened)
        await finish(handle)
    assert status.severity == "P0" and status.severity_reasons == ["declared P0 by support@preskool.com"]
    assert len(pagerduty.triggers()) == 5


async def test_unconfigured_integrations_are_skipped_not_failed(time_env, run_worker, policy):
    async with run_worker(time_env.client, settings=IntegrationSettings()) as tq:
        handle, _ = await open_incident(time_env, tq, policy, delivery())
        status = await status_when(handle, lambda s: any(e.kind == "bridge-skipped" for e in s.timeline))
        await finish(handle)
    texts = [e.text for e in status.timeline]
    assert "skipped: slack not configured" in texts
    assert all(p.outcome == "skipped" for p in status.paged) and status.paged


async def test_retried_post_is_not_posted_twice(time_env, run_worker, policy, slack):
    # The opening post lands, but the answer is lost (a 500 after the fact): the retry must find it.
    slack.lose_next_response("chat.postMessage")
    async with run_worker(time_env.client) as tq:
        handle, _ = await open_incident(time_env, tq, policy, delivery())
        status = await status_when(handle, opened)
        await finish(handle)
    assert len(slack.messages(status.channel)) == 2  # the opening and the checklist, once each
    assert len(slack.calls_to("chat.postMessage")) == 2  # the retry found the post instead of posting
    assert slack.calls_to("conversations.history")


async def test_a_lost_create_answer_leaves_that_channel_alone_and_says_so(
    time_env, run_worker, policy, slack
):
    """The channel was made but the answer lost (a 500 after the fact): nothing proves it is this
    incident's (another incident's channel looks the same before its purpose is set, issue 20), so
    the retry opens `-2` and never takes it; the timeline names the empty channel for people."""
    slack.lose_next_response("conversations.create")
    async with run_worker(time_env.client) as tq:
        handle, _ = await open_incident(time_env, tq, policy, delivery())
        status = await status_when(handle, opened)
        await finish(handle)
    day = f"preskool-incident-{status.started_at:%Y-%m-%d}"
    names = [c.name for c in slack.channels.values() if c.name.startswith("preskool-incident")]
    assert names == [day, f"{day}-2"] and status.channel == f"{day}-2"
    assert slack.channel_by_name(day).purpose["value"] == "" and not slack.messages(day)
    assert status.incident_id in slack.channel_by_name(status.channel).purpose["value"]
    (left,) = [e.text for e in status.timeline if e.kind == "bridge-left-behind"]
    assert left.startswith(f"#{day} has no purpose") and "archive it if it stays empty" in left


async def test_a_busy_day_finds_the_next_free_channel_name_at_once(time_env, run_worker, policy, slack):
    """A storm of incidents on one date: #…-<n> is found from one look at the channel list, not by
    trying every name in turn (and not capped at a few dozen)."""
    day = f"preskool-incident-{(await time_env.get_current_time()):%Y-%m-%d}"
    for n in ["", *(f"-{i}" for i in range(2, 80))]:
        slack._new_channel(day + n, is_archived=n == "-7")  # taken, archived ones too
    async with run_worker(time_env.client) as tq:
        handle, _ = await open_incident(time_env, tq, policy, delivery())
        status = await status_when(handle, opened)
        await finish(handle)
    assert status.channel == f"{day}-80"
    assert len(slack.calls_to("conversations.create")) == 2 and len(slack.calls_to("conversations.list")) == 1


async def test_a_busy_day_lists_the_channels_once_per_worker_not_per_incident(
    time_env, run_worker, policy, slack
):
    """conversations.list is rate-limited (Tier 2): later incidents on the same worker pick the
    next name from what it already knows; a name someone else took meanwhile costs one more try."""
    day = f"preskool-incident-{(await time_env.get_current_time()):%Y-%m-%d}"
    for n in ["", *(f"-{i}" for i in range(2, 30))]:
        slack._new_channel(day + n)
    async with run_worker(time_env.client) as tq:
        first, _ = await open_incident(time_env, tq, policy, delivery(group="One"))
        s1 = await status_when(first, opened)
        slack._new_channel(f"{day}-31")  # another worker, or a person, takes the name after next
        second, _ = await open_incident(time_env, tq, policy, delivery(group="Two"))
        s2 = await status_when(second, opened)
        third, _ = await open_incident(time_env, tq, policy, delivery(group="Three"))
        s3 = await status_when(third, opened)
        for handle in (first, second, third):
            await finish(handle)
    assert [s1.channel, s2.channel, s3.channel] == [f"{day}-30", f"{day}-32", f"{day}-33"]
    assert len(slack.calls_to("conversations.list")) == 1
    assert len(slack.calls_to("conversations.create")) == 5  # base and -30; -31 (taken) and -32; -33
