"""Email addresses as customers write them (§5.4 the customer email; issue 23 case 8): a school's
contact may have an internationalised domain (`direction@lycée-hugo.fr`). SMTP without the
SMTPUTF8 extension (which we never ask a relay for) carries the domain in its ASCII form
(IDNA 2008 with UTS #46 mapping, RFC 5891: `direction@xn--lyce-hugo-d4a.fr`); a non-ASCII local
part needs SMTPUTF8 from every server on the way, so it is refused with that reason.

Pure: no I/O. `smtp_address` is what the email port sends to; `address_problems` is what the
policy loader checks at start, each problem named by its key's path."""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.errors import HeaderDefect
from email.headerregistry import Address
from email.policy import default as default_policy

import idna

__all__ = ["address_problems", "smtp_address"]


def smtp_address(value: str) -> str:
    """`value` ("a@b" or "Name <a@b>", one address) in the form SMTP without SMTPUTF8 carries: the
    domain IDNA-encoded (punycode), the display name kept. ValueError with the reason when it is
    not one deliverable address (a line break, several addresses, no domain with a dot, a
    non-ASCII local part, a domain IDNA refuses)."""
    if re.search(r"[\r\n]", value):
        raise ValueError("has a line break")
    try:
        header = default_policy.header_factory("To", value)
        addresses = header.addresses
    except Exception as e:  # the standard parser raises IndexError on some inputs (e.g. "<")
        raise ValueError(f"is not one email address ({type(e).__name__})") from None
    if len(addresses) != 1:
        raise ValueError("is not one email address")
    address = addresses[0]
    if not address.username.isascii():
        raise ValueError("its local part is not ASCII: it would need SMTPUTF8, which we do not use")
    if any(isinstance(d, HeaderDefect) for d in header.defects):
        raise ValueError("is not one email address")
    domain = address.domain.strip()
    if not address.username or not domain or "." not in domain.strip("."):
        raise ValueError("is not an address like name@school.example")
    return _formatted(address, _ascii_domain(domain))


def _ascii_domain(domain: str) -> str:
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as e:
        raise ValueError(f"its domain is not a valid internationalised domain name ({e})") from None


def _formatted(address: Address, domain: str) -> str:
    try:
        ascii_address = Address(display_name=address.display_name, username=address.username, domain=domain)
    except (ValueError, TypeError) as e:  # headerregistry refuses e.g. a line break it missed
        raise ValueError(f"is not one email address ({e})") from None
    plain = ascii_address.addr_spec
    return str(ascii_address) if address.display_name else plain


def address_problems(addresses: Iterable[tuple[str, str]]) -> list[str]:
    """For (key path, address) pairs: "path: 'address' reason" for each that cannot be sent to."""
    problems = []
    for where, value in addresses:
        try:
            smtp_address(value)
        except ValueError as e:
            problems.append(f"{where}: {value!r} {e}")
    return problems
