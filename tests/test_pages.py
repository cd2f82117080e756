"""The read-only incident pages (webhook/pages/), fast: who may read them (the bearer token or a
proxy's user header, else 401, before Temporal is asked anything), that they only read, and that
every string people typed is escaped and a private incident shows id, severity and phase only.
The pages on a real incident, in a real browser: tests/test_web_ui.py."""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
import sys
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


PROXY = "10.0.0.5"  # the authenticating proxy's address in these tests
PROXIES = "10.0.0.5, 172.18.0.0/16, fd00:1::/64"  # IRP_UI_TRUSTED_PROXIES as an operator writes it
EMAIL = "X-Forwarded-Email"


def app(user_header: str | None = None, trusted: str | None = PROXIES):
    return create_app(
        token=SecretStr(TOKEN),
        task_queue="unused",
        connect=Untouched(),
        ui_user_header=user_header,
        ui_trusted_proxies=trusted,
    )


def client_from(receiver, peer: str = PROXY) -> httpx.AsyncClient:
    """An HTTP client whose requests reach `receiver` from the TCP peer address `peer`."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=receiver, client=(peer, 41234)), base_url="http://r"
    )


UNTRUSTED = "counts only from a trusted proxy (IRP_UI_TRUSTED_PROXIES)"


@pytest.mark.parametrize(
    "user_header, trusted, peer, headers, why",
    [
        (None, PROXIES, PROXY, {}, "missing bearer token"),
        (None, PROXIES, PROXY, {"Authorization": "Bearer wrong"}, "wrong bearer token"),
        (None, PROXIES, PROXY, {"Authorization": f"Basic {TOKEN}"}, "wrong bearer token"),
        (None, PROXIES, PROXY, {EMAIL: "asha.rao@preskool.com"}, "missing bearer token"),  # header off
        (EMAIL, PROXIES, PROXY, {}, "no bearer token and no X-Forwarded-Email"),
        (EMAIL, PROXIES, PROXY, {EMAIL: "   "}, "no bearer token and no X-Forwarded-Email"),
        (EMAIL, PROXIES, PROXY, {"X-Forwarded-User": "asha"}, "no bearer token and no X-Forwarded-Email"),
        # a wrong token is never rescued by the header
        (EMAIL, PROXIES, PROXY, {"Authorization": "Bearer no", EMAIL: "a@b.c"}, "wrong bearer"),
        # the header from anyone but a trusted proxy is as if absent
        (EMAIL, PROXIES, "10.0.0.6", {EMAIL: "asha.rao@preskool.com"}, UNTRUSTED),
        (EMAIL, PROXIES, "172.19.0.1", {EMAIL: "asha.rao@preskool.com"}, UNTRUSTED),
        (EMAIL, PROXIES, "fd00:2::1", {EMAIL: "asha.rao@preskool.com"}, UNTRUSTED),
        (EMAIL, PROXIES, "testclient", {EMAIL: "asha.rao@preskool.com"}, UNTRUSTED),  # not an address
        (EMAIL, PROXIES, PROXY, {"X-Forwarded-For": PROXY}, "no bearer token and no X-Forwarded-Email"),
        (EMAIL, PROXIES, "192.0.2.7", {EMAIL: "a@b.c", "X-Forwarded-For": PROXY}, UNTRUSTED),
        # no trusted proxy configured: believed from nobody (fail closed)
        (EMAIL, None, PROXY, {EMAIL: "asha.rao@preskool.com"}, UNTRUSTED),
        (EMAIL, "", "127.0.0.1", {EMAIL: "asha.rao@preskool.com"}, UNTRUSTED),
    ],
)
@pytest.mark.parametrize("path", ["/ui/", "/ui/incidents/inc-1", "/ui/report"])
async def test_neither_token_nor_proxy_user_is_401_before_temporal(
    user_header, trusted, peer, headers, why, path
):
    async with client_from(app(user_header, trusted), peer) as h:
        answer = await h.get(path, headers=headers)
    assert answer.status_code == 401 and why in answer.text
    assert answer.headers["www-authenticate"] == "Bearer"
    assert Untouched.calls == 0


def asked_by(peer: str | None, headers: dict, user_header: str | None, trusted: str | None = PROXIES) -> str:
    """viewer() for a GET /ui/ from TCP peer `peer` (None: no client in the ASGI scope)."""
    from starlette.requests import Request

    from webhook.pages import trusted_networks, viewer

    request = httpx.Request("GET", "http://r/ui/", headers=headers)
    scope = {"type": "http", "headers": [(k.encode(), v.encode()) for k, v in request.headers.items()]}
    if peer is not None:
        scope["client"] = (peer, 41234)
    config = PagesConfig(TOKEN.encode(), user_header, None, None, trusted_networks(trusted))
    return viewer(Request(scope), config)


@pytest.mark.parametrize(
    "user_header, peer, headers, who",
    [
        (None, PROXY, {"Authorization": f"Bearer {TOKEN}"}, "bearer token"),
        (
            None,
            "203.0.113.9",
            {"Authorization": f"Bearer {TOKEN}"},
            "bearer token",
        ),  # the token from anywhere
        (EMAIL, None, {"Authorization": f"Bearer {TOKEN}"}, "bearer token"),
        (EMAIL, PROXY, {EMAIL: "asha.rao@preskool.com"}, "asha.rao@preskool.com"),
        (
            "x-forwarded-email",
            "172.18.3.4",
            {"X-FORWARDED-EMAIL": " dana@preskool.com "},
            "dana@preskool.com",
        ),
        (EMAIL, "fd00:1::abcd", {EMAIL: "ben@preskool.com"}, "ben@preskool.com"),
        (EMAIL, "::ffff:10.0.0.5", {EMAIL: "ben@preskool.com"}, "ben@preskool.com"),  # IPv4-mapped peer
    ],
)
def test_the_token_or_the_proxys_user_reads(user_header, peer, headers, who):
    assert asked_by(peer, headers, user_header) == who


@pytest.mark.parametrize("peer", [None, "testclient", "", "10.0.0.6", "::1"])
def test_the_header_from_no_trusted_peer_is_refused(peer):
    from webhook.pages import Unauthorized

    with pytest.raises(Unauthorized, match="trusted proxy"):
        asked_by(peer, {EMAIL: "asha.rao@preskool.com"}, EMAIL)


@pytest.mark.parametrize(
    "text, networks",
    [
        (None, []),
        ("", []),
        (" , ", []),
        ("10.0.0.5", ["10.0.0.5/32"]),
        ("10.0.0.5, 172.18.0.0/16", ["10.0.0.5/32", "172.18.0.0/16"]),
        ("172.18.0.9/16", ["172.18.0.0/16"]),  # host bits ignored
        ("fd00:1::/64,::1", ["fd00:1::/64", "::1/128"]),
    ],
)
def test_trusted_proxies_are_read_as_networks(text, networks):
    from webhook.pages import trusted_networks

    assert [str(n) for n in trusted_networks(text)] == networks


@pytest.mark.parametrize("text", ["caddy", "10.0.0.5,proxy.internal", "10.0.0.0/33", "10.0.0.256", "*"])
def test_a_bad_trusted_proxy_is_refused_naming_it(text):
    from webhook.pages import trusted_networks

    with pytest.raises(ValueError, match="IRP_UI_TRUSTED_PROXIES: .* is not an IP address or network"):
        trusted_networks(text)
    with pytest.raises(ValueError, match="IRP_UI_TRUSTED_PROXIES"):
        app(EMAIL, text)


def test_the_receiver_does_not_start_with_a_bad_trusted_proxy():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IRP_", "SLACK_", "PAGERDUTY_"))}
    env |= {"IRP_WEBHOOK_TOKEN": TOKEN, "IRP_UI_TRUSTED_PROXIES": "10.0.0.5, caddy"}
    done = subprocess.run(
        [sys.executable, "-m", "webhook"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "receiver not started: IRP_UI_TRUSTED_PROXIES: 'caddy' is not an IP address" in done.stderr


def networks_and_peers():
    """A network (IPv4 or IPv6, any prefix) and an address inside it and one drawn anywhere."""

    def drawn(version: int):
        bits = 32 if version == 4 else 128
        make = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
        return st.tuples(
            st.integers(0, 2**bits - 1),
            st.integers(0, bits),
            st.integers(0, 2**bits - 1),
            st.integers(0, 2**bits - 1),
        ).map(
            lambda t: (
                net := make((t[0], t[1]), strict=False),
                net.network_address + t[2] % net.num_addresses,
                ipaddress.ip_address(t[3]) if version == 4 else ipaddress.IPv6Address(t[3]),
            )
        )

    return st.one_of(drawn(4), drawn(6))


@budget(300)
@given(case=networks_and_peers(), others=st.lists(networks_and_peers(), max_size=3), header=st.booleans())
def test_the_header_counts_exactly_from_peers_in_the_trusted_ranges(case, others, header):
    """Whatever the ranges and the peer: the proxy's user is believed iff the peer is in one of
    them (an address inside a range always; one drawn anywhere exactly when some range holds it)."""
    from webhook.pages import Unauthorized

    network, inside, anywhere = case
    ranges = [network] + [n for n, _, _ in others]
    trusted = ",".join(str(n) for n in ranges)
    headers = {EMAIL: "asha.rao@preskool.com"} if header else {}
    for peer, believed in (
        (inside, True),
        (anywhere, any(a in n for a in seen_as(anywhere) for n in ranges)),
    ):
        if header and believed:
            assert asked_by(str(peer), headers, EMAIL, trusted) == "asha.rao@preskool.com"
        else:
            with pytest.raises(Unauthorized):
                asked_by(str(peer), headers, EMAIL, trusted)


def seen_as(address) -> set:
    """The address, and an IPv4-mapped IPv6 address's IPv4 too (a dual-stack socket's peer)."""
    return {address} | ({address.ipv4_mapped} if getattr(address, "ipv4_mapped", None) else set())


def outside(peer) -> str:
    """A network that does not hold `peer`: the half of its address space without it."""
    bits = peer.max_prefixlen
    return str(ipaddress.ip_network((int(peer) ^ (1 << (bits - 1)), 1), strict=False))


async def unreachable():
    raise RuntimeError("connection refused (no Temporal in this test)")


@budget(40)
@given(peer=st.ip_addresses(), in_range=st.booleans())
async def test_through_the_receiver_the_header_counts_only_from_a_trusted_peer(peer, in_range):
    """The same through the whole app over ASGI: a trusted peer's header gets past the door to
    Temporal (unreachable here: 503), any other peer's is a 401 before it."""
    trusted = str(peer) if in_range else outside(peer)
    receiver = create_app(
        token=SecretStr(TOKEN),
        task_queue="unused",
        connect=unreachable,
        ui_user_header=EMAIL,
        ui_trusted_proxies=trusted,
    )
    async with client_from(receiver, str(peer)) as h:
        answer = await h.get("/ui/", headers={EMAIL: "asha.rao@preskool.com"})
    if in_range:
        assert answer.status_code == 503 and "Temporal is unreachable" in answer.text, answer.text
    else:
        assert answer.status_code == 401 and UNTRUSTED in answer.text, answer.text


@pytest.mark.parametrize(
    "user_header, trusted, said",
    [(EMAIL, None, 1), (EMAIL, "", 1), (EMAIL, PROXIES, 0), (None, None, 0), (None, PROXIES, 0)],
)
def test_a_user_header_with_no_trusted_proxy_is_said_once_at_start(user_header, trusted, said, caplog):
    caplog.set_level("WARNING", logger="webhook.pages")
    app(user_header, trusted)
    lines = [r.getMessage() for r in caplog.records if "IRP_UI_TRUSTED_PROXIES is empty" in r.getMessage()]
    assert len(lines) == said, lines
    assert all(TOKEN not in line and EMAIL in line for line in lines)


async def test_the_real_receiver_judges_the_tcp_peer_not_x_forwarded_for(tmp_path):
    """`python -m webhook` (uvicorn) with FORWARDED_ALLOW_IPS=* set: an X-Forwarded-For naming the
    trusted proxy does not make a request from elsewhere count as the proxy's."""
    from tests.processes import Receiver, free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith(("IRP_", "SLACK_", "PAGERDUTY_"))}
    env |= {
        "IRP_WEBHOOK_TOKEN": TOKEN,
        "IRP_WEBHOOK_PORT": str(free_port()),
        "IRP_UI_USER_HEADER": EMAIL,
        "IRP_UI_TRUSTED_PROXIES": "10.9.9.9",
        "FORWARDED_ALLOW_IPS": "*",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",  # never reached
    }
    receiver = Receiver(tmp_path / "webhook.log", env).start()
    try:
        await receiver.healthy()
        async with httpx.AsyncClient(base_url=receiver.url, timeout=10) as h:
            answer = await h.get(
                "/ui/", headers={EMAIL: "mallory@example.com", "X-Forwarded-For": "10.9.9.9"}
            )
        assert answer.status_code == 401 and "not from 127.0.0.1" in answer.text, answer.text
    finally:
        receiver.stop()


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


async def test_the_quarters_report_under_our_header_with_both_stylesheets_allowed():
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
