"""A real SMTP server (aiosmtpd) for the tests and the demo: STARTTLS with a certificate from a
throwaway CA, AUTH PLAIN/LOGIN against one username and password, and a record of every message
it accepted, parsed. It runs in aiosmtpd's own thread and event loop, so a blocking client
(smtplib) can talk to it from the caller's loop via asyncio.to_thread.

Like the HTTP fakes in sandbox/base.py it injects failures: `fail_next` answers a 4xx/5xx to the
next MAIL, RCPT or DATA, and `drop_after_data` takes a message and closes the connection without
the final "250", the window in which a client cannot know whether its email was sent."""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import ssl
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from email import policy
from email.parser import BytesParser

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from sandbox.base import server_tls, write_ca_pem

# aiosmtpd itself sets the deprecated Session.login_data on every AUTH and warns each time.
logging.getLogger("mail.log").addFilter(lambda record: "login_data is deprecated" not in record.getMessage())

DEFAULT_USERNAME = "irp"
DEFAULT_PASSWORD = "sandbox-smtp-password"
SERVER_NAME = "smtp.sandbox.preskool-irp"  # the greeting's name; else aiosmtpd asks DNS (getfqdn)
REPLIES = {  # what a real server says with each code (RFC 3463 enhanced status codes)
    421: "4.3.2 Service shutting down, closing transmission channel",
    450: "4.2.1 Mailbox busy, try again later",
    451: "4.3.0 Local error in processing, try again later",
    452: "4.3.1 Insufficient system storage",
    550: "5.1.1 Mailbox unavailable",
    552: "5.3.4 Message too big",
    554: "5.7.1 Transaction failed",
}


@dataclass
class ReceivedMessage:
    """One message the server took (its DATA content ended with "."), as a mailbox would see it."""

    mail_from: str
    rcpt_tos: list[str]
    headers: dict[str, str]  # decoded (RFC 2047), first of each name
    body: str  # the text/plain part, decoded, with "\n" line ends as a mail reader shows it
    raw: str  # the content as sent (7-bit if the client encoded it so)
    tls: bool  # after STARTTLS
    login: str | None  # who authenticated
    acknowledged: bool = True  # False: drop_after_data closed the connection before "250"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Refusal:
    """An answer other than success that the server gave (injected or not)."""

    command: str
    code: int
    injected: bool = False


@dataclass
class _Fault:
    code: int
    times: int
    at: str | None  # "MAIL" | "RCPT" | "DATA" | None: the next of any


class _Controller(Controller):
    """aiosmtpd's Controller, bound to port 0 if asked: it learns the port the OS chose before it
    connects to itself to check the server is up."""

    def _create_server(self):
        create = super()._create_server()

        async def learn_port():
            server = await create
            self.port = server.sockets[0].getsockname()[1]
            return server

        return learn_port()


class SmtpSandbox:
    def __init__(
        self,
        username: str | None = DEFAULT_USERNAME,
        password: str | None = DEFAULT_PASSWORD,
        starttls: bool = True,
        *,
        ca: trustme.CA | None = None,
        on_message: Callable[[ReceivedMessage], None] | None = None,
    ):
        """`username=None`: no AUTH needed. `starttls`: STARTTLS is offered and required before
        MAIL and AUTH (so AUTH is possible only with it); its certificate, for 127.0.0.1 and
        localhost, is signed by `ca` (a new one by default; share one to give every fake the
        same trust bundle). `on_message` is called in the server's thread for each message."""
        self.username, self.password, self.starttls = username, password, starttls
        self.ca = ca or trustme.CA()
        self.ca_pem_path: str | None = write_ca_pem(self.ca) if starttls else None
        self.on_message = on_message
        self.host: str | None = None
        self.port: int | None = None
        self.refusals: list[Refusal] = []
        self._messages: list[ReceivedMessage] = []
        self._faults: list[_Fault] = []
        self._drops = 0
        self._unknown: dict[str, int] = {}  # recipient (lower case) -> code, every time
        self._lock = threading.Lock()
        self._controller: _Controller | None = None

    # lifecycle -------------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> SmtpSandbox:
        kwargs = {}
        if self.starttls:
            kwargs.update(tls_context=server_tls(self.ca), require_starttls=True)
        if self.username is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True)
        self._controller = _Controller(
            _Handler(self),
            hostname=host,
            port=port,
            server_hostname=SERVER_NAME,
            auth_require_tls=True,
            enable_SMTPUTF8=False,
            **kwargs,
        )
        await asyncio.to_thread(self._controller.start)
        self.host, self.port = host, self._controller.port
        return self

    async def stop(self) -> None:
        """Stops listening (a client then gets "connection refused"); the record stays."""
        if self._controller is not None:
            await asyncio.to_thread(self._controller.stop)
            self._controller = None

    def close(self) -> None:
        """Removes the CA file; after stop, when nobody needs it any more."""
        if self.ca_pem_path and os.path.exists(self.ca_pem_path):
            os.unlink(self.ca_pem_path)

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()
        self.close()

    def client_ssl_context(self) -> ssl.SSLContext:
        """What a client needs to trust this server."""
        return ssl.create_default_context(cafile=self.ca_pem_path)

    # test controls ---------------------------------------------------------------------------------

    def fail_next(self, code: int = 451, times: int = 1, at: str | None = None) -> None:
        """The next `times` MAIL, RCPT or DATA commands (only `at` if given) are answered `code`
        instead. After DATA, the content has been read and is thrown away. 421 also closes the
        connection, as RFC 5321 says a server does."""
        if at not in (None, "MAIL", "RCPT", "DATA"):
            raise ValueError(f"at must be MAIL, RCPT, DATA or None, not {at!r}")
        with self._lock:
            self._faults.append(_Fault(code, times, at))

    def drop_after_data(self, times: int = 1) -> None:
        """The next `times` messages are taken (recorded, with acknowledged=False) and the connection
        is closed without the final "250": the client cannot know that its email was sent."""
        with self._lock:
            self._drops += times

    def refuse_recipient(self, address: str, code: int = 550) -> None:
        """RCPT TO this address is answered `code` every time ("5.1.1 Mailbox unavailable")."""
        with self._lock:
            self._unknown[address.lower()] = code

    def reset(self) -> None:
        with self._lock:
            self._messages.clear()
            self._faults.clear()
            self._drops = 0
            self._unknown.clear()
            self.refusals.clear()

    # what it received ------------------------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._lock:
            return list(self._messages)

    def messages_to(self, address: str) -> list[ReceivedMessage]:
        """Messages whose envelope has `address` as a recipient (To, Cc or Bcc alike)."""
        return [m for m in self.messages if address.lower() in (r.lower() for r in m.rcpt_tos)]

    def by_message_id(self, message_id: str) -> list[ReceivedMessage]:
        """Every message with this Message-ID: more than one is an email sent twice."""
        return [m for m in self.messages if m.headers.get("Message-ID") == message_id]

    def snapshot(self) -> dict:
        return {
            "messages": [m.to_dict() for m in self.messages],
            "refusals": [asdict(r) for r in self.refusals],
        }

    # server side, in aiosmtpd's thread ---------------------------------------------------------

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and self.username is not None
            and hmac.compare_digest(auth_data.login, self.username.encode())
            and hmac.compare_digest(auth_data.password, (self.password or "").encode())
        )
        if not ok:
            self._refused(f"AUTH {mechanism}", 535)
        # aiosmtpd answers 235 (and keeps auth_data in the session), or 535 5.7.8
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def _take_fault(self, command: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.at in (None, command):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _take_drop(self) -> bool:
        with self._lock:
            if self._drops > 0:
                self._drops -= 1
                return True
            return False

    def _refused(self, command: str, code: int, injected: bool = False) -> None:
        with self._lock:
            self.refusals.append(Refusal(command, code, injected))

    def _record(self, session: Session, envelope: Envelope, acknowledged: bool) -> ReceivedMessage:
        raw = envelope.original_content or b""
        parsed = BytesParser(policy=policy.default).parsebytes(raw)
        headers: dict[str, str] = {}
        for name, value in parsed.items():
            headers.setdefault(
                name, str(value).strip()
            )  # a header folded right after its colon reads with a leading space
        part = parsed.get_body(preferencelist=("plain",))
        body = part.get_content().replace("\r\n", "\n") if part is not None else ""
        message = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            headers=headers,
            body=body,
            raw=raw.decode("utf-8", "replace"),
            tls=session.ssl is not None,
            login=_text(getattr(session.auth_data, "login", None)),
            acknowledged=acknowledged,
        )
        with self._lock:
            self._messages.append(message)
        if self.on_message is not None:
            self.on_message(message)
        return message


class _Handler:
    """aiosmtpd's handler hooks: each returns the reply, or does what aiosmtpd would do by default."""

    def __init__(self, sandbox: SmtpSandbox):
        self.sandbox = sandbox

    def _fault(self, server: SMTP, command: str) -> str | None:
        fault = self.sandbox._take_fault(command)
        if fault is None:
            return None
        self.sandbox._refused(command, fault.code, injected=True)
        if fault.code == 421:
            server.loop.call_soon(server.transport.close)  # after the reply is written
        return f"{fault.code} {REPLIES.get(fault.code, 'Injected failure')}"

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str, options):
        if failed := self._fault(server, "MAIL"):
            return failed
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, options):
        if failed := self._fault(server, "RCPT"):
            return failed
        with self.sandbox._lock:
            code = self.sandbox._unknown.get(address.lower())
        if code is not None:
            self.sandbox._refused("RCPT", code)
            return f"{code} {REPLIES.get(code, 'Recipient refused')}"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope):
        if failed := self._fault(server, "DATA"):
            return failed
        if self.sandbox._take_drop():
            self.sandbox._record(session, envelope, acknowledged=False)
            server.transport.abort()  # the message is in; the "250" never leaves
            return "250 OK"  # written to a closed transport: nobody hears it
        message = self.sandbox._record(session, envelope, acknowledged=True)
        return f"250 2.0.0 OK queued as {message.headers.get('Message-ID', 'no-message-id')}"


def _text(value) -> str | None:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


__all__ = ["DEFAULT_PASSWORD", "DEFAULT_USERNAME", "ReceivedMessage", "Refusal", "SmtpSandbox"]
