"""Email signup with double opt-in: an address receives nothing until its owner clicks the link we mailed them.

Every way of adding an email address (the web signup form, the Telegram ``/email`` command) goes through
:func:`request_email_confirmation`; the ``/confirm/{token}`` page calls :func:`confirm_address`. The link carries
the subscriber, a keyed digest of the address (never the address itself: links end up in logs and browser
histories), the topics asked for, when it was sent and a random nonce stored with the address, signed with the
newsroom's secret: only the latest link for an address works, only someone who received it can
confirm (the nonce cannot be guessed, whoever knows the key), and only while the address still awaits (or has)
confirmation, so an old link cannot resubscribe someone who has since unsubscribed.

Both are rate-limited per client and for the whole site (``bot.readers.request_limits``); a signup from Telegram counts
for its subscriber and for the site.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError

from bot.app.errors import InvalidSubscriber, InvalidToken, NewsbotError, RenderError, SubscriberNotFound
from bot.app.newsroom import Newsroom
from bot.channels import Channel, DeliveryFailed, OutgoingMessage, RecipientGone
from bot.languages.catalogs import N_, language_of
from bot.languages.formatting import Wait
from bot.rendering.email_message import EmailTemplate
from bot.rendering.renderer import CompiledEmail
from subscribers import email_readers, follows, reader_languages, readers
from subscribers.email_keys import email_key
from subscribers.preferences import normalise_email
from subscribers.schema import AddressStatus

#: Stand-in for the confirmation link while the email is compiled; swapped for the real one per request.
CONFIRM_URL_SENTINEL = "https://newsbot-placeholder.invalid/confirm/5be2a9d04c7f1e36"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Random bytes of a confirmation link's nonce (128 bits: guessing one is hopeless).
NONCE_BYTES = 16


class SignupThrottled(NewsbotError):
    """A confirmation email went to this address moments ago; another one would only flood the inbox.

    A ``%(wait)s`` in its sentence is *retry_after* in words, put in the reader's where the error is shown.
    """

    def __init__(self, message: str, retry_after: int = 60, **fields: object) -> None:
        super().__init__(message, wait=Wait(retry_after), **fields)
        #: Whole seconds until the address may be sent another confirmation email.
        self.retry_after = retry_after


class AddressTaken(InvalidSubscriber):
    """The address belongs to another reader; linking it here would take their subscription over."""


class ConfirmationNotSent(NewsbotError):
    """The mail server did not take the confirmation email right now; asking again later may work."""


@dataclass(frozen=True, slots=True)
class _ConfirmationOf:
    """Whose address a confirmation is about, and the topics it asks for."""

    subscriber_id: int
    address: str
    topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ConfirmationRequest(_ConfirmationOf):
    """A confirmation email that went out."""

    #: The address was already confirmed: the link only adds the topics asked for.
    already_confirmed: bool


@dataclass(frozen=True, slots=True)
class Confirmation(_ConfirmationOf):
    """The outcome of following a confirmation link."""

    #: False when the address had already been confirmed (the link was followed twice).
    newly_confirmed: bool


def _microseconds(moment: datetime) -> int:
    """Exact microseconds since the epoch: identifies one confirmation email (what the store keeps, no float)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


async def request_email_confirmation(
    newsroom: Newsroom,
    email_channel: Channel,
    *,
    address: str,
    topics: Sequence[str] = (),
    subscriber_id: int | None = None,
    client: str | None = None,
    language: str | None = None,
) -> ConfirmationRequest:
    """Link *address* to a subscriber as a pending email and send the double opt-in email right away.

    Without *subscriber_id* the address's existing subscriber is used, or a new one created (then at least one
    topic is required). With it (a Telegram reader adding email) the subscriber's email address is set or
    replaced. *client* names who asks (the web client's address, see `bot.readers.request_limits.client_key`); without
    it a Telegram reader counts as ``subscriber:<id>``. Raises TooManyRequests (signup limits, checked first),
    InvalidSubscriber, TopicNotFound, AddressTaken, SubscriberNotFound, SignupThrottled (one email per address
    per ``NEWSBOT_SIGNUP_COOLDOWN``) and ConfirmationNotSent; messages are for the reader. A new reader is stored
    with *language* (the signup page's); the email is in the reader's language, else *language*, else the outlet's.
    """
    settings = newsroom.settings
    if client is None and subscriber_id is not None:
        client = f"subscriber:{subscriber_id}"
    await newsroom.request_limits.admit(newsroom.engine, settings, "signup", client)
    address = normalise_email(address)
    slugs = tuple(newsroom.taxonomy.resolve_all(t for t in topics if t.strip()))
    now = newsroom.clock.now()
    try:
        async with newsroom.engine.begin() as conn:
            owner = await email_readers.find_email_by_address(conn, address)
            if owner is not None:
                address = owner.address  # the same address in any case is one reader: keep the spelling on file
            created = subscriber_id is None and owner is None
            if subscriber_id is None:
                if owner is None and not slugs:
                    raise InvalidSubscriber(N_("choose at least one topic to follow"))
                subscriber_id = owner.subscriber_id if owner else await readers.create_subscriber(conn, now)
            elif not await readers.subscriber_exists(conn, subscriber_id):
                raise SubscriberNotFound(N_("no such subscriber"))
            elif owner is not None and owner.subscriber_id != subscriber_id:
                raise AddressTaken(
                    N_(
                        "%(address)s is already subscribed by another reader; use the preferences link at the "
                        "bottom of any of our emails to change what it receives"
                    ),
                    address=address,
                )
            current = await email_readers.find_email_of_subscriber(conn, subscriber_id)
            if current is not None and current.confirmation_sent_at is not None:
                waited = (now - current.confirmation_sent_at).total_seconds()
                if waited < settings.signup_cooldown:
                    raise SignupThrottled(
                        N_(
                            "we sent a confirmation email to %(address)s a moment ago; check your inbox (and spam "
                            "folder), or ask again in %(wait)s"
                        ),
                        retry_after=max(1, math.ceil(settings.signup_cooldown - waited)),
                        address=current.address,
                    )
            already = current is not None and current.address == address and current.status == AddressStatus.ACTIVE
            await email_readers.set_pending_email(conn, subscriber_id, address, now)
            await email_readers.mark_confirmation_sent(conn, subscriber_id, now, now)
            nonce = secrets.token_urlsafe(NONCE_BYTES)
            await email_readers.set_confirmation_nonce(conn, subscriber_id, nonce)
            if created:
                # A new reader's only address is this pending one, so nothing reaches them before they confirm;
                # following now lets their preference page show the topics they chose. An existing reader's
                # topics change only through the link: a stranger typing their address must not change them.
                await follows.set_follows(conn, subscriber_id, slugs, now)
                if language is not None:
                    await reader_languages.learn_language(conn, subscriber_id, language)
            stored_language = await reader_languages.language_of(conn, subscriber_id)
    except IntegrityError:
        # Two signups of one new address raced; the other one is sending its email.
        raise SignupThrottled(
            N_("a confirmation email to %(address)s is on its way; check your inbox"), address=address
        ) from None

    signer = newsroom.signer
    confirm_url = signer.confirm_url(
        subscriber_id,
        address_key=_address_digest(newsroom, address),
        topics=",".join(slugs),
        sent=_microseconds(now),
        nonce=nonce,
    )
    message = OutgoingMessage(
        key=f"confirm-{subscriber_id}-{int(now.timestamp())}",
        address=address,
        content=_confirmation_email(
            newsroom,
            address,
            slugs,
            confirm_url,
            subscriber_id,
            language_of(stored_language or language, settings.default_language),
        ),
    )
    try:
        await email_channel.send(message)
    except DeliveryFailed as exc:
        async with newsroom.engine.begin() as conn:
            await email_readers.mark_confirmation_sent(conn, subscriber_id, None, newsroom.clock.now())
        if isinstance(exc, RecipientGone):
            raise InvalidSubscriber(
                N_("the mail server refused %(address)s; please check the address for typos"), address=address
            ) from exc
        unsent = N_("we could not send the confirmation email just now; please try again later")
        raise ConfirmationNotSent(unsent) from exc
    return ConfirmationRequest(subscriber_id, address, slugs, already_confirmed=already)


def _confirmation_email(
    newsroom: Newsroom, address: str, slugs: Sequence[str], confirm_url: str, subscriber_id: int, language: str
) -> bytes:
    """The double opt-in email for one request (compiled per request: signups are rare, the topics vary)."""
    settings = newsroom.settings
    compiled = newsroom.renderer.compile_email_set(
        "confirm",
        {
            "language": language,
            "address": address,
            "topics": [newsroom.taxonomy[slug] for slug in slugs],
            "confirm_url": CONFIRM_URL_SENTINEL,
            "valid_days": max(1, settings.confirm_max_age // 86400),
            "valid_hours": max(1, settings.confirm_max_age // 3600),
        },
    )
    for body in (compiled.html, compiled.text):
        if CONFIRM_URL_SENTINEL not in body:
            raise RenderError("template email/confirm.* must include the confirmation link ({{ confirm_url }})")
    personal = CompiledEmail(
        subject=compiled.subject,
        html=compiled.html.replace(CONFIRM_URL_SENTINEL, html.escape(confirm_url)),
        text=compiled.text.replace(CONFIRM_URL_SENTINEL, confirm_url),
    )
    return EmailTemplate(personal, settings, transactional=True).for_recipient(
        to=address,
        unsubscribe_url=newsroom.signer.unsubscribe_url(subscriber_id),
        preferences_url=newsroom.signer.preferences_url(subscriber_id),
    )


async def confirm_address(newsroom: Newsroom, token: str, *, client: str | None = None) -> Confirmation:
    """Confirm the address a link was sent to, and follow the topics asked for; safe to call twice.

    Raises TooManyRequests when *client* (or the whole site) tried too many links this minute, and InvalidToken
    (with a message for the reader) for a forged or expired link, one replaced by a newer email, one for an
    address no longer on file, or one whose address has since been unsubscribed or bounced.
    """
    await newsroom.request_limits.admit(newsroom.engine, newsroom.settings, "confirm", client)
    data = newsroom.signer.verify("confirm", token, max_age=newsroom.settings.confirm_max_age)
    subscriber_id, sent = data["subscriber_id"], data.get("sent")
    digest, legacy_address = data.get("address_key"), data.get("address")  # links mailed before digests: the address
    if not isinstance(sent, int) or not (isinstance(digest, str) or isinstance(legacy_address, str)):
        raise InvalidToken(N_("this link is not valid"))
    slugs = tuple(slug for slug in str(data.get("topics", "")).split(",") if slug in newsroom.taxonomy)
    now = newsroom.clock.now()
    async with newsroom.engine.begin() as conn:
        current = await email_readers.find_email_of_subscriber(conn, subscriber_id)
        if current is None or not _link_is_for(newsroom, current.address, digest, legacy_address):
            raise InvalidToken(N_("this link is for an address that is no longer on file; please sign up again"))
        last_sent = current.confirmation_sent_at
        if last_sent is None or _microseconds(last_sent) != sent:
            raise InvalidToken(
                N_("a newer confirmation email replaced this link; please use the link in the latest one")
            )
        if not _nonce_matches(await email_readers.confirmation_nonce(conn, subscriber_id), data.get("nonce")):
            raise InvalidToken(N_("this link is not valid"))
        if current.status not in (AddressStatus.PENDING, AddressStatus.ACTIVE):
            raise InvalidToken(
                N_("this link no longer works: the address was unsubscribed since; please sign up again")
            )
        newly = current.status == AddressStatus.PENDING
        await email_readers.activate_email(conn, subscriber_id, now)
        await follows.set_follows(conn, subscriber_id, slugs, now)
    return Confirmation(subscriber_id, current.address, slugs, newly_confirmed=newly)


def _address_digest(newsroom: Newsroom, address: str) -> str:
    """Which address a link was mailed to, as an HMAC under the newsroom's secret: checkable, not readable."""
    mac = hmac.new(newsroom.secret.value.encode(), b"confirm-address:" + email_key(address).encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:18]).decode("ascii")


def _link_is_for(newsroom: Newsroom, address: str, digest: object, legacy_address: object) -> bool:
    if isinstance(digest, str):
        return hmac.compare_digest(_address_digest(newsroom, address).encode(), digest.encode())
    return isinstance(legacy_address, str) and email_key(legacy_address) == email_key(address)


def _nonce_matches(stored: str | None, given: object) -> bool:
    """The link carries the nonce stored with the address; links mailed before nonces existed carry none."""
    if stored is None:
        return given is None
    return isinstance(given, str) and hmac.compare_digest(stored.encode(), given.encode())
