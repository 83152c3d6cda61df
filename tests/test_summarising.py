"""Headlines and summaries come from the lead; boilerplate never does."""

from __future__ import annotations

import pysbd

from bot.stories import summarising
from bot.stories.summarising import (
    HEADLINE_CHARS,
    SEGMENTER_INPUT_CHARS,
    derive_headline,
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


def test_headline_is_at_most_90_characters_cut_on_a_word_boundary() -> None:
    first = sentences(sample_paragraphs()[0])[0]
    headline = derive_headline(first)
    assert len(headline) <= HEADLINE_CHARS
    assert headline.startswith("President Donald Trump hinted")  # the scene-setting clause is dropped
    body_words = set(first.replace(",", " ").split())
    assert headline.removesuffix("…").split()[-1] in body_words  # no half word


def test_short_first_sentence_is_the_headline_without_its_full_stop() -> None:
    assert derive_headline("Storm closes all city schools.") == "Storm closes all city schools"


def test_headline_prefers_a_clause_boundary_to_an_ellipsis() -> None:
    sentence = "The city council approved a record budget for road repairs and school buildings on Friday, " \
        "ending months of debate."
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


def test_a_headline_is_not_cut_in_the_middle_of_a_name() -> None:
    first = sentences(sample_paragraphs()[0])[0]
    assert derive_headline(first).endswith("North Korean leader…")  # not "... leader Kim…" of Kim Jong-un
    plain = "Officials from the Department of Transportation and the Federal Aviation Administration met on Monday"
    assert derive_headline(plain).endswith("the Federal Aviation Administration…")  # a whole name is kept
