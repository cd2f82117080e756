"""What a request to /slack/events must be before anything reads it: signed by Slack with our
signing secret (v0 HMAC-SHA256 over `v0:{timestamp}:{raw body}`, slack_sdk's SignatureVerifier),
no older than 5 minutes, from our workspace when SLACK_TEAM_ID is set, and never taken before by
any receiver (a replay of the same signed bytes). Anything else is 401 and changes nothing;
when Temporal cannot say whether it is a replay, 503, and it changes nothing either.

Replays, behind several receivers. Slack signs the timestamp and the body, so the same signature
is the same request, and a request older than WINDOW is refused anyway: a receiver must know
whether *any* receiver took this signature in the last 2 × WINDOW (a timestamp may be up to
WINDOW ahead of our clock). A set in each process cannot know that. Temporal is the one shared,
durable store every receiver already talks to, and it keeps one promise that is exactly this
check: a workflow id is started once. So each request taken is one short execution,
SlackRequestTaken (workflows/slack_request.py), with the id `slack-request-<SHA-256 of the
signature>`, started with WorkflowIDReusePolicy.REJECT_DUPLICATE and WorkflowIDConflictPolicy.FAIL:
a second start with that id, from any receiver, while it runs or after it closed, is refused by
the history service (WorkflowAlreadyStartedError), atomically, whatever the race. That refusal is
the replay. Weighed:

- (a) this, one start per request. One RPC on the request's path (tests/test_several.py prints it:
  on the dev server with its SQLite file, on a 2-core machine shared with other work (load average
  3 to 6), a median of 11-62 ms, p90 28-235 ms, at worst 571 ms, over ten runs of 40 requests;
  Slack allows 3 s); no worker on the path (the server answers the start), so a worker outage
  never refuses a click; no hot spot (ids spread over the history shards). The record lasts the
  namespace's retention after it closes (a day on the dev server; it only needs 10 minutes). A
  retried start RPC carries the SDK's same request id, which Temporal answers as the first start,
  so a network blip is never mistaken for a replay. The execution carries no input (nothing of the
  request is kept: the id is a hash of a MAC), runs one empty workflow task on the incident
  workers and ends Completed; with no worker up it waits as one pending task (a cheap wait) and
  times out after UNRUN. Its type name says what it is, and its summary says it is not an
  incident, so operators filter it away (`WorkflowType = 'IncidentWorkflow'`, as `irp list` does);
  it does fill the unfiltered list, one row per Slack request.
- (b) one long-running guard workflow whose update validator refuses a seen signature: every
  request would wait for a worker (a worker outage refuses every click), one workflow for all
  receivers is a hot spot, each accepted update echoes its input into a growing history that must
  continue as new every few hundred requests, carrying the set across, and an update racing a
  continue-as-new must be retried. More moving parts for the same answer.
- (c) from Temporal's documentation: a start's own `request_id` dedups a *retried* start by
  answering success, so it cannot tell a replay; a visibility query ("was this id seen?") is
  eventually consistent, so two receivers could both miss each other; a start delayed past a
  short execution timeout records the id with no worker ever involved (tried on the dev server:
  two events, no task), but closes as Timed Out, which reads as a failure in the Web UI and in
  the server's timeout metrics operators watch.

Fail-closed: a replay check that cannot be made is a security check that failed, so the request
is refused, 503 with the reason, within ANSWER_WITHIN (Slack wants an answer within 3 s); nothing
reads it. The Events API sends it again; a person clicks again (a new signature)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import NamedTuple
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from workflows.slack_request import ID_PREFIX, SlackRequestTaken

WINDOW = 300  # seconds: Slack's documented limit on a request's age
ANSWER_WITHIN = 2.0  # seconds Temporal has to record a request: Slack wants its answer within 3
UNRUN = timedelta(hours=1)  # a record no worker ran by then closes itself (its id still refuses)
REPLAY = "a replay of a request already taken"
UNCHECKED = "could not tell it from a replay of a request already taken"
SUMMARY = "A Slack request a receiver took: not an incident. Its id refuses a replay of the request."


class Refused(NamedTuple):
    """Why a request is not read: 401 (not a request to act on) or 503 (not checked; send again)."""

    status: int
    reason: str


class TakenRequests:
    """The Slack requests any receiver took, as Temporal workflow ids (the module's docstring).
    `temporal` gives the receiver's client (it may raise when Temporal is unreachable)."""

    def __init__(self, temporal: Callable[[], Awaitable[Client]], task_queue: str):
        self.temporal, self.task_queue = temporal, task_queue

    async def first(self, signature: str) -> bool:
        """Records `signature` as taken: True the first time any receiver offers it, False after.
        Raises what the client raises when Temporal cannot say (unreachable, overloaded)."""
        client = await self.temporal()
        try:
            await client.start_workflow(
                SlackRequestTaken.run,
                id=request_id(signature),
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                execution_timeout=UNRUN,
                static_summary=SUMMARY,
            )
        except WorkflowAlreadyStartedError:
            return False
        return True


def request_id(signature: str) -> str:
    """`slack-request-<hex SHA-256 of X-Slack-Signature>`: the signature names the exact signed
    bytes; the hash keeps the id short and the MAC out of Temporal."""
    return ID_PREFIX + hashlib.sha256(signature.encode()).hexdigest()


class SlackGuard:
    """Checks every request to /slack/events before anything reads it (the module's docstring)."""

    def __init__(self, signing_secret: str, team_id: str | None, taken: TakenRequests):
        self.verifier = SignatureVerifier(signing_secret)
        self.team_id = team_id
        self.taken = taken

    async def refusal(self, headers, body: bytes, now: float | None = None) -> Refused | None:
        """Why the request is refused, or None: then it is recorded as taken, for every receiver."""
        if why := self.not_ours(headers, body, now):
            return Refused(401, why)
        try:
            first = await asyncio.wait_for(self.taken.first(headers["x-slack-signature"]), ANSWER_WITHIN)
        except TimeoutError:
            return Refused(503, f"{UNCHECKED}: Temporal did not answer within {ANSWER_WITHIN:.0f} s")
        except Exception as e:  # unreachable, refused, overloaded: fail closed, and say why
            said = getattr(e, "reason", None) or getattr(e, "message", None) or str(e) or type(e).__name__
            return Refused(503, f"{UNCHECKED}: {said}")
        return None if first else Refused(401, REPLAY)

    def not_ours(self, headers, body: bytes, now: float | None = None) -> str | None:
        """Why the request is not one Slack signed for this app in the last WINDOW seconds, from our
        workspace; None when it is. Pure: the signing secret and the clock only."""
        now = time.time() if now is None else now
        timestamp = headers.get("x-slack-request-timestamp", "")
        signature = headers.get("x-slack-signature", "")
        if not timestamp.isdigit() or abs(now - int(timestamp)) > WINDOW:
            return "stale or missing X-Slack-Request-Timestamp"
        if not self.verifier.is_valid(body, timestamp, signature):
            return "bad X-Slack-Signature"
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
