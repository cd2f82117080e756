"""Attestation keys that rotate while an incident is open (issue 23). Pure.

An incident pins its worker's attestation public keys when it opens. The README's rotation (the
workers get the new public key, then the receiver signs with the new private key) must not turn
away a decision a person really made in an incident opened before it: the pinned set can grow.
A decision signed with a key the incident has not pinned waits (`wait_for_keys`) while one
look-up asks the workers for their current keys (effect LookUpKeys); `learned` adds the keys
the workers hold and hands the waiting decisions back to be taken again, now refused if their
key is still unknown. The look-up reads only the worker's own environment, so nobody who can
signal the incident can add a key."""

from __future__ import annotations

import base64
import binascii

from plan.attestation import KEY_BYTES, key_id
from plan.decision import Draft, Verdict
from plan.effects import LookUpKeys
from plan.events import EventKind
from plan.incident import AwaitingKeys

MAX_WAITING = 20  # decisions held for one look-up; more are refused (a flood of unknown keys)
MAX_LEARNED = 16  # keys learned over an incident's life (a rotation adds one or two)


def known_keys(d: Draft) -> dict[str, bytes]:
    """The keys this incident trusts: those it pinned and those learned since, by key id."""
    keys = [*d.policy.attestation_keys, *d.s.learned_keys]
    return {key_id(raw): raw for raw in map(base64.b64decode, keys)}


def wait_for_keys(d: Draft, signal: str, value: object, key: str) -> None:
    """Hold `value` (a `signal` input signed with key id `key`) until the workers are asked;
    one look-up at a time serves every decision waiting. Refused when MAX_WAITING already wait."""
    if len(d.s.awaiting_keys) >= MAX_WAITING:
        d.refuse(
            signal,
            f"attestation refused: signed with key {key}, which this incident's workers do not hold "
            f"({MAX_WAITING} decisions already wait for their current keys; send it again in a minute)",
        )
    d.s.awaiting_keys = [*d.s.awaiting_keys, AwaitingKeys(signal=signal, value=value, key_id=key)]
    if not d.s.keys_asked:
        d.s.keys_asked = True
        d.effect(LookUpKeys())
    d.note(
        EventKind.keys,
        f"{signal}: signed with key {key}, new to this incident; asking its workers for their current keys",
        signal=signal,
    )
    d.verdict = Verdict.pending


def learned(d: Draft, keys: list[str]) -> list[AwaitingKeys]:
    """The workers' current public keys (base64 of 32 bytes; anything else is skipped): those new
    to the incident are trusted from now on. Answers the decisions that waited, to take again."""
    known = known_keys(d)
    new = {}
    for text in keys:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(raw) == KEY_BYTES and key_id(raw) not in known:
            new[key_id(raw)] = text
    if new:
        d.s.learned_keys = [*d.s.learned_keys, *new.values()][-MAX_LEARNED:]
    waiting, d.s.awaiting_keys, d.s.keys_asked = d.s.awaiting_keys, [], False
    text = f"keys learned from the workers: {', '.join(new)}" if new else "the workers hold no key new to it"
    d.note(EventKind.keys, f"{text} ({len(waiting)} decision(s) waited)")
    return waiting
