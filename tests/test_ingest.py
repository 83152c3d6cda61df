"""Ingesting: the sample story reaches exactly the right readers, once."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.app.errors import TopicNotFound
from bot.app.newsroom import Newsroom
from bot.stories.intake import ingest_story, prepare_story, story_id_for
from bot.stories.parsing import parse_story, read_story_file
from bot.stories.story import Story
from subscribers.schema import Cadence, ChannelName, deliveries, stories
from tests.newsroom_fixtures import SAMPLE_STORY, add_reader


def sample(newsroom: Newsroom, **options) -> Story:
    return prepare_story(
        read_story_file(SAMPLE_STORY, newsroom.settings.max_story_bytes),
        settings=newsroom.settings,
        taxonomy=newsroom.taxonomy,
        tagger=newsroom.tagger,
        **options,
    )


def test_sample_story_gets_a_headline_summary_and_the_north_korea_topic(newsroom: Newsroom) -> None:
    story = sample(newsroom)
    assert story.topics[0] == "north-korea"
    assert "sports" not in story.topics and "local" not in story.topics
    assert story.title.endswith("North Korean leader Kim Jong-un") and story.headline_derived
    assert story.summary.startswith("Trump leaned on memories")  # the headline's sentence is not repeated
    assert "keep you posted" not in story.summary
    assert len(story.summary) <= newsroom.settings.summary_chars


def test_story_id_is_stable_front_matter_then_url_then_text(newsroom: Newsroom) -> None:
    limit = newsroom.settings.max_story_bytes
    by_id = parse_story("---\nid: nk-1\nurl: https://x.example/a\n---\nText.", max_bytes=limit)
    by_url = parse_story("---\nurl: https://x.example/a\n---\nOther text.", max_bytes=limit)
    by_url_again = parse_story("---\nurl: https://x.example/a\ntitle: Changed\n---\nEdited.", max_bytes=limit)
    by_text = parse_story("Same  words\nhere.", max_bytes=limit)
    by_text_reflowed = parse_story("Same words here.", max_bytes=limit)
    assert story_id_for(by_id) == "nk-1"
    assert story_id_for(by_url) == story_id_for(by_url_again)
    assert story_id_for(by_text) == story_id_for(by_text_reflowed)
    assert len({story_id_for(by_id), story_id_for(by_url), story_id_for(by_text)}) == 3


def test_editor_topics_are_kept_even_when_the_tagger_would_not_assign_them(newsroom: Newsroom) -> None:
    story = sample(newsroom, extra_topics=["Weather"])
    assert story.topics[0] == "weather" and "north-korea" in story.topics


def test_unknown_editor_topic_is_an_error_with_a_suggestion(newsroom: Newsroom) -> None:
    with pytest.raises(TopicNotFound, match="did you mean north-korea"):
        sample(newsroom, extra_topics=["north-kroea"])


async def test_reader_following_north_korea_gets_the_sample_story_once(newsroom: Newsroom) -> None:
    await add_reader(newsroom, "north-korea", telegram_chat="101")
    await add_reader(newsroom, "sports", telegram_chat="102")
    await add_reader(newsroom, "local", email="local@example.org", cadences={ChannelName.EMAIL: Cadence.INSTANT})
    await add_reader(newsroom, "North Korea", email="nk@example.org", cadences={ChannelName.EMAIL: Cadence.INSTANT})

    first = await ingest_story(newsroom, sample(newsroom))
    assert first.created and first.recipients == {"telegram": 1, "email": 1}

    second = await ingest_story(newsroom, sample(newsroom))
    assert not second.created and second.recipients == {"telegram": 0, "email": 0}
    async with newsroom.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(stories))).scalar() == 1
        assert (await conn.execute(select(func.count()).select_from(deliveries))).scalar() == 2


async def test_dry_run_counts_readers_and_writes_nothing(newsroom: Newsroom) -> None:
    await add_reader(newsroom, "north-korea", telegram_chat="101")
    result = await ingest_story(newsroom, sample(newsroom), dry_run=True)
    assert result.dry_run and result.recipients == {"telegram": 1, "email": 0}
    async with newsroom.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(stories))).scalar() == 0
        assert (await conn.execute(select(func.count()).select_from(deliveries))).scalar() == 0


def test_the_same_text_in_markdown_or_html_is_the_same_story(newsroom: Newsroom) -> None:
    """The id hashes what readers read: adding a link or sending HTML instead of Markdown is no new story."""
    limit = newsroom.settings.max_story_bytes
    plain = parse_story("Talks resumed in Geneva on Monday.", max_bytes=limit)
    linked = parse_story("Talks resumed in [Geneva](https://geneva.example/talks) on Monday.", max_bytes=limit)
    html = parse_story(
        "<p>Talks resumed in <a href='https://geneva.example/talks'>Geneva</a> on Monday.</p>", max_bytes=limit
    )
    assert story_id_for(plain) == story_id_for(linked) == story_id_for(html)


def test_link_addresses_do_not_tag_a_story(newsroom: Newsroom) -> None:
    """The tagger reads a story's words; a link whose address names a topic does not give the story that topic."""
    draft = parse_story(
        "The council met on Tuesday to agree the budget, [details](https://example.org/sports/football-scores).",
        max_bytes=newsroom.settings.max_story_bytes,
    )
    story = prepare_story(draft, settings=newsroom.settings, taxonomy=newsroom.taxonomy, tagger=newsroom.tagger)
    assert "sports" not in story.topics
