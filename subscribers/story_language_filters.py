"""Which story languages each reader wants: chosen in /settings or on the preference page, none meaning every
language. Planning leaves a reader out of a story in a language they did not choose (:func:`held_back_from`, part
of the one planning statement), and the weekly digest leaves such stories out of their digest; digest planning
counts only a week's stories in the reader's languages (:func:`in_chosen_language`), so a reader with none gets no
digest.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import case, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement, Select

from subscribers.database import CHUNK
from subscribers.schema import reader_story_languages, stories


def held_back_from(language: str) -> Select:
    """The readers whose choice leaves out stories in *language*: they chose languages, and not this one.

    Uncorrelated, so planning reads the (small) table once for the whole audience rather than once per reader.
    """
    chosen = reader_story_languages.c
    return (
        select(chosen.subscriber_id)
        .group_by(chosen.subscriber_id)
        .having(func.sum(case((chosen.language == language, 1), else_=0)) == 0)
    )


def in_chosen_language(subscriber_id: ColumnElement[int], language: ColumnElement[str | None]) -> ColumnElement[bool]:
    """Whether the reader *subscriber_id* takes a story in *language*, as a condition inside a set-based query: a
    story without a language reaches everyone, a reader who chose none takes every language, anyone else only the
    ones they chose (the same rule as the digest's content, `WeekStories.in_languages`).

    The readers with a choice are read once, uncorrelated; only theirs are looked up per story, by primary key.
    """
    chosen = reader_story_languages.c
    return or_(
        language.is_(None),
        subscriber_id.not_in(select(chosen.subscriber_id)),
        exists().where(chosen.subscriber_id == subscriber_id, chosen.language == language),
    )


async def story_languages_of(conn: AsyncConnection, subscriber_id: int) -> frozenset[str]:
    """The languages the reader chose; empty when they take every language."""
    rows = await conn.execute(
        select(reader_story_languages.c.language).where(reader_story_languages.c.subscriber_id == subscriber_id)
    )
    return frozenset(rows.scalars())


async def story_languages_of_readers(conn: AsyncConnection, subscriber_ids: Iterable[int]) -> dict[int, frozenset[str]]:
    """Each reader's chosen languages (empty: every language), a chunk of readers per query for a batch."""
    ids = sorted(set(subscriber_ids))
    found: dict[int, set[str]] = {subscriber_id: set() for subscriber_id in ids}
    for begin in range(0, len(ids), CHUNK):
        rows = await conn.execute(
            select(reader_story_languages.c.subscriber_id, reader_story_languages.c.language).where(
                reader_story_languages.c.subscriber_id.in_(ids[begin : begin + CHUNK])
            )
        )
        for subscriber_id, language in rows:
            found[subscriber_id].add(language)
    return {subscriber_id: frozenset(languages) for subscriber_id, languages in found.items()}


async def set_story_languages(conn: AsyncConnection, subscriber_id: int, languages: Iterable[str]) -> bool:
    """Make *languages* (short codes, already checked) the reader's choice, none meaning every language; False
    when that was their choice already."""
    wanted = frozenset(languages)
    have = await story_languages_of(conn, subscriber_id)
    if wanted == have:
        return False
    table = reader_story_languages
    if have - wanted:
        await conn.execute(
            delete(table).where(table.c.subscriber_id == subscriber_id, table.c.language.in_(sorted(have - wanted)))
        )
    if wanted - have:
        await conn.execute(
            table.insert(), [{"subscriber_id": subscriber_id, "language": code} for code in sorted(wanted - have)]
        )
    return True


async def published_languages(conn: AsyncConnection) -> list[str]:
    """The languages the outlet has published stories in, by code (read from the index on ``stories.language``)."""
    rows = await conn.execute(
        select(stories.c.language).where(stories.c.language.is_not(None)).distinct().order_by(stories.c.language)
    )
    return list(rows.scalars())
