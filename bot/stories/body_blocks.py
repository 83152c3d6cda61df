"""A story body's structure, and the small Markdown subset newsbot stores it in.

Every door (plain text, Markdown, HTML, a Telegram editor's message) turns into a list of :class:`Block`:
paragraphs, ``## `` subheadings, bullet lists and numbered lists, whose lines are runs of text that may be bold,
italic or a link. The stored body (``Story.body``) and the summary (``Story.summary``) are these blocks written
as Markdown by :func:`write_markdown`, which every renderer reads back with
:func:`bot.stories.markup_reading.read_markdown`:

- blocks are separated by a blank line; a paragraph or a subheading is one line;
- ``## Subheading``; ``- item`` lines; ``1. item`` lines (the first number is where the list starts);
- ``**bold**``, ``*italic*``, ``[text](https://...)`` (only absolute http(s) links);
- any other character that Markdown would read as syntax is escaped with a backslash, so ``3 < 5``, ``AT&T <Jr>``
  or ``2 * 3`` come back as the same text.

Plain wire copy without such characters is stored as its own lines, one paragraph each: its text, its story id
and its rendering are what they were before stories had structure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import groupby
from typing import Literal

BlockKind = Literal["paragraph", "heading", "bullets", "numbers"]

_SPACES = re.compile(r"\s+")
# Characters Markdown reads as syntax anywhere in a line; "<" only where a tag could start, "&" only before what
# could be an entity, so "3 < 5" and "AT&T" are stored as typed.
_INLINE_SYNTAX = re.compile(r"[\\`*_\[\]]|<(?=[A-Za-z/!?])|&(?=#|[A-Za-z][A-Za-z0-9]*;)")
# What starts a heading, quote, list, rule or fence at the start of a line.
_LINE_START_SYNTAX = re.compile(r"^(?:#{1,6}(?=\s|$)|>|[-+](?=[\s-]|$)|~{3,})")
_NUMBER_MARKER = re.compile(r"^(\d{1,9})([.)])(?=\s|$)")
_HEADING_CLOSER = re.compile(r"(\s)(#+\s*)$")


@dataclass(frozen=True, slots=True)
class Run:
    """Text with one set of styles; a line is a sequence of runs."""

    text: str
    bold: bool = False
    italic: bool = False
    #: An absolute http(s) link (checked where the run was read), else None.
    url: str | None = None


Line = tuple[Run, ...]


@dataclass(frozen=True, slots=True)
class Block:
    """A paragraph or a subheading (one line), or a list (one line per item)."""

    kind: BlockKind
    lines: tuple[Line, ...]
    #: The number of a numbered list's first item.
    start: int = 1

    @property
    def text(self) -> str:
        """The visible text, list items separated by newlines."""
        return "\n".join(line_text(line) for line in self.lines)


def line_text(line: Sequence[Run]) -> str:
    return "".join(run.text for run in line)


def normalise_line(runs: Iterable[Run]) -> Line:
    """Whitespace collapsed to single spaces and stripped at both ends; equal neighbours merged, empty runs gone."""
    merged: list[Run] = []
    for run in runs:
        text = _SPACES.sub(" ", run.text)
        if not text:
            continue
        if merged and text.startswith(" ") and merged[-1].text.endswith(" "):
            text = text[1:]
            if not text:
                continue
        if merged and _same_style(merged[-1], run):
            merged[-1] = replace(merged[-1], text=merged[-1].text + text)
        else:
            merged.append(replace(run, text=text))
    if merged:
        merged[0] = replace(merged[0], text=merged[0].text.lstrip(" "))
        merged[-1] = replace(merged[-1], text=merged[-1].text.rstrip(" "))
    return tuple(run for run in merged if run.text)


def _same_style(a: Run, b: Run) -> bool:
    return (a.bold, a.italic, a.url) == (b.bold, b.italic, b.url)


def slice_line(line: Line, start: int, end: int) -> Line:
    """The runs covering visible characters ``start:end`` of *line*, styles kept."""
    kept: list[Run] = []
    position = 0
    for run in line:
        run_end = position + len(run.text)
        low, high = max(start, position), min(end, run_end)
        if low < high:
            kept.append(replace(run, text=run.text[low - position : high - position]))
        position = run_end
    return normalise_line(kept)


def link_spans(line: Line) -> list[tuple[int, int]]:
    """Visible-character ranges of the links in *line*: a sentence or a cut must not end inside one."""
    spans: list[tuple[int, int]] = []
    position = 0
    for url, runs in groupby(line, key=lambda run: run.url):
        length = sum(len(run.text) for run in runs)
        if url:
            spans.append((position, position + length))
        position += length
    return spans


def visible_text(blocks: Sequence[Block]) -> str:
    """What a reader reads: blocks separated by a blank line, list items by a newline."""
    return "\n\n".join(block.text for block in blocks)


def cut_blocks(blocks: Sequence[Block], length: int) -> list[Block]:
    """The blocks covering the first *length* characters of :func:`visible_text`, structure and styles kept."""
    kept: list[Block] = []
    position = 0
    for block_index, block in enumerate(blocks):
        if block_index:
            position += 2
        lines: list[Line] = []
        for line_index, line in enumerate(block.lines):
            if line_index:
                position += 1
            size = len(line_text(line))
            if position >= length:
                break
            lines.append(slice_line(line, 0, length - position) if position + size > length else line)
            position += size
        lines = [line for line in lines if line]
        if lines:
            kept.append(replace(block, lines=tuple(lines)))
        if position >= length:
            break
    return kept


def append_text(blocks: list[Block], text: str) -> list[Block]:
    """*text* (an ellipsis) added to the end of the last line, in the style of the text it follows."""
    if not blocks or not blocks[-1].lines or not blocks[-1].lines[-1]:
        return blocks
    last = blocks[-1]
    *runs, final = last.lines[-1]
    line = (*runs, replace(final, text=final.text + text))
    return [*blocks[:-1], replace(last, lines=(*last.lines[:-1], line))]


def write_markdown(blocks: Iterable[Block]) -> str:
    """The stored form of *blocks* (see the module docstring)."""
    return "\n\n".join(written for written in (write_block(block) for block in blocks) if written)


def write_block(block: Block) -> str:
    lines = [_escape_line_start(_write_runs(list(line), 0)) for line in block.lines]
    lines = [line for line in lines if line]
    if not lines:
        return ""
    if block.kind == "heading":
        return "## " + _HEADING_CLOSER.sub(r"\1\\\2", " ".join(lines))
    if block.kind == "bullets":
        return "\n".join(f"- {line}" for line in lines)
    if block.kind == "numbers":
        return "\n".join(f"{block.start + index}. {line}" for index, line in enumerate(lines))
    return " ".join(lines)


def _write_runs(runs: list[Run], level: int) -> str:
    """Links outermost, then bold, then italic; spaces at a styled group's edges are moved outside its markers."""
    if level == 3:
        return "".join(_INLINE_SYNTAX.sub(lambda m: "\\" + m.group(0), run.text) for run in runs)
    keys = (lambda run: run.url, lambda run: run.bold, lambda run: run.italic)
    written = []
    for key, group in groupby(runs, key=keys[level]):
        inner = _write_runs(list(group), level + 1)
        core = inner.strip(" ")
        if not key or not core:
            written.append(inner)
            continue
        lead, trail = inner[: len(inner) - len(inner.lstrip(" "))], inner[len(inner.rstrip(" ")) :]
        if level == 0:
            written.append(f"{lead}[{core}]({_link_destination(str(key))}){trail}")
        else:
            marker = "**" if level == 1 else "*"
            written.append(f"{lead}{marker}{core}{marker}{trail}")
    return "".join(written)


def _link_destination(url: str) -> str:
    for char, replacement in (("\\", "%5C"), (" ", "%20"), ("<", "%3C"), (">", "%3E"), ("(", "\\("), (")", "\\)")):
        url = url.replace(char, replacement)
    return url


def _escape_line_start(line: str) -> str:
    number = _NUMBER_MARKER.match(line)
    if number:
        return f"{number.group(1)}\\{number.group(2)}{line[number.end() :]}"
    return "\\" + line if _LINE_START_SYNTAX.match(line) else line
