"""The messages of story deliveries: each story rendered once, personalised per reader.

The delivery worker asks a message source for the message of each claimed delivery; sources are keyed by the
prefix of the delivery's ``item_key`` (``story:<id>`` here, ``digest:<week>`` for digests), so new kinds of
mail plug in without touching the worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from bot.app.newsroom import Newsroom
from bot.channels import OutgoingMessage
from bot.channels.base import Keyboard, LinkPreview
from bot.outbox.message_cache import LruCache
from bot.readers.story_buttons import story_keyboard
from bot.rendering.email_message import EmailTemplate
from bot.rendering.safe_links import http_link
from bot.stories.story import Story
from subscribers import deliveries, stories, story_changes
from subscribers.schema import ChannelName


class MessageSource(Protocol):
    """Builds the message for one claimed delivery, or None when its item no longer exists (it is cancelled).

    A tuple of messages is sent in order as one delivery (a Telegram digest longer than one message).
    """

    async def prepare(self, items: Sequence[deliveries.ClaimedDelivery]) -> None:
        """Called once per batch with the batch's items of this kind, before any `message_for`: the place to
        load what the whole batch needs in one go."""
        ...

    async def message_for(
        self, item: deliveries.ClaimedDelivery, key: str, address: str
    ) -> OutgoingMessage | tuple[OutgoingMessage, ...] | None: ...


@dataclass(frozen=True, slots=True)
class TelegramStory:
    """A story as it goes to a Telegram chat: its HTML (a photo's caption when it has a picture), its buttons, the
    link it previews (its own URL, chosen on purpose; none without one) and whether it rings (breaking news only).

    Sends and edits of the reader's copy are built from the same value, so a correction keeps the buttons.
    """

    content: str
    keyboard: Keyboard
    link_preview: LinkPreview
    silent: bool
    photo: str | None = None

    def message(
        self,
        key: str,
        address: str,
        *,
        action: Literal["send", "edit"] = "send",
        target: str | None = None,
        reply_to: str | None = None,
    ) -> OutgoingMessage:
        return OutgoingMessage(
            key=key,
            address=address,
            content=self.content,
            action=action,
            target=target,
            reply_to=reply_to,
            keyboard=self.keyboard,
            link_preview=self.link_preview,
            silent=self.silent,
            photo=self.photo,
        )


def telegram_story(newsroom: Newsroom, story: Story, *, reader_buttons: bool = True) -> TelegramStory:
    """Render *story* for Telegram once; *reader_buttons* adds Unfollow and Settings (not in an outlet's channel)."""
    renderer, photo = newsroom.renderer, http_link(story.image_url)
    return TelegramStory(
        content=renderer.telegram_caption(story) if photo else renderer.telegram_message(story),
        keyboard=story_keyboard(newsroom.settings, newsroom.taxonomy, story, reader=reader_buttons),
        link_preview=LinkPreview(http_link(story.url)),
        silent=not story.breaking,
        photo=photo,
    )


@dataclass(frozen=True, slots=True)
class _RenderedStory:
    telegram: TelegramStory
    email: EmailTemplate
    #: The version rendered: a correction makes it stale.
    version: int
    #: The story this one follows up (its readers' copies are replied to in Telegram), if any.
    updates: str | None


class StoryMessages:
    """Story messages, compiled once per story and kept for the next readers (bounded, least recently used).

    Once per batch the stories' current versions are read (one query): a corrected story is rendered again, so
    readers not reached yet get the new version, and a retracted one is not sent. A follow-up (``updates``) goes
    to Telegram as a reply to the reader's own copy of the story it updates.
    """

    prefix = "story"

    def __init__(self, newsroom: Newsroom, capacity: int = 64) -> None:
        self._newsroom = newsroom
        self._rendered: LruCache[str, _RenderedStory] = LruCache(capacity)
        # A batch asks for the same story hundreds of times at once: the first renders it, the rest wait for it.
        self._rendering = asyncio.Lock()
        self._retracted: set[str] = set()
        #: (story id, subscriber id) -> the Telegram message id of that reader's copy of the story it updates.
        self._reply_to: dict[tuple[str, int], str] = {}

    async def _render(self, story_id: str) -> _RenderedStory | None:
        cached = self._rendered.get(story_id)
        if cached is not None:
            return cached
        async with self._rendering:
            cached = self._rendered.get(story_id)
            return cached if cached is not None else await self._load_and_render(story_id)

    async def _load_and_render(self, story_id: str) -> _RenderedStory | None:
        async with self._newsroom.reader.connect() as conn:
            story = await stories.load_story(conn, story_id, Story)
        if story is None:
            return None
        renderer = self._newsroom.renderer
        rendered = _RenderedStory(
            telegram=telegram_story(self._newsroom, story),
            email=EmailTemplate(renderer.compile_email(story), self._newsroom.settings),
            version=story.version,
            updates=story.updates,
        )
        return self._rendered.put(story_id, rendered)

    async def prepare(self, items: Sequence[deliveries.ClaimedDelivery]) -> None:
        story_ids = {item.story_id for item in items if item.story_id is not None}
        async with self._newsroom.reader.connect() as conn:
            current = await story_changes.current_versions(conn, story_ids)
        for story_id, (version, retracted) in current.items():
            cached = self._rendered.get(story_id)
            if cached is not None and cached.version != version:
                self._rendered.forget(story_id)
            if retracted:
                self._retracted.add(story_id)
        for story_id in story_ids:
            rendered = await self._render(story_id)
            if rendered is not None and rendered.updates is not None:
                await self._load_reply_targets(story_id, rendered.updates, items)

    async def _load_reply_targets(
        self, story_id: str, original: str, items: Sequence[deliveries.ClaimedDelivery]
    ) -> None:
        readers = [item.subscriber_id for item in items if item.story_id == story_id]
        async with self._newsroom.reader.connect() as conn:
            sent = await story_changes.sent_message_ids(
                conn, story_changes.story_key(original), ChannelName.TELEGRAM.value, readers
            )
        self._reply_to.update({(story_id, reader): message_id for reader, message_id in sent.items()})

    async def message_for(self, item: deliveries.ClaimedDelivery, key: str, address: str) -> OutgoingMessage | None:
        if item.story_id is None or item.story_id in self._retracted:
            return None
        rendered = await self._render(item.story_id)
        if rendered is None:
            return None
        if item.channel == ChannelName.TELEGRAM:
            reply_to = self._reply_to.pop((item.story_id, item.subscriber_id), None)
            return rendered.telegram.message(key, address, reply_to=reply_to)
        signer = self._newsroom.signer
        content = rendered.email.for_recipient(
            to=address,
            unsubscribe_url=signer.unsubscribe_url(item.subscriber_id),
            preferences_url=signer.preferences_url(item.subscriber_id),
        )
        return OutgoingMessage(key=key, address=address, content=content)
