"""Who acted (issue 15), on the real dev server: with attestation keys pinned, a gated decision
counts only when attested for exactly that decision, or confirmed by its own person. Attestations
are made here as the receiver makes them (plan/attestation.py); the Slack side is in
tests/test_slack_app.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident_client.intake import deliver_alerts
from plan import AlertmanagerDelivery, load_policy
from plan.attestation import attest, load_private_key, new_key_pair, refusal, request_hash
from tests.fuzz import budget
from tests.helpers import finish, status_when
from tests.payloads import alert, delivery

IC, PRIMARY, LEAD, SECONDARY = (
    "asha.rao@preskool.com",
    "ben.okafor@preskool.com",
    "dana.whitfield@preskool.com",
    "chen.li@preskool.com",
)
USERS = {IC: "U0IC000001", LEAD: "U0ENGLEAD1", SECONDARY: "U0ONCALL02", PRIMARY: "U0ONCALL01"}
PRIVATE, PUBLIC = new_key_pair()
OTHER_PRIVATE, _ = new_key_pair()


def signed(
    incident_id: str, signal: str, signal_input: dict, person: str, *, key=PRIVATE, at=None, user=None
):
    """The input as the receiver sends it for a verified chat user: `by` and an attestation."""
    attestation = attest(
        load_private_key(key),
        incident_id=incident_id,
        signal=signal,
        signal_input=signal_input,
        person=person,
        user=USERS[person],
        at=at or datetime.now(UTC),
    )
    return {**signal_input, "by": person, "attestation": attestation.model_dump(mode="json")}


@pytest.fixture
def keyed(integrations):
    return integrations.model_copy(update={"irp_attestation_public_keys": PUBLIC})


def direct_messages(slack, user_id: str) -> list[dict]:
    return next(c.messages for c in slack.channels.values() if c.is_im and c.name == user_id)


async def open_with_request(client, tq, action="modify_secrets", request_id="sec-1"):
    payload = delivery(alert(module="fees"), group=f"Identity{uuid.uuid4().hex[:8]}")
    receipt = await deliver_alerts(client, tq, AlertmanagerDelivery.model_validate(payload))
    handle = client.get_workflow_handle(receipt.incident_id)
    await status_when(handle, lambda s: s.channel)
    asked = {"request_id": request_id, "action": action, "target": "db", "reason": "leaked"}
    await handle.signal("request_action", signed(handle.id, "request_action", asked, PRIMARY))
    await status_when(handle, lambda s: s.requests)
    return handle


def test_an_attestation_proves_exactly_one_decision():
    """Table: each way an attestation can fail to prove this decision is named."""
    now = datetime.now(UTC)
    decision = {"request_id": "rb-1"}
    good = attest(
        load_private_key(PRIVATE), incident_id="inc-1", signal="approve", signal_input=decision,
        person=LEAD, user="U0ENGLEAD1", at=now,
    )  # fmt: skip
    from plan.attestation import public_keys

    keys = public_keys(PUBLIC)
    check = dict(incident_id="inc-1", signal="approve", signal_input=decision, by=LEAD, now=now, seen=set())
    assert refusal(good, keys, **check) is None
    assert request_hash({"request_id": "rb-1", "by": "x", "attestation": {}}) == good.request
    cases = {
        "key": ({}, "which this incident's workers do not hold"),
        "incident": ({"incident_id": "inc-2"}, "signed for another incident"),
        "signal": ({"signal": "deny"}, "signed for another signal"),
        "request": ({"signal_input": {"request_id": "rb-2"}}, "signed for another request"),
        "person": ({"by": IC}, "signed for another person"),
        "age": ({"now": now + timedelta(days=7, minutes=1)}, "7 d 1 min old (at most 7 d)"),
        "ahead": ({"now": now - timedelta(hours=2)}, "dated 2 h ahead of the incident's clock (at most 1 h)"),
        "nonce": ({"seen": {good.nonce}}, "nonce was used before"),
    }
    for name, (change, reason) in cases.items():
        assert reason in refusal(good, {} if name == "key" else keys, **{**check, **change}), name
    # Never refused for when or where it was checked: a click that waited out a worker outage (a
    # day), a receiver whose clock runs 50 minutes behind or ahead of the incident's.
    for now_then in (now + timedelta(days=1), now + timedelta(minutes=50), now - timedelta(minutes=50)):
        assert refusal(good, keys, **{**check, "now": now_then}) is None
    tampered = good.model_copy(update={"user": "U0IC000001"})
    assert refusal(tampered, keys, **check) == "its signature does not verify"


async def test_a_raw_approval_is_a_claim_until_its_person_confirms(dev_env, run_worker, keyed, slack):
    """An approval typed in the Web UI or the CLI in the Engineering Lead's name does not count;
    the Lead gets Confirm / It wasn't me; a confirmation by anyone else does not count; forged,
    stale and replayed attestations are refused; the Lead's own confirmation counts."""
    async with run_worker(dev_env.client, keyed) as tq:
        handle = await open_with_request(dev_env.client, tq)
        iid = handle.id
        first = signed(iid, "approve", {"request_id": "sec-1"}, IC)
        await handle.signal("approve", first)
        await handle.signal("approve", {"request_id": "sec-1", "by": LEAD})
        status = await status_when(handle, lambda s: any(e.kind == "claimed" for e in s.timeline))
        assert len(status.requests[0].approvals) == 1 and status.requests[0].approvals[0].user == USERS[IC]
        await handle.signal("approve", first)  # the same bytes again
        await handle.signal(
            "approve", signed(iid, "approve", {"request_id": "sec-1"}, LEAD, key=OTHER_PRIVATE)
        )
        stale = datetime.now(UTC) - timedelta(days=8)
        await handle.signal("approve", signed(iid, "approve", {"request_id": "sec-1"}, LEAD, at=stale))
        claim = {"claim_id": "claim-1", "confirmed": True}
        await handle.signal("confirm_claim", signed(iid, "confirm_claim", claim, SECONDARY))
        await handle.signal("confirm_claim", {**claim, "by": LEAD})  # no proof: refused
        await handle.signal("confirm_claim", signed(iid, "confirm_claim", claim, LEAD))
        status = await status_when(
            handle,
            lambda s: (
                s.requests[0].state == "approved"
                and any(e.kind == "notified" and e.text.startswith("claim-1") for e in s.timeline)
            ),
        )
        await finish(handle)
    refused = [e.text for e in status.timeline if e.kind == "refused"]
    assert any("its nonce was used before" in r for r in refused), refused
    assert any("which this incident's workers do not hold" in r for r in refused)
    assert any("old (at most 7 d)" in r for r in refused)
    assert any(f"only {LEAD} may answer claim-1, not {SECONDARY}" in r for r in refused)
    assert any("confirmed only by its person's own click" in r for r in refused)
    assert [a.user for a in status.requests[0].approvals] == [USERS[IC], USERS[LEAD]]
    dm = direct_messages(slack, USERS[LEAD])
    assert any("sent in your name" in m["text"] for m in dm), dm
    buttons = [e["action_id"] for m in dm for b in m.get("blocks", []) for e in b.get("elements", [])]
    assert buttons == ["irp.confirm", "irp.not_me"]


async def test_one_person_is_one_approver_whichever_email_they_use(dev_env, run_worker, keyed, policy):
    """§7: a production secret needs two engineers. The IC, listed again as the Database Lead
    under a second email with the same chat user, approves once by click and then confirms a
    claim in the second email's name: it does not count as the second engineer."""
    roster = dict(policy.roster)
    roster["database_lead"] = roster["database_lead"].model_copy(
        update={"email": "asha.r@preskool.com", "contacts": {"slack": USERS[IC]}}
    )
    twice = policy.model_copy(update={"roster": roster})
    async with run_worker(dev_env.client, keyed, with_policy=twice) as tq:
        handle = await open_with_request(dev_env.client, tq)
        await handle.signal("approve", signed(handle.id, "approve", {"request_id": "sec-1"}, IC))
        await handle.signal("approve", {"request_id": "sec-1", "by": "asha.r@preskool.com"})
        await status_when(handle, lambda s: any(e.kind == "claimed" for e in s.timeline))
        claim = {"claim_id": "claim-1", "confirmed": True}
        await handle.signal("confirm_claim", signed(handle.id, "confirm_claim", claim, IC))
        status = await status_when(handle, lambda s: any("already approved" in e.text for e in s.timeline))
        await finish(handle)
    assert status.requests[0].state == "pending" and len(status.requests[0].approvals) == 1


async def test_it_wasnt_me_raises_a_security_notice(dev_env, run_worker, keyed, slack):
    async with run_worker(dev_env.client, keyed) as tq:
        handle = await open_with_request(dev_env.client, tq, action="rollback", request_id="rb-1")
        await handle.signal("approve", {"request_id": "rb-1", "by": LEAD})
        await status_when(handle, lambda s: any(e.kind == "claimed" for e in s.timeline))
        answer = {"claim_id": "claim-1", "confirmed": False}
        await handle.signal("confirm_claim", signed(handle.id, "confirm_claim", answer, LEAD))
        status = await status_when(
            handle,
            lambda s: any(e.kind == "notified" and e.text.startswith("security-claim-1") for e in s.timeline),
        )
        await finish(handle)
    assert status.requests[0].state == "pending" and not status.requests[0].approvals
    assert any(m["text"].startswith("🚨 SECURITY") for m in slack.messages(status.channel))


async def test_a_claim_confirms_exactly_the_request_it_was_made_on(dev_env, run_worker, keyed, slack):
    """A claimed approval is bound to the request as it was (its digest): after the request
    changes, confirming the claim is refused; and only the requester may change a request."""
    async with run_worker(dev_env.client, keyed) as tq:
        handle = await open_with_request(dev_env.client, tq, action="rollback", request_id="rb-1")
        await handle.signal("approve", {"request_id": "rb-1", "by": LEAD})
        await status_when(handle, lambda s: any(e.kind == "claimed" for e in s.timeline))
        other = {"request_id": "rb-1", "action": "rollback", "target": "payments", "reason": "now this"}
        await handle.signal("request_action", signed(handle.id, "request_action", other, IC))
        await handle.signal("request_action", signed(handle.id, "request_action", other, PRIMARY))
        await status_when(handle, lambda s: s.requests[0].target == "payments")
        claim = {"claim_id": "claim-1", "confirmed": True}
        await handle.signal("confirm_claim", signed(handle.id, "confirm_claim", claim, LEAD))
        status = await status_when(handle, lambda s: any("has changed since" in e.text for e in s.timeline))
        await finish(handle)
    refused = [e.text for e in status.timeline if e.kind == "refused"]
    assert any("only they may change it" in r for r in refused), refused
    assert status.requests[0].state == "pending" and not status.requests[0].approvals


SIX_KEYS = [new_key_pair() for _ in range(6)]


@budget(100)
@given(
    waited=st.integers(-3600, 7 * 86400),
    pinned=st.sets(st.integers(0, 5), max_size=4),
    learned_after=st.booleans(),
)
def test_a_decision_a_person_made_is_never_refused_for_when_or_where_it_is_checked(
    waited, pinned, learned_after
):
    """Property (issue 23, case 5): whatever the delay before the incident checks it (a worker
    outage up to the window, a receiver's clock off by up to an hour) and whichever keys the
    incident pinned, an attestation by a key the workers hold is taken: at once when pinned,
    else after one look-up of the workers' keys, never refused."""
    from plan.decide.keys import known_keys, learned, wait_for_keys
    from plan.decision import Draft, Given
    from plan.incident import IncidentState

    keys = SIX_KEYS
    signer_private, signer_public = keys[0]
    now = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    policy = load_policy().model_copy(update={"attestation_keys": [keys[i][1] for i in sorted(pinned)]})
    d = Draft(IncidentState(started_at=now), Given(incident_id="inc-1", policy=policy, now=now))
    proof = attest(
        load_private_key(signer_private), incident_id="inc-1", signal="approve",
        signal_input={"request_id": "rb-1"}, person=LEAD, user="U0ENGLEAD1",
        at=now - timedelta(seconds=waited),
    )  # fmt: skip
    if proof.key_id not in known_keys(d):
        wait_for_keys(d, "approve", {"request_id": "rb-1"}, proof.key_id)
        assert d.s.keys_asked and len(d.s.awaiting_keys) == 1
        (waiting,) = learned(d, [k for _, k in keys[:3]] if learned_after else [signer_public])
        assert waiting.key_id == proof.key_id and not d.s.keys_asked
    check = dict(incident_id="inc-1", signal="approve", signal_input={"request_id": "rb-1"}, by=LEAD)
    assert refusal(proof, known_keys(d), **check, now=now, seen=set()) is None
