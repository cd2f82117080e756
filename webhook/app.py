"""The alert receiver: Alertmanager (and later PagerDuty, people) in, incident workflows out.

It answers 2xx only after Temporal holds the work, 4xx with the reason when a retry cannot help,
and 503 when Temporal is unreachable (Alertmanager retries only 5xx)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, make_asgi_app
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from connection.http import BodyTooLarge, read_capped
from incident_client.intake import IdempotencyConflict, declare_incident, deliver
from plan import AlertmanagerDelivery, Declaration
from plan.alert_digest import clip
from plan.signals import PagerDutyEvent
from webhook.pagerduty import PagerDutyWebhook
from webhook.pages import PagesConfig, mount_pages, trusted_networks
from webhook.schema import IncidentsAnswer, PagerDutyAnswer, answers, describe, header, json_body
from webhook.slack import SlackAppSettings
from webhook.slack.app import mount_slack

log = logging.getLogger("webhook")
KNOWN_PATHS = {"/webhooks/alertmanager", "/webhooks/pagerduty", "/incidents", "/slack/events", "/healthz"}
MAX_BODY = 1024 * 1024  # a declaration or a PagerDuty event
# A genuine alert storm is never refused for its size: 2,000 alerts of one group are ~1.5 MB, and
# Alertmanager never retries a 4xx. What the incident keeps of it is bounded (plan/alert_digest.py).
MAX_ALERTMANAGER_BODY = 32 * 1024 * 1024
IDEMPOTENCY_KEY = header(
    "Idempotency-Key",
    "the same key and body answer the same incident",
    required=False,
    minLength=1,
    maxLength=255,
)
PAGERDUTY_SIGNATURE = header("X-PagerDuty-Signature", "v1=<hex HMAC-SHA256 of the body>[,v1=…] (Webhooks v3)")
RETRYABLE = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.ABORTED,
    RPCStatusCode.INTERNAL,
    RPCStatusCode.UNKNOWN,
}


class WebhookSettings(BaseSettings):
    """The receiver's own settings: where it listens, who may send to it, the heartbeat's alertname."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True)

    irp_webhook_host: str = Field("127.0.0.1", description="Where the receiver listens.")
    irp_webhook_port: int = Field(8000, description="The receiver's port.")
    irp_webhook_token: SecretStr = Field(
        description=(
            "The bearer token Alertmanager and other senders present; the receiver refuses to start "
            "without it."
        ),
    )
    pagerduty_webhook_secret: SecretStr | None = Field(
        None,
        description=(
            "The PagerDuty v3 webhook subscription's signing secret; unset, /webhooks/pagerduty answers 404."
        ),
    )
    irp_heartbeat_alert: str = Field(
        default="Watchdog",
        min_length=1,
        description=(
            "The dead man's switch's alertname: its alerts beat the heartbeat and never open an incident "
            "(keep it the policy's heartbeat.alert_name)."
        ),
    )
    irp_ui_user_header: str | None = Field(
        None,
        description=(
            "The header an authenticating proxy in front of the receiver sets to the signed-in user "
            "(e.g. X-Forwarded-Email): with it, the read-only pages at /ui/ take that user as well as "
            "the bearer token, from the peers in IRP_UI_TRUSTED_PROXIES only. Unset (the default): the "
            "bearer token only. The proxy must set the header itself, removing any the client sent."
        ),
    )
    irp_ui_trusted_proxies: str | None = Field(
        None,
        description=(
            "The authenticating proxy's addresses, a comma list of IPs and CIDR networks (e.g. "
            "10.0.0.5,172.18.0.0/16): IRP_UI_USER_HEADER counts only on requests whose peer address is "
            "in it. Unset (the default): the header is believed from nobody."
        ),
    )
    irp_temporal_ui_url: str | None = Field(
        "http://localhost:8233",
        description="The Temporal Web UI's address, for the incident pages' links (unset: no link).",
    )


class Refusal(Exception):
    def __init__(self, status: int, reason: str, errors: list | None = None):
        self.status, self.reason, self.errors = status, reason, errors


def create_app(
    *,
    token: SecretStr,
    task_queue: str,
    connect: Callable[[], Awaitable[Client]],
    pagerduty_secret: SecretStr | None = None,
    slack: SlackAppSettings | None = None,
    heartbeat_alert: str = "Watchdog",
    ui_user_header: str | None = None,
    ui_trusted_proxies: str | None = None,
    temporal_ui: str | None = None,
    slack_clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The receiver. `heartbeat_alert`: the alertname of the dead man's switch, which goes to the
    Alertmanager's heartbeat workflow and never opens an incident. `ui_user_header`,
    `ui_trusted_proxies` (IRP_UI_TRUSTED_PROXIES' comma list; ValueError on a bad entry) and
    `temporal_ui` are for the read-only pages at /ui/ (webhook/pages/). `slack_clock`: what the
    Slack app dates its attestations by (default the wall clock; a drill on a compressed clock
    passes the Temporal test server's)."""
    app = FastAPI(title="preskool-irp webhook receiver", docs_url=None, redoc_url=None)
    registry = CollectorRegistry()
    requests = Counter(
        "irp_webhook_requests",
        "Requests to the receiver, by endpoint and answer",
        ["endpoint", "status"],
        registry=registry,
    )
    latency = Histogram(
        "irp_webhook_request_seconds", "Time to answer, by endpoint", ["endpoint"], registry=registry
    )
    app.mount("/metrics", make_asgi_app(registry=registry))

    app.add_middleware(Measured, requests=requests, latency=latency)

    expected = token.get_secret_value().encode()
    if not expected:
        raise ValueError("IRP_WEBHOOK_TOKEN is empty: the receiver never starts open")
    temporal: dict[str, Client] = {}

    async def client() -> Client:
        if "client" not in temporal:
            try:
                temporal["client"] = await connect()
            except Exception as e:  # connection refused, DNS, TLS: all mean "try later"
                raise Refusal(503, f"Temporal is unreachable: {e}") from None
        return temporal["client"]

    @app.exception_handler(Refusal)
    async def refused(request: Request, e: Refusal) -> JSONResponse:
        log.warning("refused %s %s: %d %s", request.method, request.url.path, e.status, e.reason)
        body = {"error": e.reason} | ({"details": e.errors} if e.errors else {})
        headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else None
        return JSONResponse(body, status_code=e.status, headers=headers)

    @app.get("/healthz", responses={200: {"description": "Alive", "content": {"application/json": {}}}})
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.post(
        "/webhooks/alertmanager",
        status_code=202,
        response_model=None,
        openapi_extra=json_body(AlertmanagerDelivery, bearer=True),
        responses=answers({202: IncidentsAnswer}, 401, 413, 422, 500, 503),
    )
    async def alertmanager(request: Request) -> dict:
        authorize(request, expected)
        delivery = parse(AlertmanagerDelivery, await read_body(request, MAX_ALERTMANAGER_BODY))
        async with temporal_errors("the alert"):
            receipt, heartbeats, beat = await deliver(await client(), task_queue, delivery, heartbeat_alert)
        incidents = [receipt_json(receipt)] if receipt else []
        log.info("alertmanager group %r → %s", clip(delivery.groupKey, 200), incidents or "no open incident")
        if not heartbeats:
            return {"incidents": incidents}
        log.info("alertmanager %r: %s", delivery.externalURL, f"beat {beat.beats}" if beat else "no beat")
        return {"incidents": incidents, "heartbeat": beat.model_dump() if beat else None}

    @app.post(
        "/incidents",
        status_code=201,
        response_model=None,
        openapi_extra=json_body(Declaration, bearer=True, headers=(IDEMPOTENCY_KEY,)),
        responses=answers({201: IncidentsAnswer, 200: IncidentsAnswer}, 401, 409, 413, 422, 500, 503),
    )
    async def declare(request: Request) -> dict:
        """§4.1: an incident from a customer report (Zendesk, school email) or a person."""
        authorize(request, expected)
        declaration = parse(Declaration, await read_body(request))
        key = request.headers.get("idempotency-key") or None
        if key is not None and not 1 <= len(key) <= 255:
            raise Refusal(422, "Idempotency-Key must be 1 to 255 characters")
        async with temporal_errors("the declaration"):
            try:
                receipt = await declare_incident(await client(), task_queue, declaration, key)
            except IdempotencyConflict as e:
                raise Refusal(409, str(e)) from None
        log.info(
            "declared by %s → %s%s",
            declaration.reporter,
            receipt.incident_id,
            "" if receipt.created else f" (again, Idempotency-Key {key!r})",
        )
        return JSONResponse(
            {"incidents": [receipt_json(receipt)]}, status_code=201 if receipt.created else 200
        )

    @app.post(
        "/webhooks/pagerduty",
        status_code=202,
        response_model=None,
        openapi_extra=json_body(PagerDutyWebhook, headers=(PAGERDUTY_SIGNATURE,)),
        responses=answers({202: PagerDutyAnswer}, 401, 404, 413, 422, 500, 503),
    )
    async def pagerduty(request: Request) -> dict:
        if pagerduty_secret is None or not pagerduty_secret.get_secret_value():
            raise Refusal(404, "PagerDuty webhooks are off: set PAGERDUTY_WEBHOOK_SECRET")
        body = await read_body(request)
        verify_pagerduty(request.headers.get("x-pagerduty-signature", ""), body, pagerduty_secret)
        webhook = parse(PagerDutyWebhook, body)
        event = webhook.event
        if event.id in seen_events:
            log.info("pagerduty event %s ignored: already delivered", event.id)
            return {"ignored": f"event {event.id} was already delivered"}
        incident_id = event.incident_id()
        if incident_id is None:
            log.info("pagerduty event %s ignored: not an incident this service paged", event.id)
            return {"ignored": "not an incident this service paged (no inc-… incident_key)"}
        signal = PagerDutyEvent(
            event_id=event.id,
            event_type=event.event_type,
            agent=event.agent_name(),
            pagerduty_incident=event.data.id,
        )
        async with temporal_errors("the PagerDuty event"):
            try:
                await (await client()).get_workflow_handle(incident_id).signal("pagerduty_event", signal)
            except RPCError as e:
                if e.status is not RPCStatusCode.NOT_FOUND:
                    raise
                log.info(
                    "pagerduty %s for %s ignored: the incident is not running", event.event_type, incident_id
                )
                return {"ignored": f"incident {incident_id} is not running"}
        seen_events.remember(event.id)
        log.info("pagerduty %s by %s → %s", event.event_type, signal.agent or "someone", incident_id)
        return {"incident_id": incident_id, "event_type": event.event_type}

    seen_events = RecentIds()
    if slack is not None and slack.enabled:
        mount_slack(app, slack, client, task_queue, slack_clock)
    pages = PagesConfig(
        token=expected,
        user_header=ui_user_header,
        temporal_ui=temporal_ui,
        slack_team=slack.slack_team_id if slack is not None else None,
        trusted_proxies=trusted_networks(ui_trusted_proxies),
    )
    mount_pages(app, pages, client)
    describe(app)
    return app


class Measured:
    """Counts and times every request. Plain ASGI, not BaseHTTPMiddleware: that one costs a task
    and a stream per request, which showed in the alert storm benchmark."""

    def __init__(self, app, requests: Counter, latency: Histogram):
        self.app, self.requests, self.latency = app, requests, latency

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, answer = time.perf_counter(), {"status": 500}

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            endpoint = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
            self.requests.labels(endpoint, str(answer["status"])).inc()
            self.latency.labels(endpoint).observe(time.perf_counter() - started)


def receipt_json(receipt) -> dict:
    return {
        "incident_id": receipt.incident_id,
        "workflow_id": receipt.incident_id,
        "severity": receipt.severity.value,
        "created": receipt.created,
        "severity_reasons": receipt.severity_reasons,
    }


@asynccontextmanager
async def temporal_errors(what: str):
    """Temporal's answer as HTTP: 503 when a retry can help (the sender retries 5xx), else 500,
    with the reason (the incident's own, when it refused the update)."""
    try:
        yield
    except RPCError as e:
        if e.status in RETRYABLE:
            raise Refusal(503, f"Temporal did not take {what}: {e.message}") from None
        raise Refusal(500, f"Temporal refused {what}: {e.message}") from None
    except WorkflowUpdateFailedError as e:
        reason = getattr(e.cause, "message", None) or str(e.cause or e)
        raise Refusal(500, f"the incident refused {what}: {reason}") from None


def verify_pagerduty(header: str, body: bytes, secret: SecretStr) -> None:
    """Webhooks v3: X-PagerDuty-Signature holds one or more `v1=<hex HMAC-SHA256 of the body>`
    (several while a secret is rotated); any match is enough."""
    expected = hmac.new(secret.get_secret_value().encode(), body, hashlib.sha256).hexdigest()
    offered = [part.strip()[3:] for part in header.split(",") if part.strip().startswith("v1=")]
    if not offered:
        raise Refusal(401, "missing X-PagerDuty-Signature (v1=…)")
    if not any(hmac.compare_digest(o, expected) for o in offered):
        raise Refusal(401, "X-PagerDuty-Signature does not match the body")


class RecentIds:
    """Event ids already acted on, so a replayed webhook is not acted on twice."""

    def __init__(self, size: int = 10_000):
        self.ids: OrderedDict[str, None] = OrderedDict()
        self.size = size

    def __contains__(self, event_id: str) -> bool:
        return event_id in self.ids

    def remember(self, event_id: str) -> None:
        self.ids[event_id] = None
        while len(self.ids) > self.size:
            self.ids.popitem(last=False)


def authorize(request: Request, expected: bytes) -> None:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise Refusal(401, "missing bearer token (Authorization: Bearer <IRP_WEBHOOK_TOKEN>)")
    if not hmac.compare_digest(presented.strip().encode(), expected):
        raise Refusal(401, "wrong bearer token")


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    try:
        return await read_capped(request, limit)
    except BodyTooLarge as e:
        raise Refusal(413, str(e)) from None


def parse(model, body: bytes):
    """`body` as `model`, or a 422 with the reason. pydantic's own JSON parser reads it: strict
    UTF-8, no lone surrogate escapes, and a nesting limit (json.loads raised RecursionError on a
    deeply nested body, a 500)."""
    try:
        return model.model_validate_json(body)
    except ValidationError as e:
        if bad := next((err for err in e.errors() if err["type"] == "json_invalid"), None):
            why = bad["msg"].removeprefix("Invalid JSON: ")
            raise Refusal(422, f"body is not valid JSON: {why}") from None
        errors = [{"loc": list(err["loc"]), "msg": err["msg"]} for err in e.errors()]
        raise Refusal(422, f"not a valid {model.__name__} payload", errors) from None
