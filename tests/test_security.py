"""Security on the real dev server: payloads encrypted at rest (and keys rotated mid-incident),
the codec server the Web UI decodes through, the Temporal connection's TLS and API key settings,
and a full incident with every credential set to a distinctive value, scanned for leaks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import subprocess
import sys
import uuid
from contextlib import asynccontextmanager
from types import SimpleNamespace

import httpx
import pytest
import trustme
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import TLSConfig
from temporalio.worker import Worker

from activities import IntegrationSettings, build_activities
from cli.keycheck import payloads_in
from connection.codec import (
    ENCODING,
    KEY_ID,
    EncryptionCodec,
    PayloadDecryptError,
    PayloadKeyError,
    PayloadKeySettings,
    generate_key,
    key_id,
)
from connection.codec_server import CodecServerSettings
from connection.codec_server import create_app as create_codec_app
from connection.codec_server import main as codec_server_main
from connection.temporal import TemporalConfigError, TemporalSettings, connect
from incident_client.intake import deliver_alerts
from plan import AlertmanagerDelivery, Policy, Role, load_policy
from plan.models import OnCallSource
from sandbox.jira import JiraFake
from sandbox.pagerduty import PagerDutyFake
from sandbox.slack import SlackFake
from sandbox.smtp import SmtpSandbox
from sandbox.statuspage import StatuspageFake
from tests.helpers import eventually, finish, status_when
from tests.payloads import alert, delivery
from webhook.app import create_app as create_webhook_app
from worker import WORKFLOWS, build_worker
from workflows import IncidentWorkflow

IC = "asha.rao@preskool.com"
PRIMARY = "ben.okafor@preskool.com"
COMMS = "elif.demir@preskool.com"
UI = "http://localhost:8233"


# --- helpers ------------------------------------------------------------------------------------


def settings_for(dev_env, **values) -> TemporalSettings:
    """TemporalSettings for the dev server, every security setting explicit (the environment of
    whoever runs the tests never leaks in)."""
    defaults = dict(
        temporal_address=dev_env.client.service_client.config.target_host,
        temporal_tls=None,
        temporal_tls_cert=None,
        temporal_tls_key=None,
        temporal_tls_ca=None,
        temporal_tls_server_name=None,
        temporal_api_key=None,
        irp_payload_key=None,
        irp_payload_old_keys=None,
    )
    return TemporalSettings(**(defaults | values))


async def idle(handle) -> None:
    """No activity in flight: a worker stopped now cuts none off (one cut off waits out its timeout)."""

    async def no_pending():
        return not (await handle.describe()).raw_description.pending_activities

    await eventually(no_pending)


async def history_of(client: Client, workflow_id: str):
    return await client.get_workflow_handle(workflow_id).fetch_history()


def unsealed_kind(payload) -> str:
    """The payloads the SDK's core writes itself, without the codec: a local activity marker's
    bookkeeping (its type and sequence, never its result) and a patch marker's version name."""
    data = json.loads(payload.data)
    if "activity_type" in data:
        assert set(data) <= {
            "seq",
            "attempt",
            "activity_id",
            "activity_type",
            "complete_time",
            "backoff",
            "original_schedule_time",
            "activation_index",
        }, data
        return f"local activity {data['activity_type']}"
    return f"patch {data['id']}"


def raw_bytes(history) -> bytes:
    return b"".join(e.SerializeToString() for e in history.events)


async def decoded_text(history, codec: EncryptionCodec) -> str:
    """The history's payloads opened with the codec, as text: what someone holding the key reads."""
    clear = await codec.decode([p for e in history.events for p in payloads_in(e)])
    return "\n".join(p.data.decode("utf-8", "replace") for p in clear)


def opened(status) -> bool:
    return any(e.text.startswith("posted the triage-checklist") for e in status.timeline)


async def start_incident(client: Client, tq: str, policy, summary: str, **labels):
    """Opened the way the webhook and the CLI open one: update-with-start, with memo and summary."""
    payload = delivery(alert(summary=summary, **labels), group=f"Security{uuid.uuid4().hex[:10]}")
    receipt = await deliver_alerts(client, tq, AlertmanagerDelivery.model_validate(payload))
    return client.get_workflow_handle(receipt.incident_id), receipt


# --- the codec, in process ----------------------------------------------------------------------


async def test_codec_round_trip_key_ids_and_plain_payloads_pass_through():
    codec = EncryptionCodec.from_text(generate_key())
    plain = pydantic_data_converter.payload_converter.to_payloads([{"summary": "Fee collection failing"}])[0]
    sealed = (await codec.encode([plain]))[0]
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == codec.key_id.encode()
    assert b"Fee collection" not in sealed.SerializeToString()
    assert (await codec.decode([sealed]))[0] == plain
    assert (await codec.decode([plain]))[0] == plain  # written before encryption was on: unchanged
    assert (await codec.encode([plain]))[0].data != sealed.data  # a fresh nonce every time

    tampered = Payload()
    tampered.CopyFrom(sealed)
    tampered.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(PayloadDecryptError, match="fails authentication"):
        await codec.decode([tampered])


async def test_key_rotation_old_keys_still_decrypt():
    old_key, new_key = generate_key(), generate_key()
    old = EncryptionCodec.from_text(old_key)
    rotated = EncryptionCodec.from_text(new_key, f" {old_key} , ")
    payload = pydantic_data_converter.payload_converter.to_payloads(["incident inc-1"])[0]
    by_old = (await old.encode([payload]))[0]
    by_new = (await rotated.encode([payload]))[0]
    assert rotated.key_ids == [key_id(base64.b64decode(new_key)), old.key_id]
    assert by_new.metadata[KEY_ID] == rotated.key_id.encode() != by_old.metadata[KEY_ID]
    assert (await rotated.decode([by_old, by_new])) == [payload, payload]
    with pytest.raises(PayloadDecryptError) as refused:  # the old codec alone cannot read the new key's
        await old.decode([by_new])
    assert rotated.key_id in str(refused.value) and "IRP_PAYLOAD_OLD_KEYS" in str(refused.value)
    assert new_key not in str(refused.value) and old_key not in repr(rotated) and new_key not in repr(rotated)


@pytest.mark.parametrize(
    "bad, reason",
    [
        ("not a key!", "not base64"),
        (base64.b64encode(os.urandom(16)).decode(), "decodes to 16 bytes"),
        ("", None),
    ],
    ids=["not-base64", "16-bytes", "empty"],  # the same ids in every process (pytest -n)
)
def test_a_bad_key_is_refused_clearly_without_echoing_it(bad, reason):
    settings = PayloadKeySettings(irp_payload_key=bad, irp_payload_old_keys=None)
    if reason is None:
        assert settings.payload_codec() is None  # empty: encryption off
        return
    with pytest.raises(PayloadKeyError, match=reason) as refused:
        settings.payload_codec()
    assert bad not in str(refused.value) and "keygen" in str(refused.value)
    with pytest.raises(TemporalConfigError, match=reason):  # what connect() raises, before any network
        TemporalSettings(irp_payload_key=bad).connect_options()


def test_old_keys_need_a_current_key_and_each_is_checked():
    with pytest.raises(PayloadKeyError, match=r"IRP_PAYLOAD_OLD_KEYS \(entry 2\)"):
        PayloadKeySettings(
            irp_payload_key=generate_key(), irp_payload_old_keys=f"{generate_key()},oops"
        ).payload_codec()
    with pytest.raises(PayloadKeyError, match="without IRP_PAYLOAD_KEY"):
        PayloadKeySettings(irp_payload_key=None, irp_payload_old_keys=generate_key()).payload_codec()


def test_keygen_prints_a_new_key():
    def run():
        return subprocess.run(
            [sys.executable, "-m", "connection.codec", "keygen"],
            capture_output=True,
            text=True,
            check=True,
            cwd=os.path.dirname(os.path.dirname(__file__)),
        ).stdout.strip()

    first, second = run(), run()
    assert first != second and len(base64.b64decode(first, validate=True)) == 32
    assert EncryptionCodec.from_text(first).key_id == key_id(base64.b64decode(first))
    ids = subprocess.run(
        [sys.executable, "-m", "connection.codec", "key-id"],
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.dirname(__file__)),
        env=os.environ | {"IRP_PAYLOAD_KEY": first, "IRP_PAYLOAD_OLD_KEYS": second},
    ).stdout
    assert ids.split() == [
        "encrypts",
        "with",
        key_id(base64.b64decode(first)),
        "decrypts",
        key_id(base64.b64decode(second)),
    ]
    assert first not in ids and second not in ids


# --- encryption at rest, end to end on the dev server -------------------------------------------


async def test_encrypted_incident_end_to_end_history_holds_no_plaintext(
    dev_env, policy, integrations, prometheus, slack, smtp
):
    summary = f"Fee portal down for every school {uuid.uuid4().hex[:8]}"
    settings = settings_for(dev_env, irp_payload_key=generate_key())
    codec = settings.payload_codec()
    client = await connect(settings)
    prometheus.healthy(policy)
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, tq, policy, integrations):
        handle, receipt = await start_incident(client, tq, policy, summary, scope="all")
        assert receipt.created and receipt.severity == "P0"
        await status_when(handle, opened)
        await handle.signal("acknowledge", {"by": PRIMARY})
        await handle.signal(
            "declare_blast_radius", {"scope": "tenant", "tenants": ["school-42"], "by": PRIMARY}
        )
        await handle.signal("mitigate", {"by": PRIMARY, "summary": "Rolled back"})
        await handle.signal(
            "resolve",
            {
                "by": IC,
                "summary": "Rolled back the 09:55 deploy",
                "root_cause": "A deploy changed session handling",
            },
        )
        await status_when(handle, lambda s: s.phase == "REVIEW" and len(s.tickets) >= 3)
        # An update's refusal travels back as an (encrypted) failure and still reads clearly with the key.
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                IncidentWorkflow.approve_action, {"request_id": "nope-9", "by": COMMS}
            )
        assert "nope-9" in str(refused.value.cause.message)
        await handle.execute_update(
            IncidentWorkflow.approve_action, {"request_id": "customer-email", "by": COMMS}
        )
        status = await status_when(
            handle, lambda s: any(d.key == "customer_email" and d.state == "done" for d in s.deliverables)
        )
        description = await handle.describe()
        with pytest.raises(KeyError, match="Unknown payload encoding binary/encrypted"):
            await dev_env.client.get_workflow_handle(handle.id).query(
                IncidentWorkflow.status
            )  # no key: no answer
        await finish(handle)

    # With the codec everything reads as before: status, memo, the UI's summary.
    assert status.summary == summary and status.acknowledged_by == PRIMARY
    assert await description.memo_value("summary") == summary
    assert summary in (await description.static_summary() or "")
    assert any(
        summary in m["text"] for m in slack.messages(status.channel)
    )  # the outside world still gets it
    assert len([m for m in smtp.messages if m.headers["Subject"].startswith("[UPDATE]")]) == 2

    # Without it, the server holds only ciphertext: no summary, no roster email, no school's address.
    history = await history_of(dev_env.client, handle.id)
    payloads = [p for e in history.events for p in payloads_in(e)]
    assert len(payloads) > 50
    sealed = [p for p in payloads if p.metadata["encoding"] == ENCODING]
    assert {p.metadata[KEY_ID] for p in sealed} == {codec.key_id.encode()}
    unsealed = [unsealed_kind(p) for p in payloads if p not in sealed]
    assert unsealed.count("local activity current_policy") == 1, unsealed
    others = [kind for kind in unsealed if kind != "local activity current_policy"]
    assert all(kind.startswith("patch ") for kind in others), unsealed  # version names only (none in v2.0)
    raw = raw_bytes(history) + history.to_json().encode()
    for plaintext in (
        summary,
        IC,
        PRIMARY,
        COMMS,
        "@preskool.com",
        "principal@school-42.example.edu",
        "Rolled back the 09:55 deploy",
        "A deploy changed session handling",
    ):
        assert plaintext.encode() not in raw, plaintext
    raw_memo = (await dev_env.client.get_workflow_handle(handle.id).describe()).raw_description
    assert summary.encode() not in raw_memo.SerializeToString()

    # With the key, the same history reads: the summary, the people, the schools.
    opened_text = await decoded_text(history, codec)
    for plaintext in (summary, IC, COMMS, "principal@school-42.example.edu"):
        assert plaintext in opened_text, plaintext

    # And through the codec server, as the Web UI reads it.
    app = create_codec_app(codec, token="ui-token")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec") as http:
        body = json_format.MessageToDict(Payloads(payloads=payloads))
        answer = await http.post(
            "/decode",
            json=body,
            headers={"Authorization": "Bearer ui-token", "X-Namespace": "default", "Origin": UI},
        )
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == UI
    decoded = json_format.ParseDict(answer.json(), Payloads())
    assert any(summary.encode() in p.data for p in decoded.payloads)
    assert all(p.metadata["encoding"] != ENCODING for p in decoded.payloads)


async def test_enabling_then_rotating_the_key_mid_incident(dev_env, policy, integrations):
    """An incident opened before encryption was on keeps running when it is turned on, and again
    when the key rotates: the history holds plain, key-A and key-B payloads, and replays."""
    key_a, key_b = generate_key(), generate_key()
    with_a = await connect(settings_for(dev_env, irp_payload_key=key_a))
    with_b = await connect(settings_for(dev_env, irp_payload_key=key_b, irp_payload_old_keys=key_a))
    codec_a, codec_b = with_a.data_converter.payload_codec, with_b.data_converter.payload_codec
    tq = f"tq-{uuid.uuid4().hex[:8]}"

    def replaying_worker(client: Client) -> Worker:
        """No workflow cache: every workflow task replays the whole (mixed) history with this
        worker's keys, and no task waits on the previous worker's sticky queue. (A task the
        stopped worker's last poll took can still wait out the 10 s task timeout: hence timeout=30.)"""
        return Worker(
            client,
            task_queue=tq,
            workflows=WORKFLOWS,
            activities=build_activities(integrations, policy),
            max_cached_workflows=0,
        )

    async with replaying_worker(dev_env.client):  # before: no key
        handle, _ = await start_incident(
            dev_env.client, tq, policy, "Attendance marking down", module="attendance"
        )
        await status_when(handle, opened)
        await handle.signal("acknowledge", {"by": PRIMARY})
        await status_when(handle, lambda s: s.phase == "TRIAGE")
        await idle(handle)
    async with replaying_worker(with_a):  # IRP_PAYLOAD_KEY=A
        handle = with_a.get_workflow_handle(handle.id)
        await handle.signal(
            "declare_blast_radius", {"scope": "tenant", "tenants": ["school-7"], "by": PRIMARY}
        )
        await status_when(handle, lambda s: s.phase == "CONTAIN", timeout=30)
        await idle(handle)
    async with replaying_worker(with_b):  # IRP_PAYLOAD_KEY=B, IRP_PAYLOAD_OLD_KEYS=A
        handle = with_b.get_workflow_handle(handle.id)
        await handle.signal("mitigate", {"by": PRIMARY, "summary": "Restarted the attendance service"})
        status = await status_when(handle, lambda s: s.phase == "FIX", timeout=30)
        await finish(handle)

    assert status.summary == "Attendance marking down" and status.acknowledged_by == PRIMARY
    history = await history_of(dev_env.client, handle.id)
    payloads = [p for e in history.events for p in payloads_in(e)]
    assert {p.metadata.get(KEY_ID) for p in payloads} == {
        None,
        codec_a.key_id.encode(),
        codec_b.key_id.encode(),
    }
    newest = next(p for p in reversed(payloads) if p.metadata.get(KEY_ID) == codec_b.key_id.encode())
    with pytest.raises(PayloadDecryptError, match=codec_b.key_id):
        await codec_a.decode([newest])
    assert "Restarted the attendance service" in await decoded_text(history, codec_b)


# --- the codec server -----------------------------------------------------------------------------


@pytest.fixture
def codec_http():
    def make(codec, token: str | None = "codec-token-for-tests", origins=(UI,)):
        app = create_codec_app(codec, token=token, cors_origins=origins)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec")

    return make


def as_json(payloads: list[Payload]) -> dict:
    return json_format.MessageToDict(Payloads(payloads=payloads))


def from_json(body: dict) -> list[Payload]:
    return list(json_format.ParseDict(body, Payloads()).payloads)


async def test_codec_server_round_trip_with_and_without_the_token(codec_http):
    codec = EncryptionCodec.from_text(generate_key())
    plain = pydantic_data_converter.payload_converter.to_payloads([{"by": IC}, "second"])
    auth = {"Authorization": "Bearer codec-token-for-tests", "X-Namespace": "default"}
    async with codec_http(codec) as http:
        encoded = await http.post("/encode", json=as_json(plain), headers=auth)
        assert encoded.status_code == 200 and encoded.headers["cache-control"] == "no-store"
        sealed = from_json(encoded.json())
        assert [p.metadata["encoding"] for p in sealed] == [ENCODING] * 2
        assert await codec.decode(sealed) == plain  # the server's ciphertext is the worker's
        in_process = await codec.encode(plain)
        decoded = await http.post("/decode", json=as_json(in_process), headers=auth)
        assert decoded.status_code == 200 and from_json(decoded.json()) == plain
        templated = await http.post(
            "/default/decode", json=encoded.json(), headers=auth
        )  # the CLI's {namespace}
        assert from_json(templated.json()) == plain
        mixed = await http.post("/decode", json=as_json([plain[0], sealed[1]]), headers=auth)
        assert from_json(mixed.json()) == plain  # unencrypted passes through

        for headers, reason in (
            ({}, "missing bearer token"),
            ({"Authorization": "Bearer wrong"}, "wrong bearer token"),
            ({"Authorization": "Basic codec-token-for-tests"}, "missing bearer token"),
        ):
            answer = await http.post("/decode", json=encoded.json(), headers=headers)
            assert answer.status_code == 401 and reason in answer.json()["error"]
            assert answer.headers["www-authenticate"] == "Bearer" and "payloads" not in answer.json()
        assert (await http.post("/encode", json=as_json(plain))).status_code == 401

        other = await EncryptionCodec.from_text(generate_key()).encode(plain[:1])
        unknown = await http.post("/decode", json=as_json(other), headers=auth)
        assert unknown.status_code == 422 and other[0].metadata[KEY_ID].decode() in unknown.json()["error"]
        assert (await http.post("/decode", content=b"{not json", headers=auth)).status_code == 400
        assert (await http.get("/healthz")).json() == {"status": "ok"}

    async with codec_http(codec, token=None) as http:  # no IRP_CODEC_TOKEN: open (it listens on loopback)
        answer = await http.post("/decode", json=encoded.json())
        assert answer.status_code == 200 and from_json(answer.json()) == plain


async def test_codec_server_cors_for_the_web_ui(codec_http):
    codec = EncryptionCodec.from_text(generate_key())
    async with codec_http(codec) as http:
        preflight = await http.options(
            "/decode",
            headers={
                "Origin": UI,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-namespace,authorization,content-type",
            },
        )
        assert preflight.status_code == 200  # no token on a preflight: browsers send none
        assert preflight.headers["access-control-allow-origin"] == UI
        assert preflight.headers["access-control-allow-credentials"] == "true"
        allowed = {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
        assert {"x-namespace", "authorization", "content-type"} <= allowed
        assert "POST" in preflight.headers["access-control-allow-methods"]

        elsewhere = await http.options(
            "/decode", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        )
        assert elsewhere.status_code == 400 and "access-control-allow-origin" not in elsewhere.headers
        refused = await http.post("/decode", json={"payloads": []}, headers={"Origin": UI})
        assert (
            refused.status_code == 401 and refused.headers["access-control-allow-origin"] == UI
        )  # the UI sees why
        foreign = await http.post(
            "/decode",
            json={"payloads": []},
            headers={"Origin": "https://evil.example", "Authorization": "Bearer codec-token-for-tests"},
        )
        assert (
            "access-control-allow-origin" not in foreign.headers
        )  # the browser hides the answer from that page

    with pytest.raises(ValueError, match="may not be"):
        create_codec_app(codec, cors_origins=["*"])
    assert CodecServerSettings(irp_codec_cors_origin=f"{UI}/, http://127.0.0.1:8233").cors_origins == [
        UI,
        "http://127.0.0.1:8233",
    ]


def test_codec_server_refuses_to_start_open_or_without_a_key(monkeypatch):
    for name in ("IRP_PAYLOAD_KEY", "IRP_PAYLOAD_OLD_KEYS", "IRP_CODEC_TOKEN", "IRP_CODEC_HOST"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit, match="IRP_PAYLOAD_KEY is not set"):
        codec_server_main()
    monkeypatch.setenv("IRP_PAYLOAD_KEY", "short")
    with pytest.raises(SystemExit, match="not base64") as refused:
        codec_server_main()
    assert "short" not in str(refused.value.code)
    monkeypatch.setenv("IRP_PAYLOAD_KEY", generate_key())
    monkeypatch.setenv("IRP_CODEC_HOST", "0.0.0.0")
    with pytest.raises(SystemExit, match="set IRP_CODEC_TOKEN"):
        codec_server_main()
    monkeypatch.delenv("IRP_CODEC_HOST")
    settings = CodecServerSettings()
    assert (settings.irp_codec_host, settings.irp_codec_port, settings.cors_origins) == (
        "127.0.0.1",
        8081,
        [UI],
    )


# --- the Temporal connection: TLS and API key -------------------------------------------------------


@pytest.fixture
def pki(tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("irp-worker.preskool.internal")
    paths = {"cert": tmp_path / "client.pem", "key": tmp_path / "client.key", "ca": tmp_path / "ca.pem"}
    cert.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    cert.private_key_pem.write_to_path(str(paths["key"]))
    ca.cert_pem.write_to_path(str(paths["ca"]))
    return paths


async def test_a_certificate_without_its_key_fails_at_start(pki):
    for given, missing in (
        ({"temporal_tls_cert": pki["cert"]}, "TEMPORAL_TLS_KEY"),
        ({"temporal_tls_key": pki["key"]}, "TEMPORAL_TLS_CERT"),
    ):
        settings = TemporalSettings(temporal_address="temporal.invalid:7233", **given)
        with pytest.raises(TemporalConfigError, match=f"{missing} is not") as refused:
            await connect(settings)  # fails before any network: the address does not even resolve
        assert "mTLS needs both" in str(refused.value)
    with pytest.raises(TemporalConfigError, match="cannot read"):
        TemporalSettings(
            temporal_tls_cert=pki["cert"], temporal_tls_key=pki["cert"].parent / "gone.key"
        ).tls_config()
    with pytest.raises(TemporalConfigError, match="not a PEM file with a PRIVATE KEY"):
        TemporalSettings(temporal_tls_cert=pki["cert"], temporal_tls_key=pki["cert"]).tls_config()
    with pytest.raises(TemporalConfigError, match="TEMPORAL_TLS=false contradicts TEMPORAL_TLS_CA"):
        TemporalSettings(temporal_tls=False, temporal_tls_ca=pki["ca"]).tls_config()


def test_tls_settings_make_a_tls_config(pki, monkeypatch):
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.preskool.internal:7233")
    monkeypatch.setenv("TEMPORAL_TLS_CERT", str(pki["cert"]))
    monkeypatch.setenv("TEMPORAL_TLS_KEY", str(pki["key"]))
    monkeypatch.setenv("TEMPORAL_TLS_CA", str(pki["ca"]))
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_NAME", "temporal.preskool.internal")
    monkeypatch.setenv("TEMPORAL_API_KEY", "api-key-not-for-logs")
    monkeypatch.setenv("IRP_PAYLOAD_KEY", generate_key())
    settings = TemporalSettings()
    options = settings.connect_options()
    tls = options["tls"]
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == pki["cert"].read_bytes() and tls.client_private_key == pki["key"].read_bytes()
    assert tls.server_root_ca_cert == pki["ca"].read_bytes() and tls.domain == "temporal.preskool.internal"
    assert options["api_key"] == "api-key-not-for-logs"
    assert options["data_converter"].payload_codec.key_id == settings.payload_codec().key_id
    shown = " ".join([repr(settings), str(settings), repr(tls), settings.describe(), repr(options)])
    for secret in (
        "api-key-not-for-logs",
        os.environ["IRP_PAYLOAD_KEY"],
        "PRIVATE KEY",
        pki["key"].read_text().splitlines()[1],
    ):
        assert secret not in shown, secret
    assert "mTLS" in settings.describe() and "API key" in settings.describe()


@pytest.mark.parametrize(
    "values, tls",
    [
        ({}, False),
        ({"temporal_tls": True}, True),  # TLS without a client certificate, the system's roots
        ({"temporal_api_key": "k"}, True),  # Temporal Cloud: an API key implies TLS
        ({"temporal_api_key": "k", "temporal_tls": False}, False),  # a local TLS-terminating proxy only
        ({"temporal_api_key": ""}, False),
    ],
)
def test_when_tls_is_on(values, tls):
    assert TemporalSettings(**values).tls_config() is tls
    assert TemporalSettings(**values).connect_options()["api_key"] == (values.get("temporal_api_key") or None)


def test_empty_variables_count_as_unset(monkeypatch):
    """As docker-compose passes `${TEMPORAL_TLS:-}`: empty is unset, never an error or a key."""
    for name in (
        "TEMPORAL_TLS",
        "TEMPORAL_API_KEY",
        "TEMPORAL_TLS_CERT",
        "TEMPORAL_TLS_KEY",
        "TEMPORAL_TLS_CA",
        "IRP_PAYLOAD_KEY",
        "IRP_PAYLOAD_OLD_KEYS",
        "TEMPORAL_ADDRESS",
    ):
        monkeypatch.setenv(name, "")
    options = TemporalSettings().connect_options()
    assert (options["tls"], options["api_key"], options["data_converter"]) == (
        False,
        None,
        pydantic_data_converter,
    )


def test_ca_alone_turns_tls_on(pki):
    tls = TemporalSettings(temporal_tls_ca=pki["ca"]).tls_config()
    assert isinstance(tls, TLSConfig) and tls.client_cert is None and tls.server_root_ca_cert


# --- the secrets scan ---------------------------------------------------------------------------

MARK = "zq7SECRETzq7"  # long enough never to turn up by chance in ciphertext or base64


def distinctive_secrets() -> dict[str, str]:
    """Every credential the service holds, each a string found nowhere else (MARK in each)."""
    tag = uuid.uuid4().hex[:10]
    return {
        "SLACK_BOT_TOKEN": f"xoxb-{MARK}slack-{tag}",
        "PAGERDUTY_ROUTING_KEY": f"{MARK}pdrouting{tag}",
        "PAGERDUTY_ROUTING_KEY_IC": f"{MARK}pdicroute{tag}",  # the IC's own, through the policy's ${...}
        "PAGERDUTY_API_TOKEN": f"{MARK}pdrest{tag}",  # who is on call (REST API v2)
        "STATUSPAGE_API_KEY": f"{MARK}statuspage-{tag}",
        "JIRA_API_TOKEN": f"{MARK}jira-{tag}",
        "SMTP_PASSWORD": f"{MARK}smtp-{tag}",
        "IRP_WEBHOOK_TOKEN": f"{MARK}webhook-{tag}",
        "PAGERDUTY_WEBHOOK_SECRET": f"{MARK}pdwebhook-{tag}",
        "TEMPORAL_API_KEY": f"{MARK}temporal-{tag}",
        "IRP_CODEC_TOKEN": f"{MARK}codec-{tag}",
        "IRP_PAYLOAD_KEY": generate_key(),
    }


def looking_up_on_call(policy: Policy) -> Policy:
    """The policy with the primary on call from a PagerDuty schedule, so the REST API key is used."""
    return policy.model_copy(
        update={"on_call": {Role.oncall_primary: OnCallSource(pagerduty_schedule="PSCHED1")}}
    )


@asynccontextmanager
async def outside_world(secrets: dict[str, str], prometheus, accept: bool = True):
    """The sandbox's fakes holding the credentials `secrets` names (or, with accept=False, other
    ones, so every call is refused), and the worker's IntegrationSettings with `secrets`."""
    held = secrets if accept else {name: f"someone-else-{name.lower()}" for name in secrets}
    async with (
        PagerDutyFake(
            routing_keys={held["PAGERDUTY_ROUTING_KEY"], held["PAGERDUTY_ROUTING_KEY_IC"]},
            api_tokens={held["PAGERDUTY_API_TOKEN"]},
        ) as pagerduty,
        SlackFake(tokens={held["SLACK_BOT_TOKEN"]}) as slack,
        StatuspageFake(api_keys={held["STATUSPAGE_API_KEY"]}) as statuspage,
        JiraFake(api_token=held["JIRA_API_TOKEN"]) as jira,
        SmtpSandbox(password=held["SMTP_PASSWORD"], ca=pagerduty.ca) as smtp,
    ):
        integrations = IntegrationSettings(
            slack_bot_token=secrets["SLACK_BOT_TOKEN"],
            slack_api_url=slack.url,
            pagerduty_events_url=pagerduty.url,
            pagerduty_routing_key=secrets["PAGERDUTY_ROUTING_KEY"],
            pagerduty_api_url=pagerduty.url,
            pagerduty_api_token=secrets["PAGERDUTY_API_TOKEN"],
            irp_ca_bundle=pagerduty.ca_pem_path,
            statuspage_api_url=statuspage.url,
            statuspage_api_key=secrets["STATUSPAGE_API_KEY"],
            statuspage_page_id=statuspage.page_id,
            prometheus_url=prometheus.url,
            jira_url=jira.url,
            jira_email=jira.email,
            jira_api_token=secrets["JIRA_API_TOKEN"],
            jira_project=jira.project,
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            smtp_username=smtp.username,
            smtp_password=secrets["SMTP_PASSWORD"],
            smtp_starttls=True,
        )
        yield SimpleNamespace(
            pagerduty=pagerduty,
            slack=slack,
            statuspage=statuspage,
            jira=jira,
            smtp=smtp,
            integrations=integrations,
        )


def seen_by_people(world) -> str:
    """What reaches people: bridge messages and DMs, emails, Jira tickets, the status page."""
    return json.dumps(
        {
            "slack": [c.messages for c in world.slack.channels.values()],
            "email": [m.to_dict() for m in world.smtp.messages],
            "jira": world.jira.issues,
            "statuspage": world.statuspage.incidents,
        },
        default=str,
    )


def pd_webhook(incident_key: str, secret: str) -> tuple[bytes, dict]:
    body = json.dumps(
        {
            "event": {
                "id": os.urandom(8).hex(),
                "event_type": "incident.acknowledged",
                "resource_type": "incident",
                "occurred_at": "2026-11-27T10:01:00.000Z",
                "agent": {"id": "PUSER01", "summary": "Ben Okafor", "type": "user_reference"},
                "data": {
                    "id": "Q1PDINC",
                    "type": "incident",
                    "status": "acknowledged",
                    "incident_key": incident_key,
                    "title": "[P0] API returning 500s",
                },
            }
        }
    ).encode()
    signature = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-PagerDuty-Signature": signature, "Content-Type": "application/json"}


def log_text(records: list[logging.LogRecord]) -> str:
    """Each record as a handler would write it (traceback included), its arguments and its extras."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    lines = []
    for record in records:
        lines.append(formatter.format(record))
        lines.append(repr({k: v for k, v in record.__dict__.items() if k not in ("msg", "args")}))
        lines.append(repr(record.msg) + repr(record.args))
    return "\n".join(lines)


def leaks(secrets: dict[str, str], places: dict[str, str], *, smtp_user: str, jira_email: str) -> list[str]:
    """Each secret, and the encodings it travels in (base64 alone, in HTTP basic auth, in SMTP
    AUTH PLAIN), in each place; and the MARK in every one of them, in case one leaked in part."""
    forms = {name: {value, base64.b64encode(value.encode()).decode()} for name, value in secrets.items()}
    forms["JIRA_API_TOKEN"].add(
        base64.b64encode(f"{jira_email}:{secrets['JIRA_API_TOKEN']}".encode()).decode()
    )
    forms["SMTP_PASSWORD"].add(
        base64.b64encode(f"\0{smtp_user}\0{secrets['SMTP_PASSWORD']}".encode()).decode()
    )
    found = [
        f"{name} in {place}"
        for name, values in forms.items()
        for place, text in places.items()
        if any(v in text for v in values)
    ]
    return found + [f"part of a secret ({MARK}) in {place}" for place, text in places.items() if MARK in text]


@pytest.fixture
def every_log(caplog):
    """caplog at DEBUG for the root logger and the SDK's, the worker's and the libraries' own;
    loggers that do not propagate get its handler directly."""
    caplog.set_level(logging.DEBUG)
    for name in (
        "temporalio",
        "temporalio.worker",
        "temporalio.activity",
        "temporalio.workflow",
        "temporalio.client",
        "temporalio.bridge",
        "connection",
        "incident_client",
        "cli",
        "webhook",
        "activities",
        "workflows",
        "httpx",
        "httpcore",
        "slack_sdk",
        "pagerduty",
        "urllib3",
        "aiohttp",
        "hpack",
        "asyncio",
    ):
        caplog.set_level(logging.DEBUG, logger=name)
    isolated = [
        logger
        for logger in list(logging.root.manager.loggerDict.values())
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    levels = {logger: logger.level for logger in isolated}
    for logger in isolated:
        logger.addHandler(caplog.handler)
        logger.setLevel(logging.DEBUG)
    yield caplog
    for logger in isolated:
        logger.removeHandler(caplog.handler)
        logger.setLevel(levels[logger])


@pytest.fixture
def secrets(monkeypatch) -> dict[str, str]:
    """The distinctive credentials, in the environment as the service would find them."""
    values = distinctive_secrets()
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


async def scanned_places(
    client: Client, incident: str, codec: EncryptionCodec, records, capfd, extra: dict
) -> dict:
    history = await history_of(client, incident)
    captured = capfd.readouterr()
    return {
        "logs": log_text(records),
        "stdout/stderr (the SDK's core logs)": captured.out + captured.err,
        "raw history": raw_bytes(history).decode("utf-8", "replace") + history.to_json(),
        "decrypted history": await decoded_text(history, codec),
        **extra,
    }


async def test_secrets_never_reach_history_logs_or_the_timeline(
    dev_env, secrets, every_log, capfd, prometheus
):
    policy = looking_up_on_call(
        load_policy()
    )  # the IC's own routing key comes in through ${PAGERDUTY_ROUTING_KEY_IC}
    assert (
        policy.roster[Role.incident_commander].paging_keys["pagerduty"].get_secret_value()
        == secrets["PAGERDUTY_ROUTING_KEY_IC"]
    )
    settings = settings_for(
        dev_env,
        temporal_api_key=secrets["TEMPORAL_API_KEY"],
        temporal_tls=False,
        irp_payload_key=secrets["IRP_PAYLOAD_KEY"],
    )
    codec = settings.payload_codec()
    client = await connect(settings)  # the key travels as the Authorization header; the dev server ignores it
    prometheus.healthy(policy)
    tq = f"tq-{uuid.uuid4().hex[:8]}"

    async def temporal():
        return client

    receiver = create_webhook_app(
        token=SecretStr(secrets["IRP_WEBHOOK_TOKEN"]),
        task_queue=tq,
        connect=temporal,
        pagerduty_secret=SecretStr(secrets["PAGERDUTY_WEBHOOK_SECRET"]),
    )
    codec_server = create_codec_app(codec, token=secrets["IRP_CODEC_TOKEN"])
    payload = delivery(alert(scope="all"), group=f"Secrets{uuid.uuid4().hex[:10]}")
    async with (
        outside_world(secrets, prometheus) as world,
        build_worker(client, tq, policy, world.integrations),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver), base_url="http://receiver") as http,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=codec_server), base_url="http://codec") as ui,
    ):
        # Alertmanager in (a wrong token first), acknowledged through PagerDuty's signed webhook.
        assert (
            await http.post("/webhooks/alertmanager", json=payload, headers={"Authorization": "Bearer wrong"})
        ).status_code == 401
        answer = await http.post(
            "/webhooks/alertmanager",
            json=payload,
            headers={"Authorization": f"Bearer {secrets['IRP_WEBHOOK_TOKEN']}"},
        )
        assert answer.status_code == 202, answer.text
        incident = answer.json()["incidents"][0]["incident_id"]
        handle = client.get_workflow_handle(incident)
        await status_when(handle, opened)
        body, headers = pd_webhook(f"{incident}:oncall_primary", secrets["PAGERDUTY_WEBHOOK_SECRET"])
        assert (
            await http.post(
                "/webhooks/pagerduty",
                content=body,
                headers={**headers, "X-PagerDuty-Signature": "v1=" + "0" * 64},
            )
        ).status_code == 401
        assert (await http.post("/webhooks/pagerduty", content=body, headers=headers)).status_code == 202
        await status_when(handle, lambda s: s.phase == "TRIAGE")

        # Worked through resolution, the ledger's tickets and the customer email.
        await handle.signal(
            "declare_blast_radius", {"scope": "tenant", "tenants": ["school-42"], "by": PRIMARY}
        )
        await handle.signal("mitigate", {"by": PRIMARY, "summary": "Rolled back"})
        await handle.signal(
            "post_update",
            {
                "by": IC,
                "status": "MITIGATED",
                "current_action": "Watching",
                "what_we_know": "Bad deploy",
                "public": True,
            },
        )
        await handle.signal(
            "resolve",
            {
                "by": IC,
                "summary": "Rolled back the 09:55 deploy",
                "root_cause": "A deploy changed session handling",
            },
        )
        await status_when(handle, lambda s: s.phase == "REVIEW" and len(s.tickets) >= 3, timeout=30)
        await handle.execute_update(
            IncidentWorkflow.approve_action, {"request_id": "customer-email", "by": COMMS}
        )
        status = await status_when(
            handle,
            lambda s: any(d.key == "customer_email" and d.state == "done" for d in s.deliverables),
            timeout=30,
        )
        ledger = await handle.query(IncidentWorkflow.deliverables)

        # Someone reads the incident through the codec server, once without the token.
        sealed = as_json([p for e in (await history_of(client, incident)).events for p in payloads_in(e)])
        assert (
            await ui.post("/decode", json=sealed, headers={"Authorization": "Bearer nope"})
        ).status_code == 401
        seen = await ui.post(
            "/decode", json=sealed, headers={"Authorization": f"Bearer {secrets['IRP_CODEC_TOKEN']}"}
        )
        assert seen.status_code == 200
        await finish(handle)

        # Every credential was really used: the scan is of a run where each one mattered.
        by_key = {t["routing_key"]: t["dedup_key"].split(":")[1] for t in world.pagerduty.triggers()}
        assert by_key[secrets["PAGERDUTY_ROUTING_KEY_IC"]] == "incident_commander"
        assert secrets["PAGERDUTY_ROUTING_KEY"] in by_key
        assert status.acknowledged_by == PRIMARY and status.status_page_id and len(world.jira.issues) >= 3
        assert len(world.smtp.messages) >= 2 and all(
            m.login == world.smtp.username for m in world.smtp.messages
        )
        assert world.slack.messages(status.channel)
        places = await scanned_places(
            dev_env.client,
            incident,
            codec,
            every_log.records,
            capfd,
            {
                "codec server's answer": seen.text
                + "".join(p.data.decode("utf-8", "replace") for p in from_json(seen.json())),
                "status and timeline": status.model_dump_json()
                + json.dumps([d.model_dump(mode="json") for d in ledger]),
                "what people see (Slack, email, Jira, status page)": seen_by_people(world),
            },
        )
        smtp_user, jira_email = world.smtp.username, world.jira.email

    assert {r.name for r in every_log.records} >= {
        "webhook",
        "temporalio.activity",
        "slack_sdk.web.async_base_client",
        "mail.log",
        "httpx",
        "connection.temporal",
    }
    assert incident in places["logs"] and "Rolled back the 09:55 deploy" in places["decrypted history"]
    assert leaks(secrets, places, smtp_user=smtp_user, jira_email=jira_email) == []


async def test_refused_credentials_are_reported_without_them(dev_env, secrets, every_log, capfd, prometheus):
    """Every outside system refuses its credential: the failures land in the timeline, the
    history's failures and the logs, with what went wrong and never with the credential."""
    policy = looking_up_on_call(load_policy())
    settings = settings_for(dev_env, irp_payload_key=secrets["IRP_PAYLOAD_KEY"])
    codec = settings.payload_codec()
    client = await connect(settings)
    prometheus.healthy(policy)
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with (
        outside_world(secrets, prometheus, accept=False) as world,
        build_worker(client, tq, policy, world.integrations),
    ):
        handle, _ = await start_incident(
            client, tq, policy, "API returning 500s for all requests", scope="all"
        )
        await status_when(handle, lambda s: len(s.paged) == 5 and all(p.outcome == "failed" for p in s.paged))
        await handle.signal("acknowledge", {"by": PRIMARY})
        await handle.signal("mitigate", {"by": PRIMARY, "summary": "Rolled back"})
        await handle.signal("resolve", {"by": IC, "summary": "Rolled back the 09:55 deploy"})
        status = await status_when(handle, lambda s: s.phase == "REVIEW", timeout=30)
        await handle.execute_update(
            IncidentWorkflow.approve_action, {"request_id": "customer-email", "by": COMMS}
        )
        status = await status_when(
            handle,
            lambda s: any(
                e.kind == "customer-email" and e.text.startswith("customer email sent to 0 school(s)")
                for e in s.timeline
            ),
        )
        await finish(handle)
        places = await scanned_places(
            dev_env.client,
            handle.id,
            codec,
            every_log.records,
            capfd,
            {
                "status and timeline": status.model_dump_json(),
                "what people see (Slack, email, Jira, status page)": seen_by_people(world),
            },
        )
        smtp_user, jira_email = world.smtp.username, world.jira.email

    assert [p.outcome for p in status.paged] == ["failed"] * 5
    assert any("PagerDuty refused GET /oncalls (401)" in e.text for e in status.timeline)
    assert leaks(secrets, places, smtp_user=smtp_user, jira_email=jira_email) == []
