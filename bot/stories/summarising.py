"""Headlines and summaries from the lead of a story.

News is written lead-first, so the first sentences are the summary; no model is needed. A story's body is
newsbot's Markdown (`bot.stories.body_blocks`): the summary keeps its paragraphs, subheadings, list items, links
and emphasis, and its length is counted in what a reader reads (a link's URL is free). Sentence splitting uses
pysbd on the visible text, never ending a sentence inside a link; pysbd is slow on some long inputs (runs of
abbreviations, ellipses, parentheses), so it only sees the first :data:`SEGMENTER_INPUT_CHARS` of a paragraph.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import pysbd

from bot.stories.body_blocks import (
    Block,
    Line,
    Run,
    append_text,
    cut_blocks,
    line_text,
    link_spans,
    normalise_line,
    slice_line,
    visible_text,
    write_block,
    write_markdown,
)
from bot.stories.markup_reading import read_markdown

HEADLINE_CHARS = 90
#: How far past HEADLINE_CHARS a derived headline may run to end with its clause rather than in mid-phrase.
HEADLINE_MAX_CHARS = 110
#: A derived headline shorter than this is no headline: a boundary earlier than that is not used.
HEADLINE_MIN_CHARS = 30
#: A one-sentence story's sentence is its whole headline (and there is no summary) up to this length.
ONE_SENTENCE_HEADLINE_CHARS = 200
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
# Where a clause ends: a comma, semicolon, colon or dash, or before a word that opens a subordinate clause.
_CLAUSE_BOUNDARY = re.compile(
    r"(?:[,;:]|\s[–—])\s|\s(?=(?:saying|says|said|while|whereas|although|though|because|but|which|who|whose|"
    r"after|before|as|amid|despite|when|where|until|since|according)\s)"
)
# Where a phrase ends: before a preposition or conjunction that opens the next one.
_PHRASE_BOUNDARY = re.compile(r"\s(?=(?:with|at|for|to|on|in|of|from|over|about|into|against|and|or|by)\s)")
_SPACE = re.compile(r"\s+")
_LAST_WORD = re.compile(r"\s+\S*\Z")


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False)


def paragraphs_of(text: str) -> list[str]:
    """The blocks of a body (paragraphs, subheadings, lists), each in newsbot's Markdown.

    Paragraphs are separated by blank lines or, as in plain-text wire copy, by single newlines.
    """
    return [write_block(block) for block in read_markdown(text)]


def plain_text_of(markdown: str) -> str:
    """What a reader reads of a body or summary: no markup, blocks separated by blank lines."""
    return visible_text(read_markdown(markdown))


def is_sign_off(paragraph: str, outlet_name: str) -> bool:
    """A closing line of boilerplate ("The Fairview Gazette will keep you posted ...") rather than news."""
    paragraph = " ".join(plain_text_of(paragraph).split())
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
    """The complete sentences of the start of *text* (newsbot's Markdown), as plain text."""
    return _plain_sentences(" ".join(plain_text_of(text).split()))


def _plain_sentences(text: str) -> list[str]:
    """The complete sentences of the start of plain *text* (at most :data:`SEGMENTER_INPUT_CHARS` of it)."""
    found = [s for s in (_SPACE.sub(" ", s).strip() for s in _segmenter().segment(text[:SEGMENTER_INPUT_CHARS])) if s]
    if len(text) > SEGMENTER_INPUT_CHARS and len(found) > 1:
        found.pop()  # cut off mid-sentence by the cap
    return found


def _sentences_of_line(line: Line) -> list[Line]:
    """A paragraph's sentences with their styles and links; a link is never split between two sentences."""
    text = line_text(line)
    ends: list[int] = []
    position = 0
    for sentence in _plain_sentences(text):
        found = text.find(sentence, position)
        if found < 0:  # pysbd changed the text: keep what was matched, the rest is one sentence
            break
        position = found + len(sentence)
        ends.append(position)
    if not ends:
        ends = [len(text)]
    elif len(text) <= SEGMENTER_INPUT_CHARS:
        ends[-1] = len(text)  # whatever pysbd left after the last sentence belongs to it
    inside_links = link_spans(line)
    ends = [end for end in ends if not any(start < end < stop for start, stop in inside_links)]
    starts = [0, *ends[:-1]]
    return [part for part in (slice_line(line, start, end) for start, end in zip(starts, ends, strict=True)) if part]


def shorten_markdown(markdown: str, limit: int) -> str:
    """:func:`shorten` for newsbot's Markdown: at most *limit* visible characters, no link or style cut open."""
    blocks = read_markdown(markdown)
    return write_markdown(_shorten_blocks(blocks, limit))


def _shorten_blocks(blocks: list[Block], limit: int) -> list[Block]:
    text = visible_text(blocks)
    cut = shorten(text, limit)
    if cut == text.strip():
        return blocks
    kept = cut.removesuffix(ELLIPSIS)
    return append_text(cut_blocks(blocks, len(kept)), ELLIPSIS) if kept else []


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
    """A headline from the first sentence: scene-setting clause dropped, trailing full stop removed, and a long
    sentence ended where a clause or phrase ends, so a headline never stops with "…" in mid-phrase.

    The end is the clause boundary (a comma, a dash, "saying", "while" ...) nearest *limit*, up to
    :data:`HEADLINE_MAX_CHARS` (a complete clause reads better than a shorter fragment), else the phrase boundary
    (before "with", "at", "for" ...) nearest it; only a sentence with neither is cut on a word, with "…".
    """
    sentence = _SPACE.sub(" ", lead_sentence).strip()
    trimmed = _LEADING_CLAUSE.sub("", sentence)
    if trimmed != sentence and len(trimmed) > 20:
        sentence = trimmed[0].upper() + trimmed[1:]
    if len(sentence) <= limit:
        return sentence.rstrip(".")
    shortest, longest = min(HEADLINE_MIN_CHARS, limit // 2), max(limit, HEADLINE_MAX_CHARS)
    for boundary in (_CLAUSE_BOUNDARY, _PHRASE_BOUNDARY):
        ends = [end for end in _boundaries(boundary, sentence) if shortest <= end <= longest]
        if ends:  # the end nearest the target length; of two as near, the shorter
            return _ended(sentence, min(ends, key=lambda end: (abs(end - limit), end)))
    return _without_split_name(sentence, shorten(sentence, limit))


def _boundaries(pattern: re.Pattern[str], sentence: str) -> list[int]:
    """Where *pattern* says a clause or phrase ends, outside quotes and brackets (a quotation is not cut open)."""
    ends = []
    for match in pattern.finditer(sentence):
        before = sentence[: match.start()]
        opened = before.count("“") - before.count("”") + before.count("(") - before.count(")") + before.count('"') % 2
        if not opened:
            ends.append(match.start())
    return ends


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


def _ended(sentence: str, end: int) -> str:
    return sentence[:end].rstrip(" ,;:-–—")


@dataclass(frozen=True, slots=True)
class LeadHeadline:
    """A headline derived from a story's lead and the summary that goes with it."""

    headline: str
    summary: str


def headline_from_lead(paragraphs: list[str], budget: int) -> LeadHeadline:
    """For a story without a title: the headline from its first sentence, and a summary that starts after that
    sentence, so no message shows it twice (a one-sentence story is all headline, with no summary).

    Only a one-sentence story too long for a headline (over :data:`ONE_SENTENCE_HEADLINE_CHARS`) keeps its
    sentence as the summary, under the shortened headline: its text would be lost otherwise.
    """
    first, rest = _lead_unit(paragraphs)
    lead = " ".join(plain_text_of(first).split()) if first else ""
    if not lead:
        return LeadHeadline(derive_headline(paragraphs[0]), summarise(paragraphs, budget))
    remaining = [paragraph for paragraph in rest if paragraph.strip()]
    if not remaining:
        if len(lead) <= ONE_SENTENCE_HEADLINE_CHARS:
            return LeadHeadline(lead.rstrip("."), "")
        return LeadHeadline(derive_headline(lead), summarise(paragraphs, budget))
    return LeadHeadline(derive_headline(lead), summarise(remaining, budget))


def _lead_unit(paragraphs: list[str]) -> tuple[str, list[str]]:
    """The first sentence (or list item) of a body, and the body after it, both in newsbot's Markdown."""
    blocks = [block for paragraph in paragraphs for block in read_markdown(paragraph)]
    index = next((i for i, block in enumerate(blocks) if block.kind != "heading"), None)
    if index is None:
        return "", paragraphs
    block = blocks[index]
    units = _sentences_of_line(block.lines[0]) if block.kind == "paragraph" else list(block.lines)
    if not units:
        return "", paragraphs
    if block.kind == "paragraph":
        rest_block = _joined(block, units[1:]) if len(units) > 1 else None
    else:
        rest_block = Block(block.kind, block.lines[1:], block.start + 1) if len(block.lines) > 1 else None
    after = [*([rest_block] if rest_block else []), *blocks[index + 1 :]]
    return write_block(Block("paragraph", (units[0],))), [write_block(b) for b in after]


def summarise(paragraphs: list[str], budget: int) -> str:
    """Lead sentences and list items, in order, as many as fit in *budget* visible characters, in newsbot's Markdown.

    Paragraph breaks, subheadings (only with something after them), list items, links and emphasis are kept; the
    first thing that does not fit ends the summary. At least the first sentence is kept, shortened if need be.
    """
    blocks = [block for paragraph in paragraphs for block in read_markdown(paragraph)]
    chosen: list[Block] = []
    used = 0
    heading: Block | None = None
    for block in blocks:
        if block.kind == "heading":
            heading = block
            continue
        units = _sentences_of_line(block.lines[0]) if block.kind == "paragraph" else list(block.lines)
        taken: list[Line] = []
        cost = used + (len(heading.text) + (1 if chosen else 0) if heading else 0)
        for unit in units:
            extra = len(line_text(unit)) + (1 if chosen or taken or heading else 0)
            if cost + extra > budget:
                break
            taken.append(unit)
            cost += extra
        if taken:
            if heading:
                chosen.append(heading)
            chosen.append(_joined(block, taken))
            used, heading = cost, None
        if len(taken) < len(units):
            break
    if not chosen:
        first = next((block for block in blocks if block.kind != "heading"), None)
        if first is None:
            return ""
        units = _sentences_of_line(first.lines[0]) if first.kind == "paragraph" else list(first.lines)
        lead = Block(first.kind, (units[0],) if units else first.lines[:1], first.start)
        return write_markdown(_shorten_blocks([lead], budget))
    return write_markdown(chosen)


def _joined(block: Block, taken: list[Line]) -> Block:
    """A paragraph of its first sentences, or a list of its first items."""
    if block.kind != "paragraph":
        return Block(block.kind, tuple(taken), block.start)
    runs = [run for index, sentence in enumerate(taken) for run in ((Run(" "),) if index else ()) + sentence]
    return Block("paragraph", (normalise_line(runs),))
