"""Read-only incident pages at `/ui/` of the receiver (issue 24 item 5): the incidents, one
incident (timeline, roles, requests, the §8 ledger, its compliance card, links to the bridge and
the Temporal UI) and the quarter's compliance.

Who may read: the receiver's bearer token (IRP_WEBHOOK_TOKEN), or, when the operator names it in
IRP_UI_USER_HEADER, the user header an authenticating proxy in front sets, believed only from a
peer address in IRP_UI_TRUSTED_PROXIES (docs/operating.md); neither is a 401. The pages only read:
GET routes, Temporal's visibility and the incident's `status` query (which adds nothing to its
history); no forms, no scripts (the Content-Security-Policy allows none)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from plan.compliance import ComplianceCard, render
from plan.incident import IncidentStatus
from webhook.pages import quarter, views
from workflows import IncidentWorkflow

log = logging.getLogger("webhook.pages")
HERE = Path(__file__).resolve().parent
CSS = (HERE / "static" / "pages.css").read_text()
NAV_CSS = (HERE / "static" / "nav.css").read_text()  # our header above the quarter's report
CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
HEADERS = {
    # No script may run, only this one stylesheet, nothing framed, nothing sent anywhere.
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{CSS_HASH}'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
ANSWER_WITHIN = 3.0  # seconds each incident has to answer `status` (all asked at once)
MOST = 200  # incidents on one page
QUARTER = timedelta(days=90)


TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True),  # every string people typed is escaped
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters.update(when=views.when, duration=views.duration, safe_link=views.safe_link)


def html(name: str, user: str, **context) -> str:
    """The page `name` (webhook/pages/templates/) for `user`: incidents.html (rows, problem),
    incident.html (shown), missing.html (incident_id, problem),
    nav.html (css, problem: the header above the quarter's report)."""
    return TEMPLATES.get_template(name).render(**({"css": CSS, "user": user} | context))


class Unauthorized(Exception):
    """Neither the bearer token nor the proxy's user header: the receiver answers 401."""


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(text: str | None) -> tuple[Network, ...]:
    """IRP_UI_TRUSTED_PROXIES: a comma list of IP addresses and CIDR networks ("10.0.0.5,
    172.18.0.0/16, fd00::/8"; an address is its own /32 or /128; host bits are ignored). Unset or
    empty: none. Raises ValueError naming the entry that is neither."""
    networks = []
    for entry in (text or "").split(","):
        if not (entry := entry.strip()):
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"IRP_UI_TRUSTED_PROXIES: {entry[:80]!r} is not an IP address or network"
            ) from None
    return tuple(networks)


def is_trusted(peer: str | None, networks: tuple[Network, ...]) -> bool:
    """Whether the peer address `peer` (request.client.host: the TCP peer, never a forwarded
    header) is in one of `networks`. A peer that is not an IP address (a Unix socket, a test
    transport's name) or none is not; an IPv4-mapped IPv6 peer (::ffff:a.b.c.d) is its IPv4."""
    try:
        address = ipaddress.ip_address((peer or "").split("%", 1)[0])
    except ValueError:
        return False
    seen_as = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        seen_as.append(address.ipv4_mapped)
    return any(a in network for a in seen_as for network in networks)


@dataclass(frozen=True)
class PagesConfig:
    """What the pages need besides Temporal. `user_header`: the header an authenticating proxy
    sets (None: the bearer token only). `temporal_ui`: the Temporal Web UI's base URL for links.
    `slack_team`: SLACK_TEAM_ID, for the bridge's link. `trusted_proxies`: the peers whose
    `user_header` counts (trusted_networks(); empty: nobody's)."""

    token: bytes
    user_header: str | None
    temporal_ui: str | None
    slack_team: str | None
    trusted_proxies: tuple[Network, ...] = ()


def viewer(request: Request, config: PagesConfig) -> str:
    """Who reads: "bearer token", or the proxy's user. A presented bearer token must be right;
    without one, the user header counts only when the operator named it, it is not empty and the
    request's peer is a trusted proxy (else it is as if absent). Raises Unauthorized."""
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), config.token):
            return "bearer token"
        raise Unauthorized("wrong bearer token")
    if not config.user_header:
        raise Unauthorized("missing bearer token (Authorization: Bearer <IRP_WEBHOOK_TOKEN>)")
    if not (user := request.headers.get(config.user_header, "").strip()):
        raise Unauthorized(f"no bearer token and no {config.user_header} header from the proxy")
    peer = request.client.host if request.client else None
    if not is_trusted(peer, config.trusted_proxies):
        raise Unauthorized(
            f"no bearer token, and {config.user_header} counts only from a trusted proxy "
            f"(IRP_UI_TRUSTED_PROXIES), not from {str(peer)[:64]}"
        )
    return user


def said_at_start(config: PagesConfig) -> None:
    """Says once, when the receiver starts, that a user header named without a trusted proxy is
    believed from nobody (the header's name only; nothing secret)."""
    if config.user_header and not config.trusted_proxies:
        log.warning(
            "IRP_UI_USER_HEADER is %s but IRP_UI_TRUSTED_PROXIES is empty: the pages believe that header "
            "from nobody (bearer token only) until the proxy's addresses are listed",
            config.user_header[:80],
        )


def mount_pages(app: FastAPI, config: PagesConfig, client: Callable[[], Awaitable[Client]]) -> None:
    """GET /ui/, /ui/incidents/{id} and /ui/report on `app` (not in its OpenAPI document)."""
    said_at_start(config)

    def page(name: str, user: str, code: int = 200, **context) -> HTMLResponse:
        return HTMLResponse(html(name, user, **context), status_code=code, headers=HEADERS)

    @app.exception_handler(Unauthorized)
    async def unauthorized(request: Request, e: Unauthorized) -> HTMLResponse:
        log.warning("refused %s %s: 401 %s", request.method, request.url.path, e)
        headers = HEADERS | {"WWW-Authenticate": "Bearer"}
        return HTMLResponse(f"401: {e}", status_code=401, headers=headers)  # plain: nothing typed in it

    @app.get("/ui/", include_in_schema=False)
    async def incidents(request: Request) -> HTMLResponse:
        user = viewer(request, config)
        rows, problem = await running_rows(await connected(client), datetime.now(UTC))
        log.info("ui incidents viewed by %s", user)
        return page("incidents.html", user, rows=rows, problem=problem)

    @app.get("/ui/incidents/{incident_id}", include_in_schema=False)
    async def incident(request: Request, incident_id: str) -> HTMLResponse:
        user = viewer(request, config)
        temporal = await connected(client)
        status, compliance, problem = await answer_of(temporal, incident_id, datetime.now(UTC))
        log.info("ui incident %s viewed by %s", incident_id[:80], user)
        if status is None:
            code = 404 if problem.startswith("no incident") else 503
            return page("missing.html", user, code, incident_id=incident_id, problem=problem)
        return page("incident.html", user, shown=show(status, compliance, config, temporal.namespace))

    @app.get("/ui/report", include_in_schema=False)
    async def report(request: Request) -> HTMLResponse:
        user = viewer(request, config)
        now = datetime.now(UTC)
        temporal = await connected(client)
        answers, problem = await quarter_answers(temporal, now)
        log.info("ui report viewed by %s", user)
        # the quarter's report with its charts, as `irp report --format html` writes it
        nav = html("nav.html", user, css=NAV_CSS, problem=problem)
        carded = [(s, c) for s, c in answers if c is not None]
        text = await quarter.document(carded, now - QUARTER, now, nav)
        return HTMLResponse(text, headers=quarter.headers(NAV_CSS))


async def connected(client: Callable[[], Awaitable[Client]]) -> Client:
    """The receiver's Temporal client (its 503 Refusal when Temporal is unreachable)."""
    return await client()


async def answer_of(
    client: Client, incident_id: str, now: datetime, with_card: bool = True
) -> tuple[IncidentStatus | None, ComplianceCard | None, str]:
    """The incident's own answers, `status` and (`with_card`) its `compliance` card as of `now`
    (under the policy it pinned; None before it pinned one), asked at once; or None and why:
    "no incident …" (404), no worker answered, Temporal did not answer."""
    handle = client.get_workflow_handle(incident_id)
    queries = [handle.query(IncidentWorkflow.status)]
    if with_card:
        queries.append(handle.query(IncidentWorkflow.compliance, now))
    try:
        status, *compliance = await asyncio.wait_for(asyncio.gather(*queries), ANSWER_WITHIN)
    except RPCError as e:
        if e.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):  # none, or none could be
            return None, None, f"no incident {incident_id}"
        return None, None, f"Temporal did not answer: {e.message}"
    except TimeoutError:
        return None, None, f"no worker answered within {ANSWER_WITHIN:.0f} s (is one polling its task queue?)"
    except Exception as e:  # a query the workflow failed: say so, never a 500
        return None, None, f"the incident could not answer: {e}"
    return status, (compliance[0] if compliance else None), ""


def show(
    status: IncidentStatus, compliance: ComplianceCard | None, config: PagesConfig, namespace: str
) -> views.Shown:
    """One incident's page; a private one's carries no status, only id, severity, phase, card."""
    return views.Shown(
        incident_id=status.incident_id,
        severity=status.severity.value if status.severity else views.MISSING,
        phase=status.phase.value,
        private=status.private,
        status=None if status.private else status,
        card=compliance,
        card_text="" if status.private or compliance is None else render(compliance),
        card_problem=None
        if compliance
        else "no compliance card yet (the incident has not pinned its policy)",
        links=views.links(status, config.temporal_ui, namespace, config.slack_team),
    )


async def listed(client: Client, query: str) -> list:
    """Workflow executions visibility finds (the latest MOST)."""
    found = []
    async for execution in client.list_workflows(query, limit=MOST):
        found.append(execution)
    return found


async def running_rows(client: Client, now: datetime) -> tuple[list[views.Row], str | None]:
    """Every running incident (open or in review), newest first, each from its own answer or, when
    no worker answers in time, from visibility."""
    try:
        executions = await listed(client, "WorkflowType = 'IncidentWorkflow' AND ExecutionStatus = 'Running'")
    except RPCError as e:
        return [], f"Temporal's visibility did not answer: {e.message}"

    async def one(execution) -> views.Row:
        status, _, _ = await answer_of(client, execution.id, now, with_card=False)
        attributes = {k: (v[0] if v else "") for k, v in execution.search_attributes.items()}
        if status is not None:
            return views.row(status, attributes.get("IncidentStatus") or views.MISSING, now)
        summary = await execution.memo_value("summary", "")
        return views.unanswered_row(execution.id, attributes, summary)

    return list(await asyncio.gather(*(one(e) for e in executions))), None


async def quarter_answers(client: Client, now: datetime) -> tuple[list, str | None]:
    """(status, card) of every incident running, or closed in the last 90 days (the latest run of
    each; not those terminated), and what could not be read."""
    since = (now - QUARTER).strftime("%Y-%m-%dT%H:%M:%SZ")
    query = (
        "WorkflowType = 'IncidentWorkflow' AND ExecutionStatus != 'ContinuedAsNew' "
        f"AND (ExecutionStatus = 'Running' OR CloseTime > '{since}')"
    )
    try:
        executions = await listed(client, query)
    except RPCError as e:
        return [], f"Temporal's visibility did not answer: {e.message}"
    measured = (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED)
    answers = await asyncio.gather(
        *(answer_of(client, e.id, now) for e in executions if e.status in measured)
    )
    unread = [problem for status, _, problem in answers if status is None]
    note = f"{len(unread)} incident(s) did not answer and are not counted" if unread else None
    return [(status, card) for status, card, _ in answers if status is not None], note
