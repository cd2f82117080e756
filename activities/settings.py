"""What every provider's settings share, from the environment only: the CA bundle that outbound
HTTPS and SMTP trust. Each provider's own settings class (beside the provider) extends this one."""

from __future__ import annotations

import ssl
from functools import cached_property
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SharedSettings(BaseSettings):
    """A provider whose credentials are unset is off: its steps are recorded as skipped.

    Read from environment variables named like the fields (IRP_CA_BUNDLE, …); unknown variables
    are ignored. Secrets are SecretStr: printed or logged, they show as `**********`."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True, env_ignore_empty=True)

    irp_ca_bundle: Path | None = None
    # Ed25519 public keys (comma-separated base64) whose attestations prove who acted (issue 15).
    irp_attestation_public_keys: str = ""

    @cached_property
    def ssl_context(self) -> ssl.SSLContext:
        """The system's CAs plus IRP_CA_BUNDLE (a PEM file), for every outbound TLS client."""
        context = ssl.create_default_context()
        if self.irp_ca_bundle:
            context.load_verify_locations(cafile=str(self.irp_ca_bundle))
        return context


def secret(value: SecretStr | None) -> str | None:
    """The secret's text, or None when it is unset or empty."""
    return value.get_secret_value() or None if value else None
