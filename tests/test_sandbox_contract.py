"""The sandbox fakes, driven by the real client libraries and held to the published API specs.

Every response a fake gives in these tests is validated against the spec's response schema for
that operation (in the fixtures' teardown), so a fake cannot drift from the real API unnoticed.
Where the spec is known to lag the real API, the difference is written down in one place
(`_slack_spec_errata`) instead of being worked around silently."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import signal
import ssl
import sys
from pathlib import Path

import httpx
import pagerduty
import pytest
import pytest_asyncio
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from sandbox import DEFAULT_TOKEN, PagerDutyFake, SlackFake
from sandbox.base import Call
from sandbox.pagerduty import CHANGE_EVENT_SCHEMA, EVENT_SCHEMA
from sandbox.pagerduty_rest import QUERY_PARAMETERS

SPECS = Path(os.environ.get("SANDBOX_SPECS_DIR", "/work/shared/specs"))
SLACK_SPEC = SPECS / "slack-web-openapi-v2.json"
PD_SPEC = SPECS / "pagerduty-events-v2-openapiv3.json"
PD_REST_SPEC = SPECS / "pagerduty-rest-v2-openapiv3.json"
if not (SLACK_SPEC.exists() and PD_SPEC.exists() and PD_REST_SPEC.exists()):
    pytest.skip(f"published API specs not found in {SPECS} (set SANDBOX_SPECS_DIR)", allow_module_level=True)

USERS = {
    "U0IC000001": {"name": "Asha Rao", "email": "asha.rao@preskool.com"},
    "U0ONCALL01": {"name": "Ben Okafor", "email": "ben.okafor@preskool.com"},
    "U0ONCALL02": {"name": "Chen Li", "email": "chen.li@preskool.com"},
}
ROUTING_KEY = "R0UT1NGKEY0000000000000000000001"


# --- the specs, as validators ------------------------------------------------------------------


def _as_union(node):
    """The Slack spec writes "one of these objects" as `{"items": [A, B]}` without a type, which
    JSON Schema ignores for non-arrays (objs_conversation would accept anything). Read it as
    anyOf, which is what it means."""
    if isinstance(node, dict):
        node = {k: _as_union(v) for k, v in node.items()}
        if isinstance(node.get("items"), list) and "type" not in node:
            node["anyOf"] = node.pop("items")
        return node
    if isinstance(node, list):
        return [_as_union(v) for v in node]
    return node


def _slack_spec_errata(spec: dict) -> dict:
    """What the real API does today that the 2021 spec does not describe."""
    spec = _as_union(copy.deepcopy(spec))
    # Message metadata (2022): chat.postMessage takes it, conversations.history returns it.
    spec["definitions"]["objs_message"]["properties"]["metadata"] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["event_type", "event_payload"],
        "properties": {"event_type": {"type": "string"}, "event_payload": {"type": "object"}},
    }
    history = spec["paths"]["/conversations.history"]["get"]["responses"]["200"]["schema"]
    # History pages with a cursor like every other list; an empty channel has no messages.
    history["properties"]["response_metadata"] = {
        "type": "object",
        "required": ["next_cursor"],
        "properties": {"next_cursor": {"type": "string"}},
    }
    history["properties"]["messages"].pop("minItems")
    # A message someone edited carries `edited` {user, ts} (objs_message predates it).
    spec["definitions"]["objs_message"]["properties"]["edited"] = {
        "type": "object",
        "required": ["user", "ts"],
        "properties": {"user": {"type": "string"}, "ts": {"type": "string"}},
    }
    # conversations.replies answers its messages as history does (blocks, bot_id, metadata, an
    # unthreaded message alone); the spec's two narrow shapes know none of that. It pages with a
    # cursor too.
    replies = spec["paths"]["/conversations.replies"]["get"]["responses"]["200"]["schema"]
    replies["properties"]["messages"] = {"type": "array", "items": {"$ref": "#/definitions/objs_message"}}
    replies["properties"]["response_metadata"] = history["properties"]["response_metadata"]
    # chat.update answers the message's blocks as the array they are (the spec says object).
    update = spec["paths"]["/chat.update"]["post"]["responses"]["200"]["schema"]
    update["properties"]["message"]["properties"]["blocks"] = {"type": "array", "items": {"type": "object"}}
    # views.* (2019, after the spec's last full description of them): the spec gives only the
    # bare ok template; today's docs answer the view object and name these errors.
    for method in ("views.open", "views.push", "views.update"):
        responses = spec["paths"]["/" + method]["get"]["responses"]
        responses["200"]["schema"] = VIEW_ANSWER
        responses["default"]["schema"] = VIEW_ERROR
    # File uploads as Slack serves them today (2024: files.upload is retired): the spec has
    # neither method; their answers and errors are from docs.slack.dev's method pages, written
    # here (sandbox/slack_files.py). A file's `alt_txt` is as recent.
    spec["definitions"]["objs_file"]["properties"]["alt_txt"] = {"type": "string"}
    for method, answer, errors in UPLOADS:
        spec["paths"]["/" + method] = {
            "post": {
                "responses": {
                    "200": {"schema": answer},
                    "default": {
                        "schema": {
                            "type": "object",
                            "required": ["ok", "error"],
                            "properties": {"ok": {"enum": [False]}, "error": {"enum": errors}},
                        }
                    },
                }
            }
        }
    return spec


AUTH_ERRORS = ["not_authed", "invalid_auth"]
UPLOADS = [
    (
        "files.getUploadURLExternal",
        {
            "type": "object",
            "required": ["ok", "upload_url", "file_id"],
            "properties": {
                "ok": {"enum": [True]},
                "upload_url": {"type": "string", "pattern": "^https?://"},
                "file_id": {"type": "string", "pattern": "^F[A-Z0-9]+$"},
            },
        },
        ["invalid_arguments", "missing_argument", "file_uploads_disabled", *AUTH_ERRORS],
    ),
    (
        "files.completeUploadExternal",
        {
            "type": "object",
            "required": ["ok", "files"],
            "properties": {
                "ok": {"enum": [True]},
                "files": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "object", "required": ["id", "title"]},
                },
            },
        },
        # `is_archived` is the sandbox's answer for an archived channel, as chat.postMessage's.
        [
            "invalid_arguments",
            "file_not_found",
            "channel_not_found",
            "not_in_channel",
            "is_archived",
            *AUTH_ERRORS,
        ],
    ),
]


VIEW_ANSWER = {
    "type": "object",
    "required": ["ok", "view"],
    "properties": {
        "ok": {"enum": [True]},
        "view": {
            "type": "object",
            "required": ["id", "team_id", "type", "blocks", "state", "hash", "root_view_id", "app_id"],
            "properties": {
                "id": {"type": "string", "pattern": "^V[A-Z0-9]+$"},
                "type": {"enum": ["modal"]},
                "blocks": {"type": "array"},
                "state": {"type": "object", "required": ["values"]},
                "hash": {"type": "string"},
                "previous_view_id": {"type": ["string", "null"]},
            },
        },
    },
}
VIEW_ERROR = {
    "type": "object",
    "required": ["ok", "error"],
    "properties": {
        "ok": {"enum": [False]},
        "error": {
            "enum": [
                "invalid_trigger_id",
                "expired_trigger_id",
                "exchanged_trigger_id",
                "invalid_arguments",
                "not_found",
                "hash_conflict",
                "duplicate_external_id",
                "push_limit_reached",
                "not_authed",
                "invalid_auth",
            ]
        },
    },
}


SLACK = _slack_spec_errata(json.loads(SLACK_SPEC.read_text()))
SLACK_REGISTRY = Registry().with_resource("urn:slack", Resource(SLACK, DRAFT4))
# HTTP 429 ("ratelimited") and unknown methods ("unknown_method") are in no method's error enum.
SLACK_ANY_ERROR = {
    "type": "object",
    "required": ["ok", "error"],
    "properties": {"ok": {"enum": [False]}, "error": {"type": "string"}},
}
PD = json.loads(PD_SPEC.read_text())
PD_REST = json.loads(PD_REST_SPEC.read_text())
PD_REST_REGISTRY = Registry().with_resource("urn:pd-rest", Resource(contents=PD_REST, specification=DRAFT4))
# Every REST error names one shape (`{"error": {"code", "message", "errors"}}`), written once in the spec.
PD_REST_ERROR = "urn:pd-rest#/components/responses/Conflict/content/application~1json/schema"


def assert_slack_contract(call: Call) -> None:
    body = call.response
    if call.status >= 500:
        assert isinstance(body, str)  # the spec has nothing to say about a 5xx body
        return
    if call.status == 429 or body.get("error") == "unknown_method":
        Draft4Validator(SLACK_ANY_ERROR).validate(body)
        return
    assert call.status == 200, call
    method = call.path.rsplit("/", 1)[-1]
    (verb,) = SLACK["paths"]["/" + method]
    code = "200" if body["ok"] else "default"
    schema = {"$ref": f"urn:slack#/paths/~1{method}/{verb}/responses/{code}/schema"}
    Draft4Validator(schema, registry=SLACK_REGISTRY).validate(body)


def assert_pagerduty_rest_contract(call: Call) -> None:
    """A REST answer against the REST spec: the operation's 200 schema, else the error shape."""
    operation = re.sub(r"/[A-Z0-9]+$", "/{id}", call.path)
    assert operation in QUERY_PARAMETERS, call
    if call.status == 200:
        path = operation.replace("/", "~1")
        pointer = f"urn:pd-rest#/paths/{path}/get/responses/200/content/application~1json/schema"
    else:
        pointer = PD_REST_ERROR
    Draft4Validator({"$ref": pointer}, registry=PD_REST_REGISTRY).validate(call.response)


def assert_pagerduty_contract(call: Call) -> None:
    if call.method == "GET":
        assert_pagerduty_rest_contract(call)
        return
    # 400 and 429 name "#/components/responses/ArgumentError" / "TooManyRequests" in a
    # description, not a $ref, and neither exists: Error is the only error shape the spec has.
    name = "Success" if call.status == 202 else "Error"
    schema = PD["components"]["responses"][name]["content"]["application/json"]["schema"]
    Draft4Validator(schema).validate(call.response)


def _request_schema(path: str) -> dict:
    """The spec's request body schema with refs inlined and prose dropped."""
    components = PD["components"]["schemas"]

    def strip(node):
        if isinstance(node, dict):
            if "$ref" in node:
                return strip(components[node["$ref"].rsplit("/", 1)[-1]])
            return {
                k: strip(v) for k, v in node.items() if k not in ("description", "x-examples", "examples")
            }
        return [strip(v) for v in node] if isinstance(node, list) else node

    return strip(PD["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"])


# --- fixtures -----------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def slack_fake():
    async with SlackFake(users=USERS) as fake:
        yield fake
        for call in fake.calls:
            if call.path.startswith("/api/"):  # a response_url is no Web API method
                assert_slack_contract(call)


@pytest.fixture
def slack(slack_fake):
    return AsyncWebClient(
        token=DEFAULT_TOKEN,
        base_url=slack_fake.url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )


@pytest_asyncio.fixture
async def pd_fake():
    async with PagerDutyFake() as fake:
        yield fake
        for call in fake.calls:
            assert_pagerduty_contract(call)


@pytest.fixture
def pd(pd_fake):
    client = pagerduty.EventsApiV2Client(
        ROUTING_KEY, base_url=pd_fake.url, verify=pd_fake.client_ssl_context()
    )
    client.sleep_timer = 0.01  # its retries sleep (blocking) 1.5 s, doubling, by default
    yield client
    client.close()


async def slack_error(call) -> str:
    with pytest.raises(SlackApiError) as info:
        await call
    return info.value.response["error"]


# --- Slack ---------------------------------------------------------------------------------------


async def test_create_set_purpose_and_invite(slack, slack_fake):
    identity = await slack.auth_test()
    channel = (await slack.conversations_create(name="inc-42-db-down"))["channel"]
    await slack.conversations_setPurpose(channel=channel["id"], purpose="INC-42: DB unreachable")
    await slack.conversations_invite(channel=channel["id"], users=["U0IC000001", "U0ONCALL01"])

    stored = slack_fake.channel_by_name("inc-42-db-down")
    assert channel["id"] == stored.id and channel["creator"] == identity["user_id"]
    assert stored.members == [identity["user_id"], "U0IC000001", "U0ONCALL01"]
    assert (await slack.conversations_info(channel=channel["id"]))["channel"]["purpose"][
        "value"
    ] == "INC-42: DB unreachable"
    # Slack refuses an invite only when every user is already there.
    assert (
        await slack_error(slack.conversations_invite(channel=channel["id"], users="U0IC000001"))
        == "already_in_channel"
    )
    await slack.conversations_invite(channel=channel["id"], users="U0IC000001,U0ONCALL02")
    assert (
        await slack_error(slack.conversations_invite(channel=channel["id"], users="U0NOBODY01"))
        == "user_not_found"
    )
    assert stored.members[-1] == "U0ONCALL02"


@pytest.mark.parametrize(
    "name, error",
    [
        ("Inc-42", "invalid_name_specials"),
        ("inc 42", "invalid_name_specials"),
        ("x" * 81, "invalid_name_maxlength"),
        ("--", "invalid_name_punctuation"),
        ("", "invalid_name_required"),
    ],
)
async def test_channel_names_follow_slack_rules(slack, slack_fake, name, error):
    assert await slack_error(slack.conversations_create(name=name)) == error
    assert await slack.conversations_create(name="a_" + "x" * 78)  # 80 characters is fine
    assert slack_fake.counts()["conversations.create"] == 2


async def test_posts_carry_metadata_and_history_returns_it_only_when_asked(slack, slack_fake):
    channel = (await slack.conversations_create(name="inc-7"))["channel"]["id"]
    tag = {"event_type": "preskool_irp_message", "event_payload": {"incident_id": "INC-7", "key": "opened"}}
    first = await slack.chat_postMessage(channel=channel, text="Incident opened", metadata=tag)
    reply = await slack.chat_postMessage(channel=channel, text="in thread", thread_ts=first["ts"])
    # The form-encoded path: metadata as a JSON string, the channel by name.
    second = await slack.api_call(
        "chat.postMessage", data={"channel": "#inc-7", "text": "update", "metadata": json.dumps(tag)}
    )
    assert first["ts"] < reply["ts"] < second["ts"] and first["message"]["metadata"] == tag

    with_metadata = await slack.conversations_history(channel=channel, include_all_metadata=True)
    assert [m["text"] for m in with_metadata["messages"]] == ["update", "Incident opened"]  # newest first
    assert all(m["metadata"] == tag for m in with_metadata["messages"])
    assert with_metadata["messages"][1]["reply_count"] == 1
    plain = await slack.conversations_history(channel=channel)
    assert not any("metadata" in m for m in plain["messages"])

    await slack.chat_update(channel=channel, ts=first["ts"], text="Incident opened (P1)")
    assert slack_fake.messages("inc-7")[0]["text"] == "Incident opened (P1)"
    assert len(slack_fake.posts()) == 3 and len(slack_fake.messages(channel)) == 3


async def test_history_pages_with_a_cursor(slack):
    channel = (await slack.conversations_create(name="inc-paging"))["channel"]["id"]
    assert (await slack.conversations_history(channel=channel))["messages"] == []
    for i in range(5):
        await slack.chat_postMessage(channel=channel, text=f"m{i}")
    seen, cursor = [], None
    while True:
        page = await slack.conversations_history(channel=channel, limit=2, cursor=cursor)
        seen += [m["text"] for m in page["messages"]]
        if not page["has_more"]:
            break
        cursor = page["response_metadata"]["next_cursor"]
    assert seen == ["m4", "m3", "m2", "m1", "m0"]


async def test_archived_channel_refuses_posts_and_keeps_its_name(slack, slack_fake):
    channel = (await slack.conversations_create(name="inc-9"))["channel"]["id"]
    await slack.conversations_archive(channel=channel)
    assert await slack_error(slack.chat_postMessage(channel=channel, text="late")) == "is_archived"
    assert await slack_error(slack.conversations_archive(channel=channel)) == "already_archived"
    assert await slack_error(slack.conversations_create(name="inc-9")) == "name_taken"
    assert await slack_error(slack.chat_postMessage(channel="C0NOSUCH01", text="x")) == "channel_not_found"
    assert slack_fake.messages("inc-9") == [] and slack_fake.posts() == []


async def test_list_pages_and_excludes_archived(slack):
    ids = [(await slack.conversations_create(name=f"inc-{i}"))["channel"]["id"] for i in range(5)]
    await slack.conversations_archive(channel=ids[0])
    names, cursor, pages = [], None, 0
    while True:
        page = await slack.conversations_list(
            exclude_archived=True, types="public_channel", limit=2, cursor=cursor
        )
        names += [c["name"] for c in page["channels"]]
        pages += 1
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert names == ["general", "inc-1", "inc-2", "inc-3", "inc-4"] and pages == 3
    everything = await slack.conversations_list(limit=100)
    assert "inc-0" in [c["name"] for c in everything["channels"]]


# --- files: getUploadURLExternal, the upload URL, completeUploadExternal (files_upload_v2) --------

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


async def test_files_upload_v2_shares_a_file_in_a_thread_and_beside_a_message(slack, slack_fake):
    channel = (await slack.conversations_create(name="inc-files"))["channel"]["id"]
    parent = (await slack.chat_postMessage(channel=channel, text="the draft"))["ts"]
    threaded = await slack.files_upload_v2(
        channel=channel,
        thread_ts=parent,
        content=PNG,
        filename="t.png",
        title="Timeline",
        initial_comment="here",
    )
    beside = await slack.files_upload_v2(channel=channel, content=b"notes", filename="n.txt", title="Notes")
    assert threaded["file"]["title"] == "Timeline" and slack_fake.files[threaded["file"]["id"]] == PNG
    replies = (await slack.conversations_replies(channel=channel, ts=parent))["messages"]
    (shared,) = [m for m in replies if m.get("files")]
    assert shared["thread_ts"] == parent and shared["text"] == "here" and shared["upload"]
    (file,) = shared["files"]
    assert (file["id"], file["name"], file["mimetype"], file["size"]) == (
        threaded["file"]["id"], "t.png", "image/png", len(PNG)
    )  # fmt: skip
    history = (await slack.conversations_history(channel=channel))["messages"]
    assert [m["files"][0]["title"] for m in history if m.get("files")] == ["Notes"]  # replies stay in threads
    assert beside["file"]["id"] in slack_fake.files
    assert [f["title"] for f in slack_fake.shared_files(channel)] == ["Timeline", "Notes"]
    (url,) = [c for c in slack_fake.calls if c.path.startswith("/upload/v1/")][:1]
    assert url.status == 200 and url.response == f"OK - {len(PNG)}"
    assert not slack_fake.calls_to("files.upload")  # v1 is retired: never called, never served


async def test_file_uploads_are_refused_as_slack_documents(slack, slack_fake):
    channel = (await slack.conversations_create(name="inc-refusals"))["channel"]["id"]
    no_length = slack.api_call("files.getUploadURLExternal", params={"filename": "a.png"})
    assert await slack_error(no_length) == "invalid_arguments"
    assert (
        await slack_error(slack.files_getUploadURLExternal(filename="a.png", length=0)) == "missing_argument"
    )
    unknown = slack.files_completeUploadExternal(files=[{"id": "F0NOSUCH01"}], channel_id=channel)
    assert await slack_error(unknown) == "file_not_found"
    # The bytes must be as many as announced, and an id whose bytes never came is no file.
    asked = await slack.files_getUploadURLExternal(filename="a.png", length=len(PNG))
    async with httpx.AsyncClient() as raw:
        short = await raw.post(asked["upload_url"], content=PNG[:-1])
        assert short.status_code == 400 and "length mismatch" in short.text
        pending = slack.files_completeUploadExternal(files=[{"id": asked["file_id"]}], channel_id=channel)
        assert await slack_error(pending) == "file_not_found"
        assert (await raw.post(asked["upload_url"], content=PNG)).status_code == 200
        assert (await raw.post(asked["upload_url"], content=PNG)).status_code == 404  # a URL takes bytes once
    done = await slack.files_completeUploadExternal(files=[{"id": asked["file_id"], "title": "A"}])
    assert done["files"] == [{"id": asked["file_id"], "title": "A"}]
    assert not slack_fake.shared_files(channel)  # no channel_id: the file stays private
    reused = slack.files_completeUploadExternal(files=[{"id": asked["file_id"]}], channel_id=channel)
    assert await slack_error(reused) == "file_not_found"
    # Channels: one the bot left, an archived one, one that does not exist.
    slack_fake.remove_bot("inc-refusals")
    assert await slack_error(slack.files_upload_v2(channel=channel, content=PNG, filename="a.png")) == (
        "not_in_channel"
    )
    await slack.conversations_join(channel=channel)
    await slack.conversations_archive(channel=channel)
    assert (
        await slack_error(slack.files_upload_v2(channel=channel, content=PNG, filename="a.png"))
        == "is_archived"
    )
    gone = slack.files_upload_v2(channel="C0NOSUCH01", content=PNG, filename="a.png")
    assert await slack_error(gone) == "channel_not_found"
    assert not slack_fake.shared_files(channel)
    slack_fake.disable_uploads()
    assert await slack_error(slack.files_getUploadURLExternal(filename="a.png", length=3)) == (
        "file_uploads_disabled"
    )


async def test_auth_errors_and_unknown_method(slack_fake):
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=slack_fake.url)
    nobody = AsyncWebClient(token=None, base_url=slack_fake.url)
    assert await slack_error(wrong.conversations_create(name="inc-1")) == "invalid_auth"
    assert await slack_error(nobody.chat_postMessage(channel="general", text="hi")) == "not_authed"
    assert await slack_error(wrong.api_call("incidents.declare")) == "unknown_method"
    assert slack_fake.channel_by_name("inc-1") is None and slack_fake.posts() == []


async def test_users_by_email_and_direct_messages(slack, slack_fake):
    user = (await slack.users_lookupByEmail(email="Ben.Okafor@preskool.com"))["user"]
    assert user["id"] == "U0ONCALL01"
    assert await slack_error(slack.users_lookupByEmail(email="ghost@preskool.com")) == "users_not_found"
    dm = await slack.chat_postMessage(channel=user["id"], text="You are paged for INC-3")
    assert dm["channel"].startswith("D") and slack_fake.messages(dm["channel"])[0]["text"].startswith(
        "You are paged"
    )


# --- Slack: what people do, and the app's answers (issue 15) -----------------------------------

BUTTON = {
    "type": "actions",
    "block_id": "ack",
    "elements": [{"type": "button", "action_id": "ack", "text": {"type": "plain_text", "text": "Ack"}}],
}
MODAL = {
    "type": "modal",
    "callback_id": "declare",
    "title": {"type": "plain_text", "text": "Declare an incident"},
    "submit": {"type": "plain_text", "text": "Declare"},
    "blocks": [
        {
            "type": "input",
            "block_id": "title",
            "label": {"type": "plain_text", "text": "Title"},
            "element": {"type": "plain_text_input", "action_id": "title"},
        }
    ],
}


async def test_chat_update_keeps_blocks_it_is_not_given(slack, slack_fake):
    posted = await slack.chat_postMessage(channel="general", text="INC-1 opened", blocks=[BUTTON])
    answer = await slack.chat_update(channel=posted["channel"], ts=posted["ts"], text="INC-1 acknowledged")
    assert answer["message"]["blocks"] == [BUTTON] and slack_fake.messages("general")[0]["blocks"] == [BUTTON]
    await slack.chat_update(channel=posted["channel"], ts=posted["ts"], text="INC-1 resolved", blocks=[])
    assert "blocks" not in slack_fake.messages("general")[0]
    assert (
        await slack_error(slack.chat_update(channel=posted["channel"], ts="1.000001", text="x"))
        == "message_not_found"
    )
    theirs = slack_fake.post_as("U0IC000001", "general", "I am on it")
    assert (
        await slack_error(slack.chat_update(channel=posted["channel"], ts=theirs["ts"], text="edited"))
        == "cant_update_message"
    )


async def test_ephemeral_messages_are_seen_only_by_their_user(slack, slack_fake):
    channel = (await slack.conversations_create(name="inc-8"))["channel"]["id"]
    await slack.conversations_invite(channel=channel, users="U0IC000001")
    answer = await slack.chat_postEphemeral(
        channel=channel, user="U0IC000001", text="Only you", blocks=[BUTTON]
    )
    seen = slack_fake.ephemeral("U0IC000001")
    assert [(m["ts"], m["text"], m["blocks"]) for m in seen] == [(answer["message_ts"], "Only you", [BUTTON])]
    assert slack_fake.ephemeral("U0ONCALL01") == [] and slack_fake.messages(channel) == []
    assert (
        await slack_error(slack.chat_postEphemeral(channel=channel, user="U0ONCALL01", text="x"))
        == "user_not_in_channel"
    )


async def test_a_trigger_opens_one_view_within_three_seconds(slack, slack_fake):
    first = slack_fake.new_interaction("U0IC000001")
    view = (await slack.views_open(trigger_id=first.trigger_id, view=MODAL))["view"]
    assert (
        view["id"].startswith("V") and view["root_view_id"] == view["id"] and view["callback_id"] == "declare"
    )
    assert slack_fake.views_for("U0IC000001") == [view] and slack_fake.views_for("U0ONCALL01") == []
    assert (
        await slack_error(slack.views_open(trigger_id=first.trigger_id, view=MODAL)) == "exchanged_trigger_id"
    )
    assert await slack_error(slack.views_open(trigger_id="1.2.3", view=MODAL)) == "invalid_trigger_id"
    slack_fake.trigger_ttl = 0.05
    late = slack_fake.new_interaction("U0IC000001")
    await asyncio.sleep(0.1)
    assert await slack_error(slack.views_open(trigger_id=late.trigger_id, view=MODAL)) == "expired_trigger_id"
    slack_fake.trigger_ttl = 3.0
    fresh = slack_fake.new_interaction("U0IC000001")
    bad = {**MODAL, "title": "not an object"}
    assert await slack_error(slack.views_open(trigger_id=fresh.trigger_id, view=bad)) == "invalid_arguments"


async def test_replies_answer_a_thread_by_any_of_its_messages_and_history_keeps_replies_out(
    slack, slack_fake
):
    """conversations.history holds a channel's top-level messages (and replies also sent to the
    channel); conversations.replies answers the thread of a parent's or a reply's ts, the parent
    first on every page, within oldest/latest; a deleted message is `thread_not_found`. People's
    edits, deletions (a parent with replies stays a tombstone) and other apps' posts keep Slack's
    shapes."""
    channel = (await slack.conversations_create(name="inc-43-thread"))["channel"]["id"]
    parent = (await slack.chat_postMessage(channel=channel, text="🚨 opened"))["ts"]
    bot_reply = (await slack.chat_postMessage(channel=channel, text="🧭 checklist", thread_ts=parent))["ts"]
    person = slack_fake.reply_as("U0ONCALL01", channel, parent, "on it")
    shared = slack_fake.reply_as("U0ONCALL02", channel, parent, "also here", broadcast=True)
    app = slack_fake.post_as_app(
        channel, bot_id="B0GRAFANA1", name="Grafana", attachments=[{"fallback": "x"}]
    )
    said = slack_fake.post_as("U0IC000001", channel, "typo")
    slack_fake.edit_as("U0IC000001", channel, said["ts"], "fixed")
    gone = slack_fake.post_as("U0IC000001", channel, "oops")
    slack_fake.delete_as(channel, gone["ts"])

    history = [m["ts"] for m in (await slack.conversations_history(channel=channel))["messages"]]
    assert history == [said["ts"], app["ts"], shared["ts"], parent]
    for ts in (parent, bot_reply, person["ts"]):
        thread = (await slack.conversations_replies(channel=channel, ts=ts))["messages"]
        assert [m["ts"] for m in thread] == [parent, bot_reply, person["ts"], shared["ts"]]
    window = await slack.conversations_replies(
        channel=channel, ts=person["ts"], oldest=person["ts"], inclusive=True, limit=1
    )
    assert [m["ts"] for m in window["messages"]] == [parent, person["ts"]] and window["has_more"]
    alone = (await slack.conversations_replies(channel=channel, ts=said["ts"]))["messages"]
    assert [(m["text"], m["edited"]["user"]) for m in alone] == [("fixed", "U0IC000001")]
    assert (
        await slack_error(slack.conversations_replies(channel=channel, ts=gone["ts"])) == "thread_not_found"
    )
    slack_fake.delete_as(channel, parent)
    (tombstone, *_) = (await slack.conversations_replies(channel=channel, ts=person["ts"]))["messages"]
    assert tombstone["subtype"] == "tombstone" and tombstone["ts"] == parent


async def test_views_update_by_id_or_external_id_checks_the_hash_and_push_stacks(slack, slack_fake):
    trigger = slack_fake.new_interaction("U0IC000001").trigger_id
    view = (await slack.views_open(trigger_id=trigger, view={**MODAL, "external_id": "inc-1"}))["view"]
    retitled = {**MODAL, "title": {"type": "plain_text", "text": "Declared"}}
    updated = (await slack.views_update(view_id=view["id"], view=retitled, hash=view["hash"]))["view"]
    assert updated["id"] == view["id"] and updated["title"]["text"] == "Declared"
    assert (
        await slack_error(slack.views_update(view_id=view["id"], view=MODAL, hash="1.stale"))
        == "hash_conflict"
    )
    assert (await slack.views_update(external_id="inc-1", view=MODAL))["view"]["id"] == view["id"]
    assert await slack_error(slack.views_update(view_id="V0NOSUCH", view=MODAL)) == "not_found"
    pushed = await slack.views_push(
        trigger_id=slack_fake.new_interaction("U0IC000001").trigger_id, view=MODAL
    )
    assert (pushed["view"]["previous_view_id"], pushed["view"]["root_view_id"]) == (view["id"], view["id"])
    assert len(slack_fake.views_for("U0IC000001")) == 2


async def test_users_info_gives_the_email(slack):
    user = (await slack.users_info(user="U0ONCALL01"))["user"]
    assert (user["id"], user["profile"]["email"], user["is_bot"]) == (
        "U0ONCALL01",
        "ben.okafor@preskool.com",
        False,
    )
    assert await slack_error(slack.users_info(user="U0NOBODY01")) == "user_not_found"


async def test_reactions_by_the_bot_and_by_people(slack, slack_fake):
    ts = (await slack.chat_postMessage(channel="general", text="INC-2 opened"))["ts"]
    channel = slack_fake.channel_by_name("general").id
    await slack.reactions_add(channel=channel, timestamp=ts, name="eyes")
    message = slack_fake.react_as("U0IC000001", "general", ts, "eyes")
    assert message["reactions"] == [{"name": "eyes", "users": ["USANDBOXBOT", "U0IC000001"], "count": 2}]
    assert (
        await slack_error(slack.reactions_add(channel=channel, timestamp=ts, name="eyes"))
        == "already_reacted"
    )
    await slack.reactions_remove(channel=channel, timestamp=ts, name="eyes")
    slack_fake.react_as("U0IC000001", "general", ts, "eyes", removed=True)
    assert "reactions" not in slack_fake.messages("general")[0]
    assert (
        await slack_error(slack.reactions_remove(channel=channel, timestamp=ts, name="eyes")) == "no_reaction"
    )
    assert (
        await slack_error(slack.reactions_add(channel=channel, timestamp="1.1", name="eyes"))
        == "message_not_found"
    )


async def test_response_url_replaces_posts_deletes_and_wears_out(slack, slack_fake):
    posted = await slack.chat_postMessage(channel="general", text="INC-3: acknowledge?", blocks=[BUTTON])
    url = slack_fake.new_interaction("U0IC000001", posted["channel"], posted["ts"]).response_url
    async with httpx.AsyncClient() as http:
        replaced = await http.post(url, json={"replace_original": True, "text": "Acknowledged by Asha"})
        assert (replaced.status_code, replaced.json()) == (200, {"ok": True})
        assert slack_fake.messages("general")[0]["text"] == "Acknowledged by Asha"
        assert "blocks" not in slack_fake.messages("general")[0]  # replaced whole, buttons gone
        await http.post(url, json={"text": "Only you see this"})  # ephemeral by default
        await http.post(url, json={"text": "Everyone sees this", "response_type": "in_channel"})
        assert [m["text"] for m in slack_fake.ephemeral("U0IC000001")] == ["Only you see this"]
        assert slack_fake.messages("general")[-1]["text"] == "Everyone sees this"
        await http.post(url, json={"delete_original": True})
        assert [m["text"] for m in slack_fake.messages("general")] == ["Everyone sees this"]
        assert (await http.post(url, json={"text": "sixth"})).status_code == 200
        worn = await http.post(url, json={"text": "seventh"})
        assert (worn.status_code, worn.json()["error"]) == (404, "used_url")  # five uses, like Slack
        slack_fake.response_ttl = 0
        expired = await http.post(slack_fake.new_interaction("U0IC000001").response_url, json={"text": "x"})
        assert (expired.status_code, expired.json()["error"]) == (404, "expired_url")
    assert [r["error"] for r in slack_fake.responses] == [None] * 5 + ["used_url", "expired_url"]


async def test_rate_limit_is_ridden_through_by_the_retry_handler(slack, slack_fake):
    await slack.conversations_create(name="inc-rl")
    slack_fake.fail_next("chat.postMessage", 429, retry_after=1)
    await slack.chat_postMessage(channel="inc-rl", text="after the rate limit")
    limited, posted = slack_fake.calls_to("chat.postMessage")
    assert (limited.status, limited.headers["Retry-After"], limited.response["error"]) == (
        429,
        "1",
        "ratelimited",
    )
    # It honoured Retry-After: by the fake's own record, the retry came at least 1 s after the answer.
    assert posted.arrived - limited.answered >= 1
    assert posted.response["ok"] and len(slack_fake.messages("inc-rl")) == 1

    # Without a handler, slack_sdk does not retry: the 429 surfaces.
    slack_fake.fail_next("chat.postMessage", 429, retry_after=30)
    bare = AsyncWebClient(token=DEFAULT_TOKEN, base_url=slack_fake.url)
    with pytest.raises(SlackApiError) as info:
        await bare.chat_postMessage(channel="inc-rl", text="x")
    assert info.value.response.status_code == 429 and len(slack_fake.messages("inc-rl")) == 1


async def test_a_standing_rate_limit_answers_every_nth_call_of_each_method(slack, slack_fake):
    """`fail_every`: Slack limits per method, so each method's calls are counted on their own;
    the 429 carries Retry-After and Slack's body, and nothing was done."""
    slack_fake.fail_every(["conversations.create", "conversations.list"], 3, retry_after=1)
    bare = AsyncWebClient(token=DEFAULT_TOKEN, base_url=slack_fake.url)  # no retries: every answer seen
    outcomes = []
    for n in range(6):
        for call in (bare.conversations_create(name=f"inc-every-{n}"), bare.conversations_list()):
            try:
                outcomes.append((await call).status_code)
            except SlackApiError as e:
                outcomes.append(e.response.status_code)
    assert outcomes == [200, 200, 200, 200, 429, 429] * 2
    assert [c.status for c in slack_fake.calls_to("conversations.create")] == [200, 200, 429] * 2
    limited = [c for c in slack_fake.calls if c.status == 429]
    assert all(c.headers == {"Retry-After": "1"} and c.response["error"] == "ratelimited" for c in limited)
    assert [n for n in range(6) if slack_fake.channel_by_name(f"inc-every-{n}")] == [0, 1, 3, 4]
    await bare.auth_test()  # other methods are untouched
    slack_fake.reset()
    assert (await bare.conversations_list()).status_code == 200


async def test_server_error_body_is_text_and_the_handler_retries_it(slack_fake):
    slack_fake.fail_next("chat.postMessage", 503)
    bare = AsyncWebClient(token=DEFAULT_TOKEN, base_url=slack_fake.url)
    with pytest.raises(SlackApiError) as info:
        await bare.chat_postMessage(channel="general", text="x")
    # slack_sdk keeps a text/plain body as a str: `e.response.get("error")` would raise here.
    assert info.value.response.status_code == 503 and isinstance(info.value.response.data, str)

    slack_fake.fail_next("chat.postMessage", 503)
    retrying = AsyncWebClient(
        token=DEFAULT_TOKEN,
        base_url=slack_fake.url,
        retry_handlers=[AsyncServerErrorRetryHandler(max_retry_count=1)],
    )
    assert (await retrying.chat_postMessage(channel="general", text="x"))["ok"]
    assert [c.status for c in slack_fake.calls] == [503, 503, 200] and len(slack_fake.posts()) == 1


# --- PagerDuty -----------------------------------------------------------------------------------


async def test_trigger_acknowledge_resolve_over_https(pd, pd_fake):
    key = await asyncio.to_thread(
        pd.trigger,
        "DB unreachable",
        "preskool-irp",
        dedup_key="INC-42",
        severity="critical",
        custom_details={"incident": "INC-42"},
    )
    assert key == "INC-42" and pd_fake.alerts[(ROUTING_KEY, key)].state == "triggered"
    await asyncio.to_thread(pd.acknowledge, key)
    assert pd_fake.alerts[(ROUTING_KEY, key)].state == "acknowledged"
    await asyncio.to_thread(pd.resolve, key)
    assert pd_fake.alerts[(ROUTING_KEY, key)].state == "resolved" and pd_fake.open_alerts() == []
    assert [e["event_action"] for e in pd_fake.events] == ["trigger", "acknowledge", "resolve"]
    assert pd_fake.events[0]["payload"]["custom_details"] == {"incident": "INC-42"}


async def test_verify_also_takes_the_ca_path(pd_fake):
    # httpx2 still accepts a path but deprecates it in favour of an ssl.SSLContext.
    with pytest.warns(DeprecationWarning, match="verify=<str>"):
        client = pagerduty.EventsApiV2Client(ROUTING_KEY, base_url=pd_fake.url, verify=pd_fake.ca_pem_path)
    with client:
        assert await asyncio.to_thread(client.trigger, "disk full", "db-1", dedup_key="k1") == "k1"


async def test_without_the_ca_the_tls_handshake_fails(pd_fake):
    client = pagerduty.EventsApiV2Client(ROUTING_KEY, base_url=pd_fake.url)
    client.max_network_attempts = 0  # else it retries 3 times with blocking 3 s, 6 s, 12 s sleeps
    with client, pytest.raises(pagerduty.Error) as info:
        await asyncio.to_thread(client.trigger, "x", "y", dedup_key="k")
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value.__cause__)
    assert pd_fake.calls == []


async def test_repeated_trigger_updates_the_open_alert(pd, pd_fake):
    for summary in ("DB unreachable", "DB unreachable (retry)"):
        await asyncio.to_thread(pd.trigger, summary, "preskool-irp", dedup_key="INC-7")
    alert = pd_fake.alerts[(ROUTING_KEY, "INC-7")]
    assert (alert.triggers, alert.payload["summary"]) == (2, "DB unreachable (retry)")
    generated = await asyncio.to_thread(pd.trigger, "no key given", "preskool-irp")
    assert generated != "INC-7" and len(pd_fake.open_alerts()) == 2 and len(pd_fake.triggers("INC-7")) == 2


PAYLOAD = {"summary": "DB unreachable", "source": "db-1", "severity": "critical"}
EVENT = {"routing_key": ROUTING_KEY, "event_action": "trigger", "dedup_key": "INC-5", "payload": PAYLOAD}


@pytest.mark.parametrize(
    "event, error",
    [
        ({**EVENT, "payload": {**PAYLOAD, "severity": "bogus"}}, "payload.severity"),
        (
            {**EVENT, "payload": {"source": "db-1", "severity": "critical"}},
            "'summary' is a required property",
        ),
        ({**EVENT, "event_action": "explode"}, "event_action"),
        ({**EVENT, "routing_key": None}, "routing_key"),
        ({k: v for k, v in EVENT.items() if k != "payload"}, "'payload' is missing"),
        (
            {k: v for k, v in EVENT.items() if k != "dedup_key"} | {"event_action": "resolve"},
            "'dedup_key' is missing",
        ),
    ],
)
async def test_invalid_events_are_refused_with_the_spec_error_shape(pd_fake, event, error):
    async with httpx.AsyncClient(verify=pd_fake.client_ssl_context()) as http:
        response = await http.post(pd_fake.url + "/v2/enqueue", json=event)
    assert response.status_code == 400
    assert response.json()["status"] == "invalid event" and error in " ".join(response.json()["errors"])
    assert pd_fake.events == [] and pd_fake.alerts == {}


async def test_unparseable_body_is_refused(pd_fake):
    async with httpx.AsyncClient(verify=pd_fake.client_ssl_context()) as http:
        response = await http.post(pd_fake.url + "/v2/enqueue", content=b"{not json")
    assert response.status_code == 400 and response.json()["errors"] == ["JSON parse error"]


async def test_429_surfaces_once_retries_are_bounded(pd, pd_fake):
    # retry[429] = 0 means "default", and the default is to retry forever.
    pd.retry[429] = 1  # one retry, then the response comes back and trigger() raises
    pd_fake.fail_next("/v2/enqueue", 429, times=2)
    with pytest.raises(pagerduty.HttpError) as info:
        await asyncio.to_thread(pd.trigger, "x", "y", dedup_key="INC-1")
    assert info.value.response.status_code == 429
    assert len(pd_fake.calls) == 2 and pd_fake.alerts == {}


async def test_default_client_rides_through_429_and_5xx(pd, pd_fake):
    pd_fake.fail_next("/v2/enqueue", 429, times=2)
    pd_fake.fail_next("/v2/enqueue", 503)
    assert await asyncio.to_thread(pd.trigger, "x", "y", dedup_key="INC-2") == "INC-2"
    assert [c.status for c in pd_fake.calls] == [429, 429, 503, 202]
    assert pd_fake.alerts[(ROUTING_KEY, "INC-2")].triggers == 1


async def test_change_events(pd, pd_fake):
    await asyncio.to_thread(pd.send_change_event, payload={"summary": "deploy 1.2.3", "source": "ci"})
    assert pd_fake.change_events[0]["payload"]["summary"] == "deploy 1.2.3"
    with pytest.raises(AttributeError):  # pagerduty 7.2: submit() without a timestamp is broken
        pd.submit("deploy 1.2.4")
    await asyncio.to_thread(pd.submit, "deploy 1.2.4", timestamp="2026-01-01T00:00:00Z")
    assert len(pd_fake.change_events) == 2 and pd_fake.events == []


def test_fake_request_schemas_are_the_spec():
    assert EVENT_SCHEMA == _request_schema("/enqueue")
    assert CHANGE_EVENT_SCHEMA == _request_schema("/change/enqueue")


# --- PagerDuty REST API v2: who is on call ---------------------------------------------------------


@pytest.fixture
def rest(pd_fake):
    pd_fake.rest.api_tokens = {"u+contractRestKey001"}
    pd_fake.rest.add_user("PZOE001", "Zoe Adams", "zoe.adams@preskool.com")
    pd_fake.rest.add_user("PYUSUF1", "Yusuf Ali", "yusuf.ali@preskool.com")
    pd_fake.rest.put_on_call("PZOE001", schedule="PSCHED1", escalation_policy="PEP0001", level=1)
    pd_fake.rest.put_on_call("PYUSUF1", escalation_policy="PEP0001", level=2)
    client = pagerduty.RestApiV2Client(
        "u+contractRestKey001", base_url=pd_fake.url, verify=pd_fake.client_ssl_context()
    )
    client.sleep_timer = 0.01
    yield client
    client.close()


async def test_oncalls_users_and_schedules_over_https(rest, pd_fake):
    by_schedule = await asyncio.to_thread(
        rest.rget, "/oncalls", params={"schedule_ids": ["PSCHED1"], "earliest": "true"}
    )
    assert [(o["user"]["id"], o["schedule"]["id"], o["escalation_level"]) for o in by_schedule] == [
        ("PZOE001", "PSCHED1", 1)
    ]
    by_policy = await asyncio.to_thread(rest.rget, "/oncalls", params={"escalation_policy_ids": ["PEP0001"]})
    assert [o["user"]["id"] for o in by_policy] == ["PZOE001", "PYUSUF1"]
    assert "schedule" not in by_policy[1]  # a user named directly by the policy has no schedule
    paged = await asyncio.to_thread(lambda: list(rest.iter_all("/oncalls", params={"limit": 1})))
    assert len(paged) == 2 and len(pd_fake.calls_to("/oncalls")) == 4  # the iterator followed `more`
    user = await asyncio.to_thread(rest.rget, "/users/PZOE001")
    assert (user["name"], user["email"], user["type"]) == ("Zoe Adams", "zoe.adams@preskool.com", "user")
    schedule = await asyncio.to_thread(rest.rget, "/schedules/PSCHED1")
    assert schedule["name"] == "Primary rotation" and [u["id"] for u in schedule["users"]] == ["PZOE001"]


async def test_a_handoff_ends_the_shift_before_it(rest, pd_fake):
    pd_fake.rest.put_on_call("PYUSUF1", schedule="PSCHED1", escalation_policy="PEP0001", level=1)
    now = await asyncio.to_thread(rest.rget, "/oncalls", params={"schedule_ids": ["PSCHED1"]})
    assert [o["user"]["id"] for o in now] == ["PYUSUF1"]


async def test_rest_errors_have_the_spec_shape(rest, pd_fake):
    with pytest.raises(pagerduty.HttpError) as missing:
        await asyncio.to_thread(rest.rget, "/users/PNOBODY")
    assert missing.value.response.status_code == 404
    async with httpx.AsyncClient(verify=pd_fake.client_ssl_context(), base_url=pd_fake.url) as http:
        unknown = await http.get(
            "/oncalls",
            params={"schedule_id": "PSCHED1"},
            headers={"Authorization": "Token token=u+contractRestKey001"},
        )
        anonymous = await http.get("/oncalls")
    assert unknown.status_code == 400 and unknown.json()["error"]["errors"] == [
        "schedule_id is not a parameter"
    ]
    assert anonymous.status_code == 401 and anonymous.json()["error"]["message"] == "Unauthorized"


def test_fake_rest_parameters_are_the_spec():
    parameters = PD_REST["components"]["parameters"]
    for operation, names in QUERY_PARAMETERS.items():
        listed = [
            parameters[p["$ref"].rsplit("/", 1)[-1]] if "$ref" in p else p
            for p in PD_REST["paths"][operation]["get"]["parameters"]
        ]
        assert names == {p["name"] for p in listed if p["in"] == "query"}, operation


# --- the process the demo runs --------------------------------------------------------------------


async def test_python_m_sandbox_serves_until_sigterm(tmp_path):
    state = tmp_path / "sandbox.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sandbox",
        "--state-file",
        str(state),
        stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).parent.parent,
    )
    try:
        info = json.loads(await asyncio.wait_for(proc.stdout.readline(), 10))
        slack = AsyncWebClient(token=info["slack_token"], base_url=info["slack_url"])
        await slack.chat_postMessage(channel="general", text="hello from the demo")
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=info["ca_bundle"])) as http:
            seen = (await http.get(info["pagerduty_url"] + "/_sandbox/calls")).json()
        async with httpx.AsyncClient() as http:
            slack_seen = (await http.get(info["slack_url"].removesuffix("/api/") + "/_sandbox/calls")).json()
        assert seen == {"calls": [], "alerts": []}
        assert slack_seen["channels"][0]["messages"][0]["text"] == "hello from the demo"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    assert json.loads(state.read_text())["slack"]["calls"][0]["path"] == "/api/chat.postMessage"
