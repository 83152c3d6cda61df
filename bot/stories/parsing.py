"""Turning what an editor hands us (a file, a chat message, an API body) into a validated story draft.

Accepted: plain text like wire copy (no title, no metadata), Markdown or HTML, with optional YAML front matter
(``title``, ``url``, ``topics``, ``breaking``, ``published``, ``author``, ``id``, ``publish_at``, ``updates``,
``image``, ``image_alt``, ``language``).
Anything else is refused with a :class:`StoryRejected` that says what is wrong, before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, Literal, get_args

import frontmatter
import yaml

from bot.app.errors import StoryRejected
from bot.languages.language_codes import EXAMPLES, language_code
from bot.rendering.safe_links import http_link
from bot.stories.body_blocks import write_markdown
from bot.stories.markup_reading import (
    Image,
    ReadBody,
    is_markup_tag,
    looks_like_html,
    read_html_body,
    read_markdown_body,
    read_plain_text,
)
from bot.stories.story import MAX_IMAGE_ALT_CHARS, MAX_TITLE_CHARS
from bot.stories.text_decoding import NotText, decode_text

Markup = Literal["auto", "html", "markdown", "text"]
MARKUPS: tuple[str, ...] = get_args(Markup)
#: What a story file's suffix says it holds; other suffixes (``.txt``) are told apart by their content.
FILE_MARKUP: dict[str, Markup] = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown"}

FRONT_MATTER_KEYS = (
    "title",
    "url",
    "topics",
    "breaking",
    "published",
    "author",
    "id",
    "publish_at",
    "updates",
    "image",
    "image_alt",
    "language",
)
_STORY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")
# Something that may be a tag: "<b>", "</i>", "<script src=...>", "<!-- -->"; is_markup_tag decides.
_TAG_LIKE = re.compile(r"<\s*/?\s*[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?\s*>|<!--")


@dataclass(frozen=True, slots=True)
class StoryDraft:
    """A story as given, before tagging and summarising."""

    body: str
    title: str | None = None
    url: str | None = None
    topics: tuple[str, ...] = ()
    breaking: bool = False
    published: datetime | None = None
    author: str | None = None
    id: str | None = None
    #: When the story may go out at the earliest (an aware datetime); None means at once.
    publish_at: datetime | None = None
    #: The id of the story this one updates (a correction or a follow-up), else None.
    updates: str | None = None
    #: The first Markdown heading, used as the title when none is given.
    heading: str | None = field(default=None, compare=False)
    #: The story's picture (front matter ``image``, else the first ``<img>`` of an HTML body) and its alt text.
    image_url: str | None = None
    image_alt: str | None = None
    #: The language it is written in (a short code such as "de"); None: the outlet's NEWSBOT_DEFAULT_LANGUAGE.
    language: str | None = None


def read_story_file(path: Path, max_bytes: int) -> StoryDraft:
    """Read and parse a story file, refusing unreadable, oversized, binary or empty ones.

    ``.html`` and ``.htm`` files are HTML, ``.md`` and ``.markdown`` files Markdown; anything else is told apart
    by its content (see :func:`parse_story`).
    """
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise StoryRejected(
                f"{path}: story is {size / 1_000_000:.1f} MB; the limit is {max_bytes / 1_000_000:.1f} MB "
                "(NEWSBOT_MAX_STORY_BYTES)"
            )
        data = path.read_bytes()
    except IsADirectoryError:
        raise StoryRejected(f"{path}: is a directory, not a story file") from None
    except FileNotFoundError:
        raise StoryRejected(f"{path}: no such file") from None
    except PermissionError:
        raise StoryRejected(f"{path}: permission denied") from None
    except OSError as exc:
        raise StoryRejected(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return parse_story(data, max_bytes=max_bytes, markup=FILE_MARKUP.get(path.suffix.lower(), "auto"))
    except StoryRejected as exc:
        raise StoryRejected(f"{path}: {exc}") from None


def parse_story(raw: bytes | str, *, max_bytes: int, markup: Markup = "auto") -> StoryDraft:
    """Parse a story, with optional YAML front matter, into a draft whose body is newsbot's Markdown.

    *markup* says what the text after the front matter is: ``"html"``, ``"markdown"``, ``"text"`` (taken
    literally, one paragraph a line) or ``"auto"``: HTML when it starts with a block-level element or those hold
    most of it, else Markdown (of which plain wire copy is a part). The body is stored as
    `bot.stories.body_blocks` writes it; a leading heading is taken out as the draft's ``heading``.
    """
    if markup not in MARKUPS:
        raise ValueError(f"markup must be one of {', '.join(MARKUPS)}, not {markup!r}")
    text = _decode(raw, max_bytes)
    metadata: dict[str, Any] = {}
    if text.lstrip().startswith("---"):
        try:
            post = frontmatter.loads(text)
        except yaml.YAMLError as exc:
            problem = str(exc).splitlines()[0]
            raise StoryRejected(f"front matter is not valid YAML ({problem})") from None
        metadata, text = dict(post.metadata), post.content
    read = _read_body(text, markup)
    blocks = read.blocks
    heading = None
    if blocks and blocks[0].kind == "heading":
        heading = " ".join(blocks.pop(0).text.split())
    if not blocks:
        raise StoryRejected("story has no text" + (" after its front matter" if metadata else ""))
    return _draft_from(metadata, write_markdown(blocks), heading, read.image)


def _read_body(text: str, markup: Markup) -> ReadBody:
    if markup == "auto":
        markup = "html" if looks_like_html(text) else "markdown"
    if markup == "html":
        return read_html_body(text)
    if markup == "markdown":
        return read_markdown_body(text)
    return ReadBody(read_plain_text(text))


def _decode(raw: bytes | str, max_bytes: int) -> str:
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if len(data) > max_bytes:
        raise StoryRejected(
            f"story is {len(data) / 1_000_000:.1f} MB; the limit is {max_bytes / 1_000_000:.1f} MB "
            "(NEWSBOT_MAX_STORY_BYTES)"
        )
    if not data.strip():
        raise StoryRejected("story is empty")
    try:
        text = decode_text(data)  # UTF-8, or UTF-16 with its BOM as Windows editors save "Unicode" text
    except NotText as exc:
        raise StoryRejected(f"story is {exc}") from None
    if not text.strip():
        raise StoryRejected("story is empty")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def find_markup(text: str) -> str | None:
    """The first HTML tag or comment in *text*, else None: for one-line fields (a title) that must be plain text.

    Only real HTML is found: ``AT&T <Jr>`` or ``3 < 5`` is text.
    """
    for match in _TAG_LIKE.finditer(text):
        if is_markup_tag(match.group(0)):
            return match.group(0)
    return None


def _refuse_markup(text: str, what: str) -> None:
    tag = find_markup(text)
    if tag is not None:
        tag = tag if len(tag) <= 40 else tag[:37] + "..."
        raise StoryRejected(f"{what} contains HTML markup ({tag}); plain text only, newsbot formats messages itself")


def _draft_from(metadata: dict[str, Any], body: str, heading: str | None, image: Image | None) -> StoryDraft:
    unknown = sorted(set(metadata) - set(FRONT_MATTER_KEYS))
    if unknown:
        raise StoryRejected(
            f"unknown front matter key(s) {', '.join(unknown)}; allowed: {', '.join(FRONT_MATTER_KEYS)}"
        )
    title = _optional_text(metadata, "title", MAX_TITLE_CHARS)
    image_url = check_image_url(metadata["image"]) if metadata.get("image") else None
    image_alt = _optional_text(metadata, "image_alt", MAX_IMAGE_ALT_CHARS)
    if image_url is None and image is not None:  # the front matter's picture wins over the body's first
        image_url, image_alt = image.url, image_alt or image.alt
    return StoryDraft(
        body=body,
        title=title,
        url=check_story_url(metadata["url"]) if metadata.get("url") else None,
        topics=_topics(metadata.get("topics")),
        breaking=_flag(metadata.get("breaking", False)),
        published=_timestamp(metadata.get("published")),
        author=_optional_text(metadata, "author", 200),
        id=check_story_id(str(metadata["id"])) if metadata.get("id") is not None else None,
        publish_at=_aware_moment(metadata.get("publish_at"), "publish_at"),
        updates=_updated_story_id(metadata.get("updates")),
        heading=heading,
        image_url=image_url,
        image_alt=image_alt if image_url else None,
        language=_front_matter_language(metadata.get("language")),
    )


def _optional_text(metadata: dict[str, Any], key: str, limit: int) -> str | None:
    value = metadata.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int | float):
        raise StoryRejected(f"front matter {key!r} must be text")
    text = " ".join(str(value).split())
    if len(text) > limit:
        raise StoryRejected(f"front matter {key!r} is {len(text)} characters; the limit is {limit}")
    _refuse_markup(text, f"front matter {key!r}")
    return text or None


def check_story_url(value: object) -> str:
    """Only absolute http(s) links: a ``javascript:`` or relative link must never reach a reader."""
    url = str(value).strip()
    if http_link(url) is None or any(c in url for c in " <>\"'\n"):
        raise StoryRejected(f"story url {url[:80]!r} is not an absolute http(s) URL")
    if len(url) > 2000:
        raise StoryRejected("story url is longer than 2000 characters")
    return url


def check_image_url(value: object) -> str:
    """A story's picture: like its URL, only an absolute http(s) link (Telegram and mail clients fetch it)."""
    if not isinstance(value, str):
        raise StoryRejected(f"image must be an absolute http(s) URL, not {value!r}")
    try:
        return check_story_url(value)
    except StoryRejected:
        raise StoryRejected(f"image {value.strip()[:80]!r} is not an absolute http(s) URL") from None


def check_story_language(value: object, what: str = "language") -> str:
    """A story's language as its short code ("de" for "de-AT"): readers filter stories by it, so only a language
    Babel knows is taken; *what* names the field in the refusal."""
    code = language_code(value)
    if code is None:
        shown = repr(value.strip()[:40]) if isinstance(value, str) else repr(value)
        raise StoryRejected(f"{what} {shown} is not a language code such as {EXAMPLES}")
    return code


def _front_matter_language(value: object) -> str | None:
    if value is None or value == "":
        return None
    if value is False:  # YAML 1.1 reads an unquoted ``no`` (Norwegian) as false
        value = "no"
    return check_story_language(value, "front matter 'language'")


def check_story_id(value: str) -> str:
    if not _STORY_ID.match(value):
        raise StoryRejected(
            f"story id {value[:60]!r} must be 1-200 letters, digits, '.', '_', ':' or '-', "
            "starting with a letter or digit"
        )
    return value


def _topics(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",")]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        items = [item.strip() for item in value]
    else:
        raise StoryRejected("front matter 'topics' must be a list of topic names or a comma-separated string")
    return tuple(item for item in items if item)


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("yes", "true", "1", "no", "false", "0"):
        return value.strip().lower() in ("yes", "true", "1")
    raise StoryRejected(f"front matter 'breaking' must be true or false, not {value!r}")


def _timestamp(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0, 0), tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise StoryRejected(f"front matter 'published' {value!r} is not an ISO date such as 2026-11-28") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise StoryRejected(f"front matter 'published' {value!r} is not a date")


def _aware_moment(value: object, key: str) -> datetime | None:
    """A moment with its UTC offset: "06:00" alone would mean a different instant on every server."""
    if value is None or value == "":
        return None
    example = "such as 2026-12-02T06:00+01:00"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise StoryRejected(f"front matter {key!r} {value!r} is not an ISO 8601 date and time {example}") from None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise StoryRejected(f"front matter {key!r} {value.isoformat()} has no UTC offset; give one, {example}")
        return value
    if isinstance(value, date):
        raise StoryRejected(f"front matter {key!r} {value.isoformat()} is a date without a time; give both, {example}")
    raise StoryRejected(f"front matter {key!r} {value!r} is not a date and time {example}")


def _updated_story_id(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise StoryRejected(f"front matter 'updates' must be the id of a story, not {value!r}")
    try:
        return check_story_id(str(value).strip())
    except StoryRejected as exc:
        raise StoryRejected(f"front matter 'updates': {exc}") from None
