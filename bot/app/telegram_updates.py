"""Updates python-telegram-bot cannot parse are skipped, logged once, and never stall the bot.

PTB parses a whole getUpdates answer at once (`Update.de_list`): one update with a field of an unexpected type
(a Bot API newer than the client, or a proxy in between) fails the batch, the Updater never confirms it, asks
again at once and gets the same batch back, thousands of times a second, logging all of it every time.
`ScreeningRequest`, the Application's request for getUpdates, looks at each update of an answer before PTB does and
puts a bare ``{"update_id": N}`` in the place of one that does not parse: PTB then confirms it with the rest and
no handler matches it. The webhook route uses `parse_update` for the same rule: skip, log once, carry on.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Bot, Update
from telegram.request import HTTPXRequest, RequestData

logger = logging.getLogger(__name__)

#: How much of the parser's error message goes into the log line (it names types and fields, not content).
_REASON_CHARS = 200


def parse_update(data: Any, bot: Bot | None) -> Update | None:
    """The Update in *data*, or None when PTB cannot parse it; a skipped update is logged once, with its id.

    The log line names the update id and the parser's complaint, never the update's content: it is a reader's
    message.
    """
    try:
        return Update.de_json(data, bot)
    except Exception as exc:  # any constructor of any Telegram type can fail on a field of the wrong type
        reason = f"{type(exc).__name__}: {exc}"[:_REASON_CHARS]
        logger.warning("skipped update %s: python-telegram-bot cannot parse it (%s)", update_id(data), reason)
        return None


def update_id(data: Any) -> int | None:
    """The ``update_id`` of a raw update, if it has a usable one."""
    value = data.get("update_id") if isinstance(data, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def screen_updates(result: Any) -> Any:
    """A getUpdates result with each update PTB cannot parse replaced by its bare id (dropped if it has none)."""
    if not isinstance(result, list):
        return result
    screened = []
    for item in result:
        if parse_update(item, None) is not None:
            screened.append(item)
        elif (number := update_id(item)) is not None:
            screened.append({"update_id": number})
    return screened


class ScreeningRequest(HTTPXRequest):
    """PTB's default getUpdates request, with every answer passed through `screen_updates`."""

    async def post(self, url: str, request_data: RequestData | None = None, **timeouts: Any) -> Any:
        """getUpdates as PTB sends it (the timeouts passed through untouched), its answer screened."""
        result = await super().post(url, request_data, **timeouts)
        return screen_updates(result)
