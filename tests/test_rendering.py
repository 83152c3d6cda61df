from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot.app.config import Settings
from bot.app.errors import RenderError
from bot.rendering.renderer import (
    PREFERENCES_URL_SENTINEL,
    TELEGRAM_MAX_LENGTH,
    UNSUBSCRIBE_URL_SENTINEL,
    CompiledEmail,
    Renderer,
    builtin_templates_dir,
    shorten,
)
from bot.stories.story import Story
from bot.topics.taxonomy import Taxonomy, Topic

TELEGRAM_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code", "pre",
    "blockquote", "tg-emoji",
}  # fmt: skip
STORY_URL = "https://fairview-gazette.example/nk"


class TagCollector(HTMLParser):
    """Records tags and checks they nest, which is what Telegram's parser requires."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.open: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.open.append(tag)
        self.hrefs.extend(value or "" for name, value in attrs if name == "href")

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open}"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(markup: str) -> TagCollector:
    collector = TagCollector()
    collector.feed(markup)
    collector.close()
    assert not collector.open, f"unclosed tags {collector.open}"
    return collector


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path, secret_key="test-secret-of-at-least-32-characters", public_url="https://news.example.org"
    )


@pytest.fixture
def taxonomy() -> Taxonomy:
    return Taxonomy([Topic("north-korea", "North Korea"), Topic("us-politics", "U.S. Politics")])


@pytest.fixture
def renderer(settings: Settings, taxonomy: Taxonomy) -> Renderer:
    return Renderer(settings, taxonomy)


def override_settings(templates_dir: Path) -> Settings:
    return Settings(
        data_dir=templates_dir,
        secret_key="test-secret-of-at-least-32-characters",
        public_url="https://news.example.org",
        templates_dir=templates_dir,
    )


def make_story(**changes: object) -> Story:
    fields: dict[str, object] = {
        "id": "s1",
        "title": "Trump hints at talks with Kim",
        "body": "In a candid exchange with reporters on Monday, the president spoke about Kim.",
        "summary": "The president said he would “probably do something” with Kim Jong-un.",
        "topics": ("north-korea", "us-politics"),
        "url": STORY_URL,
    }
    fields.update(changes)
    return Story(**fields)  # type: ignore[arg-type]


def test_builtin_templates_dir_holds_every_template() -> None:
    root = builtin_templates_dir()
    for name in ("telegram/story.html.j2", "email/story.mjml.j2", "email/story.txt.j2", "email/subject.txt.j2"):
        assert (root / name).is_file(), name


# Telegram


def test_telegram_message_escapes_markup_in_title_summary_and_url(renderer: Renderer) -> None:
    story = make_story(
        title="<script>alert(1)</script> & \"friends\" 'too'",
        summary="Tom & Jerry <b>bold</b> <i onclick=x>",
        url='https://fairview-gazette.example/a?b=1&c="><script>alert(1)</script>',
    )
    message = renderer.telegram_message(story)
    assert "<script>" not in message
    assert "&lt;script&gt;" in message
    assert "Tom &amp; Jerry" in message
    parsed = parse(message)
    assert set(parsed.tags) <= TELEGRAM_TAGS
    assert parsed.hrefs == []  # Read more is a button under the message, not a link in it
    assert story.title in "".join(parsed.text)


def test_telegram_message_layout(renderer: Renderer) -> None:
    message = renderer.telegram_message(make_story())
    assert message.startswith("<b>Trump hints at talks with Kim</b>")
    assert "“probably do something”" in message
    assert "Read more" not in message  # a button under the message (bot.readers.story_buttons)
    assert "#North_Korea" in message
    assert "#U_S_Politics" in message
    assert "BREAKING" not in message


def test_telegram_breaking_marker(renderer: Renderer) -> None:
    assert "<b>BREAKING</b>" in renderer.telegram_message(make_story(breaking=True))


def test_telegram_message_links_nothing_of_a_bad_url(renderer: Renderer) -> None:
    assert "<a" not in renderer.telegram_message(make_story(url="javascript:alert(1)"))


def test_telegram_skips_topics_unknown_to_the_taxonomy(renderer: Renderer) -> None:
    message = renderer.telegram_message(make_story(topics=("north-korea", "retired-topic")))
    assert "#North_Korea" in message
    assert "retired" not in message


def test_long_telegram_message_is_shortened_on_a_word_boundary(renderer: Renderer) -> None:
    summary = " ".join(f"word{i}&<x>" for i in range(2000))
    assert len(summary) > 20_000
    message = renderer.telegram_message(make_story(summary=summary))
    assert len(message) <= TELEGRAM_MAX_LENGTH
    assert len(message.encode("utf-16-le")) // 2 <= TELEGRAM_MAX_LENGTH
    parsed = parse(message)
    assert set(parsed.tags) <= TELEGRAM_TAGS
    assert parsed.hrefs == []  # Read more is a button, not a link in the text
    assert message.endswith("#North_Korea #U_S_Politics")
    kept = "".join(parsed.text)
    assert re.search(r"word\d+&<x>…", kept), "summary should end with a whole word and an ellipsis"
    assert not re.search(r"&(?![a-z]+;|#\d+;)", message), "no entity may be cut"


def test_overlong_headline_is_shortened_too(renderer: Renderer) -> None:
    message = renderer.telegram_message(make_story(title="Kim " * 3000, summary="Short."))
    assert len(message) <= TELEGRAM_MAX_LENGTH
    parse(message)


def test_shorten_cuts_on_word_boundary() -> None:
    assert shorten("short enough", 50) == "short enough"
    assert shorten("one two three four", 12) == "one two…"
    assert shorten("unbreakableword", 6) == "unbre…"
    assert len(shorten("a b c d e f g", 5)) <= 5


def test_templates_dir_override_wins(tmp_path: Path, taxonomy: Taxonomy) -> None:
    overrides = tmp_path / "templates"
    (overrides / "telegram").mkdir(parents=True)
    (overrides / "telegram" / "story.html.j2").write_text("<i>{{ headline }}</i> by {{ outlet_name }}\n")
    renderer = Renderer(override_settings(overrides), taxonomy)
    assert renderer.telegram_message(make_story(title="A & B")) == "<i>A &amp; B</i> by Fairview Gazette"
    assert renderer.compile_email(make_story()).subject == "Trump hints at talks with Kim"


def test_broken_override_is_reported_by_template_name(tmp_path: Path, taxonomy: Taxonomy) -> None:
    (tmp_path / "telegram").mkdir()
    (tmp_path / "telegram" / "story.html.j2").write_text("{{ no_such_variable }}")
    settings = override_settings(tmp_path)
    with pytest.raises(RenderError, match=r"telegram/story\.html\.j2"):
        Renderer(settings, taxonomy).telegram_message(make_story())


# Email


def test_compile_email_returns_subject_html_and_text(renderer: Renderer) -> None:
    compiled = renderer.compile_email(make_story())
    assert isinstance(compiled, CompiledEmail)
    assert compiled.subject == "Trump hints at talks with Kim"
    assert compiled.html.lstrip().lower().startswith("<!doctype html>")
    assert "Trump hints at talks with Kim" in compiled.html
    assert "“probably do something”" in compiled.html
    assert "Read the full story" in compiled.html
    assert f'href="{STORY_URL}"' in compiled.html
    assert "North Korea, U.S. Politics" in compiled.html
    assert "Fairview Gazette" in compiled.html
    for sentinel in (UNSUBSCRIBE_URL_SENTINEL, PREFERENCES_URL_SENTINEL):
        assert sentinel in compiled.html
        assert sentinel in compiled.text
    assert "Manage preferences" in compiled.html
    assert "Unsubscribe" in compiled.html
    assert "because you subscribed" in compiled.html


def test_email_html_loads_nothing_external(renderer: Renderer) -> None:
    html = renderer.compile_email(make_story(breaking=True, author="Staff")).html
    assert "fonts.googleapis" not in html
    assert "<link" not in html.lower()
    assert "@import" not in html
    assert "<img" not in html.lower()
    assert "<script" not in html.lower()
    assert 'name="viewport"' in html


def test_email_html_escapes_the_story(renderer: Renderer) -> None:
    html = renderer.compile_email(make_story(title="<script>alert(1)</script> & co")).html
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html


def test_plain_text_has_summary_and_urls_unescaped(renderer: Renderer) -> None:
    text = renderer.compile_email(make_story(title="Tom & Jerry", url=STORY_URL + "?a=1&b=2")).text
    assert "Tom & Jerry" in text
    assert "“probably do something”" in text
    assert f"Read the full story: {STORY_URL}?a=1&b=2" in text
    assert f"Unsubscribe: {UNSUBSCRIBE_URL_SENTINEL}" in text
    assert f"Manage preferences: {PREFERENCES_URL_SENTINEL}" in text
    assert "&amp;" not in text
    assert "<" not in text


def test_an_email_without_url_reads_more_on_the_story_page(renderer: Renderer) -> None:
    compiled = renderer.compile_email(make_story(url=None))
    page = f"{renderer.settings.public_url}/stories/s1"
    assert f"Read the full story: {page}" in compiled.text
    assert f'href="{page}"' in compiled.html


def test_subject_is_one_trimmed_line_with_breaking_prefix(renderer: Renderer) -> None:
    compiled = renderer.compile_email(make_story(title="  Storm\r\nhits   coast \n", breaking=True))
    assert compiled.subject == "Breaking: Storm hits coast"


def test_mjml_is_compiled_once_per_email(renderer: Renderer) -> None:
    assert renderer.mjml_compiles == 0
    renderer.compile_email(make_story())
    renderer.telegram_message(make_story())
    assert renderer.mjml_compiles == 1
    renderer.compile_email(make_story(id="s2"))
    assert renderer.mjml_compiles == 2


def test_invalid_mjml_override_raises_render_error(tmp_path: Path, taxonomy: Taxonomy) -> None:
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "story.mjml.j2").write_text("<mjml><mj-body><mj-section>")
    settings = override_settings(tmp_path)
    with pytest.raises(RenderError, match="not valid MJML"):
        Renderer(settings, taxonomy).compile_email(make_story())


def test_email_template_without_unsubscribe_link_is_refused(tmp_path: Path, taxonomy: Taxonomy) -> None:
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "story.txt.j2").write_text("{{ headline }}\n")
    settings = override_settings(tmp_path)
    with pytest.raises(RenderError, match="unsubscribe"):
        Renderer(settings, taxonomy).compile_email(make_story())
