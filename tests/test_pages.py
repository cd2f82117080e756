"""The read-only incident pages (webhook/pages/), fast: who may read them (the bearer token or a
proxy's user header, else 401, before Temporal is asked anything), that they only read, and that
every string people typed is escaped and a private incident shows id, severity and phase only.
The pages on a real incident, in a real browser: tests/test_web_ui.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from html.parser import HTMLParser

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from plan.compliance import card
from plan.deliverables import open_ledger
from plan.events import EventKind as K
from plan.incident import IncidentStatus, RoleAssignment, TimelineEntry
from plan.models import Phase, Raci, Role, Severity
from plan.policy import load_policy
from tests.fuzz import budget
from tests.helpers import TOKEN
from webhook.app import create_app
from webhook.pages import HEADERS, NAV_CSS, PagesConfig, html, quarter, show, views

POLICY = load_policy()
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = START + timedelta(hours=30)
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'
IC = POLICY.roster[Role.incident_commander].email
CONFIG = PagesConfig(
    token=TOKEN.encode(), user_header=None, temporal_ui="http://temporal-ui:8233", slack_team="T0PRESKOOL"
)


class Untouched:
    """A connect() that fails the test if called: a refused reader never reaches Temporal."""

    calls = 0

    async def __call__(self):
        Untouched.calls += 1
        raise AssertionError("Temporal was asked for a page that should have been refused")


def app(user_header: str | None = None):
    return create_app(
        token=SecretStr(TOKEN), task_queue="unused", connect=Untouched(), ui_user_header=user_header
    )


@pytest.mark.parametrize(
    "user_header, headers, why",
    [
        (None, {}, "missing bearer token"),
        (None, {"Authorization": "Bearer wrong"}, "wrong bearer token"),
        (None, {"Authorization": f"Basic {TOKEN}"}, "wrong bearer token"),
        (None, {"X-Forwarded-Email": "asha.rao@preskool.com"}, "missing bearer token"),  # header off
        ("X-Forwarded-Email", {}, "no bearer token and no X-Forwarded-Email"),
        ("X-Forwarded-Email", {"X-Forwarded-Email": "   "}, "no bearer token and no X-Forwarded-Email"),
        ("X-Forwarded-Email", {"X-Forwarded-User": "asha"}, "no bearer token and no X-Forwarded-Email"),
        # a wrong token is never rescued by the header
        ("X-Forwarded-Email", {"Authorization": "Bearer no", "X-Forwarded-Email": "a@b.c"}, "wrong bearer"),
    ],
)
@pytest.mark.parametrize("path", ["/ui/", "/ui/incidents/inc-1", "/ui/report"])
async def test_neither_token_nor_proxy_user_is_401_before_temporal(user_header, headers, why, path):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app(user_header)), base_url="http://r"
    ) as h:
        answer = await h.get(path, headers=headers)
    assert answer.status_code == 401 and why in answer.text
    assert answer.headers["www-authenticate"] == "Bearer"
    assert Untouched.calls == 0


@pytest.mark.parametrize(
    "user_header, headers, who",
    [
        (None, {"Authorization": f"Bearer {TOKEN}"}, "bearer token"),
        ("X-Forwarded-Email", {"Authorization": f"Bearer {TOKEN}"}, "bearer token"),
        ("X-Forwarded-Email", {"X-Forwarded-Email": "asha.rao@preskool.com"}, "asha.rao@preskool.com"),
        ("x-forwarded-email", {"X-FORWARDED-EMAIL": " dana@preskool.com "}, "dana@preskool.com"),
    ],
)
def test_the_token_or_the_proxys_user_reads(user_header, headers, who):
    request = httpx.Request("GET", "http://r/ui/", headers=headers)
    scope = {"type": "http", "headers": [(k.encode(), v.encode()) for k, v in request.headers.items()]}
    from starlette.requests import Request

    from webhook.pages import viewer

    config = PagesConfig(TOKEN.encode(), user_header, None, None)
    assert viewer(Request(scope), config) == who


def test_only_get_routes_and_none_in_the_openapi_document():
    receiver = app()
    pages = [r for r in receiver.routes if getattr(r, "path", "").startswith("/ui")]
    assert {r.path for r in pages} == {"/ui/", "/ui/incidents/{incident_id}", "/ui/report"}
    assert all(r.methods == {"GET"} for r in pages)
    assert not [p for p in receiver.openapi()["paths"] if p.startswith("/ui")]


def typed(text: str) -> IncidentStatus:
    """An incident in REVIEW where every field a person types holds `text`."""
    resolved = START + timedelta(hours=2)
    ledger = open_ledger(POLICY, Severity.P1, resolved)
    ledger[0] = ledger[0].model_copy(
        update={"state": "done", "link": f"javascript:alert(1)//{text}", "closed_by": IC, "closed_at": NOW}
    )
    ledger[1] = ledger[1].model_copy(update={"state": "done", "link": "https://wiki/x?a=1&b=<2>"})
    return IncidentStatus(
        incident_id="inc-typed",
        severity=Severity.P1,
        severity_reasons=[text],
        phase=Phase.REVIEW,
        phases={Phase.DETECTION: START, Phase.REVIEW: resolved},
        summary=text,
        impact=text,
        started_at=START,
        acknowledged_by=IC,
        acknowledged_at=START + timedelta(minutes=1),
        roles=[
            RoleAssignment(role=Role.incident_commander, letter=Raci.A, engaged="paged", person=IC, name=text)
        ],
        channel="preskool-incident-2026-03-02",
        channel_id="C0&1",
        paged=[],
        deliveries=1,
        resolution={"by": IC, "summary": text, "at": resolved},
        deliverables=ledger,
        timeline=[
            TimelineEntry(kind=K.detected, text=text, at=START),
            TimelineEntry(kind=K.update, text=text, by=IC, at=START + timedelta(minutes=20)),
        ],
    )


def shown(status: IncidentStatus, config: PagesConfig = CONFIG):
    """The page's model, with the card the incident's `compliance` query answers (the same
    function, under the policy)."""
    return show(status, card(status, POLICY, NOW), config, "default")


class Tags(HTMLParser):
    """Every tag and attribute the browser would build."""

    def __init__(self):
        super().__init__()
        self.tags, self.attrs, self.shape = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs
        self.shape.append((tag, tuple(name for name, _ in attrs)))


def parsed(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    return tags


def test_everything_people_typed_is_escaped_and_no_unsafe_link():
    page = html("incident.html", "bearer token", shown=shown(typed(EVIL)))
    tags = parsed(page)
    assert "script" not in tags.tags and "img" not in tags.tags and "form" not in tags.tags
    assert not [a for a in tags.attrs if a[0].startswith("on")]
    hrefs = [v for k, v in tags.attrs if k == "href"]
    assert not [h for h in hrefs if not re.match(r"^(https?://|/ui/)", h)], hrefs
    assert "https://wiki/x?a=1&b=<2>" in hrefs  # a typed http(s) link is a link
    assert "https://slack.com/app_redirect?channel=C0%261&team=T0PRESKOOL" in hrefs
    assert "http://temporal-ui:8233/namespaces/default/workflows/inc-typed" in hrefs
    assert page.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") >= 6  # summary, impact, …


@budget(60)
@given(st.one_of(st.text(min_size=1, max_size=60), st.text("<>\"'&=/ ascript:on", min_size=1, max_size=40)))
def test_no_typed_text_becomes_markup(text):
    """Whatever people type, the page holds no tag or attribute they did not come with."""
    page = html("incident.html", "bearer token", shown=shown(typed(text)))
    clean = html("incident.html", "bearer token", shown=shown(typed("plain")))
    assert parsed(page).shape == parsed(clean).shape  # each tag with its attributes' names


def test_a_private_incident_shows_id_severity_and_phase_only():
    status = typed("Fee records of school-42 exposed").model_copy(update={"private": True})
    page = html("incident.html", "bearer token", shown=shown(status))
    assert "school-42" not in page and IC not in page and "preskool-incident" not in page
    assert "inc-typed" in page and "P1" in page and "REVIEW" in page and "private incident" in page
    assert "Acknowledge within" in page  # the plan's promises, kept or not, are the plan's words

    rows = [
        views.row(status, "review", NOW),
        views.unanswered_row("inc-u", {"Severity": "P0"}, "private incident"),
    ]
    listing = html("incidents.html", "bearer token", rows=rows, problem=None)
    assert "school-42" not in listing and IC not in listing
    assert "inc-typed" in listing and "inc-u" in listing


def test_the_compliance_card_is_the_contracts():
    model = shown(typed("x"))
    page = html("incident.html", "bearer token", shown=model)
    assert model.card is not None and {p.state for p in model.card.promises} >= {"kept", "open"}
    marks = {"kept": "✓", "missed": "✗", "open": "…"}
    for promise in model.card.promises:
        assert f'data-key="{promise.key}"' in page
        row = page.split(f'data-key="{promise.key}"', 1)[1].split("</tr>", 1)[0]
        assert f'<span class="mark">{marks[promise.state]}</span> {promise.state}' in row
    assert model.card_text in unescape(page) and "📋 Compliance" in model.card_text  # as the bridge says it


def test_an_incident_without_a_pinned_policy_says_it_has_no_card_yet():
    page = html("incident.html", "bearer token", shown=show(typed("x"), None, CONFIG, "default"))
    assert "no compliance card yet (the incident has not pinned its policy)" in page


@pytest.mark.parametrize(
    "url, link",
    [
        ("https://wiki.preskool.com/pm/1", "https://wiki.preskool.com/pm/1"),
        ("http://jira/PM-1", "http://jira/PM-1"),
        ("javascript:alert(1)", None),
        (" JavaScript:alert(1)", None),
        ("data:text/html,<b>", None),
        ("//evil.example/x", None),
        ("PM-12", None),
        ("http://[::1", None),
        (None, None),
    ],
)
def test_safe_link(url, link):
    assert views.safe_link(url) == link


@pytest.mark.parametrize(
    "delta, said",
    [
        (timedelta(seconds=-5), "0s"),
        (timedelta(seconds=40), "40s"),
        (timedelta(minutes=12), "12m"),
        (timedelta(hours=5, minutes=59), "5h"),
        (timedelta(days=3, hours=1), "3d"),
    ],
)
def test_age(delta, said):
    assert views.age(delta) == said


def test_security_headers_allow_no_script():
    assert "script-src" not in HEADERS["Content-Security-Policy"]
    assert "default-src 'none'" in HEADERS["Content-Security-Policy"]


def test_without_the_quarters_report_the_page_sums_each_incidents_card_and_says_so():
    if quarter.REPORT:
        pytest.skip("this build has the quarter's report (plan/report.py, reporting/): tested below")
    loud, hidden = (
        typed("Schools report login failures"),
        typed("school-42").model_copy(update={"incident_id": "inc-hidden", "private": True}),
    )
    cards = [shown(loud), shown(hidden)]
    page = html("report.html", "bearer token", cards=cards, problem=None, since=NOW - timedelta(days=90))
    assert "is not in this build yet" in page
    assert "inc-typed" in page and "inc-hidden" in page and "school-42" not in page
    missed = len(cards[0].card.missed)
    assert f'<td class="num">{missed}</td>' in page


async def test_the_quarters_report_under_our_header_with_both_stylesheets_allowed():
    if not quarter.REPORT:
        pytest.skip("the quarter's report (plan/report.py, reporting/) is not in this build")
    loud = typed("Schools report login failures")
    hidden = typed("school-42").model_copy(update={"incident_id": "inc-hidden", "private": True})
    answers = [(s, card(s, POLICY, NOW)) for s in (loud, hidden)]
    nav = html("nav.html", "asha.rao@preskool.com", css=NAV_CSS, problem="1 incident(s) did not answer")
    page = await quarter.document(answers, NOW - timedelta(days=90), NOW, nav)
    assert page.index('<header class="irp">') < page.index("<h1>")
    assert "asha.rao@preskool.com" in page and "1 incident(s) did not answer" in page
    assert "inc-typed" in page and "school-42" not in page
    policy = quarter.headers(NAV_CSS)["Content-Security-Policy"]
    styles = re.findall(r"<style>(.*?)</style>", page, re.S)
    assert len(styles) == 2 and all(quarter.style_hash(css) in policy for css in styles)
    assert "script-src" not in policy and "<script" not in page
