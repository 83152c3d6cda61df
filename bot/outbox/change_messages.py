"""The worker's message source for what is done to a story's sent messages (corrections and retractions).

Four kinds of delivery rows (item keys in `subscribers.schema`), each changing or answering the reader's own copy
of a story, whose message id the story's delivery recorded when it was sent:

- ``edit:<id>:<version>``: the copy is edited in place to the story as it reads now (with its "Corrected: ..."
  line); a later correction's edit only finds it already right, which Telegram answers "not modified": a success;
- ``correction:<id>:<version>``: a short correction notice, as a reply to the copy in Telegram, a short mail by
  email (emails cannot change);
- ``delete:<id>``: the copy is deleted (one Telegram no longer lets the bot delete, after 48 hours, gets the
  withdrawal notice instead);
- ``withdraw:<id>``: the copy is replaced by the withdrawal notice.

Sending, retries, rate limits and crash recovery are the delivery worker's, as for any send.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.app.newsroom import Newsroom
from bot.channels import OutgoingMessage, PermanentFailure
from bot.languages.catalogs import SOURCE_LANGUAGE, language_of, outlet_language
from bot.outbox.story_messages import TelegramStory, telegram_story
from bot.rendering.email_message import EmailTemplate
from bot.rendering.safe_links import http_link
from bot.stories.story import Story
from subscribers import deliveries, follows, reader_languages, stories, story_changes
from subscribers.schema import ChannelName

CORRECTION_TELEGRAM_TEMPLATE = "telegram/correction.html.j2"
WITHDRAWN_TELEGRAM_TEMPLATE = "telegram/withdrawn.html.j2"


def withdrawal_notice(newsroom: Newsroom, story: Story, language: str = SOURCE_LANGUAGE) -> str:
    """What a retracted story's old copies say instead (Telegram HTML), in the reader's *language*."""
    context = {
        "language": language,
        "outlet_name": newsroom.settings.outlet_name,
        "note": story.correction_note,
        "headline": story.title,
    }
    return newsroom.renderer.render(WITHDRAWN_TELEGRAM_TEMPLATE, context).strip()


def _notice_context(newsroom: Newsroom, story: Story, language: str) -> dict[str, Any]:
    return {
        "language": language,
        "headline": " ".join(story.title.split()),
        "note": story.correction_note,
        "url": http_link(story.url),
        "outlet_name": newsroom.settings.outlet_name,
        "public_url": newsroom.settings.public_url,
    }


class StoryChangeMessages:
    """Messages of ``edit``, ``correction``, ``delete`` and ``withdraw`` rows; one instance serves all four
    prefixes. Each batch loads its stories and the readers' message ids once (the stories can change between
    batches: a second correction, a retraction)."""

    prefixes = story_changes.CHANGE_KINDS

    def __init__(self, newsroom: Newsroom) -> None:
        self._newsroom = newsroom
        self._stories: dict[str, Story | None] = {}
        #: Delivery id -> the provider's id of the reader's copy it changes or answers.
        self._targets: dict[int, str] = {}
        #: Rendered per story, kind and language ((story id, what, language) for Telegram notices).
        self._telegram: dict[tuple[str, str, str], str] = {}
        self._emails: dict[tuple[str, str], EmailTemplate] = {}
        self._stories_telegram: dict[tuple[str, str], TelegramStory] = {}
        #: The language of each reader of the batch.
        self._languages: dict[int, str] = {}
        #: The topics of the batch's readers whose copy is edited: the edit keeps the Unfollow their copy names.
        self._follows: dict[int, frozenset[str]] = {}

    async def prepare(self, items: Sequence[deliveries.ClaimedDelivery]) -> None:
        by_story: dict[str, list[deliveries.ClaimedDelivery]] = {}
        for item in items:
            by_story.setdefault(story_changes.story_id_of(item.item_key), []).append(item)
        edited = {item.subscriber_id for item in items if item.item_key.startswith("edit:")}
        async with self._newsroom.reader.connect() as conn:
            self._follows = await follows.followed_topics_of(conn, edited)
            stored = await reader_languages.languages_of(conn, {item.subscriber_id for item in items})
            default = self._newsroom.settings.default_language
            self._languages = {reader: language_of(code, default) for reader, code in stored.items()}
            for story_id, batch in by_story.items():
                self._stories[story_id] = await stories.load_story(conn, story_id, Story)
                for channel in {item.channel for item in batch}:
                    on_channel = [item for item in batch if item.channel == channel]
                    sent = await story_changes.sent_message_ids(
                        conn, story_changes.story_key(story_id), channel, [item.subscriber_id for item in on_channel]
                    )
                    self._targets.update(
                        {item.id: sent[item.subscriber_id] for item in on_channel if item.subscriber_id in sent}
                    )
        # Rendered per batch: a story corrected again since the last batch renders as it is now.
        self._telegram.clear()
        self._emails.clear()
        self._stories_telegram.clear()

    async def message_for(self, item: deliveries.ClaimedDelivery, key: str, address: str) -> OutgoingMessage | None:
        kind = item.item_key.partition(":")[0]
        story_id = story_changes.story_id_of(item.item_key)
        story = self._stories.get(story_id)
        if story is None:
            async with self._newsroom.reader.connect() as conn:
                story = self._stories[story_id] = await stories.load_story(conn, story_id, Story)
        # Taken, not kept: a retry is claimed again, and its batch loads it again.
        target = self._targets.pop(item.id, None)
        if story is None or (target is None and item.channel == ChannelName.TELEGRAM):
            return None  # nothing to change: cancelled
        language = self._languages.get(item.subscriber_id, self._newsroom.settings.default_language)
        if kind == "edit":  # the whole story message again, buttons included: an edit without them drops them
            copy = self._stories_telegram.get((story_id, language))
            if copy is None:
                copy = self._stories_telegram[(story_id, language)] = telegram_story(
                    self._newsroom, story, language=language
                )
            followed = self._follows.get(item.subscriber_id)
            return copy.message(key, address, action="edit", target=target, followed=followed)
        if kind in ("delete", "withdraw"):
            notice = self._cached_telegram(
                story, "withdrawn", language, lambda: withdrawal_notice(self._newsroom, story, language)
            )
            action = "delete" if kind == "delete" else "edit"
            return OutgoingMessage(key=key, address=address, content=notice, action=action, target=target)
        if item.channel == ChannelName.TELEGRAM:
            context = _notice_context(self._newsroom, story, language)
            html = self._cached_telegram(
                story,
                "correction",
                language,
                lambda: self._newsroom.renderer.render(CORRECTION_TELEGRAM_TEMPLATE, context).strip(),
            )
            return OutgoingMessage(key=key, address=address, content=html, reply_to=target)
        template = self._emails.get((story_id, language))
        if template is None:
            context = _notice_context(self._newsroom, story, language)
            compiled = self._newsroom.renderer.compile_email_set("correction", context)
            template = self._emails[(story_id, language)] = EmailTemplate(compiled, self._newsroom.settings)
        signer = self._newsroom.signer
        content = template.for_recipient(
            to=address,
            unsubscribe_url=signer.unsubscribe_url(item.subscriber_id),
            preferences_url=signer.preferences_url(item.subscriber_id),
        )
        return OutgoingMessage(key=key, address=address, content=content)

    def _cached_telegram(self, story: Story, what: str, language: str, build: Any) -> str:
        cache_key = (story.id, what, language)
        text = self._telegram.get(cache_key)
        if text is None:
            text = self._telegram[cache_key] = build()
        return text


async def social_change_message(
    newsroom: Newsroom, post_id: int, story: Story, *, key: str, address: str
) -> OutgoingMessage | None:
    """The edit or deletion a social post of kind ``edit:<version>``, ``delete`` or ``withdraw`` makes to the
    story's post in an outlet's Telegram channel; None for an ordinary post (kind ``post``)."""
    async with newsroom.reader.connect() as conn:
        change = await story_changes.social_change(conn, post_id)
    if change is None:
        return None
    if change.target is None:
        raise PermanentFailure("the channel post to change was never sent")
    language = outlet_language(newsroom.settings)  # a channel's members read the outlet's language
    if change.kind.startswith("edit"):
        copy = telegram_story(newsroom, story, reader_buttons=False, language=language)
        return copy.message(key, address, action="edit", target=change.target)
    notice = withdrawal_notice(newsroom, story, language)
    action = "delete" if change.kind == "delete" else "edit"
    return OutgoingMessage(key=key, address=address, content=notice, action=action, target=change.target)
