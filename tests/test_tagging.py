"""Specifications for keyword normalisation and topic tagging."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.app.errors import TopicNotFound
from bot.topics.tagging import TopicTagger, fold
from bot.topics.taxonomy import Taxonomy, Topic

SAMPLE_STORY = Path(__file__).resolve().parent.parent / "examples" / "stories" / "north-korea.txt"

SPORTS_TITLE = "Fairview Falcons edge Riverside 2-1 in season opener"
SPORTS_BODY = """\
The Fairview Falcons opened their football season with a hard-fought 2-1 win over Riverside United on
Saturday afternoon, in front of a near-capacity crowd at Memorial Stadium.

Riverside struck first when their striker curled a free kick past the Falcons goalkeeper in the 18th
minute. The home side pressed for the rest of the half and were rewarded just before halftime, when a
midfielder headed in a corner to level the score.

The winner came with ten minutes left: a penalty kick, awarded after a Riverside defender pulled down a
Falcons forward in the box, was converted low to the keeper's left. The referee added five minutes of
stoppage time, but the Falcons held on.

"We showed a lot of character after going behind," the head coach said after the match. "It's only the
first game, but the players believed in the plan."

The Falcons, who finished third in the league last year, travel to Lakeside next Saturday. Kickoff is at
3 p.m.
"""

BUDGET_TITLE = "City council passes $48 million budget, boosts school funding"
BUDGET_BODY = """\
The Fairview City Council voted 6-1 on Tuesday night to approve the municipal budget for the coming fiscal
year, a $48 million spending plan that raises school funding and sets aside money for road repairs across
several neighborhoods.

The budget adds $1.2 million for the local school district, most of it for classroom aides and after-school
programs, and $900,000 for the public works department to fill potholes and resurface two stretches of Main
Street downtown. The property tax rate stays unchanged for the third year in a row.

The mayor, who proposed the plan in April, said it "keeps our promises to families without asking more of
homeowners." The lone council member who voted against it argued that the city should have rebuilt its
reserve fund first.

Residents who spoke during the public comment period mostly backed the road repairs, though several asked
the council to speed up sidewalk work near the elementary schools. The budget takes effect on July 1.
"""


@pytest.fixture(scope="module")
def tagger() -> TopicTagger:
    return TopicTagger(Taxonomy.load())


def small_tagger(**keywords: tuple[str, ...]) -> TopicTagger:
    return TopicTagger(Taxonomy(Topic(slug=slug, name=slug, keywords=kws) for slug, kws in keywords.items()))


def test_sample_story_is_tagged_north_korea_first(tagger: TopicTagger) -> None:
    topics = tagger.tag("", SAMPLE_STORY.read_text(encoding="utf-8"))
    assert topics[0] == "north-korea"
    assert "us-politics" in topics


def test_sample_story_passing_mentions_of_ukraine_are_not_tagged(tagger: TopicTagger) -> None:
    assert "ukraine" not in tagger.tag("", SAMPLE_STORY.read_text(encoding="utf-8"))


def test_sports_story_is_tagged_sports(tagger: TopicTagger) -> None:
    assert tagger.tag(SPORTS_TITLE, SPORTS_BODY)[0] == "sports"


def test_sports_story_is_not_tagged_north_korea(tagger: TopicTagger) -> None:
    assert "north-korea" not in tagger.tag(SPORTS_TITLE, SPORTS_BODY)


def test_local_budget_story_is_tagged_local(tagger: TopicTagger) -> None:
    assert tagger.tag(BUDGET_TITLE, BUDGET_BODY)[0] == "local"


def test_local_budget_story_is_not_tagged_north_korea_or_sports(tagger: TopicTagger) -> None:
    topics = tagger.tag(BUDGET_TITLE, BUDGET_BODY)
    assert "north-korea" not in topics
    assert "sports" not in topics


@pytest.mark.parametrize(
    "text", ["North Korea’s", "north-korean", "NORTH KOREA", "Nörth Koréa", "North\u2011Korea", "north\n korea"]
)
def test_fold_makes_typographic_variants_match_the_keyword(text: str) -> None:
    assert fold(text).startswith(fold("North Korea"))


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Korea’s", "korea's"),
        ("“Quoted”", '"quoted"'),
        ("ʼs", "'s"),
        ("Kim Jong-un", "kim jong un"),
        ("peace—talks", "peace talks"),
        ("2019–2024", "2019 2024"),
        ("Straße", "strasse"),
        ("ﬁnal", "final"),
    ],
)
def test_fold_normalises_quotes_dashes_case_and_ligatures(raw: str, folded: str) -> None:
    assert fold(raw) == folded


def test_curly_quotes_and_accents_still_match() -> None:
    tagger = small_tagger(**{"north-korea": ("North Korea", "Kim Jong Un")})
    title = "NÖRTH KORÉA’S leader Kim Jong‑un speaks"
    assert tagger.scores(title, "") == {"north-korea": 2.0}


def test_possessive_s_does_not_break_a_match() -> None:
    tagger = small_tagger(russia=("Russia",))
    assert tagger.tag("Russia's new budget", "") == ("russia",)
    assert tagger.tag("Russia’s new budget", "") == ("russia",)


def test_plural_s_matches_but_other_forms_only_when_listed() -> None:
    tagger = small_tagger(russia=("Russia",), sports=("coach",))
    assert tagger.tag("Coaches meet", "") == ()
    assert tagger.tag("Russians vote", "") == ()
    assert small_tagger(sports=("coach", "coaches")).tag("Coaches meet", "") == ("sports",)
    assert small_tagger(teams=("team",)).tag("Teams meet", "") == ("teams",)


@pytest.mark.parametrize("text", ["A party for the start of the season", "Smart carts depart", "A string quartet"])
def test_word_boundaries_art_does_not_match_party(text: str) -> None:
    assert small_tagger(culture=("art",)).scores(text, "") == {}


def test_word_boundaries_whole_word_art_matches() -> None:
    assert small_tagger(culture=("art",)).tag("Art fair opens; the art is bold", "") == ("culture",)


def test_longest_keyword_wins_so_overlapping_phrases_count_once() -> None:
    tagger = small_tagger(elections=("Electoral College",), education=("college",))
    assert tagger.scores("Electoral College vote", "") == {"elections": 1.0}


def test_title_hits_weigh_more_than_body_hits() -> None:
    tagger = small_tagger(ukraine=("Ukraine",))
    filler = "word " * 300
    assert tagger.scores("Ukraine", filler)["ukraine"] > tagger.scores("", "Ukraine " + filler)["ukraine"]


def test_one_passing_mention_in_a_long_story_is_not_tagged() -> None:
    body = "The council met to discuss parking. " * 100 + "Ukraine was mentioned once."
    assert small_tagger(ukraine=("Ukraine",)).tag("Parking rules change", body) == ()


def test_one_headline_mention_in_a_short_breaking_item_is_tagged() -> None:
    body = "Officials confirmed the blasts early on Tuesday; more details will follow."
    assert small_tagger(ukraine=("Ukraine",)).tag("Explosions reported in Ukraine", body) == ("ukraine",)


def test_one_stray_body_word_in_a_short_item_is_not_enough() -> None:
    body = "The mayor opened the new library; the art collection moves in next month."
    assert small_tagger(culture=("art",)).tag("Library opens", body) == ()


def test_threshold_is_configurable() -> None:
    taxonomy = Taxonomy([Topic(slug="ukraine", name="Ukraine", keywords=("Ukraine",))])
    assert TopicTagger(taxonomy, threshold=2.0).tag("Ukraine", "") == ()
    assert TopicTagger(taxonomy, threshold=0.1).tag("", "Ukraine " + "word " * 300) == ("ukraine",)


def test_topics_are_ordered_most_relevant_first() -> None:
    tagger = small_tagger(ukraine=("Ukraine",), russia=("Russia",))
    assert tagger.tag("Russia and Ukraine", "Ukraine. " * 5) == ("ukraine", "russia")


def test_scores_omit_topics_without_hits(tagger: TopicTagger) -> None:
    scores = tagger.scores(SPORTS_TITLE, SPORTS_BODY)
    assert all(score > 0 for score in scores.values())
    assert "weather" not in scores


def test_editor_given_topics_are_always_kept(tagger: TopicTagger) -> None:
    topics = tagger.tag(SPORTS_TITLE, SPORTS_BODY, given=["weather", "local", "weather"])
    assert topics[:2] == ("weather", "local")
    assert "sports" in topics
    assert len(topics) == len(set(topics))


def test_editor_given_topic_that_the_tagger_also_finds_is_not_repeated(tagger: TopicTagger) -> None:
    topics = tagger.tag(SPORTS_TITLE, SPORTS_BODY, given=["sports"])
    assert topics.count("sports") == 1
    assert topics[0] == "sports"


def test_editor_given_topics_accept_names_and_aliases(tagger: TopicTagger) -> None:
    assert tagger.tag("", "", given=["DPRK", "#Weather"]) == ("north-korea", "weather")


def test_unknown_editor_given_topic_is_reported_with_suggestions(tagger: TopicTagger) -> None:
    with pytest.raises(TopicNotFound) as caught:
        tagger.tag("", "", given=["north-kroea"])
    assert caught.value.suggestions == ["north-korea"]


def test_empty_story_gets_no_topics(tagger: TopicTagger) -> None:
    assert tagger.tag("", "") == ()
    assert tagger.scores("", "   \n") == {}


def test_taxonomy_without_keywords_tags_nothing() -> None:
    tagger = TopicTagger(Taxonomy([Topic(slug="misc", name="Misc")]))
    assert tagger.tag("Anything at all", "Really anything.") == ()


def test_tagging_uses_only_precompiled_patterns(tagger: TopicTagger, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_compiling(*args: object, **kwargs: object) -> None:
        raise AssertionError("regex compiled while tagging")

    for name in ("compile", "search", "match", "fullmatch", "findall", "finditer", "sub", "split"):
        monkeypatch.setattr(re, name, no_compiling)
    assert "north-korea" in tagger.tag("", SAMPLE_STORY.read_text(encoding="utf-8"))
