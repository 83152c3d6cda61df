"""Public pages for published stories: one page per story, a topic's archive, and the topic's Atom feed.

``GET /stories/{id}`` is where "read more" leads when the outlet has no page of its own
(:func:`bot.rendering.story_links.read_more_url`); ``/stories/{id}/anything-after-it`` is the same page, so a
link may carry a readable slug of the title without newsbot having to store one. A story exists for the public
only from its ``publish_at``: before, its page is a 404 like an unknown id. A withdrawn story's page is a 410
with the withdrawal notice and none of its text; a corrected one shows the correction note and when it was made.

``GET /topics/{slug}`` lists a topic's published stories, newest first, 20 a page (``?page=2``), and
``GET /topics/{slug}/feed.atom`` is its Atom feed. The pages are plain HTML from ``templates/web/`` (autoescaped):
no script, nothing loaded from elsewhere except the story's own image, readable at phone width.

What newsbot puts around the story (labels, dates, the pager, the not-found pages) is in the language the browser
asks for first (``Accept-Language``) that newsbot speaks, else ``NEWSBOT_DEFAULT_LANGUAGE``, as on the signup page;
the answer says which (``Content-Language``) and that it depends on the header (``Vary``), so a shared cache keeps
one copy per language. The story itself is shown as it was written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from bot.app.newsroom import Newsroom
from bot.languages.catalogs import translations
from bot.languages.formatting import date_and_time
from bot.rendering.safe_links import http_link
from bot.rendering.story_body import page_html, plain_text
from bot.rendering.story_links import story_page_url, topic_archive_url
from bot.rendering.topic_feed import MEDIA_TYPE, topic_feed, topic_feed_url
from bot.topics.taxonomy import Topic
from bot.web.app_state import newsroom_of
from bot.web.reader_pages import browser_language
from subscribers import published_stories
from subscribers.published_stories import PublishedStory

router = APIRouter()

#: Stories on one archive page, and entries in a feed.
PAGE_SIZE = 20
#: How long browsers and proxies may keep a page: a correction or withdrawal shows within a minute.
_CACHE = "public, max-age=60"
_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src https: http:; base-uri 'none'; form-action 'none'"


def _when(moment: datetime, language: str) -> dict[str, str]:
    """A moment for a ``<time>`` element: machine-readable and as a reader of *language* reads it (UTC, as stored)."""
    return {"iso": moment.isoformat(timespec="seconds"), "text": f"{date_and_time(moment, language)} UTC"}


def _html(
    newsroom: Newsroom, template: str, context: dict[str, Any], *, language: str, status: int = 200
) -> HTMLResponse:
    settings = newsroom.settings
    html = newsroom.renderer.render(
        f"web/{template}",
        {"outlet_name": settings.outlet_name, "public_url": settings.public_url, "language": language, **context},
    )
    headers = {
        "Cache-Control": _CACHE,
        "Content-Language": language,
        "Vary": "Accept-Language",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": _POLICY,
    }
    return HTMLResponse(html, status_code=status, headers=headers)


def _not_found(newsroom: Newsroom, language: str, title: str, message: str, *, status: int = 404) -> HTMLResponse:
    """A page saying what is not here; *title* and *message* are already in *language*."""
    sign_up = translations(language).gettext("Sign up")
    context = {"title": title, "message": message, "links": [(f"{newsroom.settings.public_url}/subscribe", sign_up)]}
    return _html(newsroom, "notice.html.j2", context, language=language, status=status)


def _topic_links(newsroom: Newsroom, slugs: tuple[str, ...]) -> list[dict[str, str]]:
    taxonomy = newsroom.taxonomy
    return [
        {"name": taxonomy[slug].name, "url": topic_archive_url(newsroom.settings, slug)}
        for slug in slugs
        if slug in taxonomy
    ]


def _story_context(newsroom: Newsroom, story: PublishedStory, language: str) -> dict[str, Any]:
    settings = newsroom.settings
    page_url = story_page_url(settings, story.id)
    canonical = http_link(story.url)
    withdrawn = story.retracted_at is not None
    return {
        "story": story,
        "title": story.title,
        "description": " ".join(plain_text(story.summary).split()),  # one line for meta tags
        "body_html": None if withdrawn else page_html(story.body),
        "page_url": page_url,
        "canonical_url": canonical,
        "og_url": canonical or page_url,
        "image_url": None if withdrawn else http_link(story.image_url),
        "image_alt": story.image_alt or "",
        "published": _when(story.published_at, language),
        "corrected": _when(story.corrected_at, language) if story.version > 1 and story.corrected_at else None,
        "correction_note": story.correction_note,
        "withdrawn": _when(story.retracted_at, language) if story.retracted_at else None,
        "topics": _topic_links(newsroom, story.topics),
    }


@router.get("/stories/{story_id}", response_class=HTMLResponse)
async def story_page(story_id: str, request: Request, newsroom: Newsroom = Depends(newsroom_of)) -> HTMLResponse:
    language = browser_language(request, newsroom)
    async with newsroom.reader.connect() as conn:
        story = await published_stories.load_published_story(conn, story_id, newsroom.clock.now())
    if story is None:
        _ = translations(language).gettext
        return _not_found(newsroom, language, _("Story not found"), _("There is no story at this address, or not yet."))
    status = 410 if story.retracted_at is not None else 200
    return _html(newsroom, "story.html.j2", _story_context(newsroom, story, language), language=language, status=status)


@router.get("/stories/{story_id}/{slug}", response_class=HTMLResponse)
async def story_page_with_slug(
    story_id: str, slug: str, request: Request, newsroom: Newsroom = Depends(newsroom_of)
) -> HTMLResponse:
    """The same page: the words after the id are for people reading the link, not for finding the story."""
    return await story_page(story_id, request, newsroom)


def _topic_of(newsroom: Newsroom, slug: str) -> Topic | None:
    if slug not in newsroom.taxonomy:
        return None
    return newsroom.taxonomy[slug]


def _page_number(raw: str | None) -> int | None:
    """``?page=``: a whole number from 1 (absent: 1), else None."""
    if raw is None:
        return 1
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 1_000_000 else None


def _archive_entry(newsroom: Newsroom, story: PublishedStory, language: str) -> dict[str, Any]:
    return {
        "title": story.title,
        "url": story_page_url(newsroom.settings, story.id),
        "summary": plain_text(story.summary),
        "published": _when(story.published_at, language),
        "breaking": story.breaking,
        "corrected": story.version > 1,
    }


@router.get("/topics/{slug}", response_class=HTMLResponse)
async def topic_page(
    slug: str, request: Request, page: str | None = None, newsroom: Newsroom = Depends(newsroom_of)
) -> HTMLResponse:
    language = browser_language(request, newsroom)
    catalog = translations(language)
    _ = catalog.gettext
    topic = _topic_of(newsroom, slug)
    if topic is None:
        return _not_found(newsroom, language, _("Topic not found"), _("We have no topic at this address."))
    number = _page_number(page)
    if number is None:
        message = _("The page number must be a whole number from 1.")
        return _not_found(newsroom, language, _("No such page"), message, status=400)
    now = newsroom.clock.now()
    async with newsroom.reader.connect() as conn:
        total = await published_stories.count_topic_stories(conn, slug, now)
        found = await published_stories.list_topic_stories(
            conn, slug, now, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
        )
    pages = max(1, -(-total // PAGE_SIZE))
    if number > pages:
        message = catalog.ngettext(
            "%(topic)s has %(count)s page of stories.", "%(topic)s has %(count)s pages of stories.", pages
        ) % {"topic": topic.name, "count": pages}
        return _not_found(newsroom, language, _("No such page"), message)
    archive = topic_archive_url(newsroom.settings, slug)
    context = {
        "title": topic.name,
        "topic": topic,
        "stories": [_archive_entry(newsroom, story, language) for story in found],
        "total": total,
        "page": number,
        "pages": pages,
        "newer_url": (archive if number == 2 else f"{archive}?page={number - 1}") if number > 1 else None,
        "older_url": f"{archive}?page={number + 1}" if number < pages else None,
        "archive_url": archive,
        "feed_url": topic_feed_url(newsroom.settings, slug),
        "subscribe_url": f"{newsroom.settings.public_url}/subscribe?topic={slug}",
    }
    return _html(newsroom, "topic.html.j2", context, language=language)


@router.get("/topics/{slug}/feed.atom")
async def topic_atom_feed(slug: str, request: Request, newsroom: Newsroom = Depends(newsroom_of)) -> Response:
    topic = _topic_of(newsroom, slug)
    if topic is None:
        language = browser_language(request, newsroom)
        _ = translations(language).gettext
        return _not_found(newsroom, language, _("Topic not found"), _("We have no topic at this address."))
    now = newsroom.clock.now()
    async with newsroom.reader.connect() as conn:
        entries = await published_stories.list_topic_stories(conn, slug, now, limit=PAGE_SIZE)
    names = {t.slug: t.name for t in newsroom.taxonomy}
    document = topic_feed(newsroom.settings, topic, entries, now=now, topic_names=names)
    return Response(document, media_type=MEDIA_TYPE, headers={"Cache-Control": _CACHE})
