"""What one reader's weekly digest holds: the week's stories grouped by the topics the reader follows.

A digest is compact: each story is a linked headline and one line, so a week reads in a screen or two. A story
the reader already got at once (breaking news in their chat) is marked as sent rather than shown again, and a
digest too big for one email ends each topic with "N more stories this week" instead of the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from bot.stories.story import MAX_TITLE_CHARS
from bot.stories.summarising import sentences, shorten
from bot.topics.taxonomy import Taxonomy, Topic
from subscribers import stories as stories_store

#: The one line under a headline: about one sentence, so a story is two lines on a phone.
LINE_CHARS = 120


@dataclass(frozen=True, slots=True)
class DigestEntry:
    id: str
    headline: str
    #: One line of the summary (plain text), empty when the summary only repeats the headline.
    line: str
    #: Where "read more" goes: the outlet's page, else newsbot's story page.
    url: str
    breaking: bool
    #: When the reader already got this story at once, the weekday it was sent (e.g. "Tuesday"), else None.
    sent_on: str | None = None


@dataclass(frozen=True, slots=True)
class DigestGroup:
    topic: Topic
    stories: tuple[DigestEntry, ...]
    #: Stories of this topic left out to keep the email small, and the topic archive that lists them.
    more: int = 0
    archive_url: str = ""


@dataclass(frozen=True, slots=True)
class DigestContent:
    """One reader's digest before rendering: groups in topic order, each story once, newest first."""

    groups: tuple[DigestGroup, ...]
    top: DigestEntry
    count: int

    @property
    def shown(self) -> int:
        return sum(len(group.stories) for group in self.groups)

    @property
    def more(self) -> int:
        return sum(group.more for group in self.groups)


def topic_order(first: Sequence[str], taxonomy: Taxonomy) -> dict[str, int]:
    """Rank of each topic: the configured ones first (NEWSBOT_DIGEST_TOPIC_ORDER), then the rest in taxonomy order."""
    ranked = list(dict.fromkeys([*first, *taxonomy.slugs]))
    return {slug: index for index, slug in enumerate(ranked)}


def one_line(headline: str, summary: str, limit: int = LINE_CHARS) -> str:
    """The summary's first sentence that says more than the headline, shortened to *limit*; "" if there is none.

    A headline derived from the lead is that lead's first sentence, so that sentence is skipped rather than
    shown twice.
    """
    said = _comparable(headline)
    for sentence in sentences(summary)[:3]:
        text = _comparable(sentence)
        if text and not (text.startswith(said) or said.startswith(text)):
            return shorten(sentence, limit)
    return ""


def _comparable(text: str) -> str:
    return " ".join(text.casefold().rstrip(".…!? ").split())


def _entry(
    story: stories_store.DigestStory, link: Callable[[stories_store.DigestStory], str], sent_on: str | None
) -> DigestEntry:
    headline = shorten(" ".join(story.title.split()), MAX_TITLE_CHARS)
    return DigestEntry(
        id=story.id,
        headline=headline,
        line=one_line(headline, story.summary),
        url=link(story),
        breaking=story.breaking,
        sent_on=sent_on,
    )


def digest_content(
    stories: Iterable[stories_store.DigestStory],
    followed: frozenset[str],
    taxonomy: Taxonomy,
    *,
    link: Callable[[stories_store.DigestStory], str],
    archive: Callable[[str], str] = lambda slug: "",
    order: Sequence[str] = (),
    sent_on: Mapping[str, str] | None = None,
) -> DigestContent | None:
    """Group the week's stories (newest first) by the first of their topics the reader follows; None if none.

    A story in several followed topics appears once, under the first of them in the story's own topic order.
    Groups come in *order* (configured topics first, then taxonomy order). *link* gives a story's "read more" URL,
    *archive* a topic archive's, *sent_on* the weekday a story already reached this reader. The top story is the
    newest breaking story the reader has not had yet, else the newest such story, else the newest story.
    """
    sent_on = sent_on or {}
    grouped: dict[str, list[stories_store.DigestStory]] = {}
    for story in stories:
        topic = next((slug for slug in story.topics if slug in followed), None)
        if topic is not None:
            grouped.setdefault(topic, []).append(story)
    if not grouped:
        return None
    rank = topic_order(order, taxonomy)
    groups = tuple(
        DigestGroup(
            taxonomy[slug] if slug in taxonomy else Topic(slug=slug, name=slug),
            tuple(_entry(story, link, sent_on.get(story.id)) for story in grouped[slug]),
            archive_url=archive(slug),
        )
        for slug in sorted(grouped, key=lambda slug: (rank.get(slug, len(rank)), slug))
    )
    picked = sorted((story for members in grouped.values() for story in members), key=lambda s: s.created_at)
    unseen = [story for story in picked if story.id not in sent_on] or picked
    top = next((story for story in reversed(unseen) if story.breaking), unseen[-1])
    return DigestContent(groups=groups, top=_entry(top, link, sent_on.get(top.id)), count=len(picked))


def first_stories(content: DigestContent, keep: int) -> DigestContent:
    """*content* with only its first *keep* stories (in reading order); each group counts what it left out."""
    groups = []
    left = keep
    for group in content.groups:
        shown = group.stories[: max(left, 0)]
        left -= len(shown)
        groups.append(replace(group, stories=shown, more=group.more + len(group.stories) - len(shown)))
    return replace(content, groups=tuple(groups))
