from __future__ import annotations

import pytest

from bot.app.errors import InvalidToken, NewsbotError
from bot.rendering.signed_links import LinkSigner

PUBLIC_URL = "https://news.example.org"


class Clock:
    def __init__(self, now: float = 1_700_000_000) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def signer() -> LinkSigner:
    return LinkSigner("test-secret-of-at-least-32-characters", PUBLIC_URL)


def test_round_trip_returns_subscriber_id(signer: LinkSigner) -> None:
    token = signer.token("unsubscribe", 42)
    assert signer.verify("unsubscribe", token) == {"subscriber_id": 42}


def test_extra_values_come_back(signer: LinkSigner) -> None:
    token = signer.token("confirm", 7, address="reader@example.org")
    assert signer.verify("confirm", token) == {"subscriber_id": 7, "address": "reader@example.org"}


def test_urls_carry_verifiable_tokens(signer: LinkSigner) -> None:
    for purpose, url in (
        ("unsubscribe", signer.unsubscribe_url(5)),
        ("preferences", signer.preferences_url(5)),
        ("confirm", signer.confirm_url(5, address="reader@example.org")),
    ):
        prefix = f"{PUBLIC_URL}/{purpose}/"
        assert url.startswith(prefix)
        assert signer.verify(purpose, url.removeprefix(prefix))["subscriber_id"] == 5


def test_different_subscribers_get_different_tokens(signer: LinkSigner) -> None:
    assert signer.token("unsubscribe", 1) != signer.token("unsubscribe", 2)


def test_wrong_purpose_is_refused(signer: LinkSigner) -> None:
    token = signer.token("unsubscribe", 42)
    for purpose in ("preferences", "confirm"):
        with pytest.raises(InvalidToken, match="not valid"):
            signer.verify(purpose, token)


def test_tampered_token_is_refused(signer: LinkSigner) -> None:
    token = signer.token("unsubscribe", 42)
    payload, timestamp, signature = token.split(".")
    forged_payload = (
        LinkSigner("test-secret-of-at-least-32-characters", PUBLIC_URL).token("unsubscribe", 43).split(".")[0]
    )
    for tampered in (
        f"{forged_payload}.{timestamp}.{signature}",
        f"{payload}.{timestamp}.{signature[:-2]}xx",
        token[:-1],
        "",
        "not-a-token",
    ):
        with pytest.raises(InvalidToken, match="not valid"):
            signer.verify("unsubscribe", tampered)


def test_token_signed_with_another_key_is_refused(signer: LinkSigner) -> None:
    forged = LinkSigner("attacker-secret", PUBLIC_URL).token("unsubscribe", 42)
    with pytest.raises(InvalidToken, match="not valid"):
        signer.verify("unsubscribe", forged)


def test_expired_token_is_refused() -> None:
    clock = Clock()
    signer = LinkSigner("test-secret-of-at-least-32-characters", PUBLIC_URL, clock=clock)
    token = signer.token("preferences", 42)
    clock.now += 3600
    assert signer.verify("preferences", token, max_age=3600) == {"subscriber_id": 42}
    clock.now += 1
    with pytest.raises(InvalidToken, match="expired"):
        signer.verify("preferences", token, max_age=3600)


def test_confirmation_links_expire_by_default_but_unsubscribe_links_do_not() -> None:
    clock = Clock()
    signer = LinkSigner("test-secret-of-at-least-32-characters", PUBLIC_URL, clock=clock)
    confirm = signer.token("confirm", 1, address="reader@example.org")
    unsubscribe = signer.token("unsubscribe", 1)
    clock.now += 30 * 24 * 3600
    with pytest.raises(InvalidToken, match="expired"):
        signer.verify("confirm", confirm)
    assert signer.verify("unsubscribe", unsubscribe) == {"subscriber_id": 1}


def test_invalid_token_is_a_newsbot_error() -> None:
    assert issubclass(InvalidToken, NewsbotError)


def test_unknown_purpose_is_a_programming_error(signer: LinkSigner) -> None:
    with pytest.raises(ValueError, match="unknown link purpose"):
        signer.token("delete-everything", 1)  # type: ignore[arg-type]
