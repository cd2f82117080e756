"""People act from Slack (issue 15): a Slack app inside the receiver, on Slack's own framework
(slack_bolt's AsyncApp), at one endpoint, `POST /slack/events`, for button clicks, modals, the
`/incident` command and reactions.

The person is the Slack user of the signed request, never a field they type: the receiver asks
Slack who they are (users.info, their verified email) and passes each action to the incident
with an Ed25519 attestation (plan/attestation.py) the incident checks itself.

Settings: SLACK_SIGNING_SECRET turns it on (with SLACK_BOT_TOKEN, and IRP_ATTESTATION_KEY, without
which the receiver refuses to start); SLACK_TEAM_ID refuses other workspaces; SLACK_API_URL points
the Web API client at a proxy or the sandbox."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SlackAppSettings(BaseSettings):
    """The Slack app's settings, from the environment only."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True)

    slack_signing_secret: SecretStr | None = Field(
        None,
        description=(
            "The Slack app's signing secret: turns on /slack/events (people acting from Slack); needs "
            "SLACK_BOT_TOKEN and IRP_ATTESTATION_KEY."
        ),
    )
    slack_bot_token: SecretStr | None = Field(
        None,
        description="The bot token the receiver's Slack app answers with (the worker's app's).",
    )
    slack_team_id: str | None = Field(
        None,
        description="The Slack workspace's id: requests from any other workspace are refused (401).",
    )
    slack_api_url: str = Field(
        "https://slack.com/api/",
        description="Slack's Web API, or a proxy or the sandbox in its place.",
    )
    irp_attestation_key: SecretStr | None = Field(
        None,
        description="The receiver's Ed25519 private key (base64, `irp keygen`): signs who acted from Slack.",
    )

    @property
    def enabled(self) -> bool:
        return bool(self.slack_signing_secret and self.slack_signing_secret.get_secret_value())

    def problems(self) -> list[str]:
        """What stops the receiver from starting with the Slack app on (empty when all is well)."""
        if not self.enabled:
            return []
        missing = [
            name
            for name, value in (
                ("SLACK_BOT_TOKEN", self.slack_bot_token),
                ("IRP_ATTESTATION_KEY", self.irp_attestation_key),
            )
            if not (value and value.get_secret_value())
        ]
        return [f"SLACK_SIGNING_SECRET is set but {name} is not" for name in missing]
