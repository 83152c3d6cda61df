"""The topic taxonomy: which topics readers can follow, and the words that signal each one.

The default taxonomy ships inside the package (`bot/topics/topics.toml`); a newsroom replaces it with
``NEWSBOT_TOPICS_FILE``. Each ``[[topic]]`` has a ``slug``, ``name``, ``description``, ``keywords`` (words that
make the tagger assign it) and ``aliases`` (other names readers may type, also counted as keywords).
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.app.errors import ConfigurationError, TopicNotFound

DEFAULT_TOPICS_FILE = Path(__file__).with_name("topics.toml")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def read_topic_tables(path: Path, what: str) -> list[dict[str, Any]]:
    """The ``[[topic]]`` tables of a TOML file; the taxonomy and the social distribution share the shape (and may
    share the file). *what* names the file in errors."""
    return _topic_tables(path, _read_text(path, what), what)


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read {what} {path}: {exc}") from None


def _topic_tables(path: Path, text: str, what: str) -> list[dict[str, Any]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"cannot read {what} {path}: {exc}") from None
    entries = data.get("topic", [])
    if not isinstance(entries, list):
        raise ConfigurationError(f"{path}: topics must be written as [[topic]] tables, not [topic]")
    return entries


@dataclass(frozen=True, slots=True)
class Topic:
    slug: str
    name: str
    description: str = ""
    keywords: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def hashtag(self) -> str:
        """A Telegram hashtag: letters, digits and underscores only."""
        return "#" + re.sub(r"\W+", "_", self.name, flags=re.UNICODE).strip("_")


class Taxonomy:
    """An ordered, read-only set of topics with lookup by slug, name or alias in any case."""

    def __init__(self, topics: Iterable[Topic]) -> None:
        #: The file this taxonomy was loaded from and its ``[[topic]]`` tables, so the social distribution, which
        #: may live in the same file, reads them from here instead of parsing the file again (None: built in code).
        self.source: tuple[Path, list[dict[str, Any]]] | None = None
        self._topics: dict[str, Topic] = {}
        self._names: dict[str, str] = {}
        for topic in topics:
            if not _SLUG.match(topic.slug):
                raise ConfigurationError(f"topic slug {topic.slug!r} must be lowercase words joined by '-'")
            if topic.slug in self._topics:
                raise ConfigurationError(f"topic {topic.slug!r} is defined twice")
            self._topics[topic.slug] = topic
        for topic in self._topics.values():
            for name in (topic.slug, topic.name, *topic.aliases):
                self._names.setdefault(name.casefold(), topic.slug)

    @classmethod
    def load(cls, path: Path | None = None) -> Taxonomy:
        """Read a taxonomy TOML file (the built-in one when *path* is None).

        A file read before with the same text gives the same (read-only) taxonomy: parsing the TOML was half the
        CPU of opening a newsroom, and settings that order the digest's topics check them against the same file.
        """
        path = path or DEFAULT_TOPICS_FILE
        return _taxonomy_of(cls, path, _read_text(path, "topics file"))

    @classmethod
    def _parse(cls, path: Path, text: str) -> Taxonomy:
        tables = _topic_tables(path, text, "topics file")
        topics = []
        for index, entry in enumerate(tables, start=1):
            if "slug" not in entry:
                raise ConfigurationError(f"{path}: topic #{index} has no slug")
            for key in ("keywords", "aliases"):
                words = entry.get(key, [])
                if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
                    raise ConfigurationError(f"{path}: topic {entry['slug']!r}: {key} must be a list of words")
            topics.append(
                Topic(
                    slug=str(entry["slug"]),
                    name=str(entry.get("name", entry["slug"])),
                    description=str(entry.get("description", "")),
                    keywords=tuple(entry.get("keywords", ())),
                    aliases=tuple(entry.get("aliases", ())),
                )
            )
        if not topics:
            raise ConfigurationError(f"{path} defines no [[topic]] entries")
        taxonomy = cls(topics)
        taxonomy.source = (path, tables)
        return taxonomy

    def __iter__(self) -> Iterator[Topic]:
        return iter(self._topics.values())

    def __len__(self) -> int:
        return len(self._topics)

    def __contains__(self, slug: object) -> bool:
        return slug in self._topics

    def __getitem__(self, slug: str) -> Topic:
        return self._topics[slug]

    @property
    def slugs(self) -> list[str]:
        return list(self._topics)

    def find(self, name: str) -> Topic | None:
        """The topic *name* names exactly (as `resolve` reads it), else None: no suggestions, so trying many
        phrases (a reader's words, longest first) costs one dictionary lookup each."""
        key = self._key(name)
        slug = self._names.get(key) or self._names.get(key.replace(" ", "-")) or self._names.get(key.replace("-", " "))
        return None if slug is None else self._topics[slug]

    def resolve(self, name: str) -> Topic:
        """Find a topic by slug, name or alias, ignoring case and surrounding '#'; suggest close names if none."""
        topic = self.find(name)
        if topic is None:
            key = self._key(name)
            close = difflib.get_close_matches(key, list(self._names), n=3, cutoff=0.6)
            suggestions = list(dict.fromkeys(self._names[c] for c in close))
            raise TopicNotFound(name, suggestions)
        return topic

    @staticmethod
    def _key(name: str) -> str:
        return " ".join(name.strip().lstrip("#").replace("_", " ").casefold().split())

    def resolve_all(self, names: Iterable[str]) -> list[str]:
        """Resolve several names to slugs, in order, without duplicates; the first unknown one raises."""
        return list(dict.fromkeys(self.resolve(name).slug for name in names))


@lru_cache(maxsize=16)
def _taxonomy_of(cls: type[Taxonomy], path: Path, text: str) -> Taxonomy:
    """The taxonomy *text* (read from *path*) defines; a broken one raises, and is read again next time."""
    return cls._parse(path, text)
