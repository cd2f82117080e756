"""What a request to /slack/events must be before anything reads it: signed by Slack with our
signing secret (v0 HMAC-SHA256 over `v0:{timestamp}:{raw body}`, slack_sdk's SignatureVerifier),
no older than 5 minutes, never seen before (a replay of the same signed bytes), and, with
SLACK_TEAM_ID set, from our workspace. Anything else is 401 and changes nothing."""

from __future__ import annotations

import time
from collections import OrderedDict

from slack_sdk.signature import SignatureVerifier

from webhook.slack.shapes import parsed

WINDOW = 300  # seconds: Slack's documented limit on a request's age


class SlackGuard:
    def __init__(self, signing_secret: str, team_id: str | None = None):
        self.verifier = SignatureVerifier(signing_secret)
        self.team_id = team_id
        self.seen: OrderedDict[str, float] = OrderedDict()  # signatures of the last WINDOW seconds

    def refusal(self, headers, body: bytes, now: float | None = None) -> str | None:
        """Why the request is refused (401), or None."""
        now = time.time() if now is None else now
        timestamp = headers.get("x-slack-request-timestamp", "")
        signature = headers.get("x-slack-signature", "")
        if not timestamp.isdigit() or abs(now - int(timestamp)) > WINDOW:
            return "stale or missing X-Slack-Request-Timestamp"
        try:
            valid = self.verifier.is_valid(body, timestamp, signature)
        except UnicodeDecodeError:  # slack_sdk reads the body as UTF-8 to check it
            return "a body that is not UTF-8 (Slack sends UTF-8)"
        if not valid:
            return "bad X-Slack-Signature"
        while self.seen and next(iter(self.seen.values())) < now - 2 * WINDOW:
            self.seen.popitem(last=False)
        if signature in self.seen:
            return "a replay of a request already taken"
        self.seen[signature] = now
        kind = headers.get("content-type")
        if self.team_id and team_of(body, kind) != self.team_id and not url_verification(body, kind):
            return "a request from another Slack workspace (or naming none)"
        return None


def team_of(body: bytes, content_type: str | None = None) -> str | None:
    """The workspace a request comes from: interactions (`payload=` JSON: `team.id`), slash
    commands (form `team_id`) and events (JSON `team_id`), read as Bolt reads the body. None
    when the body names none (url_verification) or cannot be read."""
    payload = parsed(body, content_type)
    team = payload.get("team")
    found = team.get("id") if isinstance(team, dict) else None
    found = found or payload.get("team_id")
    return found if isinstance(found, str) else None


def url_verification(body: bytes, content_type: str | None = None) -> bool:
    """Slack's requests that name no team: the events URL handshake, and the SSL check."""
    payload = parsed(body, content_type)
    return payload.get("ssl_check") == "1" or payload.get("type") == "url_verification"
