"""Who may use the editors' desk in Telegram, and what a button of a closed panel answers.

Shared by the drafting desk (``/push``, ``/story``) and the story-life commands (``/correct``, ``/update``,
``/retract``), so every door of the desk refuses and closes the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from telegram import Message, Update
from telegram.error import BadRequest

from bot.app.newsroom import Newsroom
from bot.editors.audit import EditorOnly, is_editor

log = logging.getLogger(__name__)

EDITORS_ONLY = "editors only"
CLOSED = "This draft is closed. Start again with /push or /story."


async def editor_allowed(update: Update, newsroom: Newsroom) -> bool:
    """True for editors; anyone else is told "editors only" and nothing else happens."""
    user = update.effective_user
    if await is_editor(newsroom, user.id if user else None):
        return True
    if update.callback_query is not None:
        await update.callback_query.answer(EDITORS_ONLY, show_alert=True)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(EDITORS_ONLY)
    log.info("refused an editor command from %s: %s", user.id if user else "unknown", EditorOnly())
    return False


async def answer_closed(update: Update, open_message_ids: Collection[int] = (), text: str = CLOSED) -> None:
    """Say a button's panel is closed, and take the buttons off its message (unless it is still an open panel)."""
    query = update.callback_query
    assert query is not None
    await query.answer(text, show_alert=True)
    tapped = query.message.message_id if query.message is not None else None
    if isinstance(query.message, Message) and tapped not in open_message_ids and query.message.reply_markup:
        try:
            await query.message.edit_reply_markup(reply_markup=None)
        except BadRequest as exc:  # already without buttons, or too old to edit: the answer said enough
            log.debug("could not take the buttons off a closed panel: %s", exc.message)
