"""``/language``: the reader picks the language the bot, its stories' chrome and their digest speak, with buttons.

In a group or channel only its admins choose, for everyone in it. Stories themselves are never translated.
"""

from __future__ import annotations

from telegram import CallbackQuery, Chat, Message, Update
from telegram.constants import ChatType

from bot.languages.catalogs import language_name, supported
from bot.readers import topic_keyboards as keyboards
from bot.readers.chat_buttons import edit_in_place
from bot.readers.chat_context import ChatContext
from bot.readers.chat_handlers import chat_button, in_chat
from bot.readers.chat_membership import may_change_follows, refuse
from bot.readers.chat_replies import Voice
from subscribers import chat_readers, reader_languages


def _question(voice: Voice) -> str:
    _ = voice.gettext
    return voice.pick(
        _("Which language should I write to you in? Stories stay in the language they were written in."),
        _("Which language should I write to this chat in? Stories stay in the language they were written in."),
    )


@in_chat
async def language(update: Update, context: ChatContext, chat: Chat, message: Message) -> None:
    """The languages as buttons, the chat's own checked; in a group, for its admins."""
    if not await may_change_follows(update, context):
        await refuse(update, context)
        return
    voice = Voice.of(chat.type, context.language)
    await message.reply_text(_question(voice), reply_markup=keyboards.language_keyboard(context.language, voice))


@chat_button(changes_follows=True)
async def choose_language(update: Update, context: ChatContext, query: CallbackQuery, chat: Chat, data: str) -> None:
    """A language button: store it for the chat's reader and answer in it from this message on."""
    chosen = supported(keyboards.parse_language(data))
    if chosen is None:
        await query.answer(context.gettext("That language is no longer available; send /language again."))
        return
    async with context.newsroom.engine.begin() as conn:
        found = await reader_languages.chat_language(conn, str(chat.id))
        if found is None:
            subscriber_id = await chat_readers.open_chat(
                conn, str(chat.id), chat.type, context.newsroom.clock.now(), language=context.first_language
            )
        else:
            subscriber_id = found[0]
        await reader_languages.set_language(conn, subscriber_id, chosen)
    context.language = chosen
    voice = Voice.of(chat.type, chosen)
    done = voice.pick(
        voice.gettext("From now on I write to you in %(language)s."),
        voice.gettext("From now on I write to this chat in %(language)s."),
        language=language_name(chosen),
    )
    if chat.type != ChatType.PRIVATE:
        done += " " + voice.gettext("/help shows the commands.")
    await edit_in_place(query, f"{_question(voice)}\n\n✅ {done}", keyboards.language_keyboard(chosen, voice))
    await query.answer(language_name(chosen))
