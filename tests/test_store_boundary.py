"""The store is a layer: nothing under ``subscribers/`` imports from ``bot``, so it can be read and tested alone."""

from __future__ import annotations

import ast
from pathlib import Path

STORE = Path(__file__).resolve().parent.parent / "subscribers"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_store_imports_nothing_from_bot() -> None:
    crossing = {
        str(path.relative_to(STORE.parent)): sorted(m for m in _imported_modules(path) if m.split(".")[0] == "bot")
        for path in sorted(STORE.rglob("*.py"))
    }
    assert {path: modules for path, modules in crossing.items() if modules} == {}
