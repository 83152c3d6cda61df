"""A reader's own time in Telegram: their time zone and quiet hours, from ``/settings``.

``/settings`` carries a "Time zone and quiet hours" button that opens a panel: a few likely zones as buttons
(those of the reader's language, and the outlet's), a few common quiet hours (21:00–07:00, 22:00–07:00,
23:00–06:00, 22:00–08:00) or none, and whether breaking news rings anyway or waits. Any other zone is typed:
``/settings Asia/Tokyo``, other hours too: ``/settings quiet 23:00-06:30``; what does not parse gets a polite
reply.
In a group, as for its topics, only admins change them.

Callback data: ``tm`` opens the panel, ``tz:<zone>``, ``qh:2200-0700`` (quiet hours from-until) / ``qh:off``
(``qh:on``, from panels drawn before there was a choice, is 22:00–07:00), ``qb:ring`` / ``qb:wait``.
"""

from __future__ import annotations

import dataclasses
import html

from telegram import CallbackQuery, Chat, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update

from bot.app.config import Settings
from bot.outbox.reader_hours import InvalidQuietHours, UnknownZone, parse_minutes, parse_zone
from bot.readers import topic_keyboards as keyboards
from bot.readers.chat_buttons import edit_in_place
from bot.readers.chat_context import ChatContext, chat_subscriber
from bot.readers.chat_handlers import chat_button
from bot.readers.chat_replies import Voice
from subscribers import reader_time
from subscribers.reader_time import ReaderTime

OPEN, ZONE, QUIET, BREAKING = keyboards.TIME, "tz", "qh", "qb"
OPEN_PATTERN = rf"^{OPEN}$"
ZONE_PATTERN = rf"^{ZONE}:[A-Za-z0-9_+\-/]+$"
QUIET_PATTERN = rf"^{QUIET}:(on|off|[0-2][0-9][0-5][0-9]-[0-2][0-9][0-5][0-9])$"
BREAKING_PATTERN = rf"^{BREAKING}:(ring|wait)$"
#: The quiet hours offered first (the email preference page's default), in minutes after local midnight.
NIGHT = (22 * 60, 7 * 60)
#: The quiet hours the panel offers as buttons; others are typed (``/settings quiet 23:00-06:30``).
QUIET_SPANS = ((21 * 60, 7 * 60), NIGHT, (23 * 60, 6 * 60), (22 * 60, 8 * 60))
SPANS_PER_ROW = 2
#: Zones a reader of each language most likely lives in (the outlet's own is always offered too).
LIKELY_ZONES = {
    "en": ("Europe/London", "America/New_York", "America/Los_Angeles", "Australia/Sydney"),
    "de": ("Europe/Berlin", "Europe/Vienna", "Europe/Zurich"),
    "es": ("Europe/Madrid", "America/Mexico_City", "America/Bogota", "America/Argentina/Buenos_Aires"),
}
ZONES_PER_ROW = 2


def likely_zones(language: str, settings: Settings, current: str | None) -> list[str]:
    """The outlet's zone, the reader's own (if typed), then those of their language; each once."""
    zones = [settings.digest_timezone, *([current] if current else []), *LIKELY_ZONES.get(language, ())]
    return list(dict.fromkeys(zones))


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _compact(minutes: int) -> str:
    return f"{minutes // 60:02d}{minutes % 60:02d}"


def quiet_span(value: str) -> tuple[int | None, int | None]:
    """The quiet hours a button's value sets: ``2200-0700``, ``on`` (22:00–07:00) or ``off``.

    Raises InvalidQuietHours for a value no button sends (24:00, 07:60).
    """
    if value == "off":
        return None, None
    if value == "on":
        return NIGHT
    start, _, end = value.partition("-")
    return parse_minutes(f"{start[:2]}:{start[2:]}", "from"), parse_minutes(f"{end[:2]}:{end[2:]}", "until")


def time_text(time: ReaderTime, settings: Settings, voice: Voice) -> str:
    """The reader's zone, quiet hours and breaking-news choice, in their language."""
    _ = voice.gettext
    zone = html.escape(time.timezone or settings.digest_timezone)
    if time.has_quiet_hours:
        assert time.quiet_from is not None and time.quiet_until is not None
        quiet = _("Quiet hours: %(start)s–%(end)s; stories wait until they end.") % {
            "start": _hhmm(time.quiet_from),
            "end": _hhmm(time.quiet_until),
        }
        quiet += " " + (
            _("Breaking news waits too.") if time.quiet_holds_breaking else _("Breaking news still comes at once.")
        )
    else:
        quiet = _("Quiet hours: none.")
    typed = _("Another zone? Send it, e.g. <code>/settings Asia/Tokyo</code>.")
    heading = _("Your time")
    zone_line = _("Time zone: %(zone)s") % {"zone": zone}
    return f"<b>{heading}</b>\n{zone_line}\n{quiet}\n\n{typed}"


def time_keyboard(time: ReaderTime, settings: Settings, voice: Voice) -> InlineKeyboardMarkup:
    """The likely zones (the current one checked), quiet hours on or off, breaking news rings or waits."""
    _ = voice.gettext
    current = time.timezone or settings.digest_timezone
    zones = [
        InlineKeyboardButton(f"{'✅ ' if zone == current else ''}{zone}", callback_data=f"{ZONE}:{zone}")
        for zone in likely_zones(voice.language, settings, time.timezone)
    ]
    rows = [zones[i : i + ZONES_PER_ROW] for i in range(0, len(zones), ZONES_PER_ROW)]
    current_span = (time.quiet_from, time.quiet_until) if time.has_quiet_hours else None
    spans = [
        InlineKeyboardButton(
            f"{'✅ ' if span == current_span else ''}🌙 {_hhmm(span[0])}–{_hhmm(span[1])}",
            callback_data=f"{QUIET}:{_compact(span[0])}-{_compact(span[1])}",
        )
        for span in QUIET_SPANS
    ]
    rows.extend(spans[i : i + SPANS_PER_ROW] for i in range(0, len(spans), SPANS_PER_ROW))
    off = "" if time.has_quiet_hours else "✅ "
    rows.append([InlineKeyboardButton(off + _("No quiet hours"), callback_data=f"{QUIET}:off")])
    if time.has_quiet_hours:
        ring, wait = ("" if time.quiet_holds_breaking else "✅ "), ("✅ " if time.quiet_holds_breaking else "")
        rows.append(
            [
                InlineKeyboardButton(ring + _("Breaking news rings"), callback_data=f"{BREAKING}:ring"),
                InlineKeyboardButton(wait + _("Breaking news waits"), callback_data=f"{BREAKING}:wait"),
            ]
        )
    return InlineKeyboardMarkup(rows)


async def _load(context: ChatContext, subscriber_id: int) -> ReaderTime:
    async with context.newsroom.engine.connect() as conn:
        return await reader_time.reader_time(conn, subscriber_id)


async def _store(context: ChatContext, subscriber_id: int, time: ReaderTime) -> None:
    async with context.newsroom.engine.begin() as conn:
        await reader_time.set_reader_time(conn, subscriber_id, time)


async def type_setting(context: ChatContext, chat: Chat, message: Message, typed: str) -> None:
    """``/settings <zone>`` or ``/settings quiet 23:00-06:30``."""
    words = typed.split(maxsplit=1)
    if words[0].casefold() == "quiet":
        await _type_quiet(context, chat, message, words[1] if len(words) > 1 else "")
    else:
        await _type_zone(context, chat, message, typed)


async def _type_quiet(context: ChatContext, chat: Chat, message: Message, typed: str) -> None:
    """Quiet hours typed as ``23:00-06:30``, or a polite example when they do not parse."""
    voice = Voice.of(chat.type, context.language)
    start, _, end = typed.replace("–", "-").partition("-")
    try:
        quiet = (parse_minutes(start, "from"), parse_minutes(end, "until"))
    except InvalidQuietHours:
        await message.reply_text(
            voice.gettext("Please send quiet hours as two times, e.g. <code>/settings quiet 23:00-06:30</code>.")
        )
        return
    subscriber_id = await chat_subscriber(context, chat)
    time = dataclasses.replace(await _load(context, subscriber_id), quiet_from=quiet[0], quiet_until=quiet[1])
    await _store(context, subscriber_id, time)
    await _answer_typed(message, context, voice, time, voice.gettext("Done: your quiet hours are saved."))


async def _answer_typed(message: Message, context: ChatContext, voice: Voice, time: ReaderTime, done: str) -> None:
    """One reply: what changed, then the panel with its buttons."""
    settings = context.newsroom.settings
    text = f"✅ {done}\n\n{time_text(time, settings, voice)}"
    await message.reply_text(text, reply_markup=time_keyboard(time, settings, voice))


async def _type_zone(context: ChatContext, chat: Chat, message: Message, typed: str) -> None:
    """A typed zone: store it, or say politely that it is unknown."""
    voice = Voice.of(chat.type, context.language)
    try:
        zone = parse_zone(typed)
    except UnknownZone:
        await message.reply_text(
            voice.gettext(
                "I don't know the time zone %(zone)s. Please send a name such as <code>/settings Europe/Berlin</code>"
                " or <code>/settings America/New_York</code>."
            )
            % {"zone": html.escape(typed[:64])}
        )
        return
    subscriber_id = await chat_subscriber(context, chat)
    time = dataclasses.replace(await _load(context, subscriber_id), timezone=zone)
    await _store(context, subscriber_id, time)
    done = voice.gettext("Done: your time zone is now %(zone)s.") % {"zone": html.escape(zone)}
    await _answer_typed(message, context, voice, time, done)


async def _redraw(query: CallbackQuery, context: ChatContext, chat: Chat, time: ReaderTime) -> None:
    voice = Voice.of(chat.type, context.language)
    settings = context.newsroom.settings
    await edit_in_place(query, time_text(time, settings, voice), time_keyboard(time, settings, voice))
    await query.answer()


@chat_button(changes_follows=True)
async def open_panel(update: Update, context: ChatContext, query: CallbackQuery, chat: Chat, data: str) -> None:
    """The time panel, in place of the ``/settings`` message."""
    await _redraw(query, context, chat, await _load(context, await chat_subscriber(context, chat)))


@chat_button(changes_follows=True)
async def choose_time(update: Update, context: ChatContext, query: CallbackQuery, chat: Chat, data: str) -> None:
    """A zone, quiet-hours or breaking-news button: store the choice and redraw the panel."""
    kind, _, value = data.partition(":")
    subscriber_id = await chat_subscriber(context, chat)
    time = await _load(context, subscriber_id)
    if kind == ZONE:
        try:
            time = dataclasses.replace(time, timezone=parse_zone(value))
        except UnknownZone:
            await query.answer(context.gettext("That time zone is no longer available; send /settings again."))
            return
    elif kind == QUIET:
        try:
            start, end = quiet_span(value)
        except InvalidQuietHours:
            await query.answer(context.gettext("Those quiet hours are not offered; send /settings again."))
            return
        time = dataclasses.replace(time, quiet_from=start, quiet_until=end)
    else:
        time = dataclasses.replace(time, quiet_holds_breaking=value == "wait")
    await _store(context, subscriber_id, time)
    await _redraw(query, context, chat, time)
