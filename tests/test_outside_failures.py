"""Outside systems failing: the incident carries on, the step retries with backoff, one clear note
when it has failed for long, and a failure no retry can fix is reported once."""

from __future__ import annotations

from datetime import timedelta

from pydantic import SecretStr

from activities import IntegrationSettings
from plan import AlertmanagerDelivery
from plan.alert_digest import digest
from plan.incident import IncidentInput
from tests.helpers import finish, status_when
from tests.payloads import alert, delivery
from tests.test_deliverables import customer_emails, resolved_p0
from tests.test_lifecycle import IC, PRIMARY, at, kinds, open_incident
from workflows import IncidentWorkflow


def texts(slack, status) -> list[str]:
    return [m["text"] for m in slack.messages(status.channel)]


async def test_status_page_down_for_minutes_holds_up_nothing_else(
    time_env, run_worker, policy, slack, pagerduty, statuspage
):
    statuspage.fail_next("*", 503, times=10_000)
    async with run_worker(time_env.client) as tq:
        handle = await open_incident(time_env, tq, policy, scope="all")  # bridge and checklist: not held up
        await handle.signal("acknowledge", {"by": PRIMARY})
        status = await status_when(handle, lambda s: s.phase == "TRIAGE" and len(s.paged) == 5)
        assert status.status_page_id is None
        status = await at(time_env, handle, 4)
        status = await status_when(handle, lambda s: kinds(s, "slow-step"))
        assert kinds(status, "slow-step") == [
            "still trying to update the status page after 2 min; retrying with backoff"
        ]
        statuspage.reset()  # Statuspage is back
        await at(time_env, handle, 6)
        status = await status_when(handle, lambda s: s.status_page_id)
        await at(time_env, handle, 16)  # the cadence kept its time meanwhile
        status = await status_when(handle, lambda s: s.cadence.overdue_updates == 1)
        await finish(handle)
    assert len(statuspage.incidents) == 1
    assert sum(t.startswith("⚠️ Still trying to update the status page") for t in texts(slack, status)) == 1


async def test_slack_rate_limit_and_server_errors_post_once(time_env, run_worker, policy, slack):
    slack.fail_next("chat.postMessage", 429, retry_after=1)  # the client waits Retry-After and tries again
    slack.fail_next("chat.postMessage", 503, times=2)  # Temporal retries; nothing was posted
    async with run_worker(time_env.client) as tq:
        handle = await open_incident(time_env, tq, policy, module="fees")
        status = await handle.query(IncidentWorkflow.status)
        await finish(handle)
    assert [m["text"].splitlines()[0] for m in slack.messages(status.channel)] == [
        "🚨 INCIDENT OPENED",
        "🧭 TRIAGE CHECKLIST (§4.2)",
    ]
    assert [c.status for c in slack.calls_to("chat.postMessage")][:4] == [429, 503, 503, 200]


async def test_pagerduty_rate_limit_and_server_errors_page_once(time_env, run_worker, policy, pagerduty):
    pagerduty.fail_next("/v2/enqueue", 429, times=3)
    pagerduty.fail_next("/v2/enqueue", 502, times=2)
    async with run_worker(time_env.client) as tq:
        handle = await open_incident(time_env, tq, policy, module="fees")
        status = await status_when(handle, lambda s: len(s.paged) == 4)
        await finish(handle)
    assert [p.outcome for p in status.paged] == ["paged"] * 4
    assert len(pagerduty.open_alerts()) == 4 and len(pagerduty.triggers()) == 4


async def test_bad_slack_credentials_fail_the_step_once_and_the_incident_goes_on(
    time_env, run_worker, integrations, policy, pagerduty, slack
):
    wrong = integrations.model_copy(update={"slack_bot_token": SecretStr("xoxb-revoked")})
    async with run_worker(time_env.client, settings=wrong) as tq:
        handle = await time_env.client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(incident_id="inc-badslack00001", group_key="g"),
            id="inc-badslack00001",
            task_queue=tq,
        )
        await handle.execute_update(
            IncidentWorkflow.receive_alerts,
            digest(AlertmanagerDelivery.model_validate(delivery(alert(module="fees")))),
        )
        status = await status_when(handle, lambda s: kinds(s, "step-failed") and len(s.paged) == 4)
        await handle.signal("acknowledge", {"by": PRIMARY})
        status = await status_when(handle, lambda s: s.phase == "TRIAGE")
        await finish(handle)
    assert kinds(status, "step-failed") == [
        "could not open the incident bridge: Slack conversations.create refused: invalid_auth"
    ]
    assert len([c for c in slack.calls if c.path.endswith("conversations.create")]) == 1  # not retried
    assert "xoxb-revoked" not in str(status.model_dump())


async def test_prometheus_down_the_gate_cannot_verify_and_the_incident_stays_open(
    time_env, run_worker, policy, prometheus
):
    prometheus.fail_next("*", 503, times=10_000)
    async with run_worker(time_env.client) as tq:
        handle = await open_incident(time_env, tq, policy, module="fees")
        await handle.signal("resolve", {"by": IC, "summary": "Rolled back"})
        status = await status_when(handle, lambda s: s.gate_runs)
        await finish(handle)
    assert status.resolution is None and status.phase != "REVIEW"
    assert status.gate_runs[0].note == "the checks could not run"
    assert any("could not verify recovery" in t for t in kinds(status, "step-failed"))


async def test_smtp_down_for_minutes_the_email_goes_once_it_is_back(
    time_env, run_worker, policy, slack, smtp, prometheus
):
    async with run_worker(time_env.client) as tq:
        handle, status = await resolved_p0(time_env, tq, policy, prometheus)
        await smtp.stop()  # the mail relay goes away
        await handle.execute_update(
            IncidentWorkflow.approve_action, {"request_id": "customer-email", "by": "elif.demir@preskool.com"}
        )
        await time_env.sleep(timedelta(minutes=5))
        status = await status_when(
            handle, lambda s: any("send the customer email" in t for t in kinds(s, "slow-step"))
        )
        await smtp.start(smtp.host, smtp.port)  # and comes back
        await time_env.sleep(timedelta(minutes=2))
        status = await status_when(handle, lambda s: s.deliverables[0].state == "done")
        await finish(handle)
    assert len(customer_emails(smtp)) == 2
    assert status.deliverables[0].closed_at - status.resolution.at < timedelta(hours=2)


async def test_integrations_not_configured_are_skipped_everywhere(time_env, run_worker, policy, prometheus):
    async with run_worker(time_env.client, settings=IntegrationSettings()) as tq:
        handle = await time_env.client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(incident_id="inc-noconfig00001", group_key="g"),
            id="inc-noconfig00001",
            task_queue=tq,
        )
        await handle.execute_update(
            IncidentWorkflow.receive_alerts,
            digest(AlertmanagerDelivery.model_validate(delivery(alert(scope="all")))),
        )
        status = await status_when(
            handle, lambda s: kinds(s, "status-page-skipped") and kinds(s, "bridge-skipped")
        )
        await handle.signal("resolve", {"by": IC, "summary": "x", "force_reason": "no metrics configured"})
        status = await status_when(handle, lambda s: s.phase == "REVIEW" and kinds(s, "ticket-skipped"))
        await finish(handle)
    assert "skipped: slack not configured" in kinds(status, "bridge-skipped")
    assert kinds(status, "status-page-skipped") == ["skipped: statuspage not configured"]
    assert status.gate_runs[0].note == "skipped: prometheus not configured"
    assert all(t.endswith("skipped: jira not configured") for t in kinds(status, "ticket-skipped"))
