"""A reader who confirms an email address in the browser hears about it in their Telegram chat.

The confirmation itself is stored before anything is said, so the notice is a courtesy: it is sent in the
background (the confirmation page never waits for Telegram, nor for a broadcast holding the rate limit), once per
confirmation, and a chat that cannot be reached is logged and left alone. Only a subscriber with an active
Telegram chat gets one; a web-only reader has nobody to tell.
"""

from __future__ import annotations

import asyncio
import html
import logging

from bot.app.newsroom import Newsroom
from bot.channels import Channel, DeliveryFailed, OutgoingMessage
from bot.languages.catalogs import gettext_in, language_of
from bot.readers.chat_replies import digest_when
from bot.readers.email_signup import Confirmation
from subscribers import reader_languages, readers
from subscribers.schema import AddressStatus, ChannelName

logger = logging.getLogger(__name__)


class ChatNotices:
    """Sends the "your address is confirmed" notice through *channel* (the process's Telegram channel)."""

    def __init__(self, newsroom: Newsroom, channel: Channel) -> None:
        self._newsroom = newsroom
        self._channel = channel
        self._pending: set[asyncio.Task[None]] = set()

    def acknowledge(self, confirmation: Confirmation) -> None:
        """Tell the reader's chat, in the background, that *confirmation* went through (only the first time)."""
        if not confirmation.newly_confirmed:
            return
        task = asyncio.create_task(self._tell(confirmation), name=f"confirmed-{confirmation.subscriber_id}")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        """Let the notices under way finish (at shutdown), so none is cut off half-sent."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def _tell(self, confirmation: Confirmation) -> None:
        newsroom = self._newsroom
        try:
            async with newsroom.reader.connect() as conn:
                preferences = await readers.load_reader_preferences(conn, confirmation.subscriber_id)
                stored = await reader_languages.language_of(conn, confirmation.subscriber_id)
            chat = preferences.addresses.get(ChannelName.TELEGRAM.value) if preferences else None
            if chat is None or chat.status != AddressStatus.ACTIVE.value:
                return
            language = language_of(stored, newsroom.settings.default_language)
            text = "✅ " + gettext_in(
                language,
                "%(address)s is confirmed. The weekly digest of your topics goes there on %(when)s; stories still "
                "come here as before. Change how often with /settings.",
            ) % {
                "address": html.escape(confirmation.address),
                "when": html.escape(digest_when(newsroom.settings, language)),
            }
            moment = int(newsroom.clock.now().timestamp())
            key = f"email-confirmed-{confirmation.subscriber_id}-{moment}"
            await self._channel.send(OutgoingMessage(key=key, address=chat.address, content=text))
        except DeliveryFailed as exc:
            logger.info(
                "could not tell chat of subscriber %s about the confirmation: %s", confirmation.subscriber_id, exc
            )
        except Exception:  # a courtesy message must never take the web side down
            logger.exception("telling subscriber %s about the confirmation failed", confirmation.subscriber_id)
