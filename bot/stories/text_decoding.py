"""Bytes an editor hands us (a story file, a subscriber CSV) as text, or a plain reason why they are not text.

UTF-8 is the norm, with or without a byte order mark. Windows editors and spreadsheet exports also save
"Unicode" text as UTF-16 (little- or big-endian) with a BOM, which is as readable once the BOM is honoured;
without a BOM, bytes full of NULs or control characters are a binary file, whatever their extension.
"""

from __future__ import annotations

import codecs

#: Longest BOMs first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)
#: How much of the start is looked at for NULs and control characters, and how many controls a text may have.
_SNIFF_CHARS = 8192
_MAX_CONTROLS = 8


class NotText(ValueError):
    """The bytes are not text newsbot can read; the message completes "the file is ..."."""


def decode_text(data: bytes) -> str:
    """*data* as text: UTF-8, or UTF-8/UTF-16/UTF-32 with a byte order mark (the BOM itself is dropped)."""
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(codec)
            except UnicodeDecodeError:
                raise NotText(f"not valid {name} text although it starts with a {name} byte order mark") from None
            break
    else:
        if b"\x00" in data[:_SNIFF_CHARS]:
            raise NotText("a binary file, not text")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise NotText("not UTF-8 text (is it a binary file or another encoding?)") from None
    head = text[:_SNIFF_CHARS]
    if "\x00" in head or sum(1 for ch in head if ord(ch) < 32 and ch not in "\n\r\t\f") > _MAX_CONTROLS:
        raise NotText("a binary file, not text")
    return text
