"""Nothing a person sends is dropped silently: JSON as people type it (curly quotes, a trailing
comma, a JSON string, a list), and a payload sealed with a key the workers lack, all reach the
incident raw and are taken or refused visibly, while the incident keeps working."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue

from connection.codec import KEY_ID, EncryptionCodec, PayloadDecryptError, generate_key
from connection.temporal import connect
from incident_client.intake import deliver_alerts
from plan import AlertmanagerDelivery
from plan.person_input import read
from tests.helpers import finish, status_when
from tests.payloads import alert, delivery
from tests.test_security import settings_for
from worker import build_worker

PRIMARY, IC, LEAD = "ben.okafor@preskool.com", "asha.rao@preskool.com", "dana.whitfield@preskool.com"
ROOT = Path(__file__).resolve().parent.parent
CURLY = "{“request_id”: “rollback-1”, “by”: “dana.whitfield@preskool.com”}"


@pytest.mark.parametrize(
    "text, value, note, refusal",
    [
        ('{"by": "a@b.co"}', {"by": "a@b.co"}, None, None),
        (CURLY, None, None, "not valid JSON at character 2: use straight quotes"),
        ('{"by": "a@b.co",}', None, None, "remove the comma before the closing bracket"),
        ('"{\\"by\\": \\"a@b.co\\"}"', {"by": "a@b.co"}, "came as a JSON string", None),
        ('[{"by": "a@b.co"}]', {"by": "a@b.co"}, "a list of one object", None),
        ('[{"by": "a"}, {"by": "b"}]', None, None, "a list of 2 item(s): send one JSON object, not a list"),
        ("42", None, None, "a JSON int, not an object"),
        ('"hello"', None, None, "a JSON string ('hello'), not an object"),
        ("{not json", None, None, "not valid JSON at character 2"),
        ('{"by": ' + "1" * 5000 + "}", None, None, "not JSON this incident can take (ValueError"),
        ("[" * 100_000, None, None, "not JSON this incident can take (RecursionError"),
    ],
)
def test_reading_json_as_people_type_it(text, value, note, refusal):
    reading = read("json/plain", text.encode())
    assert reading.value == value
    assert (note or "") in (reading.note or "") and (refusal or "") in (reading.refusal or "")
    assert (reading.value is None) == (reading.refusal is not None)


def test_a_payload_that_does_not_open_is_passed_on_marked_and_refused():
    """Under a key the worker has, an altered or truncated payload does not fail the worker's
    decode (which would fail every task of the incident): it is marked unopened and refused."""
    key = generate_key()
    worker = EncryptionCodec.from_text(key).keeping_unknown()
    sealed = EncryptionCodec.from_text(key).encrypt(
        Payload(metadata={"encoding": b"json/plain"}, data=b'{"by": "a@b.co"}')
    )
    altered = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    for bad in (altered, Payload(metadata=dict(sealed.metadata), data=sealed.data[:8])):
        (passed,) = asyncio.run(worker.decode([bad]))
        reading = read(passed.metadata["encoding"].decode(), passed.data, passed.metadata[KEY_ID].decode())
        assert reading.value is None and "does not open" in reading.refusal
    with pytest.raises(PayloadDecryptError):
        asyncio.run(EncryptionCodec.from_text(key).decode([altered]))  # a client still says so loudly


def test_sealed_unknown_and_odd_encodings_are_refused_with_the_fix():
    assert "payload key 0123abcd" in read("binary/encrypted", b"x", "0123abcd").refusal
    assert "IRP_PAYLOAD_OLD_KEYS" in read("binary/encrypted", b"x", "0123abcd").refusal
    assert "no input" in read("binary/null", b"").refusal
    assert "not UTF-8" in read("json/plain", b"\xff\xfe").refusal


def as_the_ui_sends(text: str) -> RawValue:
    """The Web UI's "Send a Signal" box: the typed text as a json/plain payload, decodable or not."""
    return RawValue(Payload(metadata={"encoding": b"json/plain"}, data=text.encode()))


async def test_json_as_people_type_it_through_a_raw_signal(dev_env, run_worker):
    async with run_worker(dev_env.client) as tq:
        payload = delivery(
            alert(module="fees", summary="Fee collection failing"), group=f"Typed{uuid.uuid4().hex[:8]}"
        )
        receipt = await deliver_alerts(dev_env.client, tq, AlertmanagerDelivery.model_validate(payload))
        handle = dev_env.client.get_workflow_handle(receipt.incident_id)
        await status_when(handle, lambda s: s.channel)
        await handle.signal(
            "request_action",
            {
                "request_id": "rollback-1",
                "action": "rollback",
                "target": "backend",
                "by": PRIMARY,
                "reason": "errors since the deploy",
            },
        )
        await handle.signal("approve", as_the_ui_sends(CURLY))
        await handle.signal("approve", as_the_ui_sends('{"request_id": "rollback-1", "by": "x",}'))
        await handle.signal("approve", as_the_ui_sends(json.dumps([{"a": 1}, {"b": 2}])))
        await handle.signal("acknowledge", as_the_ui_sends(json.dumps(json.dumps({"by": PRIMARY}))))
        status = await status_when(
            handle,
            lambda s: (
                s.acknowledged_by == PRIMARY and len([e for e in s.timeline if e.kind == "refused"]) == 3
            ),
        )
        refusals = [e.text for e in status.timeline if e.kind == "refused"]
        assert "use straight quotes" in refusals[0] and "remove the comma" in refusals[1]
        assert "send one JSON object, not a list" in refusals[2]
        assert any(e.kind == "input" and "came as a JSON string" in e.text for e in status.timeline)
        assert status.requests[0].state == "pending"  # still pending: a straight-quoted approval counts
        await handle.signal(
            "approve", as_the_ui_sends(json.dumps([{"request_id": "rollback-1", "by": LEAD}]))
        )
        status = await status_when(
            handle, lambda s: s.requests[0].state in ("approved", "running", "done", "failed")
        )
        await finish(handle)


async def test_a_signal_sealed_with_a_key_the_workers_lack_is_refused_and_the_incident_goes_on(
    dev_env, policy, integrations
):
    """Mid-rotation: a laptop with the new key B acknowledges while the workers hold only A."""
    key_a, key_b = generate_key(), generate_key()
    with_a = await connect(settings_for(dev_env, irp_payload_key=key_a))
    with_b = await connect(settings_for(dev_env, irp_payload_key=key_b))
    key_b_id = with_b.data_converter.payload_codec.key_id
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with build_worker(with_a, tq, policy, integrations):
        payload = delivery(
            alert(scope="all", summary="API returning 500s"), group=f"Sealed{uuid.uuid4().hex[:8]}"
        )
        receipt = await deliver_alerts(with_a, tq, AlertmanagerDelivery.model_validate(payload))
        handle = with_a.get_workflow_handle(receipt.incident_id)
        await status_when(handle, lambda s: s.channel)
        await with_b.get_workflow_handle(handle.id).signal("acknowledge", {"by": PRIMARY})
        status = await status_when(handle, lambda s: any(e.kind == "refused" for e in s.timeline))
        refusal = next(e.text for e in status.timeline if e.kind == "refused")
        assert key_b_id in refusal and "IRP_PAYLOAD_OLD_KEYS" in refusal
        assert status.acknowledged_by is None
        await handle.signal("acknowledge", {"by": PRIMARY})  # the right key: taken
        status = await status_when(handle, lambda s: s.acknowledged_by == PRIMARY and s.phase == "TRIAGE")
        await finish(handle)


async def test_the_cli_warns_when_its_key_is_not_the_workers(dev_env, policy, integrations):
    """starter.py with key B against an incident the workers seal with key A says so before it
    sends, naming both key ids; with the workers' key it says nothing."""
    key_a, key_b = generate_key(), generate_key()
    with_a = await connect(settings_for(dev_env, irp_payload_key=key_a))
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with build_worker(with_a, tq, policy, integrations):
        payload = delivery(alert(module="fees"), group=f"CliKey{uuid.uuid4().hex[:8]}")
        receipt = await deliver_alerts(with_a, tq, AlertmanagerDelivery.model_validate(payload))
        handle = with_a.get_workflow_handle(receipt.incident_id)
        await status_when(handle, lambda s: s.channel)

        async def ack(key: str) -> str:
            env = {
                **os.environ,
                "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
                "IRP_PAYLOAD_KEY": key,
                "IRP_PAYLOAD_OLD_KEYS": "",
            }
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "starter.py",
                "ack",
                handle.id,
                "--by",
                PRIMARY,
                env=env,
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await asyncio.wait_for(proc.communicate(), 60)
            return err.decode()

        warned, quiet = await ack(key_b), await ack(key_a)
        await finish(handle)
    codec_a, codec_b = with_a.data_converter.payload_codec, EncryptionCodec.from_text(key_b)
    assert (
        f"workers seal this incident with payload key {codec_a.key_id}; yours is {codec_b.key_id}" in warned
    )
    assert "warning" not in quiet, quiet
