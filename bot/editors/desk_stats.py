"""What ``/stats`` tells an editor: the queue, and the latest stories with their deliveries by status and reason."""

from __future__ import annotations

import html
from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CallbackContext, CommandHandler, filters

from bot.app.newsroom import Newsroom
from bot.editors.desk_access import editor_allowed
from bot.rendering.reply_limits import fit_lines, shorten, summarise
from subscribers import deliveries, social_posts, stories
from subscribers import status as status_store

STATS_STORIES = 5
#: /stats shows each story's headline and failure reasons this short, and this many reasons, so it fits a message.
STATS_TITLE_CHARS = 120
STATS_REASONS = 3


def stats_handler(newsroom: Newsroom, only: filters.BaseFilter) -> BaseHandler[Any, Any, Any]:
    """/stats: the queue, and the last stories with their deliveries by status and failure reason."""

    async def stats(update: Update, context: CallbackContext[Any, Any, Any, Any]) -> None:
        message = update.effective_message
        if message is not None and await editor_allowed(update, newsroom):
            await message.reply_text(await stats_text(newsroom), parse_mode=ParseMode.HTML)

    return CommandHandler("stats", stats, filters=only)


async def stats_text(newsroom: Newsroom) -> str:
    """The /stats message (HTML), fitted to one Telegram message."""
    now = newsroom.clock.now()
    async with newsroom.reader.connect() as conn:
        totals = await status_store.delivery_status_totals(conn)
        due = await deliveries.count_due_deliveries(conn, now)
        social = await social_posts.social_post_status_totals(conn)
        recent = await stories.list_recent_stories(conn, STATS_STORIES)
        per_story = [
            (
                story,
                await status_store.story_delivery_status_counts(conn, story.id),
                await status_store.story_failure_reasons(conn, story.id),
            )
            for story in recent
        ]
    lines = [
        "<b>Queue</b>",
        f"deliveries: {totals.get('pending', 0)} pending ({due} due now), {totals.get('sending', 0)} sending, "
        f"{totals.get('sent', 0)} sent, {totals.get('failed', 0)} failed",
        f"social posts: {social.get('pending', 0)} pending, {social.get('sent', 0)} sent, "
        f"{social.get('failed', 0)} failed",
        "",
        "<b>Latest stories</b>" if recent else "<b>No stories yet</b>",
    ]
    for story, counts, failures in per_story:
        mark = "🔴 " if story.breaking else ""
        title = shorten(story.title, STATS_TITLE_CHARS)
        lines.append(f"{mark}<b>{html.escape(title)}</b> ({html.escape(story.source or 'unknown')})")
        by_channel = [
            f"{channel}: " + ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
            for channel, statuses in counts.items()
            if statuses
        ]
        lines.append("  " + ("; ".join(by_channel) if by_channel else "no readers"))
        reasons = [f"  failed ({n}): {html.escape(shorten(reason, 120))}" for reason, n in failures.items()]
        lines.extend(summarise(reasons, most=STATS_REASONS, budget=500, more="more failure reasons"))
    return "\n".join(fit_lines(lines))
