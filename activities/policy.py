"""The policy an incident works by: the worker's, read once at its start and kept in its own
history (a local activity), so the incident keeps the rules it began with."""

from __future__ import annotations

from temporalio import activity

from plan import Policy


class PolicyActivities:
    """The worker is the one reader of the policy file; secrets (routing keys) never leave it:
    they are excluded from the copy the incident keeps."""

    def __init__(self, policy: Policy):
        self.policy = policy

    @activity.defn
    async def current_policy(self) -> Policy:
        return self.policy

    @activity.defn
    async def attestation_keys(self) -> list[str]:
        """This worker's attestation public keys now (base64, from IRP_ATTESTATION_PUBLIC_KEYS):
        an incident opened before a rotation learns the new key from them (plan/decide/keys.py)."""
        return list(self.policy.attestation_keys)
