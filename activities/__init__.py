"""Activities: the only code that talks to the outside world. One module per outside system
(slack.py, pagerduty.py) behind the small interfaces in bridge.py and paging.py."""

from __future__ import annotations

from collections.abc import Callable

from activities.bridge import BridgeActivities
from activities.email import EmailActivities
from activities.executor import ExecutorActivities
from activities.jira import Jira
from activities.pagerduty import PagerDutyPager
from activities.paging import PagingActivities
from activities.postmortem import PostmortemActivities
from activities.prometheus import Prometheus
from activities.settings import IntegrationSettings, secret
from activities.slack import SlackChat
from activities.smtp import Smtp
from activities.status_page import StatusPageActivities
from activities.statuspage import Statuspage
from activities.tickets import TicketActivities
from activities.verification import VerificationActivities
from plan import Policy


def build_activities(settings: IntegrationSettings, policy: Policy) -> list[Callable]:
    """Every activity the worker serves, wired to the providers whose credentials are set."""
    token = secret(settings.slack_bot_token)
    chat = SlackChat(token, settings.slack_api_url, settings.ssl_context) if token else None
    pager = PagerDutyPager(settings.pagerduty_events_url, settings.ssl_context)
    statuspage_key = secret(settings.statuspage_api_key)
    statuspage = Statuspage(settings.statuspage_api_url, statuspage_key, settings.statuspage_page_id,
                            settings.ssl_context) if statuspage_key and settings.statuspage_page_id else None
    prometheus = Prometheus(settings.prometheus_url, settings.ssl_context) if settings.prometheus_url else None
    jira_token = secret(settings.jira_api_token)
    jira = Jira(settings.jira_url, settings.jira_email, jira_token, settings.jira_project, settings.ssl_context) \
        if settings.jira_url and settings.jira_email and jira_token and settings.jira_project else None
    smtp = Smtp(settings.smtp_host, settings.smtp_port, settings.smtp_username, secret(settings.smtp_password),
                settings.smtp_starttls, settings.email_from, settings.ssl_context) if settings.smtp_host else None
    paging = PagingActivities(pager, policy, secret(settings.pagerduty_routing_key))
    bridge = BridgeActivities(chat)
    return [paging.page_role, paging.resolve_page,
            bridge.open_bridge, bridge.invite_to_bridge, bridge.post_to_bridge, bridge.archive_bridge,
            bridge.notify_person,
            StatusPageActivities(statuspage).publish_status, VerificationActivities(prometheus).verify_recovery,
            ExecutorActivities().run_action, PostmortemActivities().draft_postmortem,
            TicketActivities(jira).create_ticket, EmailActivities(smtp).send_email]
