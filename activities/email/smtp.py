"""Email over SMTP (RFC 5321) with the standard library: smtplib in a worker thread.

One email is one SMTP transaction: EHLO, STARTTLS (the server's certificate checked against the
system CAs plus IRP_CA_BUNDLE), EHLO again, AUTH (PLAIN or LOGIN, whichever the server offers)
when a username is set, MAIL, one RCPT per recipient, DATA. Every recipient must be accepted
before DATA, else RSET and nothing is sent: a partly refused envelope would deliver to some, and
a retry would deliver to them again.

SMTP has no idempotency key, so what a failure means depends on when it happens:

- Before DATA's content is handed over (connection refused, a timeout, a dropped connection, a
  reply we did not want to EHLO/STARTTLS/AUTH/MAIL/RCPT/DATA), or the server answered the
  content with 4xx/5xx: nothing was accepted. 4xx and the network are retried (`try_again`);
  5xx, a refused login (535), a certificate that does not verify, a server without STARTTLS are
  final (`give_up`).
- The one ambiguous window: DATA was answered 354, the content went out, and the connection
  dropped (or timed out) before the server's final reply. The server may have queued it. This is
  `give_up` with "it may have been sent; check before re-sending", never a retry, so a possibly
  sent email is never sent twice by Temporal. A person checks (the Message-ID, in the error, is
  the same for every attempt: `<{incident_id}.{key}@preskool-irp>`) and re-sends if it is missing.
  A send cut off while the content was still going out counts as ambiguous too: we cannot tell
  whether the final "." reached the server."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr

from pydantic import Field, SecretStr
from temporalio.exceptions import ApplicationError

from activities.email import Sent, message_id
from activities.errors import give_up, try_again
from activities.settings import SharedSettings, secret
from plan.models import Person

TIMEOUT = 30  # seconds, per socket operation


def envelope_address(value: str) -> str:
    """The addr-spec of "Name <a@b>" or "a@b"."""
    return parseaddr(value)[1]


class SmtpSettings(SharedSettings):
    """SMTP_HOST turns email on; SMTP_PORT (587), SMTP_USERNAME and SMTP_PASSWORD (AUTH, only with
    STARTTLS), SMTP_STARTTLS (true), EMAIL_FROM ("Name <address>")."""

    smtp_host: str | None = Field(
        None,
        description="The SMTP server: turns email on (customer emails, §5.4, and escalations).",
    )
    smtp_port: int = Field(587, description="The SMTP server's port.")
    smtp_username: str | None = Field(None, description="The SMTP AUTH user (sent only over STARTTLS).")
    smtp_password: SecretStr | None = Field(
        None,
        description="The SMTP AUTH password (sent only over STARTTLS).",
    )
    smtp_starttls: bool = Field(
        True,
        description="Upgrade the connection with STARTTLS before anything is sent.",
    )
    email_from: str = Field(
        "PreSkool Incident Response <incidents@preskool.com>",
        description="The From of every email (`Name <address>`).",
    )


class _Client(smtplib.SMTP):
    """smtplib.SMTP that remembers the last reply code, to tell where a disconnect happened."""

    last_code: int | None = None
    stage = "connect"  # the command in progress, for messages and for the ambiguous window

    def getreply(self):
        code, message = super().getreply()
        self.last_code = code
        return code, message


class Smtp:
    """One SMTP server, as one sender (the `Mailer` port)."""

    name = "smtp"
    Settings = SmtpSettings
    enabled_by = ("SMTP_HOST",)

    def __init__(
        self,
        host: str,
        port: int,
        username: str | None,
        password: str | None,
        starttls: bool,
        sender: str,
        ssl_context: ssl.SSLContext,
        *,
        timeout: float = TIMEOUT,
        local_hostname: str | None = None,
    ):
        """`sender` is EMAIL_FROM ("Name <address>" or an address). A username without STARTTLS
        is refused here: the password would cross the network in clear."""
        if username and not starttls:
            raise ValueError(
                "SMTP_USERNAME is set but SMTP_STARTTLS is off: the password would be sent unencrypted"
            )
        if "@" not in envelope_address(sender):
            raise ValueError(f"EMAIL_FROM {sender!r} has no address")
        self.host, self.port, self.starttls = host, port, starttls
        self.username, self.password = username or None, password or ""
        self.sender, self.ssl_context = sender, ssl_context
        self.timeout, self.local_hostname = timeout, local_hostname

    @classmethod
    def from_settings(cls, settings: SmtpSettings, people: tuple[Person, ...] = ()) -> Smtp | None:
        """None when SMTP_HOST is unset; ValueError for settings that would be unsafe or unusable."""
        if not settings.smtp_host:
            return None
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_username,
            secret(settings.smtp_password),
            settings.smtp_starttls,
            settings.email_from,
            settings.ssl_context,
        )

    def build(
        self, *, incident_id: str, key: str, to: list[str], cc: list[str], subject: str, body: str
    ) -> EmailMessage:
        """The email as it goes out: UTF-8, quoted-printable, with its Message-ID and our headers."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(to)
        if cc:
            message["Cc"] = ", ".join(cc)
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = message_id(incident_id, key)
        message["X-IRP-Incident"] = incident_id
        message["X-IRP-Key"] = key
        # quoted-printable keeps the body 7-bit: no 8BITMIME or SMTPUTF8 needed from the server.
        message.set_content(body, charset="utf-8", cte="quoted-printable")
        return message

    async def send(
        self,
        *,
        incident_id: str,
        key: str,
        to: list[str],
        cc: list[str],
        subject: str,
        body: str,
        handing_over: Callable[[], None] = lambda: None,
    ) -> Sent:
        """One SMTP transaction (see the module's docstring for what each failure means).
        `handing_over` is called (in the sending thread) just before the content goes out: after
        it, the server may have the message whatever happens to us."""
        try:
            message = self.build(incident_id=incident_id, key=key, to=to, cc=cc, subject=subject, body=body)
        except ValueError as e:  # a header with a line break, an address that does not parse
            raise give_up(f"email {message_id(incident_id, key)} cannot be written: {e}") from None
        recipients = list(dict.fromkeys(a for _, a in getaddresses([*to, *cc]) if a))
        await asyncio.to_thread(self._send, message, recipients, handing_over)
        return Sent(message["Message-ID"], recipients)

    # the transaction, in a thread ------------------------------------------------------------------

    def _send(self, message: EmailMessage, recipients: list[str], handing_over: Callable[[], None]) -> None:
        mid, where = message["Message-ID"], f"{self.host}:{self.port}"
        client: _Client | None = None
        try:
            client = _Client(self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout)
            client.stage = "EHLO"
            self._reply(client, *client.ehlo())
            if self.starttls:
                client.stage = "STARTTLS"
                if not client.has_extn("starttls"):
                    raise give_up(f"SMTP {where} does not offer STARTTLS (SMTP_STARTTLS is on)")
                self._reply(client, *client.starttls(context=self.ssl_context), ok=(220,))
                client.stage = "EHLO"
                self._reply(client, *client.ehlo())
            if self.username:
                client.stage = "AUTH"
                client.login(self.username, self.password)
            client.stage = "MAIL FROM"
            self._reply(client, *client.mail(envelope_address(self.sender)))
            for rcpt in recipients:
                client.stage = f"RCPT TO <{rcpt}>"
                code, reply = client.rcpt(rcpt)
                if code not in (250, 251):
                    client.rset()  # all or nothing: no partial delivery for a retry to repeat
                    self._reply(client, code, reply)
            handing_over()
            client.stage = "DATA"
            self._reply(client, *client.data(_data(message)))
        except smtplib.SMTPServerDisconnected as e:
            if client is not None and client.stage == "DATA" and client.last_code == 354:
                raise give_up(
                    self._hide(
                        f"SMTP {where} dropped the connection after {mid} was handed over and before it "
                        f"confirmed it ({e}): it may have been sent; check before re-sending"
                    )
                ) from None
            raise try_again(
                self._hide(
                    f"SMTP {where} closed the connection before accepting {mid} "
                    f"(at {client.stage if client else 'connect'}): {e}"
                )
            ) from None
        except ssl.SSLCertVerificationError as e:
            raise give_up(
                f"SMTP {where}: the server's certificate does not verify ({e.verify_message}); "
                "is its CA in IRP_CA_BUNDLE, and is SMTP_HOST the name on it?"
            ) from None
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as e:
            raise try_again(f"SMTP {where}: the TLS handshake was cut off ({e})") from None
        except ssl.SSLError as e:
            raise give_up(f"SMTP {where}: TLS failed ({e.reason or e})") from None
        except smtplib.SMTPAuthenticationError as e:
            refuse = try_again if 400 <= e.smtp_code < 500 else give_up  # 454: a temporary failure
            raise refuse(
                self._hide(
                    f"SMTP {where} refused the login of {self.username!r}: {e.smtp_code} "
                    f"{_text(e.smtp_error)}; "
                    "check SMTP_USERNAME and SMTP_PASSWORD"
                )
            ) from None
        except smtplib.SMTPNotSupportedError as e:  # AUTH not offered (e.g. only after STARTTLS)
            raise give_up(f"SMTP {where} at {client.stage if client else 'connect'}: {e}") from None
        except smtplib.SMTPResponseException as e:  # a greeting other than 220, DATA other than 354
            raise self._refusal(client, e.smtp_code, e.smtp_error) from None
        except smtplib.SMTPException as e:  # e.g. "No suitable authentication method found."
            stage = client.stage if client else "connect"
            raise give_up(self._hide(f"SMTP {where} at {stage}: {e}")) from None
        except OSError as e:  # refused, unreachable, timed out: before DATA (SMTPException is an OSError)
            raise try_again(self._hide(f"SMTP {where} unreachable: {type(e).__name__} {e}")) from None
        finally:
            if client is not None:
                try:
                    client.quit()
                except (OSError, smtplib.SMTPException):
                    client.close()

    def _reply(
        self, client: _Client | None, code: int, reply: bytes | str, ok: tuple[int, ...] = (250,)
    ) -> None:
        if code not in ok:
            raise self._refusal(client, code, reply)

    def _refusal(self, client: _Client | None, code: int, reply: bytes | str) -> ApplicationError:
        """A 4xx (and smtplib's -1, no reply) is retried, the rest is final: a 4xx or 5xx after
        DATA's content is the server saying it did not take the message."""
        stage = client.stage if client else "connect"
        said = self._hide(f"SMTP {self.host}:{self.port} answered {stage} with {code} {_text(reply)}")
        return (try_again if code == -1 or 400 <= code < 500 else give_up)(said)

    def _hide(self, message: str) -> str:
        return message.replace(self.password, "***") if self.password else message


def _data(message: EmailMessage) -> bytes:
    """The message with CRLF line ends, as SMTP wants; smtplib adds the dot-stuffing and the "."."""
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
