"""Social distribution: which of the outlet's Telegram channels and other networks (via Apprise) a topic goes to.

Which topic goes where is configuration, in the taxonomy file or in ``NEWSBOT_DISTRIBUTION_FILE`` (same shape)::

    [[topic]]
    slug = "north-korea"
    telegram_channels = ["@fairview_world"]            # the outlet's own channels; the bot must be an admin there
    apprise = ["mastodon://TOKEN@mastodon.social"]     # any Apprise URL: Mastodon, Discord, Slack, Matrix, ntfy...

It is read once per process (``Newsroom.distribution``), and every URL is checked then, so a typo stops start-up.
Apprise URLs carry credentials, so they are never stored or logged: the database only holds a destination key
such as ``apprise:mastodon:3f9c1e7a52b04d68`` (the service and a hash of the URL; ``subscribers.secret_names``,
whose rule also names feeds behind a login).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bot.app.config import Settings
from bot.app.errors import ConfigurationError, TopicNotFound
from bot.stories.story import Story
from bot.topics.taxonomy import DEFAULT_TOPICS_FILE, Taxonomy, read_topic_tables
from subscribers.secret_names import secret_free_name


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a post goes. ``key`` is stored with the post; ``target`` may hold credentials and is never stored."""

    key: str
    kind: Literal["telegram", "apprise"]
    target: str
    #: A readable, secret-free name for logs and previews.
    label: str
    body_limit: int = 4096
    title_limit: int = 0


class Distribution:
    """Topics mapped to destinations, read once from the taxonomy or distribution file."""

    def __init__(self, by_topic: dict[str, tuple[Destination, ...]]) -> None:
        self.by_topic = by_topic
        self.destinations: dict[str, Destination] = {d.key: d for ds in by_topic.values() for d in ds}

    @classmethod
    def load(cls, settings: Settings, taxonomy: Taxonomy) -> Distribution:
        """Read ``NEWSBOT_DISTRIBUTION_FILE``, else the extra keys of the topics file; refuse unknown topics."""
        path = settings.distribution_file or settings.topics_file or DEFAULT_TOPICS_FILE
        if taxonomy.source is not None and taxonomy.source[0] == path:  # the topics file: already parsed
            return cls.from_tables(path, taxonomy.source[1], taxonomy)
        return cls.from_toml(path, taxonomy)

    @classmethod
    def from_toml(cls, path: Path, taxonomy: Taxonomy) -> Distribution:
        return cls.from_tables(path, read_topic_tables(path, "distribution file"), taxonomy)

    @classmethod
    def from_tables(cls, path: Path, tables: list[dict[str, Any]], taxonomy: Taxonomy) -> Distribution:
        """The destinations in the ``[[topic]]`` tables read from *path* (named in errors)."""
        by_topic: dict[str, list[Destination]] = {}
        for index, entry in enumerate(tables, start=1):
            channels, urls = entry.get("telegram_channels", []), entry.get("apprise", [])
            if not channels and not urls:
                continue
            where = f"{path}: topic #{index}"
            try:
                slug = taxonomy.resolve(str(entry.get("slug", ""))).slug
            except TopicNotFound as exc:
                raise ConfigurationError(f"{where}: {exc}") from None
            found = by_topic.setdefault(slug, [])
            found.extend(telegram_destination(channel, where) for channel in _strings(channels, where))
            found.extend(apprise_destination(url, where) for url in _strings(urls, where))
        return cls({slug: tuple(dict.fromkeys(ds)) for slug, ds in by_topic.items()})

    def for_story(self, story: Story) -> list[Destination]:
        """Every destination of any of the story's topics, once each, in topic order."""
        chosen = (d for topic in story.topics for d in self.by_topic.get(topic, ()))
        return list(dict.fromkeys(chosen))

    def __bool__(self) -> bool:
        return bool(self.destinations)


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise ConfigurationError(f"{where}: telegram_channels and apprise must be lists of strings")
    return [item.strip() for item in value]


def telegram_destination(channel: str, where: str = "distribution") -> Destination:
    """An outlet channel by @username or numeric chat id (e.g. -1001234567890)."""
    name = channel.strip()
    if not (name.startswith("@") and len(name) > 1) and not name.lstrip("-").isdigit():
        raise ConfigurationError(f"{where}: Telegram channel {name!r} must be @username or a numeric chat id")
    return Destination(key=f"telegram:{name}", kind="telegram", target=name, label=f"Telegram {name}")


def apprise_destination(url: str, where: str = "distribution") -> Destination:
    """An Apprise URL, checked now so that a typo stops start-up instead of failing every post."""
    import apprise  # its many plugins load only for a store that has Apprise destinations

    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        scheme = url.split("://", 1)[0] if "://" in url else url[:10]
        raise ConfigurationError(f"{where}: {scheme}:// URL is not one Apprise understands")
    service = url.split("://", 1)[0].lower()
    return Destination(
        key=secret_free_name("apprise", service, url),
        kind="apprise",
        target=url,
        label=plugin.url(privacy=True).split("?", 1)[0],
        body_limit=int(plugin.body_maxlen or 4096),
        title_limit=int(plugin.title_maxlen or 0),
    )
