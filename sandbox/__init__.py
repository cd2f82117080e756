"""Local stand-ins for Slack and PagerDuty that speak their real wire formats, so the real client
libraries run against them in the tests and the demo. Run both with `python -m sandbox`."""

from sandbox.base import Call, FakeServer
from sandbox.pagerduty import Alert, PagerDutyFake
from sandbox.slack import DEFAULT_TOKEN, SlackFake

__all__ = ["Alert", "Call", "DEFAULT_TOKEN", "FakeServer", "PagerDutyFake", "SlackFake"]
