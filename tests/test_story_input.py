"""Story input: what editors hand over becomes a draft, or a clear refusal before anything is written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.app.errors import StoryRejected
from bot.stories.parsing import parse_story, read_story_file
from tests.newsroom_fixtures import SAMPLE_STORY

LIMIT = 1_000_000


def test_sample_story_is_plain_text_without_title_or_metadata() -> None:
    draft = read_story_file(SAMPLE_STORY, LIMIT)
    assert draft.title is None and draft.url is None and draft.topics == ()
    assert draft.body.startswith("In a candid exchange with reporters on Monday")
    assert "Fairview Gazette will keep you posted" in draft.body  # the body is kept whole; summaries drop it


def test_front_matter_fields_are_read() -> None:
    draft = parse_story(
        "---\n"
        "title: Council passes budget\n"
        "url: https://fairview-gazette.example/budget\n"
        "topics: [local, Business]\n"
        "breaking: true\n"
        "published: 2026-11-27T18:30:00Z\n"
        "author: City desk\n"
        "id: budget-2026\n"
        "---\n"
        "The council passed the **budget** on Friday. [Details](https://example.org) follow.\n",
        max_bytes=LIMIT,
    )
    assert draft.title == "Council passes budget"
    assert draft.url == "https://fairview-gazette.example/budget"
    assert draft.topics == ("local", "Business")
    assert draft.breaking is True
    assert draft.published == datetime(2026, 11, 27, 18, 30, tzinfo=UTC)
    assert draft.author == "City desk"
    assert draft.id == "budget-2026"
    assert draft.body == "The council passed the **budget** on Friday. [Details](https://example.org) follow."


def test_topics_may_be_a_comma_separated_string_and_dates_plain_dates() -> None:
    draft = parse_story("---\ntopics: local, weather\npublished: 2026-11-27\n---\nRain.\n", max_bytes=LIMIT)
    assert draft.topics == ("local", "weather")
    assert draft.published == datetime(2026, 11, 27, tzinfo=UTC)


def test_publish_at_is_an_aware_moment_and_updates_names_a_story() -> None:
    draft = parse_story(
        "---\npublish_at: 2026-12-02T06:00+01:00\nupdates: council-budget-2027\n---\nCorrection.\n", max_bytes=LIMIT
    )
    assert draft.publish_at == datetime(2026, 12, 2, 6, 0, tzinfo=timezone(timedelta(hours=1)))
    assert draft.publish_at == datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
    assert draft.updates == "council-budget-2027"
    yaml_timestamp = parse_story("---\npublish_at: 2026-12-02 05:00:00Z\n---\nLater.\n", max_bytes=LIMIT)
    assert yaml_timestamp.publish_at == datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
    plain = parse_story("Now.\n", max_bytes=LIMIT)
    assert plain.publish_at is None and plain.updates is None


@pytest.mark.parametrize(
    ("front_matter", "message"),
    [
        ("publish_at: 2026-12-02T06:00", "'publish_at' 2026-12-02T06:00:00 has no UTC offset"),
        ("publish_at: 2026-12-02 06:00:00", "'publish_at' 2026-12-02T06:00:00 has no UTC offset"),
        ("publish_at: 2026-12-02", "'publish_at' 2026-12-02 is a date without a time"),
        ("publish_at: tomorrow morning", "'publish_at' 'tomorrow morning' is not an ISO 8601 date and time"),
        ("publish_at: [1, 2]", "'publish_at' [1, 2] is not a date and time"),
        ("updates: ../../etc/passwd", "front matter 'updates': story id"),
        ("updates: [a, b]", "'updates' must be the id of a story"),
        ("updates: true", "'updates' must be the id of a story"),
    ],
)
def test_bad_publish_at_or_updates_is_refused_naming_the_field(front_matter: str, message: str) -> None:
    with pytest.raises(StoryRejected) as caught:
        parse_story(f"---\n{front_matter}\n---\nBody\n", max_bytes=LIMIT)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_first_markdown_heading_becomes_the_heading() -> None:
    draft = parse_story("# Storm closes schools\n\nAll schools close on Monday.\n", max_bytes=LIMIT)
    assert draft.heading == "Storm closes schools"
    assert draft.body == "All schools close on Monday."


def test_a_less_than_sign_in_prose_is_text_not_markup() -> None:
    draft = parse_story("Turnout was < 40% & falling; 3 > 2.\n", max_bytes=LIMIT)
    assert "< 40% & falling" in draft.body


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "story is empty"),
        (b"   \n\t\n", "story is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        ("caf\u00e9".encode("latin-1") + b" au lait", "not UTF-8 text"),
        (b"<script>alert(1)</script>", "story has no text"),
        (b"<p><iframe src='https://x.example'></iframe></p>", "story has no text"),
        (b"---\ntitle: Only a style\n---\n<style>p {}</style>", "story has no text after its front matter"),
        (b"---\ntitle: [unclosed\n---\nBody\n", "front matter is not valid YAML"),
        (b"---\ntitel: Typo\n---\nBody\n", "unknown front matter key(s) titel"),
        (b"---\ntitle: Only metadata\n---\n\n", "story has no text after its front matter"),
        (b"---\nurl: javascript:alert(1)\n---\nBody\n", "not an absolute http(s) URL"),
        (b"---\nurl: /relative/path\n---\nBody\n", "not an absolute http(s) URL"),
        (b"---\nbreaking: maybe\n---\nBody\n", "'breaking' must be true or false"),
        (b"---\npublished: last tuesday\n---\nBody\n", "not an ISO date"),
        (b"---\ntitle: <i>Loud</i> title\n---\nBody\n", "front matter 'title' contains HTML markup"),
        (b"---\nid: ../../etc/passwd\n---\nBody\n", "story id"),
        (b"---\ntopics: {a: 1}\n---\nBody\n", "'topics' must be a list"),
    ],
)
def test_bad_story_input_is_refused_with_a_clear_reason(raw: bytes, message: str) -> None:
    with pytest.raises(StoryRejected) as caught:
        parse_story(raw, max_bytes=LIMIT)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_oversized_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * 1_000_000)  # 5 MB
    with pytest.raises(StoryRejected, match=r"big.txt: story is 5.0 MB; the limit is 1.0 MB"):
        read_story_file(big, LIMIT)


@pytest.mark.parametrize("name", ["missing.txt", "folder"])
def test_unreadable_paths_are_named_in_the_error(tmp_path: Path, name: str) -> None:
    (tmp_path / "folder").mkdir()
    with pytest.raises(StoryRejected, match=name):
        read_story_file(tmp_path / name, LIMIT)


def test_windows_line_endings_and_byte_order_mark_are_accepted() -> None:
    draft = parse_story("\ufeffFirst paragraph.\r\nSecond paragraph.\r\n".encode(), max_bytes=LIMIT)
    assert draft.body == "First paragraph.\n\nSecond paragraph."


UNICODE_STORY = "Council votes on the budget\n\nThe council in Pyongyang passed the budget — 12 to 3, café included.\n"


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [("utf-16", ""), ("utf-16-le", "\ufeff"), ("utf-16-be", "\ufeff"), ("utf-8-sig", ""), ("utf-32", "")],
    ids=["utf-16-native", "utf-16-le", "utf-16-be", "utf-8-bom", "utf-32"],
)
def test_unicode_text_with_a_byte_order_mark_is_decoded(tmp_path: Path, encoding: str, bom: str) -> None:
    """Windows editors save "Unicode" text as UTF-16 with a BOM; that is text, not a binary file."""
    path = tmp_path / "story.txt"
    path.write_bytes((bom + UNICODE_STORY).encode(encoding))
    assert read_story_file(path, LIMIT) == parse_story(UNICODE_STORY.encode("utf-8"), max_bytes=LIMIT)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("\ufeff".encode("utf-16-le") + b"\x00\xd8A\x00", "not valid UTF-16 text"),  # a lone surrogate
        ("\ufeffPK\x03\x04\x00\x00\x08\x00".encode("utf-16-le"), "binary file"),
        ("\ufeff  \n".encode("utf-16-be"), "story is empty"),
        (UNICODE_STORY.encode("utf-16-le"), "binary file"),  # no BOM: NULs every other byte
    ],
    ids=["bad-utf-16", "binary-after-bom", "blank", "utf-16-without-bom"],
)
def test_text_that_only_looks_like_unicode_is_still_refused(raw: bytes, message: str) -> None:
    with pytest.raises(StoryRejected) as caught:
        parse_story(raw, max_bytes=LIMIT)
    assert message in str(caught.value)
