"""What a request to /slack/events must look like before Bolt reads it: the shapes Slack sends
(interaction payloads, slash commands, Events API callbacks; https://api.slack.com/reference/
interaction-payloads, https://api.slack.com/interactivity/slash-commands, https://api.slack.com/
apis/connections/events-api), typed exactly where Bolt or this app's listeners index into them.

Bolt trusts those shapes: a signed body that breaks them (a list where Slack sends an object, a
view without its `type`, a button whose value is not ours) made Bolt answer 500, or a listener
fail after its ack so that Bolt answered 404 three seconds later. Checked here first, such a body
is answered 400 with what is wrong. Everything else Slack sends passes through untouched."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from slack_bolt.request.internals import extract_content_type, parse_body

from plan import buttons

OUR_ACTIONS = {
    buttons.ACK,
    buttons.UPDATE,
    buttons.MITIGATE,
    buttons.RESOLVE,
    buttons.APPROVE,
    buttons.DENY,
    buttons.COMPLETE,
    buttons.WAIVE,
    buttons.CONFIRM,
    buttons.NOT_ME,
}
DECLARE = "irp.declare"  # the one modal that names no incident
NOT_NULL = ("event", "view", "actions", "response_urls")  # absent, or not null


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Ref(_Open):
    """A team, user, channel or enterprise, as an object."""

    id: str | None = None
    team_id: str | None = None
    enterprise_id: str | None = None


Ref = str | _Ref | None


class _Message(_Open):
    user: Ref = None
    thread_ts: str | None = None
    subtype: str | None = None


class _Item(_Open):
    type: str | None = None
    channel: str | None = None
    ts: str | None = None


class _Event(_Open):
    type: str | None = None
    subtype: str | None = None
    user: Ref = None
    channel: Ref = None
    team: str | None = None
    user_team: str | None = None
    channel_type: str | None = None
    thread_ts: str | None = None
    text: str | None = None
    reaction: str | None = None
    item: _Item | None = None
    message: _Message | None = None
    previous_message: _Message | None = None
    assistant_thread: dict | None = None


class _Option(_Open):
    value: str | None = None


class _Element(_Open):
    value: str | None = None
    selected_option: _Option | None = None
    selected_options: list[_Option] | None = None


class _State(_Open):
    values: dict[str, dict[str, _Element]] = {}


class _View(_Open):
    type: str
    callback_id: str
    private_metadata: str = ""
    state: _State | None = None
    app_installed_team_id: str | None = None
    team_id: str | None = None


class _Action(_Open):
    action_id: str
    block_id: str | None = None
    value: str | None = None


class _Container(_Open):
    channel_id: str | None = None
    message_ts: str | None = None


class _ResponseUrl(_Open):
    response_url: str | None = None


class _Authorization(_Ref):
    team: Ref = None
    enterprise: Ref = None
    user_id: str | None = None
    is_enterprise_install: bool | str | None = None


class SlackRequest(_Open):
    """Any request Slack sends the app, typed where Bolt (request/internals.py, payload_utils.py,
    its logger) and the listeners (webhook/slack/app.py) read it."""

    type: str | None = None
    team: Ref = None
    enterprise: Ref = None
    user: Ref = None
    channel: Ref = None
    team_id: str | None = None
    enterprise_id: str | None = None
    user_id: str | None = None
    channel_id: str | None = None
    trigger_id: str | None = None
    response_url: str | None = None
    response_urls: list[_ResponseUrl] | None = None
    thread_ts: str | None = None
    command: str | None = None
    text: str | None = None
    challenge: str | None = None
    authorizations: list[_Authorization] | None = None
    event: _Event | None = None
    view: _View | None = None
    actions: list[_Action] | None = None
    container: _Container | None = None
    message: _Message | None = None
    previous_message: _Message | None = None
    assistant_thread: dict | None = None
    function_data: dict | None = None
    is_ext_shared_channel: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _not_null(cls, data: Any) -> Any:
        """Bolt reads these with `body.get(key, {})` or `len(...)` once the key is there."""
        if isinstance(data, dict) and (null := [k for k in NOT_NULL if k in data and data[k] is None]):
            raise ValueError(f"{null[0]} is null")
        return data

    @model_validator(mode="after")
    def _what_each_kind_needs(self) -> SlackRequest:
        if self.type == "block_actions":
            _block_actions(self)
        elif self.type == "view_submission":
            _view_submission(self)
        elif self.type == "event_callback" and self.event is None:
            raise ValueError("an event_callback names no event")
        elif self.type == "url_verification" and self.challenge is None:
            raise ValueError("a url_verification names no challenge")
        if self.command is not None and None in (self.user_id, self.channel_id, self.trigger_id):
            raise ValueError("a slash command needs user_id, channel_id and trigger_id")
        if self.event is not None and self.event.type in ("reaction_added", "reaction_removed"):
            _reaction(self.event)
        return self


def _user_id(request: SlackRequest) -> None:
    if not isinstance(request.user, _Ref) or request.user.id is None:
        raise ValueError(f"a {request.type} names no user.id")


def _block_actions(request: SlackRequest) -> None:
    _user_id(request)
    if not request.actions:
        raise ValueError("a block_actions names no actions")
    action = request.actions[0]
    if action.action_id in OUR_ACTIONS:
        if request.trigger_id is None:
            raise ValueError("a block_actions names no trigger_id")
        _object(action.value or "", "the button's value", needs_incident=True)


def _view_submission(request: SlackRequest) -> None:
    _user_id(request)
    if request.view is None:
        raise ValueError("a view_submission names no view")
    view = request.view
    if view.callback_id.startswith("irp."):
        _object(view.private_metadata or "{}", "the view's private_metadata", view.callback_id != DECLARE)


def _reaction(event: _Event) -> None:
    if not isinstance(event.user, str) or event.reaction is None or event.item is None:
        raise ValueError(f"a {event.type} event needs user, reaction and item")
    if event.item.type == "message" and None in (event.item.channel, event.item.ts):
        raise ValueError("a reaction to a message needs item.channel and item.ts")


def _object(text: str, what: str, needs_incident: bool) -> None:
    """`text` is a JSON object of strings, as the app wrote it (buttons.target, views.view)."""
    try:
        value: Any = json.loads(text)
    except (ValueError, RecursionError):
        raise ValueError(f"{what} is not JSON") from None
    if not isinstance(value, dict) or not all(isinstance(v, str | None) for v in value.values()):
        raise ValueError(f"{what} is not a JSON object of strings")
    if needs_incident and not isinstance(value.get("incident"), str):
        raise ValueError(f"{what} names no incident")


def parsed(body: bytes, content_type: str | None) -> dict:
    """The body as Bolt parses it (slack_bolt's parse_body: JSON, or a form, with an
    interaction's `payload=` JSON), or {} when it is not UTF-8, not parseable, or not an object.
    `content_type`: the request's Content-Type header."""
    try:
        payload = _parse(body, content_type)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {}
    return payload if isinstance(payload, dict) else {}


def _parse(body: bytes, content_type: str | None) -> Any:
    return parse_body(body.decode("utf-8"), extract_content_type({"content-type": [content_type or ""]}))


def unreadable(body: bytes, content_type: str | None) -> str | None:
    """Why Bolt or a listener could not read this (already verified) request; None when it can."""
    try:
        payload = _parse(body, content_type)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        return f"the body is neither JSON nor a form Slack sends ({type(e).__name__}: {e})"
    if not isinstance(payload, dict):
        return "the body is not a JSON object"
    try:
        SlackRequest.model_validate(payload)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"not a request Slack sends: {where + ': ' if where else ''}{first['msg']}"
    return None
