"""What every provider's settings share, from the environment only: the CA bundle that outbound
HTTPS and SMTP trust. Each provider's own settings class (beside the provider) extends this one."""

from __future__ import annotations

import ssl
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SharedSettings(BaseSettings):
    """A provider whose credentials are unset is off: its steps are recorded as skipped.

    Read from environment variables named like the fields (IRP_CA_BUNDLE, …); unknown variables
    are ignored. Secrets are SecretStr: printed or logged, they show as `**********`."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True, env_ignore_empty=True)

    irp_ca_bundle: Path | None = Field(
        None,
        description=(
            "A PEM file of extra CAs that every outbound HTTPS and SMTP client trusts (a proxy's, the "
            "sandbox's)."
        ),
    )
    irp_attestation_public_keys: str = Field(
        "",
        description=(
            "The receivers' Ed25519 public keys (base64, comma-separated while rotating): with them a "
            "gated decision counts only when attested or confirmed; unset, claims are believed."
        ),
    )

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
