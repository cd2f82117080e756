"""Property tests of the receiver (issue 20), through the real app on the real dev server: a
genuine payload is always taken (2xx, never a 4xx for a limit we picked), a bad body is never a
5xx and its 4xx says why, and the digest an incident keeps stays bounded whatever the delivery.
Budgets: tests/fuzz.py (`make test` small, `make fuzz` long). Each failure a property found is a
plain regression test below it."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
import uuid
from urllib.parse import urlencode

import httpx
import pytest
import pytest_asyncio
import schemathesis
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from slack_bolt.request.internals import parse_body
from temporalio.service import RPCError

from activities import IntegrationSettings
from incident_client.intake import incident_id_for_group
from plan import AlertmanagerDelivery
from plan.alert_digest import GROUP_KEY, MAX_BYTES, TRACKED, digest
from plan.attestation import new_key_pair
from plan.buttons import target
from plan.heartbeat import pipeline_id
from plan.person_input import too_large
from sandbox.slack import DEFAULT_TOKEN, TEAM_ID, SlackFake
from sandbox.slack_user import sign
from tests.fuzz import budget
from tests.helpers import AUTH, TOKEN
from tests.payloads import DECLARATIONS, alert, alertmanager_payloads, delivery
from webhook.app import create_app
from webhook.slack import SlackAppSettings, guard
from webhook.slack.app import ASKING, AT_ONCE
from webhook.slack.guard import REPLAY
from webhook.slack.views import MODALS
from workflows import IncidentWorkflow

PD_SECRET = "pd-fuzz-secret-3c1d"
SLACK_SECRET = "fuzz-signing-secret-77aa"
ATTESTATION_KEY, _ = new_key_pair()
OUR_ACTIONS = [*AT_ONCE, *ASKING]
HEARTBEAT = "Watchdog"


@dataclasses.dataclass
class Receiving:
    http: httpx.AsyncClient  # on the receiver: PagerDuty webhooks and the Slack app on
    opened: set[str]  # workflows the examples opened: terminated at the end
    slack: SlackFake


def receiver_app(task_queue: str, connect, slack_url: str) -> FastAPI:
    """The receiver with every endpoint on: PagerDuty webhooks and the Slack app (our workspace
    only, the sandbox Slack's API)."""
    slack = SlackAppSettings(
        slack_signing_secret=SecretStr(SLACK_SECRET),
        slack_bot_token=SecretStr(DEFAULT_TOKEN),
        slack_api_url=slack_url,
        slack_team_id=TEAM_ID,
        irp_attestation_key=SecretStr(ATTESTATION_KEY),
    )
    secret = SecretStr(PD_SECRET)
    return create_app(
        token=SecretStr(TOKEN), task_queue=task_queue, connect=connect, pagerduty_secret=secret, slack=slack
    )


@pytest_asyncio.fixture
async def receiving(dev_env, run_worker, slack):
    """The receiver on the dev server with a worker whose outside systems are all unconfigured
    (each step is skipped, so an example costs one incident, not a bridge and five pages), shared
    by the test's examples. Every workflow an example opened is terminated at the end."""
    opened: set[str] = set()
    async with run_worker(dev_env.client, settings=IntegrationSettings()) as tq:

        async def connect():
            return dev_env.client

        app = receiver_app(tq, connect, slack.url)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://receiver"
        ) as http:
            yield Receiving(http, opened, slack)
        for workflow_id in opened:
            try:
                await dev_env.client.get_workflow_handle(workflow_id).terminate("fuzz example done")
            except RPCError:
                pass  # already closed, or never started


# --- (a) genuine Alertmanager payloads are always taken -------------------------------------------


@budget(40)
@given(data=st.data())
async def test_a_genuine_alertmanager_payload_is_always_taken(dev_env, receiving, data):
    """Any payload Alertmanager can send within the body limit: 202, and the incident it names
    is running and answers with the severity the receiver said (or no incident: a "resolved"
    group with none open, or only the dead man's switch)."""
    url = f"http://alertmanager-{uuid.uuid4().hex[:8]}:9093"
    payload = data.draw(alertmanager_payloads(external_url=url))
    payload["groupKey"] += f":{uuid.uuid4().hex}"  # every example its own group
    http, opened = receiving.http, receiving.opened
    answer = await http.post("/webhooks/alertmanager", json=payload, headers=AUTH)
    opened.update(
        pipeline_id(a["labels"]) for a in payload["alerts"] if a["labels"].get("alertname") == HEARTBEAT
    )
    assert answer.status_code == 202, answer.text[:2000]
    opened.update(i["incident_id"] for i in answer.json()["incidents"])
    real = [a for a in payload["alerts"] if a["labels"].get("alertname") != HEARTBEAT]
    incidents = answer.json()["incidents"]
    if any(a["status"] == "firing" for a in real):
        [incident] = incidents
        assert incident["incident_id"] == incident_id_for_group(payload["groupKey"])
        status = await dev_env.client.get_workflow_handle(incident["incident_id"]).query(
            IncidentWorkflow.status
        )
        assert status.severity == incident["severity"]
    else:
        assert incidents == []
    heartbeats = [a for a in payload["alerts"] if a["labels"].get("alertname") == HEARTBEAT]
    assert ("heartbeat" in answer.json()) == bool(heartbeats)


@budget(50)
@given(payload=alertmanager_payloads())
def test_the_digest_an_incident_keeps_is_bounded_whatever_the_delivery(payload):
    """Pure: the digest of any genuine delivery fits MAX_BYTES, so the incident takes it (its
    update validators refuse an input over plan/person_input.py MAX_UPDATE_BYTES), keeps the
    counts whole and the groupKey as shown, clipped."""
    delivery_ = AlertmanagerDelivery.model_validate(payload)
    kept = digest(delivery_)
    assert len(kept.model_dump_json().encode()) <= MAX_BYTES and too_large(kept) is None
    assert kept.firing + kept.resolved == len(payload["alerts"])
    key = payload["groupKey"]
    assert kept.groupKey == key or (
        len(kept.groupKey) < GROUP_KEY + 60 and kept.groupKey.startswith(key[:GROUP_KEY])
    )


def worst_delivery(kind: str) -> dict:
    """Deliveries built to fill every part of the digest (what the digest property found
    unbounded before issue 20: labels and annotations per sampled alert, distinct label sets)."""
    if kind == "many labels":
        a = alert()
        a["labels"] |= {f"label_{i}" * 20: "🙂" * 300 for i in range(2000)}
        a["annotations"] |= {f"note_{i}" * 20: "🙂" * 3000 for i in range(200)}
        return delivery(*({**a, "fingerprint": f"{i:016x}"} for i in range(10)))
    if kind == "distinct long label sets":
        alerts = []
        for i in range(2000):
            a = alert(alertname="🙂" * 300, severity="🙂" * 300, workaround="🙂" * 300, scope="🙂" * 300)
            a["labels"]["module"] = f"{i:05d}" + "🙂" * 295
            a["fingerprint"] = "🙂" * 64 + str(i)
            alerts.append(a)
        return delivery(*alerts)
    if kind == "overrides past the limit":  # 30,000 sets that each make a P0
        a = alert(scope="all")
        return delivery(*({**a, "labels": {**a["labels"], "module": f"m{i}"}} for i in range(30_000)))
    return everything_full()


def everything_full(notes: int = 5000) -> dict:
    """Every budget of the digest full at once, in control characters (6 bytes of JSON each):
    6,000 alerts with their own fingerprints and label sets, every kind of override, a first alert
    of many labels and annotations, a long summary, impact and groupKey. `notes`: characters of
    every alert's summary and impact (the digest keeps the first alerts' only)."""
    nul = "\x00"
    alerts = []
    for i in range(6000):
        labels = {k: str(i) + nul * 100 for k in ("module", "severity", "workaround", "alertname")}
        overrides = {"irp_severity": "P0P1P2P3x"[i % 5 * 2 : i % 5 * 2 + 2], "scope": ["all", "x"][i % 2]}
        labels |= overrides | {"data_at_risk": ["true", "x"][i // 2 % 2]}
        annotations = {"summary": nul * notes, "impact": nul * notes}
        alerts.append({**alert(), "labels": labels, "annotations": annotations, "fingerprint": f"{i:016x}"})
    alerts[0]["labels"] |= {nul * 200 + str(i): nul * 300 for i in range(100)}
    alerts[0]["annotations"] |= {nul * 200 + str(i): nul * 3000 for i in range(50)}
    alerts[0]["generatorURL"] = nul * 2000
    payload = delivery(*alerts)
    payload["groupKey"] = nul * 70_000
    payload["commonAnnotations"] = {"summary": nul * 5000, "impact": nul * 5000}
    payload["externalURL"] = "http://" + nul * 600
    return payload


@pytest.mark.parametrize(
    "kind", ["many labels", "distinct long label sets", "overrides past the limit", "everything full"]
)
def test_the_digest_of_a_worst_delivery_is_bounded(kind):
    """Under MAX_BYTES, so the incident takes it (too_large: its update validators' rule)."""
    kept = digest(AlertmanagerDelivery.model_validate(worst_delivery(kind)))
    assert len(kept.model_dump_json().encode()) <= MAX_BYTES and too_large(kept) is None
    assert kept.sample, "the first alert is always kept for people to read"
    if kind == "overrides past the limit":
        assert sum(s.count for s in kept.label_sets) > 1_000 and len(kept.label_sets) <= 1_000 + 20
    if kind == "everything full":
        assert len(kept.firing_since) == TRACKED and {"P0", "P1", "P2", "P3"} <= {
            s.labels.get("irp_severity") for s in kept.label_sets
        }


async def test_the_fullest_digest_is_taken_by_the_incident(dev_env, receiving):
    """Through the receiver: a delivery that fills every budget of the digest (15 MB of body) opens
    its incident, which takes the digest as its update's input (its validators refuse more than
    512 KiB: the receiver would have answered 500, and Alertmanager retried for ever)."""
    payload = everything_full(notes=20)
    payload["groupKey"] += uuid.uuid4().hex
    answer = await receiving.http.post("/webhooks/alertmanager", json=payload, headers=AUTH)
    assert answer.status_code == 202, answer.text[:2000]
    [incident] = answer.json()["incidents"]
    receiving.opened.add(incident["incident_id"])
    status = await dev_env.client.get_workflow_handle(incident["incident_id"]).query(IncidentWorkflow.status)
    assert incident["severity"] == status.severity == "P0" and status.deliveries == 1


# --- (b) bad bodies: never a 5xx, and a 4xx says why ----------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/octet-stream",
        "",
    ]
)


def mutated(genuine: dict, data: st.DataObject) -> bytes:
    """`genuine` with one field at any depth replaced by any JSON value, or deleted, as JSON."""
    return json.dumps(mutated_dict(genuine, data)).encode()


def mutated_dict(genuine: dict, data: st.DataObject) -> dict:
    """`genuine` with one field at any depth replaced by any JSON value, or deleted."""
    body = json.loads(json.dumps(genuine))
    node, path = body, []
    while isinstance(node, dict | list) and node:
        key = data.draw(st.sampled_from(list(node.keys()) if isinstance(node, dict) else range(len(node))))
        path.append(key)
        if data.draw(st.integers(0, 3)) == 0 or not isinstance(node[key], dict | list) or not node[key]:
            break  # mostly deeper: the leaves are where a wrong type hides
        node = node[key]
    if data.draw(st.booleans()):
        node[path[-1]] = data.draw(JSON_VALUES)
    elif isinstance(node, dict):
        del node[path[-1]]
    return body


def bad_bytes(genuine: dict, data: st.DataObject) -> bytes:
    """A body no sender should send: not JSON, truncated, deeply nested, not UTF-8, a lone
    surrogate, the wrong JSON, or a genuine body with one field wrong."""
    raw = json.dumps(genuine, ensure_ascii=False).encode()
    kind = data.draw(
        st.sampled_from(
            ["binary", "text", "json", "truncated", "nested", "not utf-8", "surrogate", "mutated"]
        )
    )
    if kind == "binary":
        return data.draw(st.binary(max_size=2000))
    if kind == "text":
        return data.draw(st.text(max_size=2000)).encode()
    if kind == "json":
        return json.dumps(data.draw(JSON_VALUES)).encode()
    if kind == "truncated":
        return raw[: data.draw(st.integers(0, len(raw) - 1))]
    if kind == "nested":
        depth = data.draw(st.integers(100, 200_000))
        opener, closer = data.draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        inner = opener * depth + "1" + closer * depth
        return (
            (raw[:-1] + b', "alerts": ' + inner.encode() + b"}")
            if data.draw(st.booleans())
            else inner.encode()
        )
    if kind == "not utf-8":
        at = data.draw(st.integers(0, len(raw)))
        return (
            raw[:at] + data.draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80"])) + raw[at:]
        )
    if kind == "surrogate":
        return raw.replace(b'"version"', b'"\\ud800version"', 1) if b'"version"' in raw else b'["\\udc00"]'
    return mutated(genuine, data)


@pytest.fixture(autouse=True)
def patient_replay_check(monkeypatch):
    """Slack wants an answer within 3 s, so the guard answers 503 when Temporal has not recorded a
    request within 2 (webhook/slack/guard.py). A loaded test machine is not Slack: here the guard
    waits, so every answer is about the body, and a 503 is a defect like any 5xx."""
    monkeypatch.setattr(guard, "ANSWER_WITHIN", 60.0)


def refused_with_a_reason(answer: httpx.Response) -> None:
    assert answer.status_code < 500, answer.text[:2000]
    if answer.status_code >= 400:
        assert answer.headers["content-type"].startswith("application/json"), answer.text[:500]
        error = answer.json().get("error")
        assert isinstance(error, str) and error.strip(), answer.text[:500]


def signed(body: bytes) -> dict:
    return {"X-PagerDuty-Signature": "v1=" + hmac.new(PD_SECRET.encode(), body, hashlib.sha256).hexdigest()}


def pd_event(data: st.DataObject) -> dict:
    """A PagerDuty Webhooks v3 event for an incident of ours that is not running."""
    return {
        "event": {
            "id": data.draw(st.text(min_size=1, max_size=30)),
            "event_type": data.draw(
                st.sampled_from(["incident.acknowledged", "incident.resolved", "pagey.ping"])
            ),
            "resource_type": "incident",
            "occurred_at": "2026-11-27T10:01:00.000Z",
            "agent": {"id": "PUSER01", "summary": data.draw(st.text(max_size=20)), "type": "user_reference"},
            "client": None,
            "data": {
                "id": "Q1PDINC",
                "type": "incident",
                "incident_key": f"inc-{uuid.uuid4().hex[:12]}:oncall",
            },
        }
    }


ENDPOINTS = ["/webhooks/alertmanager", "/incidents", "/webhooks/pagerduty"]


@budget(60)
@given(endpoint=st.sampled_from(ENDPOINTS), content_type=CONTENT_TYPES, data=st.data())
async def test_a_bad_body_is_never_a_5xx_and_its_4xx_says_why(receiving, endpoint, content_type, data):
    """On every endpoint that reads a body, authenticated (bearer; PagerDuty's signature computed
    over the bad body itself, so the body is what is bad)."""
    genuine = {
        "/webhooks/alertmanager": lambda: delivery(alert(module="fees")),
        "/incidents": lambda: data.draw(DECLARATIONS),
        "/webhooks/pagerduty": lambda: pd_event(data),
    }[endpoint]()
    body = bad_bytes(genuine, data)
    headers = signed(body) if endpoint == "/webhooks/pagerduty" else dict(AUTH)
    headers |= {"Content-Type": content_type} if content_type else {}
    http, opened = receiving.http, receiving.opened
    answer = await http.post(endpoint, content=body, headers=headers)
    if answer.status_code < 300 and endpoint != "/webhooks/pagerduty":
        opened.update(i["incident_id"] for i in answer.json()["incidents"])
    refused_with_a_reason(answer)


@budget(30)
@given(declaration=DECLARATIONS)
async def test_a_genuine_declaration_is_always_taken(dev_env, receiving, declaration):
    """Any declaration a person or an automation (Zendesk) sends: 201, long texts cut visibly."""
    http, opened = receiving.http, receiving.opened
    answer = await http.post("/incidents", json=declaration, headers=AUTH)
    assert answer.status_code == 201, answer.text[:2000]
    opened.update(i["incident_id"] for i in answer.json()["incidents"])
    [incident] = answer.json()["incidents"]
    status = await dev_env.client.get_workflow_handle(incident["incident_id"]).query(IncidentWorkflow.status)
    assert status.summary.startswith(declaration["summary"][:500])


# --- (b) /slack/events: signed as Slack signs, the body is what is bad -----------------------------


def slack_bodies(data: st.DataObject, response_url: str) -> tuple[str, dict]:
    """(kind, body) of a genuine request Slack sends this app (sandbox/slack_user.py has the
    shapes): a button, a modal submitted, `/incident`, a reaction, the URL handshake."""
    incident = f"inc-{uuid.uuid4().hex[:12]}"  # not running: the incident refuses, nothing else
    team, user = (
        {"id": TEAM_ID, "domain": "preskool"},
        {"id": "U0ONCALL01", "username": "ben", "team_id": TEAM_ID},
    )
    envelope = {"team": team, "user": user, "api_app_id": "A0SANDBOX", "token": "t", "trigger_id": "1.2.3abc"}
    kind = data.draw(
        st.sampled_from(["block_actions", "view_submission", "command", "event", "url_verification"])
    )
    if kind == "block_actions":
        action = data.draw(st.sampled_from(OUR_ACTIONS))
        return kind, {
            **envelope,
            "type": "block_actions",
            "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0BRIDGE01"},
            "channel": {"id": "C0BRIDGE01", "name": "inc-bridge"},
            "response_url": response_url,
            "state": {"values": {}},
            "actions": [{"action_id": action, "block_id": "b", "type": "button", "value": target(incident)}],
        }
    if kind == "view_submission":
        callback = data.draw(st.sampled_from(sorted(MODALS)))
        values = {
            f.name: {f.name: {"type": "plain_text_input", "value": data.draw(st.text(max_size=50))}}
            for f in MODALS[callback].fields
        }
        context = {"incident": incident, "channel": "C0BRIDGE01", "ts": "1700000000.000100"}
        view = {
            "id": "V0FUZZ",
            "type": "modal",
            "callback_id": callback,
            "private_metadata": json.dumps(context),
        }
        return kind, {**envelope, "type": "view_submission", "view": {**view, "state": {"values": values}}}
    if kind == "command":
        text = data.draw(
            st.one_of(st.sampled_from(["help", "ack", "status", "role ic <@U0IC000001>"]), st.text())
        )
        return kind, {
            "token": "t",
            "team_id": TEAM_ID,
            "channel_id": "C0BRIDGE01",
            "user_id": "U0ONCALL01",
            "command": "/incident",
            "text": text,
            "trigger_id": "1.2.3abc",
            "response_url": response_url,
        }
    if kind == "event":
        event = {
            "type": data.draw(st.sampled_from(["reaction_added", "reaction_removed"])),
            "user": "U0ONCALL01",
            "reaction": data.draw(st.sampled_from(["pushpin", "🙂", ""])),
            "item": {"type": "message", "channel": "C0BRIDGE01", "ts": "1700000000.000100"},
            "event_ts": "1700000000.000200",
        }
        return kind, {
            "token": "t",
            "team_id": TEAM_ID,
            "type": "event_callback",
            "event": event,
            "event_id": "Ev1",
        }
    return kind, {"token": "t", "challenge": data.draw(st.text(max_size=50)), "type": "url_verification"}


def slack_encoded(kind: str, body: dict) -> tuple[bytes, str]:
    """The body as Slack sends it: interactions form-encoded as `payload=<json>`, slash commands
    as form fields, Events API callbacks as JSON."""
    if kind in ("block_actions", "view_submission"):
        return urlencode({"payload": json.dumps(body)}).encode(), "application/x-www-form-urlencoded"
    if kind == "command":
        fields = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
        return urlencode(fields).encode(), "application/x-www-form-urlencoded"
    return json.dumps(body).encode(), "application/json"


def targets_a_listener(body: bytes, content_type: str) -> bool:
    """Whether Bolt would route `body` to one of the app's listeners (so a 404 "unhandled
    request" there means a listener failed, not that nobody listens)."""
    try:
        parsed = parse_body(body.decode(), content_type)
    except Exception:
        return False
    if not isinstance(parsed, dict):
        return False
    actions = parsed.get("actions")
    if parsed.get("type") == "block_actions" and isinstance(actions, list) and actions:
        return isinstance(actions[0], dict) and actions[0].get("action_id") in OUR_ACTIONS
    if parsed.get("type") == "view_submission" and isinstance(parsed.get("view"), dict):
        return parsed["view"].get("callback_id") in MODALS
    if parsed.get("type") == "event_callback" and isinstance(parsed.get("event"), dict):
        return parsed["event"].get("type") in ("reaction_added", "reaction_removed")
    return parsed.get("command") == "/incident"


@budget(60)
@given(data=st.data(), genuine=st.booleans(), content_type=st.one_of(st.none(), CONTENT_TYPES))
async def test_a_bad_slack_request_is_never_a_5xx_and_its_4xx_says_why(
    receiving, data, genuine, content_type
):
    """Correctly signed, fresh and from our workspace, so the body is what is bad (or, `genuine`,
    a request Slack does send). Never a 5xx; a 4xx carries the reason; a genuine request is
    answered 200; a request for one of the app's listeners is never Bolt's "unhandled request"
    (which is what Bolt answered, three seconds late, when a listener failed after its ack)."""
    http, slack = receiving.http, receiving.slack
    kind, template = slack_bodies(data, f"{slack.root_url}/response/none")
    body, sent_type = slack_encoded(kind, template)
    if not genuine:
        body = (
            bad_bytes(template, data)
            if data.draw(st.booleans())
            else slack_encoded(kind, mutated_dict(template, data))[0]
        )
        sent_type = content_type or sent_type
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": sent_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": sign(SLACK_SECRET, stamp, body),
    }
    answer = await http.post("/slack/events", content=body, headers=headers)
    refused_with_a_reason(answer)
    if genuine and REPLAY not in answer.text:  # Hypothesis may send one twice
        assert answer.status_code == 200, answer.text[:500]
    if answer.status_code == 404:
        assert not targets_a_listener(body, sent_type), f"a listener failed: {body[:300]!r}"


# --- (c) Schemathesis against the receiver's own OpenAPI document ------------------------------------


async def _no_temporal():
    raise RuntimeError("only the OpenAPI document is served here")


# The document as the receiver serves it (/openapi.json, read through ASGI); requests go to the
# test's own receiver on the session's event loop (the dev server's client lives there).
SCHEMA = schemathesis.openapi.from_asgi(
    "/openapi.json", receiver_app("unused", _no_temporal, "http://127.0.0.1:9/api/")
)
CASES = SCHEMA.as_strategy(GenerationMode.POSITIVE) | SCHEMA.as_strategy(GenerationMode.NEGATIVE)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# What a request valid by the document may still get, by design: a reused Idempotency-Key with
# another body (409); from Slack, a body no listener takes (Bolt's 404) or that is not one of
# Slack's shapes (400: the document cannot say "a JSON object inside a form field").
VALID_REFUSALS = {"/incidents": {409}, "/slack/events": {400, 401, 404}}


def as_sent(case) -> tuple[str, str, dict, bytes, dict]:
    """(method, url, query, body bytes, headers) of a Schemathesis case, authenticated as each
    endpoint wants: the bearer token, or a signature computed over the body itself."""
    kwargs = case.as_transport_kwargs(base_url="http://receiver")
    headers = {k: v for k, v in kwargs["headers"].items() if k.lower() != "authorization"}
    for fields in (kwargs.get("json"), kwargs.get("data")):
        if case.path == "/slack/events" and isinstance(fields, dict):
            fields["team_id"] = TEAM_ID  # from our workspace: the body is what varies
    if "json" in kwargs:
        body = json.dumps(kwargs["json"]).encode()
    else:
        data = kwargs.get("data") or b""
        body = urlencode(data, doseq=True).encode() if isinstance(data, dict) else data
        body = body.encode() if isinstance(body, str) else body
    if case.path in ("/webhooks/alertmanager", "/incidents"):
        headers |= AUTH
    elif case.path == "/webhooks/pagerduty":
        headers |= signed(body)
    elif case.path == "/slack/events":
        stamp = str(int(time.time()))
        headers |= {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sign(SLACK_SECRET, stamp, body)}
    return kwargs["method"], kwargs["url"], kwargs.get("params") or {}, body, headers


@budget(50)
@given(case=CASES)
async def test_schemathesis_every_answer_conforms_and_none_is_a_5xx(receiving, case):
    """Schemathesis generates requests from the receiver's OpenAPI document, valid ones and
    invalid ones (authenticated: the body is what varies). No answer is a 5xx, each conforms to
    the document (status code, content type, headers, body schema), and a request the document
    calls valid is taken (2xx), but for the refusals VALID_REFUSALS names."""
    method, url, query, body, headers = as_sent(case)
    answer = await receiving.http.request(method, url, params=query, content=body, headers=headers)
    if answer.status_code < 300 and case.path in ("/webhooks/alertmanager", "/incidents"):
        receiving.opened.update(i["incident_id"] for i in answer.json()["incidents"])
    case.validate_response(answer, checks=CHECKS)
    if case.meta.generation.mode.is_positive and answer.status_code >= 300:
        assert answer.status_code in VALID_REFUSALS.get(case.path, set()), answer.text[:1000]


# --- what the properties found: each a plain regression test ---------------------------------------

DEEP = b"[" * 5000 + b"]" * 5000


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "body, reason",
    [
        (DEEP, "body is not valid JSON: recursion limit exceeded"),  # json.loads: RecursionError, a 500
        (b'{"version": "4", "groupKey": "\\ud800"}', "body is not valid JSON"),  # a lone surrogate escape
        (b'{"summary": "\xed\xa0\x80"}', "body is not valid JSON"),  # a surrogate encoded: not UTF-8
    ],
    ids=["nested 5,000 deep", "lone surrogate escape", "encoded surrogate"],
)
async def test_found_bodies_that_were_a_500_are_a_422_with_the_reason(receiving, endpoint, body, reason):
    http = receiving.http
    headers = signed(body) if endpoint == "/webhooks/pagerduty" else AUTH
    answer = await http.post(endpoint, content=body, headers=headers)
    assert answer.status_code == 422 and reason in answer.json()["error"], answer.text


@pytest.mark.parametrize("field, value", [("id", []), ("id", 5), ("incident_key", {"k": 1})])
async def test_a_signed_pagerduty_event_of_the_wrong_shape_is_a_422(receiving, field, value):
    """Found by the bad-body property: an event for one of our incidents whose `data.id` is not a
    string failed building the signal (a 500, which PagerDuty retries). The parts of `data` the
    receiver reads are typed now, so a non-string incident_key is refused with its reason too."""
    event = {
        "id": "EVT-1",
        "event_type": "incident.acknowledged",
        "data": {"incident_key": "inc-0123456789ab:ic"},
    }
    event["data"][field] = value
    body = json.dumps({"event": event}).encode()
    answer = await receiving.http.post("/webhooks/pagerduty", content=body, headers=signed(body))
    assert answer.status_code == 422 and f"{field}" in json.dumps(answer.json()["details"]), answer.text


def slack_signed(body: bytes, content_type: str) -> dict:
    stamp = str(int(time.time()))
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": sign(SLACK_SECRET, stamp, body),
    }


FORM, JSON = "application/x-www-form-urlencoded", "application/json"
VIEW = {"id": "V1", "callback_id": "irp.update", "private_metadata": '{"incident": "inc-000000000000"}'}
INTERACTION = {"team": {"id": TEAM_ID}, "user": {"id": "U0ONCALL01"}, "trigger_id": "1.2.3abc"}


@pytest.mark.parametrize(
    "body, content_type, status, reason",
    [
        (b"payload=%5B1%5D", FORM, 401, "naming none"),  # the team check read a list: 500
        (b'payload={"team": "x"}', FORM, 401, "another Slack workspace"),  # team not an object: 500
        (b"\x80", FORM, 401, "not UTF-8"),  # slack_sdk's check decoded the body: 500
        (
            json.dumps({"team_id": TEAM_ID, "event": None}).encode(),
            JSON,
            400,
            "event is null",
        ),  # Schemathesis
        (
            json.dumps({"team_id": TEAM_ID, "type": "event_callback", "event": "x"}).encode(),
            JSON,
            400,
            "event",
        ),  # Bolt's authorization read event.type: 500
        (
            ("payload=" + json.dumps({**INTERACTION, "type": "view_submission", "view": VIEW})).encode(),
            FORM,
            400,
            "view.type",
        ),  # Bolt's matcher read view["type"]: 500
        (
            b"payload="
            + json.dumps(
                {**INTERACTION, "type": "block_actions", "actions": [{"action_id": "irp.ack", "value": "x"}]}
            ).encode(),
            FORM,
            400,
            "the button's value is not JSON",
        ),  # the listener failed after its ack: Bolt's 404 "unhandled request", three seconds later
    ],
    ids=[
        "payload a list",
        "team a string",
        "not utf-8",
        "event null",
        "event a string",
        "view without type",
        "value not ours",
    ],
)
async def test_found_slack_requests_are_refused_with_the_reason(
    receiving, body, content_type, status, reason
):
    http = receiving.http
    answer = await http.post("/slack/events", content=body, headers=slack_signed(body, content_type))
    assert answer.status_code == status and reason in answer.json()["error"], answer.text


async def test_a_button_whose_modal_cannot_open_is_still_answered_200(receiving):
    """Found by the Slack property: Post update on a genuine message, but its trigger_id has gone
    stale (Slack's expire in 3 s), so views.open fails after the ack. Bolt took the ack back and
    answered 404 "unhandled request" three seconds later; the ack now stands (the failure is logged)."""
    http = receiving.http
    action = {"action_id": "irp.update", "value": target("inc-000000000000"), "type": "button"}
    payload = {**INTERACTION, "type": "block_actions", "actions": [action], "container": {"channel_id": "C1"}}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    answer = await http.post("/slack/events", content=body, headers=slack_signed(body, FORM))
    assert answer.status_code == 200, answer.text
