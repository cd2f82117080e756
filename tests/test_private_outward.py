"""Privacy covers every outward path (issue 23 case 4). A private incident's summary went to
PagerDuty with every page (`payload.summary`, `custom_details.impact`), where every user of the
account, PagerDuty's Slack app and phone lock screens see it. Now its pages carry "[P0] private
incident inc-…: details in the private bridge" and no impact, module or tenant; and so do its
Jira tickets, the worker's log, the metrics, Temporal's search attributes, memo and details. Only
the private bridge and the incident itself (its `status`) hold the details.

The pure rules (plan/privacy.py) are a table and Hypothesis properties; the whole path runs on
the dev server with every sandbox, a private declaration whose summary, impact, module, source
and tenant carry a recognisable phrase, and looks for the phrase everywhere it must not be."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connection.observability import JsonFormatter
from incident_client.intake import declare_incident, deliver_alerts
from plan import AlertmanagerDelivery
from plan.alerts import Declaration
from plan.privacy import PRIVATE_SOURCE, PRIVATE_SUMMARY, log_text, page_content, ticket_content
from tests.helpers import eventually, finish, metrics_client, status_when
from tests.payloads import alert, delivery
from tests.test_lifecycle import IC, PRIMARY

SECRET = "Zebracorn7731"  # the data at risk, as a phrase no template or id contains
IDS = st.from_regex(r"inc-[a-z0-9]{1,40}(-[0-9]{1,4})?", fullmatch=True)
TEXTS = st.text(max_size=300)
DETAILS = st.dictionaries(st.text(max_size=20), TEXTS, max_size=4)


# --- the rules ---------------------------------------------------------------------------------


def test_a_private_page_is_neutral_and_a_public_one_unchanged():
    details = {"impact": f"Fee rows of {SECRET}", "reasons": "data at risk"}
    assert page_content(
        "inc-1a2b", summary=f"Leak {SECRET}", source="db-school-9", details=details, private=True
    ) == ("private incident inc-1a2b: details in the private bridge", PRIVATE_SOURCE, {})
    assert page_content("inc-1a2b", summary="API 500s", source="backend", details=details, private=False) == (
        "API 500s",
        "backend",
        details,
    )


@pytest.mark.parametrize(
    "key, title",
    [
        ("postmortem", "Postmortem: private incident inc-9"),
        ("postmortem-meeting", "Postmortem meeting: private incident inc-9"),
        ("action-item-3", "Action item 3: private incident inc-9"),
    ],
)
def test_a_private_ticket_names_its_kind_and_the_incident_only(key, title):
    made = ticket_content("inc-9", key, title=f"Post-mortem: {SECRET}", description=SECRET, private=True)
    assert made[0] == title and "inc-9" in made[1] and SECRET not in "".join(made)


@given(IDS, TEXTS, TEXTS, DETAILS, TEXTS, TEXTS, DETAILS)
def test_a_private_page_depends_on_its_id_alone(incident_id, s1, src1, d1, s2, src2, d2):
    """Whatever the summary, source and details, a private page is the same: nothing of them gets
    out. A public page is exactly what it was given."""
    one = page_content(incident_id, summary=s1, source=src1, details=d1, private=True)
    assert one == page_content(incident_id, summary=s2, source=src2, details=d2, private=True)
    assert incident_id in one[0] and one[2] == {}
    assert page_content(incident_id, summary=s1, source=src1, details=d1, private=False) == (s1, src1, d1)


@given(
    IDS,
    st.sampled_from(["postmortem", "postmortem-meeting", "runbook-update", "action-item-7"]),
    TEXTS,
    TEXTS,
)
def test_a_private_ticket_and_log_line_depend_on_the_id_and_kind_alone(incident_id, key, title, description):
    private = ticket_content(incident_id, key, title=title, description=description, private=True)
    assert private == ticket_content(incident_id, key, title="x", description="y", private=True)
    assert ticket_content(incident_id, key, title=title, description=description, private=False) == (
        title,
        description,
    )
    assert log_text(title, True) == log_text(description, True) and log_text(title, False) == title


# --- every path, on a real worker ----------------------------------------------------------------


def leaked(where: str, thing) -> list[str]:
    text = json.dumps(thing, default=str, ensure_ascii=False) if not isinstance(thing, str) else thing
    return [where] if SECRET.lower() in text.lower() else []


def public_slack(slack) -> list[dict]:
    """Every channel a person outside the incident could read: not private, not a direct message."""
    return [
        {"name": c.name, "topic": c.topic, "purpose": c.purpose, "messages": c.messages}
        for c in slack.channels.values()
        if not c.is_private and not c.is_im
    ]


async def test_a_private_incident_says_nothing_outward(
    dev_env, run_worker, policy, slack, pagerduty, statuspage, jira, smtp, prometheus, monkeypatch, caplog
):
    client, address = await metrics_client(dev_env, monkeypatch)
    caplog.set_level(logging.INFO)  # the worker's level (IRP_LOG_LEVEL): at DEBUG libraries log bodies
    declaration = Declaration(
        summary=f"Fee ledger rows of {SECRET} exported",
        impact=f"Parents' bank details at {SECRET} readable by other schools",
        module=f"fees-{SECRET}",
        source=f"db-{SECRET}",
        severity="P0",
        reporter="support@preskool.com",
        private=True,
    )
    async with run_worker(client) as tq:
        receipt = await declare_incident(client, tq, declaration)
        handle = client.get_workflow_handle(receipt.incident_id)
        await status_when(handle, lambda s: s.channel and any(p.outcome == "paged" for p in s.paged))
        await handle.signal("acknowledge", {"by": PRIMARY})
        await handle.signal(
            "declare_blast_radius", {"scope": "tenant", "tenants": [f"school-{SECRET}"], "by": PRIMARY}
        )
        await handle.signal("resolve", {"by": IC, "summary": f"Revoked {SECRET}", "force_reason": "drill"})
        status = await status_when(
            handle,
            lambda s: (
                s.phase == "REVIEW"
                and len(s.tickets) >= 3
                and all(p.resolved for p in s.paged if p.outcome == "paged")
            ),
        )
        described = await handle.describe()
        metadata = await handle.query("__temporal_workflow_metadata")

        async def scraped():
            text = httpx.get(f"http://{address}/metrics").text
            return text if "irp_incidents_opened" in text else None

        metrics = await eventually(scraped)
        await finish(handle)

    # The incident itself keeps everything, and the private bridge heard it.
    assert status.private and SECRET in status.summary and SECRET in status.impact
    assert any(SECRET in m["text"] for m in slack.messages(status.channel))
    assert pagerduty.events and all(
        e["payload"]["summary"]
        == f"[P0] private incident {status.incident_id}: details in the private bridge"
        and e["payload"]["source"] == PRIVATE_SOURCE
        for e in pagerduty.events
        if e["event_action"] == "trigger"
    )
    lines = [JsonFormatter().format(r) for r in caplog.records]
    assert any(status.incident_id in line for line in lines)  # the log was captured
    attributes = {p.key.name: p.value for p in described.typed_search_attributes}
    outward = {
        "pagerduty": [c.to_dict() for c in pagerduty.calls],
        "jira": [c.to_dict() for c in jira.calls],
        "statuspage": [c.to_dict() for c in statuspage.calls],
        "prometheus": [c.to_dict() for c in prometheus.calls],
        "smtp": [m.to_dict() for m in smtp.messages],
        "slack (public channels)": public_slack(slack),
        "worker log": lines,
        "metrics": metrics,
        "search attributes": attributes,
        "memo": await described.memo(),
        "static summary": await described.static_summary(),
        "current details": metadata.current_details,
    }
    assert jira.calls and len(lines) > 10
    assert not jira.calls_to("attachments")  # no timeline picture in Jira for a private incident (§4.6)
    assert not slack.calls_to("files.getUploadURLExternal") and not slack.files  # nor in its bridge
    assert [where for where, thing in outward.items() for where in leaked(where, thing)] == []
    assert (await described.memo())["summary"] == PRIVATE_SUMMARY


async def test_an_incident_that_turns_private_later_hides_its_memo_and_pages_neutrally(
    dev_env, run_worker, policy, slack, pagerduty, statuspage, request
):
    """Opened public (its memo has the summary); a later delivery finds data at risk: the memo's
    summary goes, and the pages the raised severity sends carry nothing of it."""
    group = f"Later-{request.node.name}"
    summary = f"Fee exports of {SECRET} failing"
    first = delivery(alert(scope="all", module="fees", summary=summary), group=group)
    later = delivery(
        alert(scope="all", module="fees", summary=summary),
        alert(alertname="Leak", data_at_risk="true", summary=summary),
        group=group,
    )
    async with run_worker(dev_env.client) as tq:
        receipt = await deliver_alerts(dev_env.client, tq, AlertmanagerDelivery.model_validate(first))
        handle = dev_env.client.get_workflow_handle(receipt.incident_id)
        await status_when(handle, lambda s: s.status_page_id is not None and s.paged)
        assert SECRET in await (await handle.describe()).memo_value("summary")
        paged_before = len(pagerduty.events)
        await deliver_alerts(dev_env.client, tq, AlertmanagerDelivery.model_validate(later))
        await status_when(handle, lambda s: s.private and len(s.paged) > paged_before)

        async def hidden():
            return await (await handle.describe()).memo_value("summary") == PRIVATE_SUMMARY

        await eventually(hidden)
        await finish(handle)
    later_pages = [e for e in pagerduty.events[paged_before:] if e["event_action"] == "trigger"]
    assert later_pages and not leaked("later pages", later_pages)
