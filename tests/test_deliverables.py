"""§4.6 and §8: a P0 resolved, then a week walked on the time-skipping clock."""

from __future__ import annotations

from datetime import timedelta

from activities.tickets.jira import ticket_label
from tests.helpers import status_when
from tests.test_lifecycle import ENG_LEAD, IC, PRIMARY, open_incident
from workflows import IncidentWorkflow

COMMS = "elif.demir@preskool.com"


def state(status, key: str) -> str:
    return next(d.state for d in status.deliverables if d.key == key)


def dms(slack, user_id: str) -> list[str]:
    channel = next((c for c in slack.channels.values() if c.is_im and c.name == user_id), None)
    return [m["text"] for m in channel.messages] if channel else []


def customer_emails(smtp) -> list:
    return [m for m in smtp.messages if m.headers["Subject"].startswith("[UPDATE] PreSkool ERP")]


async def at_hours(env, handle, hours: float):
    """Move the clock to `hours` after resolution."""
    status = await handle.query(IncidentWorkflow.status)
    target = status.resolution.at + timedelta(hours=hours)
    now = await env.get_current_time()
    if target > now:
        await env.sleep(target - now)
    return await handle.query(IncidentWorkflow.status)


async def resolved_p0(env, tq, policy, prometheus):
    prometheus.healthy(policy)
    handle = await open_incident(env, tq, policy, scope="all", summary="API returning 500s for all requests")
    await handle.signal("acknowledge", {"by": PRIMARY})
    await handle.signal("declare_blast_radius", {"scope": "tenant", "tenants": ["school-42"], "by": PRIMARY})
    await handle.signal("mitigate", {"by": PRIMARY, "summary": "Rolled back"})
    await handle.signal(
        "resolve",
        {
            "by": IC,
            "summary": "Rolled back the 09:55 deploy",
            "root_cause": "A deploy changed session handling",
        },
    )
    return handle, await status_when(
        handle,
        lambda s: (
            s.phase == "REVIEW"
            and len(s.tickets) >= 3
            and any(e.kind == "notified" and e.text.startswith("customer-email-draft") for e in s.timeline)
        ),
    )


async def test_a_week_of_deliverables(time_env, run_worker, policy, slack, jira, smtp, prometheus):
    async with run_worker(time_env.client) as tq:
        handle, status = await resolved_p0(time_env, tq, policy, prometheus)
        assert {d.key: d.state for d in status.deliverables} == {
            k: "pending"
            for k in (
                "customer_email",
                "incident_report",
                "postmortem_meeting",
                "action_items",
                "runbook_update",
                "public_postmortem",
            )
        }

        # Before 2 h: the Communications Lead gets the §5.4 draft, approves it, it goes out once.
        draft = next(t for t in dms(slack, "U0COMMS001") if t.startswith("✉️ Customer email draft"))
        assert "To: principal@school-42.example.edu, administrators@schools.preskool.com" in draft
        await at_hours(time_env, handle, 0.5)
        await handle.execute_update(
            IncidentWorkflow.approve_action, {"request_id": "customer-email", "by": COMMS}
        )
        status = await status_when(handle, lambda s: state(s, "customer_email") == "done")
        await handle.signal(
            "add_action_item", {"title": "Canary deploys for the backend", "owner": PRIMARY, "by": IC}
        )
        status = await status_when(handle, lambda s: "action-item-1" in s.tickets)
        assert len(customer_emails(smtp)) == 2  # one per school: they never see each other's address

        # 12 h (half of 24 h) and 23 h (one hour before): the IC is reminded of the incident report.
        await at_hours(time_env, handle, 12.5)
        await status_when(
            handle,
            lambda s: sum("Incident report" in e.text for e in s.timeline if e.kind == "reminder") == 1,
        )
        await at_hours(time_env, handle, 23.5)
        await status_when(
            handle,
            lambda s: sum("Incident report" in e.text for e in s.timeline if e.kind == "reminder") == 2,
        )
        # 24 h: overdue, escalated to the Engineering Lead once, on Slack and by email.
        await at_hours(time_env, handle, 24.5)
        status = await status_when(
            handle,
            lambda s: (
                state(s, "incident_report") == "overdue"
                and any(
                    e.kind == "notified" and e.text.startswith("escalation-incident_report")
                    for e in s.timeline
                )
            ),
        )
        await handle.signal(
            "complete_deliverable",
            {"deliverable": "incident_report", "by": IC, "link": "https://docs.preskool.com/inc/report"},
        )
        await handle.signal(
            "waive_deliverable", {"deliverable": "public_postmortem", "by": IC, "reason": "no"}
        )
        await handle.signal(
            "waive_deliverable",
            {
                "deliverable": "public_postmortem",
                "by": ENG_LEAD,
                "reason": "internal issue, nothing public to say",
            },
        )
        await handle.signal("complete_deliverable", {"deliverable": "report", "by": IC, "link": "x"})
        status = await status_when(handle, lambda s: state(s, "public_postmortem") == "waived")
        assert state(status, "incident_report") == "done"

        # 72 h and a week: the rest falls due, each escalated once.
        await at_hours(time_env, handle, 72.5)
        await at_hours(time_env, handle, 24 * 7 + 0.5)
        status = await status_when(
            handle, lambda s: state(s, "runbook_update") == "overdue" and s.timeline[-1].kind != "overdue"
        )
        await at_hours(time_env, handle, 24 * 8)
        for key in ("postmortem_meeting", "action_items", "runbook_update"):
            await handle.signal(
                "complete_deliverable", {"deliverable": key, "by": IC, "link": f"https://x/{key}"}
            )
        status = await handle.result()  # every deliverable closed: the incident ends

    assert {d.key: d.state for d in status.deliverables} == {
        "customer_email": "done",
        "incident_report": "done",
        "postmortem_meeting": "done",
        "action_items": "done",
        "runbook_update": "done",
        "public_postmortem": "waived",
    }
    refusals = [e.text for e in status.timeline if e.kind == "refused"]
    assert "asha.rao@preskool.com may not waive deliverable: it needs Engineering Lead" in refusals[0]
    assert "no deliverable 'report'; the ledger has: customer_email, incident_report" in refusals[1]

    # The customer email (§5.4), once per school, before 2 h.
    sent = customer_emails(smtp)
    assert sorted(m.rcpt_tos[0] for m in sent) == [
        "administrators@schools.preskool.com",
        "principal@school-42.example.edu",
    ]
    body = sent[0].body
    assert "Dear School Administrator," in body
    assert "Root Cause: A deploy changed session handling" in body
    assert "Resolution: Rolled back the 09:55 deploy" in body
    assert "As a courtesy, we have extended your subscription by 1 day(s)." in body
    assert sent[0].headers["Subject"] == "[UPDATE] PreSkool ERP — Service Disruption"
    done = next(d for d in status.deliverables if d.key == "customer_email")
    assert done.closed_at - status.resolution.at < timedelta(hours=2)

    # Escalations: once each for the four non-optional deliverables that went overdue.
    escalated = [e.text for e in status.timeline if e.kind == "escalated"]
    assert len(escalated) == 4
    lead_mail = smtp.messages_to("dana.whitfield@preskool.com")
    assert len(lead_mail) == 4, [m.headers["Subject"] for m in lead_mail]
    assert all(m.headers["Subject"].startswith("[preskool-irp] Overdue: ") for m in lead_mail), [
        m.headers["Subject"] for m in lead_mail
    ]
    assert len([t for t in dms(slack, "U0ENGLEAD1") if t.startswith("🚨 Overdue")]) == 4

    # Jira: each ticket exactly once; the post-mortem ticket holds the real timeline.
    labels = [
        label
        for issue in jira.issues.values()
        for label in issue["fields"]["labels"]
        if label.startswith("irp-")
    ]
    assert len(labels) == len(set(labels)) == 4
    postmortem = jira.issue_with_label(ticket_label(status.outward_id, "postmortem"))
    text = str(postmortem["fields"]["description"])
    assert "Time to acknowledge" in text and "acknowledged by ben.okafor@preskool.com" in text
    assert postmortem["fields"]["duedate"] == (status.resolution.at + timedelta(hours=72)).date().isoformat()

    # The draft was posted in the bridge before it was archived, and the involved were invited.
    channel = slack.channel_by_name(status.channel)
    assert channel.is_archived and any(m["text"].startswith("📝 Post-mortem draft") for m in channel.messages)
    assert any(
        t.startswith("📅 You are invited to the blameless post-mortem") for t in dms(slack, "U0ONCALL02")
    )
