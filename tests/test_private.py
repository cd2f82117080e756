"""Private incidents (issue 16, item 2): data at risk, or a declaration marked private, opens a
private bridge for the people engaged and says nothing in public (status page, search attributes,
memo, the UI's details) until the Communications Lead and the IC approve a public statement.
The rule is a table; the rest runs on the real dev server with the sandbox's Slack and Statuspage."""

from __future__ import annotations

import hashlib

import pytest

from incident_client.intake import deliver_alerts
from plan import AlertmanagerDelivery, Declaration
from plan.decide.requests import STATEMENT as REQUEST_ID
from plan.privacy import PRIVATE_SUMMARY, alerts_private, declaration_private, is_private
from sandbox.slack import BOT_USER_ID
from tests.helpers import AUTH, finish, status_when
from tests.payloads import alert, delivery
from tests.test_incident_workflow import open_incident, opened
from webhook.slack.views import read, view
from workflows import IncidentWorkflow

IC, COMMS = "asha.rao@preskool.com", "elif.demir@preskool.com"
SUMMARY = "Fee ledger rows corrupted for school-42"


@pytest.mark.parametrize(
    "data_at_risk, declared, private",
    [(False, False, False), (True, False, True), (False, True, True), (True, True, True)],
)
def test_an_incident_is_private_with_data_at_risk_or_when_declared_so(data_at_risk, declared, private):
    assert is_private(data_at_risk=data_at_risk, declared_private=declared) is private


@pytest.mark.parametrize(
    "alerts, private",
    [
        ([alert()], False),
        ([alert(data_at_risk="true")], True),
        ([alert(data_at_risk="TRUE")], True),
        ([alert(data_at_risk="false")], False),
        ([alert(), alert(data_at_risk="true")], True),  # anywhere in the group, as §6 counts it
        ([alert(), alert(status="resolved", data_at_risk="true")], False),  # only firing alerts count
    ],
)
def test_the_receiver_reads_privacy_from_the_same_label_rule_as_the_decision_tree(alerts, private):
    assert alerts_private(AlertmanagerDelivery.model_validate(delivery(*alerts)).alerts) is private


def test_a_declaration_is_private_when_marked_and_a_public_one_hashes_as_before():
    public = Declaration(summary="s", reporter="r@preskool.com")
    assert not declaration_private(public) and declaration_private(
        public.model_copy(update={"private": True})
    )
    unset = {"private", "started_at"}  # the fields a declaration from before them never had
    before = hashlib.sha256(public.model_dump_json(exclude=unset).encode()).hexdigest()[:16]
    assert public.digest() == before  # a retried declaration from before `private` finds its incident
    assert public.digest() != public.model_copy(update={"private": True}).digest()


def requested(status) -> bool:
    return REQUEST_ID in {r.request_id for r in status.requests} and any(
        e.text.startswith("posted the approval-request") for e in status.timeline
    )


async def approve_statement(handle) -> None:
    for by in (COMMS, IC):
        await handle.execute_update(IncidentWorkflow.approve_action, {"request_id": REQUEST_ID, "by": by})


async def private_and_quiet(dev_env, handle, slack, statuspage, policy) -> None:
    """A private bridge with only the people engaged; nothing public; the statement requested."""
    status = await status_when(handle, requested)
    channel = slack.channel_by_name(status.channel)
    engaged = {r.role for r in status.roles if r.engaged != "none"}
    assert channel.is_private
    assert set(channel.members) == {BOT_USER_ID} | {policy.roster[r].contacts["slack"] for r in engaged}
    assert channel.purpose["value"] == f"Incident {status.incident_id}"  # no summary
    assert status.private and status.summary == SUMMARY  # the incident itself keeps everything
    assert SUMMARY in slack.messages(status.channel)[0]["text"]  # said in the private bridge only
    public = slack._list({"types": "public_channel", "limit": 1000})["channels"]
    assert status.channel not in {c["name"] for c in public}  # listed with types=private_channel only
    assert status.channel in {c["name"] for c in slack._list({"types": "private_channel"})["channels"]}
    assert statuspage.incident_for(status.incident_id) is None and not statuspage.calls_to("POST")
    [request] = [r for r in status.requests if r.request_id == REQUEST_ID]
    assert request.state == "pending" and request.automatic and request.action == "public_statement"
    described = await handle.describe()
    attributes = {p.key.name: p.value for p in described.typed_search_attributes}
    assert attributes["Severity"] == "P0" and "Module" not in attributes and "Tenant" not in attributes
    assert await described.memo_value("summary") == PRIVATE_SUMMARY
    assert (
        PRIVATE_SUMMARY in await described.static_summary()
        and SUMMARY not in await described.static_summary()
    )
    details = (await handle.query("__temporal_workflow_metadata")).current_details
    assert details.startswith("**P0** · ") and details.endswith(PRIVATE_SUMMARY) and SUMMARY not in details


async def statement_opens_the_status_page(handle, statuspage) -> None:
    """One approval is not enough (§7 the IC must approve; §3 the Communications Lead); both open it."""
    await handle.execute_update(IncidentWorkflow.approve_action, {"request_id": REQUEST_ID, "by": COMMS})
    status = await handle.query(IncidentWorkflow.status)
    assert statuspage.incident_for(status.incident_id) is None
    await handle.execute_update(IncidentWorkflow.approve_action, {"request_id": REQUEST_ID, "by": IC})
    status = await status_when(handle, lambda s: s.status_page_id is not None)
    page = statuspage.incident_for(status.incident_id)
    assert page["status"] == "investigating" and SUMMARY not in str(page)
    done = await status_when(
        handle, lambda s: any(r.request_id == REQUEST_ID and r.state == "done" for r in s.requests)
    )
    assert any(e.kind == "public-statement" for e in done.timeline)


async def test_data_at_risk_opens_a_private_bridge_and_nothing_public_until_approved(
    dev_env, run_worker, policy, slack, statuspage, request
):
    payload = delivery(
        alert(alertname="FeeLedgerCorruption", data_at_risk="true", module="fees", summary=SUMMARY),
        group=f"Private-{request.node.name}",
    )
    async with run_worker(dev_env.client) as tq:
        receipt = await deliver_alerts(dev_env.client, tq, AlertmanagerDelivery.model_validate(payload))
        handle = dev_env.client.get_workflow_handle(receipt.incident_id)
        await private_and_quiet(dev_env, handle, slack, statuspage, policy)
        # A public §5.2 update is withheld while no statement is approved.
        await handle.signal(
            "post_update",
            {
                "by": IC,
                "status": "ONGOING",
                "current_action": "restoring",
                "what_we_know": "x",
                "public": True,
            },
        )
        await status_when(handle, lambda s: any(e.kind == "status-page-withheld" for e in s.timeline))
        assert not statuspage.calls_to("POST")
        await statement_opens_the_status_page(handle, statuspage)
        # At close the status page is resolved and the private bridge archived, as for any incident.
        await handle.signal("resolve", {"by": IC, "summary": "Restored from backup", "force_reason": "drill"})
        status = await status_when(
            handle, lambda s: s.phase == "REVIEW" and slack.channel_by_name(s.channel).is_archived
        )
        await finish(handle)
    assert statuspage.incident_for(status.incident_id)["status"] == "resolved"


async def test_a_declaration_marked_private_behaves_the_same(
    dev_env, run_worker, receiver, policy, slack, statuspage
):
    report = {"summary": SUMMARY, "reporter": "support@preskool.com", "severity": "P0", "private": True}
    async with run_worker(dev_env.client) as tq, receiver(tq) as http:
        answer = await http.post("/incidents", json=report, headers=AUTH)
        assert answer.status_code == 201
        [incident] = answer.json()["incidents"]
        handle = dev_env.client.get_workflow_handle(incident["incident_id"])
        await private_and_quiet(dev_env, handle, slack, statuspage, policy)
        await statement_opens_the_status_page(handle, statuspage)
        await finish(handle)


async def test_a_public_incident_is_unchanged(dev_env, run_worker, policy, slack, statuspage, request):
    payload = delivery(alert(scope="all", module="fees"), group=f"Public-{request.node.name}")
    async with run_worker(dev_env.client) as tq:
        receipt = await deliver_alerts(dev_env.client, tq, AlertmanagerDelivery.model_validate(payload))
        handle = dev_env.client.get_workflow_handle(receipt.incident_id)
        status = await status_when(handle, lambda s: s.status_page_id is not None)
        described = await handle.describe()
        await finish(handle)
    assert not status.private and not slack.channel_by_name(status.channel).is_private
    assert REQUEST_ID not in {r.request_id for r in status.requests}
    assert {p.key.name: p.value for p in described.typed_search_attributes}["Module"] == "fees"


def test_the_slack_declare_modal_has_a_private_checkbox():
    blocks = {b["block_id"]: b for b in view("irp.declare", {})["blocks"]}
    assert blocks["private"]["element"]["type"] == "checkboxes" and blocks["private"]["optional"]
    values = {
        "summary": {"summary": {"value": SUMMARY}},
        "severity": {"severity": {"selected_option": {"value": "P0"}}},
        "private": {"private": {"selected_options": [{"value": "yes"}]}},
    }
    data, errors = read("irp.declare", {"state": {"values": values}}, {"reporter": IC, "source": "slack"})
    assert not errors and Declaration(**data).private
    values["private"]["private"]["selected_options"] = []
    data, _ = read("irp.declare", {"state": {"values": values}}, {"reporter": IC, "source": "slack"})
    assert not Declaration(**data).private


async def test_data_found_at_risk_later_makes_the_incident_private_from_then_on(
    dev_env, run_worker, policy, slack, statuspage, request
):
    group = f"Later-{request.node.name}"
    first = delivery(alert(scope="all", module="fees"), group=group)
    later = delivery(
        alert(scope="all", module="fees"), alert(alertname="Leak", data_at_risk="true"), group=group
    )
    async with run_worker(dev_env.client) as tq:
        receipt = await deliver_alerts(dev_env.client, tq, AlertmanagerDelivery.model_validate(first))
        handle = dev_env.client.get_workflow_handle(receipt.incident_id)
        await status_when(handle, lambda s: s.status_page_id is not None)
        await deliver_alerts(dev_env.client, tq, AlertmanagerDelivery.model_validate(later))
        status = await status_when(handle, requested)
        await handle.signal(
            "post_update",
            {"by": IC, "status": "ONGOING", "current_action": "x", "what_we_know": "y", "public": True},
        )
        await status_when(handle, lambda s: any(e.kind == "status-page-withheld" for e in s.timeline))
        described = await handle.describe()
        await finish(handle)
    assert any("private from now on" in m["text"] for m in slack.messages(status.channel))
    assert len(statuspage.incident_for(status.incident_id)["incident_updates"]) == 1  # the opening only
    assert "Module" not in {p.key.name for p in described.typed_search_attributes}


async def test_a_lost_create_answer_never_adopts_an_unproven_private_channel(
    time_env, run_worker, policy, slack
):
    """The private bridge was made but the answer lost: among the private channels the bot is in,
    nothing proves that one is this incident's, so the retry opens `-2` (private too) and the
    timeline names the empty one."""
    slack.lose_next_response("conversations.create")
    async with run_worker(time_env.client) as tq:
        handle, _ = await open_incident(time_env, tq, policy, delivery(alert(data_at_risk="true")))
        status = await status_when(handle, opened)
        await finish(handle)
    day = f"preskool-incident-{status.started_at:%Y-%m-%d}"
    names = [c.name for c in slack.channels.values() if c.name.startswith("preskool-incident")]
    assert names == [day, status.channel] == [day, f"{day}-2"]
    assert all(slack.channel_by_name(n).is_private for n in names)
    assert slack.channel_by_name(status.channel).purpose["value"] == f"Incident {status.incident_id}"
    assert any(e.kind == "bridge-left-behind" and e.text.startswith(f"#{day} ") for e in status.timeline)
