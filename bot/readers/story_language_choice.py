"""Which story languages a reader gets, from ``/settings``: only stories written in the languages they tick.

The "Story languages" button of ``/settings`` opens a panel with one toggle per language on offer and "All
languages", which is also what a reader who ticks nothing gets. On offer are the languages a reader can meet here:
the outlet's own (``NEWSBOT_DEFAULT_LANGUAGE``), every language it has published a story in, and any the reader
chose before; each is named in its own words ("Deutsch"), as on the ``/language`` buttons. The email preference
page offers the same (:func:`offered_languages`). In a group, as for its topics, only admins change them.

Callback data: ``sl`` opens the panel, ``sl:<code>`` toggles a language, ``sl:*`` takes every language again.
"""

from __future__ import annotations

import html
from collections.abc import Collection

from telegram import CallbackQuery, Chat, InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.app.newsroom import Newsroom
from bot.languages.catalogs import language_name
from bot.languages.language_codes import language_code
from bot.readers import topic_keyboards as keyboards
from bot.readers.chat_buttons import edit_in_place
from bot.readers.chat_context import ChatContext, chat_subscriber
from bot.readers.chat_handlers import chat_button
from bot.readers.chat_replies import Voice
from subscribers import story_language_filters

OPEN = keyboards.STORY_LANGUAGES
EVERY = "*"
OPEN_PATTERN = rf"^{OPEN}$"
TOGGLE_PATTERN = rf"^{OPEN}:([a-z]{{2,8}}|\{EVERY})$"
LANGUAGES_PER_ROW = 2


async def offered_languages(newsroom: Newsroom, chosen: Collection[str]) -> list[str]:
    """The languages a reader may pick: the outlet's, those it has published in, and the reader's *chosen* ones;
    the outlet's first, then by code."""
    async with newsroom.reader.connect() as conn:
        published = await story_language_filters.published_languages(conn)
    default = newsroom.settings.default_language
    return [default, *sorted({*published, *chosen} - {default})]


def panel_text(chosen: Collection[str], voice: Voice) -> str:
    """What the reader gets now, and how the buttons change it."""
    _ = voice.gettext
    if chosen:
        names = html.escape(", ".join(language_name(code) for code in sorted(chosen)))
        now = voice.pick(
            _("You get only stories written in %(languages)s."),
            _("This chat gets only stories written in %(languages)s."),
            languages=names,
        )
    else:
        now = voice.pick(_("You get stories in every language."), _("This chat gets stories in every language."))
    heading = _("Story languages")
    hint = _("Tap languages to get only stories written in them; All languages brings every story back.")
    return f"<b>{heading}</b>\n{now}\n\n{hint}"


def panel_keyboard(offered: list[str], chosen: Collection[str], voice: Voice) -> InlineKeyboardMarkup:
    """A toggle per offered language (the chosen ones checked), then All languages (checked when none is)."""
    mark = keyboards.FOLLOWED_MARK + " "
    toggles = [
        InlineKeyboardButton(f"{mark if code in chosen else ''}{language_name(code)}", callback_data=f"{OPEN}:{code}")
        for code in offered
    ]
    rows = [toggles[i : i + LANGUAGES_PER_ROW] for i in range(0, len(toggles), LANGUAGES_PER_ROW)]
    every = voice.gettext("All languages")
    rows.append([InlineKeyboardButton(("" if chosen else mark) + every, callback_data=f"{OPEN}:{EVERY}")])
    return InlineKeyboardMarkup(rows)


def toggled(chosen: frozenset[str], code: str) -> frozenset[str]:
    """The choice after tapping *code*: added, or taken away (taking the last away means every language)."""
    return chosen - {code} if code in chosen else chosen | {code}


async def _redraw(query: CallbackQuery, context: ChatContext, chat: Chat, chosen: frozenset[str]) -> None:
    voice = Voice.of(chat.type, context.language)
    offered = await offered_languages(context.newsroom, chosen)
    await edit_in_place(query, panel_text(chosen, voice), panel_keyboard(offered, chosen, voice))
    await query.answer()


@chat_button(changes_follows=True)
async def open_panel(update: Update, context: ChatContext, query: CallbackQuery, chat: Chat, data: str) -> None:
    """The story-language panel, in place of the ``/settings`` message."""
    subscriber_id = await chat_subscriber(context, chat)
    async with context.newsroom.engine.connect() as conn:
        chosen = await story_language_filters.story_languages_of(conn, subscriber_id)
    await _redraw(query, context, chat, chosen)


@chat_button(changes_follows=True)
async def choose_language(update: Update, context: ChatContext, query: CallbackQuery, chat: Chat, data: str) -> None:
    """A language toggle or All languages: store the choice and redraw the panel."""
    value = data.partition(":")[2]
    code = None if value == EVERY else language_code(value)
    if value != EVERY and code is None:
        await query.answer(context.gettext("That language is no longer available; send /settings again."))
        return
    subscriber_id = await chat_subscriber(context, chat)
    async with context.newsroom.engine.begin() as conn:
        chosen = await story_language_filters.story_languages_of(conn, subscriber_id)
        chosen = frozenset() if code is None else toggled(chosen, code)
        await story_language_filters.set_story_languages(conn, subscriber_id, chosen)
    await _redraw(query, context, chat, chosen)
