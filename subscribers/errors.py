"""The errors the store raises, and why a store cannot be opened, in one line a person can act on.

:class:`NewsbotError` is the base of every error reported to a person; the store's own refusals derive from it,
so every edge that catches it catches them too. Drivers report an unreachable server, a missing database or a
corrupt SQLite file as exceptions of their own, dozens of frames deep. :func:`store_failure` recognises those
and says what is wrong with which store; the caller that knows where the URL came from (a setting, a
command-line option) puts that name in front.
"""

from __future__ import annotations

import socket
import sqlite3
from typing import Literal

from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, InterfaceError

#: SQLSTATE classes that mean "this store cannot be used as configured" rather than a fault in a query:
#: connection exceptions, invalid authorisation, unknown database, insufficient resources, server shutting down.
_SETUP_SQLSTATE_PREFIXES = ("08", "28", "3D", "53", "57P", "42501")


#: SQLite primary result codes for a file that is not a database, or is damaged ...
_SQLITE_CORRUPT = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
#: ... and for one that cannot be opened, read or written (permissions, disk full, I/O, locked). Any other code
#: ("no such table", a constraint) is a fault in newsbot, not in the store.
_SQLITE_UNUSABLE = {
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PERM,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_AUTH,
    sqlite3.SQLITE_NOLFS,
}


def N_(message: str) -> str:
    """Mark a sentence readers may see for the catalogs (``newsbot i18n update`` finds it); the edge that shows
    it translates it, the store never does."""
    return message


class ReaderText(str):
    """A value put into an error's sentence that is itself a marked sentence (a validator's reason): the edge
    translates it too. It is a plain string everywhere else."""


class NewsbotError(Exception):
    """Base of every error newsbot reports to a person; its message is written for that person.

    It is defined here, in the lowest layer, so that what the store refuses is caught wherever the product catches
    its own errors (``bot.app.errors`` derives the rest from it).

    A message meant for readers too is given as a template with named ``fields``
    (``InvalidSubscriber(N_("invalid email address %(address)s"), address=typed)``): ``str()`` is the English
    sentence, and ``template``, the English with its placeholders, is the catalogs' message id, so the edge that
    shows it to a reader renders it in their language (``bot.languages.error_text``). A message without fields
    is its own template.
    """

    def __init__(self, message: str = "", /, **fields: object) -> None:
        super().__init__(message % fields if fields else message)
        self.template = message
        self.fields = fields


class InvalidSubscriber(NewsbotError):
    """A subscriber record that cannot be stored: bad email address, no address at all, bad cadence."""


class CopyRefused(NewsbotError):
    """The copy would overwrite or merge data; nothing was copied."""


class CopyStoreFailed(Exception):
    """One of the two stores failed; *side* says which, so the caller can name the URL that chose it.

    The original exception is ``failure`` (and ``__cause__``); whether it is a store problem or a bug is for the
    caller to decide. On the target's side nothing was committed.
    """

    def __init__(self, side: Literal["source", "target"], failure: Exception) -> None:
        super().__init__(f"the {side} store failed: {failure}")
        self.side = side
        self.failure = failure


class StoreError(Exception):
    """The store cannot be opened or used; the message names the store and the cause, not the setting."""


def describe(url: URL) -> str:
    """The store as a person knows it, without its password: a SQLite path, or PostgreSQL host:port/database."""
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {url.database or ':memory:'}"
    port = f":{url.port}" if url.port else ""
    return f"PostgreSQL at {url.host or 'localhost'}{port}/{url.database or ''}"


def store_failure(exc: BaseException, url: URL, *, connecting: bool = True) -> StoreError | None:
    """A :class:`StoreError` explaining *exc* when it means the store at *url* is unusable, else None.

    While *connecting* (opening and migrating the store), any OS-level error is the connection's; afterwards only
    the driver's own connection errors are, since a command may also fail to write a file of its own. Faults in
    newsbot's own queries (constraint violations, bad SQL) are not recognised: they stay bugs with a traceback
    rather than being dressed up as a configuration problem.
    """
    if isinstance(exc, StoreError):
        return exc
    where = describe(url)
    if isinstance(exc, socket.gaierror):
        return StoreError(f"cannot resolve the host of {where} ({exc.strerror or exc})")
    if isinstance(exc, ConnectionRefusedError):
        return StoreError(f"cannot connect to {where}: connection refused (is the server running?)")
    if isinstance(exc, (ConnectionError, TimeoutError)) or (connecting and isinstance(exc, OSError)):
        return StoreError(f"cannot connect to {where} ({_first_line(exc) or type(exc).__name__})")
    if isinstance(exc, DBAPIError):
        return _driver_failure(exc, where)
    return None


def _driver_failure(exc: DBAPIError, where: str) -> StoreError | None:
    orig = exc.orig
    message = _first_line(orig) if orig is not None else _first_line(exc)
    if isinstance(orig, sqlite3.Error):
        code = (getattr(orig, "sqlite_errorcode", None) or 0) & 0xFF  # the primary result code
        if code in _SQLITE_CORRUPT:
            return StoreError(f"{where} is not a usable SQLite database ({message})")
        if code in _SQLITE_UNUSABLE:
            return StoreError(f"cannot use {where} ({message})")
        return None
    sqlstate = str(getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None) or "")
    if sqlstate.startswith(_SETUP_SQLSTATE_PREFIXES):
        return StoreError(f"{where}: {message}")
    if exc.connection_invalidated or isinstance(exc, InterfaceError):
        return StoreError(f"lost the connection to {where} ({message})")
    return None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""
