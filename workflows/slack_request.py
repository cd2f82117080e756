"""A Slack request some receiver took (webhook/slack/guard.py): its record, shared by every
receiver. The record is the workflow id, `slack-request-<SHA-256 of the request's
X-Slack-Signature>`, which Temporal lets start only once; the execution itself carries nothing
of the request and ends at once. It is not an incident: the Web UI lists it under its own type."""

from __future__ import annotations

from temporalio import workflow

ID_PREFIX = "slack-request-"


@workflow.defn
class SlackRequestTaken:
    @workflow.run
    async def run(self) -> None:
        """Nothing to do: the id is the record, and a start with it again is refused."""
