"""The receiver's OpenAPI document (FastAPI serves it at /openapi.json; Schemathesis runs against
it in tests/test_receiver_fuzz.py). The routes read their bodies themselves, so that the bearer
token is checked and the body limit applied before anything is parsed; this module says what
those bodies are (the same pydantic models that parse them), what each route answers, and how
each authenticates."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from plan import AlertmanagerDelivery, Declaration, Severity
from plan.heartbeat import BeatReceipt
from webhook.pagerduty import PagerDutyWebhook

REF = "#/components/schemas/{model}"
BODIES: tuple[type[BaseModel], ...] = (AlertmanagerDelivery, Declaration, PagerDutyWebhook)


class Receipt(BaseModel):
    """The incident a request opened or joined."""

    incident_id: str
    workflow_id: str
    severity: Severity
    created: bool
    severity_reasons: list[str] = []  # why it has its severity (§6), in a person's terms


class IncidentsAnswer(BaseModel):
    """What Alertmanager's endpoint and a declaration answer: the incident (none for a "resolved"
    group with none open, or a delivery of only the dead man's switch), and the heartbeat's
    answer when the delivery carried its alert (null: a "resolved" one, no beat)."""

    incidents: list[Receipt]
    heartbeat: BeatReceipt | None = None


class PagerDutyAnswer(BaseModel):
    """The incident a PagerDuty event reached, or why it was ignored."""

    incident_id: str | None = None
    event_type: str | None = None
    ignored: str | None = None


class ErrorDetail(BaseModel):
    loc: list[str | int]
    msg: str


class Error(BaseModel):
    """Every refusal: the reason, and for a payload that does not validate, where and why."""

    error: str
    details: list[ErrorDetail] | None = None


REASONS = {
    400: "Not a request Slack sends (the reason says what is wrong)",
    401: "Not authenticated: the reason says how",
    404: "Off (PagerDuty webhooks without a secret), or no listener takes it (Slack)",
    409: "The Idempotency-Key was used for another declaration, or its incident has ended",
    413: "The body is over the limit",
    422: "Not valid JSON, or not a valid payload: the reason and the details say where",
    500: "Temporal refused it (a retry will not help)",
    503: "Temporal is unreachable or did not take it (for Slack: could not check for a replay): retry",
}


def answers(ok: dict[int, type[BaseModel]], *refusals: int) -> dict[int | str, dict[str, Any]]:
    """FastAPI `responses=`: the 2xx answers' models and the refusals' codes (each an Error)."""
    described: dict[int | str, dict[str, Any]] = {
        code: {"model": model, "description": " ".join(model.__doc__.split())} for code, model in ok.items()
    }
    return described | {code: {"model": Error, "description": REASONS[code]} for code in refusals}


def json_body(model: type[BaseModel], *, bearer: bool = False, headers: tuple[dict, ...] = ()) -> dict:
    """FastAPI `openapi_extra=`: a required JSON body of `model`, bearer auth, header parameters."""
    extra: dict[str, Any] = {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
        }
    }
    if bearer:
        extra["security"] = [{"bearer": []}]
    if headers:
        extra["parameters"] = list(headers)
    return extra


def header(name: str, description: str, required: bool = True, **schema: Any) -> dict:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": {"type": "string", **schema},
    }


SLACK_BODY = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "description": "An interaction (`payload`: its JSON) or a slash command's fields",
                "properties": {
                    "payload": {"type": "string"},
                    "command": {"type": "string"},
                    "text": {"type": "string"},
                    "team_id": {"type": "string"},
                    "user_id": {"type": "string"},
                    "channel_id": {"type": "string"},
                    "trigger_id": {"type": "string"},
                },
            }
        },
        "application/json": {
            "schema": {
                "type": "object",
                "description": "An Events API callback, or the url_verification handshake",
                "properties": {
                    "type": {"type": "string"},
                    "team_id": {"type": "string"},
                    "event": {"type": "object"},
                },
            }
        },
    },
}
SLACK = {
    "requestBody": SLACK_BODY,
    "parameters": [
        header("X-Slack-Signature", "v0=<hex HMAC-SHA256 of v0:{timestamp}:{body}> with the signing secret"),
        header("X-Slack-Request-Timestamp", "Unix seconds; at most 5 minutes old"),
    ],
}
SLACK_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Slack's ack: empty, a message for the person, or a modal's errors",
        "content": {"application/json": {"schema": {}}, "text/plain": {"schema": {"type": "string"}}},
    },
    **answers({}, 400, 401, 404, 413, 503),
}


def describe(app: FastAPI) -> None:
    """Serve the document with the request bodies' schemas in its components and the bearer
    scheme (the routes name them with `json_body`)."""

    def openapi() -> dict:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, routes=app.routes)
            components = document.setdefault("components", {})
            schemas = components.setdefault("schemas", {})
            for model in BODIES:
                schema = model.model_json_schema(ref_template=REF)
                schemas.update(schema.pop("$defs", {}))
                schemas[model.__name__] = schema
            components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi
