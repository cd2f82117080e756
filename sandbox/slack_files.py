"""The sandbox Slack's file uploads, as Slack serves them today (files.upload, v1, is retired):

1. `files.getUploadURLExternal` (https://docs.slack.dev/reference/methods/files.getUploadURLExternal):
   `filename` and `length` (bytes) required; answers `upload_url` and `file_id`.
2. A POST of the file's bytes to `upload_url` (no token: the URL is the credential). Slack answers
   HTTP 200 `OK - <length>`; here the bytes must be as many as `length` said (else HTTP 400), and
   a URL takes its bytes once.
3. `files.completeUploadExternal` (https://docs.slack.dev/reference/methods/files.completeUploadExternal):
   `files` (a JSON array of `{"id", "title"}`), with `channel_id` (else the file stays private),
   `thread_ts` (a reply under that message) and `initial_comment`. The file then appears in the
   channel as a message with `files` (conversations.history, or conversations.replies in a thread).

The OpenAPI file in /work/shared/specs (2021) predates these methods: what is served here is
from the method pages above, and tests/test_sandbox_contract.py states it. Refusals: a missing
`filename` or `length` is `invalid_arguments`, a `length` of 0 `missing_argument` and uploads
turned off `file_uploads_disabled` (as the method page says); an id never issued, whose bytes
never came, or already completed is `file_not_found`; a channel the bot is not in is
`not_in_channel`, an archived one `is_archived` (as chat.postMessage answers), an unknown one
`channel_not_found`. Slack processes uploads asynchronously (the message may show a moment
later); here it is there when the call answers."""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass
from typing import Any

MIME_TYPES = {"png": "image/png", "jpg": "image/jpeg", "txt": "text/plain"}
UPLOAD_PATH = "/upload/v1/"  # where the fake takes the bytes (Slack's is files.slack.com/upload/v1/…)


@dataclass
class Upload:
    """One file from getUploadURLExternal until completed (`done`)."""

    file_id: str
    filename: str
    length: int
    alt_txt: str
    data: bytes | None = None
    done: bool = False


class SlackFiles:
    """Mixed into SlackFake: the three steps above, and `files` (file id → its bytes) for tests."""

    def _reset_files(self) -> None:
        self.uploads: dict[str, Upload] = {}  # by the upload URL's token
        self.files: dict[str, bytes] = {}  # completed file id → its bytes
        self.uploads_disabled = False  # a workspace whose admin turned file uploads off
        self.upload_url_faults: list[int] = []  # HTTP statuses the next upload POSTs answer, in order

    def disable_uploads(self) -> None:
        """The workspace's admin turns file uploads off: getUploadURLExternal answers
        `file_uploads_disabled` (a documented error of the method)."""
        self.uploads_disabled = True

    def fail_next_upload(self, status: int, times: int = 1) -> None:
        """The next `times` POSTs to an upload URL answer `status` and store nothing (the upload
        URL's path is new each time, so `fail_next` cannot name it)."""
        self.upload_url_faults.extend([status] * times)

    def _file_methods(self) -> dict:
        return {
            "files.getUploadURLExternal": self._upload_url,
            "files.completeUploadExternal": self._complete_upload,
        }

    def _upload_url(self, p: dict) -> dict:
        from sandbox.slack import SlackError

        filename, length = str(p.get("filename") or ""), p.get("length")
        if self.uploads_disabled:
            raise SlackError("file_uploads_disabled")
        if not filename or length in (None, ""):
            raise SlackError("invalid_arguments")
        try:
            size = int(length)
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments") from None
        if size <= 0:
            raise SlackError("missing_argument")
        token = secrets.token_urlsafe(18)
        upload = Upload(self._new_id("F"), filename, size, str(p.get("alt_txt") or ""))
        self.uploads[token] = upload
        return {"upload_url": f"{self.root_url}{UPLOAD_PATH}{token}", "file_id": upload.file_id}

    def _take_bytes(self, token: str, params: dict) -> tuple[int, Any, dict]:
        """POST to an upload URL: the raw bytes (as slack_sdk sends them), as many as promised."""
        if self.upload_url_faults:
            status = self.upload_url_faults.pop(0)
            return status, "Service Unavailable" if status >= 500 else f"HTTP {status}", {}
        upload = self.uploads.get(token)
        if upload is None or upload.data is not None:
            return 404, "upload URL unknown or already used", {}
        if params.get("multipart"):
            return 415, "the sandbox takes the file's raw bytes only (slack_sdk sends them so)", {}
        data = base64.b64decode(params.get("base64", ""))
        if len(data) != upload.length:
            return 400, f"length mismatch: {len(data)} bytes sent, {upload.length} announced", {}
        upload.data = data
        return 200, f"OK - {len(data)}", {}

    def _complete_upload(self, p: dict) -> dict:
        from sandbox.slack import BOT_USER_ID, SlackError, _json_field

        listed = _json_field(p.get("files"), "invalid_arguments")
        if not isinstance(listed, list) or not listed or not all(isinstance(f, dict) for f in listed):
            raise SlackError("invalid_arguments")
        by_id = {u.file_id: u for u in self.uploads.values()}
        uploads = [by_id.get(str(f.get("id"))) for f in listed]
        if any(u is None or u.data is None or u.done for u in uploads):
            raise SlackError("file_not_found")
        channel = None
        if p.get("channel_id"):
            channel = self._channel({"channel": p["channel_id"]})
            if channel.is_archived:
                raise SlackError("is_archived")
            if not channel.is_im and BOT_USER_ID not in channel.members:
                raise SlackError("not_in_channel")
        pairs = zip(uploads, listed, strict=True)
        shared = [self._file_object(u, str(f.get("title") or u.filename)) for u, f in pairs]
        for upload in uploads:
            upload.done = True
            self.files[upload.file_id] = upload.data
        if channel is not None:
            self._share(channel, shared, str(p.get("initial_comment") or ""), p.get("thread_ts"))
        return {"files": [{"id": f["id"], "title": f["title"]} for f in shared]}

    def _file_object(self, upload: Upload, title: str) -> dict:
        name = upload.filename
        kind = name.rsplit(".", 1)[-1].lower() if "." in name else "binary"
        mime = MIME_TYPES.get(kind, "application/octet-stream")
        now = int(time.time())
        return {
            "id": upload.file_id,
            "created": now,
            "timestamp": now,
            "name": name,
            "title": title,
            "mimetype": mime,
            "filetype": kind,
            "user": _bot(),
            "size": upload.length,
            "mode": "hosted",
            "is_external": False,
            "alt_txt": upload.alt_txt,
            "url_private": f"{self.root_url}/files-pri/{upload.file_id}/{name}",
        }

    def _share(self, channel, files: list[dict], comment: str, thread_ts: Any) -> None:
        """The message that shows the files, in the channel or under `thread_ts`."""
        from sandbox.slack import BOT_ID, BOT_USER_ID, TEAM_ID

        message = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "team": TEAM_ID}
        message.update(text=comment, files=files, upload=True, display_as_bot=False, ts=self._next_ts())
        self._in_thread(channel, message, thread_ts)
        channel.messages.append(message)

    def shared_files(self, channel_name_or_id: str) -> list[dict]:
        """Every file shared in the channel (threads included), as its message shows it."""
        return [f for m in self.messages(channel_name_or_id) for f in m.get("files") or []]


def _bot() -> str:
    from sandbox.slack import BOT_USER_ID

    return BOT_USER_ID


def upload_params(content_type: str, raw: bytes) -> dict:
    """What the fake records of an upload POST: the bytes' length and the bytes in base64 (JSON-able)."""
    if content_type.startswith("multipart/"):
        return {"multipart": True, "length": len(raw)}
    return {"length": len(raw), "base64": base64.b64encode(raw).decode()}
