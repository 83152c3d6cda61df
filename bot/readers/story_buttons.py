"""The buttons under every story message in a reader's chat, and what a tap on them does.

A story message carries **Read more** (a link: the outlet's page, else newsbot's own page of the story),
**Unfollow <topic>** for the story's first topic and **Settings**. The keyboard is plain data
(`bot.channels.base.Button`), rendered once per story for every reader; its callback data is

``st:unf:<slug>``  stop following that topic (a toast says so)      ``st:set``  open the /settings keyboard
"""

from __future__ import annotations

from typing import Protocol

from telegram import CallbackQuery, Chat, Update

from bot.channels.base import Button, Keyboard
from bot.readers import topic_keyboards as keyboards
from bot.readers.chat_context import ChatContext
from bot.readers.chat_handlers import chat_button
from bot.readers.chat_membership import ADMINS_ONLY, may_change_follows
from bot.readers.chat_replies import Voice, lower_first, settings_text
from bot.rendering.reply_limits import shorten
from bot.rendering.story_links import read_more_url
from bot.topics.taxonomy import Taxonomy
from subscribers import chat_readers, follows

UNFOLLOW = "st:unf"
SETTINGS = "st:set"
UNFOLLOW_PATTERN = rf"^{UNFOLLOW}:[a-z0-9-]+$"
SETTINGS_PATTERN = rf"^{SETTINGS}$"
#: Button labels longer than this are shortened: a phone shows about that much of a button in a row of two.
_LABEL_CHARS = 28


class _PublicUrl(Protocol):
    public_url: str


class _KeyboardStory(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def url(self) -> str | None: ...
    @property
    def topics(self) -> tuple[str, ...]: ...


def story_keyboard(settings: _PublicUrl, taxonomy: Taxonomy, story: _KeyboardStory, *, reader: bool = True) -> Keyboard:
    """Read more on its own row, then Unfollow <first topic> and Settings (*reader* buttons: not for an outlet's
    channel, whose members are nobody's subscribers)."""
    rows: list[tuple[Button, ...]] = [(Button("Read more", url=read_more_url(settings, story)),)]
    if reader:
        topic = next((taxonomy[slug] for slug in story.topics if slug in taxonomy), None)
        second: list[Button] = []
        if topic is not None and len(f"{UNFOLLOW}:{topic.slug}".encode()) <= 64:
            second.append(Button(shorten(f"Unfollow {topic.name}", _LABEL_CHARS), callback=f"{UNFOLLOW}:{topic.slug}"))
        second.append(Button("Settings", callback=SETTINGS))
        rows.append(tuple(second))
    return tuple(rows)


@chat_button(changes_follows=True)
async def unfollow_topic(update: Update, context: ChatContext, query: CallbackQuery, chat: Chat, data: str) -> None:
    """Unfollow <topic> under a story: stop following it, and say so in a toast (the story stays as it was)."""
    slug = data.removeprefix(f"{UNFOLLOW}:")
    taxonomy = context.newsroom.taxonomy
    name = taxonomy[slug].name if slug in taxonomy else slug
    voice = Voice.of(chat.type)
    async with context.newsroom.engine.begin() as conn:
        reader = await chat_readers.find_chat_reader(conn, str(chat.id))
        removed = await follows.unfollow_topics(conn, reader.subscriber_id, [slug]) if reader else []
    if removed:
        await query.answer(f"Done: {lower_first(voice.follows('no longer'))} {name}. /topics to pick again.")
    else:
        await query.answer(f"{voice.was} not following {name}.")


@chat_button(changes_follows=False)
async def open_settings(update: Update, context: ChatContext, query: CallbackQuery, chat: Chat, data: str) -> None:
    """Settings under a story: the /settings message with its cadence buttons, as a new message in the chat."""
    async with context.newsroom.reader.connect() as conn:
        reader = await chat_readers.find_chat_reader(conn, str(chat.id))
    if reader is None:
        await query.answer(f"{Voice.of(chat.type).follows()} no topic yet. Pick some with /topics.", show_alert=True)
        return
    text = settings_text(reader, context.newsroom.settings)
    if await may_change_follows(update, context):
        await context.bot.send_message(chat.id, text, reply_markup=keyboards.cadence_keyboard(reader.cadences))
    else:  # a group's member: the buttons would only refuse
        await context.bot.send_message(chat.id, f"{text}\n\n{ADMINS_ONLY}")
    await query.answer()
