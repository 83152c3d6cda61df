"""After Send, the editor's panel follows the story out: "sent N of M", refreshed through the JobQueue.

The refresh is a repeating job (every ``NEWSBOT_EDITOR_PROGRESS_SECONDS``) that reads the story's deliveries per
status and edits the panel; it removes itself once nothing is pending or being sent, when the panel is gone, or
after :data:`FOLLOW_FOR` on the newsroom's clock (a channel down for hours: ``/stats`` tells the rest).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from telegram import InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import CallbackContext, Job, JobQueue

from bot.app.newsroom import Newsroom
from bot.editors.panel import progress_line
from subscribers import status as status_store

log = logging.getLogger(__name__)

PROGRESS_JOB = "editor-progress"
FOLLOW_FOR = timedelta(hours=1)


@dataclass
class ProgressWatch:
    """One sent story's panel: where it is, what it says above the progress line, and since when it is followed."""

    chat_id: int
    message_id: int
    story_id: str
    header: str
    started: datetime


def stop_keyboard(watch: ProgressWatch) -> InlineKeyboardMarkup | None:
    """The panel's buttons while the story goes out.

    STOP BUTTON goes here: once ``bot/stories`` has ``stop_story(newsroom, story_id, actor=...)``, return a
    keyboard with a "⏹ Stop sending" button (callback data ``panel.callback(<nonce>, "stop")``) and handle
    ``stop`` in ``EditorDesk.button`` by calling it. Until then the panel has no buttons after Send.
    """
    return None


class ProgressFollower:
    """Writes and refreshes the progress line of sent stories' panels."""

    def __init__(self, newsroom: Newsroom) -> None:
        self.newsroom = newsroom

    async def text(self, watch: ProgressWatch) -> tuple[str, bool]:
        """The panel's text now, and whether the story has nothing left to send."""
        async with self.newsroom.reader.connect() as conn:
            counts = await status_store.story_delivery_status_counts(conn, watch.story_id)
        line, done = progress_line(counts)
        return f"{watch.header}\n{line}", done

    def follow(self, job_queue: JobQueue[Any], watch: ProgressWatch) -> Job[Any]:
        """Refresh *watch*'s panel every few seconds until its story is out."""
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
