"""Outgoing email (§5.4, §8): the activity against a real SMTP server (sandbox/smtp.py, aiosmtpd)
over a socket, with STARTTLS and AUTH, through smtplib.

What matters is what the schools' mailboxes get: each email once, whole, in UTF-8; a failure
that Temporal retries only when the server did not take the email; a failure that is final,
saying "may have been sent", when it may have; and never the SMTP password in an error."""

from __future__ import annotations

import ssl

import pytest
import pytest_asyncio
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.email import EmailActivities, EmailRequest
from activities.email.smtp import Smtp
from sandbox.smtp import DEFAULT_PASSWORD, DEFAULT_USERNAME, SmtpSandbox

SENDER = "PreSkool Incident Response <incidents@preskool.com>"
SUBJECT = "[UPDATE] PreSkool ERP — Service Disruption"
BODY = """Dear School Administrator,

We are writing to inform you that PreSkool ERP experienced a service disruption
from 09:55 to 10:40 on 2026-03-02.

Affected: Fee collection and attendance marking were unavailable — sorry, écoles.
.A line that starts with a dot survives the SMTP transparency rule.

— The PreSkool Team
"""
CUSTOMER = EmailRequest(
    incident_id="inc-3f2a9c1b7d10",
    key="customer-email",
    to=["Zoë Admin <admin@school-42.example>", "office@school-7.example"],
    cc=["support@preskool.com"],
    subject=SUBJECT,
    body=BODY,
)
MESSAGE_ID = "<inc-3f2a9c1b7d10.customer-email@preskool-irp>"


@pytest_asyncio.fixture
async def smtp_server():
    async with SmtpSandbox() as server:
        yield server


def mailer(
    server: SmtpSandbox,
    *,
    password: str = DEFAULT_PASSWORD,
    context: ssl.SSLContext | None = None,
    username: str | None = DEFAULT_USERNAME,
    starttls: bool = True,
) -> Smtp:
    context = context or server.client_ssl_context()
    return Smtp(server.host, server.port, username, password, starttls, SENDER, context, timeout=5)


async def send(smtp: Smtp | None, request: EmailRequest = CUSTOMER):
    return await ActivityEnvironment().run(EmailActivities(smtp).send_email, request)


async def refused(smtp: Smtp, request: EmailRequest = CUSTOMER) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        await send(smtp, request)
    return info.value


async def test_an_email_arrives_once_whole_with_its_headers(smtp_server):
    result = await send(mailer(smtp_server))

    assert (result.message_id, result.recipients, result.skipped) == (MESSAGE_ID, 3, None)
    (message,) = smtp_server.by_message_id(MESSAGE_ID)
    assert smtp_server.messages == [message]
    assert message.mail_from == "incidents@preskool.com"
    assert message.rcpt_tos == ["admin@school-42.example", "office@school-7.example", "support@preskool.com"]
    headers = message.headers
    assert headers["From"] == SENDER and headers["Subject"] == SUBJECT
    assert headers["To"] == "Zoë Admin <admin@school-42.example>, office@school-7.example"
    assert headers["Cc"] == "support@preskool.com"
    assert (headers["X-IRP-Incident"], headers["X-IRP-Key"]) == ("inc-3f2a9c1b7d10", "customer-email")
    assert headers["Date"] and headers["Content-Type"] == 'text/plain; charset="utf-8"'
    assert message.body == BODY
    assert message.raw.isascii()  # 7-bit on the wire: no server extension needed for "—" and "é"
    assert message.tls and message.login == DEFAULT_USERNAME
    assert smtp_server.messages_to("office@school-7.example") == [message]


async def test_without_our_ca_the_certificate_does_not_verify_and_nothing_is_sent(smtp_server):
    error = await refused(mailer(smtp_server, context=ssl.create_default_context()))
    assert error.non_retryable and "certificate does not verify" in error.message
    assert smtp_server.messages == []


async def test_a_wrong_password_is_final_and_never_shown(smtp_server):
    wrong = "hunter2-not-the-password"
    error = await refused(mailer(smtp_server, password=wrong))
    assert error.non_retryable and "535" in error.message and "SMTP_PASSWORD" in error.message
    assert wrong not in error.message and DEFAULT_PASSWORD not in error.message
    assert smtp_server.messages == [] and {r.code for r in smtp_server.refusals} == {535}


@pytest.mark.parametrize("code, at", [(451, "MAIL"), (450, "RCPT"), (451, "DATA"), (421, "MAIL")])
async def test_a_transient_refusal_is_retried_and_the_retry_delivers_once(smtp_server, code, at):
    smtp = mailer(smtp_server)
    smtp_server.fail_next(code, at=at)
    error = await refused(smtp)
    assert not error.non_retryable and str(code) in error.message and smtp_server.messages == []

    result = await send(smtp)  # what Temporal's retry does
    assert result.message_id == MESSAGE_ID and len(smtp_server.by_message_id(MESSAGE_ID)) == 1


async def test_a_refused_recipient_is_final_and_no_one_gets_a_partial_send(smtp_server):
    smtp_server.refuse_recipient("office@school-7.example", 550)
    error = await refused(mailer(smtp_server))
    assert error.non_retryable and "550" in error.message and "office@school-7.example" in error.message
    assert smtp_server.messages == []  # admin@school-42 was accepted, then RSET: not delivered


async def test_a_permanent_refusal_of_the_message_is_final(smtp_server):
    smtp_server.fail_next(554, at="DATA")
    error = await refused(mailer(smtp_server))
    assert error.non_retryable and "554" in error.message and smtp_server.messages == []


async def test_a_drop_after_data_is_final_because_it_may_have_been_sent(smtp_server):
    smtp_server.drop_after_data()
    error = await refused(mailer(smtp_server))
    assert error.non_retryable and "may have been sent" in error.message and MESSAGE_ID in error.message
    # It was: a retry would have made it two.
    (message,) = smtp_server.by_message_id(MESSAGE_ID)
    assert not message.acknowledged and message.body == BODY


async def test_a_server_that_is_down_is_retried():
    server = await SmtpSandbox().start()
    smtp = mailer(server)
    await server.stop()
    server.close()
    error = await refused(smtp)
    assert (
        not error.non_retryable
        and "unreachable" in error.message
        and "ConnectionRefusedError" in error.message
    )


async def test_a_server_without_starttls_is_refused_when_we_want_it():
    async with SmtpSandbox(username=None, starttls=False) as plain:
        error = await refused(mailer(plain, username=None))
        assert error.non_retryable and "STARTTLS" in error.message and plain.messages == []

        relay = await send(mailer(plain, username=None, starttls=False))  # a relay on the host, no AUTH
        assert relay.recipients == 3 and plain.messages[0].tls is False and plain.messages[0].login is None


async def test_not_configured_is_skipped():
    result = await send(None)
    assert result.skipped == "skipped: email not configured" and result.message_id is None


def test_a_password_is_never_sent_in_clear():
    with pytest.raises(ValueError, match="unencrypted"):
        Smtp("smtp.example", 25, "irp", "secret", False, SENDER, ssl.create_default_context())


@pytest.mark.parametrize(
    "change",
    [
        {"to": []},
        {"to": ["not-an-address"]},
        {"to": ["a@school.example, b@school.example"]},
        {"cc": ["admin@localhost"]},
        {"subject": "Hi\nBcc: everyone@example.com"},
        {"key": "customer email"},
        {"incident_id": "inc>1"},
    ],
)
def test_a_malformed_request_is_refused(change):
    with pytest.raises(ValidationError):
        EmailRequest(**{**CUSTOMER.model_dump(), **change})
