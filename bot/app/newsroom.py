"""The assembled application: settings, store, taxonomy, tagger, renderer, link signer and clock, built explicitly.

Every entry point (CLI command, bot, web app, test) opens one :class:`Newsroom` and passes it on, so nothing
depends on hidden globals and tests build exactly the pieces they need.

The secret that signs links is ``NEWSBOT_SECRET_KEY`` when set, else a random one newsbot keeps in the store
(``subscribers.store_secret``): never a value anyone can know, and the same in every process sharing the store.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app.clock import Clock, SystemClock
from bot.app.config import Settings
from bot.readers.request_limits import RequestLimits
from bot.rendering.signed_links import LinkSigner
from bot.topics.distribution import Distribution
from bot.topics.tagging import TopicTagger
from bot.topics.taxonomy import Taxonomy
from bot.topics.topic_settings import refresh_topic_settings
from subscribers.database import create_engine, read_only
from subscribers.migrate import upgrade_database
from subscribers.store_secret import secret_from_store

if TYPE_CHECKING:  # built on first use: a store-only command never loads Jinja or MJML
    from bot.rendering.renderer import Renderer


@dataclass(frozen=True)
class SigningSecret:
    """The secret links are signed with, and where it came from (for the start-up log; the value is never shown)."""

    value: str = field(repr=False)
    source: Literal["environment", "store"]

    @property
    def description(self) -> str:
        if self.source == "environment":
            return "links are signed with NEWSBOT_SECRET_KEY"
        return "links are signed with the random secret kept in the store (NEWSBOT_SECRET_KEY is not set)"


async def resolve_secret(settings: Settings, engine: AsyncEngine) -> SigningSecret:
    """``NEWSBOT_SECRET_KEY`` if set (config refuses short and public values), else the store's own secret."""
    if settings.secret_key:
        return SigningSecret(settings.secret_key, "environment")
    return SigningSecret(await secret_from_store(engine), "store")


@dataclass
class Newsroom:
    settings: Settings
    engine: AsyncEngine
    taxonomy: Taxonomy
    tagger: TopicTagger
    signer: LinkSigner
    secret: SigningSecret
    #: Limits on signups and confirm attempts (its clock is what tests move).
    request_limits: RequestLimits = field(default_factory=RequestLimits)
    #: Called by the intake after a story was stored and queued or retagged, whatever the door: `newsbot run`
    #: registers its worker's and social poster's wake-ups here, so sending starts at once instead of at the next poll.
    published_listeners: list[Callable[[], None]] = field(default_factory=list)
    #: The time every door (chat, web, feeds, CLI) stamps and compares with; tests hand in a clock they move.
    clock: Clock = field(default_factory=SystemClock)
    #: The version of the desk's topics and destinations in use (None: the files'), see bot.topics.topic_settings.
    topic_settings_version: int | None = None

    @functools.cached_property
    def renderer(self) -> Renderer:
        """The templates' renderer, shared by every channel: built when a command or process first renders."""
        from bot.rendering.renderer import Renderer

        return Renderer(self.settings, self.taxonomy)

    @functools.cached_property
    def distribution(self) -> Distribution:
        """Which topics go to which social destinations: read (and checked) once, when first needed."""
        return Distribution.load(self.settings, self.taxonomy)

    def use_topic_settings(self, taxonomy: Taxonomy, distribution: Distribution, version: int) -> None:
        """Switch to topics and destinations the desk changed: the tagger, the renderer and every door that asks
        the newsroom (keyboards, compose, intake, the social poster) use them from their next look."""
        self.taxonomy, self.tagger = taxonomy, TopicTagger(taxonomy)
        if "renderer" in self.__dict__:  # one not built yet will be built with the new taxonomy
            self.renderer.taxonomy = taxonomy
        self.__dict__["distribution"] = distribution  # replaces the cached property's value
        self.topic_settings_version = version

    @property
    def reader(self) -> AsyncEngine:
        """The store for reads: ``newsroom.reader.connect()`` reads, ``newsroom.engine.begin()`` writes.

        On SQLite every write transaction takes the write lock up front; reads through this view don't, so
        readers (a worker rendering a batch, the web side) never wait for writers or for each other.
        """
        return read_only(self.engine)

    @classmethod
    async def open(cls, settings: Settings, *, migrate: bool = True) -> Newsroom:
        """Load the taxonomy, connect to the store and bring its schema up to date; the desk's
        topics and destinations replace the files' when an admin has changed them there."""
        taxonomy = Taxonomy.load(settings.topics_file)
        engine = create_engine(settings.database_url)
        try:
            if migrate:
                await upgrade_database(engine)
            secret = await resolve_secret(settings, engine)
        except BaseException:
            await engine.dispose()
            raise
        newsroom = cls(
            settings=settings,
            engine=engine,
            taxonomy=taxonomy,
            tagger=TopicTagger(taxonomy),
            signer=LinkSigner(secret.value, settings.public_url),
            secret=secret,
        )
        try:
            if migrate:  # the desk's topics, once an admin changed them there (a store not migrated has none)
                await refresh_topic_settings(newsroom)
        except BaseException:
            await engine.dispose()
            raise
        return newsroom

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
