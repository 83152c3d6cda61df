"""The text of a social post: each network gets one within its own length limit that always keeps the link.

Apprise knows the limits (500 characters on Mastodon); Telegram channels get the reader message instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.stories.story import Story
from bot.stories.summarising import plain_text_of, shorten
from bot.topics.taxonomy import Topic

#: A summary squeezed below this many characters is dropped rather than posted as a stub.
MIN_SUMMARY_CHARS = 40


@dataclass(frozen=True, slots=True)
class SocialText:
    title: str
    body: str


def compose_post(story: Story, topics: Iterable[Topic], *, body_limit: int, title_limit: int = 0) -> SocialText:
    """A post that fits the network: headline, as much summary as fits, the link (always kept), hashtags if room.

    Networks with a separate title field get the headline there; others (Mastodon) get it as the first line.
    """
    link = story.url or ""
    tags = " ".join(topic.hashtag for topic in topics if len(topic.hashtag) > 1)
    headline = " ".join(story.title.split())
    summary = " ".join(plain_text_of(story.summary).split())  # the summary is Markdown; networks get its text
    title = shorten(headline, title_limit) if title_limit else ""
    lead = [] if title else [headline]
    for tail in ([link, tags], [link]):
        fixed = [part for part in (*lead, *tail) if part]
        room = body_limit - len("\n\n".join(fixed)) - (2 if fixed else 0)
        if room >= MIN_SUMMARY_CHARS or (room >= len(summary) and summary):
            body = "\n\n".join(part for part in (*lead, shorten(summary, room), *tail) if part)
            return SocialText(title, body)
    if link:
        room = body_limit - len(link) - 2
        return SocialText(title, "\n\n".join(part for part in (shorten(headline, room), link) if part))
    return SocialText(title, shorten(headline, body_limit))
