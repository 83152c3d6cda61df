"""Where a reader goes to read more: the outlet's own page, else newsbot's page for the story.

Every channel (Telegram buttons, emails, digests, social posts) links through these two functions, so the
story pages (``/stories/{id}``) and topic archives (``/topics/{slug}``) served by :mod:`bot.web.story_pages`
are named in one place.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import quote

from bot.rendering.safe_links import http_link


class HasPublicUrl(Protocol):
    """Settings, or anything else that knows the public address newsbot's pages are served at."""

    public_url: str


class LinkableStory(Protocol):
    """A story as far as linking to it goes: a stored story, a draft being previewed, a digest entry."""

    @property
    def id(self) -> str: ...

    @property
    def url(self) -> str | None: ...


def story_page_url(settings: HasPublicUrl, story_id: str) -> str:
    """newsbot's own page for a story (``/stories/{id}``), whether or not the outlet has one."""
    return f"{settings.public_url}/stories/{quote(story_id, safe='')}"


def read_more_url(settings: HasPublicUrl, story: LinkableStory) -> str:
    """The story's own http(s) URL if it has one, else its page on newsbot, so every story has a "read more"."""
    return http_link(story.url) or story_page_url(settings, story.id)


def topic_archive_url(settings: HasPublicUrl, slug: str) -> str:
    """The archive page of a topic's published stories (``/topics/{slug}``); its Atom feed is ``…/feed.atom``."""
    return f"{settings.public_url}/topics/{quote(slug, safe='')}"
