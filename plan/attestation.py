"""Who really sent a decision: an attestation the receiver signs and the incident checks itself.

§3 and §7 rest on who approves: "the Engineering Lead approves risky actions", two people for a
production secret. A `by` typed into a signal is a claim. When the receiver takes an action
from a signed Slack request, it names the Slack user Slack vouched for, and signs (Ed25519, a
key only the receiver holds) exactly what was decided: the incident, the signal, a hash of the
signal's input, the person, the time and a nonce. The incident verifies that with the public
keys its worker pinned, so someone who can only send raw Temporal signals cannot forge one.
Pure: verifying is computation. It runs in workflow code, so the native library it calls is passed
through the sandbox (connection/temporal.py NATIVE_PASSTHROUGH) and is only ever given well-formed
input: a 32-byte key and a 64-byte signature, anything else refused before it is called."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import AwareDatetime, BaseModel, Field

from plan.models import Email

# How old an attestation may be when its incident checks it, and how far ahead of the incident's
# clock: wide, because a decision a person really made is never refused for when or where it was
# checked (issue 23) — a signal waits out a worker outage in Temporal, a receiver's clock may
# differ. Replays are refused by nonce, kept as long as this window (plan/judge.py).
MAX_AGE = timedelta(days=7)
MAX_AHEAD = timedelta(hours=1)
SIGNATURE_BYTES = 64  # RFC 8032 §5.1.6: an Ed25519 signature is 64 bytes
KEY_BYTES = 32
# Fields of a signal's input an attestation does not bind (it carries itself; `by` is `person`).
UNBOUND = ("attestation", "by")


class Attestation(BaseModel):
    """The receiver's signed word that `person` (chat user `user`) sent `signal` with the input
    hashed in `request`, for `incident_id`, at `at`. `key_id` names the signing key (rotation)."""

    incident_id: str = Field(max_length=200)
    signal: str = Field(max_length=64)
    request: str = Field(pattern=r"^[0-9a-f]{64}$")
    person: Email
    user: str = Field(max_length=64, description="the chat user id (Slack U…) the request was signed for")
    at: AwareDatetime  # a time without an offset cannot be compared with the incident's clock
    nonce: str = Field(pattern=r"^[0-9a-f]{32}$")
    key_id: str = Field(pattern=r"^[0-9a-f]{8}$")
    signature: str = Field(max_length=200)

    def signed_bytes(self) -> bytes:
        """What the signature covers: every field but the signature, canonical JSON."""
        return canonical(self.model_dump(mode="json", exclude={"signature"}))


def canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def request_hash(signal_input: dict) -> str:
    """SHA-256 (hex) of the signal's input without `by` and `attestation`: the exact decision."""
    return hashlib.sha256(canonical({k: v for k, v in signal_input.items() if k not in UNBOUND})).hexdigest()


def key_id(public_key: bytes) -> str:
    """The first 8 hex digits of SHA-256 of the raw 32-byte public key."""
    return hashlib.sha256(public_key).hexdigest()[:8]


def load_private_key(b64: str) -> Ed25519PrivateKey:
    """IRP_ATTESTATION_KEY: standard base64 of the raw 32-byte Ed25519 private key. ValueError if not."""
    return Ed25519PrivateKey.from_private_bytes(_raw32(b64, "IRP_ATTESTATION_KEY"))


def public_keys(csv: str) -> dict[str, bytes]:
    """IRP_ATTESTATION_PUBLIC_KEYS (comma-separated base64 raw keys) → {key_id: raw key}.
    ValueError for a bad one."""
    keys = [_raw32(part.strip(), "IRP_ATTESTATION_PUBLIC_KEYS") for part in csv.split(",") if part.strip()]
    return {key_id(k): k for k in keys}


def new_key_pair() -> tuple[str, str]:
    """(private, public), each standard base64 of the raw 32 bytes: what `irp keygen` prints."""
    private = Ed25519PrivateKey.generate()
    raw_public = private.public_key().public_bytes_raw()
    return base64.b64encode(private.private_bytes_raw()).decode(), base64.b64encode(raw_public).decode()


def attest(
    private: Ed25519PrivateKey,
    *,
    incident_id: str,
    signal: str,
    signal_input: dict,
    person: str,
    user: str,
    at: datetime,
) -> Attestation:
    """Sign one decision (the receiver does this for a verified Slack request)."""
    unsigned = Attestation.model_construct(
        incident_id=incident_id,
        signal=signal,
        request=request_hash(signal_input),
        person=person.strip().lower(),
        user=user,
        at=at,
        nonce=secrets.token_hex(16),
        key_id=key_id(private.public_key().public_bytes_raw()),
        signature="",
    )
    signature = base64.b64encode(private.sign(unsigned.signed_bytes())).decode()
    return Attestation.model_validate({**unsigned.model_dump(mode="json"), "signature": signature})


def refusal(
    attestation: Attestation,
    keys: dict[str, bytes],
    *,
    incident_id: str,
    signal: str,
    signal_input: dict,
    by: str,
    now: datetime,
    seen: set[str],
) -> str | None:
    """Why `attestation` does not prove this decision, or None when it does. Checks, in order: a
    pinned key of that id, the signature, the incident, the signal, the input's hash, the person
    (= `by`), the age (at most MAX_AGE, at most MAX_AHEAD from the future) and the nonce."""
    key = keys.get(attestation.key_id)
    if key is None:
        return f"signed with key {attestation.key_id}, which this incident's workers do not hold"
    if not verifies(key, attestation.signature, attestation.signed_bytes()):
        return "its signature does not verify"
    wrong = [
        ("incident", attestation.incident_id, incident_id),
        ("signal", attestation.signal, signal),
        ("request", attestation.request, request_hash(signal_input)),
        ("person", attestation.person, by.strip().lower()),
    ]
    if mismatch := next((name for name, said, is_ in wrong if said != is_), None):
        return f"it was signed for another {mismatch}"
    age = now - attestation.at
    if age > MAX_AGE:
        return f"it is {_span(age)} old (at most {_span(MAX_AGE)})"
    if -age > MAX_AHEAD:
        return f"it is dated {_span(-age)} ahead of the incident's clock (at most {_span(MAX_AHEAD)})"
    if attestation.nonce in seen:
        return "its nonce was used before (a replay)"
    return None


def _span(delta: timedelta) -> str:
    """A duration as people say it: `3 d 4 h`, `2 h 5 min`, `40 s`."""
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min")] if seconds == 0 or days or hours else []
    parts = parts or [(minutes, "min"), (seconds, "s")]
    return " ".join(f"{n} {unit}" for n, unit in parts if n) or "0 s"


def verifies(key: bytes, signature_b64: str, message: bytes) -> bool:
    """Whether `signature_b64` (standard base64 of 64 bytes) is `key`'s Ed25519 signature of
    `message`. Malformed input is False before any native code sees it."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(key) != KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _raw32(b64: str, name: str) -> bytes:
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{name}: not standard base64") from None
    if len(raw) != 32:
        raise ValueError(f"{name}: an Ed25519 key is 32 raw bytes, this is {len(raw)}")
    return raw
