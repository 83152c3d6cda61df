"""The buttons under every story message in a reader's chat, and what a tap on them does.

A story message carries **Read more** (a link: the outlet's page, else newsbot's own page of the story),
**Unfollow <topic>** for the first of the story's topics the reader follows, and **Settings**. The keyboard is
plain data (`bot.channels.base.Button`), built once per story and topic (`reader_keyboards`) while the text stays
shared by every reader; its callback data is

``st:unf:<slug>``  stop following that topic (a toast says so)      ``st:set``  open the /settings keyboard
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Protocol

from telegram import CallbackQuery, Chat, Update

from bot.channels.base import Button, Keyboard
from bot.languages.catalogs import SOURCE_LANGUAGE, translations
from bot.readers import topic_keyboards as keyboards
from bot.readers.chat_context import ChatContext
from bot.readers.chat_handlers import chat_button
from bot.readers.chat_membership import ADMINS_ONLY, may_change_follows
from bot.readers.chat_replies import Voice, settings_text
from bot.rendering.reply_limits import shorten
from bot.rendering.story_links import HasPublicUrl, LinkableStory, read_more_url
from bot.topics.taxonomy import Taxonomy
from subscribers import chat_readers, follows

UNFOLLOW = "st:unf"
SETTINGS = "st:set"
UNFOLLOW_PATTERN = rf"^{UNFOLLOW}:[a-z0-9-]+$"
SETTINGS_PATTERN = rf"^{SETTINGS}$"
#: Button labels longer than this are shortened: a phone shows about that much of a button in a row of two.
_LABEL_CHARS = 28


class _KeyboardStory(LinkableStory, Protocol):
    @property
    def topics(self) -> tuple[str, ...]: ...


def story_keyboard(
    settings: HasPublicUrl,
    taxonomy: Taxonomy,
    story: _KeyboardStory,
    *,
    reader: bool = True,
    unfollow: str | None = None,
    language: str = SOURCE_LANGUAGE,
) -> Keyboard:
    """Read more on its own row, then Unfollow <topic> and Settings (*reader* buttons: not for an outlet's
    channel, whose members are nobody's subscribers).

    *unfollow* is the topic the Unfollow button names; None leaves the button out (a reader who follows none of
    the story's topics, such as one reached as a reader of the story it follows up).
    """
    _ = translations(language).gettext
    rows: list[tuple[Button, ...]] = [(Button(_("Read more"), url=read_more_url(settings, story)),)]
    if reader:
        topic = taxonomy[unfollow] if unfollow is not None and unfollow in taxonomy else None
        second: list[Button] = []
        if topic is not None and len(f"{UNFOLLOW}:{topic.slug}".encode()) <= 64:
            label = shorten(_("Unfollow %(topic)s") % {"topic": topic.name}, _LABEL_CHARS)
            second.append(Button(label, callback=f"{UNFOLLOW}:{topic.slug}"))
        second.append(Button(_("Settings"), callback=SETTINGS))
        rows.append(tuple(second))
    return tuple(rows)


def reader_keyboards(
    settings: HasPublicUrl, taxonomy: Taxonomy, story: _KeyboardStory, language: str = SOURCE_LANGUAGE
) -> dict[str | None, Keyboard]:
    """The story's keyboard for each topic the Unfollow button may name (None: no Unfollow), built once per story
    and language so that picking a reader's own topic (`unfollow_topic_for`) costs no rendering."""
    keyboards: dict[str | None, Keyboard] = {None: story_keyboard(settings, taxonomy, story, language=language)}
    for slug in story.topics:
        keyboards[slug] = story_keyboard(settings, taxonomy, story, unfollow=slug, language=language)
    return keyboards


def unfollow_topic_for(story_topics: Iterable[str], followed: Collection[str]) -> str | None:
    """The first of the story's topics this reader follows: the one their Unfollow button names (None if none)."""
    return next((slug for slug in story_topics if slug in followed), None)


@chat_button(changes_follows=True)
async def unfollow_topic(update: Update, context: ChatContext, query: CallbackQuery, chat: Chat, data: str) -> None:
    """Unfollow <topic> under a story: stop following it, and say so in a toast (the story stays as it was)."""
    slug = data.removeprefix(f"{UNFOLLOW}:")
    taxonomy = context.newsroom.taxonomy
    name = taxonomy[slug].name if slug in taxonomy else slug
    voice = Voice.of(chat.type, context.language)
    async with context.newsroom.engine.begin() as conn:
        reader = await chat_readers.find_chat_reader(conn, str(chat.id))
        removed = await follows.unfollow_topics(conn, reader.subscriber_id, [slug]) if reader else []
    if removed:
        again = context.gettext("/topics to pick again.")
        await query.answer(f"{voice.no_longer_follows(name)} {again}")
    else:
        await query.answer(voice.was_not_following(name))


@chat_button(changes_follows=False)
async def open_settings(update: Update, context: ChatContext, query: CallbackQuery, chat: Chat, data: str) -> None:
    """Settings under a story: the /settings message with its cadence buttons, as a new message in the chat."""
    async with context.newsroom.reader.connect() as conn:
        reader = await chat_readers.find_chat_reader(conn, str(chat.id))
    voice = Voice.of(chat.type, context.language)
    if reader is None:
        pick = context.gettext("Pick some with /topics.")
        await query.answer(f"{voice.follows_nothing()} {pick}", show_alert=True)
        return
    text = settings_text(reader, context.newsroom.settings, voice)
    if await may_change_follows(update, context):
        await context.bot.send_message(chat.id, text, reply_markup=keyboards.cadence_keyboard(reader.cadences, voice))
    else:  # a group's member: the buttons would only refuse
        await context.bot.send_message(chat.id, f"{text}\n\n{context.gettext(ADMINS_ONLY)}")
    await query.answer()
