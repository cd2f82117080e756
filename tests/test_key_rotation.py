"""Rotating the attestation key while incidents are open (issue 23, case 5), end to end: the
real receiver with its Slack app, the sandbox Slack, the dev server and real workers.

The field case: rotating exactly as docs/using.md says (the workers get the new public key, then
the receiver signs with the new private key) made every incident opened before the rotation
refuse every Slack decision for the rest of its life, because it pinned the key set at its start.
The kind: a decision a person really made is never refused for when or where it was checked. The
pinned set grows from the workers' own keys (plan/decide/keys.py); the age window is wide
(tests/test_identity.py's table: a click that waited out an outage, a receiver's clock that
differs)."""

from __future__ import annotations

import uuid

import pytest_asyncio

from incident_client.intake import deliver_alerts
from plan import AlertmanagerDelivery
from plan.attestation import new_key_pair, public_keys
from sandbox.slack import SlackFake
from sandbox.slack_user import SlackUser
from tests.helpers import eventually, finish, slack_receiver_at, status_when
from tests.payloads import alert, delivery
from worker import build_worker

SECRET = "sandbox-signing-secret-for-rotation"
OLD_PRIVATE, OLD_PUBLIC = new_key_pair()
NEW_PRIVATE, NEW_PUBLIC = new_key_pair()
ROGUE_PRIVATE, _ = new_key_pair()  # a key no worker holds
IC, SECONDARY, LEAD = "U0IC000001", "U0ONCALL02", "U0ENGLEAD1"


@pytest_asyncio.fixture
async def slack(policy):
    users = {p.contacts["slack"]: {"name": p.name, "email": p.email} for p in policy.roster.values()}
    async with SlackFake(users=users) as fake:
        yield fake


def receiver(client, slack, task_queue: str, private: str):
    """The receiver, its Slack app on and signing with `private`, on a free port: its URL."""
    return slack_receiver_at(client, slack.url, task_queue, private, SECRET)


def role_given(status, role: str) -> bool:
    return any(e.kind == "role" and role in e.text for e in status.timeline)


async def test_a_rotation_as_the_docs_say_keeps_open_incidents_taking_slack_decisions(
    dev_env, policy, integrations, slack
):
    """An incident opens under the old key. The workers restart holding old and new public keys,
    and the receiver moves to the new private key: the IC's `/incident role` from Slack is taken
    (one look-up of the workers' keys, said in the timeline), a second decision needs no second
    look-up, and a decision signed with a key no worker holds is still refused with its reason."""
    client, tq = dev_env.client, f"tq-{uuid.uuid4().hex[:8]}"
    before = integrations.model_copy(update={"irp_attestation_public_keys": OLD_PUBLIC})
    after = integrations.model_copy(update={"irp_attestation_public_keys": f"{OLD_PUBLIC},{NEW_PUBLIC}"})
    async with build_worker(client, tq, policy, before):
        payload = delivery(alert(module="fees"), group=f"Rotation{uuid.uuid4().hex[:8]}")
        receipt = await deliver_alerts(client, tq, AlertmanagerDelivery.model_validate(payload))
        handle = client.get_workflow_handle(receipt.incident_id)
        status = await status_when(handle, lambda s: s.channel)
    async with build_worker(client, tq, policy, after), receiver(client, slack, tq, NEW_PRIVATE) as url:
        asha = SlackUser(slack, url, SECRET, IC)
        said = await asha.slash(status.channel, f"role oncall_secondary <@{SECONDARY}|chen>")
        assert said.status_code == 200
        taken = await status_when(handle, lambda s: role_given(s, "chen.li@"), timeout=60)
        told = await eventually(lambda: slack.responses)
        said = await asha.slash(status.channel, f"role engineering_lead <@{LEAD}|dana>")
        assert said.status_code == 200
        second = await status_when(handle, lambda s: role_given(s, "dana.whitfield@"), timeout=60)
    async with build_worker(client, tq, policy, after), receiver(client, slack, tq, ROGUE_PRIVATE) as url:
        rogue = SlackUser(slack, url, SECRET, IC)
        said = await rogue.slash(status.channel, f"role communications_lead <@{LEAD}|dana>")
        assert said.status_code == 200
        refused = await status_when(
            handle, lambda s: any("do not hold" in e.text for e in s.timeline), timeout=60
        )
        await finish(handle)
    assert told[0]["body"]["text"].startswith(
        "⏳ assign_role: the incident is checking this app's new signing key"
    )
    learned = [e.text for e in second.timeline if e.text.startswith("keys learned")]
    new_id = next(iter(public_keys(NEW_PUBLIC)))
    assert learned == [f"keys learned from the workers: {new_id} (1 decision(s) waited)"], learned
    assert not [e for e in taken.timeline if e.kind == "refused"]
    assert not role_given(refused, "Communications Lead")  # the rogue's decision did not count
    assert any(e.text.startswith("the workers hold no key new to it") for e in refused.timeline)
