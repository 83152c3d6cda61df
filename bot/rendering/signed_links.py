"""Signed personal links (unsubscribe, preferences, address confirmation) that need no database lookup to trust.

A token carries the subscriber id (and, for confirmation, the address being confirmed) plus a timestamp, signed
(HMAC) with the newsroom's secret and a salt per purpose, so an unsubscribe token can never be replayed as a
confirmation. That secret is ``NEWSBOT_SECRET_KEY`` (32 characters or more) or a random one kept in the store
(`bot.app.newsroom`), so a valid signature cannot be guessed; confirmation links also carry a random nonce stored
with the address (`bot.readers.email_signup`). Unsubscribe and preference links never expire by default: a reader must
be able to leave from a years-old email.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from bot.app.errors import InvalidToken
from subscribers.errors import N_

Purpose = Literal["unsubscribe", "preferences", "confirm"]
PURPOSES: tuple[Purpose, ...] = ("unsubscribe", "preferences", "confirm")

#: Seconds a token of each purpose stays valid when `LinkSigner.verify` is given no ``max_age``; None = forever.
DEFAULT_MAX_AGE: dict[str, int | None] = {
    "unsubscribe": None,
    "preferences": None,
    "confirm": 7 * 24 * 3600,
}

_ID_KEY = "id"
#: The largest id the store holds (subscribers.id is an INTEGER: 32 bits on PostgreSQL); a token beyond it is forged.
MAX_ID = 2**31 - 1


class _ClockedSigner(TimestampSigner):
    """A timestamp signer that reads an injectable clock, so expiry can be tested without sleeping."""

    def __init__(self, *args: Any, clock: Callable[[], float], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock())


class LinkSigner:
    """Issues and checks the tokens in personal links; ``public_url`` is the web front's base URL."""

    def __init__(self, secret_key: str, public_url: str, *, clock: Callable[[], float] = time.time) -> None:
        if not secret_key:
            raise ValueError("a secret key is required to sign links")
        self.public_url = public_url.rstrip("/")
        self._serializers = {
            purpose: URLSafeTimedSerializer(
                secret_key, salt=purpose, signer=_ClockedSigner, signer_kwargs={"clock": clock}
            )
            for purpose in PURPOSES
        }

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        try:
            return self._serializers[purpose]
        except KeyError:
            raise ValueError(f"unknown link purpose {purpose!r}; expected one of {', '.join(PURPOSES)}") from None

    def token(self, purpose: Purpose, subscriber_id: int, **extra: str | int) -> str:
        """A URL-safe token for *purpose*; *extra* values (e.g. ``address``) come back from `verify`."""
        if isinstance(subscriber_id, bool) or not isinstance(subscriber_id, int):
            raise TypeError("subscriber_id must be an int")
        if _ID_KEY in extra or "subscriber_id" in extra:
            raise ValueError("extra values cannot be named 'id' or 'subscriber_id'")
        return self._serializer(purpose).dumps({_ID_KEY: subscriber_id, **extra})

    def verify(self, purpose: Purpose, token: str, max_age: int | None = None) -> dict[str, Any]:
        """Check *token* and return ``{"subscriber_id": int, **extra}``.

        *max_age* (seconds) defaults to `DEFAULT_MAX_AGE` for the purpose. Raises `InvalidToken` with a message
        for the reader when the token is forged, altered, made for another purpose or older than *max_age*.
        """
        serializer = self._serializer(purpose)
        if max_age is None:
            max_age = DEFAULT_MAX_AGE[purpose]
        try:
            payload = serializer.loads(token, max_age=max_age)
        except SignatureExpired:
            raise InvalidToken(N_("this link has expired")) from None
        except BadData:
            raise InvalidToken(N_("this link is not valid")) from None
        subscriber_id = payload.get(_ID_KEY) if isinstance(payload, dict) else None
        if isinstance(subscriber_id, bool) or not isinstance(subscriber_id, int) or not 0 < subscriber_id <= MAX_ID:
            raise InvalidToken(N_("this link is not valid"))
        extra = {key: value for key, value in payload.items() if key != _ID_KEY}
        return {"subscriber_id": subscriber_id, **extra}

    def unsubscribe_url(self, subscriber_id: int) -> str:
        return f"{self.public_url}/unsubscribe/{self.token('unsubscribe', subscriber_id)}"

    def preferences_url(self, subscriber_id: int) -> str:
        return f"{self.public_url}/preferences/{self.token('preferences', subscriber_id)}"

    def confirm_url(self, subscriber_id: int, **extra: str | int) -> str:
        """A confirmation link carrying *extra* (what the signup needs to check the link is still current: a digest
        of the address, the topics, a nonce); `verify` returns them."""
        return f"{self.public_url}/confirm/{self.token('confirm', subscriber_id, **extra)}"
