"""Headlines and summaries come from the lead; boilerplate never does."""

from __future__ import annotations

import pysbd
import pytest

from bot.stories import summarising
from bot.stories.summarising import (
    HEADLINE_MAX_CHARS,
    SEGMENTER_INPUT_CHARS,
    LeadHeadline,
    derive_headline,
    headline_from_lead,
    paragraphs_of,
    sentences,
    strip_sign_off,
    summarise,
)
from tests.newsroom_fixtures import SAMPLE_STORY


def sample_paragraphs() -> list[str]:
    return strip_sign_off(paragraphs_of(SAMPLE_STORY.read_text(encoding="utf-8")), "Fairview Gazette")


def test_sample_sign_off_is_recognised_as_boilerplate() -> None:
    everything = paragraphs_of(SAMPLE_STORY.read_text(encoding="utf-8"))
    kept = sample_paragraphs()
    assert len(kept) == len(everything) - 1
    assert everything[-1].startswith("The Fairview Gazette will keep you posted")


def test_sign_off_never_appears_in_a_summary_even_with_a_large_budget() -> None:
    for budget in (200, 500, 1500):
        assert "keep you posted" not in summarise(sample_paragraphs(), budget)


def test_a_one_paragraph_story_keeps_its_paragraph() -> None:
    assert strip_sign_off(["Stay tuned for more updates."], "Fairview Gazette") == ["Stay tuned for more updates."]


def test_summary_is_lead_sentences_within_budget() -> None:
    summary = summarise(sample_paragraphs(), 500)
    assert len(summary) <= 500
    assert summary.startswith("In a candid exchange with reporters on Monday")
    assert summary.endswith("faded from the spotlight.")  # two whole sentences, not a cut one


def test_first_sentence_longer_than_budget_is_shortened_on_a_word_boundary() -> None:
    summary = summarise(sample_paragraphs(), 100)
    assert len(summary) <= 100 and summary.endswith("…")
    assert summary[:-1] == summary[:-1].rstrip()
    assert SAMPLE_STORY.read_text(encoding="utf-8").startswith(summary[:-1])


def test_the_sample_headline_ends_with_its_clause_not_an_ellipsis_in_mid_phrase() -> None:
    first = sentences(sample_paragraphs()[0])[0]
    headline = derive_headline(first)
    assert (
        headline == "President Donald Trump hinted at potential future engagement with North Korean leader Kim Jong-un"
    )
    assert len(headline) <= HEADLINE_MAX_CHARS and "…" not in headline  # the scene-setting clause is dropped


def test_the_sample_summary_starts_after_the_sentence_its_headline_came_from() -> None:
    lead = headline_from_lead(sample_paragraphs(), 500)
    assert lead.headline.startswith("President Donald Trump hinted")
    assert lead.summary.startswith("Trump leaned on memories")
    assert "probably do something" not in lead.summary and "In a candid exchange" not in lead.summary
    sentences_shown = [lead.headline, *sentences(lead.summary)]
    assert len(set(sentences_shown)) == len(sentences_shown)


def test_a_one_sentence_story_shows_its_sentence_once_as_the_headline() -> None:
    lead = headline_from_lead(["Storm closes all city schools on Monday, the mayor said."], 500)
    assert lead == LeadHeadline("Storm closes all city schools on Monday, the mayor said", "")


def test_a_one_sentence_story_too_long_for_a_headline_keeps_its_text_as_the_summary() -> None:
    sentence = "The council voted " + "and then debated again " * 12 + "until late."
    lead = headline_from_lead([sentence], 500)
    assert len(lead.headline) <= HEADLINE_MAX_CHARS and lead.summary == sentence


def test_a_lead_list_item_is_not_repeated_either() -> None:
    lead = headline_from_lead(paragraphs_of("- Schools close on Monday.\n- Buses stop at noon."), 500)
    assert lead.headline == "Schools close on Monday" and lead.summary == "- Buses stop at noon."


@pytest.mark.parametrize(
    ("sentence", "headline"),
    [
        (
            "Officials from the Department of Transportation and the Federal Aviation Administration met on Monday "
            "to discuss runway safety",
            "Officials from the Department of Transportation and the Federal Aviation Administration met",
        ),
        (
            "The governor signed the long-awaited bill into law on Thursday while protesters gathered outside the "
            "statehouse in the rain",
            "The governor signed the long-awaited bill into law on Thursday",
        ),
        (
            "A storm that forecasters had called the strongest in a decade swept across the coast overnight, "
            "flooding streets",
            "A storm that forecasters had called the strongest in a decade swept across the coast overnight",
        ),
        (
            "The mayor said the city would “review every contract, every invoice and every payment” before "
            "the vote next week",
            "The mayor said the city would “review every contract, every invoice and every payment”",
        ),
    ],
)
def test_a_derived_headline_ends_where_a_clause_or_phrase_ends(sentence: str, headline: str) -> None:
    assert derive_headline(sentence) == headline
    assert not headline.endswith("…")


def test_short_first_sentence_is_the_headline_without_its_full_stop() -> None:
    assert derive_headline("Storm closes all city schools.") == "Storm closes all city schools"


def test_headline_prefers_a_clause_boundary_to_an_ellipsis() -> None:
    sentence = (
        "The city council approved a record budget for road repairs and school buildings on Friday, "
        "ending months of debate."
    )
    assert derive_headline(sentence) == (
        "The city council approved a record budget for road repairs and school buildings on Friday"
    )


def test_segmenter_only_sees_the_capped_lead(monkeypatch) -> None:
    seen: list[int] = []
    real = pysbd.Segmenter(language="en", clean=False)

    class Recording:
        def segment(self, text: str) -> list[str]:
            seen.append(len(text))
            return real.segment(text)

    monkeypatch.setattr(summarising, "_segmenter", lambda: Recording())
    pathological = "Mr. A. B. C. (see p. 4...) " * 50_000  # known slow shape for pysbd when uncapped
    result = summarise([pathological], 500)
    assert seen and max(seen) <= SEGMENTER_INPUT_CHARS
    assert len(result) <= 500


def test_a_headline_without_any_boundary_is_cut_on_a_word_but_not_inside_a_name() -> None:
    plain = "Officials " + "Xy" * 30 + " Ab Cd Ef Gh Kim Jong Un Yo Po Lo Mo No Zo"
    headline = derive_headline(plain, 70)
    assert headline.endswith("…") and "Kim" not in headline
