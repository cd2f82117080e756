"""The environment that points every provider at the sandbox's fakes: one place for the tests,
the recorded histories and the benchmarks (their workers in-process or as their own process)."""

from __future__ import annotations

from activities import IntegrationSettings

SLACK_TOKEN = "xoxb-sandbox-token"
ROUTING_KEY = "R0UT1NGKEY0SANDBOX00000000000000"
STATUSPAGE_KEY = "sandbox-statuspage-key"
PAGERDUTY_API_TOKEN = "u+sandboxRestApiKey0"


def sandbox_env(slack, pagerduty, statuspage, prometheus, jira, smtp) -> dict[str, str]:
    """Environment variables (as worker.py reads them) for the running fakes."""
    return {
        "SLACK_BOT_TOKEN": SLACK_TOKEN,
        "SLACK_API_URL": slack.url,
        "PAGERDUTY_EVENTS_URL": pagerduty.url,
        "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
        "PAGERDUTY_API_URL": pagerduty.url,  # the REST API's on-call look-ups, on the same fake
        "PAGERDUTY_API_TOKEN": PAGERDUTY_API_TOKEN,
        "IRP_CA_BUNDLE": str(pagerduty.ca_pem_path),
        "STATUSPAGE_API_URL": statuspage.url,
        "STATUSPAGE_API_KEY": STATUSPAGE_KEY,
        "STATUSPAGE_PAGE_ID": statuspage.page_id,
        "PROMETHEUS_URL": prometheus.url,
        "JIRA_URL": jira.url,
        "JIRA_EMAIL": jira.email,
        "JIRA_API_TOKEN": jira.api_token,
        "JIRA_PROJECT": jira.project,
        "SMTP_HOST": smtp.host,
        "SMTP_PORT": str(smtp.port),
        "SMTP_USERNAME": smtp.username,
        "SMTP_PASSWORD": smtp.password,
    }


def sandbox_settings(slack, pagerduty, statuspage, prometheus, jira, smtp) -> IntegrationSettings:
    """The same, as the settings an in-process worker is built with."""
    env = sandbox_env(slack, pagerduty, statuspage, prometheus, jira, smtp)
    return IntegrationSettings(**{name.lower(): value for name, value in env.items()})


def sandbox_env_from_startup(info: dict) -> dict[str, str]:
    """The same variables for a sandbox run as its own process (`python -m sandbox`), from the
    JSON line it prints when it listens."""
    return {
        "SLACK_BOT_TOKEN": info["slack_token"],
        "SLACK_API_URL": info["slack_url"],
        # The Slack app (issue 15): the receiver checks the sandbox's signatures as Slack's.
        "SLACK_SIGNING_SECRET": info.get("slack_signing_secret", ""),
        "SLACK_TEAM_ID": info.get("slack_team_id", ""),
        "PAGERDUTY_EVENTS_URL": info["pagerduty_url"],
        "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
        "IRP_CA_BUNDLE": info["ca_bundle"],
        "STATUSPAGE_API_URL": info["statuspage_url"],
        "STATUSPAGE_API_KEY": info["statuspage_api_key"],
        "STATUSPAGE_PAGE_ID": info["statuspage_page_id"],
        "PROMETHEUS_URL": info["prometheus_url"],
        "JIRA_URL": info["jira_url"],
        "JIRA_EMAIL": info["jira_email"],
        "JIRA_API_TOKEN": info["jira_api_token"],
        "JIRA_PROJECT": info["jira_project"],
        "SMTP_HOST": info["smtp_host"],
        "SMTP_PORT": str(info["smtp_port"]),
        "SMTP_USERNAME": info["smtp_username"],
        "SMTP_PASSWORD": info["smtp_password"],
    }
