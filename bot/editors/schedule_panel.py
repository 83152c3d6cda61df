"""The Schedule control of the editors' panel: choose when a draft goes out, then move or cancel it until it does.

In the draft panel, Schedule offers a few likely moments (in an hour, tomorrow 06:00 in ``NEWSBOT_DIGEST_TIMEZONE``)
and a typed time; the moment becomes the draft's ``publish_at`` (the embargo every door has) and the panel says
"goes out at …". After Send, the panel of a scheduled story offers Move and Cancel schedule, which call
`bot.stories.embargo.reschedule_story` and `cancel_scheduled_story`, the one path the CLI and the API take too.
Every moment comes from the newsroom's clock.

Callback data (the draft's or the sent story's nonce, as in `bot.editors.panel`):
``ed:<n>:sched`` open the choices, ``ed:<n>:at:<choice>`` choose one (``type``: the next message is the time,
``none``: at once); on a sent panel ``ed:<n>:move``, ``ed:<n>:mv:<choice>``, ``ed:<n>:mvback``, ``ed:<n>:unschedule``.
"""

from __future__ import annotations

import dataclasses
import html
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, MessageHandler, filters

from bot.app.errors import InvalidSchedule, NewsbotError
from bot.app.newsroom import Newsroom
from bot.editors.audit import telegram_actor
from bot.editors.chat_input import STORY_TEXT, Context
from bot.editors.desk_access import editor_allowed
from bot.editors.drafts import DRAFT_KEY, PendingStory
from bot.editors.panel import callback, edit_message
from bot.editors.progress import SENT_KEY, ProgressWatch
from bot.stories.embargo import cancel_scheduled_story, require_aware, reschedule_story
from bot.stories.story import Story

log = logging.getLogger(__name__)

SENT_PATTERN = r"^ed:[0-9a-f]+:(move|mv:\w+|mvback|unschedule)$"
#: The hour "tomorrow morning" means, in the newsroom's time zone.
MORNING = time(6, 0)
TYPE_A_TIME = (
    "Send the time as your next message, e.g. 2026-12-02 08:00 (in {zone}) or 2026-12-02T08:00+01:00 with its offset."
)

Show = Callable[[Update, PendingStory], Awaitable[None]]


def choices(now: datetime, zone: ZoneInfo) -> dict[str, tuple[str, datetime]]:
    """The moments offered, by key: their button label and the moment itself."""
    soon = (now + timedelta(hours=1)).replace(second=0, microsecond=0)
    tomorrow = datetime.combine(now.astimezone(zone).date() + timedelta(days=1), MORNING, tzinfo=zone)
    return {
        "1h": (f"In 1 hour ({soon.astimezone(zone):%H:%M})", soon),
        "tm": (f"Tomorrow {MORNING:%H:%M}", tomorrow),
    }


def parse_typed_time(text: str, zone: ZoneInfo) -> datetime:
    """A time the editor typed: ISO 8601, with its offset or else in the newsroom's zone; InvalidSchedule if not."""
    try:
        moment = datetime.fromisoformat(" ".join(text.split()))
    except ValueError:
        raise InvalidSchedule(f"{text.strip()[:60]!r} is not a date and time such as 2026-12-02 08:00") from None
    return require_aware(moment if moment.tzinfo is not None else moment.replace(tzinfo=zone))


def when(moment: datetime, zone: ZoneInfo) -> str:
    """A moment as the editor reads it: in the newsroom's zone, with the zone's name."""
    return f"{moment.astimezone(zone):%a %d %b %Y %H:%M %Z}"


def schedule_line(pending: PendingStory, zone: ZoneInfo, now: datetime) -> str | None:
    """The panel's line about the schedule, or None when the draft goes out at Send."""
    if pending.awaiting_time:
        return "🕒 " + html.escape(TYPE_A_TIME.format(zone=zone.key))
    moment = pending.story.publish_at
    if moment is None or moment <= now:
        return None
    return f"🕒 Goes out at {when(moment, zone)}, not at Send. Nothing of it is sent before then."


def choice_rows(nonce: str, prefix: str, now: datetime, zone: ZoneInfo) -> list[list[InlineKeyboardButton]]:
    rows = [
        [InlineKeyboardButton(label, callback_data=callback(nonce, f"{prefix}:{key}"))]
        for key, (label, _) in choices(now, zone).items()
    ]
    rows.append([InlineKeyboardButton("⌨️ Type a time", callback_data=callback(nonce, f"{prefix}:type"))])
    return rows


def draft_keyboard(pending: PendingStory, now: datetime, zone: ZoneInfo) -> list[list[InlineKeyboardButton]]:
    """The Schedule choices in the draft panel (above its Send row)."""
    rows = choice_rows(pending.nonce, "at", now, zone)
    if pending.story.publish_at is not None:
        rows.append([InlineKeyboardButton("▶ At Send, no schedule", callback_data=callback(pending, "at:none"))])
    rows.append([InlineKeyboardButton("↩ Back", callback_data=callback(pending, "back"))])
    return rows


def scheduled_keyboard(nonce: str) -> InlineKeyboardMarkup:
    """A scheduled story's panel after Send."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("🕒 Move", callback_data=callback(nonce, "move")),
                InlineKeyboardButton("✖ Cancel schedule", callback_data=callback(nonce, "unschedule")),
            ]
        ]
    )


def scheduled_text(watch: ProgressWatch, moment: datetime, zone: ZoneInfo) -> str:
    return "\n".join(part for part in (watch.header, f"🕒 Goes out at {when(moment, zone)}.", watch.note) if part)


class ScheduleDesk:
    """The Schedule buttons of drafts and of scheduled stories' panels, and the time an editor types."""

    def __init__(self, newsroom: Newsroom, show: Show) -> None:
        self.newsroom = newsroom
        self.zone = ZoneInfo(newsroom.settings.digest_timezone)
        self.show = show
        #: Editors whose next message is a time, and for which panel: ("draft" | "sent", nonce).
        self.awaiting: dict[int, tuple[str, str]] = {}
        self.awaiting_users = filters.User(allow_empty=False)

    def handlers(self) -> list[BaseHandler[Any, Any, Any]]:
        """Before the desk's conversation: a typed time wins over "replace the draft?"."""
        typed = STORY_TEXT & self.awaiting_users
        return [MessageHandler(typed, self.receive_time)]

    def sent_handler(self) -> BaseHandler[Any, Any, Any]:
        return CallbackQueryHandler(self.sent_button, pattern=SENT_PATTERN)

    def _await(self, user_id: int, target: str, nonce: str) -> None:
        self.awaiting[user_id] = (target, nonce)
        self.awaiting_users.add_user_ids(user_id)

    def _done_waiting(self, user_id: int) -> None:
        self.awaiting.pop(user_id, None)
        self.awaiting_users.remove_user_ids(user_id)

    # --- the draft ------------------------------------------------------------------------------------------

    async def draft_button(self, update: Update, pending: PendingStory, choice: str) -> None:
        """``sched`` or ``at:<choice>`` on the open draft's panel; the caller redraws the panel."""
        query = update.callback_query
        assert query is not None and query.from_user is not None
        if choice == "":
            pending.choosing_time = True
            await query.answer()
            return
        pending.choosing_time = False
        if choice == "type":
            pending.awaiting_time = True
            self._await(query.from_user.id, "draft", pending.nonce)
            await query.answer("Send the time as your next message")
            return
        moment = (
            None if choice == "none" else choices(self.newsroom.clock.now(), self.zone).get(choice, (None, None))[1]
        )
        pending.story = _with_publish_at(pending.story, moment)
        await query.answer("At Send" if moment is None else f"Goes out at {when(moment, self.zone)}")

    def close_draft(self, user_id: int | None) -> None:
        """The draft was sent, cancelled or replaced: a time typed for it is no longer awaited."""
        if user_id is not None and self.awaiting.get(user_id, ("", ""))[0] == "draft":
            self._done_waiting(user_id)

    # --- the typed time -------------------------------------------------------------------------------------

    async def receive_time(self, update: Update, context: Context) -> None:
        message, user = update.effective_message, update.effective_user
        if message is None or user is None or not await editor_allowed(update, self.newsroom):
            return
        target, nonce = self.awaiting.get(user.id, ("", ""))
        try:
            moment = parse_typed_time(message.text or "", self.zone)
        except InvalidSchedule as exc:
            await message.reply_text(f"Not a time: {html.escape(str(exc), quote=False)}. Send it again.")
            return
        self._done_waiting(user.id)
        if target == "draft":
            pending: PendingStory | None = context.user_data.get(DRAFT_KEY)
            if pending is None or pending.nonce != nonce:
                await message.reply_text("That draft is closed; the time was not used.")
                return
            pending.awaiting_time = False
            pending.story = _with_publish_at(pending.story, moment)
            await self.show(update, pending)
            await message.reply_text(f"Scheduled: the draft goes out at {when(moment, self.zone)} once you Send.")
            return
        watch = context.user_data.get(SENT_KEY, {}).get(nonce)
        if watch is None:
            await message.reply_text("That panel is closed; the time was not used.")
            return
        await self._move(update, context, watch, moment, reply=message)

    # --- a scheduled story's panel --------------------------------------------------------------------------

    async def follow_scheduled(self, panel: Message, watch: ProgressWatch, moment: datetime) -> Message:
        """Show a story scheduled at Send: when it goes out, with Move and Cancel schedule."""
        return await edit_message(panel, scheduled_text(watch, moment, self.zone), scheduled_keyboard(watch.nonce))

    async def sent_button(self, update: Update, context: Context) -> None:
        query = update.callback_query
        if query is None or query.from_user is None or not await editor_allowed(update, self.newsroom):
            return
        _, nonce, action = (query.data or "").split(":", 2)
        watch: ProgressWatch | None = (context.user_data or {}).get(SENT_KEY, {}).get(nonce)
        if watch is None or not isinstance(query.message, Message):
            await query.answer("This panel is closed: use newsbot schedule STORY_ID.", show_alert=True)
            return
        kind, _, choice = action.partition(":")
        if kind == "move":
            keyboard = choice_rows(nonce, "mv", self.newsroom.clock.now(), self.zone)
            keyboard.append([InlineKeyboardButton("↩ Back", callback_data=callback(nonce, "mvback"))])
            await query.answer()
            await query.message.edit_reply_markup(reply_markup=InlineKeyboardMarkup(keyboard))
        elif kind == "mvback":
            await query.answer()
            await query.message.edit_reply_markup(reply_markup=scheduled_keyboard(nonce))
        elif kind == "mv" and choice == "type":
            self._await(query.from_user.id, "sent", nonce)
            await query.answer(TYPE_A_TIME.format(zone=self.zone.key)[:200], show_alert=True)
        elif kind == "mv":
            picked = choices(self.newsroom.clock.now(), self.zone).get(choice)
            if picked is None:
                await query.answer()
                return
            await self._move(update, context, watch, picked[1])
        else:
            await self._cancel(update, watch)

    async def _move(
        self, update: Update, context: Context, watch: ProgressWatch, moment: datetime, *, reply: Message | None = None
    ) -> None:
        user = update.effective_user
        assert user is not None
        query = update.callback_query
        try:
            report = await reschedule_story(
                self.newsroom, watch.story_id, moment, actor=await telegram_actor(self.newsroom, user.id, user.username)
            )
        except NewsbotError as exc:
            await _say(query, reply, f"Not moved: {exc}")
            return
        assert report.publish_at is not None
        watch.note = f"Moved from {when(report.previous, self.zone)}." if report.previous else ""
        await _say(query, reply, f"Goes out at {when(report.publish_at, self.zone)}")
        await context.bot.edit_message_text(
            scheduled_text(watch, report.publish_at, self.zone),
            chat_id=watch.chat_id,
            message_id=watch.message_id,
            reply_markup=scheduled_keyboard(watch.nonce),
        )

    async def _cancel(self, update: Update, watch: ProgressWatch) -> None:
        query = update.callback_query
        assert query is not None and query.from_user is not None and isinstance(query.message, Message)
        user = query.from_user
        try:
            report = await cancel_scheduled_story(
                self.newsroom, watch.story_id, actor=await telegram_actor(self.newsroom, user.id, user.username)
            )
        except NewsbotError as exc:
            await query.answer(str(exc)[:200], show_alert=True)
            return
        await query.answer("Schedule cancelled")
        text = f"{watch.header}\n✖ Cancelled: nothing of it goes out ({report.total} queued messages cancelled)."
        await edit_message(query.message, text, None)


def _with_publish_at(story: Story, moment: datetime | None) -> Story:
    return dataclasses.replace(story, publish_at=moment)


async def _say(query: Any, reply: Message | None, text: str) -> None:
    """Answer the button, or reply to the typed time."""
    if reply is not None:
        await reply.reply_text(html.escape(text, quote=False))
    elif query is not None:
        await query.answer(text[:200], show_alert=text.startswith("Not "))
