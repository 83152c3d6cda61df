"""Headlines and summaries from the lead of a story.

News is written lead-first, so the first sentences are the summary; no model is needed. Sentence splitting uses
pysbd, which is slow on some long inputs (runs of abbreviations, ellipses, parentheses): it only ever sees the
first few paragraphs, capped at :data:`SEGMENTER_INPUT_CHARS`.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pysbd

HEADLINE_CHARS = 90
#: The most text pysbd is given: a summary never needs more than the first paragraphs.
SEGMENTER_INPUT_CHARS = 2500
ELLIPSIS = "…"

_SIGN_OFF = re.compile(
    r"\b(will keep you (posted|updated|informed)|stay tuned|for (more|the latest) (news|updates|coverage)|"
    r"follow us on|subscribe to (our|the)|sign up for our|this story (is developing|will be updated)|"
    r"contributed to this report|all rights reserved)\b",
    re.IGNORECASE,
)
# Leading scene-setting clauses that make a poor headline start: "In a candid exchange on Monday, ...".
_LEADING_CLAUSE = re.compile(
    r"^(?:In|On|At|After|Before|During|Amid|Following|Despite|With|As|Earlier|Late|Early)\b[^,]{3,70},\s+(?=\w)"
)
_SPACE = re.compile(r"\s+")
_LAST_WORD = re.compile(r"\s+\S*\Z")


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False)


def paragraphs_of(text: str) -> list[str]:
    """Paragraphs separated by blank lines or, as in plain-text wire copy, by single newlines."""
    return [p for p in (_SPACE.sub(" ", block).strip() for block in re.split(r"\n\s*\n|\n", text)) if p]


def is_sign_off(paragraph: str, outlet_name: str) -> bool:
    """A closing line of boilerplate ("The Fairview Gazette will keep you posted ...") rather than news."""
    if len(paragraph) > 300:
        return False
    if _SIGN_OFF.search(paragraph):
        return True
    return bool(outlet_name) and outlet_name.casefold() in paragraph.casefold() and len(paragraph) < 160


def strip_sign_off(paragraphs: list[str], outlet_name: str) -> list[str]:
    """Drop trailing boilerplate paragraphs; a story is never reduced to nothing."""
    kept = list(paragraphs)
    while len(kept) > 1 and is_sign_off(kept[-1], outlet_name):
        kept.pop()
    return kept


def sentences(text: str) -> list[str]:
    """The complete sentences of the start of *text* (at most :data:`SEGMENTER_INPUT_CHARS` of it)."""
    found = [s for s in (_SPACE.sub(" ", s).strip() for s in _segmenter().segment(text[:SEGMENTER_INPUT_CHARS])) if s]
    if len(text) > SEGMENTER_INPUT_CHARS and len(found) > 1:
        found.pop()  # cut off mid-sentence by the cap
    return found


def shorten(text: str, limit: int) -> str:
    """Cut *text* to at most *limit* characters on a word boundary, ending with an ellipsis when cut."""
    text = text.strip()
    if len(text) <= limit:
        return text
    if limit < 2:
        return ""
    cut = text[: limit - 1]
    if not text[limit - 1].isspace():
        last_word = _LAST_WORD.search(cut)
        if last_word and last_word.start() > 0:
            cut = cut[: last_word.start()]
    return cut.rstrip(" \t\r\n,;:-–—(\"“'‘") + ELLIPSIS


def derive_headline(lead_sentence: str, limit: int = HEADLINE_CHARS) -> str:
    """A headline from the first sentence: scene-setting clause dropped, trailing full stop removed, shortened."""
    sentence = _SPACE.sub(" ", lead_sentence).strip()
    trimmed = _LEADING_CLAUSE.sub("", sentence)
    if trimmed != sentence and len(trimmed) > 20:
        sentence = trimmed[0].upper() + trimmed[1:]
    if len(sentence) <= limit:
        return sentence.rstrip(".")
    # Prefer ending at a clause boundary over an ellipsis in mid-phrase.
    clause_end = max(sentence.rfind(", ", 0, limit + 2), sentence.rfind("; ", 0, limit + 2))
    if clause_end >= limit * 2 // 3:
        return sentence[:clause_end]
    return _without_split_name(sentence, shorten(sentence, limit))


def _without_split_name(sentence: str, cut: str) -> str:
    """A cut that halves a name ("... leader Kim…" of "Kim Jong-un") backs off to before the whole name."""
    kept = cut.removesuffix(ELLIPSIS).split(" ")
    following = sentence[len(cut) - len(ELLIPSIS) :].split()
    if not following or not kept or not (kept[-1][:1].isupper() and following[0][:1].isupper()):
        return cut
    while len(kept) > 1 and kept[-1][:1].isupper():
        kept.pop()
    shorter = " ".join(kept).rstrip(" ,;:-–—") + ELLIPSIS
    return shorter if len(shorter) >= len(cut) // 2 else cut


def summarise(paragraphs: list[str], budget: int) -> str:
    """Lead sentences, in order, as many as fit in *budget* characters (at least the first, shortened)."""
    lead = " ".join(paragraphs)
    chosen: list[str] = []
    used = 0
    for sentence in sentences(lead):
        extra = len(sentence) + (1 if chosen else 0)
        if used + extra > budget:
            break
        chosen.append(sentence)
        used += extra
    if not chosen:
        first = sentences(lead)
        return shorten(first[0] if first else lead[: budget * 2], budget)
    return " ".join(chosen)
