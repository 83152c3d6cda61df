"""Editors in Telegram: ``/push`` (breaking news), ``/story`` (a normal story), ``/stats`` and ``/cancel``.

``/push`` and ``/story`` are a short conversation in a private chat with the bot:

1. the editor sends the story (after the command, as the next message, or as a ``.txt``, ``.md`` or ``.html``
   document); a paste Telegram split into messages arriving within ``NEWSBOT_EDITOR_PASTE_WINDOW`` is one story;
2. the bot answers with the exact message readers will get, then a panel: topics as toggles (any taxonomy topic
   under "More topics"), Headline, Schedule (`bot.editors.schedule_panel`), the readers it reaches now, the
   social destinations, warnings, and Send / Cancel;
3. nothing is stored or sent before Send. Text sent later while the panel is open asks before replacing the draft.
   After Send the panel follows the story out ("sent N of M", Stop and Resume: `bot.editors.progress`).

``/correct``, ``/update`` and ``/retract`` join the same conversation (`bot.editors.story_life_commands`). Buttons
carry a per-draft nonce, so an older panel's button never acts on the current draft; tapped, it says it is closed.
Anyone neither in ``NEWSBOT_EDITOR_IDS`` nor linked to a desk account gets "editors only". Everything done is in
the audit log (``newsbot audit``).
"""

from __future__ import annotations

import dataclasses
import html
import logging
import secrets
import warnings
from typing import Any

from telegram import Update
from telegram.constants import ChatType, ParseMode
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot.app.errors import StoryRejected, TopicNotFound
from bot.app.newsroom import Newsroom
from bot.editors import panel as panels
from bot.editors.audit import record_cancelled_draft, telegram_actor
from bot.editors.chat_input import NEW_MESSAGES, STORY_FILE, STORY_TEXT, Context
from bot.editors.desk_access import answer_closed, editor_allowed
from bot.editors.desk_link import desk_link_handler
from bot.editors.desk_stats import stats_handler
from bot.editors.draft_preview import preview_button_handler, show_preview, with_headline
from bot.editors.drafts import (
    BREAKING_KEY,
    DRAFT_KEY,
    FOLLOW_UP_KEY,
    FollowUp,
    Incoming,
    PendingStory,
    StoryFile,
    StoryText,
    check_headline,
    download_story_file,
)
from bot.editors.panel import edit_message
from bot.editors.progress import SENT_KEY, STOP_PATTERN, ProgressFollower, ProgressWatch, stop_keyboard
from bot.editors.schedule_panel import ScheduleDesk, draft_keyboard, schedule_line
from bot.editors.story_life_commands import StoryLifeDesk
from bot.rendering.reply_limits import shorten, summarise
from bot.stories.intake import action_for, prepare_for, publish_story
from subscribers import deliveries, stories

log = logging.getLogger(__name__)

STORY, REVIEW = range(2)
#: Where the open draft, the story text received so far and the kind of story live in ``context.user_data``.
INCOMING_KEY = "editor_incoming"
#: A document whose caption is /push or /story starts a draft with it.
STORY_FILE_COMMAND = STORY_FILE & filters.CaptionRegex(r"^/(push|story)(@\w+)?(\s|$)")

ASK_FOR_STORY = (
    "Send the story as one message (a long paste split by Telegram is put back together), or as a .txt, .md or "
    ".html file: plain text, or Markdown with front matter (title, url, topics...). A link on the first line "
    "becomes the story's link. /cancel stops."
)
NOTHING_SENT = "Cancelled: nothing was sent."


class EditorDesk:
    """The editor handlers, sharing the newsroom (and through it the social distribution the desk edits)."""

    def __init__(self, newsroom: Newsroom) -> None:
        self.newsroom = newsroom
        self.progress = ProgressFollower(newsroom)
        self.schedule = ScheduleDesk(newsroom, self._show)
        self.life = StoryLifeDesk(self, STORY)

    def handlers(self) -> list[BaseHandler[Any, Any, Any]]:
        # per_message=False is what we want (one draft per editor and chat); PTB warns that buttons are then not
        # tracked per message, which the nonce in every button takes care of.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PTBUserWarning)
            conversation = ConversationHandler(
                entry_points=[
                    CommandHandler("push", self.push, filters=NEW_MESSAGES),
                    CommandHandler("story", self.story, filters=NEW_MESSAGES),
                    MessageHandler(STORY_FILE_COMMAND, self.document_with_command),
                    *self.life.entry_points(),
                ],
                states={
                    STORY: [
                        MessageHandler(STORY_TEXT, self.receive_text),
                        MessageHandler(STORY_FILE, self.receive_document),
                    ],
                    REVIEW: [
                        CallbackQueryHandler(self.progress.stop_button, pattern=STOP_PATTERN),
                        self.schedule.sent_handler(),
                        CallbackQueryHandler(self.button, pattern=panels.CALLBACK_PATTERN),
                        MessageHandler(STORY_TEXT, self.receive_text),
                        MessageHandler(STORY_FILE, self.receive_document),
                    ],
                    **self.life.states(),
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
            *self.schedule.handlers(),
            conversation,
            stats_handler(self.newsroom, NEW_MESSAGES),
            desk_link_handler(self.newsroom, NEW_MESSAGES),
            CommandHandler("cancel", self.nothing_to_cancel, filters=NEW_MESSAGES),
            CallbackQueryHandler(self.progress.stop_button, pattern=STOP_PATTERN),
            self.schedule.sent_handler(),
            *self.life.outside_handlers(),
            preview_button_handler(self.newsroom),
            CallbackQueryHandler(self.stale_button, pattern=panels.CALLBACK_PATTERN),
        ]

    # --- commands ----------------------------------------------------------------------------------------

    async def push(self, update: Update, context: Context) -> int:
        """/push: a breaking story, to every follower of its topics now."""
        return await self._begin(update, context, breaking=True)

    async def story(self, update: Update, context: Context) -> int:
        """/story: a normal story, to instant readers now and the weekly digest otherwise."""
        return await self._begin(update, context, breaking=False)

    async def document_with_command(self, update: Update, context: Context) -> int:
        """A story file sent with /push or /story as its caption."""
        message = update.effective_message
        assert message is not None
        breaking = (message.caption or "").startswith("/push")
        state = await self._begin(update, context, breaking=breaking, ask=False)
        return await self.receive_document(update, context) if state == STORY else state

    async def receive_text(self, update: Update, context: Context) -> int:
        """Story text: a new draft, the next part of a paste, a new headline, or a "replace the draft?" question."""
        message = update.effective_message
        if not await self._editor(update) or message is None:
            return ConversationHandler.END
        pending: PendingStory | None = context.user_data.get(DRAFT_KEY)
        if pending is not None and pending.awaiting_headline:
            return await self._headline(update, pending, message.text or "")
        text, now = StoryText.of(message), self.newsroom.clock.now()
        incoming: Incoming | None = context.user_data.get(INCOMING_KEY)
        if incoming is not None and incoming.continues(now, self.newsroom.settings.editor_paste_window):
            incoming.text, incoming.at = incoming.text.followed_by(text), now
            if incoming.target == "replacement" and pending is not None:
                pending.replacement = incoming.text
                return REVIEW
            return await self._review(update, context, incoming.text, previous=pending)
        context.user_data[INCOMING_KEY] = Incoming(text, now, "replacement" if pending is not None else "draft")
        if pending is not None:
            await self._ask_to_replace(update, pending, text)
            return REVIEW
        return await self._review(update, context, text)

    async def receive_document(self, update: Update, context: Context) -> int:
        """A story file: checked for kind and size, downloaded with getFile, then reviewed like text."""
        message = update.effective_message
        if not await self._editor(update) or message is None or message.document is None:
            return ConversationHandler.END
        pending: PendingStory | None = context.user_data.get(DRAFT_KEY)
        state = REVIEW if pending is not None else STORY
        try:
            story_file = await download_story_file(message.document, self.newsroom.settings.max_story_bytes)
        except StoryRejected as exc:
            await message.reply_text(f"Not sent: {html.escape(str(exc), quote=False)}.")
            return state
        context.user_data.pop(INCOMING_KEY, None)  # a file is a whole story, never the part of a paste
        if pending is not None:
            await self._ask_to_replace(update, pending, story_file)
            return REVIEW
        return await self._review(update, context, story_file)

    async def not_text(self, update: Update, context: Context) -> int | None:
        message = update.effective_message
        if message is not None and await self._editor(update):
            await message.reply_text("Send the story as a text message or a .txt, .md or .html file, or /cancel.")
        return None

    async def cancel_command(self, update: Update, context: Context) -> int:
        """/cancel: drop the open draft; nothing is sent."""
        if not await self._editor(update):
            return ConversationHandler.END
        self._forget_draft(update, context)
        pending: PendingStory | None = context.user_data.pop(DRAFT_KEY, None)
        await self.life.cancel(context)
        if pending is not None:
            await self._audit_cancel(update, pending)
            await self._close(pending, NOTHING_SENT)
        if update.effective_message is not None:
            await update.effective_message.reply_text(NOTHING_SENT)
        return ConversationHandler.END

    async def nothing_to_cancel(self, update: Update, context: Context) -> None:
        """/cancel with no draft open (from an editor; anyone else is told it is for editors)."""
        if update.effective_message is not None and await self._editor(update):
            await update.effective_message.reply_text(
                "Nothing to cancel: no draft is open. /push or /story starts one."
            )

    async def button(self, update: Update, context: Context) -> int | None:
        """A button on the panel (or the "replace?" question) of the open draft."""
        query = update.callback_query
        if query is None or not await self._editor(update):
            return ConversationHandler.END
        pending: PendingStory | None = context.user_data.get(DRAFT_KEY)
        _, nonce, action = (query.data or "").split(":", 2)
        if pending is None or nonce != pending.nonce:
            await self._closed_button(update, pending)
            return None
        kind, _, argument = action.partition(":")
        if kind == "cancel":
            context.user_data.pop(DRAFT_KEY, None)
            self._forget_draft(update, context)
            await self._audit_cancel(update, pending)
            await query.answer("Cancelled")
            await self._close(pending, NOTHING_SENT)
            return ConversationHandler.END
        if kind == "send":
            return await self._send(update, context, pending)
        if kind in ("replace", "keep"):
            return await self._answer_replace(update, context, pending, replace=kind == "replace")
        if kind == "title":
            pending.awaiting_headline = True
            await query.answer("Send the new headline as your next message")
        elif kind == "p":
            pending.topic_page = int(argument)
            await query.answer()
        elif kind == "back":
            pending.topic_page, pending.choosing_time = None, False
            await query.answer()
        elif kind in ("sched", "at"):
            await self.schedule.draft_button(update, pending, argument)
        else:
            slugs = pending.candidates if kind == "t" else self.newsroom.taxonomy.slugs
            if int(argument) >= len(slugs):
                await query.answer()
                return None
            pending.toggle(slugs[int(argument)])
            await query.answer()
        await self._show(update, pending)
        return None

    async def stale_button(self, update: Update, context: Context) -> None:
        """A button of a draft that is no longer open (sent, cancelled, replaced, or from before a restart)."""
        if update.callback_query is not None and await self._editor(update):
            await answer_closed(update)

    # --- the review ---------------------------------------------------------------------------------------

    async def _begin(self, update: Update, context: Context, *, breaking: bool, ask: bool = True) -> int:
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None or not await self._editor(update):
            return ConversationHandler.END
        if chat.type != ChatType.PRIVATE:
            await message.reply_text("Editor commands work in a private chat with the bot, not in groups.")
            return ConversationHandler.END
        await self.close_open_draft(update, context)
        await self.life.cancel(context)
        context.user_data[BREAKING_KEY] = breaking
        text = StoryText.of(message)  # the story may follow the command on the same or the next line
        if text.plain.strip():
            context.user_data[INCOMING_KEY] = Incoming(text, self.newsroom.clock.now())
            return await self._review(update, context, text)
        if ask:
            kind = "breaking story" if breaking else "story"
            await message.reply_text(f"New {kind}. {ASK_FOR_STORY}")
        return STORY

    async def _review(
        self,
        update: Update,
        context: Context,
        source: StoryText | StoryFile,
        *,
        previous: PendingStory | None = None,
        replacing: PendingStory | None = None,
    ) -> int:
        """Parse and tag *source* and show it.

        *previous* is the draft it grows from (the first part of a paste): its preview and panel are updated.
        *replacing* is the draft the editor chose to replace: closed once the new one could be read, kept if not.
        """
        chat = update.effective_chat
        assert chat is not None
        settings = self.newsroom.settings
        breaking = bool(context.user_data.get(BREAKING_KEY, False))
        try:
            draft = source.draft(settings.max_story_bytes)
            story = prepare_for(self.newsroom, draft, breaking=breaking, source="telegram")
            follow_up: FollowUp | None = context.user_data.get(FOLLOW_UP_KEY)
            if follow_up is not None:
                story = dataclasses.replace(story, updates=follow_up.story_id)
        except (StoryRejected, TopicNotFound) as exc:
            if previous is not None and context.user_data.pop(DRAFT_KEY, None) is not None:
                await self._close(previous, "Closed: the rest of the story could not be read. Nothing was sent.")
            reason = html.escape(shorten(str(exc)), quote=False)
            if replacing is not None:
                await chat.send_message(f"Not replaced: {reason}\nThe draft above is still open.")
                return REVIEW
            await chat.send_message(f"Not sent: {reason}\nFix it and send the story again, or /cancel.")
            return STORY
        async with self.newsroom.reader.connect() as conn:
            already = await stories.story_exists(conn, story.id)
        pending = PendingStory(
            nonce=secrets.token_hex(4),
            story=story,
            candidates=list(story.topics),
            selected=list(story.topics),
            already_published=already,
            follow_up=follow_up,
        )
        if previous is not None:  # the same preview and panel, updated with the whole story
            pending.preview, pending.preview_html, pending.panel = (
                previous.preview,
                previous.preview_html,
                previous.panel,
            )
        if replacing is not None:
            await self._close(replacing, "Replaced by a newer draft. Nothing was sent.")
        context.user_data[DRAFT_KEY] = pending
        await self._show(update, pending)
        return REVIEW

    async def _show(self, update: Update, pending: PendingStory) -> None:
        """Send (or update) the reader-facing preview and the panel under it."""
        chat = update.effective_chat
        assert chat is not None
        story = pending.current()
        async with self.newsroom.reader.connect() as conn:
            pending.recipients = await deliveries.count_story_audience(
                conn, story.topics, story.breaking, story.language
            )
        social = [destination.label for destination in self.newsroom.distribution.for_story(story)]
        now, zone = self.newsroom.clock.now(), self.schedule.zone
        text = panels.panel_text(pending, self.newsroom.taxonomy, social, schedule_line(pending, zone, now))
        keyboard = panels.panel_keyboard(pending, self.newsroom.taxonomy, draft_keyboard(pending, now, zone))
        if await show_preview(self.newsroom, update, pending, story) and pending.panel is not None:
            await pending.panel.delete()  # a preview sent anew (now a photo, or no longer): the panel goes under it
            pending.panel = None
        if pending.panel is None:
            pending.panel = await chat.send_message(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
        else:
            pending.panel = await edit_message(pending.panel, text, keyboard)

    async def _headline(self, update: Update, pending: PendingStory, text: str) -> int:
        message = update.effective_message
        assert message is not None
        try:
            headline = check_headline(text)
        except StoryRejected as exc:
            await message.reply_text(f"Not changed: {html.escape(str(exc), quote=False)}. Send a new headline.")
            return REVIEW
        pending.story = with_headline(self.newsroom, pending.story, headline)
        pending.awaiting_headline = False
        await self._show(update, pending)
        await message.reply_text("Headline changed: the preview and the panel above show it.")
        return REVIEW

    async def _ask_to_replace(self, update: Update, pending: PendingStory, source: StoryText | StoryFile) -> None:
        chat = update.effective_chat
        assert chat is not None
        if pending.question is not None:
            await edit_message(pending.question, "Superseded by the question below.", None)
        pending.replacement = source
        text, keyboard = panels.replace_question(pending)
        pending.question = await chat.send_message(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)

    async def _answer_replace(self, update: Update, context: Context, pending: PendingStory, *, replace: bool) -> int:
        query = update.callback_query
        assert query is not None
        source = pending.replacement
        context.user_data.pop(INCOMING_KEY, None)
        if pending.question is not None:
            kept = "Kept the draft above; the text you sent was dropped."
            await edit_message(
                pending.question, "Replacing the draft with the text you sent." if replace else kept, None
            )
            pending.question = None
        pending.replacement = None
        if not replace or source is None:
            await query.answer("Kept")
            return REVIEW
        await query.answer("Replaced")
        return await self._review(update, context, source, replacing=pending)

    async def _send(self, update: Update, context: Context, pending: PendingStory) -> int | None:
        query = update.callback_query
        assert query is not None and query.from_user is not None
        story = pending.current()
        if not story.topics and story.updates is None:
            await query.answer("Choose at least one topic: without one, nobody gets the story.", show_alert=True)
            return None
        context.user_data.pop(DRAFT_KEY, None)  # one Send per draft, even if the button is tapped twice
        self._forget_draft(update, context)
        if pending.question is not None:
            await edit_message(pending.question, "The draft was sent; the text you sent later was dropped.", None)
        actor = await telegram_actor(self.newsroom, query.from_user.id, query.from_user.username)
        publication = await publish_story(self.newsroom, story, actor=actor, distribution=self.newsroom.distribution)
        await query.answer("Sent" if publication.created else "Already published")
        log.info("%s by %s: %s", action_for(story), actor, story.id)
        if not publication.created:
            await self._close(pending, "Already published earlier: nothing new was sent.")
            return ConversationHandler.END
        counts = ", ".join(f"{channel} {n}" for channel, n in publication.recipients.items())
        scheduled = publication.story.publish_at is not None
        header = (
            f"{'🕒 Scheduled' if scheduled else '✅ Sent'}: queued for {counts} (total {publication.total_recipients})."
        )
        if publication.social:
            header += "\nSocial: " + html.escape(", ".join(summarise([d.label for d in publication.social])))
        await self._follow(update, context, pending, story.id, header)
        return ConversationHandler.END

    async def _follow(
        self, update: Update, context: Context, pending: PendingStory, story_id: str, header: str
    ) -> None:
        """Show the progress line under the sent story's header and keep it fresh through the JobQueue."""
        chat = update.effective_chat
        if pending.panel is None or chat is None:
            return
        now = self.newsroom.clock.now()
        watch = ProgressWatch(chat.id, pending.panel.message_id, story_id, header, now, pending.nonce)
        if pending.story.publish_at is not None and pending.story.publish_at > now:
            context.user_data.setdefault(SENT_KEY, {})[watch.nonce] = watch
            pending.panel = await self.schedule.follow_scheduled(pending.panel, watch, pending.story.publish_at)
            return
        text, done = await self.progress.text(watch)
        pending.panel = await edit_message(pending.panel, text, None if done else stop_keyboard(watch))
        if not done and context.job_queue is not None:
            self.progress.follow(context.job_queue, watch, context.user_data)

    async def _closed_button(self, update: Update, pending: PendingStory | None) -> None:
        """Say a button's draft is closed, and take the buttons off its message (unless it shows the open draft)."""
        current = {m.message_id for m in (pending.panel, pending.question) if m is not None} if pending else set()
        await answer_closed(update, current)

    async def _audit_cancel(self, update: Update, pending: PendingStory) -> None:
        if update.effective_user is not None:
            user = update.effective_user
            await record_cancelled_draft(
                self.newsroom, await telegram_actor(self.newsroom, user.id, user.username), pending.story
            )

    async def _close(self, pending: PendingStory, text: str) -> None:
        """Replace a draft's panel (and any open question) with *text*, without buttons."""
        if pending.panel is not None:
            pending.panel = await edit_message(pending.panel, text, None)
        if pending.question is not None:
            pending.question = await edit_message(pending.question, text, None)

    async def close_open_draft(self, update: Update, context: Context) -> None:
        """Another command started: the open draft closes and nothing of it is sent."""
        previous: PendingStory | None = context.user_data.pop(DRAFT_KEY, None)
        if previous is not None:
            await self._close(previous, "Closed: a new draft was started. Nothing was sent.")
        self._forget_draft(update, context)

    def _forget_draft(self, update: Update, context: Context) -> None:
        """The draft is over (sent, cancelled, replaced): its paste, its follow-up and any awaited time go."""
        context.user_data.pop(INCOMING_KEY, None)
        context.user_data.pop(FOLLOW_UP_KEY, None)
        self.schedule.close_draft(update.effective_user.id if update.effective_user else None)

    async def _editor(self, update: Update) -> bool:
        return await editor_allowed(update, self.newsroom)


def editor_handlers(newsroom: Newsroom) -> list[BaseHandler[Any, Any, Any]]:
    """The editor commands for the bot's handler table (before the fallbacks that answer unknown commands)."""
    return EditorDesk(newsroom).handlers()
