"""The Slack app's listeners: what each button, modal, `/incident` subcommand and reaction does.

Every listener acknowledges Slack first (Bolt answers within its 3 seconds) and then acts: it
names the person from the signed request, attests the action and sends it to the incident's
`act` update, whose answer decides what the person sees — the message updated in place ("who did
what, and when"), or a refusal only they see."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError

from connection.http import BodyTooLarge, read_capped
from incident_client.intake import declare_incident
from plan import Declaration, buttons
from plan.attestation import attest, load_private_key
from plan.signals import Outcome
from webhook.schema import SLACK, SLACK_ANSWERS
from webhook.slack import SlackAppSettings, reactions
from webhook.slack.guard import SlackGuard, TakenRequests
from webhook.slack.people import SlackPeople
from webhook.slack.shapes import unreadable
from webhook.slack.views import MODALS, notice, read, waiting
from webhook.slack.views import view as modal_view

log = logging.getLogger("webhook.slack")
MAX_BODY = 1024 * 1024  # Slack's requests are small; a button's value is at most 2,000 characters
STAND_IN = "someone@example.com"  # checks a modal's fields before Slack says who sent it
NUMBERED = re.compile(r"\.[0-9]{1,2}$")  # a button of a list (buttons.TICK): its number
ANSWER = 10.0  # seconds to wait for the incident's answer after Slack has had its ack
ASK = 10.0  # seconds to wait for the incident's status (a worker replaying a long history is slow)
ANYTHING = re.compile(".*")  # the listeners of last resort: every other shape Slack sends is answered
# Buttons that act at once: the signal, its input from the button's value, and the line they leave.
AT_ONCE = {
    buttons.ACK: ("acknowledge", (), "✅ Acknowledged"),
    buttons.APPROVE: ("approve", ("request_id", "digest"), "✅ Approved"),
    buttons.CONFIRM: ("confirm_claim", ("claim_id",), "✅ Confirmed"),
    buttons.NOT_ME: ("confirm_claim", ("claim_id",), "🚨 Reported as not you"),
    buttons.TICK: ("tick_checklist", ("role", "item"), "☑️ Done"),
}
# Buttons that open a modal first, and the modal.
ASKING = {
    buttons.UPDATE: "irp.update",
    buttons.MITIGATE: "irp.mitigate",
    buttons.RESOLVE: "irp.resolve",
    buttons.DENY: "irp.deny",
    buttons.COMPLETE: "irp.complete",
    buttons.WAIVE: "irp.waive",
}
HELP = (
    "*/incident* — `declare` (a modal) · `ack` · `update` (a modal) · `role <role> @person` · "
    "`handover [role] @person [note]` · `status` (only you see it) · `help`. In a bridge channel "
    "the incident is the channel's."
)
NOT_A_BRIDGE = "`/incident {verb}` works in an incident's bridge channel. " + HELP
# Why Slack would not open a form, for the person (views.open's errors).
NOT_OPENED = {
    "expired_trigger_id": "Slack allows 3 seconds to open a form and they had passed",
    "exchanged_trigger_id": "this click already opened a form",
}


class SlackActions:
    """The Bolt app and what its listeners need: Slack's Web API, who people are, the signing
    key, and the incidents (Temporal)."""

    def __init__(
        self,
        settings: SlackAppSettings,
        temporal: Callable[[], Awaitable[Client]],
        task_queue: str,
        clock: Callable[[], datetime] | None = None,
    ):
        # What "now" is for an attestation: the wall clock, except in a drill on a compressed
        # clock (devstack/drill_runner.py), where it is the Temporal test server's.
        self.clock = clock or (lambda: datetime.now(UTC))
        self.web = AsyncWebClient(
            token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url
        )
        self.people = SlackPeople(self.web, settings.slack_team_id)
        self.key = load_private_key(settings.irp_attestation_key.get_secret_value())
        self.temporal, self.task_queue = temporal, task_queue
        self.app = AsyncApp(
            signing_secret=settings.slack_signing_secret.get_secret_value(),
            token=settings.slack_bot_token.get_secret_value(),
            client=self.web,
        )
        for action in AT_ONCE:
            self.app.action(re.compile(rf"^{re.escape(action)}(\.[0-9]{{1,2}})?$"))(after_ack(self.at_once))
        for action in ASKING:
            self.app.action(action)(after_ack(self.asking))
        for callback_id in MODALS:
            self.app.view(callback_id)(after_ack(self.submitted))
        self.app.command("/incident")(after_ack(self.command))
        self.app.event("reaction_added")(after_ack(self.reaction))
        self.app.event("reaction_removed")(after_ack(self.reaction))
        self.last_resort()

    # --- the incident ----------------------------------------------------------------------------

    async def send(self, incident: str, signal: str, data: dict, user: str, wait: float = ANSWER) -> Outcome:
        """The action, attested as `user`'s, through the incident's `act` update: its Outcome."""
        email = await self.people.email(user)
        if email is None:
            return Outcome(signal=signal, accepted=False, reason="Slack has no verified email for you")
        attestation = attest(
            self.key, incident_id=incident, signal=signal, signal_input=data,
            person=email, user=user, at=self.clock(),
        )  # fmt: skip
        signed = {**data, "by": email, "attestation": attestation.model_dump(mode="json")}
        try:
            handle = (await self.temporal()).get_workflow_handle(incident)
            return await asyncio.wait_for(
                handle.execute_update("act", {"signal": signal, "input": signed}, result_type=Outcome), wait
            )
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            return Outcome(signal=signal, accepted=True, notes=["sent; the incident has not answered yet"])
        except Exception as e:  # an unknown incident, Temporal away: say so, to this person only
            reason = getattr(getattr(e, "cause", None), "message", None) or str(e) or type(e).__name__
            return Outcome(signal=signal, accepted=False, reason=reason)

    # --- buttons ---------------------------------------------------------------------------------

    async def at_once(self, ack, body, action) -> None:
        await ack()
        signal, keys, done = AT_ONCE[NUMBERED.sub("", action["action_id"])]
        target = json.loads(action.get("value") or "{}")
        data = {k: target[k] for k in keys if k in target}
        if signal == "confirm_claim":
            data["confirmed"] = action["action_id"] == buttons.CONFIRM
        user, where = body["user"]["id"], body.get("container") or {}
        outcome = await self.send(target["incident"], signal, data, user)
        await self.answer(
            outcome, user, where.get("channel_id"), where.get("message_ts"), done, action["action_id"]
        )

    async def asking(self, ack, body, action) -> None:
        await ack()
        target = json.loads(action.get("value") or "{}")
        where = body.get("container") or {}
        context = {**target, "channel": where.get("channel_id"), "ts": where.get("message_ts")}
        view = modal_view(ASKING[action["action_id"]], context)
        await self.open(body["trigger_id"], view, body["user"]["id"], where.get("channel_id"))

    # --- modals ----------------------------------------------------------------------------------

    async def submitted(self, ack, body, view) -> None:  # Bolt passes the arguments by name
        """What does not fit is answered in the modal at once, field by field; what does is
        acknowledged at once (Slack closes the modal) and then sent: the incident's answer comes
        to the person as a message only they see, and the message acted on is updated."""
        callback_id, user = view["callback_id"], body["user"]["id"]
        context = json.loads(view.get("private_metadata") or "{}")
        fixed = {k: context[k] for k in ("request_id", "deliverable", "digest") if k in context}
        # Who it is comes from Slack after the ack; the form is checked with a stand-in person.
        person = (
            {"reporter": STAND_IN, "source": "slack"} if callback_id == "irp.declare" else {"by": STAND_IN}
        )
        data, errors = read(callback_id, view, fixed | person)
        if errors:
            return await ack(response_action="errors", errors=errors)
        await ack()
        if callback_id == "irp.declare":
            return await self.declare(user, data)
        modal = MODALS[callback_id]
        data = {k: v for k, v in data.items() if k != "by"}
        outcome = await self.send(context["incident"], modal.signal, data, user)
        if not outcome.accepted:
            return await self.tell(user, context.get("channel"), said(outcome))
        line = {"irp.deny": "🛑 Denied", "irp.complete": "✅ Completed", "irp.waive": "Waived"}
        if "not answered yet" in " ".join(outcome.notes):
            await self.tell(user, context.get("channel"), "⏳ sent; the incident has not answered yet")
        elif callback_id in line and not outcome.pending:
            await self.mark(context.get("channel"), context.get("ts"), line[callback_id], user)

    async def declare(self, user: str, data: dict) -> None:
        email = await self.people.email(user)
        if email is None:
            return await self.tell(user, None, "🚫 Slack has no verified email for you here")
        receipt = await declare_incident(
            await self.temporal(), self.task_queue, Declaration(**{**data, "reporter": email})
        )
        await self.tell(user, None, f"Declared {receipt.incident_id} ({receipt.severity}).")

    # --- /incident -------------------------------------------------------------------------------

    async def command(self, ack, body, respond) -> None:
        words = (body.get("text") or "").split()
        verb = words[0].lower() if words else "help"
        if verb == "help" or verb not in ("declare", "ack", "update", "role", "handover", "status"):
            return await ack(HELP if verb == "help" else f"Unknown `{verb}`. {HELP}")
        await ack()
        user, channel = body["user_id"], body["channel_id"]
        if verb == "declare":
            return await self.open(body["trigger_id"], modal_view("irp.declare", {}), user, channel)
        if verb == "update":
            return await self.open_then_fill(body, "irp.update")
        incident, status, why = await self.incident_here(body)
        if incident is None:
            return await respond(why.format(verb=verb))
        if verb == "status":
            return await respond(status_line(incident, status))
        data = {}
        if verb in ("role", "handover"):
            data, refusal = await self.role_words(verb, (body.get("text") or "").strip()[len(verb) :])
            if refusal:
                return await respond(refusal)
        signal = {"ack": "acknowledge", "role": "assign_role"}.get(verb, verb)
        await respond(said(await self.send(incident, signal, data, user)))

    async def role_words(self, verb: str, text: str) -> tuple[dict, str | None]:
        """`role <role> @person` or `handover [role] @person [note]`: the signal's input, or what
        to tell the person (a usage line; why Slack does not vouch for whom they named)."""
        parsed = role_command(verb, text)
        if isinstance(parsed, str):
            return {}, parsed
        user_id, data = parsed
        person, why = await self.people.member(user_id)
        if person is None:
            return {}, f"🚫 <@{user_id}> cannot take a role: {why}"
        return {**data, "person": person}, None

    async def open_then_fill(self, body: dict, callback_id: str) -> None:
        """Slack's trigger_id lives 3 seconds, whatever the incident's latency (a worker replaying
        a long history): the form opens at once, "asking the incident…", and views.update fills
        it when the incident answers, or says plainly why not (not a bridge; no answer within ASK
        seconds: try again)."""
        user, channel = body["user_id"], body["channel_id"]
        opened = await self.open(body["trigger_id"], waiting(callback_id), user, channel)
        if opened is None:
            return
        incident, _, why = await self.incident_here(body)
        if incident is None:
            filled = notice(MODALS[callback_id].title, why.format(verb=callback_id.removeprefix("irp.")))
        else:
            filled = modal_view(callback_id, {"incident": incident, "channel": channel})
        try:
            await self.web.views_update(view_id=opened["id"], hash=opened.get("hash"), view=filled)
        except SlackApiError as e:  # closed meanwhile: the person still hears why not
            log.info("views.update refused (%s)", e.response.get("error"))
            if incident is None:
                await self.tell(user, channel, f"🚫 {why.format(verb=callback_id.removeprefix('irp.'))}")

    async def incident_here(self, body: dict) -> tuple[str | None, dict, str]:
        """The incident whose bridge this channel is, its status, and "": named by the channel's
        purpose, and only if the incident itself says this is its bridge (anyone can write a
        purpose). Else (None, {}, what to tell the person, with `{verb}` to fill in)."""
        incident = await self.people.incident_of(body["channel_id"])
        if incident is None:
            return None, {}, NOT_A_BRIDGE
        status = await self.status(incident)
        if status is None:
            return None, {}, slow(incident)
        if status.get("channel_id") != body.get("channel_id"):  # unknown, or not its bridge
            return None, {}, NOT_A_BRIDGE
        return incident, status, ""

    async def status(self, incident: str, wait: float | None = None) -> dict | None:
        """The incident's `status`, {} when there is no such incident (or Temporal refuses), None
        when it has not answered within `wait` (ASK) seconds."""
        try:
            handle = (await self.temporal()).get_workflow_handle(incident)
            return await asyncio.wait_for(handle.query("status"), ASK if wait is None else wait)
        except TimeoutError:
            return None
        except Exception:  # an unknown incident, or Temporal away: not a bridge we can vouch for
            return {}

    # --- 📌 -----------------------------------------------------------------------------------------

    async def reaction(self, event) -> None:
        """📌 on any message of a bridge (a reply in a thread, an edited one, another app's) puts
        it in the incident's timeline; taking it away takes it out. Other emoji and other
        channels are not for us. The person who reacted is told when nothing could be done: a
        message deleted since, a file, the incident not answering or refusing."""
        item, user, emoji = event.get("item") or {}, event["user"], event["reaction"]
        removed = event["type"] == "reaction_removed"
        if item.get("type") != "message":
            if emoji == reactions.DEFAULT_PIN and not removed:
                await self.tell(user, None, reactions.not_a_message(item))
            return
        channel, ts = item["channel"], item["ts"]
        incident = await self.people.incident_of(channel)
        if incident is None:
            return
        status = await self.status(incident)
        pin = (status or {}).get("pin_emoji") or reactions.DEFAULT_PIN  # unanswered: the incident decides
        if emoji != pin or (status is not None and status.get("channel_id") != channel):
            return
        message = None if removed else await self.people.message(channel, ts)
        if not removed and (why := reactions.unpinnable(message)):
            return await self.tell(user, channel, why)
        author = reactions.author(message)[0] if message else ""
        email = await self.people.email(author) if author else None
        data = reactions.pin_input(channel, ts, emoji, removed, message, email)
        outcome = await self.send(incident, "pin_message", data, user)
        if not outcome.accepted:
            await self.tell(user, channel, said(outcome))
        elif "not answered yet" in " ".join(outcome.notes):
            await self.tell(user, channel, "⏳ 📌 sent; the incident has not answered yet")

    def last_resort(self) -> None:
        """Every other shape Slack sends is answered 200 (Bolt's own answer is 404 "unhandled",
        which Slack shows the person as a failure, and retries for events), and a person who
        acted hears what this app does instead: a button of a message this app no longer serves,
        a shortcut, another command. Registered last: Bolt runs the first listener that matches."""
        self.app.action(ANYTHING)(after_ack(self.not_served))
        self.app.shortcut(ANYTHING)(after_ack(self.not_served))
        self.app.view_closed(ANYTHING)(after_ack(self.closed))
        self.app.view(ANYTHING)(after_ack(self.stale_form))
        self.app.options(ANYTHING)(after_ack(self.no_options))
        self.app.command(ANYTHING)(after_ack(self.other_command))
        self.app.event(ANYTHING)(after_ack(self.other_event))

    async def not_served(self, ack, body) -> None:
        await ack()
        where = body.get("container") or body.get("channel") or {}
        channel = where.get("channel_id") or where.get("id")
        await self.tell(body["user"]["id"], channel, f"🚫 This app does not serve that. {HELP}")

    async def closed(self, ack) -> None:
        await ack()  # a form or a notice closed: nothing to do

    async def stale_form(self, ack, body) -> None:
        await ack()  # a form of an older version of this app, submitted: it closes, and we say so
        said = f"🚫 That form is no longer served: nothing was done. {HELP}"
        await self.tell(body["user"]["id"], None, said)

    async def no_options(self, ack) -> None:
        await ack(options=[])

    async def other_command(self, ack, body) -> None:
        await ack(f"This app answers `/incident` only, not `{body.get('command')}`. {HELP}")

    async def other_event(self, event) -> None:
        log.debug("Slack event %s: not one this app acts on", event.get("type"))

    # --- what the person sees ------------------------------------------------------------------------

    async def answer(self, outcome: Outcome, user: str, channel, ts, done: str, action: str) -> None:
        """Refused: only the person hears why. Taken: the message shows who did it, in place of
        the button (of all buttons once nothing is left to decide; an approval that needs more
        approvers keeps Approve and Deny for them). Not answered yet: the message stays."""
        if not outcome.accepted:
            await self.tell(user, channel, said(outcome))
        elif "not answered yet" in " ".join(outcome.notes):
            await self.tell(user, channel, "⏳ sent; the incident has not answered yet")
        elif outcome.checking_key:
            await self.tell(user, channel, said(outcome))
        elif outcome.pending:
            await self.mark(channel, ts, f"{done} (more approvals needed)", user, keep=True)
        else:
            numbered = NUMBERED.search(action) is not None  # one of a list (a checklist item): only it goes
            await self.mark(
                channel, ts, done, user, only=action if action == buttons.ACK or numbered else None
            )

    async def mark(
        self, channel, ts, done: str, user: str, only: str | None = None, keep: bool = False
    ) -> None:
        """The decision in place of the buttons (`only`: just that button; `keep`: all stay):
        who, and when."""
        message = await self.people.message(channel, ts) if channel and ts else None
        if message is None:
            return
        kept = []
        for block in message.get("blocks") or []:
            if block.get("type") == "actions" and only:
                block = {**block, "elements": [e for e in block["elements"] if e.get("action_id") != only]}
            if block.get("type") != "actions" or keep or (only and block["elements"]):
                kept.append(block)
        line = f"{done} by <@{user}> at {self.clock():%H:%M} UTC"
        kept.append({"type": "context", "elements": [{"type": "mrkdwn", "text": line}]})
        try:
            await self.web.chat_update(channel=channel, ts=ts, text=message.get("text") or line, blocks=kept)
        except SlackApiError:
            pass  # the decision counted; a stale message is cosmetic

    async def tell(self, user: str, channel: str | None, text: str) -> None:
        """A message only `user` sees: ephemeral in the channel, else (or if Slack refuses that:
        they may not be a member) a direct message."""
        if channel:
            try:
                await self.web.chat_postEphemeral(channel=channel, user=user, text=text)
                return
            except SlackApiError as e:
                log.info("ephemeral to %s refused (%s); sending it directly", user, e.response.get("error"))
        try:
            dm = (await self.web.conversations_open(users=user))["channel"]["id"]
            await self.web.chat_postMessage(channel=dm, text=text)
        except SlackApiError as e:
            log.warning("could not tell %s: %s", user, e.response.get("error"))

    async def open(self, trigger_id: str, view: dict, user: str, channel: str | None) -> dict | None:
        """views.open, the view as Slack opened it; None when Slack would not (the trigger_id's 3
        seconds passed, or it was used), after telling the person plainly to try again."""
        try:
            return (await self.web.views_open(trigger_id=trigger_id, view=view))["view"]
        except Exception as e:  # Slack's refusal, or Slack unreachable
            error = e.response.get("error") if isinstance(e, SlackApiError) else type(e).__name__
            why = NOT_OPENED.get(error, f"Slack would not open it ({error})")
            await self.tell(user, channel, f"🚫 The form did not open: {why}. Please try again.")
            return None


def after_ack(listener: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """`listener`, whose failure after its ack (Slack's answer already given: a trigger_id gone
    stale, Slack or Temporal away) is logged and goes no further. Bolt's runner would take the
    given ack back and answer Slack 404 "unhandled request" three seconds later. A failure before
    the ack (an event's listener is acked by Bolt first) still reaches Bolt, which answers 500."""

    @functools.wraps(listener)
    async def run(*args, **kwargs) -> None:
        try:
            await listener(*args, **kwargs)
        except Exception:
            ack = kwargs.get("ack")
            if ack is not None and ack.response is None:
                raise
            log.exception("the Slack listener %s failed after its ack", listener.__name__)

    return run


# `[role] <@U…|name> [note]`, as Slack escapes a mention (deploy/slack-app-manifest.yaml should_escape)
ROLE_COMMAND = re.compile(
    r"^\s*(?:(?P<role>[^\s<>]+)\s+)?<@(?P<user>[UW][A-Z0-9]{2,20})(?:\|[^<>]*)?>(?P<note>.*)$", re.S
)
USAGE = {
    "role": "Usage: `/incident role <role> @person`",
    "handover": "Usage: `/incident handover [role] @person [note]`",
}


def role_command(verb: str, text: str) -> tuple[str, dict] | str:
    """What `/incident role …` or `/incident handover …` names: (the Slack user, the input
    without the person), or the usage line. `role` needs a role and takes no note; a handover's
    note keeps its line breaks (at most 3,000 characters)."""
    found = ROLE_COMMAND.match(text)
    if not found or (verb == "role" and (not found["role"] or found["note"].strip())):
        return USAGE[verb]
    data = {"role": found["role"]} if found["role"] else {}
    if verb == "handover":
        data["note"] = found["note"].strip()[:3000]
    return found["user"], data


def status_line(incident: str, status: dict) -> str:
    """`/incident status`: severity, phase, IC, next update due, pending approvals."""
    ic = next((r["person"] for r in status["roles"] if r["role"] == "incident_commander"), None)
    due = (status.get("cadence") or {}).get("next_due")
    pending = [r["request_id"] for r in status["requests"] if r["state"] == "pending"]
    return (
        f"*{incident}* · {status['severity']} · {status['phase']} · IC {ic or '—'} · next update due "
        f"{due or '—'} · waiting for approval: {', '.join(pending) or 'nothing'}"
    )


def slow(incident: str) -> str:
    """What the person hears when the incident does not answer within ASK seconds."""
    return (
        f"⏳ {incident} did not answer within {ASK:.0f} s (its worker may be restarting): nothing was "
        "done. Please try `/incident {verb}` again in a minute."
    )


def said(outcome: Outcome) -> str:
    """One line for the person: what the incident answered."""
    if not outcome.accepted:
        return f"🚫 {outcome.reason}"
    if outcome.checking_key:
        return (
            f"⏳ {outcome.signal}: the incident is checking this app's new signing key with its workers; "
            "it says in the bridge when your decision is taken"
        )
    return f"✅ {outcome.signal}: " + (outcome.notes[0] if outcome.notes else "done")


def mount_slack(
    api: FastAPI,
    settings: SlackAppSettings,
    temporal,
    task_queue: str,
    clock: Callable[[], datetime] | None = None,
) -> None:
    """`POST /slack/events` on the receiver: checked by SlackGuard (signature, age, workspace,
    and a replay of a request any receiver took, recorded in Temporal: 401 with the reason, or
    503 when Temporal cannot say; nothing done), then handed to the Bolt app, which answers Slack
    at once and acts after. ValueError when a setting the app needs is missing. `clock`: the time
    attestations are dated (default the wall clock; a drill's compressed clock passes its own)."""
    if problems := settings.problems():
        raise ValueError("; ".join(problems))
    actions = SlackActions(settings, temporal, task_queue, clock)
    guard = SlackGuard(
        settings.slack_signing_secret.get_secret_value(),
        settings.slack_team_id,
        TakenRequests(temporal, task_queue),
    )

    @api.post("/slack/events", openapi_extra=SLACK, responses=SLACK_ANSWERS)
    async def slack_events(request: Request):
        try:
            body = await read_capped(request, MAX_BODY)
        except BodyTooLarge as e:
            return JSONResponse({"error": str(e)}, status_code=413)
        if refused := await guard.refusal(request.headers, body):
            log.warning("refused /slack/events: %d %s", refused.status, refused.reason)
            what = "not a request from Slack for this app" if refused.status == 401 else "not taken"
            return JSONResponse({"error": f"{what}: {refused.reason}"}, status_code=refused.status)
        if why := unreadable(body, request.headers.get("content-type")):
            log.warning("refused /slack/events: 400 %s", why)
            return JSONResponse({"error": why}, status_code=400)
        return to_starlette_response(await actions.app.async_dispatch(to_async_bolt_request(request, body)))
