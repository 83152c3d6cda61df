"""Publishing wakes whoever sends, whatever the door the story came in by."""

from __future__ import annotations

from bot.app.newsroom import Newsroom
from bot.stories.intake import publish_story
from tests.editor_fixtures import sample_story


async def test_a_new_story_wakes_the_listeners_once_and_a_duplicate_does_not(newsroom: Newsroom) -> None:
    woken: list[str] = []
    newsroom.published_listeners.append(lambda: woken.append("worker"))
    await publish_story(newsroom, sample_story(newsroom), actor="cli")
    await publish_story(newsroom, sample_story(newsroom), actor="cli")
    await publish_story(newsroom, sample_story(newsroom), actor="cli", dry_run=True)
    assert woken == ["worker"]
