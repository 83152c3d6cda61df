"""What the editors' Telegram conversations listen to, defined once for ``/push``, ``/story``, the schedule panel
and ``/correct``: new messages only (editing the message that carried a story must not start another draft), a
story as text or as a file, and the context type every handler gets."""

from __future__ import annotations

from typing import Any

from telegram.ext import CallbackContext, filters

NEW_MESSAGES = filters.UpdateType.MESSAGE
#: A story (or a correction, a note) typed or pasted: text that is not a command.
STORY_TEXT = NEW_MESSAGES & filters.TEXT & ~filters.COMMAND
#: A story sent as a document (.txt, .md, .html: `bot.editors.drafts.download_story_file` checks which).
STORY_FILE = NEW_MESSAGES & filters.Document.ALL

Context = CallbackContext[Any, Any, Any, Any]
