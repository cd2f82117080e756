"""Email addresses as schools configure them (issue 23 case 8): `direction@lycée-hugo.fr` in the
§5.4 recipients. Its domain goes out in punycode; an address SMTP without SMTPUTF8 cannot carry
is refused when the policy loads (with its key's path), and one a pinned policy still holds fails
that school's email on its own while the other schools get theirs and the request ends."""

from __future__ import annotations

import idna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.email import EmailRequest, address_problem
from plan import PolicyError, parse_policy
from plan.addresses import address_problems, smtp_address
from tests.helpers import finish, status_when
from tests.test_deliverables import customer_emails, resolved_p0, state
from tests.test_policy import shipped
from workflows import IncidentWorkflow

FIELD = "direction@lycée-hugo.fr"  # the field input
COMMS = "elif.demir@preskool.com"


@pytest.mark.parametrize(
    "value, sent",
    [
        (FIELD, "direction@xn--lyce-hugo-d4a.fr"),
        ("Lycée Hugo <direction@LYCÉE-hugo.fr>", "Lycée Hugo <direction@xn--lyce-hugo-d4a.fr>"),
        ("principal@school-42.example.edu", "principal@school-42.example.edu"),
        ("secretariat@école.example", "secretariat@xn--cole-9oa.example"),
        ("admin@学校.example", "admin@xn--48s290a.example"),
    ],
)
def test_an_internationalised_domain_goes_out_in_punycode(value, sent):
    assert smtp_address(value) == sent
    assert EmailRequest(incident_id="inc-1", key="k", to=[value], subject="s", body="b").to == [sent]


@pytest.mark.parametrize(
    "value, reason",
    [
        ("dîrection@lycee.fr", "local part is not ASCII"),
        ("direction@-lycée-.fr", "not a valid internationalised domain name"),
        ("a@school.example, b@school.example", "not one email address"),
        ("admin@localhost", "not an address like"),
        ("a@b.example\nBcc: x@y.example", "line break"),
    ],
)
def test_an_address_smtp_cannot_carry_is_refused_with_its_reason(value, reason):
    with pytest.raises(ValueError, match=reason):
        smtp_address(value)
    assert reason in address_problem(value)


def test_the_policy_is_refused_at_load_with_the_key_path_of_an_address_it_cannot_mail():
    raw = shipped()
    raw["customer_email"]["recipients"]["school-7"] = ["principal@school-7.example", "dîrection@lycee.fr"]
    with pytest.raises(PolicyError) as e:
        parse_policy(raw, source="x.yaml")
    assert "x.yaml: customer_email.recipients.school-7.1: 'dîrection@lycee.fr'" in str(e.value)
    assert "SMTPUTF8" in str(e.value)
    raw["customer_email"]["recipients"]["school-7"] = [FIELD]  # the field input itself loads
    assert parse_policy(raw).customer_email.recipients["school-7"] == [FIELD]


# --- properties ------------------------------------------------------------------------------------

LOCAL = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789._-+"), min_size=1, max_size=20).filter(
    lambda s: not s.startswith(".") and not s.endswith(".") and ".." not in s
)
LETTERS = st.characters(categories=("Ll", "Lo"), max_codepoint=0x9FFF)
LABEL = st.text(LETTERS, min_size=1, max_size=12)


def _valid_label(label: str) -> bool:
    try:
        idna.encode(label, uts46=True)
    except (idna.IDNAError, UnicodeError):
        return False
    return True


@given(local=LOCAL, labels=st.lists(LABEL.filter(_valid_label), min_size=1, max_size=3))
@settings(max_examples=300, suppress_health_check=[HealthCheck.filter_too_much])
def test_every_address_with_an_internationalised_domain_is_sent_to_that_domain(local, labels):
    """Any ASCII local part at any domain IDNA accepts: sent to an ASCII address whose domain
    decodes back to the domain the school wrote (as UTS #46 maps it)."""
    domain = ".".join([*labels, "example"])
    sent = smtp_address(f"{local}@{domain}")
    assert sent.isascii() and sent.count("@") == 1 and "\n" not in sent
    sent_local, sent_domain = sent.rsplit("@", 1)
    assert sent_local.strip('"') == local
    assert idna.decode(sent_domain) == idna.decode(idna.encode(domain, uts46=True))
    assert address_problem(sent) is None  # and the sent form is itself an address we send to


@given(st.text(max_size=80))
@settings(max_examples=500)
def test_any_text_is_an_ascii_address_or_refused_with_a_reason(value):
    """Whatever a policy holds: an ASCII address on one line, or ValueError with a reason; never
    another exception (that would fail the email step instead of the one email)."""
    try:
        sent = smtp_address(value)
    except ValueError as e:
        assert str(e)
        assert address_problems([("k", value)]) == [f"k: {value!r} {e}"]
    else:
        assert sent.isascii() and not any(c in sent for c in "\r\n") and "@" in sent


# --- the field input, on a real worker -------------------------------------------------------------


def email_request(status):
    return next(r for r in status.requests if r.request_id == "customer-email")


def with_recipients(policy, schools: dict[str, list[str]]):
    """The policy as if it were loaded (or pinned before the load-time check) with these schools."""
    mail = policy.customer_email.model_copy(update={"recipients": schools})
    return policy.model_copy(update={"customer_email": mail})


async def test_a_school_with_an_internationalised_domain_gets_the_customer_email(
    time_env, run_worker, policy, slack, jira, smtp, prometheus
):
    schools = {"school-42": [FIELD, "principal@school-42.example.edu"]}
    async with run_worker(time_env.client, with_policy=with_recipients(policy, schools)) as tq:
        handle, _ = await resolved_p0(time_env, tq, policy, prometheus)
        await handle.execute_update(
            IncidentWorkflow.approve_action, {"request_id": "customer-email", "by": COMMS}
        )
        status = await status_when(handle, lambda s: state(s, "customer_email") == "done")
        await finish(handle)
    assert sorted(m.rcpt_tos[0] for m in customer_emails(smtp)) == [
        "administrators@schools.preskool.com",
        "direction@xn--lyce-hugo-d4a.fr",
        "principal@school-42.example.edu",
    ]
    request = email_request(status)
    assert request.state == "done" and request.outcome == "sent to 3 school(s)"


async def test_an_address_a_pinned_policy_holds_fails_on_its_own_and_the_rest_go_on(
    time_env, run_worker, policy, slack, jira, smtp, prometheus
):
    """A policy pinned before the load-time check (not loaded through it) with an address SMTP
    cannot carry, first in the list: the later schools still get the email; the request ends
    failed, naming the address and why, so the incident can finish (a person completes it)."""
    schools = {"school-42": ["dîrection@lycée-hugo.fr", "principal@school-42.example.edu"]}
    async with run_worker(time_env.client, with_policy=with_recipients(policy, schools)) as tq:
        handle, _ = await resolved_p0(time_env, tq, policy, prometheus)
        await handle.execute_update(
            IncidentWorkflow.approve_action, {"request_id": "customer-email", "by": COMMS}
        )
        status = await status_when(handle, lambda s: email_request(s).state == "failed")
        assert not [e for e in status.timeline if e.kind == "fault"]
        await handle.signal(
            "complete_deliverable",
            {"deliverable": "customer_email", "by": COMMS, "link": "sent by hand to the one school"},
        )
        status = await status_when(handle, lambda s: state(s, "customer_email") == "done")
        await finish(handle)
    assert sorted(m.rcpt_tos[0] for m in customer_emails(smtp)) == [
        "administrators@schools.preskool.com",
        "principal@school-42.example.edu",
    ]
    request = email_request(status)
    assert "dîrection@lycée-hugo.fr (not sent: " in request.outcome and "SMTPUTF8" in request.outcome
    assert "sent to 2 school(s)" in request.outcome
