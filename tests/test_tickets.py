"""§4.6 and §8: the review's Jira tickets, the activity against the Jira fake over real HTTP with httpx.

What matters is what the team finds in Jira: one ticket per (incident, key) however often the
activity is retried, a description Jira accepts (Atlassian Document Format), an assignee only
when Jira knows the person, and a refusal that names the cause but never the API token."""

from __future__ import annotations

import dataclasses
import ssl
from datetime import date

import httpx
import pytest
import pytest_asyncio
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.tickets import TicketActivities, TicketRequest
from activities.tickets.jira import LABEL, Jira, ticket_label
from activities.tickets.jira_adf import MAX_DESCRIPTION, adf_size, to_adf
from sandbox.jira import DEFAULT_EMAIL, DEFAULT_PROJECT, DEFAULT_TOKEN, NOT_ADF, JiraFake, adf_problem
from tests.helpers import unconfigured

OURS = "inc-3f2a9c1b7d10"
POSTMORTEM = TicketRequest(
    incident_id=OURS,
    key="postmortem",
    summary="Post-mortem: login failures for every school",
    description="# Post-mortem\n\n**Impact**: all schools could not log in.\n\n"
    "## Action items\n- Add an alert on login errors\n- Canary the auth deploys\n\n"
    "```sh\nbash scripts/rollback.sh backend\n```",
    due=date(2026, 3, 5),
    assignee_email="asha.rao@preskool.com",
)


@pytest_asyncio.fixture
async def fake():
    async with JiraFake() as fake:
        yield fake


def jira(
    fake: JiraFake, token: str = DEFAULT_TOKEN, project: str = DEFAULT_PROJECT, recheck_after: float = 0.0
) -> Jira:
    return Jira(
        fake.url, DEFAULT_EMAIL, token, project, ssl.create_default_context(), recheck_after=recheck_after
    )


async def create(
    fake, request: TicketRequest = POSTMORTEM, *, attempt: int = 1, recheck_after: float = 0.0, **kw
):
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt)
    tickets = TicketActivities(jira(fake, recheck_after=recheck_after, **kw))
    return await env.run(tickets.create_ticket, request)


def raw(fake: JiraFake) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=fake.url, auth=(DEFAULT_EMAIL, DEFAULT_TOKEN))


async def test_creates_a_ticket_with_description_due_date_and_assignee(fake):
    result = await create(fake, POSTMORTEM)

    (issue,) = fake.issues.values()
    fields = issue["fields"]
    assert (result.key, result.url, result.created, result.note) == (
        "IRP-1",
        f"{fake.url}/browse/IRP-1",
        True,
        None,
    )
    assert fields["summary"] == POSTMORTEM.summary and fields["issuetype"]["name"] == "Task"
    assert fields["duedate"] == "2026-03-05"
    assert fields["assignee"]["accountId"] == "712020:0a5e1c0001"
    assert fields["labels"] == [LABEL, OURS, "irp-inc-3f2a9c1b7d10-postmortem"]
    assert [n["type"] for n in fields["description"]["content"]] == [
        "heading",
        "paragraph",
        "heading",
        "bulletList",
        "codeBlock",
    ]
    assert fields["description"] == to_adf(POSTMORTEM.description)
    (sent,) = fake.calls_to("/rest/api/3/issue")
    assert sent.status == 201 and sent.response == {"id": issue["id"], "key": "IRP-1", "self": issue["self"]}


async def test_the_same_request_twice_is_one_ticket(fake):
    first = await create(fake, POSTMORTEM)
    second = await create(fake, POSTMORTEM)
    meeting = await create(fake, POSTMORTEM.model_copy(update={"key": "postmortem-meeting"}))

    assert first.created and not second.created and meeting.created
    assert (second.key, second.url) == (first.key, first.url) and meeting.key == "IRP-2"
    assert len(fake.issues) == 2 and len(fake.calls_to("/rest/api/3/issue")) == 2
    assert fake.issue_with_label("irp-inc-3f2a9c1b7d10-postmortem-meeting")["key"] == "IRP-2"


async def test_a_retry_after_jira_created_it_but_the_answer_was_lost_creates_nothing_more():
    """Jira's search lags creation: the retry looks twice, as a worker's second attempt does."""
    async with JiraFake(index_delay=0.3) as fake:
        fake.lose_next_response("/rest/api/3/issue")
        with pytest.raises(ApplicationError) as lost:
            await create(fake, POSTMORTEM)
        assert not lost.value.non_retryable and "500" in lost.value.message
        retried = await create(fake, POSTMORTEM, attempt=2, recheck_after=0.5)

        assert len(fake.issues) == 1 and len(fake.calls_to("/rest/api/3/issue")) == 1
        assert retried.key == "IRP-1" and not retried.created
        searches = fake.calls_to("/rest/api/3/search/jql")
        found = [len(c.response["issues"]) for c in searches]
        # The first attempt's search finds nothing; the retry finds the issue, at once or at its
        # recheck (which one depends on how fast this machine is against the index's lag).
        assert found[0] == 0 and found[-1] == 1 and found in ([0, 0, 1], [0, 1]), found


async def test_a_bad_token_is_refused_for_good_and_never_shown(fake):
    """Refused for good: the ticket is reported failed (not retried), the token never shown."""
    token = "ATATT3xFfGF0-wrong-token-0123456789"
    result = await create(fake, POSTMORTEM, token=token)
    assert "401" in result.failed and not result.created and result.key is None
    assert token not in result.failed and fake.issues == {}


async def test_an_unknown_project_is_refused_with_jira_s_reason(fake):
    result = await create(fake, POSTMORTEM, project="NOPE")
    assert "400" in result.failed and "'NOPE' does not exist" in result.failed and fake.issues == {}


@pytest.mark.parametrize(
    "path, status", [("/rest/api/3/issue", 503), ("/rest/api/3/issue", 429), ("/rest/api/3/search/jql", 502)]
)
async def test_rate_limits_and_server_errors_are_retried(fake, path, status):
    fake.fail_next(path, status)
    with pytest.raises(ApplicationError) as info:
        await create(fake, POSTMORTEM)
    assert not info.value.non_retryable and str(status) in info.value.message and fake.issues == {}


async def test_unreachable_is_retried(fake):
    await fake.stop()
    with pytest.raises(ApplicationError) as info:
        await create(fake, POSTMORTEM)
    assert not info.value.non_retryable and "unreachable" in info.value.message


async def test_an_unknown_assignee_is_left_unassigned_with_a_note(fake):
    result = await create(fake, POSTMORTEM.model_copy(update={"assignee_email": "someone@elsewhere.com"}))

    assert result.created and fake.issues["IRP-1"]["fields"]["assignee"] is None
    assert result.note == "assignee someone@elsewhere.com not found in Jira; left unassigned"


async def test_what_jira_refuses_of_the_optional_fields_is_dropped_with_a_note():
    """A person Jira knows but will not assign, and a project whose create screen has no due date."""
    users = {"chen.li@preskool.com": {"accountId": "712020:c", "displayName": "Chen Li", "assignable": False}}
    async with JiraFake(
        users=users, create_screen={"project", "summary", "issuetype", "description", "labels", "assignee"}
    ) as fake:
        result = await create(fake, POSTMORTEM.model_copy(update={"assignee_email": "chen.li@preskool.com"}))

        (issue,) = fake.issues.values()
        assert result.created and issue["fields"]["assignee"] is None and issue["fields"]["duedate"] is None
        assert "cannot be assigned" in result.note and "due date 2026-03-05 refused" in result.note
        assert [c.status for c in fake.calls_to("/rest/api/3/issue")] == [400, 201]


@pytest.mark.parametrize(
    "users, expected",
    [
        (
            {
                "asha.rao@preskool.com": {"accountId": "a", "displayName": "Asha Rao"},
                "asha.rao@preskool.community": {"accountId": "b", "displayName": "Asha R"},
            },
            "a",
        ),
        (
            {"asha.rao@preskool.community": {"accountId": "b", "displayName": "Asha R"}},
            None,
        ),  # visible, not hers
        ({"asha.rao@preskool.com": {"accountId": "h", "displayName": "Asha Rao", "emailHidden": True}}, "h"),
        ({"asha.rao@preskool.com": {"accountId": "x", "displayName": "Asha Rao", "active": False}}, None),
    ],
)
async def test_a_person_is_found_by_email_even_when_jira_hides_it(users, expected):
    async with JiraFake(users=users) as fake:
        assert await jira(fake).account_id("asha.rao@preskool.com") == expected


async def test_not_configured_is_skipped():
    result = await ActivityEnvironment().run(unconfigured("create_ticket"), POSTMORTEM)
    assert result.skipped == "skipped: jira not configured" and result.key is None and not result.created


async def test_what_jira_would_refuse_is_made_to_fit(fake):
    long = TicketRequest(
        incident_id="INC 3f2a/9c1b",
        key="action-item-3",
        summary="Fix\nthe\tlogin  " + "x" * 300,
        description="\n\n".join(f"- step {n}: restart the auth pods" for n in range(3000)),
    )
    result = await create(fake, long)

    fields = fake.issues[result.key]["fields"]
    assert len(fields["summary"]) == 255 and fields["summary"].startswith("Fix the login x")
    assert "irp-inc-3f2a-9c1b-action-item-3" in fields["labels"] and "inc-3f2a-9c1b" in fields["labels"]
    assert adf_size(fields["description"]) <= MAX_DESCRIPTION
    assert fields["description"]["content"][-1]["content"][0]["text"].startswith("(Truncated")
    assert result.note == "description truncated to fit Jira's size limit"


async def test_a_key_that_could_collide_is_refused(fake):
    with pytest.raises(ApplicationError) as info:
        await create(fake, POSTMORTEM.model_copy(update={"key": "2-postmortem"}))
    assert info.value.non_retryable and fake.calls == []


def test_labels_are_bounded_and_unique():
    long = ticket_label("inc-" + "a" * 300, "postmortem")
    assert len(long) == 255 and " " not in long
    assert long != ticket_label("inc-" + "a" * 300, "runbook-update")


# the fake is held to what Jira checks -----------------------------------------------------------


def _issue(**fields) -> dict:
    return {"fields": {"project": {"key": "IRP"}, "summary": "s", "issuetype": {"name": "Task"}, **fields}}


def _p(*inline) -> dict:
    return {"type": "paragraph", "content": list(inline)}


_TEXT = {"type": "text", "text": "hi"}


@pytest.mark.parametrize(
    "description",
    [
        "plain text, as API v2 took it",
        {"type": "doc", "version": 2, "content": [_p(_TEXT)]},
        {"type": "doc", "version": 1},
        {"type": "doc", "version": 1, "content": [_p({"type": "text", "text": ""})]},
        {"type": "doc", "version": 1, "content": [_TEXT]},
        {"type": "doc", "version": 1, "content": [{"type": "table", "content": []}]},
        {
            "type": "doc",
            "version": 1,
            "content": [{"type": "codeBlock", "content": [{**_TEXT, "marks": [{"type": "strong"}]}]}],
        },
        {
            "type": "doc",
            "version": 1,
            "content": [{"type": "heading", "attrs": {"level": 7}, "content": [_TEXT]}],
        },
        {
            "type": "doc",
            "version": 1,
            "content": [
                {
                    "type": "bulletList",
                    "content": [{"type": "listItem", "content": [{"type": "bulletList", "content": []}]}],
                }
            ],
        },
        {
            "type": "doc",
            "version": 1,
            "content": [_p({**_TEXT, "marks": [{"type": "code"}, {"type": "strong"}]})],
        },
        {"type": "doc", "version": 1, "content": [_p({**_TEXT, "marks": [{"type": "link", "attrs": {}}]})]},
    ],
)
async def test_the_fake_refuses_a_description_that_is_not_adf(fake, description):
    async with raw(fake) as http:
        refused = await http.post("/rest/api/3/issue", json=_issue(description=description))
        accepted = await http.post("/rest/api/3/issue", json=_issue(description=to_adf("# ok\n\n- fine")))
    assert refused.status_code == 400 and refused.json() == {
        "errorMessages": [],
        "errors": {"description": NOT_ADF},
    }
    assert accepted.status_code == 201 and list(fake.issues) == ["IRP-1"]


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"summary": "two\nlines"}, "summary"),
        ({"summary": "x" * 256}, "summary"),
        ({"summary": " "}, "summary"),
        ({"labels": ["has space"]}, "labels"),
        ({"duedate": "05/03/2026"}, "duedate"),
        ({"duedate": "2026-02-30"}, "duedate"),
        ({"issuetype": {"name": "Incident"}}, "issuetype"),
        ({"project": {"key": "OPS"}}, "project"),
        ({"assignee": {"accountId": "nobody"}}, "assignee"),
        ({"environment": "prod"}, "environment"),
    ],
)
async def test_the_fake_refuses_fields_as_jira_does(fake, fields, field):
    async with raw(fake) as http:
        response = await http.post("/rest/api/3/issue", json=_issue(**fields))
    assert response.status_code == 400 and list(response.json()["errors"]) == [field] and fake.issues == {}


async def test_the_fake_searches_only_the_jql_it_understands(fake):
    async with raw(fake) as http:
        for n in range(3):
            await http.post("/rest/api/3/issue", json=_issue(labels=["irp", f"n{n}"]))

        async def search(jql: str, **body) -> httpx.Response:
            return await http.post("/rest/api/3/search/jql", json={"jql": jql, "fields": ["labels"], **body})

        page1 = (await search('project = "IRP" AND labels = "irp"', maxResults=2)).json()
        page2 = (
            await search(
                'project = "IRP" AND labels = "irp"', maxResults=2, nextPageToken=page1["nextPageToken"]
            )
        ).json()
        one = (await search("labels = n1 and project = IRP")).json()
        refused = [
            await search("project = IRP ORDER BY created DESC"),
            await search('labels in ("irp")'),
            await search('project = "OPS"'),
        ]
        unauthenticated = await http.post(
            "/rest/api/3/search/jql", json={"jql": "project = IRP"}, auth=("x", "y")
        )
    assert [i["key"] for i in page1["issues"]] == ["IRP-3", "IRP-2"] and page1["isLast"] is False
    assert (
        [i["key"] for i in page2["issues"]] == ["IRP-1"] and page2["isLast"] and "nextPageToken" not in page2
    )
    assert [i["key"] for i in one["issues"]] == ["IRP-2"] and one["issues"][0]["fields"] == {
        "labels": ["irp", "n1"]
    }
    assert [(r.status_code, bool(r.json()["errorMessages"])) for r in refused] == [(400, True)] * 3
    assert unauthenticated.status_code == 401


# light markdown to ADF ---------------------------------------------------------------------------


def t(text: str, *marks: dict) -> dict:
    return {"type": "text", "text": text, **({"marks": list(marks)} if marks else {})}


def p(*inline: dict) -> dict:
    return {"type": "paragraph", "content": list(inline)}


def h(level: int, text: str) -> dict:
    return {"type": "heading", "attrs": {"level": level}, "content": [t(text)]}


def items(*texts: str) -> list[dict]:
    return [{"type": "listItem", "content": [p(t(x))]} for x in texts]


BR, CODE, STRONG = {"type": "hardBreak"}, {"type": "code"}, {"type": "strong"}


def link(href: str) -> dict:
    return {"type": "link", "attrs": {"href": href}}


@pytest.mark.parametrize(
    "markdown, content",
    [
        ("", []),
        ("\n \n", []),
        ("Hello", [p(t("Hello"))]),
        ("one\ntwo", [p(t("one"), BR, t("two"))]),
        ("one\n\n\ntwo", [p(t("one")), p(t("two"))]),
        ("# Title\n## Sub\n### Third", [h(1, "Title"), h(2, "Sub"), h(3, "Third")]),
        ("#not a heading", [p(t("#not a heading"))]),
        ("- one\n- two", [{"type": "bulletList", "content": items("one", "two")}]),
        (
            "- one\n  more",
            [
                {
                    "type": "bulletList",
                    "content": [{"type": "listItem", "content": [p(t("one"), BR, t("more"))]}],
                }
            ],
        ),
        ("1. a\n2. b", [{"type": "orderedList", "content": items("a", "b")}]),
        ("3. c", [{"type": "orderedList", "attrs": {"order": 3}, "content": items("c")}]),
        (
            "- a\n1. b",
            [{"type": "bulletList", "content": items("a")}, {"type": "orderedList", "content": items("b")}],
        ),
        ("intro\n- a\nafter", [p(t("intro")), {"type": "bulletList", "content": items("a")}, p(t("after"))]),
        (
            "```sql\nSELECT 1;\n\n  SELECT 2;\n```\nafter",
            [
                {
                    "type": "codeBlock",
                    "attrs": {"language": "sql"},
                    "content": [t("SELECT 1;\n\n  SELECT 2;")],
                },
                p(t("after")),
            ],
        ),
        ("```\n```", [{"type": "codeBlock", "content": []}]),
        ("```\nunclosed", [{"type": "codeBlock", "content": [t("unclosed")]}]),
        (
            "| a | b |\n|---|---|\n| 1 | 2 |\nafter",
            [{"type": "codeBlock", "content": [t("| a | b |\n|---|---|\n| 1 | 2 |")]}, p(t("after"))],
        ),
        ("---", [{"type": "rule"}]),
        ("Run `kubectl get pods` now", [p(t("Run "), t("kubectl get pods", CODE), t(" now"))]),
        ("**Impact**: all", [p(t("Impact", STRONG), t(": all"))]),
        (
            "See [runbook](https://x.io/r) and https://grafana.preskool.com/d/slo.",
            [
                p(
                    t("See "),
                    t("runbook", link("https://x.io/r")),
                    t(" and "),
                    t("https://grafana.preskool.com/d/slo", link("https://grafana.preskool.com/d/slo")),
                    t("."),
                )
            ],
        ),
        ("a\x00b\r\nc", [p(t("ab"), BR, t("c"))]),
    ],
)
def test_to_adf(markdown, content):
    doc = to_adf(markdown)
    assert doc == {"type": "doc", "version": 1, "content": content}
    assert adf_problem(doc) is None  # and the fake, which checks independently, takes it


# --- §4.6: the post-mortem ticket's timeline picture, attached as Jira Cloud REST v3 takes files -----


def _picture():
    from datetime import UTC, datetime, timedelta

    from plan.models import Phase, Severity
    from plan.picture import Mark, Span, TimelinePicture

    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    return TimelinePicture(
        incident_id=OURS, severity=Severity.P0, phase=Phase.REVIEW, private=False, started_at=t0,
        ends_at=t0 + timedelta(minutes=40),
        spans=[Span(phase=Phase.DETECTION, start=t0, end=t0 + timedelta(minutes=3)),
               Span(phase=Phase.FIX, start=t0 + timedelta(minutes=3), end=t0 + timedelta(minutes=40))],
        marks=[Mark(at=t0 + timedelta(minutes=2), kind="acknowledged", label="acknowledged by ben")],
    )  # fmt: skip


async def test_the_postmortem_ticket_gets_its_timeline_picture_once_across_retries(fake):
    request = POSTMORTEM.model_copy(update={"picture": _picture()})
    fake.lose_next_response("/rest/api/3/issue/IRP-1/attachments")  # attached, but the answer is lost
    with pytest.raises(ApplicationError) as lost:
        await create(fake, request)
    assert not lost.value.non_retryable
    retried = await create(fake, request, attempt=2)  # finds the ticket, and the picture on it
    (issue,) = fake.issues.values()
    (attachment,) = issue["fields"]["attachment"]
    assert retried.attached == ["incident-timeline.png"] and not retried.created
    assert attachment["filename"] == "incident-timeline.png" and attachment["mimeType"] == "image/png"
    assert fake.contents[attachment["id"]].startswith(b"\x89PNG\r\n\x1a\n")
    assert attachment["size"] == len(fake.contents[attachment["id"]]) > 2000
    (sent,) = fake.calls_to("/rest/api/3/issue/IRP-1/attachments")
    assert [p["name"] for p in sent.params["parts"]] == ["file"] and sent.status == 500
    assert (await create(fake, request)).attached == ["incident-timeline.png"]  # once more: still one
    assert len(issue["fields"]["attachment"]) == 1
    assert len(fake.calls_to("/rest/api/3/issue")) == 1  # the ticket itself made once


@pytest.mark.parametrize("status, retried", [(403, False), (413, False), (429, True), (503, True)])
async def test_a_picture_jira_refuses_for_good_leaves_the_ticket_with_a_note(fake, status, retried):
    """An enrichment never costs the ticket: refused for good, the ticket is answered with a note;
    what may pass is retried (the retry finds the ticket and attaches then)."""
    request = POSTMORTEM.model_copy(update={"picture": _picture()})
    fake.fail_next("/rest/api/3/issue/IRP-1/attachments", status)
    if retried:
        with pytest.raises(ApplicationError) as again:
            await create(fake, request)
        assert not again.value.non_retryable
        result = await create(fake, request, attempt=2)
        assert result.attached == ["incident-timeline.png"] and result.note is None
    else:
        result = await create(fake, request)
        assert result.key == "IRP-1" and result.created and result.attached == []
        said = f"Jira answered POST /rest/api/3/issue/IRP-1/attachments with {status}"
        assert result.note.startswith(f"timeline picture not attached ({said}")
    assert len(fake.issues) == 1


async def test_a_ticket_without_a_picture_attaches_nothing(fake):
    result = await create(fake, POSTMORTEM)
    assert result.attached == [] and not fake.calls_to("/rest/api/3/issue/IRP-1/attachments")


async def test_the_fake_takes_attachments_only_as_jira_does(fake):
    await create(fake, POSTMORTEM)
    path = "/rest/api/3/issue/IRP-1/attachments"
    png = {"file": ("a.png", b"\x89PNG data", "image/png")}
    async with raw(fake) as client:
        no_header = await client.post(path, files=png)
        no_file = await client.post(
            path, files={"other": ("a.png", b"x")}, headers={"X-Atlassian-Token": "no-check"}
        )
        no_issue = await client.post(
            "/rest/api/3/issue/IRP-9/attachments", files=png, headers={"X-Atlassian-Token": "no-check"}
        )
        ok = await client.post(path, files=png, headers={"X-Atlassian-Token": "no-check"})
        shown = await client.get("/rest/api/3/issue/IRP-1")
    assert (no_header.status_code, no_header.json()["errorMessages"]) == (403, ["XSRF check failed"])
    assert (no_file.status_code, no_issue.status_code, ok.status_code) == (400, 404, 200)
    (made,) = ok.json()
    assert {"self", "id", "filename", "author", "created", "size", "mimeType", "content"} <= made.keys()
    assert shown.json()["fields"]["attachment"] == [made] and made["size"] == len(b"\x89PNG data")
