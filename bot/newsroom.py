"""The assembled application: settings, store, taxonomy, tagger, renderer and link signer, built explicitly.

Every entry point (CLI command, bot, web app, test) opens one :class:`Newsroom` and passes it on, so nothing
depends on hidden globals and tests build exactly the pieces they need.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.rendering import Renderer
from bot.tagging import TopicTagger
from bot.taxonomy import Taxonomy
from bot.tokens import LinkSigner
from subscribers.database import create_engine, read_only
from subscribers.migrate import upgrade_database


@dataclass
class Newsroom:
    settings: Settings
    engine: AsyncEngine
    taxonomy: Taxonomy
    tagger: TopicTagger
    renderer: Renderer
    signer: LinkSigner
    #: Called after a new story was stored and queued, whatever the door (bot, API, feed): `newsroom run`
    #: registers its worker's and social poster's wake-ups here, so sending starts at once instead of at the next poll.
    published_listeners: list[Callable[[], None]] = field(default_factory=list)

    @property
    def reader(self) -> AsyncEngine:
        """The store for reads: ``newsroom.reader.connect()`` reads, ``newsroom.engine.begin()`` writes.

        On SQLite every write transaction takes the write lock up front; reads through this view don't, so
        readers (a worker rendering a batch, the web side) never wait for writers or for each other.
        """
        return read_only(self.engine)

    @classmethod
    async def open(cls, settings: Settings, *, migrate: bool = True) -> Newsroom:
        """Load the taxonomy and templates, connect to the store and bring its schema up to date."""
        taxonomy = Taxonomy.load(settings.topics_file)
        engine = create_engine(settings.database_url)
        try:
            if migrate:
                await upgrade_database(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(
            settings=settings,
            engine=engine,
            taxonomy=taxonomy,
            tagger=TopicTagger(taxonomy),
            renderer=Renderer(settings, taxonomy),
            signer=LinkSigner(settings.secret_key, settings.public_url),
        )

    def notify_published(self) -> None:
        for listener in self.published_listeners:
            listener()

    async def close(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Newsroom:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
