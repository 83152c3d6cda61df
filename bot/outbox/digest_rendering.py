"""Rendering one digest: the week's stories loaded once, a reader's content, the Telegram parts and the email.

Shared by the delivery worker (`bot.outbox.digest_messages`, which caches what it renders) and by
``newsbot digest --preview`` (`bot.outbox.digest_preview`), so a preview is exactly what a reader would get.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from bot.app.newsroom import Newsroom
from bot.languages.catalogs import SOURCE_LANGUAGE
from bot.languages.formatting import weekday
from bot.outbox.digest_grouping import DigestContent, digest_content, first_stories
from bot.outbox.digest_weeks import DigestWeek
from bot.rendering.email_message import EmailTemplate
from bot.rendering.renderer import CompiledEmail
from bot.rendering.story_links import read_more_url, topic_archive_url
from bot.rendering.telegram_digest import TELEGRAM_DIGEST_TEMPLATE, split_telegram_message
from subscribers import stories as stories_store

#: Gmail clips an email's HTML past 102 KB, hiding what follows, the unsubscribe link included; stay well below.
MAX_EMAIL_HTML_BYTES = 90_000
#: Room kept for what each reader's copy adds to the compiled HTML (personal unsubscribe and preference links).
_PERSONAL_LINKS_BYTES = 2_000


@dataclass(frozen=True, slots=True)
class WeekStories:
    """A digest week and its published stories (newest first), loaded once for every reader."""

    week: DigestWeek
    stories: list[stories_store.DigestStory]
    topics: frozenset[str]
    #: Each story's topics by id.
    topics_of: dict[str, tuple[str, ...]]

    def in_languages(self, languages: frozenset[str]) -> WeekStories:
        """The week as a reader who chose story *languages* gets it (none chosen: every story); a story stored
        before stories had a language stays in."""
        if not languages:
            return self
        kept = [story for story in self.stories if story.language is None or story.language in languages]
        return WeekStories(
            self.week,
            kept,
            frozenset(topic for story in kept for topic in story.topics),
            {story.id: story.topics for story in kept},
        )

    def reached(self, sent_on: Mapping[str, str], followed: frozenset[str]) -> dict[str, str]:
        """The part of *sent_on* a reader following *followed* sees in their digest (the rest changes nothing)."""
        return {
            story_id: day
            for story_id, day in sent_on.items()
            if not followed.isdisjoint(self.topics_of.get(story_id, ()))
        }


async def load_week_stories(newsroom: Newsroom, week: DigestWeek) -> WeekStories:
    """The stories published in *week*, read through the newsroom's read-only view of the store."""
    async with newsroom.reader.connect() as conn:
        stories = await stories_store.load_week_stories(conn, week.start, week.end)
    return WeekStories(
        week,
        stories,
        frozenset(topic for story in stories for topic in story.topics),
        {story.id: story.topics for story in stories},
    )


def sent_on_labels(
    sent_at: Mapping[str, datetime], week: DigestWeek, language: str = SOURCE_LANGUAGE, zone: tzinfo | None = None
) -> dict[str, str]:
    """The weekday (in the reader's *zone*, default the digest's, and language) each story already reached the
    reader, e.g. ``{"s1": "Tuesday"}`` or ``{"s1": "Dienstag"}``."""
    local = zone or week.zone
    return {story_id: weekday(moment.astimezone(local), language) for story_id, moment in sent_at.items()}


def reader_content(
    newsroom: Newsroom, loaded: WeekStories, followed: frozenset[str], sent_on: Mapping[str, str]
) -> DigestContent | None:
    """What a reader following *followed* gets from the week; None when none of it is theirs."""
    settings = newsroom.settings
    return digest_content(
        loaded.stories,
        followed,
        newsroom.taxonomy,
        link=lambda story: read_more_url(settings, story),
        archive=lambda slug: topic_archive_url(settings, slug),
        order=settings.digest_topic_order,
        sent_on=sent_on,
    )


def _context(newsroom: Newsroom, loaded: WeekStories, content: DigestContent, language: str) -> dict[str, Any]:
    return {
        "language": language,
        "week": loaded.week.key,
        "week_label": loaded.week.label_in(language),
        "groups": content.groups,
        "top_story": content.top,
        "story_count": content.count,
        "more_count": content.count - 1,
        "outlet_name": newsroom.settings.outlet_name,
        "public_url": newsroom.settings.public_url,
    }


def telegram_parts(
    newsroom: Newsroom, loaded: WeekStories, content: DigestContent, language: str = SOURCE_LANGUAGE
) -> tuple[str, ...]:
    """The Telegram digest in *language*: one message when it fits, else split between stories."""
    text = newsroom.renderer.render(TELEGRAM_DIGEST_TEMPLATE, _context(newsroom, loaded, content, language))
    return tuple(split_telegram_message(text))


def compile_email(
    newsroom: Newsroom,
    loaded: WeekStories,
    content: DigestContent,
    max_html_bytes: int = MAX_EMAIL_HTML_BYTES,
    language: str = SOURCE_LANGUAGE,
) -> CompiledEmail:
    """The digest email, compiled once for every reader of this content, its HTML under *max_html_bytes*.

    Past the cap, stories are left out from the end (the least relevant topics' oldest stories) and each topic
    that lost some links to its archive as "N more stories this week"; usually one or two more compilations.
    """
    budget = max_html_bytes - _PERSONAL_LINKS_BYTES
    compiled = newsroom.renderer.compile_email_set("digest", _context(newsroom, loaded, content, language))
    shown = content.shown
    while (size := len(compiled.html.encode("utf-8"))) > budget and shown > 1:
        per_story = size / shown
        shown = max(1, shown - math.ceil((size - budget) / per_story))
        trimmed = first_stories(content, shown)
        compiled = newsroom.renderer.compile_email_set("digest", _context(newsroom, loaded, trimmed, language))
    return compiled


def email_template(
    newsroom: Newsroom, loaded: WeekStories, content: DigestContent, language: str = SOURCE_LANGUAGE
) -> EmailTemplate:
    """:func:`compile_email` in *language* as a MIME skeleton each reader's links are patched into."""
    return EmailTemplate(compile_email(newsroom, loaded, content, language=language), newsroom.settings)
