"""Credentials and endpoints of the outside systems, from the environment only."""

from __future__ import annotations

import ssl
from functools import cached_property
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class IntegrationSettings(BaseSettings):
    """An integration whose credentials are unset is off: its steps are recorded as skipped."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    slack_bot_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    pagerduty_events_url: str = "https://events.pagerduty.com"
    pagerduty_routing_key: SecretStr | None = None
    statuspage_api_url: str = "https://api.statuspage.io"
    statuspage_api_key: SecretStr | None = None
    statuspage_page_id: str | None = None
    prometheus_url: str | None = None
    jira_url: str | None = None
    jira_email: str | None = None
    jira_api_token: SecretStr | None = None
    jira_project: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    email_from: str = "PreSkool Incident Response <incidents@preskool.com>"
    irp_ca_bundle: Path | None = None

    @cached_property
    def ssl_context(self) -> ssl.SSLContext:
        """The system's CAs plus IRP_CA_BUNDLE, for every outbound HTTPS client."""
        context = ssl.create_default_context()
        if self.irp_ca_bundle:
            context.load_verify_locations(cafile=str(self.irp_ca_bundle))
        return context


def secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() or None if value else None
