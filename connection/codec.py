"""Payload encryption at rest: an AES-256-GCM PayloadCodec keyed by IRP_PAYLOAD_KEY.

Every payload the SDK writes (workflow inputs and results, signals, updates, queries, activity
arguments and results, memos, summaries, failure details) is serialized whole, metadata and data,
and sealed with AES-256-GCM under a fresh 96-bit nonce. The Temporal server, and anyone who reads
its database or the Web UI without the codec server, sees only:

    metadata: {"encoding": "binary/encrypted", "encryption-key-id": "<16 hex>"}
    data:     nonce (12 bytes) || ciphertext || GCM tag (16 bytes)

The key id (a hash of the key, never the key) names the key that sealed the payload, so keys
rotate: IRP_PAYLOAD_KEY encrypts everything new, and IRP_PAYLOAD_OLD_KEYS (comma-separated)
still decrypt what older keys sealed. A payload that is not encrypted passes through decode
unchanged, so turning encryption on does not break incidents that are already running.

    python -m connection.codec keygen    a new key (base64 of 32 random bytes)
    python -m connection.codec key-id    the key ids of IRP_PAYLOAD_KEY and IRP_PAYLOAD_OLD_KEYS
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import sys
from collections.abc import Iterable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from plan.person_input import SEALED, SEALED_KEY_ID, UNOPENED

ENCODING = SEALED.encode()
KEY_ID = SEALED_KEY_ID
CIPHER = "encryption-cipher"
CIPHER_NAME = b"AES-256-GCM"
NONCE_SIZE = 12
KEY_SIZE = 32


class PayloadKeyError(ValueError):
    """A payload key is malformed or missing. The message names the setting and the key id,
    never the key."""


class PayloadDecryptError(ValueError):
    """An encrypted payload could not be opened: unknown key id, or it fails authentication."""


def generate_key() -> str:
    """A new key for IRP_PAYLOAD_KEY: the base64 of 32 random bytes."""
    return base64.b64encode(os.urandom(KEY_SIZE)).decode()


def parse_key(text: str, setting: str = "IRP_PAYLOAD_KEY") -> bytes:
    """The 32 key bytes of one base64 key; a clear error (without the value) when it is not one."""
    text = text.strip()
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        try:  # the url-safe alphabet, as some secret stores re-encode
            key = base64.b64decode(text.translate(str.maketrans("-_", "+/")), validate=True)
        except (binascii.Error, ValueError):
            raise PayloadKeyError(
                f"{setting} is not base64; it must be the base64 of {KEY_SIZE} random bytes "
                "(make one with `python -m connection.codec keygen`)"
            ) from None
    if len(key) != KEY_SIZE:
        raise PayloadKeyError(
            f"{setting} decodes to {len(key)} bytes; AES-256 needs exactly {KEY_SIZE} "
            "(make one with `python -m connection.codec keygen`)"
        )
    return key


def key_id(key: bytes) -> str:
    """The public name of a key: 64 bits of a domain-separated SHA-256, safe to show and log."""
    return hashlib.sha256(b"preskool-irp payload key id\x00" + key).hexdigest()[:16]


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over whole serialized payloads; decrypts with the current key or any old one."""

    def __init__(self, key: bytes, old_keys: Iterable[bytes] = (), keep_unknown: bool = False):
        """`keep_unknown`: a payload sealed by a key this codec lacks is passed on still sealed
        instead of failing the whole decode (the worker's choice: one such signal must not wedge
        an incident; the incident refuses it by its key id)."""
        self.keep_unknown = keep_unknown
        if len(key) != KEY_SIZE:
            raise PayloadKeyError(f"the payload key must be {KEY_SIZE} bytes, not {len(key)}")
        self.key_id = key_id(key)
        self._encrypt = AESGCM(key)
        self._keys: dict[str, AESGCM] = {self.key_id: self._encrypt}
        for old in old_keys:
            if len(old) != KEY_SIZE:
                raise PayloadKeyError(f"an old payload key must be {KEY_SIZE} bytes, not {len(old)}")
            self._keys.setdefault(key_id(old), AESGCM(old))

    @classmethod
    def from_text(cls, key: str, old_keys: str | None = None) -> EncryptionCodec:
        """From the environment's form: one base64 key, and a comma-separated list of old ones."""
        old = [
            parse_key(part, f"IRP_PAYLOAD_OLD_KEYS (entry {i})")
            for i, part in enumerate((old_keys or "").split(","), start=1)
            if part.strip()
        ]
        return cls(parse_key(key), old)

    def keeping_unknown(self) -> EncryptionCodec:
        """The same keys, passing on payloads sealed by unknown ones (see __init__)."""
        codec = object.__new__(EncryptionCodec)
        codec.__dict__.update(self.__dict__, keep_unknown=True)
        return codec

    @property
    def key_ids(self) -> list[str]:
        """Every key id this codec decrypts, the current one first."""
        return list(self._keys)

    def __repr__(self) -> str:
        return f"EncryptionCodec(key_id={self.key_id!r}, decrypts={self.key_ids!r})"

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_SIZE)
        kid = self.key_id.encode()
        sealed = self._encrypt.encrypt(nonce, payload.SerializeToString(deterministic=True), kid)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: kid, CIPHER: CIPHER_NAME}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before encryption was on: pass it through
        kid = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        aead = self._keys.get(kid)
        if aead is None and self.keep_unknown:
            return payload
        if aead is None:
            raise PayloadDecryptError(
                f"payload was encrypted with key id {kid or '(none)'}, which is neither IRP_PAYLOAD_KEY "
                f"({self.key_id}) nor one of IRP_PAYLOAD_OLD_KEYS; add that key to IRP_PAYLOAD_OLD_KEYS"
            )
        if len(payload.data) < NONCE_SIZE + 16:
            return self._unopened(payload, f"encrypted payload (key id {kid}) is truncated")
        try:
            plain = aead.decrypt(payload.data[:NONCE_SIZE], payload.data[NONCE_SIZE:], kid.encode())
        except InvalidTag:
            return self._unopened(
                payload,
                f"encrypted payload (key id {kid}) fails authentication: "
                "it was altered, or sealed by another key with the same id",
            )
        return Payload.FromString(plain)

    def _unopened(self, payload: Payload, why: str) -> Payload:
        """Raise PayloadDecryptError; in the worker (`keep_unknown`) pass the payload on marked
        unopened instead, so the incident refuses it rather than failing every task."""
        if not self.keep_unknown:
            raise PayloadDecryptError(why)
        return Payload(metadata={**payload.metadata, "encoding": UNOPENED.encode()}, data=payload.data)


class PayloadKeySettings(BaseSettings):
    """IRP_PAYLOAD_KEY (encrypts) and IRP_PAYLOAD_OLD_KEYS (still decrypt), from the environment."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True)

    irp_payload_key: SecretStr | None = Field(
        None,
        description=(
            "The AES-256-GCM key (base64 of 32 bytes: `python -m connection.codec keygen`) that encrypts "
            "every payload; unset, payloads are not encrypted."
        ),
    )
    irp_payload_old_keys: SecretStr | None = Field(
        None,
        description=(
            "Older payload keys (base64, comma-separated) that still decrypt what they sealed, while keys"
            " rotate."
        ),
    )

    def payload_codec(self) -> EncryptionCodec | None:
        """The codec when IRP_PAYLOAD_KEY is set, else None. PayloadKeyError for a bad key."""
        key = self.irp_payload_key.get_secret_value().strip() if self.irp_payload_key else ""
        old = self.irp_payload_old_keys.get_secret_value() if self.irp_payload_old_keys else ""
        if not key:
            if old.strip():
                raise PayloadKeyError(
                    "IRP_PAYLOAD_OLD_KEYS is set without IRP_PAYLOAD_KEY: set the current key "
                    "too (old keys only decrypt)"
                )
            return None
        return EncryptionCodec.from_text(key, old)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["keygen"]:
        print(generate_key())
        return 0
    if args == ["key-id"]:
        try:
            codec = PayloadKeySettings().payload_codec()
        except PayloadKeyError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        if codec is None:
            print("IRP_PAYLOAD_KEY is not set: payloads are not encrypted", file=sys.stderr)
            return 1
        print(f"encrypts with {codec.key_id}")
        for kid in codec.key_ids[1:]:
            print(f"decrypts {kid}")
        return 0
    print("usage: python -m connection.codec keygen | key-id", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
