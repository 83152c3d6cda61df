"""Ghost webhooks: a Ghost site pushes its posts to ``POST /api/hooks/ghost`` and newsbot sends them to readers.

Ghost posts ``{"post": {"current": {...}, "previous": {...}}}``, where ``previous`` holds only the fields the
change touched, and, when the webhook has a secret, signs it in ``X-Ghost-Signature: sha256=<hex>, t=<ms>``: the
hex is the HMAC-SHA256, keyed with the secret, of the raw body followed by the timestamp's digits. The secret is
``NEWSBOT_GHOST_WEBHOOK_SECRET``; without it the route answers 404, so nothing can post stories by default.

Ghost names the event only by which webhook fired, not in the request, and sends every webhook to its own target
URL. So ``?event=post.published`` or ``?event=post.published.edited`` on the target URL says which one it is;
without it the payload tells: ``previous.status`` is there when the post has just become published
(``post.published``), and absent when a published post was edited (``post.published.edited``).

A published post goes through the one intake path as ``source="ghost"`` with external id ``ghost:<post id>``,
so Ghost's retries are duplicates that queue nothing. An edit is a correction of that story (edits of the
Telegram copies already sent, no notice); an edit of a post newsbot never got is taken as a new story. Refusals:
a missing or wrong signature, or one older than five minutes on the newsroom's clock (a replay), 401; a request
over ``NEWSBOT_MAX_API_BODY_BYTES`` or post HTML over ``NEWSBOT_MAX_STORY_BYTES``, 413; a body that is not JSON
or lacks ``post.current``, 422 naming the field. A post that is not published and public is answered 200 with
``"outcome": "ignored"`` and the reason, so that Ghost does not send it again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from bot.app.errors import StoryRejected, TopicNotFound
from bot.app.newsroom import Newsroom
from bot.stories.corrections import StoryChangedMeanwhile, correct_story
from bot.stories.intake import prepare_off_loop, publish_story
from bot.stories.parsing import StoryDraft, check_story_url, parse_story
from bot.stories.retagging import no_topic_warning
from bot.stories.retraction import StoryRetracted
from bot.stories.story import MAX_TITLE_CHARS, Story
from bot.web.app_state import newsroom_of
from bot.web.story_requests import read_limited_body
from subscribers import stories

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Ghost-Signature"
#: A signature older than this (or this far ahead of the newsroom's clock) is refused as a replay.
MAX_SIGNATURE_AGE = timedelta(minutes=5)
PUBLISHED = "post.published"
EDITED = "post.published.edited"
Event = Literal["post.published", "post.published.edited"]
Outcome = Literal["created", "duplicate", "corrected", "unchanged", "ignored"]
EVENTS: tuple[str, ...] = (PUBLISHED, EDITED)

router = APIRouter(prefix="/api/hooks", tags=["hooks"])


class GhostHookOut(BaseModel):
    """What newsbot did with a Ghost webhook call."""

    event: str
    outcome: Outcome
    id: str | None = Field(default=None, description="The newsbot story (null when ignored).")
    topics: list[str] = Field(default_factory=list)
    ignored_tags: list[str] = Field(default_factory=list, description="Ghost tags the taxonomy does not know.")
    recipients: dict[str, int] = Field(default_factory=dict, description="Readers newly queued per channel.")
    edits: int = Field(default=0, description="Telegram copies queued for an edit in place (a correction).")
    reason: str | None = Field(default=None, description="Why it was ignored.")
    warnings: list[str] = Field(default_factory=list, description="Worth a look, e.g. a story with no topic.")


@dataclass(frozen=True, slots=True)
class GhostPost:
    """A Ghost post as newsbot takes it: the draft, its topics from Ghost's tags, and Ghost's own id."""

    ghost_id: str
    draft: StoryDraft
    topics: list[str]
    ignored_tags: list[str]

    @property
    def external_id(self) -> str:
        return f"ghost:{self.ghost_id}"


def ghost_signature(secret: str, body: bytes, timestamp_ms: int) -> str:
    """The ``X-Ghost-Signature`` value Ghost sends for *body* at *timestamp_ms*: what a test posing as Ghost signs."""
    digest = hmac.new(secret.encode(), body + str(timestamp_ms).encode(), hashlib.sha256).hexdigest()
    return f"sha256={digest}, t={timestamp_ms}"


def check_signature(header: str | None, body: bytes, secret: str, now: datetime) -> None:
    """401 unless *header* is Ghost's signature of *body* with *secret*, made within five minutes of *now*."""
    if not header:
        raise _unauthorised(f"missing {SIGNATURE_HEADER}: give the webhook in Ghost NEWSBOT_GHOST_WEBHOOK_SECRET")
    parts = dict(part.strip().partition("=")[::2] for part in header.split(","))
    given, stamp = parts.get("sha256", "").strip().lower(), parts.get("t", "").strip()
    if not given or not stamp.isdigit() or len(stamp) > 16:
        raise _unauthorised(f"{SIGNATURE_HEADER} is not of the form sha256=<hex>, t=<milliseconds>")
    expected = ghost_signature(secret, body, int(stamp)).partition(",")[0].removeprefix("sha256=")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise _unauthorised(f"{SIGNATURE_HEADER} does not match the body and NEWSBOT_GHOST_WEBHOOK_SECRET")
    age = (now.timestamp() * 1000 - int(stamp)) / 1000
    if abs(age) > MAX_SIGNATURE_AGE.total_seconds():
        when = f"{age:.0f} s old" if age > 0 else f"dated {-age:.0f} s ahead of newsbot's clock"
        raise _unauthorised(
            f"{SIGNATURE_HEADER} is {when}, more than {MAX_SIGNATURE_AGE.seconds // 60} minutes: "
            "a replayed or delayed request"
        )


def _unauthorised(message: str) -> HTTPException:
    return HTTPException(401, message)


def _invalid(loc: tuple[str | int, ...], message: str, value: object = None) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": message, "input": value}])


def _post_of(body: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """``post.current`` and ``post.previous`` of a Ghost payload; 422 naming what is missing."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _invalid(("body",), f"the body must be JSON encoded as UTF-8 ({exc})") from None
    post = payload.get("post") if isinstance(payload, dict) else None
    if not isinstance(post, dict):
        raise _invalid(("body", "post"), "a Ghost post webhook payload has a post object (is this a page event?)")
    current, previous = post.get("current"), post.get("previous") or {}
    if not isinstance(current, dict) or not current:
        raise _invalid(("body", "post", "current"), "the post's current state is missing (a post.deleted event?)")
    return current, previous if isinstance(previous, dict) else {}


def event_of(query: str | None, previous: dict[str, Any]) -> Event:
    """The event: the target URL's ``?event=``, else ``post.published`` when the status just changed."""
    if query is None:
        return PUBLISHED if "status" in previous else EDITED
    if query not in EVENTS:
        raise _invalid(("query", "event"), f"must be {' or '.join(EVENTS)}", query)
    return PUBLISHED if query == PUBLISHED else EDITED


def why_ignored(current: dict[str, Any]) -> str | None:
    """Why a post is not for readers (not published, or not public), else None."""
    status, visibility = current.get("status"), current.get("visibility", "public")
    if status != "published":
        return f"the post's status is {status!r}, not 'published': newsbot takes it when Ghost publishes it"
    if visibility != "public":
        return f"the post's visibility is {visibility!r}: only public posts go to readers"
    return None


def _text(current: dict[str, Any], key: str) -> str | None:
    """A text field of the post: None when absent or null, 422 when of another type or not valid Unicode."""
    value = current.get(key)
    if value is None:
        return None
    loc = ("body", "post", "current", key)
    if not isinstance(value, str):
        raise _invalid(loc, "must be text")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _invalid(loc, "must be valid Unicode text (it contains a lone surrogate)") from None
    return value


def _moment(current: dict[str, Any], key: str) -> datetime | None:
    text = _text(current, key)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise _invalid(("body", "post", "current", key), "must be an ISO 8601 time with its offset, as Ghost sends")
    return moment


def _tags(newsroom: Newsroom, current: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Topics of the Ghost tags the taxonomy knows (by slug, else name), and the names of the others."""
    topics: list[str] = []
    ignored: list[str] = []
    tags = current.get("tags") or []
    for tag in tags if isinstance(tags, list) else []:
        if not isinstance(tag, dict):
            continue
        names = [n for n in (tag.get("slug"), tag.get("name")) if isinstance(n, str) and n.strip()]
        for name in names:
            try:
                slug = newsroom.taxonomy.resolve(name).slug
            except TopicNotFound:
                continue
            if slug not in topics:
                topics.append(slug)
            break
        else:
            if names:
                ignored.append(names[-1])
    return topics, ignored


def read_post(newsroom: Newsroom, current: dict[str, Any]) -> GhostPost:
    """The draft of a Ghost post: body from its HTML (else plain text), title, link, author and times."""
    loc = ("body", "post", "current")
    ghost_id = _text(current, "id")
    if not ghost_id or not ghost_id.strip():
        raise _invalid((*loc, "id"), "the post has no id")
    limit = newsroom.settings.max_story_bytes
    html, plaintext = _text(current, "html"), _text(current, "plaintext")
    source, markup = (html, "html") if html and html.strip() else (plaintext, "text")
    if not source or not source.strip():
        raise _invalid((*loc, "html"), "the post has no text (neither html nor plaintext)")
    if len(source.encode("utf-8")) > limit:
        raise HTTPException(413, f"the post's {markup} is larger than {limit} bytes (NEWSBOT_MAX_STORY_BYTES)")
    key = "html" if markup == "html" else "plaintext"
    try:
        parsed = parse_story(source, max_bytes=limit, markup="html" if markup == "html" else "text")
    except StoryRejected as exc:
        raise _invalid((*loc, key), str(exc)) from None
    title = " ".join((_text(current, "title") or "").split()) or None
    if title is not None and len(title) > MAX_TITLE_CHARS:
        raise _invalid((*loc, "title"), f"must be at most {MAX_TITLE_CHARS} characters")
    url = _text(current, "url")
    try:
        url = check_story_url(url) if url else None
    except StoryRejected as exc:
        raise _invalid((*loc, "url"), str(exc)) from None
    published = _moment(current, "published_at")
    author = current.get("primary_author")
    name = author.get("name") if isinstance(author, dict) else None
    now = newsroom.clock.now()
    draft = StoryDraft(
        body=parsed.body,
        title=title or parsed.title,
        url=url,
        published=published,
        author=name.strip()[:200] if isinstance(name, str) and name.strip() else None,
        # Scheduled in Ghost for later than now (a clock ahead of ours): held until then, as an embargo.
        publish_at=published if published is not None and published > now else None,
        heading=parsed.heading,
    )
    topics, ignored = _tags(newsroom, current)
    return GhostPost(ghost_id.strip(), draft, topics, ignored)


async def _publish(newsroom: Newsroom, post: GhostPost, event: str) -> tuple[int, GhostHookOut]:
    try:
        story = await prepare_off_loop(
            newsroom, post.draft, source="ghost", extra_topics=post.topics, external_id=post.external_id
        )
    except StoryRejected as exc:
        raise _invalid(("body", "post", "current", "html"), str(exc)) from None
    published = await publish_story(newsroom, story, actor="ghost")
    stored = published.story
    warning = no_topic_warning(stored, f"PUT /api/stories/{stored.id}/topics") if published.created else None
    out = _answer(
        event,
        "created" if published.created else "duplicate",
        stored,
        post,
        recipients=published.recipients,
        warnings=[warning] if warning else [],
    )
    log.info("ghost %s of %s: %s story %s", event, post.external_id, out.outcome, published.story.id)
    return (201 if published.created else 200), out


async def _correct(newsroom: Newsroom, post: GhostPost, event: str, story: Story) -> tuple[int, GhostHookOut]:
    try:
        report = await correct_story(newsroom, story.id, post.draft, actor="ghost", note=None, notify=False)
    except StoryRetracted as exc:
        return 200, _answer(event, "ignored", story, post, reason=str(exc))
    except StoryChangedMeanwhile as exc:
        raise HTTPException(409, str(exc)) from None
    except StoryRejected as exc:
        raise _invalid(("body", "post", "current", "html"), str(exc)) from None
    out = _answer(event, "corrected" if report.changed else "unchanged", report.story, post, edits=report.edits)
    log.info("ghost %s of %s: %s story %s", event, post.external_id, out.outcome, story.id)
    return 200, out


def _answer(event: str, outcome: Outcome, story: Story, post: GhostPost, **fields: Any) -> GhostHookOut:
    return GhostHookOut(
        event=event,
        outcome=outcome,
        id=story.id,
        topics=list(story.topics),
        ignored_tags=post.ignored_tags,
        **fields,
    )


@router.post("/ghost", include_in_schema=False)  # Ghost's format, not newsbot's API; see the README
async def ghost_webhook(request: Request, event: str | None = None) -> JSONResponse:
    """Take a Ghost ``post.published`` or ``post.published.edited`` webhook call."""
    newsroom = newsroom_of(request)
    settings = newsroom.settings
    secret = settings.ghost_webhook_secret
    if not secret:
        raise HTTPException(404, "the Ghost webhook is disabled: set NEWSBOT_GHOST_WEBHOOK_SECRET to enable it")
    body = await read_limited_body(request, settings.max_api_body_bytes)  # the signature covers its exact bytes
    try:
        check_signature(request.headers.get(SIGNATURE_HEADER), body, secret, newsroom.clock.now())
    except HTTPException as exc:
        log.warning("ghost webhook call from %s refused: %s", request.client, exc.detail)
        raise
    current, previous = _post_of(body)
    kind = event_of(event, previous)
    reason = why_ignored(current)
    if reason is not None:
        return _json(200, GhostHookOut(event=kind, outcome="ignored", reason=reason))
    post = read_post(newsroom, current)
    async with newsroom.reader.connect() as conn:
        known = await stories.load_story_by_external_id(conn, post.external_id, Story)
    if kind == EDITED and known is not None:
        status, out = await _correct(newsroom, post, kind, known)
    else:
        status, out = await _publish(newsroom, post, kind)
    return _json(status, out)


def _json(status: int, out: GhostHookOut) -> JSONResponse:
    return JSONResponse(out.model_dump(mode="json"), status_code=status)
