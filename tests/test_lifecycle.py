"""§4, §5.2, §5.3: every number of the lifecycle, proven by moving the time-skipping clock past it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, timedelta, timezone

import pytest

from plan import AlertmanagerDelivery
from plan.alert_digest import digest
from plan.incident import IncidentInput
from tests.helpers import eventually, finish, status_when
from tests.payloads import alert, delivery
from workflows import IncidentWorkflow

IC = "asha.rao@preskool.com"
PRIMARY = "ben.okafor@preskool.com"
ENG_LEAD = "dana.whitfield@preskool.com"


async def open_incident(env, task_queue, policy, starts_at: str | None = None, **labels):
    """A P-whatever the labels make, opened by one delivery; `starts_at`: its alert's startsAt."""
    incident_id = f"inc-{uuid.uuid4().hex[:12]}"
    firing = alert(summary=labels.pop("summary", "Fee collection failing"), **labels)
    firing["startsAt"] = starts_at or firing["startsAt"]
    handle = await env.client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id=incident_id, group_key="g"),
        id=incident_id,
        task_queue=task_queue,
    )
    await handle.execute_update(
        IncidentWorkflow.receive_alerts,
        digest(AlertmanagerDelivery.model_validate(delivery(firing))),
    )
    await status_when(
        handle, lambda s: any(e.text.startswith("posted the triage-checklist") for e in s.timeline)
    )
    return handle


async def since_receipt(env, handle, minutes: float):
    """Move the clock to `minutes` after the incident heard of the problem."""
    status = await handle.query(IncidentWorkflow.status)
    target, now = status.received_at + timedelta(minutes=minutes), await env.get_current_time()
    if target > now:
        await env.sleep(target - now)
    return await handle.query(IncidentWorkflow.status)


async def at(env, handle, minutes: float):
    """Move the clock to `minutes` after the incident started, then let the workflow catch up."""
    status = await handle.query(IncidentWorkflow.status)
    now = await env.get_current_time()
    target = status.started_at + timedelta(minutes=minutes)
    if target > now:
        await env.sleep(target - now)
    return await handle.query(IncidentWorkflow.status)


def kinds(status, kind: str) -> list[str]:
    return [e.text for e in status.timeline if e.kind == kind]


def posts(slack, status, needle: str) -> list[str]:
    return [m["text"] for m in slack.messages(status.channel) if needle in m["text"]]


async def test_phase_windows_nudge_once_each(time_env, run_worker, policy, slack):
    async with run_worker(time_env.client) as tq:
        handle = await open_incident(
            time_env, tq, policy, severity="warning", module="reports"
        )  # P2: no cadence
        await at(time_env, handle, 1)
        await handle.signal("acknowledge", {"by": PRIMARY})
        await status_when(handle, lambda s: s.phase == "TRIAGE")
        assert kinds(await at(time_env, handle, 9.5), "window") == []
        status = await at(time_env, handle, 10.5)
        await status_when(handle, lambda s: len(kinds(s, "window")) == 1)
        await handle.signal(
            "declare_blast_radius", {"scope": "tenant", "tenants": ["school-42"], "by": PRIMARY}
        )
        await status_when(handle, lambda s: s.phase == "CONTAIN")
        await at(time_env, handle, 29)
        status = await status_when(handle, lambda s: len(kinds(s, "window")) == 1)
        await at(time_env, handle, 31)
        await status_when(handle, lambda s: len(kinds(s, "window")) == 2)
        await handle.signal("mitigate", {"by": PRIMARY, "summary": "Rolled back the reports service"})
        await status_when(handle, lambda s: s.phase == "FIX")
        await at(time_env, handle, 239)
        assert len(kinds(await handle.query(IncidentWorkflow.status), "window")) == 2
        await at(time_env, handle, 241)
        status = await status_when(handle, lambda s: len(kinds(s, "window")) == 3)
        await at(time_env, handle, 600)
        status = await handle.query(IncidentWorkflow.status)
        await finish(handle)
    assert kinds(status, "window") == [
        "TRIAGE window (10 min) passed",
        "CONTAIN window (30 min) passed",
        "FIX window (240 min) passed",
    ]
    assert list(status.phases) == ["DETECTION", "TRIAGE", "CONTAIN", "FIX"]
    assert [round((t - status.started_at).total_seconds() / 60) for t in status.phases.values()] == [
        0,
        1,
        11,
        31,
    ]
    assert len(posts(slack, status, "window")) == 3
    assert "the TRIAGE window (10 min from the start, §4) has passed" in posts(slack, status, "window")[0]
    assert kinds(status, "update-overdue") == []  # P2 has no cadence


@pytest.mark.parametrize(
    "labels, escalated",
    [
        ({"module": "fees"}, ["oncall_secondary"]),  # P1: IC already paged
        ({"severity": "info"}, ["oncall_secondary"]),  # P3: secondary only, no IC
    ],
)
async def test_unacknowledged_page_escalates_at_two_minutes(
    time_env, run_worker, policy, pagerduty, slack, labels, escalated
):
    async with run_worker(time_env.client) as tq:
        handle = await open_incident(time_env, tq, policy, **labels)
        before = {t["dedup_key"] for t in pagerduty.triggers()}
        await at(time_env, handle, 1.9)
        assert kinds(await handle.query(IncidentWorkflow.status), "escalated") == []
        await at(time_env, handle, 2.1)
        status = await status_when(handle, lambda s: kinds(s, "escalated") and len(s.paged) > len(before))
        await finish(handle)
    new = {t["dedup_key"].split(":")[1] for t in pagerduty.triggers()} - {k.split(":")[1] for k in before}
    assert sorted(new) == escalated
    assert posts(slack, status, "No acknowledgement within 2 minutes")


async def test_acknowledged_in_time_does_not_escalate(time_env, run_worker, policy, pagerduty):
    async with run_worker(time_env.client) as tq:
        handle = await open_incident(time_env, tq, policy, module="fees")
        await handle.signal("acknowledge", {"by": PRIMARY})
        await status_when(handle, lambda s: s.phase == "TRIAGE")
        status = await at(time_env, handle, 5)
        await finish(handle)
    assert kinds(status, "escalated") == [] and len(pagerduty.triggers()) == 4


async def test_p0_cadence_every_15_minutes(time_env, run_worker, policy, slack):
    async with run_worker(time_env.client) as tq:
        handle = await open_incident(time_env, tq, policy, scope="all")
        await handle.signal("acknowledge", {"by": PRIMARY})
        assert (await at(time_env, handle, 14.5)).cadence.overdue_updates == 0
        await at(time_env, handle, 15.5)
        await status_when(handle, lambda s: s.cadence.overdue_updates == 1)
        await at(time_env, handle, 20)
        await handle.signal(
            "post_update",
            {
                "by": IC,
                "status": "ONGOING",
                "current_action": "Restarting backend",
                "what_we_know": "Bad deploy at 09:55",
                "next_update_minutes": 15,
            },
        )
        await status_when(handle, lambda s: s.cadence.updates_posted == 1)
        assert (await at(time_env, handle, 34.5)).cadence.overdue_updates == 1
        await at(time_env, handle, 35.5)
        status = await status_when(handle, lambda s: s.cadence.overdue_updates == 2)
        await finish(handle)
    [update] = posts(slack, status, "📝 UPDATE")
    assert (
        "Status: 🔴 ONGOING\nCurrent Action: Restarting backend\nWhat We Know: Bad deploy at 09:55\n"
        "Next Update: in 15 minutes" in update
    )
    nudges = posts(slack, status, "update is overdue")
    assert len(nudges) == 2 and "<@U0IC000001>" in nudges[0] and "every 15 minutes" in nudges[0]


async def test_p1_cadence_30_minutes_switches_on_severity_change(
    time_env, run_worker, policy, pagerduty, slack
):
    async with run_worker(time_env.client) as tq:
        handle = await open_incident(time_env, tq, policy, module="fees")
        await handle.signal("acknowledge", {"by": PRIMARY})
        assert (await at(time_env, handle, 29.5)).cadence.overdue_updates == 0
        await at(time_env, handle, 30.5)
        await status_when(handle, lambda s: s.cadence.overdue_updates == 1)
        await at(time_env, handle, 40)
        await handle.signal("set_severity", {"severity": "P0", "by": IC, "reason": "all schools affected"})
        # Escalated to P0: the last communication was at 0, so a P0 update is due at once, then every 15.
        status = await status_when(handle, lambda s: s.severity == "P0" and s.cadence.overdue_updates == 2)
        assert (await at(time_env, handle, 54.5)).cadence.overdue_updates == 2
        await at(time_env, handle, 55.5)
        status = await status_when(handle, lambda s: s.cadence.overdue_updates == 3)
        await finish(handle)
    # P0 newly requires the secondary (R): paged at once.
    assert "oncall_secondary" in {t["dedup_key"].split(":")[1] for t in pagerduty.triggers()}
    assert posts(slack, status, "Severity P1 → P0, declared by asha.rao@preskool.com")


async def test_only_the_ic_or_engineering_lead_redeclare_severity(time_env, run_worker, policy):
    async with run_worker(time_env.client) as tq:
        handle = await open_incident(time_env, tq, policy, module="fees")
        await handle.signal("set_severity", {"severity": "P3", "by": PRIMARY, "reason": "looks minor"})
        await handle.signal("assign_role", {"role": "incident_commander", "person": PRIMARY, "by": ENG_LEAD})
        await handle.signal("set_severity", {"severity": "P2", "by": IC, "reason": "no longer the IC"})
        await handle.signal("set_severity", {"severity": "P2", "by": PRIMARY, "reason": "workaround exists"})
        status = await status_when(handle, lambda s: s.severity == "P2")
        await finish(handle)
    refusals = kinds(status, "refused")
    assert len(refusals) == 2
    assert (
        "ben.okafor@preskool.com may not set severity: it needs Incident Commander (IC), Engineering Lead"
        in refusals[0]
    )
    assert "asha.rao@preskool.com may not set severity" in refusals[1]
    assert next(r for r in status.roles if r.role == "incident_commander").person == PRIMARY


async def test_resolve_gate_fails_then_is_forced(
    time_env, run_worker, policy, slack, pagerduty, statuspage, prometheus
):
    prometheus.unhealthy(policy)
    async with run_worker(time_env.client) as tq:
        handle = await open_incident(time_env, tq, policy, module="fees")
        await handle.signal("resolve", {"by": IC, "summary": "Rolled back"})
        status = await status_when(handle, lambda s: s.gate_runs)
        assert status.phase != "REVIEW" and status.resolution is None
        await handle.signal("resolve", {"by": PRIMARY, "summary": "x", "force_reason": "trust me"})
        await handle.signal(
            "resolve", {"by": IC, "summary": "Rolled back", "force_reason": "metrics pipeline down"}
        )
        result = await status_when(handle, lambda s: s.phase == "REVIEW")
        await finish(handle)
    [failed, forced] = result.gate_runs
    assert not failed.passed and not forced.passed
    assert any("error rate" in c.detail and "needs < 0.1%" in c.detail for c in failed.checks)
    assert "Recovery NOT verified" in posts(slack, result, "Recovery NOT verified")[0]
    assert result.resolution.forced and result.resolution.force_reason == "metrics pipeline down"
    assert any("ben.okafor@preskool.com may not resolve" in r for r in kinds(result, "refused"))
    assert result.phase == "REVIEW"


async def test_resolve_verified_closes_out(
    time_env, run_worker, policy, slack, pagerduty, statuspage, prometheus, jira
):
    prometheus.healthy(policy)
    async with run_worker(time_env.client) as tq:
        handle = await open_incident(time_env, tq, policy, module="fees")
        status = await handle.query(IncidentWorkflow.status)
        await handle.signal("acknowledge", {"by": PRIMARY})
        await handle.signal(
            "post_update",
            {
                "by": IC,
                "status": "MITIGATED",
                "current_action": "Fees back",
                "what_we_know": "Payment gateway timeout",
                "public": True,
            },
        )
        await handle.signal(
            "resolve", {"by": IC, "summary": "Gateway timeout raised", "root_cause": "Gateway change"}
        )
        result = await status_when(handle, lambda s: s.phase == "REVIEW")
        pictured = await eventually(lambda: jira.calls_to("attachments"))  # §4.6: the post-mortem's picture
        await finish(handle)
    assert result.phase == "REVIEW" and result.gate_runs[0].passed and not result.resolution.forced
    (attached,) = [c for c in pictured if c.status == 200]
    postmortem = next(i for i in jira.issues.values() if i["fields"]["summary"].startswith("Post-mortem:"))
    assert attached.path == f"/rest/api/3/issue/{postmortem['key']}/attachments"
    (picture,) = postmortem["fields"]["attachment"]
    assert picture["filename"] == "incident-timeline.png"
    assert jira.contents[picture["id"]].startswith(b"\x89PNG")
    draft = json.dumps(postmortem["fields"]["description"])
    assert "attached to the post-mortem ticket as" in draft  # the draft names the picture
    (shown,) = slack.shared_files(status.channel)  # and the bridge shows it, under the draft (issue 24)
    assert shown["name"] == "incident-timeline.png" and slack.files[shown["id"]].startswith(b"\x89PNG")
    # §5.3: investigating on open, a public update, resolved with the plan's text.
    incident = statuspage.incident_for(result.incident_id)
    assert incident["status"] == "resolved" and incident["name"] == "Resolved - Elevated Error Rates"
    bodies = [u["body"] for u in reversed(incident["incident_updates"])]  # Statuspage lists newest first
    assert bodies[0].startswith("We are investigating elevated error rates affecting some users.")
    assert "Next update in 30 minutes." in bodies[0]
    assert bodies[-1].startswith("The issue affecting fees has been resolved as of ")
    assert "We will share a full postmortem within 72 hours." in bodies[-1]
    # §4.5 step 5: every page resolved by its dedup key; step 6: the bridge archived.
    assert {a.state for a in pagerduty.alerts.values()} == {"resolved"}
    assert slack.channel_by_name(status.channel).is_archived
    assert posts(slack, result, "Status: ✅ RESOLVED")


async def test_alertmanager_resolved_says_ready_to_verify_once(time_env, run_worker, policy, slack):
    async with run_worker(time_env.client) as tq:
        handle = await open_incident(time_env, tq, policy, module="fees")
        resolved = digest(
            AlertmanagerDelivery.model_validate(delivery(alert(status="resolved", module="fees")))
        )
        await handle.execute_update(IncidentWorkflow.receive_alerts, resolved)
        await handle.execute_update(IncidentWorkflow.receive_alerts, resolved)
        status = await status_when(handle, lambda s: posts(slack, s, "ready to verify"))
        await finish(handle)
    assert len(posts(slack, status, "ready to verify")) == 1
    assert status.phase != "REVIEW" and status.resolution is None


async def test_a_week_long_p0_continues_as_new(time_env, run_worker, policy):
    async with run_worker(time_env.client) as tq:
        handle = await open_incident(time_env, tq, policy, scope="all")
        await handle.signal("acknowledge", {"by": PRIMARY})
        for day in range(1, 8):
            await at(time_env, handle, day * 24 * 60)
        status = await status_when(handle, lambda s: s.cadence.overdue_updates >= 7 * 24 * 4 - 1)
        history = await handle.fetch_history()
        await finish(handle)
    assert status.runs > 1, "a week of 15-minute nudges must continue as new"
    assert len(history.events) < 10_000
    assert status.phase == "TRIAGE" and status.severity == "P0"


async def test_an_alert_40_minutes_late_says_the_passed_windows_once_and_escalates_from_the_page(
    time_env, run_worker, policy, pagerduty, slack, prometheus
):
    """startsAt 40 min before receipt (+08:00): §4's windows count from then, so DETECTION,
    TRIAGE and CONTAIN had passed; that is said once, and none of them nudges as the incident
    moves through them. The unacknowledged page escalates 2 min after the page, not at once; FIX
    nudges at 4 h from the problem's start; the customer email says when it began."""
    prometheus.healthy(policy)
    began = (await time_env.get_current_time()).replace(microsecond=0) - timedelta(minutes=40)
    plus8 = began.astimezone(timezone(timedelta(hours=8))).isoformat()
    async with run_worker(time_env.client) as tq:
        handle = await open_incident(time_env, tq, policy, starts_at=plus8, module="fees")
        opened = await status_when(handle, lambda s: posts(slack, s, "had already passed"))
        assert kinds(await since_receipt(time_env, handle, 1.9), "escalated") == []
        await since_receipt(time_env, handle, 2.1)
        escalated = await status_when(handle, lambda s: kinds(s, "escalated"))
        await handle.signal("acknowledge", {"by": PRIMARY})
        await handle.signal("declare_blast_radius", {"scope": "all", "by": PRIMARY})
        await handle.signal("mitigate", {"by": PRIMARY, "summary": "Rolled back the fee gateway"})
        await status_when(handle, lambda s: s.phase == "FIX")
        before_fix = await since_receipt(time_env, handle, 3 * 60 + 19)
        await since_receipt(time_env, handle, 3 * 60 + 21)
        fixed = await status_when(handle, lambda s: kinds(s, "window"))
        await handle.signal("resolve", {"by": IC, "summary": "Rolled back", "root_cause": "Gateway"})
        closed = await status_when(
            handle, lambda s: any(r.request_id == "customer-email" for r in s.requests)
        )
        await finish(handle)
    assert opened.started_at == began.astimezone(UTC) and opened.received_at - began >= timedelta(minutes=40)
    assert opened.phases["DETECTION"] == began
    [said] = posts(slack, opened, "had already passed")
    assert "DETECTION (2 min), TRIAGE (10 min) and CONTAIN (30 min) windows had already passed" in said
    assert "FIX's ends at" in said and kinds(opened, "windows-passed")
    assert kinds(escalated, "escalated") == ["no acknowledgement within the detection window: paging "
                                              "On-Call Engineer (Secondary)"]  # fmt: skip
    assert kinds(before_fix, "window") == [], "no nudge for a window said to have passed"
    assert kinds(fixed, "window") == ["FIX window (240 min) passed"] and len(posts(slack, fixed, "⏱")) == 2
    email = next(r for r in closed.requests if r.request_id == "customer-email")
    assert email.params["start"] == began.astimezone(UTC).isoformat()


async def test_a_later_delivery_that_began_earlier_moves_the_start_earlier_never_later(
    time_env, run_worker, policy, slack
):
    """The group's first alert began 5 min before we heard; a later delivery brings one that began
    30 min before: the start moves to it and the windows that have now passed are said once (no
    TRIAGE nudge). A delivery whose alerts began later moves nothing."""
    received = await time_env.get_current_time()
    first = alert(module="reports", severity="warning", pod="reports-1")
    first.update(startsAt=(received - timedelta(minutes=5)).isoformat(), fingerprint="00000000000000a1")
    async with run_worker(time_env.client) as tq:
        handle = await open_incident(time_env, tq, policy, starts_at=first["startsAt"], module="reports",
                                     severity="warning", pod="reports-1")  # fmt: skip
        await handle.signal("acknowledge", {"by": PRIMARY})
        await status_when(handle, lambda s: s.phase == "TRIAGE")
        await since_receipt(time_env, handle, 3)
        earlier = {
            **alert(module="reports", severity="warning", pod="reports-2"),
            "fingerprint": "00000000000000a2",
        }
        earlier["startsAt"] = (received - timedelta(minutes=30)).isoformat()
        later = {**earlier, "startsAt": received.isoformat(), "fingerprint": "00000000000000a3"}
        for alerts in ([first, earlier], [first, later]):
            await handle.execute_update(
                IncidentWorkflow.receive_alerts,
                digest(AlertmanagerDelivery.model_validate(delivery(*alerts))),
            )
        moved = await status_when(handle, lambda s: posts(slack, s, "moved the start earlier"))
        status = await since_receipt(time_env, handle, 12)
        await finish(handle)
    assert moved.started_at == (received - timedelta(minutes=30)).replace(microsecond=received.microsecond)
    assert status.started_at == moved.started_at, "a later start never moves it"
    [said] = posts(slack, moved, "moved the start earlier")
    assert said.startswith("⏱ Alertmanager delivery #2 moved the start earlier: we are now 33 min after")
    assert "§4's TRIAGE (10 min) and CONTAIN (30 min) windows had already passed" in said
    [on_arrival] = posts(slack, moved, "This alert reached us 5 min after")  # DETECTION's, said then
    assert "§4's DETECTION (2 min) window had already passed" in on_arrival
    assert kinds(status, "window") == [] and len([e for e in status.timeline if e.kind == "start"]) == 2
