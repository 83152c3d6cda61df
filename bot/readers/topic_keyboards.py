"""Inline keyboards of the reader bot and the compact callback data behind their buttons.

Telegram limits callback data to 64 bytes, so every button carries a short, readable code:

``tp:<page>:<slug>``  toggle a topic on a page of the picker      ``pg:<page>``  show another page
``done``              close the picker                            ``noop``       the page counter
``cad:<channel>:<cadence>``  set a channel's cadence              ``stop:yes`` / ``stop:no``  confirm /stop
``fl:<slug>``         follow a suggested topic ("Did you mean North Korea?", free text naming a topic)
``lang:<code>``       read newsbot in this language (/language)
``tm``                open the time zone and quiet hours panel (``bot.readers.time_choice``, under /settings)
``sl``                open the story-language panel (``bot.readers.story_language_choice``, under /settings)

Labels are in the chat's language (its `Voice`); callback data never is. Topics are named by slug, never by
position, so a keyboard sent before the taxonomy changed can never toggle the wrong topic.
`check_callback_data_fits` runs at start-up and names any slug too long for a button.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.app.errors import ConfigurationError
from bot.languages.catalogs import N_, language_name, languages
from bot.readers.chat_replies import Voice
from bot.topics.taxonomy import Taxonomy
from subscribers.schema import Cadence, ChannelName

TOPICS_PER_PAGE = 8
TOPICS_PER_ROW = 2
MAX_CALLBACK_BYTES = 64
FOLLOWED_MARK = "✅"

TOGGLE = "tp"
PAGE = "pg"
DONE = "done"
NOOP = "noop"
CADENCE = "cad"
STOP = "stop"
FOLLOW = "fl"
LANGUAGE = "lang"
TIME = "tm"
STORY_LANGUAGES = "sl"
#: A reply offers at most this many "Follow ..." buttons (one per suggested topic).
MAX_SUGGESTIONS = 5

#: Patterns for the CallbackQueryHandlers, one per kind of button.
TOGGLE_PATTERN = rf"^{TOGGLE}:\d+:[a-z0-9-]+$"
PAGE_PATTERN = rf"^{PAGE}:\d+$"
DONE_PATTERN = rf"^{DONE}$"
NOOP_PATTERN = rf"^{NOOP}$"
CADENCE_PATTERN = rf"^{CADENCE}:[a-z]+:[a-z]+$"
STOP_PATTERN = rf"^{STOP}:(yes|no)$"
FOLLOW_PATTERN = rf"^{FOLLOW}:[a-z0-9-]+$"
LANGUAGE_PATTERN = rf"^{LANGUAGE}:[a-z]+$"

CADENCE_LABELS = {Cadence.INSTANT: N_("Instant"), Cadence.WEEKLY: N_("Weekly digest"), Cadence.OFF: N_("Off")}
CHANNEL_ICONS = {ChannelName.TELEGRAM: "💬", ChannelName.EMAIL: "✉️"}


@dataclass(frozen=True, slots=True)
class Toggle:
    page: int
    slug: str


@dataclass(frozen=True, slots=True)
class CadenceChoice:
    channel: ChannelName
    cadence: Cadence


def page_count(taxonomy: Taxonomy) -> int:
    return max(1, math.ceil(len(taxonomy) / TOPICS_PER_PAGE))


def clamp_page(taxonomy: Taxonomy, page: int) -> int:
    """A page that exists, whatever an old keyboard asks for."""
    return min(max(page, 0), page_count(taxonomy) - 1)


def page_of(taxonomy: Taxonomy, slug: str) -> int:
    """The picker page that shows *slug*."""
    return taxonomy.slugs.index(slug) // TOPICS_PER_PAGE


def topic_picker(taxonomy: Taxonomy, followed: Collection[str], voice: Voice, page: int = 0) -> InlineKeyboardMarkup:
    """One page of topics, two per row, a check mark on those followed, then page navigation and Done."""
    _ = voice.gettext
    page = clamp_page(taxonomy, page)
    pages = page_count(taxonomy)
    shown = list(taxonomy)[page * TOPICS_PER_PAGE : (page + 1) * TOPICS_PER_PAGE]
    buttons = [
        InlineKeyboardButton(
            f"{FOLLOWED_MARK} {topic.name}" if topic.slug in followed else topic.name,
            callback_data=f"{TOGGLE}:{page}:{topic.slug}",
        )
        for topic in shown
    ]
    rows = [buttons[i : i + TOPICS_PER_ROW] for i in range(0, len(buttons), TOPICS_PER_ROW)]
    if pages > 1:
        rows.append(
            [
                InlineKeyboardButton(_("‹ Back"), callback_data=f"{PAGE}:{(page - 1) % pages}"),
                InlineKeyboardButton(f"{page + 1} / {pages}", callback_data=NOOP),
                InlineKeyboardButton(_("More ›"), callback_data=f"{PAGE}:{(page + 1) % pages}"),
            ]
        )
    rows.append([InlineKeyboardButton(_("Done"), callback_data=DONE)])
    return InlineKeyboardMarkup(rows)


def cadence_keyboard(cadences: Mapping[str, str], voice: Voice) -> InlineKeyboardMarkup:
    """One row per channel the reader has an address on: instant, weekly digest or off, the current one checked;
    then the buttons that open the reader's story languages and their time zone and quiet hours."""
    rows = []
    for channel in ChannelName:
        current = cadences.get(channel.value)
        if current is None:
            continue
        rows.append(
            [
                InlineKeyboardButton(
                    f"{CHANNEL_ICONS[channel]} {FOLLOWED_MARK + ' ' if cadence.value == current else ''}"
                    + voice.gettext(label),
                    callback_data=f"{CADENCE}:{channel.value}:{cadence.value}",
                )
                for cadence, label in CADENCE_LABELS.items()
            ]
        )
    rows.append([InlineKeyboardButton("🌐 " + voice.gettext("Story languages"), callback_data=STORY_LANGUAGES)])
    rows.append([InlineKeyboardButton("🕒 " + voice.gettext("Time zone and quiet hours"), callback_data=TIME)])
    return InlineKeyboardMarkup(rows)


def follow_buttons(taxonomy: Taxonomy, slugs: Sequence[str], voice: Voice) -> InlineKeyboardMarkup | None:
    """One "Follow <topic>" button per suggested topic (the first few), or None when there is nothing to offer."""
    shown = [slug for slug in slugs if slug in taxonomy][:MAX_SUGGESTIONS]
    if not shown:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(follow % {"topic": taxonomy[slug].name}, callback_data=f"{FOLLOW}:{slug}")]
            for follow in [voice.gettext("Follow %(topic)s")]
            for slug in shown
        ]
    )


def parse_follow(data: str) -> str:
    return data.split(":", 1)[1]


def stop_confirmation(voice: Voice) -> InlineKeyboardMarkup:
    _ = voice.gettext
    yes = _("Yes, erase everything")
    no = voice.pick(_("No, keep my topics"), _("No, keep this chat's topics"))
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(yes, callback_data=f"{STOP}:yes"), InlineKeyboardButton(no, callback_data=f"{STOP}:no")]]
    )


def language_keyboard(current: str, voice: Voice) -> InlineKeyboardMarkup:
    """One button per language newsbot speaks, each in its own name ("Deutsch"), the current one checked."""
    buttons = [
        InlineKeyboardButton(
            f"{FOLLOWED_MARK + ' ' if code == current else ''}{language_name(code)}", callback_data=f"{LANGUAGE}:{code}"
        )
        for code in languages()
    ]
    return InlineKeyboardMarkup([buttons[i : i + TOPICS_PER_ROW] for i in range(0, len(buttons), TOPICS_PER_ROW)])


def parse_language(data: str) -> str:
    return data.split(":", 1)[1]


def parse_toggle(data: str) -> Toggle:
    _, page, slug = data.split(":", 2)
    return Toggle(int(page), slug)


def parse_page(data: str) -> int:
    return int(data.split(":", 1)[1])


def parse_cadence_choice(data: str) -> CadenceChoice | None:
    """The channel and cadence of a button; None for a value this version does not know (an old keyboard)."""
    _, channel, cadence = data.split(":", 2)
    try:
        return CadenceChoice(ChannelName(channel), Cadence(cadence))
    except ValueError:
        return None


def check_callback_data_fits(taxonomy: Taxonomy) -> None:
    """Refuse, at start-up, a taxonomy whose slugs do not fit in a button's 64 bytes of callback data."""
    last_page = page_count(taxonomy) - 1
    for topic in taxonomy:
        data = f"{TOGGLE}:{last_page}:{topic.slug}"
        if len(data.encode()) > MAX_CALLBACK_BYTES:
            room = MAX_CALLBACK_BYTES - len(f"{TOGGLE}:{last_page}:")
            raise ConfigurationError(
                f"topic slug {topic.slug!r} is too long for a Telegram button (at most {room} characters)"
            )
