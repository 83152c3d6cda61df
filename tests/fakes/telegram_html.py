"""Telegram's HTML parse mode, re-implemented strictly enough to catch what the real API would reject.

Modelled on the rules in the Bot API docs ("Formatting options") and the error texts Telegram returns.
One deliberate difference: Telegram keeps a bare `&` that starts no known entity, but the docs say it
must be escaped, so by default this parser rejects it; a renderer that forgets escaping fails in tests
rather than producing text that breaks on the next `&lt;`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

#: Allowed tag -> entity type, per the Bot API's list of supported HTML tags.
TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}

_SPECIAL = re.compile(r"[<&]")
_ENTITY = re.compile(r"&(?:#x([0-9a-fA-F]{1,6})|#([0-9]{1,7})|([a-zA-Z]+));")
_TAG_NAME = re.compile(r"[^\s>/]*")
_ATTRIBUTE = re.compile(r"""\s*([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>"']+))?""")


class EntityParseError(ValueError):
    """The text is not valid Telegram HTML; the message is Telegram's wording after "can't parse entities: "."""


@dataclass(slots=True)
class _Open:
    tag: str
    type: str
    offset: int
    order: int
    extra: dict[str, str] = field(default_factory=dict)


def utf16_length(text: str) -> int:
    """Telegram measures entity offsets and lengths in UTF-16 code units."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def parse_html(text: str, *, strict_ampersand: bool = True) -> tuple[str, list[dict[str, object]]]:
    """Return the plain text and its MessageEntity dicts, or raise `EntityParseError`."""
    out: list[str] = []
    length = 0  # UTF-16 units emitted so far
    stack: list[_Open] = []
    entities: list[tuple[int, int, int, dict[str, object]]] = []
    opened_count = 0
    position = 0
    end = len(text)

    def byte_offset(index: int) -> int:
        return len(text[:index].encode())

    while position < end:
        match = _SPECIAL.search(text, position)
        stop = match.start() if match else end
        if stop > position:
            chunk = text[position:stop]
            out.append(chunk)
            length += utf16_length(chunk)
            position = stop
            continue
        if text[position] == "&":
            decoded, position = _decode_entity(text, position, strict_ampersand, byte_offset)
            out.append(decoded)
            length += utf16_length(decoded)
            continue
        # A tag.
        if text.startswith("</", position):
            close = text.find(">", position)
            if close == -1:
                raise EntityParseError(f"Unclosed end tag at byte offset {byte_offset(position)}")
            name = text[position + 2 : close].strip().lower()
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {byte_offset(position)}")
            opened = stack.pop()
            if name and name != opened.tag:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {byte_offset(position)}, "
                    f'expected "</{opened.tag}>", found "</{name}>"'
                )
            if length > opened.offset:
                entity: dict[str, object] = {
                    "type": opened.type,
                    "offset": opened.offset,
                    "length": length - opened.offset,
                }
                entity.update(opened.extra)
                entities.append((opened.offset, -entity["length"], opened.order, entity))
            position = close + 1
            continue
        name_match = _TAG_NAME.match(text, position + 1)
        assert name_match is not None
        name = name_match.group().lower()
        if name not in TAGS:
            raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {byte_offset(position)}')
        tag_start = position
        attributes, position = _attributes(text, name_match.end(), byte_offset(tag_start))
        stack.append(_open_tag(name, attributes, length, opened_count, stack, byte_offset(tag_start)))
        opened_count += 1

    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    entities.sort(key=lambda item: item[:3])  # by offset, outermost first, then as written
    return "".join(out), [entity for *_, entity in entities]


def _decode_entity(text: str, position: int, strict: bool, byte_offset: Callable[[int], int]) -> tuple[str, int]:
    match = _ENTITY.match(text, position)
    if match:
        hex_code, decimal, named = match.groups()
        if named is None:
            code = int(hex_code, 16) if hex_code else int(decimal)
            if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
                return chr(code), match.end()
        elif named in NAMED_ENTITIES:
            return NAMED_ENTITIES[named], match.end()
    if strict:
        raise EntityParseError(f'Unescaped "&" at byte offset {byte_offset(position)}')
    return "&", position + 1


def _attributes(text: str, index: int, at: int) -> tuple[dict[str, str], int]:
    attributes: dict[str, str] = {}
    while True:
        while index < len(text) and text[index] in " \t\r\n/":
            index += 1
        if index >= len(text):
            raise EntityParseError(f"Unclosed start tag at byte offset {at}")
        if text[index] == ">":
            return attributes, index + 1
        match = _ATTRIBUTE.match(text, index)
        if not match or match.end() == index:
            raise EntityParseError(f"Expected equal sign in declaration of an attribute at byte offset {at}")
        value = match.group(2) or ""
        if value[:1] in ("'", '"'):
            value = value[1:-1]
        attributes[match.group(1).lower()] = _unescape_attribute(value)
        index = match.end()


def _unescape_attribute(value: str) -> str:
    return _ENTITY.sub(
        lambda m: (
            NAMED_ENTITIES.get(m.group(3) or "", m.group())
            if m.group(3)
            else chr(int(m.group(1), 16) if m.group(1) else int(m.group(2)))
        ),
        value,
    )


def _open_tag(name: str, attributes: dict[str, str], offset: int, order: int, stack: list[_Open], at: int) -> _Open:
    entity_type = TAGS[name]
    extra: dict[str, str] = {}
    if name == "span" and attributes.get("class") != "tg-spoiler":
        raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {at}')
    if name == "a":
        href = attributes.get("href", "")
        if not href:
            entity_type = "url"
        else:
            extra["url"] = href
    elif name == "tg-emoji":
        emoji_id = attributes.get("emoji-id", "")
        if not emoji_id.isdigit():
            raise EntityParseError(f"Custom emoji identifier expected at byte offset {at}")
        extra["custom_emoji_id"] = emoji_id
    elif name == "blockquote" and "expandable" in attributes:
        entity_type = "expandable_blockquote"
    elif name == "code" and stack and stack[-1].tag == "pre":
        language = attributes.get("class", "")
        if language.startswith("language-"):
            stack[-1].extra["language"] = language.removeprefix("language-")
    return _Open(name, entity_type, offset, order, extra)
