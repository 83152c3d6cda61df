"""``newsbot i18n check`` on the shipped catalogs and on broken ones, one sample of each problem."""

from __future__ import annotations

import re
import shutil
import tokenize
from pathlib import Path

from typer.testing import CliRunner, Result

from bot.cli import app
from bot.languages.catalogs import LOCALES_DIR, catalog_path

REPO = Path(__file__).resolve().parent.parent


def newsbot(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def broken_spanish(locales: Path, replacements: dict[str, str]) -> Path:
    """A copy of the shipped Spanish catalog with each *replacements* key (a piece of its text) replaced."""
    path = catalog_path("es", locales)
    path.parent.mkdir(parents=True)
    shutil.copy(catalog_path("es"), path)
    text = path.read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_catalogs_are_complete() -> None:
    result = newsbot("i18n", "check")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "Every catalog is complete."


def test_each_kind_of_problem_is_one_line_naming_the_entry(tmp_path: Path) -> None:
    path = broken_spanish(
        tmp_path,
        {
            'msgid "Topics:"\nmsgstr "Temas:"\n': "",
            'msgstr "Darse de baja:"': 'msgstr ""',
            '#: templates/email/correction.txt.j2:13\nmsgid "Read the corrected story:"': (
                '#: templates/email/correction.txt.j2:13\n#, fuzzy\nmsgid "Read the corrected story:"'
            ),
            'msgstr "Confirma tu suscripción a %(outlet)s"': 'msgstr "Confirma tu suscripción a %(medio)s"',
            'msgstr "Foto: %(description)s"': 'msgstr "Foto"',
        },
    )
    with path.open("a", encoding="utf-8") as catalog:
        catalog.write('\nmsgid "A text the code no longer has"\nmsgstr "Un texto que ya no está"\n')
        catalog.write('\n#~ msgid "An old text"\n#~ msgstr "Un texto viejo"\n')
    result = newsbot("i18n", "check", "--locales", str(tmp_path))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert {line.split(": ", 1)[1] for line in lines} == {
        "missing: 'Topics:'",
        "untranslated: 'Unsubscribe:'",
        "fuzzy: 'Read the corrected story:'",
        "placeholders differ: 'Confirma tu suscripción a %(medio)s'",
        "placeholders differ: 'Foto'",
        "obsolete: 'A text the code no longer has'",
        "obsolete: 'An old text'",
    }
    assert all(line.startswith(f"{path}:") for line in lines)
    assert "Traceback" not in result.output


def test_an_untranslated_plural_form_is_reported(tmp_path: Path) -> None:
    broken_spanish(tmp_path, {'msgstr[1] "%(num)s noticias"': 'msgstr[1] ""'})
    result = newsbot("i18n", "check", "--locales", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.strip().endswith("untranslated: '%(num)s story'")


def test_update_starts_a_new_language_and_check_lists_what_is_left(tmp_path: Path) -> None:
    created = newsbot("i18n", "update", "fr", "--locales", str(tmp_path))
    assert created.exit_code == 0, created.stderr
    assert catalog_path("fr", tmp_path).is_file()
    result = newsbot("i18n", "check", "--locales", str(tmp_path))
    assert result.exit_code == 1
    problems = result.stderr.splitlines()
    assert problems and all(": untranslated: " in line for line in problems)
    assert any(line.endswith("untranslated: 'Unsubscribe'") for line in problems)
    again = newsbot("i18n", "update", "fr", "--locales", str(tmp_path))  # keeps what is there, changes nothing else
    assert again.exit_code == 0
    assert newsbot("i18n", "check", "--locales", str(tmp_path)).stderr.splitlines() == problems


def test_bad_arguments_are_one_line(tmp_path: Path) -> None:
    for args, message in [
        (("i18n", "update", "en"), "give a language code other than en"),
        (("i18n", "update", "zz"), "no such language"),
        (("i18n", "check", "--locales", str(tmp_path / "nowhere")), "is not a folder"),
    ]:
        result = newsbot(*args)
        assert result.exit_code == 1
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert LOCALES_DIR.is_dir()


def test_no_message_is_marked_inside_an_f_string() -> None:
    """Gettext tools do not look inside f-strings, so ``f"{_('Done')}"`` would never reach a catalog: readers of
    every language would read English there and no check would notice."""
    hidden = re.compile(r"""(?:\b_|gettext)\(\s*['"]""")
    found = []
    for path in sorted((REPO / "bot").rglob("*.py")):
        with path.open("rb") as source:
            for token in tokenize.tokenize(source.readline):
                is_f_string = token.type == tokenize.STRING and token.string.lstrip("rRbB").lower().startswith("f")
                if is_f_string and hidden.search(token.string):
                    found.append(f"{path.relative_to(REPO)}:{token.start[0]}")
    assert found == []
