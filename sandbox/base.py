"""The part every fake shares: a real HTTP(S) server in the caller's event loop, a record of
what it was sent and what it answered, and injected failures (429 / 5xx) that are recorded too.

Real client libraries talk to these servers over sockets, so their own encoding, retry and TLS
code runs exactly as it would against the real service."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

SNAPSHOT_PATH = "/_sandbox/calls"


@dataclass
class Call:
    """One request as the fake saw it, and its answer."""

    method: str
    path: str
    params: Any  # parsed query/body; None when the body did not parse
    status: int
    response: Any  # parsed JSON body, or text
    injected: bool = False  # answered by fail_next, not by the fake's logic
    headers: dict[str, str] = field(default_factory=dict)  # response headers worth seeing
    delayed: float = 0.0  # seconds delay_next held it before handling
    # When the request arrived and when its answer was sent, in the fake's monotonic seconds: a test
    # reads what the client did from these (e.g. that a retry came Retry-After after a 429).
    arrived: float = 0.0
    answered: float = 0.0

    def matches(self, key: str) -> bool:
        return _matches(key, self.method, self.path)

    def to_dict(self) -> dict:
        return asdict(self)


def _matches(key: str, method: str, path: str) -> bool:
    """A fault or filter key names a path ("/v2/enqueue"), its last part ("chat.postMessage"),
    an HTTP method ("POST"), or everything ("*")."""
    return key in ("*", path, method.upper()) or path.endswith("/" + key.strip("/"))


def _take(armed: list, request: web.Request):
    """The first armed fault or delay matching the request, used up once (gone when spent)."""
    for item in armed:
        if _matches(item.key, request.method, request.path):
            item.times -= 1
            if item.times <= 0:
                armed.remove(item)
            return item
    return None


@dataclass
class _Fault:
    key: str
    status: int
    times: int
    retry_after: int | None
    after_acting: bool = False  # the request takes effect, but its answer is lost


@dataclass
class _Every:
    """A standing fault: every `every`-th request to each of `keys`, counted per key."""

    keys: tuple[str, ...]
    every: int
    status: int
    retry_after: int | None
    seen: dict[str, int] = field(default_factory=dict)

    def hit(self, request: web.Request) -> bool:
        key = next((k for k in self.keys if _matches(k, request.method, request.path)), None)
        if key is None:
            return False
        self.seen[key] = self.seen.get(key, 0) + 1
        return self.seen[key] % self.every == 0


@dataclass
class _Delay:
    key: str
    seconds: float
    times: int


@dataclass
class Held:
    """A request delay_next held back: recorded when it arrives, so a test can act while it waits
    (kill the client mid-request). The handling goes on after the delay even if the client has
    gone, as a real server's would: the effect happens and the answer is lost."""

    method: str
    path: str
    params: Any
    seconds: float
    state: str = (
        "holding"  # holding | released (then handled as usual) | cancelled (the server stopped first)
    )

    def matches(self, key: str) -> bool:
        return _matches(key, self.method, self.path)

    def to_dict(self) -> dict:
        return asdict(self)


class FakeServer:
    """Subclasses implement `parse` and `handle`; the base records every exchange."""

    prefix = ""  # what the client's base URL adds to the server root, e.g. "/api/"

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None):
        self.ssl_context = ssl_context
        self.calls: list[Call] = []
        self.host: str | None = None
        self.port: int | None = None
        self._faults: list[_Fault] = []
        self._every: list[_Every] = []
        self._delays: list[_Delay] = []
        self.held: list[Held] = []  # requests delay_next held, in order of arrival
        self._runner: web.AppRunner | None = None

    # lifecycle -------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeServer:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=self.ssl_context)
        await site.start()
        self.host, self.port = host, self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    @property
    def root_url(self) -> str:
        if self.port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The base URL to give the client library."""
        return self.root_url + self.prefix

    # test controls -----------------------------------------------------------------------------

    def fail_next(
        self, path_or_method: str, status: int, times: int = 1, retry_after: int | None = None
    ) -> None:
        """The next `times` matching requests get `status` instead of an answer (and are recorded)."""
        self._faults.append(_Fault(path_or_method, status, times, retry_after))

    def fail_every(
        self, keys: list[str] | tuple[str, ...], every: int, status: int = 429, retry_after: int | None = None
    ) -> None:
        """From now on, every `every`-th request to each of `keys` (counted per key: Slack limits
        per method) gets `status`, with `Retry-After` when given, until `reset`. A rate limit in
        the field; one-shot faults (`fail_next`) go first."""
        self._every.append(_Every(tuple(keys), every, status, retry_after))

    def lose_next_response(self, path_or_method: str, status: int = 500, times: int = 1) -> None:
        """The next matching requests take effect, then answer `status`: the retry-after-success case."""
        self._faults.append(_Fault(path_or_method, status, times, None, after_acting=True))

    def delay_next(self, path_or_method: str, seconds: float, times: int = 1) -> None:
        """The next `times` matching requests wait `seconds` before they are handled: a slow
        service, so a client can be killed mid-request. Each is in `held` from its arrival."""
        self._delays.append(_Delay(path_or_method, seconds, times))

    def held_for(self, path_or_method: str) -> list[Held]:
        return [h for h in self.held if h.matches(path_or_method)]

    def reset(self) -> None:
        """Forget calls and pending faults; subclasses also return their state to as-constructed."""
        self.calls.clear()
        self._faults.clear()
        self._every.clear()
        self._delays.clear()
        self.held.clear()

    def calls_to(self, path_or_method: str) -> list[Call]:
        return [c for c in self.calls if c.matches(path_or_method)]

    # subclass hooks ------------------------------------------------------------------------------

    async def parse(self, request: web.Request, raw: bytes) -> Any:
        raise NotImplementedError

    async def handle(self, request: web.Request, params: Any) -> tuple[int, Any, dict[str, str]]:
        """(status, JSON-able body or text, extra headers)."""
        raise NotImplementedError

    def fault_body(self, status: int) -> Any:
        return "Service Unavailable" if status >= 500 else f"HTTP {status}"

    async def control(self, what: str, body: Any) -> web.Response:
        """POST /_sandbox/<what>: another process (the demo) steers the fake. None by default."""
        return web.json_response({"error": f"this fake has no control {what!r}"}, status=404)

    def snapshot(self) -> dict:
        """What GET /_sandbox/calls shows another process (the demo)."""
        return {"calls": [c.to_dict() for c in self.calls]}

    # plumbing --------------------------------------------------------------------------------

    def _take_delay(self, request: web.Request) -> _Delay | None:
        return _take(self._delays, request)

    async def _hold(self, request: web.Request, params: Any, seconds: float) -> None:
        held = Held(request.method, request.path, params, seconds)
        self.held.append(held)
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            held.state = "cancelled"
            raise
        held.state = "released"

    def _take_fault(self, request: web.Request) -> _Fault | None:
        if fault := _take(self._faults, request):
            return fault
        standing = next((e for e in self._every if e.hit(request)), None)
        return standing and _Fault("*", standing.status, 1, standing.retry_after)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.path == SNAPSHOT_PATH and request.method == "GET":
            return web.json_response(self.snapshot())
        if request.path.startswith("/_sandbox/") and request.method == "POST":
            return await self.control(request.path.removeprefix("/_sandbox/"), await request.json())
        arrived = time.monotonic()
        raw = await request.read()
        params = await self.parse(request, raw)
        delay = self._take_delay(request)
        if delay is not None:
            await self._hold(request, params, delay.seconds)
        fault = self._take_fault(request)
        headers: dict[str, str] = {}
        if fault is not None and fault.after_acting:
            await self.handle(request, params)
        if fault is not None:
            status, body = fault.status, self.fault_body(fault.status)
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
        else:
            try:
                status, body, headers = await self.handle(request, params)
            except Exception:  # a bug in the fake must show, not hang the client
                log.exception("%s failed on %s %s", type(self).__name__, request.method, request.path)
                status, body = 500, traceback.format_exc()
        self.calls.append(
            Call(
                request.method,
                request.path,
                params,
                status,
                body,
                fault is not None,
                headers,
                delay.seconds if delay is not None else 0.0,
                arrived,
                time.monotonic(),
            )
        )
        if isinstance(body, str):
            return web.Response(status=status, text=body, headers=headers)
        return web.json_response(body, status=status, headers=headers)


class JsonRestFake(FakeServer):
    """A REST API that takes a query string and a JSON body (Jira, Statuspage): `params` is
    {"query": {...}, "body": <the JSON, or None when it does not parse>} (no "body" when empty)."""

    async def parse(self, request: web.Request, raw: bytes) -> dict:
        params: dict[str, Any] = {"query": dict(request.query)}
        if raw:
            try:
                params["body"] = json.loads(raw)
            except ValueError:
                params["body"] = None
        return params


def write_ca_pem(ca) -> str:
    """The CA certificate of a `trustme.CA` in a temp file, for clients that want a path."""
    fd, path = tempfile.mkstemp(prefix="sandbox-ca-", suffix=".pem")
    with os.fdopen(fd, "wb") as f:
        f.write(ca.cert_pem.bytes())
    return path


def server_tls(ca) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 and localhost signed by `ca`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context
