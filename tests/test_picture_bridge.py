"""§4.6, issue 24 item 6: the post-mortem draft's timeline picture, shown with the draft in the
bridge — shared as a PNG in the draft's thread with Slack's current upload (slack_sdk
files_upload_v2), once across retries, none for a private incident, skipped with a typed event
when the bridge cannot take it. Real Temporal, the real Slack client, the sandbox Slack."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl

import pytest
from hypothesis import given
from hypothesis import strategies as st
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.chat import BridgeActivities, BridgePicture, Directory
from activities.chat.slack import SlackChat
from sandbox.slack import DEFAULT_TOKEN, SlackFake
from tests.fuzz import budget
from tests.helpers import eventually, finish, status_when
from tests.test_lifecycle import IC, PRIMARY, kinds, open_incident
from tests.test_tickets import _picture

TITLE = "Incident timeline inc-pic.0123456789ab"


def request(channel_id: str, thread: str | None) -> BridgePicture:
    return BridgePicture(
        channel_id=channel_id,
        thread=thread,
        filename="incident-timeline.png",
        title=TITLE,
        comment="🖼️ the timeline",
        picture=_picture(),
    )


def attempt(n: int) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=n)
    return env


async def draft_thread(slack, name: str) -> tuple[SlackChat, str, str]:
    chat = SlackChat(DEFAULT_TOKEN, slack.url, ssl.create_default_context())
    channel_id, _ = await chat.create_channel(name)
    ts = (await chat.client.chat_postMessage(channel=channel_id, text="📝 Post-mortem draft"))["ts"]
    return chat, channel_id, ts


async def test_a_retry_after_the_upload_completed_uploads_nothing_more(slack):
    chat, channel_id, ts = await draft_thread(slack, "inc-pic")
    share = BridgeActivities(chat, Directory()).share_picture
    slack.lose_next_response("files.completeUploadExternal")  # shared, but the answer is lost
    with pytest.raises(ApplicationError) as lost:
        await attempt(1).run(share, request(channel_id, ts))
    assert not lost.value.non_retryable  # Temporal retries it
    again = await attempt(2).run(share, request(channel_id, ts))
    (file,) = slack.shared_files("inc-pic")
    assert again.reused and again.file_id == file["id"] and file["title"] == TITLE
    assert slack.files[file["id"]].startswith(b"\x89PNG\r\n\x1a\n")
    assert len(slack.calls_to("files.getUploadURLExternal")) == 1  # the retry uploaded nothing
    (shared,) = [m for m in slack.messages("inc-pic") if m.get("files")]
    assert shared["thread_ts"] == ts and shared["text"] == "🖼️ the timeline"


STEPS = ("conversations.replies", "files.getUploadURLExternal", "files.completeUploadExternal")
faults = st.lists(st.tuples(st.sampled_from(STEPS), st.sampled_from(["lost", "failed"])), max_size=6)


async def share_through(planned: list[tuple[str, str]]) -> None:
    """Each attempt on a worker of its own (a fresh provider), Slack failing the planned calls in
    order — an error before acting, or an answer lost after acting — until one attempt answers."""
    async with SlackFake() as slack:
        _, channel_id, ts = await draft_thread(slack, "inc-storm")
        for step, how in planned:
            (slack.lose_next_response if how == "lost" else slack.fail_next)(step, 503)
        for n in range(1, 2 * len(planned) + 2):
            chat = SlackChat(DEFAULT_TOKEN, slack.url, ssl.create_default_context())
            try:
                result = await attempt(n).run(
                    BridgeActivities(chat, Directory()).share_picture, request(channel_id, ts)
                )
                break
            except ApplicationError as e:
                assert not e.non_retryable, e  # a Slack failure that may pass is retried, never final
        else:
            pytest.fail(f"no attempt answered: {planned}")
        (file,) = slack.shared_files("inc-storm")
        assert result.file_id == file["id"] and file["title"] == TITLE and not result.skipped
        assert all(m.get("thread_ts") == ts for m in slack.messages("inc-storm") if m.get("files"))


@budget(25)
@given(faults)
def test_no_fault_pattern_shares_the_picture_twice_or_never(planned):
    """Whatever Slack fails, before or after acting, and whichever worker retries: the picture
    ends up shared exactly once, in the draft's thread."""
    asyncio.run(share_through(planned))


@pytest.mark.parametrize(
    "done_to_it, why",
    [
        ("archive_as_a_person", "is_archived"),
        ("remove_bot", "not_in_channel"),
        ("delete_as_a_person", "channel_not_found"),
    ],
)
async def test_a_bridge_that_cannot_take_the_picture_skips_it_with_the_reason(slack, done_to_it, why):
    chat, channel_id, ts = await draft_thread(slack, "inc-gone")
    getattr(slack, done_to_it)("inc-gone")
    result = await attempt(1).run(BridgeActivities(chat, Directory()).share_picture, request(channel_id, ts))
    assert result.skipped == f"the bridge cannot take it ({why})" and result.file_id is None
    assert not slack.files


@pytest.mark.parametrize("status, how", [(503, "retried"), (429, "waited out"), (403, "skipped")])
async def test_an_upload_url_that_fails_is_retried_or_skips_the_picture(slack, status, how):
    """The bytes' POST answering 5xx may pass: Temporal retries it (the retry shares once); a 429 is
    waited out in place (slack_sdk's rate-limit handler, Retry-After); any other status is final for
    the picture, said as the reason, never the step's failure."""
    chat, channel_id, ts = await draft_thread(slack, "inc-url")
    share = BridgeActivities(chat, Directory()).share_picture
    slack.fail_next_upload(status)
    if how == "retried":
        with pytest.raises(ApplicationError) as again:
            await attempt(1).run(share, request(channel_id, ts))
        assert not again.value.non_retryable
    result = await attempt(2 if how == "retried" else 1).run(share, request(channel_id, ts))
    if how == "skipped":
        assert result.skipped.startswith("Slack's upload URL refused the file") and not result.file_id
        assert f"status: {status}" in result.skipped and not slack.shared_files("inc-url")
    else:
        assert result.file_id and not result.reused and len(slack.shared_files("inc-url")) == 1
    uploads = [c for c in slack.calls if c.path.startswith("/upload/v1/")]
    assert [c.status for c in uploads] == {"retried": [status, 200], "waited out": [status, 200]}.get(
        how, [status]
    )


async def test_a_worker_without_chat_skips_the_picture():
    result = await attempt(1).run(BridgeActivities(None, Directory()).share_picture, request("C1", "1.0"))
    assert result.skipped == "skipped: chat not configured on this worker"


async def resolved(time_env, run_worker, policy, prometheus, **labels):
    """A P1 opened, acknowledged and resolved (verified): the close-out posts the draft."""
    prometheus.healthy(policy)
    async with run_worker(time_env.client) as tq:
        handle = await open_incident(time_env, tq, policy, module="fees", **labels)
        await handle.signal("acknowledge", {"by": PRIMARY})
        await handle.signal("resolve", {"by": IC, "summary": "Rolled back", "root_cause": "Gateway change"})
        status = await status_when(
            handle,
            lambda s: (
                s.phase == "REVIEW"
                and any(e.text.startswith("posted the postmortem-draft") for e in s.timeline)
                and (s.private or any(e.kind.startswith("picture-") for e in s.timeline))
            ),
        )
        await finish(handle)
    return status


async def test_the_picture_lands_once_in_the_drafts_thread_and_the_draft_says_so(
    time_env, run_worker, policy, slack, pagerduty, statuspage, prometheus, jira
):
    slack.lose_next_response("files.completeUploadExternal")  # and once across a lost answer
    status = await resolved(time_env, run_worker, policy, prometheus)
    messages = slack.messages(status.channel)
    (draft,) = [m for m in messages if m["text"].startswith("📝 Post-mortem draft")]
    assert "its timeline picture is in this thread" in draft["text"]
    assert f"The picture is in the bridge #{status.channel}, in the thread of this draft" in draft["text"]
    assert "attached to the post-mortem ticket as `incident-timeline.png`" in draft["text"]
    (file,) = slack.shared_files(status.channel)
    (shared,) = [m for m in messages if m.get("files")]
    assert shared["thread_ts"] == draft["ts"] and file["name"] == "incident-timeline.png"
    assert file["title"].startswith(f"Incident timeline {status.incident_id}.")  # the outward key
    assert slack.files[file["id"]].startswith(b"\x89PNG") and file["mimetype"] == "image/png"
    assert len(slack.calls_to("files.getUploadURLExternal")) == 1
    assert kinds(status, "picture-shared") == [
        f"the timeline picture incident-timeline.png is in #{status.channel}, under the draft"
    ]
    # Jira as before: the picture attached to the post-mortem ticket, whose draft says both.
    postmortem = await eventually(
        lambda: next((i for i in jira.issues.values() if i["fields"].get("attachment")), None)
    )
    assert postmortem["fields"]["attachment"][0]["filename"] == "incident-timeline.png"


async def test_a_workspace_without_uploads_skips_the_picture_with_a_typed_event(
    time_env, run_worker, policy, slack, pagerduty, statuspage, prometheus, jira
):
    slack.disable_uploads()
    status = await resolved(time_env, run_worker, policy, prometheus)
    assert kinds(status, "picture-skipped") == [
        "the timeline picture was not shared in the bridge: Slack files.getUploadURLExternal refused: "
        "file_uploads_disabled"
    ]
    assert status.phase == "REVIEW" and not slack.files and not kinds(status, "step-failed")
    assert slack.channel_by_name(status.channel).is_archived  # the close-out went on to the end


async def test_a_private_incident_shares_no_picture_in_its_bridge(
    time_env, run_worker, policy, slack, pagerduty, statuspage, prometheus, jira
):
    status = await resolved(time_env, run_worker, policy, prometheus, data_at_risk="true")
    assert status.private
    assert not slack.calls_to("files.getUploadURLExternal") and not slack.files
    (draft,) = [m for m in slack.messages(status.channel) if m["text"].startswith("📝 Post-mortem draft")]
    assert "No picture: a private incident's timeline stays in the incident" in draft["text"]
    assert not kinds(status, "picture-shared")
