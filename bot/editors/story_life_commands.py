"""After a story went out, from the editor's Telegram desk: ``/correct``, ``/update`` and ``/retract``.

Each takes the story's id, or answers a reply to the bot's copy of the story (or to its sent panel), or without
either lists the latest stories as buttons. Then:

- ``/correct``: the corrected text, read like a ``/push`` draft (a split paste is one text, a document is
  accepted, formatting entities are kept), then an optional note, then a preview of the corrected copy with what
  will happen and Correct / Correct and notify / Cancel: `bot.stories.corrections.correct_story`.
- ``/update``: a follow-up, drafted exactly as ``/story`` with ``updates`` set (the panel says whom it reaches);
  Send publishes it through the normal path.
- ``/retract``: a confirmation naming the reach, an optional note, then Retract:
  `bot.stories.retraction.retract_story`.

The services are the one path of every door: they audit (actor ``telegram:<id>``) and are idempotent; a panel's
action is taken from ``user_data`` on the first tap, so a double tap does nothing twice and says the panel is closed.
"""

from __future__ import annotations

import dataclasses
import html
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telegram import Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
)

from bot.app.errors import NewsbotError, StoryRejected, TopicNotFound
from bot.editors import story_life_panel as texts
from bot.editors.audit import telegram_actor
from bot.editors.chat_input import NEW_MESSAGES, STORY_FILE, STORY_TEXT, Context
from bot.editors.desk_access import answer_closed, editor_allowed
from bot.editors.drafts import (
    BREAKING_KEY,
    FOLLOW_UP_KEY,
    FollowUp,
    Incoming,
    StoryFile,
    StoryText,
    download_story_file,
)
from bot.editors.panel import edit_message
from bot.editors.progress import SENT_KEY, ProgressWatch
from bot.rendering.reply_limits import shorten
from bot.stories.corrections import correct_story
from bot.stories.intake import prepare_for
from bot.stories.retraction import DELETE_WINDOW, retract_story
from bot.stories.story import Story
from subscribers import stories, story_reach, story_states

if TYPE_CHECKING:
    from bot.editors.chat_commands import EditorDesk

PICK, CORRECT_TEXT, CORRECT_NOTE, LIFE_REVIEW = range(10, 14)
LIFE_KEY = "editor_story_life"
RECENT = 5


@dataclass
class LifeAction:
    """One ``/correct``, ``/update`` or ``/retract`` under way: nothing is changed until its button is tapped."""

    nonce: str
    command: str
    story: Story | None = None
    choices: list[str] = field(default_factory=list)
    source: StoryText | StoryFile | None = None
    incoming: Incoming | None = None
    note: str | None = None
    preview: Message | None = None
    panel: Message | None = None

    def messages(self) -> set[int]:
        return {m.message_id for m in (self.preview, self.panel) if m is not None}


class StoryLifeDesk:
    """The story-life commands, as states of the editor desk's conversation (one conversation per editor)."""

    def __init__(self, desk: EditorDesk, story_state: int) -> None:
        self.desk = desk
        self.newsroom = desk.newsroom
        self.story_state = story_state

    def entry_points(self) -> list[BaseHandler[Any, Any, Any]]:
        return [CommandHandler(name, self.command, filters=NEW_MESSAGES) for name in ("correct", "update", "retract")]

    def states(self) -> dict[object, list[BaseHandler[Any, Any, Any]]]:
        button = CallbackQueryHandler(self.button, pattern=texts.LIFE_PATTERN)
        story_input = [MessageHandler(STORY_TEXT, self.receive_text), MessageHandler(STORY_FILE, self.receive_document)]
        return {
            PICK: [button],
            CORRECT_TEXT: [button, *story_input],
            CORRECT_NOTE: [button, *story_input],
            LIFE_REVIEW: [button, MessageHandler(STORY_TEXT, self.receive_note)],
        }

    def outside_handlers(self) -> list[BaseHandler[Any, Any, Any]]:
        """A button of a closed story-life panel, tapped when no conversation is open."""
        return [CallbackQueryHandler(self.button, pattern=texts.LIFE_PATTERN)]

    # --- choosing the story -----------------------------------------------------------------------------------

    async def command(self, update: Update, context: Context) -> int:
        """/correct, /update or /retract, with a story id, as a reply to the story, or to choose from a list."""
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None or not await editor_allowed(update, self.newsroom):
            return ConversationHandler.END
        if chat.type != ChatType.PRIVATE:
            await message.reply_text("Editor commands work in a private chat with the bot, not in groups.")
            return ConversationHandler.END
        await self.desk.close_open_draft(update, context)
        await self.cancel(context)
        name = (message.text or "/").split()[0][1:].split("@")[0]
        action = LifeAction(secrets.token_hex(4), name)
        context.user_data[LIFE_KEY] = action
        words = (message.text or "").split()
        story_id = words[1] if len(words) > 1 else await self._replied_story(message, context)
        if story_id is not None:
            return await self._chosen(update, context, action, story_id)
        async with self.newsroom.reader.connect() as conn:
            recent = await stories.list_recent_stories(conn, RECENT)
        if not recent:
            context.user_data.pop(LIFE_KEY, None)
            await message.reply_text("No stories yet: there is nothing to change.")
            return ConversationHandler.END
        action.choices = [story.id for story in recent]
        action.panel = await message.reply_text(
            f"Which story? The latest {len(recent)} are below (or send /{name} STORY_ID, or reply to its message).",
            reply_markup=texts.pick_keyboard(action.nonce, recent),
        )
        return PICK

    async def _replied_story(self, message: Message, context: Context) -> str | None:
        """The story of the message replied to: a sent panel or its preview here, else the bot's copy to this chat."""
        replied = message.reply_to_message
        if replied is None:
            return None
        watches: dict[str, ProgressWatch] = context.user_data.get(SENT_KEY, {})
        for watch in watches.values():
            if replied.message_id in (watch.message_id, watch.message_id - 1):
                return watch.story_id
        async with self.newsroom.reader.connect() as conn:
            return await story_reach.story_of_message(conn, str(message.chat_id), replied.message_id)

    async def _chosen(self, update: Update, context: Context, action: LifeAction, story_id: str) -> int:
        chat = update.effective_chat
        assert chat is not None
        async with self.newsroom.reader.connect() as conn:
            story = await stories.load_story(conn, story_id, Story)
            state = await story_states.load_story_state(conn, story_id) if story is not None else None
            reach = await story_reach.story_reach(conn, story_id, self.newsroom.clock.now() - DELETE_WINDOW)
        if story is None or state is None:
            context.user_data.pop(LIFE_KEY, None)
            shown = html.escape(shorten(story_id), quote=False)
            await chat.send_message(f"No story with id {shown}. /{action.command} alone lists the latest.")
            return ConversationHandler.END
        if state.retracted_at is not None:
            context.user_data.pop(LIFE_KEY, None)
            await chat.send_message(f"“{html.escape(story.title)}” was retracted: it can no longer change.")
            return ConversationHandler.END
        action.story = story
        title = html.escape(story.title)
        if action.command == "update":
            context.user_data.pop(LIFE_KEY, None)
            context.user_data[FOLLOW_UP_KEY] = FollowUp(story.id, story.title, reach.readers)
            context.user_data[BREAKING_KEY] = False
            await chat.send_message(
                f"Follow-up to “{title}”: it reaches the {texts.plural(reach.readers, 'reader')} who got it, as a "
                "reply to their copy, plus its topics' followers. Send the follow-up story as one message or a "
                ".txt, .md or .html file. /cancel stops."
            )
            return self.story_state
        if action.command == "correct":
            await chat.send_message(
                f"Correcting “{title}” (version {story.version}). Send the corrected story as one message (a split "
                "paste is put back together) or a .txt, .md or .html file. /cancel stops."
            )
            return CORRECT_TEXT
        action.panel = await chat.send_message(
            texts.retraction_text(story, reach, None),
            parse_mode=ParseMode.HTML,
            reply_markup=texts.retraction_keyboard(action.nonce),
        )
        return LIFE_REVIEW

    # --- the corrected text and the note ------------------------------------------------------------------------

    async def _open_action(self, update: Update, context: Context) -> tuple[Message, LifeAction] | None:
        """The editor's message and the action under way it is for; None when there is none (or no editor)."""
        message = update.effective_message
        action: LifeAction | None = context.user_data.get(LIFE_KEY)
        if message is None or action is None or not await editor_allowed(update, self.newsroom):
            return None
        return message, action

    async def _take_note(self, update: Update, message: Message, action: LifeAction) -> int:
        action.note = " ".join((message.text or "").split()) or None
        return await self._preview(update, action)

    async def receive_text(self, update: Update, context: Context) -> int | None:
        opened = await self._open_action(update, context)
        if opened is None:
            return ConversationHandler.END
        message, action = opened
        now, window = self.newsroom.clock.now(), self.newsroom.settings.editor_paste_window
        text = StoryText.of(message)
        if action.incoming is not None and action.incoming.continues(now, window):
            action.incoming.text, action.incoming.at = action.incoming.text.followed_by(text), now
            action.source = action.incoming.text
            return CORRECT_NOTE
        if action.source is None:
            action.incoming, action.source = Incoming(text, now), text
            return await self._ask_note(message, action)
        return await self._take_note(update, message, action)

    async def receive_document(self, update: Update, context: Context) -> int | None:
        opened = await self._open_action(update, context)
        if opened is None or opened[0].document is None:
            return ConversationHandler.END
        message, action = opened
        try:
            action.source = await download_story_file(message.document, self.newsroom.settings.max_story_bytes)
        except StoryRejected as exc:
            await message.reply_text(f"Not read: {html.escape(str(exc), quote=False)}.")
            return None
        action.incoming = None
        return await self._ask_note(message, action)

    async def _ask_note(self, message: Message, action: LifeAction) -> int:
        await message.reply_text(
            "Got the corrected text. Send a short note for readers (shown as “Corrected: …”), or tap No note.",
            reply_markup=texts.note_keyboard(action.nonce),
        )
        return CORRECT_NOTE

    async def receive_note(self, update: Update, context: Context) -> int | None:
        """Text while a confirmation is open: the note (a new one replaces it)."""
        opened = await self._open_action(update, context)
        if opened is None:
            return ConversationHandler.END
        return await self._take_note(update, *opened)

    async def _preview(self, update: Update, action: LifeAction) -> int:
        """Show (or update) the confirmation: the corrected copy and what Correct will do, or the retraction."""
        chat = update.effective_chat
        assert chat is not None and action.story is not None
        story = action.story
        async with self.newsroom.reader.connect() as conn:
            reach = await story_reach.story_reach(conn, story.id, self.newsroom.clock.now() - DELETE_WINDOW)
        if action.command == "retract":
            text, keyboard = texts.retraction_text(story, reach, action.note), texts.retraction_keyboard(action.nonce)
        else:
            assert action.source is not None
            try:
                draft = action.source.draft(self.newsroom.settings.max_story_bytes)
                prepared = prepare_for(self.newsroom, draft, source="telegram")
            except (StoryRejected, TopicNotFound) as exc:
                action.source, action.incoming = None, None
                reason = html.escape(shorten(str(exc)), quote=False)
                await chat.send_message(f"Not read: {reason}\nSend the corrected text again, or /cancel.")
                return CORRECT_TEXT
            corrected = dataclasses.replace(
                prepared,
                id=story.id,
                topics=prepared.topics if draft.topics else story.topics,
                url=prepared.url or story.url,
                breaking=story.breaking,
                updates=story.updates,
                version=story.version + 1,
                correction_note=action.note,
            )
            copy = self.newsroom.renderer.telegram_message(corrected)
            if action.preview is None:
                action.preview = await chat.send_message(copy, parse_mode=ParseMode.HTML)
            else:
                action.preview = await edit_message(action.preview, copy, None)
            text, keyboard = texts.correction_text(story, reach, action.note), texts.correction_keyboard(action.nonce)
        if action.panel is None:
            action.panel = await chat.send_message(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
        else:
            action.panel = await edit_message(action.panel, text, keyboard)
        return LIFE_REVIEW

    # --- the buttons ------------------------------------------------------------------------------------------

    async def button(self, update: Update, context: Context) -> int | None:
        query = update.callback_query
        if query is None or not await editor_allowed(update, self.newsroom):
            return None
        action: LifeAction | None = context.user_data.get(LIFE_KEY)
        _, nonce, kind = (query.data or "").split(":", 2)
        if action is None or action.nonce != nonce:
            await answer_closed(update, action.messages() if action else (), texts.CLOSED)
            return None
        kind, _, argument = kind.partition(":")
        if kind == "cancel":
            context.user_data.pop(LIFE_KEY, None)
            await query.answer("Cancelled")
            await self._close(action, texts.NOTHING_CHANGED)
            return ConversationHandler.END
        if kind == "pick":
            index = int(argument)
            if index >= len(action.choices):
                await query.answer()
                return None
            await query.answer()
            if isinstance(query.message, Message):
                await edit_message(query.message, "Story chosen.", None)
            action.panel = None
            return await self._chosen(update, context, action, action.choices[index])
        if kind == "nonote":
            await query.answer("No note")
            if isinstance(query.message, Message):
                await edit_message(query.message, "No note.", None)
            action.note = None
            return await self._preview(update, action) if action.source is not None else None
        context.user_data.pop(LIFE_KEY, None)  # one action per panel, however often it is tapped
        return await self._act(update, action, kind)

    async def _act(self, update: Update, action: LifeAction, kind: str) -> int:
        query = update.callback_query
        assert query is not None and query.from_user is not None and action.story is not None
        actor = await telegram_actor(self.newsroom, query.from_user.id, query.from_user.username)
        try:
            if kind == "retract":
                done = texts.retraction_done(
                    await retract_story(self.newsroom, action.story.id, actor=actor, note=action.note)
                )
            else:
                assert action.source is not None
                draft = action.source.draft(self.newsroom.settings.max_story_bytes)
                report = await correct_story(
                    self.newsroom, action.story.id, draft, actor=actor, note=action.note, notify=kind == "notify"
                )
                done = texts.correction_done(report)
        except NewsbotError as exc:
            await query.answer(shorten(str(exc), 200), show_alert=True)
            await self._close(action, f"Not done: {html.escape(shorten(str(exc)), quote=False)}")
            return ConversationHandler.END
        await query.answer("Done")
        await self._close(action, done)
        return ConversationHandler.END

    async def cancel(self, context: Context) -> None:
        """Drop the action under way (``/cancel``, or another command started); its panel says so."""
        action: LifeAction | None = context.user_data.pop(LIFE_KEY, None)
        if action is not None:
            await self._close(action, texts.NOTHING_CHANGED)

    async def _close(self, action: LifeAction, text: str) -> None:
        if action.panel is not None:
            action.panel = await edit_message(action.panel, text, None)
