"""The editor's preview of a draft: the reader's copy exactly, with its buttons, as a photo when it has a picture.

The preview is built by the same `telegram_story` readers get, so what the editor sees is what goes out: the text
(a photo's caption when the story has a picture), the link it previews and Read more. Unfollow and Settings are
shown but inert: their callback data is ``pv:unf`` / ``pv:set``, which only says what the button does for a reader
(the real ones would unfollow or open the editor's own settings). Changing the headline goes through the intake
again (`with_headline`), so a derived headline's lead sentence comes back into the summary instead of being lost.
"""

from __future__ import annotations

import dataclasses

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import CallbackQueryHandler

from bot.app.newsroom import Newsroom
from bot.channels.base import Button, Keyboard
from bot.editors.desk_access import editor_allowed
from bot.editors.drafts import PendingStory
from bot.outbox.story_messages import TelegramStory, telegram_story
from bot.readers.story_buttons import SETTINGS, UNFOLLOW
from bot.stories.intake import prepare_for
from bot.stories.parsing import StoryDraft
from bot.stories.story import Story

PREVIEW_PATTERN = r"^pv:(unf|set)$"
_DRAFT_FIELDS = tuple(field.name for field in dataclasses.fields(StoryDraft))
_INERT = {UNFOLLOW: "pv:unf", SETTINGS: "pv:set"}
_TOASTS = {
    "pv:unf": "Preview: for a reader this stops following the first of the story's topics they follow.",
    "pv:set": "Preview: for a reader this opens their settings (cadence per channel).",
}


def preview_markup(keyboard: Keyboard) -> InlineKeyboardMarkup:
    """The reader's buttons with their callbacks made inert (Read more stays the real link)."""
    return InlineKeyboardMarkup([[_inert(button) for button in row] for row in keyboard])


def _inert(button: Button) -> InlineKeyboardButton:
    if button.url is not None:
        return InlineKeyboardButton(button.text, url=button.url)
    unfollow = (button.callback or "").startswith(f"{UNFOLLOW}:")
    return InlineKeyboardButton(button.text, callback_data=_INERT[UNFOLLOW if unfollow else SETTINGS])


def _link_preview(copy: TelegramStory) -> LinkPreviewOptions:
    url = copy.link_preview.url
    if url is None:
        return LinkPreviewOptions(is_disabled=True)
    return LinkPreviewOptions(url=url, prefer_large_media=True, show_above_text=False)


async def show_preview(newsroom: Newsroom, update: Update, pending: PendingStory, story: Story) -> bool:
    """Send the preview of *story*, or bring the draft's shown one up to date; True when it was sent anew.

    A text preview cannot become a photo (nor the other way round) by an edit, so then it is sent anew and the
    caller sends its panel again below it.
    """
    chat = update.effective_chat
    assert chat is not None
    copy = telegram_story(newsroom, story)
    markup = preview_markup(copy.keyboard)
    shown = pending.preview
    if shown is not None and bool(shown.photo) == (copy.photo is not None):
        if pending.preview_html != copy.content or shown.reply_markup != markup:
            pending.preview = await _edit(shown, copy, markup)
        pending.preview_html = copy.content
        return False
    if shown is not None:
        await shown.delete()
    if copy.photo is not None:
        sent = await chat.send_photo(copy.photo, caption=copy.content, parse_mode=ParseMode.HTML, reply_markup=markup)
    else:
        sent = await chat.send_message(
            copy.content, parse_mode=ParseMode.HTML, reply_markup=markup, link_preview_options=_link_preview(copy)
        )
    pending.preview, pending.preview_html = sent, copy.content
    return True


async def _edit(shown: Message, copy: TelegramStory, markup: InlineKeyboardMarkup) -> Message:
    try:
        if shown.photo:
            edited = await shown.edit_caption(copy.content, parse_mode=ParseMode.HTML, reply_markup=markup)
        else:
            edited = await shown.edit_text(
                copy.content, parse_mode=ParseMode.HTML, reply_markup=markup, link_preview_options=_link_preview(copy)
            )
    except BadRequest as exc:
        if "not modified" in exc.message.lower():
            return shown
        raise
    return edited if isinstance(edited, Message) else shown


def with_headline(newsroom: Newsroom, story: Story, headline: str) -> Story:
    """*story* with the editor's *headline*, its summary made again by the intake from the same text.

    A derived headline's summary starts after the lead sentence; with the editor's own headline that sentence
    belongs in the summary again, so the summary is recomputed exactly as a story with that title would get it.
    The editor's topic choice, schedule and follow-up stay as they are.
    """
    # Every field the two share comes along, so one added to both later is not silently dropped here.
    kept = {name: getattr(story, name) for name in _DRAFT_FIELDS if hasattr(story, name)}
    draft = StoryDraft(**{**kept, "title": headline, "topics": story.given_topics})
    prepared = prepare_for(newsroom, draft, source=story.source or "telegram")
    return dataclasses.replace(story, title=prepared.title, summary=prepared.summary, derived_headline=None)


def preview_button_handler(newsroom: Newsroom) -> CallbackQueryHandler[object, None]:
    """Answers a tap on the preview's inert Unfollow or Settings with what it does for a reader."""

    async def answer(update: Update, context: object) -> None:
        query = update.callback_query
        if query is not None and await editor_allowed(update, newsroom):
            await query.answer(_TOASTS.get(query.data or "", "Preview only."))

    return CallbackQueryHandler(answer, pattern=PREVIEW_PATTERN)
