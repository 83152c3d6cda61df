"""What one reader's weekly digest holds: the week's stories grouped by the topics the reader follows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.rendering.safe_links import http_link
from bot.stories.summarising import shorten
from bot.topics.taxonomy import Taxonomy, Topic
from subscribers import stories as stories_store

_HEADLINE_CHARS = 300


@dataclass(frozen=True, slots=True)
class DigestEntry:
    headline: str
    summary: str
    url: str | None
    breaking: bool


@dataclass(frozen=True, slots=True)
class DigestGroup:
    topic: Topic
    stories: tuple[DigestEntry, ...]


@dataclass(frozen=True, slots=True)
class DigestContent:
    """One reader's digest before rendering: groups in taxonomy order, each story once, newest first."""

    groups: tuple[DigestGroup, ...]
    top: DigestEntry
    count: int


def _entry(story: stories_store.DigestStory) -> DigestEntry:
    return DigestEntry(
        headline=shorten(" ".join(story.title.split()), _HEADLINE_CHARS),
        summary=" ".join(story.summary.split()),
        url=http_link(story.url),
        breaking=story.breaking,
    )


def digest_content(
    stories: Iterable[stories_store.DigestStory], followed: frozenset[str], taxonomy: Taxonomy
) -> DigestContent | None:
    """Group the week's stories (newest first) by the first of their topics the reader follows; None if none.

    A story in several followed topics appears once, under the first of them in the story's own topic order.
    The top story is the newest breaking story, else the newest story.
    """
    grouped: dict[str, list[stories_store.DigestStory]] = {}
    for story in stories:
        topic = next((slug for slug in story.topics if slug in followed), None)
        if topic is not None:
            grouped.setdefault(topic, []).append(story)
    if not grouped:
        return None
    order = {slug: index for index, slug in enumerate(taxonomy.slugs)}
    groups = tuple(
        DigestGroup(
            taxonomy[slug] if slug in taxonomy else Topic(slug=slug, name=slug),
            tuple(_entry(story) for story in grouped[slug]),
        )
        for slug in sorted(grouped, key=lambda slug: (order.get(slug, len(order)), slug))
    )
    picked = sorted((story for members in grouped.values() for story in members), key=lambda s: s.created_at)
    top = next((story for story in reversed(picked) if story.breaking), picked[-1])
    return DigestContent(groups=groups, top=_entry(top), count=len(picked))
