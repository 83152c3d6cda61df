"""A topic's Atom 1.0 feed (RFC 4287), so newsbot is a feed source too: feed readers and other sites follow it.

Built with ElementTree rather than a template, so the document is well-formed whatever a title holds: markup is
escaped by the serialiser and characters XML 1.0 cannot carry (control characters) are dropped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bot.app.config import Settings
from bot.rendering.story_body import page_html, plain_text
from bot.rendering.story_links import read_more_url, story_page_url, topic_archive_url
from bot.topics.taxonomy import Topic

ATOM = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml; charset=utf-8"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class FeedEntry(Protocol):
    """What an entry needs of a published story (:class:`subscribers.published_stories.PublishedStory` has it)."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def url(self) -> str | None: ...
    @property
    def author(self) -> str | None: ...
    @property
    def topics(self) -> tuple[str, ...]: ...
    @property
    def published_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


def topic_feed_url(settings: Settings, slug: str) -> str:
    """Where the topic's feed is served: its archive page's URL plus ``/feed.atom``."""
    return f"{topic_archive_url(settings, slug)}/feed.atom"


def _text(text: str) -> str:
    return _NOT_XML.sub("", text)


def _child(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", {k: _text(v) for k, v in attributes.items()})
    if text is not None:
        element.text = _text(text)
    return element


def _moment(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def topic_feed(
    settings: Settings, topic: Topic, entries: Sequence[FeedEntry], *, now: datetime, topic_names: dict[str, str]
) -> bytes:
    """The feed document: the topic's newest *entries*, each linked where "read more" leads, with its summary.

    ``updated`` is the newest entry's (*now* for a topic with none yet); *topic_names* label each entry's topics.
    """
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    archive = topic_archive_url(settings, topic.slug)
    _child(feed, "id", archive)
    _child(feed, "title", f"{settings.outlet_name}: {topic.name}")
    if topic.description:
        _child(feed, "subtitle", topic.description)
    _child(feed, "updated", _moment(max((entry.updated_at for entry in entries), default=now)))
    _child(feed, "link", rel="self", type="application/atom+xml", href=topic_feed_url(settings, topic.slug))
    _child(feed, "link", rel="alternate", type="text/html", href=archive)
    _child(_child(feed, "author"), "name", settings.outlet_name)
    _child(feed, "generator", "newsbot")
    for story in entries:
        entry = _child(feed, "entry")
        _child(entry, "id", story_page_url(settings, story.id))
        _child(entry, "title", story.title)
        _child(entry, "link", rel="alternate", type="text/html", href=read_more_url(settings, story))
        _child(entry, "published", _moment(story.published_at))
        _child(entry, "updated", _moment(story.updated_at))
        if story.author:
            _child(_child(entry, "author"), "name", story.author)
        for slug in story.topics:
            _child(entry, "category", term=slug, label=topic_names.get(slug, slug))
        _child(entry, "summary", plain_text(story.summary), type="text")
        _child(entry, "content", str(page_html(story.body)), type="html")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
