"""Editors in Telegram: ``/push`` (breaking news), ``/story`` (a normal story), ``/stats`` and ``/cancel``.

``/push`` and ``/story`` are a short conversation in a private chat with the bot:

1. the editor sends the story (after the command, or as the next message): plain text, Markdown with front
   matter, or a link on the first line followed by the text;
2. the bot answers with the exact message readers will get, then a panel: the detected topics as toggle
   buttons, the readers it would reach now per channel, the social destinations, and Send / Cancel;
3. nothing is stored or sent before Send. Toggling a topic re-renders the preview and recounts the readers.

Buttons carry a per-draft nonce, so a button of an older preview can never send the current draft. Anyone not in
``NEWSBOT_EDITOR_IDS`` gets "editors only" and nothing else happens. Sends, duplicates and cancellations are
written to the audit log (``newsbot audit``).
"""

from __future__ import annotations

import dataclasses
import html
import logging
import re
import secrets
import warnings
from dataclasses import dataclass, field
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest
from telegram.ext import (
    BaseHandler,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot.app.errors import StoryRejected, TopicNotFound
from bot.app.newsroom import Newsroom
from bot.editors.audit import EditorOnly, is_editor, record_audit, telegram_actor
from bot.rendering.reply_limits import fit_lines, shorten, summarise
from bot.stories.intake import action_for, prepare_for, publish_story
from bot.stories.parsing import StoryDraft, check_story_url, parse_story
from bot.stories.story import Story
from subscribers import deliveries, social_posts, stories
from subscribers import status as status_store

log = logging.getLogger(__name__)

STORY, REVIEW = range(2)
#: Where the open draft lives in ``context.user_data``.
DRAFT_KEY = "editor_draft"
#: Callback data: ``ed:<nonce>:t:<index>`` toggles a topic, ``ed:<nonce>:send`` and ``ed:<nonce>:cancel``.
CALLBACK_PATTERN = r"^ed:[0-9a-f]+:(t:\d+|send|cancel)$"
TOPICS_PER_ROW = 2
_COMMAND = re.compile(r"^/\w+(?:@\w+)?")
#: New messages only: editing the message that carried a story must not start another draft.
NEW_MESSAGES = filters.UpdateType.MESSAGE
STATS_STORIES = 5
#: /stats shows each story's headline and failure reasons this short, and this many reasons, so it fits a message.
STATS_TITLE_CHARS = 120
STATS_REASONS = 3

ASK_FOR_STORY = (
    "Send the story as one message: plain text, or Markdown with front matter (title, url, topics...). "
    "A link on the first line becomes the story's link. /cancel stops."
)
EDITORS_ONLY = "editors only"

Context = CallbackContext[Any, Any, Any, Any]


@dataclass
class PendingStory:
    """An editor's draft under review: nothing of it is stored until Send."""

    nonce: str
    story: Story
    #: Topics offered as toggles (editor-given and detected), in order; ``selected`` is the current choice.
    candidates: list[str]
    selected: list[str]
    already_published: bool = False
    preview: Message | None = None
    panel: Message | None = None
    recipients: dict[str, int] = field(default_factory=dict)

    def current(self) -> Story:
        chosen = tuple(slug for slug in self.candidates if slug in self.selected)
        given = tuple(slug for slug in self.story.given_topics if slug in chosen)
        return dataclasses.replace(self.story, topics=chosen, given_topics=given)


def story_draft_from_message(text: str, *, max_bytes: int) -> StoryDraft:
    """The message as a draft; a bare link on the first line (before any front matter) is the story's URL."""
    first, _, rest = text.strip().partition("\n")
    if first.strip().startswith(("http://", "https://")) and " " not in first.strip():
        url = check_story_url(first.strip())
        if not rest.strip():
            raise StoryRejected("send the story's text along with the link (newsbot does not fetch pages)")
        draft = parse_story(rest, max_bytes=max_bytes)
        return draft if draft.url else dataclasses.replace(draft, url=url)
    return parse_story(text, max_bytes=max_bytes)


class EditorDesk:
    """The editor handlers, sharing the newsroom and the social distribution (loaded once for the desk)."""

    def __init__(self, newsroom: Newsroom) -> None:
        self.newsroom = newsroom
        self.distribution = newsroom.distribution

    def handlers(self) -> list[BaseHandler[Any, Any, Any]]:
        # per_message=False is what we want (one draft per editor and chat); PTB warns that buttons are then not
        # tracked per message, which the nonce in every button takes care of.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PTBUserWarning)
            conversation = ConversationHandler(
                entry_points=[
                    CommandHandler("push", self.push, filters=NEW_MESSAGES),
                    CommandHandler("story", self.story, filters=NEW_MESSAGES),
                ],
                states={
                    STORY: [MessageHandler(NEW_MESSAGES & filters.TEXT & ~filters.COMMAND, self.receive_story)],
                    REVIEW: [
                        CallbackQueryHandler(self.button, pattern=CALLBACK_PATTERN),
                        MessageHandler(NEW_MESSAGES & filters.TEXT & ~filters.COMMAND, self.receive_story),
                    ],
                },
                fallbacks=[
                    CommandHandler("cancel", self.cancel_command, filters=NEW_MESSAGES),
                    CommandHandler("push", self.push, filters=NEW_MESSAGES),
                    CommandHandler("story", self.story, filters=NEW_MESSAGES),
                    MessageHandler(NEW_MESSAGES & ~filters.COMMAND, self.not_text),
                ],
                name="editor_desk",
                allow_reentry=True,
            )
        return [
            conversation,
            CommandHandler("stats", self.stats, filters=NEW_MESSAGES),
            CallbackQueryHandler(self.stale_button, pattern=CALLBACK_PATTERN),
        ]

    # --- commands ----------------------------------------------------------------------------------------

    async def push(self, update: Update, context: Context) -> int:
        """/push: a breaking story, to every follower of its topics now."""
        return await self._begin(update, context, breaking=True)

    async def story(self, update: Update, context: Context) -> int:
        """/story: a normal story, to instant readers now and the weekly digest otherwise."""
        return await self._begin(update, context, breaking=False)

    async def receive_story(self, update: Update, context: Context) -> int:
        """The story text: parse, tag and show the preview and panel (or say what is wrong and wait)."""
        message = update.effective_message
        if not await self._editor(update) or message is None:
            return ConversationHandler.END
        breaking = bool(context.user_data.get("editor_breaking", False))
        return await self._review(update, context, message.text or "", breaking)

    async def not_text(self, update: Update, context: Context) -> int | None:
        message = update.effective_message
        if message is not None and await self._editor(update):
            await message.reply_text("Send the story as a text message, or /cancel.")
        return None

    async def cancel_command(self, update: Update, context: Context) -> int:
        """/cancel: drop the open draft; nothing is sent."""
        if not await self._editor(update):
            return ConversationHandler.END
        pending: PendingStory | None = context.user_data.pop(DRAFT_KEY, None)
        if pending is not None:
            await self._audit_cancel(update, pending)
            await self._close_panel(pending, "Cancelled: nothing was sent.")
        if update.effective_message is not None:
            await update.effective_message.reply_text("Cancelled: nothing was sent.")
        return ConversationHandler.END

    async def button(self, update: Update, context: Context) -> int | None:
        """A topic toggle, Send or Cancel on the panel of the open draft."""
        query = update.callback_query
        if query is None or not await self._editor(update):
            return ConversationHandler.END
        pending: PendingStory | None = context.user_data.get(DRAFT_KEY)
        _, nonce, action = (query.data or "").split(":", 2)
        if pending is None or nonce != pending.nonce:
            await query.answer("This draft is closed. Start again with /push or /story.", show_alert=True)
            return None
        if action == "cancel":
            context.user_data.pop(DRAFT_KEY, None)
            await self._audit_cancel(update, pending)
            await query.answer("Cancelled")
            await self._close_panel(pending, "Cancelled: nothing was sent.")
            return ConversationHandler.END
        if action == "send":
            return await self._send(update, context, pending)
        index = action.removeprefix("t:")
        if not index.isdigit() or int(index) >= len(pending.candidates):
            await query.answer()
            return None
        slug = pending.candidates[int(index)]
        if slug in pending.selected:
            pending.selected.remove(slug)
        else:
            pending.selected.append(slug)
        await query.answer()
        await self._show(update, pending)
        return None

    async def stale_button(self, update: Update, context: Context) -> None:
        """A button of a draft that is no longer open (sent, cancelled, or from before a restart)."""
        query = update.callback_query
        if query is None:
            return
        if not is_editor(self.newsroom.settings, query.from_user.id if query.from_user else None):
            await query.answer(EDITORS_ONLY, show_alert=True)
            return
        await query.answer("This draft is closed. Start again with /push or /story.", show_alert=True)

    async def stats(self, update: Update, context: Context) -> None:
        """/stats: the queue, and the last stories with their deliveries by status and failure reason."""
        message = update.effective_message
        if message is None or not await self._editor(update):
            return
        await message.reply_text(await self.stats_text(), parse_mode=ParseMode.HTML)

    async def stats_text(self) -> str:
        now = self.newsroom.clock.now()
        async with self.newsroom.reader.connect() as conn:
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

    # --- the review ---------------------------------------------------------------------------------------

    async def _begin(self, update: Update, context: Context, *, breaking: bool) -> int:
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None or not await self._editor(update):
            return ConversationHandler.END
        if chat.type != ChatType.PRIVATE:
            await message.reply_text("Editor commands work in a private chat with the bot, not in groups.")
            return ConversationHandler.END
        context.user_data.pop(DRAFT_KEY, None)
        context.user_data["editor_breaking"] = breaking
        text = _COMMAND.sub("", message.text or "", count=1)  # the story may follow on the same or the next line
        if text.strip():
            return await self._review(update, context, text, breaking)
        kind = "breaking story" if breaking else "story"
        await message.reply_text(f"New {kind}. {ASK_FOR_STORY}")
        return STORY

    async def _review(self, update: Update, context: Context, text: str, breaking: bool) -> int:
        message = update.effective_message
        assert message is not None
        settings = self.newsroom.settings
        try:
            draft = story_draft_from_message(text, max_bytes=settings.max_story_bytes)
            story = prepare_for(self.newsroom, draft, breaking=breaking, source="telegram")
        except (StoryRejected, TopicNotFound) as exc:
            await message.reply_text(
                f"Not sent: {html.escape(shorten(str(exc)), quote=False)}\nFix it and send the story again, or /cancel."
            )
            return STORY
        async with self.newsroom.reader.connect() as conn:
            already = await stories.story_exists(conn, story.id)
        pending = PendingStory(
            nonce=secrets.token_hex(4),
            story=story,
            candidates=list(story.topics),
            selected=list(story.topics),
            already_published=already,
        )
        context.user_data[DRAFT_KEY] = pending
        await self._show(update, pending)
        return REVIEW

    async def _show(self, update: Update, pending: PendingStory) -> None:
        """Send (or update) the reader-facing preview and the panel under it."""
        chat = update.effective_chat
        assert chat is not None
        story = pending.current()
        preview = self.newsroom.renderer.telegram_message(story)
        async with self.newsroom.reader.connect() as conn:
            pending.recipients = await deliveries.count_story_audience(conn, story.topics, story.breaking)
        panel, keyboard = self._panel(pending)
        if pending.preview is None:
            pending.preview = await chat.send_message(preview, parse_mode=ParseMode.HTML)
        else:
            pending.preview = await _edit(pending.preview, preview, None)
        if pending.panel is None:
            pending.panel = await chat.send_message(panel, parse_mode=ParseMode.HTML, reply_markup=keyboard)
        else:
            pending.panel = await _edit(pending.panel, panel, keyboard)

    def _panel(self, pending: PendingStory) -> tuple[str, InlineKeyboardMarkup]:
        story = pending.current()
        total = sum(pending.recipients.values())
        kind = "🔴 Breaking push" if story.breaking else "Story"
        counts = ", ".join(f"{channel} {n}" for channel, n in pending.recipients.items())
        destinations = self.distribution.for_story(story)
        lines = [
            f"<b>{kind}</b>: the message above is exactly what readers will get.",
            f"Topics: {html.escape(', '.join(summarise([self._name(s) for s in story.topics]))) or 'none'}",
            f"Readers now: {counts} (total {total})",
        ]
        if destinations:
            lines.append("Social: " + html.escape(", ".join(summarise([d.label for d in destinations]))))
        if pending.already_published:
            lines.append("⚠️ This story was already published; sending it again reaches nobody.")
        if not story.topics:
            how = "Tap a topic below" if pending.candidates else "Send it again with topics: [slug] in its front matter"
            lines.append(f"⚠️ No topic: nobody would receive this story. {how} to choose one.")
        lines.append("Tap a topic to add or remove it. Nothing goes out until you press Send.")
        buttons = [
            InlineKeyboardButton(
                ("✅ " if slug in pending.selected else "⬜ ") + self._name(slug),
                callback_data=f"ed:{pending.nonce}:t:{index}",
            )
            for index, slug in enumerate(pending.candidates)
        ]
        rows = [buttons[i : i + TOPICS_PER_ROW] for i in range(0, len(buttons), TOPICS_PER_ROW)]
        rows.append(
            [
                InlineKeyboardButton(
                    f"Send to {total} reader{'' if total == 1 else 's'}", callback_data=f"ed:{pending.nonce}:send"
                ),
                InlineKeyboardButton("Cancel", callback_data=f"ed:{pending.nonce}:cancel"),
            ]
        )
        return "\n".join(lines), InlineKeyboardMarkup(rows)

    async def _send(self, update: Update, context: Context, pending: PendingStory) -> int | None:
        query = update.callback_query
        assert query is not None and query.from_user is not None
        story = pending.current()
        if not story.topics:
            await query.answer("Choose at least one topic: without one, nobody gets the story.", show_alert=True)
            return None
        context.user_data.pop(DRAFT_KEY, None)  # one Send per draft, even if the button is tapped twice
        actor = telegram_actor(query.from_user.id, query.from_user.username)
        publication = await publish_story(self.newsroom, story, actor=actor, distribution=self.distribution)
        if publication.created:
            counts = ", ".join(f"{channel} {n}" for channel, n in publication.recipients.items())
            text = f"✅ Sent: queued for {counts} (total {publication.total_recipients})."
            if publication.social:
                text += "\nSocial: " + html.escape(", ".join(summarise([d.label for d in publication.social])))
        else:
            text = "Already published earlier: nothing new was sent."
        await query.answer("Sent" if publication.created else "Already published")
        await self._close_panel(pending, text)
        log.info("%s by %s: %s", action_for(story), actor, story.id)
        return ConversationHandler.END

    async def _audit_cancel(self, update: Update, pending: PendingStory) -> None:
        user = update.effective_user
        if user is None:
            return
        async with self.newsroom.engine.begin() as conn:
            await record_audit(
                conn,
                actor=telegram_actor(user.id, user.username),
                action=f"{action_for(pending.story)}.cancelled",
                subject=pending.story.id,
                recipients=0,
                details={"title": pending.story.title},
                at=self.newsroom.clock.now(),
            )

    async def _close_panel(self, pending: PendingStory, text: str) -> None:
        if pending.panel is not None:
            pending.panel = await _edit(pending.panel, text, None)

    async def _editor(self, update: Update) -> bool:
        """True for editors; anyone else is told "editors only" and nothing else happens."""
        user = update.effective_user
        if is_editor(self.newsroom.settings, user.id if user else None):
            return True
        if update.callback_query is not None:
            await update.callback_query.answer(EDITORS_ONLY, show_alert=True)
        elif update.effective_message is not None:
            await update.effective_message.reply_text(EDITORS_ONLY)
        log.info("refused an editor command from %s: %s", user.id if user else "unknown", EditorOnly())
        return False

    def _name(self, slug: str) -> str:
        return self.newsroom.taxonomy[slug].name if slug in self.newsroom.taxonomy else slug


async def _edit(message: Message, text: str, keyboard: InlineKeyboardMarkup | None) -> Message:
    """Edit a message the bot sent; an edit that changes nothing is not an error."""
    try:
        edited = await message.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
    except BadRequest as exc:
        if "not modified" in exc.message.lower():
            return message
        raise
    return edited if isinstance(edited, Message) else message


def editor_handlers(newsroom: Newsroom) -> list[BaseHandler[Any, Any, Any]]:
    """The editor commands for the bot's handler table (before the fallbacks that answer unknown commands)."""
    return EditorDesk(newsroom).handlers()
