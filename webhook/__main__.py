"""`python -m webhook`: serve the receiver on IRP_WEBHOOK_HOST:IRP_WEBHOOK_PORT (127.0.0.1:8000)."""

from __future__ import annotations

import sys

import uvicorn
from pydantic import ValidationError

from connection.observability import configure_logging
from connection.temporal import TemporalConfigError, TemporalSettings, connect
from webhook.app import WebhookSettings, create_app
from webhook.pages import trusted_networks
from webhook.slack import SlackAppSettings


def main() -> None:
    configure_logging()
    try:
        settings = WebhookSettings()
    except ValidationError as e:
        if any(err["loc"] == ("irp_webhook_token",) for err in e.errors()):
            sys.exit("IRP_WEBHOOK_TOKEN is not set: the receiver refuses to start without a token")
        sys.exit(f"receiver not started: {e}")
    if not settings.irp_webhook_token.get_secret_value():
        sys.exit("IRP_WEBHOOK_TOKEN is empty: the receiver refuses to start without a token")
    temporal = TemporalSettings()
    try:
        # A bad TLS, API key or payload key setting stops us here, not at the first alert.
        temporal.connect_options()
    except TemporalConfigError as e:
        sys.exit(f"receiver not started: {e}")
    slack = SlackAppSettings()
    if problems := slack.problems():
        sys.exit("receiver not started: " + "; ".join(problems))
    try:
        trusted_networks(settings.irp_ui_trusted_proxies)  # a bad entry stops us here, named
    except ValueError as e:
        sys.exit(f"receiver not started: {e}")
    app = create_app(
        token=settings.irp_webhook_token,
        task_queue=temporal.temporal_task_queue,
        connect=lambda: connect(temporal),
        pagerduty_secret=settings.pagerduty_webhook_secret,
        slack=slack,
        heartbeat_alert=settings.irp_heartbeat_alert,
        ui_user_header=settings.irp_ui_user_header,
        ui_trusted_proxies=settings.irp_ui_trusted_proxies,
        temporal_ui=settings.irp_temporal_ui_url,
    )
    # Every request already gets one structured line from the app (what it did, or why it refused),
    # so uvicorn's access log would only repeat it. uvloop and httptools are used when installed.
    # proxy_headers=False: request.client is the TCP peer, never an X-Forwarded-For a client wrote
    # (IRP_UI_TRUSTED_PROXIES is checked against it; uvicorn would believe FORWARDED_ALLOW_IPS).
    uvicorn.run(
        app,
        host=settings.irp_webhook_host,
        port=settings.irp_webhook_port,
        log_level="info",
        access_log=False,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
