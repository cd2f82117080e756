"""What a request to /slack/events must be before anything reads it: signed by Slack with our
signing secret (v0 HMAC-SHA256 over `v0:{timestamp}:{raw body}`, slack_sdk's SignatureVerifier),
no older than 5 minutes, never seen before (a replay of the same signed bytes), and, with
SLACK_TEAM_ID set, from our workspace. Anything else is 401 and changes nothing."""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier

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
        if not self.verifier.is_valid(body, timestamp, signature):
            return "bad X-Slack-Signature"
        while self.seen and next(iter(self.seen.values())) < now - 2 * WINDOW:
            self.seen.popitem(last=False)
        if signature in self.seen:
            return "a replay of a request already taken"
        self.seen[signature] = now
        if self.team_id and team_of(body) != self.team_id and not url_verification(body):
            return "a request from another Slack workspace (or naming none)"
        return None


def team_of(body: bytes) -> str | None:
    """The workspace a request comes from: interactions (`payload=` JSON), slash commands (form
    `team_id`) and events (JSON `team_id`). None when the body names none (url_verification)."""
    text = body.decode("utf-8", "replace")
    if text.startswith("{"):
        try:
            return json.loads(text).get("team_id")
        except ValueError:
            return None
    form = parse_qs(text)
    if "payload" in form:
        try:
            payload = json.loads(form["payload"][0])
        except ValueError:
            return None
        return (payload.get("team") or {}).get("id") or payload.get("team_id")
    return (form.get("team_id") or [None])[0]


def url_verification(body: bytes) -> bool:
    """Slack's requests that name no team: the events URL handshake, and the SSL check."""
    if parse_qs(body.decode("utf-8", "replace")).get("ssl_check") == ["1"]:
        return True
    try:
        return json.loads(body).get("type") == "url_verification"
    except (ValueError, AttributeError):
        return False
