"""The email port (§5.4 the customer email, §8 its SLA, and whatever else the plan mails): one
email per (incident, key), never sent twice by a retry. Providers: email/smtp.py."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, Field, field_validator
from temporalio import activity

from activities.errors import give_up
from plan.addresses import smtp_address

MESSAGE_ID_DOMAIN = "preskool-irp"

# Both go into the Message-ID, `<{incident_id}.{key}@preskool-irp>`: no spaces, brackets or "@".
ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


def message_id(incident_id: str, key: str) -> str:
    """The RFC 5322 Message-ID, `<{incident_id}.{key}@preskool-irp>`: the same for every attempt
    at the same email, so receivers and people can tell a repeat."""
    return f"<{incident_id}.{key}@{MESSAGE_ID_DOMAIN}>"


class EmailRequest(BaseModel):
    """One plain-text email. Addresses are checked here (one ASCII address each, no line breaks)."""

    incident_id: str = Field(pattern=ID)
    # unique within the incident: "customer-email", "escalation-incident_report", ...
    key: str = Field(pattern=ID)
    # "a@b" or "Name <a@b>", each one address; kept as SMTP carries it (plan/addresses.py: an
    # internationalised domain in punycode)
    to: list[str] = Field(min_length=1)
    cc: list[str] = []
    subject: str = Field(min_length=1)
    body: str

    @field_validator("to", "cc")
    @classmethod
    def _addresses(cls, values: list[str]) -> list[str]:
        sendable = []
        for value in values:
            try:
                sendable.append(smtp_address(value))
            except ValueError as e:
                raise ValueError(f"{value!r}: {e}") from None
        return sendable

    @field_validator("subject")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if re.search(r"[\r\n]", value):
            raise ValueError("the subject must be one line")
        return value


class EmailResult(BaseModel):
    """What was sent, or why nothing was (`skipped`)."""

    message_id: str | None = None  # "<inc-….customer-email@preskool-irp>"
    recipients: int = 0  # envelope recipients: To and Cc, each once
    skipped: str | None = None


def address_problem(value: str) -> str | None:
    """Why `value` is not one deliverable address, or None (plan/addresses.py: an internationalised
    domain is sent in punycode; a non-ASCII local part would need SMTPUTF8, which we do not ask for)."""
    try:
        smtp_address(value)
    except ValueError as e:
        return str(e)
    return None


@dataclass(frozen=True)
class Sent:
    """A delivered email: its Message-ID and the envelope (To and Cc, each once)."""

    message_id: str
    recipients: list[str]


class Mailer(Protocol):
    """Sends one email. Errors are `try_again` only when the email was certainly not accepted
    (so the retry is the first delivery), else `give_up` (activities/errors.py)."""

    name: str

    async def send(
        self,
        *,
        incident_id: str,
        key: str,
        to: list[str],
        cc: list[str],
        subject: str,
        body: str,
        handing_over: Callable[[], None],
    ) -> Sent:
        """Send it with Message-ID `message_id(incident_id, key)`. `handing_over` is called (in
        any thread) just before the content goes out: after it, the receiver may have the email
        whatever happens to us, and a failure must say "may have been sent"."""
        ...


HANDED_OVER = "content handed to the SMTP server"


async def _handing_over() -> None:
    """Tell Temporal before the content goes out, so an attempt after a worker crash knows the
    server may have the message. The core sends a first heartbeat at once; the pause lets it."""
    activity.heartbeat(HANDED_OVER)
    await asyncio.sleep(0.05)


class EmailActivities:
    """Email through `mailer`, or None when no provider is configured (`missing` names what is
    missing in the skip note)."""

    def __init__(self, mailer: Mailer | None, *, missing: str = "email"):
        self.mailer, self.missing = mailer, missing

    @activity.defn
    async def send_email(self, request: EmailRequest) -> EmailResult:
        """Send it, or fail in a way that never sends it twice: a retryable failure is one the
        server did not accept (refused, unreachable, 4xx), so the retry is the first delivery;
        when the server may have it (the connection dropped after the content went out, or the
        worker died after handing it over: the heartbeat says so) the failure is final and says
        "may have been sent". Every attempt carries the same Message-ID,
        `<{incident_id}.{key}@preskool-irp>`."""
        if self.mailer is None:
            return EmailResult(skipped=f"skipped: {self.missing} not configured")
        if HANDED_OVER in activity.info().heartbeat_details:
            raise give_up(
                f"email {message_id(request.incident_id, request.key)} may have been sent: an "
                "earlier attempt had handed it to the SMTP server when its worker stopped; check "
                "before re-sending"
            )
        loop = asyncio.get_running_loop()
        sent = await self.mailer.send(
            incident_id=request.incident_id,
            key=request.key,
            to=request.to,
            cc=request.cc,
            subject=request.subject,
            body=request.body,
            handing_over=lambda: asyncio.run_coroutine_threadsafe(_handing_over(), loop).result(timeout=5),
        )
        activity.logger.info("email %s sent to %d recipients", sent.message_id, len(sent.recipients))
        return EmailResult(message_id=sent.message_id, recipients=len(sent.recipients))
