"""The import's fast email path gives exactly email-validator's answer: the same normal form, the same error."""

from __future__ import annotations

import random

import pytest
from email_validator import EmailNotValidError, validate_email

from subscribers import email_normal_form
from subscribers.email_normal_form import normal_email
from subscribers.errors import InvalidSubscriber
from subscribers.preferences import normalise_email

LOCALS = [
    "reader",
    "Jane.Doe",
    "JANE",
    "a",
    "x" * 64,
    "x" * 65,
    "first.last+tag",
    "o'brien",
    "a_b-c",
    "user%host",
    "!#$%&'*+/=?^_`{|}~-",
    ".dot",
    "dot.",
    "two..dots",
    '"quoted"',
    '"with space"',
    '"a@b"',
    '"a\\"b"',
    "Postmaster",
    "ABUSE",
    "webmaster",
    "hostmaster",
    "noc",
    "security",
    "info",
    "support",
    "jürgen",
    "用户",
    "café",
    "cafe\u0301",
    "a b",
    "a,b",
    "a;b",
    "a(b)",
    "a<b",
    "a[b]",
    "a\\b",
    "",
    "-",
    "+",
    "\u00e9",
    "a\tb",
]
DOMAINS = [
    "example.org",
    "Example.ORG",
    "EXAMPLE.COM",
    "sub.domain.example.co.uk",
    "a.b",
    "x.io",
    "example.org.",
    ".example.org",
    "example..org",
    "-example.org",
    "example-.org",
    "ex_ample.org",
    "example",
    "localhost",
    "test",
    "example.test",
    "example.local",
    "example.invalid",
    "example.onion",
    "1.2.3.4",
    "123.456",
    "[127.0.0.1]",
    "[IPv6:::1]",
    "münchen.de",
    "MÜNCHEN.DE",
    "xn--mnchen-3ya.de",
    "XN--MNCHEN-3YA.DE",
    "xn--abc.de",
    "ab--cd.org",
    "例え.jp",
    "bücher.example",
    "ex\u0301ample.org",
    "a" * 63 + ".org",
    "a" * 64 + ".org",
    ".".join(["abcdefghi"] * 25) + ".org",
    ".".join(["abcdefghi"] * 26) + ".org",
    "exa mple.org",
    "example.org\n",
    "example.123",
    "example.o",
    "e.x.a.m.p.l.e",
    "arpa",
    "in-addr.arpa",
]
SPECIALS = "aZ9.@-_+\"'\\ \u00e9\u0301\u3000<>[](),;:!#%*~`.\n"


def outcome(normalise: object, address: str) -> tuple[str, str]:
    try:
        return "valid", normalise(address)  # type: ignore[operator]
    except EmailNotValidError as exc:
        return "invalid", str(exc)


def corpus() -> list[str]:
    found = [f"{local}@{domain}" for local in LOCALS for domain in DOMAINS]
    found += [f"{'y' * n}@{'z' * m}.org" for n in range(40, 70, 3) for m in range(170, 200, 2)]  # length limits
    found += [
        "no-at-sign",
        "two@@example.org",
        "a@b@example.org",
        "@example.org",
        "reader@",
        "Name <a@b.org>",
        "reader＠example.org",
        "reader@example.org>",
        "<reader@example.org>",
    ]
    pick = random.Random(16)
    for _ in range(3000):
        alphabet = SPECIALS[:-8] if pick.random() < 0.7 else SPECIALS
        local = "".join(pick.choice(alphabet) for _ in range(pick.randint(1, 12)))
        found.append(f"{local.replace('@', '')}@{pick.choice(DOMAINS)}")
        found.append("".join(pick.choice(SPECIALS) for _ in range(pick.randint(1, 24))))
    return found


def test_the_fast_path_agrees_with_email_validator_on_a_varied_corpus() -> None:
    email_normal_form._plain_domain.cache_clear()
    addresses = corpus()
    assert len(addresses) > 7000
    slow = [outcome(lambda a: validate_email(a, check_deliverability=False).normalized, a) for a in addresses]
    fast = [outcome(normal_email, a) for a in addresses]
    disagreements = [(a, s, f) for a, s, f in zip(addresses, slow, fast, strict=True) if s != f]
    assert disagreements == []
    # Both kinds occur, and many plain addresses were answered from the per-domain cache, not re-validated.
    assert {kind for kind, _ in slow} == {"valid", "invalid"}
    assert email_normal_form._plain_domain.cache_info().hits > 400


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("Jane.Doe@Example.ORG", "Jane.Doe@example.org"),
        ("Postmaster@Example.org", "postmaster@example.org"),
        ("  reader@EXAMPLE.org ", "reader@example.org"),
        ("reader@xn--mnchen-3ya.de", "reader@münchen.de"),
    ],
)
def test_addresses_are_normalised_as_before(given: str, normal: str) -> None:
    assert normalise_email(given) == normal


@pytest.mark.parametrize("given", ["reader@example..org", '"reader"@example.org', "reader@localhost"])
def test_an_invalid_address_is_refused_naming_it(given: str) -> None:
    with pytest.raises(InvalidSubscriber, match=f"invalid email address '{given}'"):
        normalise_email(given)
