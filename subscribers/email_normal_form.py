"""An email address's normal form, as email-validator gives it, at import speed.

email-validator costs about 45 µs an address, half of a large import. Nearly every address in a real list is a
plain ASCII dot-atom at a domain seen many times, and for those its answer is predictable: the local part
unchanged, the domain lower-cased. :func:`normal_email` recognises exactly that case, checks each distinct domain
with email-validator once, and hands everything else (quoted or internationalised local parts, IDN domains,
role names it lower-cases, anything near a length limit, anything invalid) to email-validator itself, so results
and error messages are always email-validator's. tests/test_email_normal_form.py runs both over a varied corpus.
"""

from __future__ import annotations

import re
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

# RFC 5322 atext, dot-separated, ASCII only; then one '@' and a domain of ASCII letters, digits, '-' and '.'.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN = re.compile(rf"({_ATEXT}(?:\.{_ATEXT})*)@([A-Za-z0-9.-]+)")
#: Shorter than every limit email-validator applies (254 for the address, 64 before the '@' in strict mode).
_LOCAL_MAX = 64
_ADDRESS_MAX = 254


def normal_email(address: str) -> str:
    """*address* (already stripped) in email-validator's normal form; raises ``EmailNotValidError`` like it."""
    plain = _PLAIN.fullmatch(address)
    if plain is not None and len(address) <= _ADDRESS_MAX:
        local, domain = plain.groups()
        if len(local) <= _LOCAL_MAX and local.lower() not in CASE_INSENSITIVE_MAILBOX_NAMES:
            normal_domain = _plain_domain(domain)
            if normal_domain is not None:
                return f"{local}@{normal_domain}"
    return validate_email(address, check_deliverability=False).normalized


@lru_cache(maxsize=65_536)
def _plain_domain(domain: str) -> str | None:
    """The domain's normal form when email-validator accepts it and it stays plain ASCII of the same length (so the
    address's length checks come out as for the input); None sends the address to email-validator."""
    try:
        normal = validate_email(f"a@{domain}", check_deliverability=False).domain
    except EmailNotValidError:
        return None
    return normal if normal.isascii() and normal == domain.lower() else None
