"""Files newsbot ships beside its code: found inside the package in a wheel, or at the repo root when editable."""

from __future__ import annotations

from pathlib import Path

import bot

PACKAGE_DIR = Path(bot.__file__).parent


def shipped_path(in_wheel: str, in_repo: str) -> Path:
    """*in_wheel* under the installed package if it is there, else *in_repo* under the source checkout."""
    packaged = PACKAGE_DIR / in_wheel
    return packaged if packaged.exists() else PACKAGE_DIR.parent / in_repo


def sample_story_path() -> Path:
    """The sample story every release must handle end to end."""
    return shipped_path("sample_stories", "examples/stories") / "north-korea.txt"
