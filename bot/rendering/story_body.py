"""A story's summary (newsbot's Markdown, `bot.stories.body_blocks`) as each channel shows it.

These are the Jinja filters of the one rendering environment (`bot.rendering.renderer`):

- ``telegram_html``: Telegram's HTML subset: links as ``<a href>``, bold and italic as ``<b>`` and ``<i>``,
  subheadings bold, list items as "• " or "1. " lines, blocks separated by a blank line;
- ``email_html``: real ``<a>``, ``<h2>``, ``<ul>`` and ``<ol>`` for the HTML part of an email;
- ``page_html``: the same for a web page, each paragraph in its own ``<p>`` and no inline styles (the page's
  stylesheet has them);
- ``plain_text``: readable text for the plain part: links as "text (url)", list items as "- " lines, a subheading
  underlined, optionally wrapped (as Jinja's ``wordwrap`` wraps a paragraph).

Text is always escaped; a link's URL was checked when the story came in and is checked again here.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from markupsafe import Markup, escape

from bot.rendering.safe_links import http_link
from bot.stories.body_blocks import Block, Line, write_block
from bot.stories.markup_reading import read_markdown

_EMAIL_LINK_STYLE = "color:#1a1a1a;"
_EMAIL_HEADING_STYLE = "margin:0;font-size:20px;line-height:1.3;font-weight:bold;"
_EMAIL_LIST_STYLE = "margin:0;padding-left:24px;"


def summary_blocks(markdown: str) -> list[str]:
    """The summary's blocks, each in newsbot's Markdown, for templates that lay out one block at a time."""
    return [write_block(block) for block in read_markdown(markdown)]


def telegram_html(markdown: str, *, compact: bool = False) -> Markup:
    """The summary in Telegram's HTML; *compact* puts blocks on consecutive lines (a digest's one block)."""
    blocks = [_telegram_block(block) for block in read_markdown(markdown)]
    return Markup(("\n" if compact else "\n\n").join(blocks))


def _telegram_block(block: Block) -> str:
    lines = [_html_line(line, link_style=None) for line in block.lines]
    if block.kind == "heading":
        return f"<b>{lines[0]}</b>"
    if block.kind == "bullets":
        return "\n".join(f"• {line}" for line in lines)
    if block.kind == "numbers":
        return "\n".join(f"{block.start + index}. {line}" for index, line in enumerate(lines))
    return lines[0]


@dataclass(frozen=True, slots=True)
class _HtmlStyle:
    """How a body's blocks look as HTML: emails need inline styles (clients drop style sheets), pages do not."""

    heading: str | None = None
    lists: str | None = None
    links: str | None = None
    #: Wrap a paragraph in <p> (a page); in an email each block already sits in its own <mj-text>.
    paragraphs: bool = True


_EMAIL = _HtmlStyle(_EMAIL_HEADING_STYLE, _EMAIL_LIST_STYLE, _EMAIL_LINK_STYLE, paragraphs=False)
_PAGE = _HtmlStyle()


def email_html(markdown: str) -> Markup:
    """The summary (or one block of it) as HTML for an email's ``<mj-text>``; a paragraph is bare text."""
    return Markup("\n".join(_html_block(block, _EMAIL) for block in read_markdown(markdown)))


def page_html(markdown: str) -> Markup:
    """A whole story body as the HTML of its web page: ``<p>``, ``<h2>``, ``<ul>``/``<ol>`` and links."""
    return Markup("\n".join(_html_block(block, _PAGE) for block in read_markdown(markdown)))


def _html_block(block: Block, style: _HtmlStyle) -> str:
    lines = [_html_line(line, link_style=style.links) for line in block.lines]
    if block.kind == "heading":
        return f"<h2{_style_attribute(style.heading)}>{lines[0]}</h2>"
    if block.kind in ("bullets", "numbers"):
        tag = "ul" if block.kind == "bullets" else "ol"
        start = f' start="{block.start}"' if block.kind == "numbers" and block.start != 1 else ""
        items = "".join(f"<li>{line}</li>" for line in lines)
        return f"<{tag}{start}{_style_attribute(style.lists)}>{items}</{tag}>"
    return f"<p>{lines[0]}</p>" if style.paragraphs else lines[0]


def _style_attribute(css: str | None) -> str:
    return f' style="{css}"' if css else ""


def _html_line(line: Line, *, link_style: str | None) -> str:
    """Runs as HTML: links outermost, then bold, then italic, so tags always nest."""
    written: list[str] = []
    for run in line:
        text = str(escape(run.text))
        if run.italic:
            text = f"<i>{text}</i>"
        if run.bold:
            text = f"<b>{text}</b>"
        url = http_link(run.url)
        if url:
            style = f' style="{link_style}"' if link_style else ""
            text = f'<a href="{escape(url)}"{style}>{text}</a>'
        written.append(text)
    return "".join(written)


def plain_text(markdown: str, width: int | None = None) -> str:
    """The summary as plain text; with *width*, wrapped to it without breaking words or hyphenated names."""
    return "\n\n".join(_plain_block(block, width) for block in read_markdown(markdown))


def _plain_block(block: Block, width: int | None) -> str:
    lines = [_plain_line(line) for line in block.lines]
    if block.kind == "heading":
        return f"{lines[0]}\n{'-' * min(len(lines[0]), width or 72)}"
    if block.kind == "bullets":
        return "\n".join(_wrapped(line, width, "- ", "  ") for line in lines)
    if block.kind == "numbers":
        numbered = ((f"{block.start + index}. ", line) for index, line in enumerate(lines))
        return "\n".join(_wrapped(line, width, marker, " " * len(marker)) for marker, line in numbered)
    return _wrapped(lines[0], width, "", "")


def _plain_line(line: Line) -> str:
    parts = []
    for url, text in _link_groups(line):
        parts.append(text if not url or text.strip() == url else f"{text} ({url})")
    return "".join(parts)


def _link_groups(line: Line) -> list[tuple[str | None, str]]:
    """Consecutive runs of one link (bold and plain parts of its text alike) as one (url, text) pair."""
    groups: list[tuple[str | None, str]] = []
    for run in line:
        url = http_link(run.url)
        if groups and groups[-1][0] == url:
            groups[-1] = (url, groups[-1][1] + run.text)
        else:
            groups.append((url, run.text))
    return groups


def _wrapped(text: str, width: int | None, first: str, rest: str) -> str:
    if not width:
        return first + text
    return "\n".join(
        textwrap.wrap(
            text,
            width=width,
            initial_indent=first,
            subsequent_indent=rest,
            expand_tabs=False,
            replace_whitespace=False,
            break_long_words=False,
            break_on_hyphens=False,
        )
    )
