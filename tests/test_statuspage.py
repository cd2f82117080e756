"""§5.3 status page: the activity against the Statuspage fake, over real HTTP with httpx.

What matters is what the public sees: one Statuspage incident per incident of ours however
often the activity is retried, each update posted once, and a refusal that names the cause but
never the API key."""

from __future__ import annotations

import ssl

import httpx
import pytest
import pytest_asyncio
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.status_page import StatusPageActivities, StatusPageUpdate
from activities.status_page.statuspage import Statuspage
from sandbox.statuspage import DEFAULT_KEY, DEFAULT_PAGE_ID, StatuspageFake
from tests.helpers import unconfigured

OURS = "inc-3f2a9c1b7d10"
INVESTIGATING = StatusPageUpdate(
    incident_id=OURS,
    status="investigating",
    title="Elevated Error Rates",
    body="We are investigating elevated error rates affecting some users.",
    components={"auth-component-id": "major_outage"},
)
RESOLVED = StatusPageUpdate(
    incident_id=OURS,
    status="resolved",
    title="Resolved - Elevated Error Rates",
    body="The issue affecting login has been resolved. All systems are now operating normally.",
)


@pytest_asyncio.fixture
async def fake():
    async with StatuspageFake() as fake:
        yield fake


def publisher(fake: StatuspageFake, key: str = DEFAULT_KEY, page_id: str = DEFAULT_PAGE_ID):
    return StatusPageActivities(
        Statuspage(fake.url, key, page_id, ssl.create_default_context())
    ).publish_status


async def publish(fake, update: StatusPageUpdate, **kw):
    return await ActivityEnvironment().run(publisher(fake, **kw), update)


async def test_create_then_update_is_one_incident_with_two_updates(fake):
    first = await publish(fake, INVESTIGATING)
    identified = INVESTIGATING.model_copy(
        update={"status": "identified", "body": "Cause found: a bad deploy."}
    )
    second = await publish(fake, identified)

    assert first.created and not second.created
    assert first.statuspage_incident_id == second.statuspage_incident_id
    (incident,) = fake.incidents.values()
    assert incident["status"] == "identified" and incident["impact"] == "critical"
    assert [u["body"] for u in incident["incident_updates"]] == [
        "Cause found: a bad deploy.",
        INVESTIGATING.body,
    ]
    assert incident["metadata"] == {"preskool_irp": {"incident_id": OURS}}
    assert fake.component_status["auth-component-id"] == "major_outage"
    assert fake.calls_to("POST")[0].params["body"]["incident"]["deliver_notifications"] is True


async def test_resolve_sets_the_components_operational_and_a_retry_finds_it_resolved(fake):
    await publish(fake, INVESTIGATING)
    fake.lose_next_response("PATCH")  # resolved on Statuspage, but we never heard
    with pytest.raises(ApplicationError) as lost:
        await publish(fake, RESOLVED)
    assert not lost.value.non_retryable
    retried = await publish(fake, RESOLVED)

    incident = fake.incident_for(OURS)
    assert retried.statuspage_incident_id == incident["id"] and len(fake.incidents) == 1
    assert (incident["status"], incident["name"]) == ("resolved", RESOLVED.title) and incident["resolved_at"]
    assert len(incident["incident_updates"]) == 2  # the retry did not post the update again
    assert fake.component_status["auth-component-id"] == "operational"
    assert incident["incident_updates"][0]["affected_components"][0]["new_status"] == "operational"


async def test_a_retry_after_a_lost_create_finds_the_first_incident(fake):
    fake.lose_next_response("POST")
    with pytest.raises(ApplicationError) as lost:
        await publish(fake, INVESTIGATING)
    assert not lost.value.non_retryable and "500" in lost.value.message
    retried = await publish(fake, INVESTIGATING)

    assert len(fake.incidents) == 1 and len(fake.calls_to("POST")) == 1
    assert retried.created and retried.statuspage_incident_id == fake.incident_for(OURS)["id"]
    assert len(fake.incident_for(OURS)["incident_updates"]) == 1


@pytest.mark.parametrize(
    "key, page_id, status",
    [
        ("sp-wrong-key-0123456789", DEFAULT_PAGE_ID, "401"),
        (DEFAULT_KEY, "nosuchpage", "404"),
    ],
)
async def test_refusals_are_final_and_never_show_the_key(fake, key, page_id, status):
    with pytest.raises(ApplicationError) as info:
        await publish(fake, INVESTIGATING, key=key, page_id=page_id)
    assert info.value.non_retryable and status in info.value.message
    assert key not in info.value.message and fake.incidents == {}


async def test_an_invalid_component_never_blocks_the_update(fake):
    """A component id the page does not have (a stale one in the policy) is left out: customers
    still hear, and the note carries Statuspage's reason."""
    bad = INVESTIGATING.model_copy(update={"components": {"library-component-id": "major_outage"}})
    result = await publish(fake, bad)
    [incident] = fake.incidents.values()
    assert result.created and incident["status"] == "investigating" and not incident["components"]
    assert "posted without its component" in result.note and "422" in result.note
    assert "library-component-id" in result.note


@pytest.mark.parametrize("status", [420, 429, 502, 503])
async def test_rate_limits_and_server_errors_are_retried(fake, status):
    fake.fail_next("POST", status)
    with pytest.raises(ApplicationError) as info:
        await publish(fake, INVESTIGATING)
    assert not info.value.non_retryable and str(status) in info.value.message and fake.incidents == {}


async def test_unreachable_is_retried(fake):
    await fake.stop()
    with pytest.raises(ApplicationError) as info:
        await publish(fake, INVESTIGATING)
    assert not info.value.non_retryable and "unreachable" in info.value.message


async def test_not_configured_is_skipped():
    result = await ActivityEnvironment().run(unconfigured("publish_status"), INVESTIGATING)
    assert result.skipped == "skipped: statuspage not configured" and result.statuspage_incident_id is None


async def test_the_fake_speaks_the_wire_format(fake):
    """Search covers names and update bodies, not metadata (as documented); pages are newest first."""
    headers = {"Authorization": f"OAuth {DEFAULT_KEY}"}
    async with httpx.AsyncClient(base_url=f"{fake.url}/v1/pages/{DEFAULT_PAGE_ID}", headers=headers) as http:
        for n in range(3):
            created = await http.post(
                "/incidents",
                json={
                    "incident": {
                        "name": f"Outage {n}",
                        "body": f"update {n}",
                        "metadata": {"irp": {"n": str(n)}},
                    }
                },
            )
            assert created.status_code == 200 and created.json()["status"] == "investigating"
        await http.patch(f"/incidents/{created.json()['id']}", json={"incident": {"status": "resolved"}})

        async def names(path: str, **params) -> list[str]:
            return [i["name"] for i in (await http.get(path, params=params)).json()]

        assert await names("/incidents", limit=2) == ["Outage 2", "Outage 1"]
        assert await names("/incidents", limit=2, page=2) == ["Outage 0"]
        assert await names("/incidents", q="update 1") == ["Outage 1"]
        assert await names("/incidents", q="irp") == []
        assert await names("/incidents/unresolved") == ["Outage 1", "Outage 0"]
        refused = [
            await http.post("/incidents", json={"name": "no wrapper"}),
            await http.post("/incidents", json={"incident": {"name": "x", "status": "on_fire"}}),
            await http.get("/incidents", headers={"Authorization": "Bearer " + DEFAULT_KEY}),
        ]
    assert [(r.status_code, "error" in r.json()) for r in refused] == [(422, True), (422, True), (401, True)]
    assert len(fake.incidents) == 3
