"""After Send, the editor's panel follows the story out: "sent N of M", refreshed through the JobQueue, with Stop.

The refresh is a repeating job (every ``NEWSBOT_EDITOR_PROGRESS_SECONDS``) that reads the story's deliveries per
status and edits the panel; it removes itself once nothing is pending or being sent, when the panel is gone, or
after :data:`FOLLOW_FOR` on the newsroom's clock (a channel down for hours: ``/stats`` tells the rest).

While messages are still to go the panel has a Stop button: `bot.stories.stopping.stop_story` holds back the rest
on every channel and in every worker (``newsbot resume STORY_ID`` continues). The button names the sent draft by its
nonce; the story behind it is kept in the editor's ``user_data`` (the last :data:`MAX_FOLLOWED` stories).
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
from bot.stories.stopping import stop_story
from subscribers import status as status_store

log = logging.getLogger(__name__)

PROGRESS_JOB = "editor-progress"
FOLLOW_FOR = timedelta(hours=1)
#: Where the sent stories' panels are kept in ``user_data`` (by nonce), and how many of them.
SENT_KEY = "editor_sent"
MAX_FOLLOWED = 20
STOP_PATTERN = r"^ed:[0-9a-f]+:stop$"


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
        """Stop: hold back the rest of the story's send, and say how far it got."""
        query = update.callback_query
        assert query is not None
        user = query.from_user
        if user is None or not is_editor(self.newsroom.settings, user.id):
            await query.answer("editors only", show_alert=True)
            return
        nonce = (query.data or "").split(":")[1]
        watch: ProgressWatch | None = (context.user_data or {}).get(SENT_KEY, {}).get(nonce)
        if watch is None:
            await query.answer("This panel is closed: stop the story with newsbot stop STORY_ID.", show_alert=True)
            return
        try:
            report = await stop_story(self.newsroom, watch.story_id, actor=telegram_actor(user.id, user.username))
        except NewsbotError as exc:
            await query.answer(str(exc)[:200], show_alert=True)
            return
        await query.answer("Stopped" if report.changed else "Already stopped")
        watch.note = f"⏹ Stopped: nothing more goes out. newsbot resume {watch.story_id} sends the rest."
        if context.job_queue is not None:
            for job in context.job_queue.get_jobs_by_name(f"{PROGRESS_JOB}:{watch.story_id}"):
                job.schedule_removal()
        text, _ = await self.text(watch)
        if isinstance(query.message, Message):
            await edit_message(query.message, text, None)
