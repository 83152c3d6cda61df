"""Groups and channels: who may change a chat's topics, and what happens when the bot joins, leaves or is blocked.

A private chat belongs to its reader. A group, supergroup or channel can follow topics too, but only that chat's
administrators may change them: checked with getChatMember on every change, so a demoted admin loses the right
at once. Anonymous admins (who post as the group itself) and channel posts (only admins can post) need no check.

Telegram reports the bot's own membership in ``my_chat_member`` updates: blocked in a private chat, kicked from
or left a group, removed from a channel. The chat then becomes inactive and receives nothing, but keeps its
topics; unblocked or added again, it is active again with the topics it had.
"""

from __future__ import annotations

import html
import logging

from telegram import Chat, ChatMember, ChatMemberUpdated, Update
from telegram.constants import ChatType

from bot.languages.catalogs import N_
from bot.readers.chat_context import ChatContext
from bot.readers.chat_language import settle_language
from subscribers import chat_readers, readers

logger = logging.getLogger(__name__)

ADMIN_STATUSES = frozenset({ChatMember.OWNER, ChatMember.ADMINISTRATOR})
ADMINS_ONLY = N_("Only this chat's admins can change what it follows.")


async def may_change_follows(update: Update, context: ChatContext) -> bool:
    """Whether the sender of *update* may change what its chat follows."""
    chat = update.effective_chat
    if chat is None:
        return False
    if chat.type == ChatType.PRIVATE:
        return True
    if update.callback_query is None:
        message = update.effective_message
        if update.channel_post is not None:
            return True
        if message is not None and message.sender_chat is not None and message.sender_chat.id == chat.id:
            return True  # an anonymous admin, posting as the group
    user = update.effective_user
    if user is None:
        return False
    member = await context.bot.get_chat_member(chat.id, user.id)
    return member.status in ADMIN_STATUSES


async def refuse(update: Update, context: ChatContext) -> None:
    """Tell a non-admin politely, as an alert on a button press or a reply to a command."""
    text = context.gettext(ADMINS_ONLY)
    if update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=True)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(html.escape(text))


def _is_present(member: ChatMember) -> bool:
    if member.status in (ChatMember.LEFT, ChatMember.BANNED):
        return False
    if member.status == ChatMember.RESTRICTED:
        return bool(getattr(member, "is_member", False))
    return True


async def bot_membership_changed(update: Update, context: ChatContext) -> None:
    """``my_chat_member``: the bot was blocked, kicked or removed (chat inactive) or unblocked or added (active)."""
    change: ChatMemberUpdated | None = update.my_chat_member
    if change is None:
        return
    chat = change.chat
    chat_id = str(chat.id)
    was_present, is_present = _is_present(change.old_chat_member), _is_present(change.new_chat_member)
    now = context.newsroom.clock.now()
    if was_present and not is_present:
        async with context.newsroom.engine.begin() as conn:
            known = await chat_readers.close_chat(conn, chat_id, f"telegram: bot {change.new_chat_member.status}", now)
        if known:
            logger.info("chat %s (%s) removed the bot: it gets nothing until it is back", chat.id, chat.type)
        return
    if is_present and not was_present:
        async with context.newsroom.engine.begin() as conn:
            # Unblocked: only a private chat we knew comes back; a new reader starts with /start.
            if chat.type == ChatType.PRIVATE and await chat_readers.find_chat_reader(conn, chat_id) is None:
                return
            await chat_readers.open_chat(conn, chat_id, chat.type, now, language=context.first_language)
        if chat.type in (ChatType.GROUP, ChatType.SUPERGROUP):
            await settle_language(update, context)
            await context.bot.send_message(chat.id, welcome_to_group(chat, context))


def welcome_to_group(chat: Chat, context: ChatContext) -> str:
    """The greeting when the bot joins a group, in the group's language (the outlet's until its admins choose)."""
    _ = context.gettext
    outlet = html.escape(context.newsroom.settings.outlet_name)
    title = html.escape(chat.title or _("this group"))
    hello = _("Hello, %(group)s! I bring you %(outlet)s news on the topics this group follows.")
    admins = _("Admins: pick topics with /topics, or /follow a topic by name, and /language sets my language.")
    more = _("/help lists everything.")
    return f"{hello % {'group': title, 'outlet': outlet}}\n{admins} {more}"


async def chat_migrated(update: Update, context: ChatContext) -> None:
    """A group became a supergroup: its topics move to the new chat id before the next story goes out."""
    message = update.effective_message
    if message is None or message.migrate_to_chat_id is None:
        return
    async with context.newsroom.engine.begin() as conn:
        await readers.move_address(
            conn, "telegram", str(message.chat.id), str(message.migrate_to_chat_id), context.newsroom.clock.now()
        )
    logger.info("chat %s became supergroup %s; its topics moved with it", message.chat.id, message.migrate_to_chat_id)
