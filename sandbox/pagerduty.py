"""PagerDuty's Events API v2 over HTTPS, signed by a throwaway CA, for `pagerduty.EventsApiV2Client`;
and, on the same server, the REST API v2's on-call look-ups (sandbox/pagerduty_rest.py, `.rest`).

Requests are checked against the request schemas of the published OpenAPI 3.0 spec
(PagerDuty/api-schema, reference/events-v2/openapiv3.json), copied below without their prose so
the sandbox runs anywhere; the contract test compares them with the spec file. Answers use the
spec's Success (202) and Error shapes. Alerts keep their state per (routing key, dedup key): a
repeated trigger updates the open alert instead of opening another, which is what makes a
retried trigger safe."""

from __future__ import annotations

import json
import os
import ssl
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import trustme
from aiohttp import web
from jsonschema import Draft4Validator

from sandbox.base import FakeServer, server_tls, write_ca_pem
from sandbox.pagerduty_rest import OnCallBook

_LINKS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"href": {"type": "string", "format": "url"}, "text": {"type": "string"}},
        "required": ["href"],
    },
}
_IMAGES = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "src": {"type": "string", "format": "url"},
            "href": {"type": "string", "format": "url"},
            "alt": {"type": "string"},
        },
        "required": ["src"],
    },
}
EVENT_SCHEMA = {  # paths./enqueue.post.requestBody, $refs inlined
    "type": "object",
    "properties": {
        "payload": {
            "type": "object",
            "properties": {
                "summary": {"type": "string"},
                "timestamp": {"type": "string", "format": "date-time"},
                "severity": {"enum": ["critical", "warning", "error", "info"]},
                "source": {"type": "string"},
                "component": {"type": "string"},
                "group": {"type": "string"},
                "class": {"type": "string"},
                "custom_details": {"type": "object"},
            },
            "required": ["summary", "severity", "source"],
        },
        "routing_key": {"type": "string"},
        "event_action": {"enum": ["trigger", "acknowledge", "resolve"]},
        "dedup_key": {"type": "string"},
        "client": {"type": "string"},
        "client_url": {"type": "string", "format": "url"},
        "links": _LINKS,
        "images": _IMAGES,
    },
    "required": ["routing_key", "event_action"],
}
CHANGE_EVENT_SCHEMA = {  # paths./change/enqueue.post.requestBody, $refs inlined
    "type": "object",
    "properties": {
        "payload": {
            "type": "object",
            "properties": {
                "summary": {"type": "string"},
                "timestamp": {"type": "string", "format": "date-time"},
                "source": {"type": "string"},
                "custom_details": {"type": "object"},
            },
            "required": ["summary"],
        },
        "routing_key": {"type": "string"},
        "links": _LINKS,
        "images": _IMAGES,
    },
    "required": ["payload", "routing_key"],
}
_VALIDATORS = {
    "/v2/enqueue": Draft4Validator(EVENT_SCHEMA),
    "/v2/change/enqueue": Draft4Validator(CHANGE_EVENT_SCHEMA),
}
MAX_DEDUP_KEY = 255
# Events API v2's documented limits: the whole event 512 KB, the payload summary 1,024 characters.
MAX_EVENT_BYTES = 512 * 1024
MAX_SUMMARY = 1024


@dataclass
class Alert:
    routing_key: str
    dedup_key: str
    state: str  # triggered | acknowledged | resolved
    triggers: int  # trigger events received for this alert
    payload: dict = field(default_factory=dict)  # of the latest trigger
    history: list[str] = field(default_factory=list)  # event actions, in order


def _invalid(errors: list[str]) -> tuple[int, dict, dict]:
    return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}, {}


class PagerDutyFake(FakeServer):
    def __init__(
        self,
        *,
        ca: trustme.CA | None = None,
        routing_keys: set[str] | None = None,
        api_tokens: set[str] | None = None,
        **kw,
    ):
        """`ca` signs the server's certificate (a new one by default; share one to give every fake
        the same trust bundle). `routing_keys`: the integration keys that exist; None accepts any.
        `api_tokens`: the REST API keys that exist; None accepts any."""
        self.ca = ca or trustme.CA()
        super().__init__(ssl_context=server_tls(self.ca), **kw)
        self.ca_pem_path = write_ca_pem(self.ca)
        self.routing_keys = routing_keys
        self.events: list[dict] = []  # accepted events, in order
        self.change_events: list[dict] = []
        self.alerts: dict[tuple[str, str], Alert] = {}
        self.rest = OnCallBook(api_tokens)  # who is on call: rest.add_user, rest.put_on_call

    # helpers for tests and the demo ----------------------------------------------------------

    def client_ssl_context(self) -> ssl.SSLContext:
        """What a client needs to trust this server."""
        return ssl.create_default_context(cafile=self.ca_pem_path)

    def triggers(self, dedup_key: str | None = None) -> list[dict]:
        return [
            e
            for e in self.events
            if e["event_action"] == "trigger" and (dedup_key is None or e["dedup_key"] == dedup_key)
        ]

    def open_alerts(self) -> list[Alert]:
        return [a for a in self.alerts.values() if a.state != "resolved"]

    def reset(self) -> None:
        super().reset()
        self.events.clear()
        self.change_events.clear()
        self.alerts.clear()
        self.rest.reset()

    async def stop(self) -> None:
        await super().stop()
        if os.path.exists(self.ca_pem_path):
            os.unlink(self.ca_pem_path)

    def snapshot(self) -> dict:
        return {**super().snapshot(), "alerts": [asdict(a) for a in self.alerts.values()]}

    # wire ------------------------------------------------------------------------------------

    async def parse(self, request: web.Request, raw: bytes) -> Any:
        if request.method == "GET":  # the REST look-ups: their query, every value of each parameter
            return {"query": {k: request.query.getall(k) for k in request.query}}
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def fault_body(self, status: int) -> Any:
        # The spec's Error shape for 5XX; it gives no body for 429, so the same shape is used.
        if status == 429:
            return {"status": "throttled", "message": "Too many requests; retry after some time."}
        return {"status": "Internal Server Error", "message": "The server could not process the event."}

    async def handle(self, request: web.Request, body: Any) -> tuple[int, Any, dict]:
        if self.rest.serves(request):
            return self.rest.handle(request)
        validator = _VALIDATORS.get(request.path)
        if validator is None or request.method != "POST":
            return (
                404,
                {"status": "Not Found", "message": f"No route for {request.method} {request.path}"},
                {},
            )
        if not isinstance(body, dict):
            return (
                400,
                {
                    "status": "Unrecognized object",
                    "message": "Event object format is unrecognized",
                    "errors": ["JSON parse error"],
                },
                {},
            )
        errors = [_describe(e) for e in validator.iter_errors(body)]
        if errors:
            return _invalid(errors)
        if self.routing_keys is not None and body["routing_key"] not in self.routing_keys:
            return _invalid(["Invalid routing key"])
        if request.path == "/v2/change/enqueue":
            self.change_events.append(body)
            return 202, {"status": "success", "message": "Change event processed"}, {}
        return self._event(body)

    def _event(self, event: dict) -> tuple[int, Any, dict]:
        action = event["event_action"]
        # Rules the spec states only in prose (and the API enforces).
        if action == "trigger" and "payload" not in event:
            return _invalid(["'payload' is missing or blank"])
        if action != "trigger" and not event.get("dedup_key"):
            return _invalid(["'dedup_key' is missing or blank"])
        if len(event.get("dedup_key", "")) > MAX_DEDUP_KEY:
            return _invalid([f"'dedup_key' is longer than {MAX_DEDUP_KEY} characters"])
        if len(json.dumps(event).encode()) > MAX_EVENT_BYTES:
            return _invalid([f"Event object is larger than {MAX_EVENT_BYTES // 1024} KB"])
        if len((event.get("payload") or {}).get("summary", "")) > MAX_SUMMARY:
            return _invalid([f"'payload.summary' is longer than {MAX_SUMMARY} characters"])
        event = {**event, "dedup_key": event.get("dedup_key") or uuid.uuid4().hex}
        self.events.append(event)
        key = (event["routing_key"], event["dedup_key"])
        alert = self.alerts.get(key)
        if action == "trigger":
            if alert is None or alert.state == "resolved":  # a resolved alert's key opens a new one
                alert = self.alerts[key] = Alert(*key, state="triggered", triggers=0)
            alert.triggers += 1
            alert.payload = event["payload"]
            alert.history.append(action)
        elif alert is not None and alert.state != "resolved":  # else: accepted, changes nothing
            if action == "resolve" or alert.state == "triggered":
                alert.state = "resolved" if action == "resolve" else "acknowledged"
            alert.history.append(action)
        return 202, {"status": "success", "message": "Event processed", "dedup_key": event["dedup_key"]}, {}


def _describe(error) -> str:
    where = ".".join(str(p) for p in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


__all__ = ["Alert", "PagerDutyFake", "EVENT_SCHEMA", "CHANGE_EVENT_SCHEMA"]
