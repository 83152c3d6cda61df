"""After Send, the editor's panel follows the story out: "sent N of M", refreshed through the JobQueue, with Stop.

The refresh is a repeating job (every ``NEWSBOT_EDITOR_PROGRESS_SECONDS``) that reads the story's deliveries per
status and edits the panel; it removes itself once nothing is pending or being sent, when the panel is gone, or
after :data:`FOLLOW_FOR` on the newsroom's clock (a channel down for hours: ``/stats`` tells the rest).

While messages are still to go the panel has a Stop button: `bot.stories.stopping.stop_story` holds back the rest
on every channel and in every worker; the panel then says what was sent and offers Resume
(`bot.stories.stopping.resume_story`, like ``newsbot resume STORY_ID``), which follows the send again. The buttons
name the sent draft by its nonce; the story behind it is kept in the editor's ``user_data`` (the last
:data:`MAX_FOLLOWED` stories).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import CallbackContext, Job, JobQueue

from bot.app.errors import NewsbotError
from bot.app.newsroom import Newsroom
from bot.editors.audit import is_editor, telegram_actor
from bot.editors.panel import callback, edit_message, progress_line
from bot.stories.stopping import StopReport, resume_story, stop_story
from subscribers import status as status_store

log = logging.getLogger(__name__)

PROGRESS_JOB = "editor-progress"
FOLLOW_FOR = timedelta(hours=1)
#: Where the sent stories' panels are kept in ``user_data`` (by nonce), and how many of them.
SENT_KEY = "editor_sent"
MAX_FOLLOWED = 20
STOP_PATTERN = r"^ed:[0-9a-f]+:(stop|resume)$"


@dataclass
class ProgressWatch:
    """One sent story's panel: where it is, what it says above the progress line, and since when it is followed."""

    chat_id: int
    message_id: int
    story_id: str
    header: str
    started: datetime
    nonce: str
    #: A line under the progress, e.g. that the editor stopped the send.
    note: str = ""


def stop_keyboard(watch: ProgressWatch) -> InlineKeyboardMarkup:
    """The panel's button while the story goes out."""
    return InlineKeyboardMarkup([[InlineKeyboardButton("⏹ Stop sending", callback_data=callback(watch.nonce, "stop"))]])


def resume_keyboard(watch: ProgressWatch) -> InlineKeyboardMarkup:
    """The panel's button once the editor stopped the send."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton("▶️ Resume sending", callback_data=callback(watch.nonce, "resume"))]]
    )


def sent_of(report: StopReport) -> str:
    """ "telegram 412 of 1500, email 0 of 300": how far each channel got."""
    return ", ".join(f"{channel} {sent} of {total}" for channel, (sent, total) in report.sent_of().items() if total)


class ProgressFollower:
    """Writes and refreshes the progress line of sent stories' panels."""

    def __init__(self, newsroom: Newsroom) -> None:
        self.newsroom = newsroom

    async def text(self, watch: ProgressWatch) -> tuple[str, bool]:
        """The panel's text now, and whether the story has nothing left to send."""
        async with self.newsroom.reader.connect() as conn:
            counts = await status_store.story_delivery_status_counts(conn, watch.story_id)
        line, done = progress_line(counts)
        return "\n".join(part for part in (watch.header, line, watch.note) if part), done

    def follow(self, job_queue: JobQueue[Any], watch: ProgressWatch, user_data: dict[Any, Any]) -> Job[Any]:
        """Refresh *watch*'s panel every few seconds until its story is out; its Stop button works meanwhile."""
        followed: dict[str, ProgressWatch] = user_data.setdefault(SENT_KEY, {})
        followed[watch.nonce] = watch
        for nonce in list(followed)[:-MAX_FOLLOWED]:
            del followed[nonce]
        interval = self.newsroom.settings.editor_progress_seconds
        return job_queue.run_repeating(
            self.refresh, interval=interval, first=interval, data=watch, name=f"{PROGRESS_JOB}:{watch.story_id}"
        )

    async def refresh(self, context: CallbackContext[Any, Any, Any, Any]) -> None:
        """The job: edit the panel with the current counts; stop when done, gone, or followed long enough."""
        job = context.job
        assert job is not None and isinstance(job.data, ProgressWatch)
        watch = job.data
        text, done = await self.text(watch)
        overdue = self.newsroom.clock.now() - watch.started > FOLLOW_FOR
        if overdue and not done:
            text += "\nStill sending; /stats shows how far it got."
        try:
            await context.bot.edit_message_text(
                text,
                chat_id=watch.chat_id,
                message_id=watch.message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=None if done or overdue else stop_keyboard(watch),
            )
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                log.info("stopped following story %s: its panel cannot be edited (%s)", watch.story_id, exc.message)
                job.schedule_removal()
                return
        if done or overdue:
            job.schedule_removal()

    async def stop_button(self, update: Update, context: CallbackContext[Any, Any, Any, Any]) -> None:
        """Stop (hold back the rest of the send, say how far it got) or Resume (send the rest, follow it again)."""
        query = update.callback_query
        assert query is not None
        user = query.from_user
        if user is None or not await is_editor(self.newsroom, user.id):
            await query.answer("editors only", show_alert=True)
            return
        _, nonce, action = (query.data or "").split(":")
        watch: ProgressWatch | None = (context.user_data or {}).get(SENT_KEY, {}).get(nonce)
        if watch is None:
            await query.answer(f"This panel is closed: use newsbot {action} STORY_ID.", show_alert=True)
            return
        actor = await telegram_actor(self.newsroom, user.id, user.username)
        service = stop_story if action == "stop" else resume_story
        try:
            report = await service(self.newsroom, watch.story_id, actor=actor)
        except NewsbotError as exc:
            await query.answer(str(exc)[:200], show_alert=True)
            return
        if context.job_queue is not None:
            for job in context.job_queue.get_jobs_by_name(f"{PROGRESS_JOB}:{watch.story_id}"):
                job.schedule_removal()
        if action == "stop":
            await query.answer("Stopped" if report.changed else "Already stopped")
            watch.note = f"⏹ Stopped: nothing more goes out. Sent {sent_of(report) or 'nothing'}."
            keyboard: InlineKeyboardMarkup | None = resume_keyboard(watch)
        else:
            await query.answer("Resumed" if report.changed else "Nothing to resume")
            watch.note = "▶️ Resumed: the rest goes out; nobody gets it twice."
            watch.started = self.newsroom.clock.now()
            keyboard = stop_keyboard(watch)
        text, done = await self.text(watch)
        if action == "resume" and not done and context.job_queue is not None and context.user_data is not None:
            self.follow(context.job_queue, watch, context.user_data)
        if isinstance(query.message, Message):
            await edit_message(query.message, text, None if done and action == "resume" else keyboard)
