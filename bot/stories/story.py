"""The Story value: what every channel renders and every reader receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: The longest headline a story may have, from any door (longer ones are refused, or cut where a feed gives them).
MAX_TITLE_CHARS = 300
#: The longest alt text a story's picture keeps.
MAX_IMAGE_ALT_CHARS = 300


@dataclass(frozen=True, slots=True)
class Story:
    """A parsed, tagged and summarised story, ready to store, plan and render.

    ``id`` is stable: the front matter ``id``, else the URL, else a hash of the normalised text, so ingesting the
    same story twice is recognised as the same story.
    """

    id: str
    title: str
    body: str
    summary: str
    topics: tuple[str, ...]
    url: str | None = None
    breaking: bool = False
    author: str | None = None
    published: datetime | None = None
    #: Topics the editor named explicitly (always kept, even when the tagger would not assign them).
    given_topics: tuple[str, ...] = field(default=(), compare=False)
    #: Where it came from ("cli", "telegram", "api", "feed"), for the audit trail and /stats.
    source: str | None = field(default=None, compare=False)
    #: The caller's own id (e.g. a CMS's), which makes API ingests idempotent even when the text changes.
    external_id: str | None = field(default=None, compare=False)
    #: Embargo: nothing of it goes out before then (None: at once).
    publish_at: datetime | None = None
    #: The id of the story this one follows up: it also reaches that story's readers, as a reply in Telegram.
    updates: str | None = None
    #: 1 as first sent; each correction adds one (the earlier versions are kept in the store).
    version: int = 1
    #: The "Corrected: ..." note of the latest correction, shown with the corrected text.
    correction_note: str | None = None
    #: One picture for the story (an absolute http(s) URL) and its alt text: Telegram sends it as a photo,
    #: emails show it at the top.
    image_url: str | None = None
    image_alt: str | None = None
    #: The language it is written in, as a short code ("de"); None only for stories stored before stories had one,
    #: which no reader's story-language filter holds back.
    language: str | None = None
    #: The headline newsbot derived from the lead when the story had no title (not stored: only the editor's
    #: preview before Send asks), so an editor's own headline set later is told apart by comparison.
    derived_headline: str | None = field(default=None, compare=False)

    @property
    def headline_derived(self) -> bool:
        """True when the headline is newsbot's, taken from the lead, rather than a title the editor gave."""
        return self.derived_headline is not None and self.title == self.derived_headline

    def overview(self) -> dict[str, Any]:
        """What ``newsbot ingest --json`` and the stories API both report about a story, as JSON-ready values."""
        return {
            "id": self.id,
            "title": self.title,
            "topics": list(self.topics),
            "summary": self.summary,
            "breaking": self.breaking,
            "url": self.url,
            "language": self.language,
        }
