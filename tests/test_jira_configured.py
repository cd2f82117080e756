"""Issue 23 case 8's kind for Jira: outside systems as customers configure them. A French site's
issue types ("Tâche"), custom fields a project requires, a project key that does not exist,
components. Either the worker refuses to start naming the setting and what Jira offers
(`Jira.check`, through worker.py's `check_outside`), or each ticket is created or reported failed
on its own with Jira's words while the others go on. Against the Jira fake over real HTTP, with
the real client."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import ssl
import sys
import uuid
from asyncio.subprocess import PIPE
from datetime import date
from pathlib import Path

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import IntegrationSettings, check_outside
from activities.tickets import TicketActivities, TicketRequest
from activities.tickets.jira import Jira, JiraSettings, pick_issue_type
from plan import AlertmanagerDelivery, load_policy
from plan.alert_digest import digest
from plan.incident import IncidentInput
from sandbox.jira import DEFAULT_EMAIL, DEFAULT_PROJECT, DEFAULT_TOKEN, ENGLISH, FRENCH, JiraFake
from tests.helpers import finish, status_when
from tests.payloads import alert, delivery
from tests.test_deliverables import dms
from tests.test_lifecycle import IC, PRIMARY, kinds
from workflows import IncidentWorkflow

ROOT = Path(__file__).resolve().parent.parent
TEAM = {"customfield_10010": {"name": "Équipe", "options": ["Plateforme", "Données"]}}


def ticket(key: str = "postmortem") -> TicketRequest:
    return TicketRequest(
        incident_id="inc-3f2a9c1b7d10",
        key=key,
        summary=f"Post-mortem {key}",
        description="**Impact**: fee exports failed.",
        due=date(2026, 3, 5),
        assignee_email="asha.rao@preskool.com",
    )


def jira(fake: JiraFake, project: str = DEFAULT_PROJECT, **kw) -> Jira:
    return Jira(
        fake.url, DEFAULT_EMAIL, DEFAULT_TOKEN, project, ssl.create_default_context(), recheck_after=0.0, **kw
    )


async def create(provider: Jira, request: TicketRequest):
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=1)
    return await env.run(TicketActivities(provider).create_ticket, request)


@pytest_asyncio.fixture
async def french():
    async with JiraFake(issue_types=FRENCH) as fake:
        yield fake


async def test_a_french_site_gets_its_tache_without_being_told(french):
    """The field case: the product sent `{"name": "Task"}`, which a French Jira refuses. The type
    is looked up once in createmeta and sent by id."""
    provider = jira(french)
    assert await provider.check() == "Jira tickets go to project IRP as Tâche (issue type 10001)"
    first, second = await create(provider, ticket("postmortem")), await create(provider, ticket("runbook"))

    assert first.created and second.created and not first.failed
    assert {i["fields"]["issuetype"]["name"] for i in french.issues.values()} == {"Tâche"}
    sent = [c.params["body"]["fields"]["issuetype"] for c in french.calls_to("/rest/api/3/issue")]
    assert sent == [{"id": "10001"}, {"id": "10001"}]
    assert len(french.calls_to("/rest/api/3/issue/createmeta/IRP/issuetypes")) == 1  # looked up once


async def test_the_fake_refuses_the_english_name_on_a_french_site_as_jira_does(french):
    provider = jira(french)
    with pytest.raises(ApplicationError) as refused:
        await provider.create_issue(
            summary="x",
            description_adf=None,
            issue_type="10009",
            labels=[],
            due=None,
            assignee_account_id=None,
        )
    assert "issuetype: Specify a valid issue type" in refused.value.message
    assert (
        french._issue_type({"name": "Task"}) is None
        and french._issue_type({"name": "Tâche"})["id"] == "10001"
    )


@pytest.mark.parametrize(
    "configured, chosen",
    [("Tâche", "10001"), ("tâche", "10001"), ("10002", "10002"), ("Bogue", "10002")],
)
async def test_jira_issue_type_names_the_type_by_id_or_by_its_localised_name(french, configured, chosen):
    provider = jira(french, issue_type=configured)
    await provider.check()
    result = await create(provider, ticket())
    assert result.created and french.issues[result.key]["fields"]["issuetype"]["id"] == chosen


async def test_an_english_issue_type_on_a_french_site_is_refused_at_start_with_what_jira_offers(french):
    with pytest.raises(ValueError) as refused:
        await jira(french, issue_type="Task").check()
    said = str(refused.value)
    assert said.startswith("JIRA_ISSUE_TYPE=Task: Jira project IRP has no such issue type")
    assert "Tâche (10001), Bogue (10002), Story (10003), Epic (10000)" in said and "Sous-tâche" not in said


async def test_a_project_that_does_not_exist_is_refused_at_start(french):
    with pytest.raises(ValueError) as refused:
        await jira(french, project="NOPE").check()
    assert str(refused.value).startswith("JIRA_PROJECT=NOPE: Jira has no such project")
    assert "No project could be found with key 'NOPE'." in str(refused.value)


async def test_a_required_field_nobody_set_is_refused_at_start_with_its_options():
    async with JiraFake(issue_types=FRENCH, required=TEAM) as fake:
        with pytest.raises(ValueError) as refused:
            await jira(fake).check()
    assert str(refused.value) == (
        "Jira project IRP, issue type Tâche (10001): JIRA_FIELDS must set customfield_10010 (Équipe), "
        "which the project requires; Jira allows Plateforme, Données"
    )


async def test_a_required_field_set_in_jira_fields_goes_with_every_ticket():
    team = {"customfield_10010": {"value": "Plateforme"}}
    async with JiraFake(issue_types=FRENCH, required=TEAM) as fake:
        provider = jira(fake, fields=team)
        await provider.check()
        result = await create(provider, ticket())
        sent = fake.calls_to("/rest/api/3/issue")[0].params["body"]["fields"]
    assert result.created and sent["customfield_10010"] == {"value": "Plateforme"}


@pytest.mark.parametrize(
    "fields, components, said",
    [
        (
            {"customfield_10010": {"value": "Marketing"}},
            [],
            "JIRA_FIELDS.customfield_10010: 'Marketing' is not",
        ),
        (
            {"customfield_10010": ""},
            [],
            "JIRA_FIELDS must set customfield_10010 (Équipe)",
        ),  # found by Hypothesis
        (
            {"customfield_10010": {"value": "Plateforme"}, "customfield_99": "x"},
            [],
            "JIRA_FIELDS.customfield_99: not on the project's create screen",
        ),
        ({"customfield_10010": {"value": "Plateforme"}}, ["Frontend"], "JIRA_COMPONENTS: Frontend not in"),
    ],
)
async def test_what_the_settings_name_that_the_project_lacks_is_refused_at_start(fields, components, said):
    async with JiraFake(required=TEAM, components=["Backend", "Ops"]) as fake:
        with pytest.raises(ValueError) as refused:
            await jira(fake, fields=fields, components=components).check()
    assert said in str(refused.value)


async def test_components_go_with_every_ticket():
    async with JiraFake(components=["Backend", "Ops"]) as fake:
        provider = jira(fake, components=["Backend"])
        await provider.check()
        result = await create(provider, ticket())
        assert fake.issues[result.key]["fields"]["components"] == [{"name": "Backend"}]


async def test_a_field_the_project_requires_after_the_start_fails_each_ticket_on_its_own():
    """Jira's configuration changed after the worker checked it: every ticket is reported failed
    with Jira's 400 words (not retried forever, not a stopped lane), the others still tried."""
    async with JiraFake(issue_types=FRENCH) as fake:
        provider = jira(fake)
        await provider.check()
        fake.required = dict(TEAM)  # an admin made Équipe required
        results = [await create(provider, ticket(k)) for k in ("postmortem", "runbook", "action-item-1")]
        fake.required = {}
        after = await create(provider, ticket("action-item-2"))
    assert [r.failed for r in results] == [
        "Jira answered POST /rest/api/3/issue with 400: customfield_10010: Équipe is required."
    ] * 3
    assert after.created and after.key == "IRP-1"


async def test_a_site_that_cannot_be_asked_at_start_does_not_stop_the_worker(caplog):
    async with JiraFake() as fake:
        fake.fail_next("/rest/api/3/issue/createmeta/IRP/issuetypes", 503)
        env = {"jira_url": fake.url, "jira_email": DEFAULT_EMAIL, "jira_api_token": DEFAULT_TOKEN}
        settings_ = IntegrationSettings(**env, jira_project="IRP")
        with caplog.at_level(logging.WARNING, logger="activities"):
            assert await check_outside(settings_, load_policy()) == []
        assert "tickets could not be checked at start" in caplog.text
        refused = IntegrationSettings(**env, jira_project="NOPE")
        with pytest.raises(ValueError, match="JIRA_PROJECT=NOPE"):
            await check_outside(refused, load_policy())


def test_jira_settings_read_the_environment(monkeypatch):
    monkeypatch.setenv("JIRA_FIELDS", '{"customfield_10010": {"value": "Plateforme"}}')
    monkeypatch.setenv("JIRA_COMPONENTS", "Backend, Ops")
    monkeypatch.setenv("JIRA_ISSUE_TYPE", "Tâche")
    read = JiraSettings()
    assert read.jira_fields == {"customfield_10010": {"value": "Plateforme"}}
    assert (read.jira_components, read.jira_issue_type) == (["Backend", "Ops"], "Tâche")
    monkeypatch.setenv("JIRA_FIELDS", "customfield_10010=Plateforme")
    with pytest.raises(ValueError, match="JIRA_FIELDS must be a JSON object"):
        JiraSettings()


@pytest.mark.parametrize(
    "types, wanted, strict, chosen",
    [
        (ENGLISH, "Task", False, "10001"),
        (FRENCH, "Task", False, "10001"),  # not named: the first standard type
        (FRENCH, "Task", True, None),  # named by JIRA_ISSUE_TYPE: only that one
        (FRENCH, "10003", True, "10003"),
        (FRENCH[3:], "Task", False, None),  # only an epic and a sub-task: nothing to pick
        ((FRENCH[2], FRENCH[0]), "Task", False, "10003"),  # Jira's order
    ],
)
def test_pick_issue_type(types, wanted, strict, chosen):
    picked = pick_issue_type(list(types), wanted, strict=strict)
    assert (picked or {}).get("id") == chosen


# Any Jira configuration: every ticket is created or reported failed on its own -----------------

NAMES = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12)
TYPES = st.lists(
    st.tuples(NAMES, st.sampled_from([(0, False), (1, False), (-1, True)])),
    min_size=1,
    max_size=5,
    unique_by=lambda t: t[0].casefold(),
).map(
    lambda ts: tuple(
        {"id": str(10001 + n), "name": name, "hierarchyLevel": level, "subtask": sub}
        for n, (name, (level, sub)) in enumerate(ts)
    )
)
REQUIRED = st.dictionaries(
    st.sampled_from(["customfield_10010", "customfield_10020", "customfield_10030"]),
    st.fixed_dictionaries({"name": NAMES, "options": st.lists(NAMES, max_size=3, unique=True)}),
    max_size=2,
)


@st.composite
def configurations(draw):
    """The project (types, required fields, components) and the settings (maybe wrong)."""
    types, required = draw(TYPES), draw(REQUIRED)
    components = draw(st.lists(st.sampled_from(["Backend", "Ops", "Données"]), unique=True, max_size=2))
    fields = {}
    for field_id, meta in required.items():
        choice = draw(st.sampled_from(["right", "wrong", "missing"]))
        if choice == "right":
            fields[field_id] = {"value": meta["options"][0]} if meta["options"] else "value"
        elif choice == "wrong":
            fields[field_id] = {"value": "not-an-option"} if meta["options"] else ""
    issue_type = draw(st.none() | st.sampled_from([t["name"] for t in types] + ["Task", "10001"]))
    asked_components = draw(st.lists(st.sampled_from(["Backend", "Frontend"]), unique=True, max_size=1))
    changed = draw(st.booleans())  # Jira's configuration changes after the worker's check
    return types, required, components, fields, issue_type, asked_components, changed


@given(configurations())
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
def test_any_jira_configuration_creates_or_reports_each_ticket_on_its_own(configuration):
    """Refused at start (ValueError naming a JIRA_ setting), or else every ticket is created; after
    Jira's configuration changes, each is created or failed with Jira's words — never an
    exception (a stopped lane), and a failed one never stops the next."""
    types, required, components, fields, issue_type, asked, changed = configuration

    async def run():
        async with JiraFake(issue_types=types, required=required, components=components) as fake:
            provider = jira(fake, issue_type=issue_type, fields=fields, components=asked)
            try:
                await provider.check()
            except ValueError as e:
                assert str(e).startswith(("JIRA_", "Jira project IRP, issue type")) and "JIRA_" in str(e)
                checked = False
            else:
                checked = True
            if changed:
                fake.required = {"customfield_10099": {"name": "Équipe"}}
            keys = ["postmortem", "runbook-update", "action-item-1"]
            results = [await create(provider, ticket(k)) for k in keys]
            for result in results:
                assert (result.created and result.key) or (result.failed and "Jira" in result.failed)
            if checked and not changed:
                assert all(r.created for r in results), results
            if checked and changed:
                assert all("Équipe is required." in r.failed for r in results)
            assert len(fake.issues) == sum(r.created for r in results)

    asyncio.run(run())


# In an incident: each refused ticket is a typed event and a bridge line; the lane goes on ------


async def test_an_incident_whose_jira_requires_a_field_reports_each_ticket_and_goes_on(
    time_env, run_worker, jira, slack
):
    """A French Jira where an admin made Équipe required after the worker started: §8's tickets
    each fail on their own (`ticket-failed` with Jira's words; the IC told which ticket and why,
    by direct message, since §8 comes after the bridge's archive);
    once Jira takes tickets again, the next one (an action item) is created: the lane never
    stopped."""
    jira.issue_types, jira.required = [dict(t) for t in FRENCH], dict(TEAM)
    async with run_worker(time_env.client) as tq:
        handle = await time_env.client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(incident_id="inc-jira-required", group_key="g"),
            id="inc-jira-required",
            task_queue=tq,
        )
        await handle.execute_update(
            IncidentWorkflow.receive_alerts,
            digest(AlertmanagerDelivery.model_validate(delivery(alert(scope="all")))),
        )
        await status_when(handle, lambda s: s.channel)
        await handle.signal("resolve", {"by": IC, "summary": "rolled back", "force_reason": "test"})
        status = await status_when(
            handle, lambda s: s.phase == "REVIEW" and len(kinds(s, "ticket-failed")) >= 3, timeout=60
        )
        jira.required = {}  # the admin put it back
        await handle.signal("add_action_item", {"title": "Canary deploys", "owner": PRIMARY, "by": IC})
        status = await status_when(handle, lambda s: "action-item-1" in s.tickets, timeout=60)
        await finish(handle)
    failed = kinds(status, "ticket-failed")
    assert sorted(t.split(":")[0] for t in failed) == ["postmortem", "postmortem-meeting", "runbook-update"]
    assert all(t.endswith("400: customfield_10010: Équipe is required.") for t in failed)
    said = [t for t in dms(slack, "U0IC000001") if "could not be created" in t]  # the IC, after the archive
    assert len(said) == 3 and all("Équipe is required." in t for t in said)
    assert any(t.startswith("⚠️ The postmortem ticket (Post-mortem") for t in said)
    (issue,) = jira.issues.values()
    assert issue["fields"]["issuetype"]["name"] == "Tâche" and status.tickets["action-item-1"].endswith(
        issue["key"]
    )


# The decider (plan/decide/outcomes.py ticket_failed), as a table -----------------------------------


@pytest.mark.parametrize(
    "say, archived, effects",
    [
        (True, False, ["Post", "Notify"]),  # the bridge open: there and to the IC
        (True, True, ["Notify"]),  # §8 after the archive: the IC by direct message
        (False, False, []),  # before patch ticket-failed: the timeline only
    ],
)
def test_ticket_failed_decides_an_event_and_who_is_told(say, archived, effects):
    from plan.decide import outcomes
    from plan.decision import decide as decide_
    from tests.test_deciders import opened

    incident = opened()
    bridge = {"channel": "inc-fees", "channel_id": "C0BRIDGE01", "archived": archived}
    incident.state.bridge = incident.state.bridge.model_copy(update=bridge)
    why = "Jira answered POST /rest/api/3/issue with 400: customfield_10010: Équipe is required."
    decision = decide_(
        incident.state, incident.given(), outcomes.ticket_failed, "runbook-update", "Runbook", why, say
    )

    (event,) = decision.events
    assert (event.kind, event.text, event.reason) == ("ticket-failed", f"runbook-update: {why}", why)
    assert [type(e).__name__ for e in decision.effects] == effects
    for effect in decision.effects:
        assert "runbook-update ticket (Runbook)" in effect.text and "Équipe is required." in effect.text
    assert all(e.role == "incident_commander" for e in decision.effects if type(e).__name__ == "Notify")


async def test_a_real_worker_refuses_to_start_for_a_type_a_french_jira_lacks(dev_env, french):
    """`python worker.py` as the container runs it: JIRA_ISSUE_TYPE=Task on a French site stops it
    at start, naming the setting and the types Jira offers."""
    env = {
        "PATH": os.environ["PATH"],
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": f"tq-{uuid.uuid4().hex[:8]}",
        "IRP_LOG_FORMAT": "text",
        "JIRA_URL": french.url,
        "JIRA_EMAIL": DEFAULT_EMAIL,
        "JIRA_API_TOKEN": DEFAULT_TOKEN,
        "JIRA_PROJECT": "IRP",
        "JIRA_ISSUE_TYPE": "Task",
    }
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "worker.py", cwd=ROOT, env=env, stdout=PIPE, stderr=PIPE, start_new_session=True
    )
    try:
        _, err = await asyncio.wait_for(worker.communicate(), timeout=180)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    said = err.decode()
    assert worker.returncode != 0, said
    assert (
        "worker not started: JIRA_ISSUE_TYPE=Task: Jira project IRP has no such issue type; "
        "it offers Tâche (10001), Bogue (10002), Story (10003), Epic (10000)"
    ) in said
    assert DEFAULT_TOKEN not in said


async def test_a_multi_select_and_an_option_with_a_comma_are_held_to_jira_s_options():
    required = {"customfield_10010": {"name": "Équipes", "options": ["Plateforme, infra", "Données"]}}
    async with JiraFake(required=required) as fake:
        await jira(fake, fields={"customfield_10010": {"value": "Plateforme, infra"}}).check()
        with pytest.raises(ValueError, match="'Données, Web' is not an option"):
            await jira(fake, fields={"customfield_10010": [{"value": "Données"}, {"value": "Web"}]}).check()


async def test_a_type_renamed_after_it_was_looked_up_fails_one_ticket_then_is_looked_up_again(french):
    provider = jira(french)
    assert (await create(provider, ticket("postmortem"))).created
    french.issue_types = [{**t, "id": str(int(t["id"]) + 100)} for t in FRENCH]  # the admin remade them
    refused = await create(provider, ticket("runbook"))
    again = await create(provider, ticket("runbook"))
    assert "issuetype: Specify a valid issue type" in refused.failed
    assert again.created and french.issues[again.key]["fields"]["issuetype"]["id"] == "10101"
