"""The messages of story deliveries: each story rendered once, personalised per reader.

The delivery worker asks a message source for the message of each claimed delivery; sources are keyed by the
prefix of the delivery's ``item_key`` (``story:<id>`` here, ``digest:<week>`` for digests), so new kinds of
mail plug in without touching the worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from bot.app.newsroom import Newsroom
from bot.channels import OutgoingMessage
from bot.channels.base import Keyboard, LinkPreview
from bot.languages.catalogs import SOURCE_LANGUAGE, language_of, languages
from bot.outbox.message_cache import LruCache
from bot.readers.story_buttons import reader_keyboards, story_keyboard, unfollow_topic_for
from bot.rendering.email_message import EmailTemplate
from bot.rendering.safe_links import http_link
from bot.stories.story import Story
from subscribers import deliveries, follows, reader_languages, stories, story_changes
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
    `keyboard` names the story's first topic in Unfollow; `reader_keyboards` holds the keyboard for each topic
    (and None: no Unfollow), so each reader's copy names the first topic they follow at no extra rendering.
    """

    content: str
    keyboard: Keyboard
    link_preview: LinkPreview
    silent: bool
    photo: str | None = None
    reader_keyboards: Mapping[str | None, Keyboard] = field(default_factory=dict, compare=False)

    def keyboard_for(self, followed: Collection[str] | None) -> Keyboard:
        """The buttons for a reader who follows *followed* (None: not known, the shared `keyboard`)."""
        if followed is None or not self.reader_keyboards:
            return self.keyboard
        topics = [slug for slug in self.reader_keyboards if slug is not None]
        return self.reader_keyboards[unfollow_topic_for(topics, followed)]

    def message(
        self,
        key: str,
        address: str,
        *,
        action: Literal["send", "edit"] = "send",
        target: str | None = None,
        reply_to: str | None = None,
        followed: Collection[str] | None = None,
    ) -> OutgoingMessage:
        """The message to *address*; *followed* (the reader's topics) picks the topic their Unfollow names."""
        return OutgoingMessage(
            key=key,
            address=address,
            content=self.content,
            action=action,
            target=target,
            reply_to=reply_to,
            keyboard=self.keyboard_for(followed),
            link_preview=self.link_preview,
            silent=self.silent,
            photo=self.photo,
        )


def telegram_story(
    newsroom: Newsroom, story: Story, *, reader_buttons: bool = True, language: str = SOURCE_LANGUAGE
) -> TelegramStory:
    """Render *story* for Telegram once (per *language* of its readers); *reader_buttons* adds Unfollow and
    Settings (not in an outlet's channel)."""
    renderer, photo = newsroom.renderer, http_link(story.image_url)
    settings, taxonomy = newsroom.settings, newsroom.taxonomy
    first = next(iter(story.topics), None)
    keyboards = reader_keyboards(settings, taxonomy, story, language) if reader_buttons else {}
    return TelegramStory(
        content=renderer.telegram_caption(story, language=language)
        if photo
        else renderer.telegram_message(story, language=language),
        keyboard=keyboards[first]
        if reader_buttons
        else story_keyboard(settings, taxonomy, story, reader=False, language=language),
        link_preview=LinkPreview(http_link(story.url)),
        silent=not story.breaking,
        photo=photo,
        reader_keyboards=keyboards,
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
    """Story messages, compiled once per story and language and kept for the next readers (bounded, least recently
    used); the story itself is never translated, only what newsbot puts around it.

    Once per batch the stories' current versions are read (one query): a corrected story is rendered again, so
    readers not reached yet get the new version, and a retracted one is not sent. A follow-up (``updates``) goes
    to Telegram as a reply to the reader's own copy of the story it updates.
    """

    prefix = "story"

    def __init__(self, newsroom: Newsroom, capacity: int = 64) -> None:
        self._newsroom = newsroom
        self._rendered: LruCache[tuple[str, str], _RenderedStory] = LruCache(capacity)
        # A batch asks for the same story hundreds of times at once: the first renders it, the rest wait for it.
        self._rendering = asyncio.Lock()
        self._retracted: set[str] = set()
        #: (story id, subscriber id) -> the Telegram message id of that reader's copy of the story it updates.
        self._reply_to: dict[tuple[str, int], str] = {}
        #: The topics each Telegram reader of the batch follows (their Unfollow button), loaded once by `prepare`.
        self._batch_follows: dict[int, frozenset[str]] = {}
        #: The language of each reader of the batch, loaded once by `prepare`.
        self._batch_languages: dict[int, str] = {}

    async def _render(self, story_id: str, language: str = SOURCE_LANGUAGE) -> _RenderedStory | None:
        cached = self._rendered.get((story_id, language))
        if cached is not None:
            return cached
        async with self._rendering:
            cached = self._rendered.get((story_id, language))
            return cached if cached is not None else await self._load_and_render(story_id, language)

    async def _load_and_render(self, story_id: str, language: str) -> _RenderedStory | None:
        async with self._newsroom.reader.connect() as conn:
            story = await stories.load_story(conn, story_id, Story)
        if story is None:
            return None
        # Pure CPU (templates, buttons, the email's MIME skeleton): a few milliseconds for a story, tens the first
        # time its templates compile, and all of it once. On a thread the loop keeps turning meanwhile: it gets the
        # GIL back within the interpreter's switch interval (5 ms) whenever it has something to do.
        rendered = await asyncio.to_thread(self._rendered_story, story, language)
        return self._rendered.put((story_id, language), rendered)

    def _rendered_story(self, story: Story, language: str) -> _RenderedStory:
        renderer = self._newsroom.renderer
        return _RenderedStory(
            telegram=telegram_story(self._newsroom, story, language=language),
            email=EmailTemplate(renderer.compile_email(story, language=language), self._newsroom.settings),
            version=story.version,
            updates=story.updates,
        )

    async def prepare(self, items: Sequence[deliveries.ClaimedDelivery]) -> None:
        story_ids = {item.story_id for item in items if item.story_id is not None}
        chats = {item.subscriber_id for item in items if item.channel == ChannelName.TELEGRAM}
        async with self._newsroom.reader.connect() as conn:
            current = await story_changes.current_versions(conn, story_ids)
            # Added to, not replaced: the worker claims the next batch while this one's messages are still going out.
            self._batch_follows.update(await follows.followed_topics_of(conn, chats))
            stored = await reader_languages.languages_of(conn, {item.subscriber_id for item in items})
        default = self._newsroom.settings.default_language
        self._batch_languages.update({reader: language_of(code, default) for reader, code in stored.items()})
        for story_id, (version, retracted) in current.items():
            for language in languages():
                cached = self._rendered.get((story_id, language))
                if cached is not None and cached.version != version:
                    self._rendered.forget((story_id, language))
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

    async def _followed(self, subscriber_id: int) -> frozenset[str]:
        followed = self._batch_follows.pop(subscriber_id, None)  # one message per reader and batch: drop it once used
        if followed is None:  # not in a prepared batch: ask for this reader alone
            async with self._newsroom.reader.connect() as conn:
                followed = await follows.followed_topics(conn, subscriber_id)
        return followed

    async def _language(self, subscriber_id: int) -> str:
        language = self._batch_languages.pop(subscriber_id, None)  # like the follows: once per reader and batch
        if language is None:
            async with self._newsroom.reader.connect() as conn:
                stored = await reader_languages.language_of(conn, subscriber_id)
            language = language_of(stored, self._newsroom.settings.default_language)
        return language

    async def message_for(self, item: deliveries.ClaimedDelivery, key: str, address: str) -> OutgoingMessage | None:
        if item.story_id is None or item.story_id in self._retracted:
            return None
        rendered = await self._render(item.story_id, await self._language(item.subscriber_id))
        if rendered is None:
            return None
        if item.channel == ChannelName.TELEGRAM:
            reply_to = self._reply_to.pop((item.story_id, item.subscriber_id), None)
            followed = await self._followed(item.subscriber_id)
            return rendered.telegram.message(key, address, reply_to=reply_to, followed=followed)
        signer = self._newsroom.signer
        content = rendered.email.for_recipient(
            to=address,
            unsubscribe_url=signer.unsubscribe_url(item.subscriber_id),
            preferences_url=signer.preferences_url(item.subscriber_id),
        )
        return OutgoingMessage(key=key, address=address, content=content)
