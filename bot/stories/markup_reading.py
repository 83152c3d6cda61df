"""Reading HTML and Markdown into a story body's blocks (`bot.stories.body_blocks`).

HTML (a WordPress or Ghost body, a feed entry, a Telegram editor's message as python-telegram-bot writes it) is
parsed by BeautifulSoup and walked once: paragraphs, subheadings, lists, bold, italic and http(s) links are kept;
scripts, styles, iframes, forms, media and figures with their captions are dropped with everything inside them;
any other element is unwrapped, its text kept. A link to anything but an absolute http(s) URL keeps its text and
loses its link.

Markdown (CommonMark, read by markdown-it-py) is rendered to HTML and walked the same way, so raw HTML inside it is
treated exactly as HTML is. A line break is a paragraph break, as in plain wire copy. Only real HTML element names
are markup: ``AT&T <Jr>`` is text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape

from bs4 import BeautifulSoup, NavigableString, Tag
from markdown_it import MarkdownIt
from markdown_it.token import Token

from bot.rendering.safe_links import http_link
from bot.stories.body_blocks import Block, BlockKind, Line, Run, normalise_line
from bot.stories.story import MAX_IMAGE_ALT_CHARS

#: Dropped with their content: nothing in them is story text.
_DROPPED = frozenset({
    "script", "style", "iframe", "frame", "frameset", "noscript", "template", "object", "embed", "applet", "svg",
    "math", "head", "title", "meta", "link", "base", "form", "button", "input", "select", "option", "textarea",
    "canvas", "audio", "video", "source", "track", "img", "picture", "map", "area", "figcaption", "nav", "dialog",
})  # fmt: skip
_PARAGRAPHS = frozenset({
    "p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote", "pre", "address",
    "center", "details", "summary", "dl", "dt", "dd", "table", "thead", "tbody", "tfoot", "tr", "caption",
    "figure", "hr", "fieldset", "legend", "body", "html",
})  # fmt: skip
_HEADINGS = frozenset(f"h{n}" for n in range(1, 7))
_LISTS = {"ul": "bullets", "ol": "numbers", "menu": "bullets"}
_BOLD = frozenset({"b", "strong"})
_ITALIC = frozenset({"i", "em"})
_CELLS = frozenset({"td", "th"})
#: Elements that give a text its paragraphs; without any, its newlines do (Telegram's HTML, pasted lines).
_STRUCTURE = frozenset({"p", "div", "br", "ul", "ol", "li", "table", "section", "article", *_HEADINGS})
#: Elements a body may start with to be taken for HTML when no one said what it is.
_HTML_STARTS = _PARAGRAPHS | _HEADINGS | frozenset({"ul", "ol", "!doctype", "style", "script", "iframe"})
#: HTML element names (living standard plus common obsolete ones): only these make a "<...>" markup.
_OTHER_ELEMENTS = frozenset({
    "a", "abbr", "acronym", "b", "bdi", "bdo", "big", "blink", "br", "cite", "code", "col", "colgroup", "data",
    "datalist", "del", "dfn", "dir", "font", "hgroup", "ins", "kbd", "label", "li", "marquee", "mark", "menu",
    "meter", "ol", "output", "param", "progress", "q", "rp", "rt", "ruby", "s", "samp", "search", "slot", "small",
    "span", "strike", "sub", "sup", "time", "tt", "u", "ul", "var", "wbr",
})  # fmt: skip
HTML_ELEMENTS = _DROPPED | _PARAGRAPHS | _HEADINGS | _BOLD | _ITALIC | _CELLS | _OTHER_ELEMENTS
_LEADING_TAG = re.compile(r"\s*(?:<!--.*?-->\s*)*<(!doctype|[A-Za-z][A-Za-z0-9]*)", re.IGNORECASE | re.DOTALL)
_TAG_NAME = re.compile(r"<\s*/?\s*([A-Za-z][A-Za-z0-9-]*)")
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")
_LIST_LINE = re.compile(r"^(?:([•·▪‣◦●*–-])|(\d{1,3})[.)])\s+")


def is_markup_tag(tag: str) -> bool:
    """Whether *tag* (``<b>``, ``</p>``, ``<!-- x -->``) is HTML rather than text such as ``<Jr>`` or ``< 5``."""
    if tag.startswith(("<!", "<?")):
        return True
    name = _TAG_NAME.match(tag)
    return bool(name) and ("-" in name.group(1) or name.group(1).lower() in HTML_ELEMENTS)


def looks_like_html(text: str) -> bool:
    """Whether a body nobody labelled is HTML: it starts with a block-level element, or those hold most of its text."""
    start = _LEADING_TAG.match(text)
    if start:
        return start.group(1).lower() in _HTML_STARTS
    if "<" not in text:
        return False
    soup = BeautifulSoup(text, "html.parser")
    total = len(soup.get_text().strip())
    blocks = _PARAGRAPHS | _HEADINGS | frozenset(_LISTS)
    tops = [child for child in soup.children if isinstance(child, Tag) and child.name in blocks]
    inside = sum(len(child.get_text().strip()) for child in tops)
    return total > 0 and inside * 2 > total


@dataclass(frozen=True, slots=True)
class Image:
    """The first picture of a body: an absolute http(s) URL and its alt text (None when it has none)."""

    url: str
    alt: str | None = None


@dataclass(frozen=True, slots=True)
class ReadBody:
    """A body's blocks, and its first ``<img>`` (or Markdown ``![alt](url)``), whose tag is not part of the text."""

    blocks: list[Block]
    image: Image | None = None


def read_html(html: str) -> list[Block]:
    """An HTML body as blocks (see the module docstring)."""
    return read_html_body(html).blocks


def read_html_body(html: str) -> ReadBody:
    """An HTML body as blocks, with the first image it shows."""
    soup = BeautifulSoup(html, "html.parser")
    by_lines = soup.find(_STRUCTURE) is None
    reader = _HtmlWalk(newline_paragraphs=by_lines)
    reader.walk(soup, _Style())
    reader.end_paragraph()
    return ReadBody(_lines_as_lists(reader.blocks) if by_lines else reader.blocks, reader.image)


#: Texts up to this long are remembered (the last :data:`_REMEMBERED_TEXTS` of them) once read.
_REMEMBERED_TEXT_CHARS = 32_000
_REMEMBERED_TEXTS = 128


def read_markdown(text: str) -> list[Block]:
    """A Markdown (or plain) body as blocks: rendered to HTML by markdown-it-py, then read as HTML is.

    Intake, summarising and rendering read the same body, summary and paragraphs again and again (preparing the
    sample story read texts 37 times, each a markdown-it parse and an HTML walk), so recent texts' blocks, which
    are immutable, are remembered; a caller gets its own list.
    """
    if len(text) > _REMEMBERED_TEXT_CHARS:
        return read_markdown_body(text).blocks
    return list(_remembered_blocks(text))


@lru_cache(maxsize=_REMEMBERED_TEXTS)
def _remembered_blocks(text: str) -> tuple[Block, ...]:
    return tuple(read_markdown_body(text).blocks)


def read_markdown_body(text: str) -> ReadBody:
    """A Markdown body as blocks, with the first image it shows."""
    parser = _markdown()
    tokens = parser.parse(text)
    for token in tokens:
        _unknown_tags_as_text(token)
    html = parser.renderer.render(tokens, parser.options, {})
    reader = _HtmlWalk(newline_paragraphs=False)
    reader.walk(BeautifulSoup(html, "html.parser"), _Style())
    reader.end_paragraph()
    return ReadBody(reader.blocks, reader.image)


def read_plain_text(text: str) -> list[Block]:
    """Text taken literally, one paragraph a line: nothing in it is markup."""
    lines = (normalise_line([Run(line)]) for line in text.split("\n"))
    return [Block("paragraph", (line,)) for line in lines if line]


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # "code" (indented code blocks) is off: wire copy with indented paragraphs is prose, not code.
    return MarkdownIt("commonmark", {"html": True, "breaks": True}).disable("code")


def _unknown_tags_as_text(token: Token) -> None:
    """``<Jr>`` is a name in angle brackets, not an element: markdown-it's raw HTML becomes text unless it is HTML."""
    if token.type == "html_block" and not is_markup_tag(token.content.lstrip()):
        token.content = "<p>" + escape(token.content.strip()).replace("\n", "<br>") + "</p>\n"
    for child in token.children or ():
        if child.type == "html_inline" and not is_markup_tag(child.content):
            child.type = "text"


@dataclass(frozen=True, slots=True)
class _Style:
    bold: bool = False
    italic: bool = False
    url: str | None = None
    preformatted: bool = False


@dataclass(slots=True)
class _HtmlWalk:
    """One pass over the parsed tree, collecting the current line's runs and closing blocks as elements end."""

    newline_paragraphs: bool
    blocks: list[Block] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    #: Open lists, outermost first; nested lists' items join the outermost list.
    lists: list[tuple[BlockKind, int]] = field(default_factory=list)
    items: list[Line] = field(default_factory=list)
    in_heading: int = 0
    #: The first ``<img>`` with an http(s) source, recorded as the walk drops it.
    image: Image | None = None

    def walk(self, node: Tag, style: _Style) -> None:
        for child in node.children:
            if isinstance(child, Tag):
                self.element(child, style)
            elif type(child) is NavigableString:  # comments, doctypes, CDATA are subclasses: not text
                self.text(str(child), style)

    def element(self, tag: Tag, style: _Style) -> None:
        name = (tag.name or "").lower()
        if name in _DROPPED:
            if self.image is None and name in ("img", "picture"):
                self.image = _image_of(tag if name == "img" else tag.find("img"))
            return
        if name == "br":
            self.break_line()
        elif name in _LISTS:
            self.start_list(_LISTS[name], tag)
            self.walk(tag, style)
            self.end_list()
        elif name == "li":
            self.end_item()
            self.walk(tag, style)
            self.end_item()
        elif name in _HEADINGS:
            self.end_paragraph()
            self.in_heading += 1
            self.walk(tag, style)
            self.end_paragraph()
            self.in_heading -= 1
        elif name in _PARAGRAPHS:
            self.end_paragraph()
            self.walk(tag, _Style(style.bold, style.italic, style.url, style.preformatted or name == "pre"))
            self.end_paragraph()
        elif name in _CELLS:
            self.runs.append(Run(" "))
            self.walk(tag, style)
            self.runs.append(Run(" "))
        else:
            self.walk(tag, self.inline_style(name, tag, style))

    @staticmethod
    def inline_style(name: str, tag: Tag, style: _Style) -> _Style:
        if name in _BOLD:
            return _Style(True, style.italic, style.url, style.preformatted)
        if name in _ITALIC:
            return _Style(style.bold, True, style.url, style.preformatted)
        if name == "a":
            href = tag.get("href")
            url = http_link(href if isinstance(href, str) else None)
            return _Style(style.bold, style.italic, url if url and url.isprintable() else None, style.preformatted)
        return style

    def text(self, text: str, style: _Style) -> None:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        for index, part in enumerate(self._parts(text, style)):
            if index:
                self.break_line()
            self.runs.append(Run(part, style.bold, style.italic, style.url))

    def _parts(self, text: str, style: _Style) -> Iterator[str]:
        if style.preformatted or self.newline_paragraphs:
            yield from text.split("\n")
        else:
            yield from _BLANK_LINE.split(text)

    def break_line(self) -> None:
        """A ``<br>`` or a newline that separates lines: a new paragraph, a space inside an item or a heading."""
        if self.lists or self.in_heading:
            self.runs.append(Run(" "))
        else:
            self.end_paragraph()

    def end_paragraph(self) -> None:
        if self.lists:  # a paragraph inside a list item is part of the item
            self.runs.append(Run(" "))
            return
        line = normalise_line(self.runs)
        self.runs = []
        if line:
            self.blocks.append(Block("heading" if self.in_heading else "paragraph", (line,)))

    def start_list(self, kind: BlockKind, tag: Tag) -> None:
        if self.lists:
            self.end_item()
        else:
            self.end_paragraph()
        start = tag.get("start")
        number = int(start) if isinstance(start, str) and start.strip().isdigit() else 1
        self.lists.append((kind, min(number, 999_999_999)))

    def end_item(self) -> None:
        line = normalise_line(self.runs)
        self.runs = []
        if line:
            self.items.append(line)

    def end_list(self) -> None:
        self.end_item()
        kind, start = self.lists.pop()
        if not self.lists and self.items:
            self.blocks.append(Block(kind, tuple(self.items), start if kind == "numbers" else 1))
            self.items = []


def _image_of(tag: object) -> Image | None:
    """An ``<img>``'s http(s) source and alt text; a relative, data: or javascript: source is no image."""
    if not isinstance(tag, Tag):
        return None
    source, alt = tag.get("src"), tag.get("alt")
    url = http_link(source.strip() if isinstance(source, str) else None)
    if url is None or not url.isprintable() or any(c in url for c in " <>\"'") or len(url) > 2000:
        return None
    text = " ".join(alt.split())[:MAX_IMAGE_ALT_CHARS] if isinstance(alt, str) else ""
    return Image(url, text or None)


def _lines_as_lists(blocks: list[Block]) -> list[Block]:
    """Lines typed as "• item" or "1. item" in a chat message become a list, as they read."""
    result: list[Block] = []
    for block in blocks:
        marker = _LIST_LINE.match(block.lines[0][0].text) if block.kind == "paragraph" else None
        if marker is None:
            result.append(block)
            continue
        kind: BlockKind = "bullets" if marker.group(1) else "numbers"
        first, *rest = block.lines[0]
        item = normalise_line([Run(first.text[marker.end() :], first.bold, first.italic, first.url), *rest])
        if not item:
            result.append(block)
        elif result and result[-1].kind == kind:
            result[-1] = Block(kind, (*result[-1].lines, item), result[-1].start)
        else:
            result.append(Block(kind, (item,), int(marker.group(2) or 1)))
    return result
