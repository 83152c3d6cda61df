"""Keyword tagging: which taxonomy topics a story is about.

Matching works on :func:`fold`-ed text, so typography (case, accents, curly quotes, hyphens) never decides
whether a keyword is found. All keywords of all topics are compiled once into a single regex (a trie, so
each text position costs one walk down the trie rather than one attempt per keyword).

Scoring, and why: a keyword in the headline is a strong signal, so each headline hit is worth
:data:`TITLE_HIT` (equal to the default threshold: one is enough). Body hits count as a density, hits per
100 words, because a long story mentioning a place once in passing is not about that place. Short bodies are
measured as if they had :data:`MIN_BODY_WORDS` words, so a 40-word brief needs two body mentions (or one in
the headline) rather than one stray word.

With the default taxonomy the sample North Korea story (~870 words, no headline) scores north-korea 3.3 and
us-politics 2.2. russia scores 1.15 (Russia, Russian, Putin, Shoigu: two paragraphs on the Pyongyang-Moscow
axis), just over the threshold, and is deliberately kept: that axis is a real secondary angle of the story.
Ukraine is named three times in passing (0.35) and is not tagged; neither is world (two "sanctions" and one
"diplomatic", 0.35).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from bot.topics.taxonomy import Taxonomy

#: Score of one keyword hit in the headline.
TITLE_HIT = 1.0
#: Body hits are counted per this many words.
BODY_WORDS_PER_HIT = 100
#: Bodies shorter than this are scored as if they were this long.
MIN_BODY_WORDS = 200
#: Default minimum score for a topic to be assigned.
DEFAULT_THRESHOLD = 1.0

_ACCENTS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_REPLACEMENTS = (
    *((quote, "'") for quote in "\u2018\u2019\u201a\u201b\u02bc\u2032"),
    *((quote, '"') for quote in "\u201c\u201d\u201e\u201f"),
    *((dash, " ") for dash in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"),
    ("\u00ad", ""),
)


def fold(text: str) -> str:
    """Normalise *text* so that typography does not affect keyword matching.

    Case-folds, strips accents (Nörth Koréa), straightens curly quotes and apostrophes so a possessive stays
    "'s", turns hyphens and dashes into spaces ("north-korean" == "north korean") and collapses whitespace.
    Keywords and stories go through the same function, so both sides always agree.
    """
    text = text.casefold()
    if not text.isascii():
        text = _ACCENTS.sub("", unicodedata.normalize("NFKD", text))
        for old, new in _REPLACEMENTS:
            text = text.replace(old, new)
    return " ".join(text.replace("-", " ").split())


def _trie_pattern(words: Iterable[str]) -> str:
    """One regex alternation for *words*, shared prefixes factored out and longer words tried first."""
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def pattern(node: dict[str, dict]) -> str:
        branches = [re.escape(char) + pattern(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return pattern(trie)


@lru_cache(maxsize=8)
def _keyword_regex(keywords: tuple[str, ...]) -> re.Pattern[str]:
    """The matcher of a taxonomy's keywords, built once per taxonomy: every newsroom opened builds a tagger."""
    return re.compile(rf"(?<!\w){_trie_pattern(keywords)}s?(?!\w)")


class TopicTagger:
    """Assigns taxonomy topics to a story from its keywords; holds no per-story state, so one can serve all tasks."""

    def __init__(self, taxonomy: Taxonomy, *, threshold: float = DEFAULT_THRESHOLD) -> None:
        self._taxonomy = taxonomy
        self.threshold = threshold
        self._slugs = taxonomy.slugs
        index: dict[str, list[int]] = {}
        for position, topic in enumerate(taxonomy):
            for keyword in dict.fromkeys(fold(k) for k in (*topic.keywords, *topic.aliases)):
                if keyword:
                    index.setdefault(keyword, []).append(position)
        self._index = {keyword: tuple(positions) for keyword, positions in index.items()}
        self._regex = _keyword_regex(tuple(self._index)) if self._index else None

    def _hits(self, folded: str) -> list[int]:
        counts = [0] * len(self._slugs)
        if self._regex is None:
            return counts
        for found in self._regex.findall(folded):
            positions = self._index.get(found) or self._index.get(found[:-1], ())
            for position in positions:
                counts[position] += 1
        return counts

    def scores(self, title: str, body: str) -> dict[str, float]:
        """Relevance of each matching topic (zero-score topics omitted), in taxonomy order."""
        folded_body = fold(body)
        words = folded_body.count(" ") + 1 if folded_body else 0
        body_weight = BODY_WORDS_PER_HIT / max(words, MIN_BODY_WORDS)
        title_hits = self._hits(fold(title))
        body_hits = self._hits(folded_body)
        return {
            slug: TITLE_HIT * in_title + body_weight * in_body
            for slug, in_title, in_body in zip(self._slugs, title_hits, body_hits, strict=True)
            if in_title or in_body
        }

    def tag(self, title: str, body: str, given: Iterable[str] = ()) -> tuple[str, ...]:
        """Topics for a story: the editor's *given* ones first, then those scoring at or above the threshold.

        *given* may use any name :meth:`Taxonomy.resolve` accepts; an unknown one raises
        :class:`~bot.app.errors.TopicNotFound` so the editor sees the mistake instead of losing the topic.
        """
        chosen = dict.fromkeys(self._taxonomy.resolve_all(given))
        ranked = sorted(self.scores(title, body).items(), key=lambda item: item[1], reverse=True)
        chosen.update((slug, None) for slug, score in ranked if score >= self.threshold)
        return tuple(chosen)
