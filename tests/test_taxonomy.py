"""Specifications for the topic taxonomy: the shipped default, lookup by name, and loading editors' files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.app.errors import ConfigurationError, TopicNotFound
from bot.topics.tagging import fold
from bot.topics.taxonomy import Taxonomy, Topic

REQUIRED_SLUGS = {
    "north-korea",
    "us-politics",
    "russia",
    "ukraine",
    "world",
    "business",
    "tech",
    "science",
    "health",
    "sports",
    "local",
    "weather",
    "culture",
}

GENERIC_WORDS = {"government", "people", "said", "says", "us", "it", "who", "new", "news", "president", "war", "city"}


@pytest.fixture(scope="module")
def default() -> Taxonomy:
    return Taxonomy.load()


def test_default_taxonomy_has_required_slugs(default: Taxonomy) -> None:
    assert set(default.slugs) >= REQUIRED_SLUGS


def test_default_taxonomy_has_at_least_18_topics(default: Taxonomy) -> None:
    assert len(default) >= 18


def test_every_default_topic_has_a_name_a_one_line_description_and_keywords(default: Taxonomy) -> None:
    for topic in default:
        assert topic.name and topic.name != topic.slug, topic.slug
        assert topic.description and "\n" not in topic.description, topic.slug
        assert topic.keywords, topic.slug


def test_default_keywords_avoid_generic_words(default: Taxonomy) -> None:
    for topic in default:
        used = {fold(word) for word in (*topic.keywords, *topic.aliases)}
        assert not used & GENERIC_WORDS, topic.slug


def test_default_names_and_aliases_each_lead_to_their_own_topic(default: Taxonomy) -> None:
    for topic in default:
        for name in (topic.slug, topic.name, *topic.aliases):
            assert default.resolve(name).slug == topic.slug, name


@pytest.mark.parametrize(
    "name", ["north-korea", "North Korea", "NORTH KOREA", "north korea", "DPRK", "dprk", "#DPRK", "  North-Korea "]
)
def test_resolve_accepts_slug_name_alias_any_case(default: Taxonomy, name: str) -> None:
    assert default.resolve(name).slug == "north-korea"


def test_resolve_all_keeps_order_and_drops_duplicates(default: Taxonomy) -> None:
    assert default.resolve_all(["Sport", "weather", "SPORTS", "North Korea"]) == ["sports", "weather", "north-korea"]


@pytest.mark.parametrize(
    ("typo", "suggestion"), [("north-kroea", "north-korea"), ("sprots", "sports"), ("ukrane", "ukraine")]
)
def test_unknown_topic_suggests_close_names(default: Taxonomy, typo: str, suggestion: str) -> None:
    with pytest.raises(TopicNotFound) as caught:
        default.resolve(typo)
    assert suggestion in caught.value.suggestions
    assert suggestion in str(caught.value)


def test_unknown_topic_with_nothing_close_has_no_suggestions(default: Taxonomy) -> None:
    with pytest.raises(TopicNotFound) as caught:
        default.resolve("xylophone-quartz")
    assert caught.value.suggestions == []


def test_custom_topics_file_replaces_the_default(tmp_path: Path) -> None:
    path = tmp_path / "topics.toml"
    path.write_text(
        '[[topic]]\nslug = "harbour"\nname = "Harbour"\nkeywords = ["ferry", "pier"]\naliases = ["Port"]\n',
        encoding="utf-8",
    )
    taxonomy = Taxonomy.load(path)
    assert taxonomy.slugs == ["harbour"]
    expected = Topic(slug="harbour", name="Harbour", keywords=("ferry", "pier"), aliases=("Port",))
    assert taxonomy.resolve("port") == expected


def test_hashtag_uses_only_letters_digits_and_underscores(default: Taxonomy) -> None:
    assert default["north-korea"].hashtag == "#North_Korea"
    assert default["us-politics"].hashtag == "#US_Politics"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[[topic]\nslug = "x"\n', "cannot read topics file"),
        ('[[topic]]\nslug = "local"\n\n[[topic]]\nslug = "local"\n', "defined twice"),
        ('[[topic]]\nname = "No Slug"\n', "has no slug"),
        ('[[topic]]\nslug = "Bad Slug"\n', "must be lowercase"),
        ('title = "no topics here"\n', "defines no [[topic]] entries"),
    ],
    ids=["malformed-toml", "duplicate-slug", "missing-slug", "bad-slug", "no-topics"],
)
def test_bad_taxonomy_file_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "topics.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Taxonomy.load(path)


def test_missing_taxonomy_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read topics file"):
        Taxonomy.load(tmp_path / "nowhere.toml")


def test_keywords_given_as_a_string_instead_of_a_list_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "topics.toml"
    path.write_text('[[topic]]\nslug = "war"\nkeywords = "war"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="keywords must be a list of words"):
        Taxonomy.load(path)


def test_single_bracket_topic_table_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "topics.toml"
    path.write_text('[topic]\nslug = "war"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"\[\[topic\]\]"):
        Taxonomy.load(path)


def test_a_copied_hashtag_resolves_to_its_topic() -> None:
    taxonomy = Taxonomy.load()
    assert taxonomy.resolve(taxonomy["north-korea"].hashtag).slug == "north-korea"


def test_the_social_distribution_in_the_topics_file_is_read_from_the_parsed_taxonomy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.app.config import Settings
    from bot.topics import distribution

    topics_file = tmp_path / "topics.toml"
    topics_file.write_text(
        '[[topic]]\nslug = "local"\nname = "Local"\ntelegram_channels = ["@fairview_local"]\n', encoding="utf-8"
    )
    taxonomy = Taxonomy.load(topics_file)

    def parsed_again(path: Path, what: str) -> list[dict[str, object]]:
        raise AssertionError(f"{path} parsed a second time")

    monkeypatch.setattr(distribution, "read_topic_tables", parsed_again)
    loaded = distribution.Distribution.load(Settings(data_dir=tmp_path, topics_file=topics_file), taxonomy)
    assert [d.label for d in loaded.by_topic["local"]] == ["Telegram @fairview_local"]
