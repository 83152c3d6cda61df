"""Moving an installation from one store to another (typically SQLite to PostgreSQL), table by table.

The target is migrated to the same revision first and must be empty, so a copy never merges two installations by
accident. Rows stream in chunks (memory stays flat however large the store), parents before children, all in one
transaction on the target: a failed copy leaves the target as empty as it was. The source's store secrets (the
link-signing key, see `subscribers.store_secret`) replace any the empty target made for itself, so links mailed
from the old store keep working.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import Integer, delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from subscribers.database import reset_id_sequences
from subscribers.errors import CopyRefused, CopyStoreFailed
from subscribers.migrate import upgrade_database
from subscribers.schema import metadata, store_secrets

CHUNK_ROWS = 5000


@contextmanager
def _on(side: Literal["source", "target"]) -> Iterator[None]:
    try:
        yield
    except (CopyRefused, CopyStoreFailed):
        raise
    except Exception as exc:
        raise CopyStoreFailed(side, exc) from exc


@dataclass
class CopyReport:
    revision: str | None
    rows: dict[str, int] = field(default_factory=dict)


async def copy_store(
    source: AsyncEngine, target: AsyncEngine, progress: Callable[[str, int], None] | None = None
) -> CopyReport:
    """Copy every table of *source* into the empty, freshly migrated *target*.

    A failure of either store is raised as :class:`CopyStoreFailed` naming the side.
    """
    with _on("source"):
        source_revision = await upgrade_database(source)
    with _on("target"):
        target_revision = await upgrade_database(target)
    if source_revision != target_revision:  # pragma: no cover - both were just upgraded to head
        raise CopyRefused(f"source is at revision {source_revision}, target at {target_revision}")
    tables = metadata.sorted_tables
    with _on("target"):
        async with target.connect() as conn:
            for table in tables:
                if table is store_secrets:  # a fresh store may have made its own; the source's replaces it
                    continue
                if (await conn.execute(select(func.count()).select_from(table))).scalar_one():
                    raise CopyRefused(f"the target store is not empty (table {table.name} has rows); nothing copied")
    report = CopyReport(revision=target_revision)
    with _on("target"):
        async with target.begin() as writing:
            await writing.execute(delete(store_secrets))
            with _on("source"):
                async with source.connect() as reading:
                    for table in tables:
                        copied = 0
                        order = list(table.primary_key.columns)
                        result = await reading.stream(select(table).order_by(*order))
                        async for chunk in result.mappings().partitions(CHUNK_ROWS):
                            with _on("target"):
                                await writing.execute(table.insert(), [dict(row) for row in chunk])
                            copied += len(chunk)
                            if progress is not None:
                                progress(table.name, len(chunk))
                        report.rows[table.name] = copied
            integer_ids = [t for t in tables if "id" in t.c and isinstance(t.c.id.type, Integer)]
            await reset_id_sequences(writing, integer_ids)
    return report
