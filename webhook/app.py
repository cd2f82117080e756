"""The alert receiver: Alertmanager (and later PagerDuty, people) in, incident workflows out.

It answers 2xx only after Temporal holds the work, 4xx with the reason when a retry cannot help,
and 503 when Temporal is unreachable (Alertmanager retries only 5xx)."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from plan import AlertmanagerDelivery, Policy
from runtime.intake import deliver_alerts

log = logging.getLogger("webhook")
MAX_BODY = 1024 * 1024
RETRYABLE = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED,
             RPCStatusCode.ABORTED, RPCStatusCode.INTERNAL, RPCStatusCode.UNKNOWN}


class WebhookSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    irp_webhook_host: str = "127.0.0.1"
    irp_webhook_port: int = 8000
    irp_webhook_token: SecretStr


class Refusal(Exception):
    def __init__(self, status: int, reason: str, errors: list | None = None):
        self.status, self.reason, self.errors = status, reason, errors


def create_app(*, token: SecretStr, policy: Policy, task_queue: str,
               connect: Callable[[], Awaitable[Client]]) -> FastAPI:
    app = FastAPI(title="preskool-irp webhook receiver", docs_url=None, redoc_url=None)
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

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.post("/webhooks/alertmanager", status_code=202)
    async def alertmanager(request: Request) -> dict:
        authorize(request, expected)
        delivery = parse(AlertmanagerDelivery, await read_body(request))
        try:
            receipt = await deliver_alerts(await client(), task_queue, policy, delivery)
        except RPCError as e:
            if e.status in RETRYABLE:
                raise Refusal(503, f"Temporal did not take the alert: {e.message}") from None
            raise Refusal(500, f"Temporal refused the alert: {e.message}") from None
        incidents = []
        if receipt:
            incidents.append({"incident_id": receipt.incident_id, "workflow_id": receipt.incident_id,
                              "severity": receipt.severity.value, "created": receipt.created})
        log.info("alertmanager group %r → %s", delivery.groupKey, incidents or "no open incident")
        return {"incidents": incidents}

    return app


def authorize(request: Request, expected: bytes) -> None:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise Refusal(401, "missing bearer token (Authorization: Bearer <IRP_WEBHOOK_TOKEN>)")
    if not hmac.compare_digest(presented.strip().encode(), expected):
        raise Refusal(401, "wrong bearer token")


async def read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise Refusal(413, f"payload of {declared} bytes is over the {MAX_BODY}-byte limit")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Refusal(413, f"payload is over the {MAX_BODY}-byte limit")
    return bytes(body)


def parse(model, body: bytes):
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Refusal(422, f"body is not valid JSON: {e}") from None
    try:
        return model.model_validate(data)
    except ValidationError as e:
        errors = [{"loc": list(err["loc"]), "msg": err["msg"]} for err in e.errors()]
        raise Refusal(422, f"not a valid {model.__name__} payload", errors) from None
