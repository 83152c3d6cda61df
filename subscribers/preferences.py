"""Validating what a reader (or an editor on their behalf) asks for: addresses, topics and cadence per channel.

Everything is checked before anything is stored, so a bad row in an import or a typo in a command changes nothing.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from email_validator import EmailNotValidError

from subscribers.email_keys import email_key
from subscribers.email_normal_form import normal_email
from subscribers.errors import N_, InvalidSubscriber, NewsbotError, ReaderText
from subscribers.garbage_collection import garbage_collection_paused
from subscribers.readers import NewAddress, NewSubscriber
from subscribers.schema import DEFAULT_CADENCE, AddressStatus, Cadence, ChannelName

_CHAT_ID = re.compile(r"^-?[0-9]{1,20}$")
_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"", "0", "false", "no", "n"}
_CADENCE_NAMES = {cadence.value: cadence for cadence in Cadence}
# Module-level names for the members the per-row code uses: an enum member looked up on its class costs more
# than a name here, and an import does it several times a row.
_TELEGRAM, _EMAIL = ChannelName.TELEGRAM, ChannelName.EMAIL
_TELEGRAM_DEFAULT, _EMAIL_DEFAULT = DEFAULT_CADENCE[_TELEGRAM], DEFAULT_CADENCE[_EMAIL]
_ACTIVE, _PENDING = AddressStatus.ACTIVE, AddressStatus.PENDING
CSV_COLUMNS = ("telegram_chat", "email", "topics", "confirmed", "telegram_cadence", "email_cadence")
#: How a spreadsheet knows a formula (and "'", which hides one): an address may begin so, "=cmd|'/c'!a0@x.org".
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


class TopicResolver(Protocol):
    """What the store needs of the product's taxonomy: topic names, aliases or slugs turned into slugs.

    An unknown name raises an error derived from :class:`NewsbotError`, reported like any invalid row.
    """

    def resolve_all(self, names: Iterable[str]) -> list[str]: ...


#: email-validator's most common reasons, word for word, marked so that a reader who mistypes an address reads the
#: reason in their language; rarer ones (naming the character at fault) stay the validator's English.
VALIDATOR_REASONS = frozenset(
    {
        N_("An email address must have an @-sign."),
        N_("There must be something before the @-sign."),
        N_("There must be something after the @-sign."),
        N_("The part after the @-sign is not valid. It should have a period."),
        N_("An email address cannot have two periods in a row."),
        N_("An email address cannot end with a period."),
        N_("An email address cannot have a period immediately before the @-sign."),
        N_("An email address cannot have a hyphen immediately after the @-sign."),
        N_("The part after the @-sign contains invalid characters: '@'."),
        N_("The email address contains invalid characters before the @-sign: SPACE."),
        N_("The part after the @-sign is a special-use or reserved name that cannot be used with email."),
    }
)


def normalise_email(address: str) -> str:
    """A syntactically valid address in normal form (no DNS look-up: that would make imports slow and flaky)."""
    try:
        return normal_email(address.strip())
    except EmailNotValidError as exc:
        reason = str(exc)
        raise InvalidSubscriber(
            N_("invalid email address %(address)s: %(reason)s"),
            address=repr(address),
            reason=ReaderText(reason) if reason in VALIDATOR_REASONS else reason,
        ) from None


def normalise_chat_id(chat: str) -> str:
    chat = chat.strip()
    if not _CHAT_ID.match(chat):
        raise InvalidSubscriber(f"invalid Telegram chat id {chat!r}: expected a number such as 123456789")
    return str(int(chat))


def parse_cadence(value: str) -> Cadence:
    cadence = _CADENCE_NAMES.get(value.strip().lower())  # a dict look-up: Cadence(...) costs a µs a row on import
    if cadence is None:
        raise InvalidSubscriber(
            N_("invalid cadence %(cadence)s: expected one of %(choices)s"),
            cadence=repr(value),
            choices=", ".join(_CADENCE_NAMES),
        )
    return cadence


def parse_cadence_options(options: Iterable[str]) -> dict[ChannelName, Cadence]:
    """``CHANNEL=CADENCE`` pairs, as in ``--cadence email=instant``."""
    cadences: dict[ChannelName, Cadence] = {}
    for option in options:
        channel, sep, cadence = option.partition("=")
        if not sep:
            raise InvalidSubscriber(f"invalid --cadence {option!r}: expected CHANNEL=CADENCE, e.g. email=instant")
        try:
            cadences[ChannelName(channel.strip().lower())] = parse_cadence(cadence)
        except ValueError:
            raise InvalidSubscriber(
                f"invalid --cadence {option!r}: channel must be {' or '.join(c.value for c in ChannelName)}"
            ) from None
    return cadences


def build_subscriber(
    taxonomy: TopicResolver,
    *,
    telegram_chat: str | None,
    email: str | None,
    topics: Iterable[str],
    confirmed: bool = False,
    cadences: Mapping[ChannelName, Cadence] | None = None,
) -> NewSubscriber:
    """A validated subscriber: at least one address, at least one known topic, a valid cadence per channel.

    An email address starts pending (double opt-in) unless *confirmed*: it receives nothing until then.
    """
    cadences = cadences or {}
    found: list[NewAddress] = []
    if telegram_chat:
        cadence = cadences.get(_TELEGRAM, _TELEGRAM_DEFAULT)
        found.append(NewAddress(_TELEGRAM, normalise_chat_id(telegram_chat), cadence, _ACTIVE))
    if email:
        cadence = cadences.get(_EMAIL, _EMAIL_DEFAULT)
        found.append(NewAddress(_EMAIL, normalise_email(email), cadence, _ACTIVE if confirmed else _PENDING))
    if not found:
        raise InvalidSubscriber("a subscriber needs a Telegram chat id or an email address")
    if cadences:
        unused = set(cadences).difference(a.channel for a in found)
        if unused:
            raise InvalidSubscriber(f"cadence given for {', '.join(sorted(unused))} but no such address")
    slugs = taxonomy.resolve_all([t for t in topics if t.strip()])
    if not slugs:
        raise InvalidSubscriber("a subscriber must follow at least one topic")
    return NewSubscriber(addresses=tuple(found), topics=tuple(slugs))


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class CsvImport:
    subscribers: list[NewSubscriber]
    errors: list[RowError]
    rows: int
    #: The line of each valid subscriber, so that what the store refuses of a row names its line too.
    lines: list[int] = field(default_factory=list)

    def refused(self, reasons: dict[int, str]) -> list[RowError]:
        """Every invalid row, these *reasons* of the store's (by index in ``subscribers``) included, in line order."""
        given = (RowError(self.lines[i], why) for i, why in reasons.items())
        return sorted([*self.errors, *given], key=lambda error: error.line)


class _RememberedTopics:
    """The taxonomy's answers remembered by the names asked: a long list repeats a few sets of topics, and
    resolving names (case, aliases, '#') costs far more than a look-up. Unknown names are asked again each time,
    so every bad row gets its own error."""

    def __init__(self, taxonomy: TopicResolver) -> None:
        self._taxonomy = taxonomy
        self._known: dict[tuple[str, ...], list[str]] = {}

    def resolve_all(self, names: Iterable[str]) -> list[str]:
        asked = tuple(names)
        slugs = self._known.get(asked)
        if slugs is None:
            slugs = self._known[asked] = self._taxonomy.resolve_all(asked)
        return slugs


_CONFIRMED_VALUES = _TRUE | _FALSE
_CADENCE_COLUMNS = tuple((channel, f"{channel.value}_cadence") for channel in ChannelName)
#: How many rows are checked between two calls of a progress callback.
PROGRESS_EVERY = 5_000


def csv_cell(address: str) -> str:
    """An email address as a cell of an exported CSV: one a spreadsheet would run as a formula is written behind a
    "'", which :func:`read_subscribers_csv` takes off again, so an export imports back unchanged."""
    return "'" + address if address.startswith(_FORMULA_STARTS) else address


def read_subscribers_csv(
    text: str, taxonomy: TopicResolver, progress: Callable[[int], None] | None = None
) -> CsvImport:
    """Validate every row of a subscriber CSV, collecting errors with their line numbers.

    Columns: ``telegram_chat``, ``email``, ``topics`` (slugs separated by ';'), and optionally ``confirmed``,
    ``telegram_cadence``, ``email_cadence``. An address that appears twice in the file (an email address in any
    case) is an error on the second line. Blank lines are skipped. *progress*, if given, is called with the
    number of rows checked so far every ``PROGRESS_EVERY`` rows.
    """
    reader = csv.reader(io.StringIO(text))
    header = [name.strip() for name in next(reader, [])]
    missing = {"topics"} - set(header)
    if not header or missing or not ({"telegram_chat", "email"} & set(header)):
        raise InvalidSubscriber(
            "line 1: the header must name the columns telegram_chat and/or email, and topics "
            f"(optional: confirmed, telegram_cadence, email_cadence); found {', '.join(header) or 'nothing'}"
        )
    unknown = set(header) - set(CSV_COLUMNS)
    if unknown:
        raise InvalidSubscriber(f"line 1: unknown column(s) {', '.join(sorted(unknown))}")
    topics = _RememberedTopics(taxonomy)
    cadence_columns = [(channel, column) for channel, column in _CADENCE_COLUMNS if column in header]
    valid: list[NewSubscriber] = []
    lines: list[int] = []
    errors: list[RowError] = []
    seen: dict[tuple[ChannelName, str], int] = {}
    rows = 0
    with garbage_collection_paused():
        for row in reader:
            if not row:
                continue
            rows += 1
            if progress is not None and rows % PROGRESS_EVERY == 0:
                progress(rows)
            line = reader.line_num
            try:
                if len(row) > len(header):
                    raise InvalidSubscriber("more fields than the header has columns")
                # A short row: its missing fields are absent.
                cells = dict(zip(header, map(str.strip, row), strict=False))
                confirmed = cells.get("confirmed", "").lower()
                if confirmed not in _CONFIRMED_VALUES:
                    raise InvalidSubscriber(f"confirmed must be yes/no or true/false, not {cells['confirmed']!r}")
                cadences = {
                    channel: parse_cadence(cells[column]) for channel, column in cadence_columns if cells.get(column)
                }
                email = cells.get("email")
                if email and email[0] == "'" and email[1:2] in _FORMULA_STARTS:
                    email = email[1:]  # written so by csv_cell
                subscriber = build_subscriber(
                    topics,
                    telegram_chat=cells.get("telegram_chat"),
                    email=email,
                    topics=cells.get("topics", "").split(";"),
                    confirmed=confirmed in _TRUE,
                    cadences=cadences,
                )
                keys = [
                    (a.channel, email_key(a.address) if a.channel is _EMAIL else a.address)
                    for a in subscriber.addresses
                ]
                for address, key in zip(subscriber.addresses, keys, strict=True):
                    if key in seen:
                        raise InvalidSubscriber(f"{address.address} already appears on line {seen[key]}")
                seen.update(dict.fromkeys(keys, line))
                valid.append(subscriber)
                lines.append(line)
            except NewsbotError as exc:
                errors.append(RowError(line, str(exc)))
    if progress is not None:
        progress(rows)
    return CsvImport(subscribers=valid, errors=errors, rows=rows, lines=lines)
