"""Language codes of stories and of readers' story-language filters: any language Babel knows, not only the ones
newsbot speaks, kept as its short code ("de" for "de-AT", "DE" or "de_AT") so that filters compare plain codes."""

from __future__ import annotations

from babel.core import Locale, UnknownLocaleError

#: Room for the code in the store (``stories.language``); Babel's short codes are two or three letters.
MAX_CODE_CHARS = 16
#: What an error message offers as examples.
EXAMPLES = "en, de, es or fr"


def language_code(value: object) -> str | None:
    """The short code of the language *value* names (``"pt-BR"`` -> ``"pt"``), or None when it names none.

    "und" (undetermined) names no language, though Babel would read it as English.
    """
    if not isinstance(value, str):
        return None
    text = value.strip().replace("-", "_")
    if not text or len(text) > 35 or text.split("_")[0].lower() == "und":
        return None
    try:
        code = Locale.parse(text).language
    except (ValueError, UnknownLocaleError):
        return None
    return code if code and len(code) <= MAX_CODE_CHARS else None
