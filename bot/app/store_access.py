"""Opening the store from a setting or an option, so that an unusable store is one line naming where it came from.

The store reports its own failures (:mod:`subscribers.errors`) without knowing which setting chose the URL;
here they become a :class:`ConfigurationError` that names it, which every edge already turns into one line.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import make_url

from bot.app.config import Settings
from bot.app.errors import ConfigurationError
from bot.app.newsroom import Newsroom
from subscribers.errors import StoreError, store_failure


def database_setting(settings: Settings) -> str:
    """The setting that chose the store: the data dir when the URL is its default SQLite file."""
    default = f"sqlite+aiosqlite:///{settings.data_dir / 'newsbot.sqlite3'}"
    return "NEWSBOT_DATA_DIR" if settings.database_url == default else "NEWSBOT_DATABASE_URL"


@contextmanager
def store_named(source: str, database_url: str, *, connecting: bool = True) -> Iterator[None]:
    """Turn a failure of the store at *database_url* into a ConfigurationError naming *source*.

    *source* is where the URL came from (``NEWSBOT_DATABASE_URL``, ``--from``); *connecting* as in
    :func:`subscribers.errors.store_failure`. Anything that is not a store failure passes through unchanged.
    """
    try:
        yield
    except StoreError as exc:
        raise ConfigurationError(f"{source}: {exc}") from None
    except Exception as exc:
        failure = store_failure(exc, make_url(database_url), connecting=connecting)
        if failure is None:
            raise
        raise ConfigurationError(f"{source}: {failure}") from None


async def open_newsroom(settings: Settings) -> Newsroom:
    """:meth:`Newsroom.open`, with an unreachable, missing, corrupt or unsupported store as one clear error."""
    with store_named(database_setting(settings), settings.database_url):
        return await Newsroom.open(settings)
