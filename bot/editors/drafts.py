"""An editor's draft while it is under review in Telegram, and the checks on what the editor sends for it.

A draft is held in the editor's ``user_data`` and nothing of it is stored before Send. What arrives for it:

- the story as text, possibly in parts: Telegram splits a paste longer than 4,096 characters into several
  messages, so parts from the same editor that arrive within ``NEWSBOT_EDITOR_PASTE_WINDOW`` seconds of each other
  (on the newsroom's clock) are joined into one story (:class:`Incoming`, :func:`join_parts`);
- the story as a ``.txt``, ``.md`` or ``.html`` document (:func:`document_problem` says why one is refused);
- a new headline (:func:`check_headline`).
"""

from __future__ import annotations

import dataclasses
import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import PurePosixPath

from telegram import Document, Message
from telegram.error import TelegramError

from bot.app.errors import StoryRejected
from bot.stories.parsing import FILE_MARKUP, Markup, StoryDraft, check_story_url, parse_story
from bot.stories.story import MAX_TITLE_CHARS, Story

#: Where the open draft lives in the editor's ``context.user_data``.
DRAFT_KEY = "editor_draft"
#: Whether the draft under way is breaking news (``/push``) or a normal story.
BREAKING_KEY = "editor_breaking"
#: Set by ``/update``: the :class:`FollowUp` the next draft follows up.
FOLLOW_UP_KEY = "editor_follow_up"
#: File name endings accepted as a story document (the story formats `newsbot ingest` reads).
STORY_DOCUMENT_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")
#: Telegram entities that are formatting the editor chose (not links or mentions Telegram detects on its own).
FORMATTING = frozenset(
    {"bold", "italic", "underline", "strikethrough", "spoiler", "code", "pre", "text_link", "blockquote"}
    | {"expandable_blockquote"}
)
_COMMAND = re.compile(r"^/\w+(?:@\w+)?")
#: A part ending like this closed a sentence, so Telegram split the paste at a line break.
_SENTENCE_END = re.compile(r"[.!?…:;\"'”’)\]]$")


@dataclass
class Incoming:
    """The story text received so far for the open draft, and when its last part arrived.

    ``target`` says where the text went: ``"draft"`` (it is the draft under review) or ``"replacement"`` (it waits
    for the editor's answer to "replace the open draft?").
    """

    text: StoryText
    at: datetime
    target: str = "draft"

    def continues(self, now: datetime, window: float) -> bool:
        """True if a message arriving *now* is the next part of this paste."""
        return timedelta(0) <= now - self.at <= timedelta(seconds=window)


@dataclass(frozen=True)
class FollowUp:
    """The story an ``/update`` draft follows up: it also reaches that story's readers, as a reply to their copy."""

    story_id: str
    title: str
    readers: int


@dataclass
class PendingStory:
    """An editor's draft under review: nothing of it is stored until Send."""

    nonce: str
    story: Story
    #: Topics offered as toggles on the panel (editor-given, detected, then added), in order.
    candidates: list[str]
    #: The current choice among them.
    selected: list[str]
    already_published: bool = False
    preview: Message | None = None
    #: The preview as last rendered, so it is edited only when it changes.
    preview_html: str = ""
    panel: Message | None = None
    recipients: dict[str, int] = field(default_factory=dict)
    #: The page of all topics the panel shows ("More topics"), or None for the panel's own buttons.
    topic_page: int | None = None
    #: The editor tapped Headline: their next message is the new headline.
    awaiting_headline: bool = False
    #: A story (text, or a file's bytes) sent while the panel was open, waiting for "replace" or "keep", and the
    #: message that asks.
    replacement: StoryText | StoryFile | None = None
    question: Message | None = None
    #: The panel shows the Schedule choices; the editor tapped "Type a time" (their next message is the time).
    choosing_time: bool = False
    awaiting_time: bool = False
    #: For ``/update``: the story this draft follows up, and how many readers got that one.
    follow_up: FollowUp | None = None

    def current(self) -> Story:
        """The story as it would go out now: the chosen topics, in the panel's order."""
        chosen = tuple(slug for slug in self.candidates if slug in self.selected)
        given = tuple(slug for slug in self.story.given_topics if slug in chosen)
        return dataclasses.replace(self.story, topics=chosen, given_topics=given)

    def toggle(self, slug: str) -> None:
        """Add *slug* to the choice (offering it on the panel from now on), or take it away."""
        if slug not in self.candidates:
            self.candidates.append(slug)
        if slug in self.selected:
            self.selected.remove(slug)
        else:
            self.selected.append(slug)


def part_separator(first: str, second: str) -> str:
    """What Telegram took out between two consecutive parts of one paste (their plain text).

    Telegram trims the whitespace where it split, so it is restored: none is needed if a part kept it; after a
    finished sentence the split was at a line break (the separator the text already uses between paragraphs, a
    blank line or a single newline); otherwise it was between two words.
    """
    if not first or not second or first[-1].isspace() or second[0].isspace():
        return ""
    if _SENTENCE_END.search(first):
        return "\n\n" if "\n\n" in first else "\n"
    return " "


@dataclass(frozen=True)
class StoryText:
    """A story as the editor typed or pasted it: the plain text, and the same with Telegram's formatting as HTML.

    Formatting (bold, italics, links...) is kept by reading the HTML; a message without any is read as plain text
    or Markdown, so front matter and Markdown work as in a story file.
    """

    plain: str
    html: str
    formatted: bool = False

    @classmethod
    def of(cls, message: Message) -> StoryText:
        """The text of *message*, without a leading /push or /story (the story may follow on the same line)."""
        plain, marked_up = message.text or message.caption or "", message.text_html or message.caption_html or ""
        entities = message.entities or message.caption_entities
        formatted = any(entity.type in FORMATTING for entity in entities)
        return cls(_COMMAND.sub("", plain, count=1), _COMMAND.sub("", marked_up, count=1), formatted)

    def followed_by(self, part: StoryText) -> StoryText:
        """This text with the next part of the same paste."""
        glue = part_separator(self.plain, part.plain)
        return StoryText(self.plain + glue + part.plain, self.html + glue + part.html, self.formatted or part.formatted)

    def draft(self, max_bytes: int) -> StoryDraft:
        # Front matter is YAML, which Telegram's HTML would escape: a story with it is read as written.
        if self.formatted and not self.plain.lstrip().startswith("---"):
            return story_draft_from_message(self.html, max_bytes=max_bytes, markup="html")
        return story_draft_from_message(self.plain, max_bytes=max_bytes)


@dataclass(frozen=True)
class StoryFile:
    """A story sent as a document: its bytes, read by the markup its name says (as ``newsbot ingest`` does)."""

    data: bytes
    file_name: str

    def draft(self, max_bytes: int) -> StoryDraft:
        markup = FILE_MARKUP.get(PurePosixPath(self.file_name).suffix.lower(), "auto")
        return parse_story(self.data, max_bytes=max_bytes, markup=markup)


def story_draft_from_message(text: str, *, max_bytes: int, markup: Markup = "auto") -> StoryDraft:
    """The message as a draft; a bare link on the first line (before any front matter) is the story's URL."""
    first, _, rest = text.strip().partition("\n")
    link = html.unescape(first.strip()) if markup == "html" else first.strip()
    if link.startswith(("http://", "https://")) and " " not in link:
        url = check_story_url(link)
        if not rest.strip():
            raise StoryRejected("send the story's text along with the link (newsbot does not fetch pages)")
        draft = parse_story(rest, max_bytes=max_bytes, markup=markup)
        return draft if draft.url else dataclasses.replace(draft, url=url)
    return parse_story(text, max_bytes=max_bytes, markup=markup)


def document_problem(file_name: str | None, size: int | None, max_bytes: int) -> str | None:
    """Why a document cannot be the story (its kind or its size), or None if it can be downloaded and read."""
    suffix = PurePosixPath(file_name or "").suffix.lower()
    if suffix not in STORY_DOCUMENT_SUFFIXES:
        shown = f"a {suffix} file" if suffix else "a file without a .txt, .md or .html ending"
        return f"this is {shown}; send the story as a .txt, .md or .html file, or as text"
    if size is not None and size > max_bytes:
        return f"the file is {_megabytes(size)}; the limit is {_megabytes(max_bytes)} (NEWSBOT_MAX_STORY_BYTES)"
    return None


async def download_story_file(document: Document, max_bytes: int) -> StoryFile:
    """The content of a story document (getFile, then the file download); StoryRejected says why not."""
    problem = document_problem(document.file_name, document.file_size, max_bytes)
    if problem is None:
        try:
            data = bytes(await (await document.get_file()).download_as_bytearray())
        except TelegramError as exc:
            problem = f"the file could not be fetched from Telegram ({exc.message}); send it again"
        else:
            problem = document_problem(document.file_name, len(data), max_bytes)
    if problem is not None:
        raise StoryRejected(problem)
    return StoryFile(data, document.file_name or "")


def check_headline(text: str) -> str:
    """A headline the editor typed, on one line; refused if empty or longer than the stories' limit."""
    headline = " ".join(text.split())
    if not headline:
        raise StoryRejected("the headline is empty")
    if len(headline) > MAX_TITLE_CHARS:
        raise StoryRejected(f"the headline is {len(headline)} characters; the limit is {MAX_TITLE_CHARS}")
    return headline


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size:,} bytes"
