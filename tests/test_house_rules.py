"""House rules that keep the project installable and tidy, checked on every run."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.newsroom_fixtures import REPO


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed; it is part of the [test] extras")
    result = subprocess.run([ruff, "check", "--quiet", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def build_wheel(tmp_path: Path) -> Path:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(tmp_path),
         str(REPO)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("newsbot-*.whl")
    return wheel


def test_wheel_ships_templates_taxonomy_migrations_and_sample_story(tmp_path: Path) -> None:
    names = set(zipfile.ZipFile(build_wheel(tmp_path)).namelist())
    for expected in (
        "bot/topics/topics.toml",
        "bot/templates/telegram/story.html.j2",
        "bot/templates/email/story.mjml.j2",
        "bot/templates/email/story.txt.j2",
        "bot/templates/web/outbox_index.html.j2",
        "bot/sample_stories/north-korea.txt",
        "subscribers/migrations/env.py",
        "subscribers/migrations/script.py.mako",
        "subscribers/migrations/versions/0001_initial.py",
    ):
        assert expected in names, f"{expected} missing from the wheel"
    assert not any(name.startswith(("tests/", "data/")) for name in names)


def test_sample_story_is_the_shared_one() -> None:
    story = (REPO / "examples" / "stories" / "north-korea.txt").read_text(encoding="utf-8")
    assert story.startswith("In a candid exchange with reporters on Monday")


def test_an_installed_wheel_finds_its_own_templates_taxonomy_and_sample(tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(build_wheel(tmp_path)).extractall(site)
    probe = (
        "import bot.app.resources as r, bot.rendering.renderer as g, bot.topics.taxonomy as t;"
        "print(g.builtin_templates_dir()); print(t.DEFAULT_TOPICS_FILE); print(r.sample_story_path())"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {probe}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    templates, topics, sample = (Path(line) for line in result.stdout.splitlines())
    for found in (templates, topics, sample):
        assert found.is_relative_to(site) and found.exists(), found
