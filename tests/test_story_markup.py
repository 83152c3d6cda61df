"""HTML and Markdown stories keep their paragraphs, lists, subheadings and links from intake to every message."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
import textwrap
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.cli import app
from bot.outbox.worker import DeliveryWorker
from bot.rendering.renderer import Renderer
from bot.stories.intake import prepare_story
from bot.stories.markup_reading import looks_like_html
from bot.stories.parsing import StoryDraft, find_markup, parse_story, read_story_file
from bot.stories.story import Story
from bot.stories.summarising import paragraphs_of, summarise
from bot.topics.tagging import TopicTagger
from bot.web import create_app
from subscribers.schema import Cadence, ChannelName
from tests.fakes import FakeBotAPI, SmtpSink
from tests.fakes.telegram_html import parse_html
from tests.newsroom_fixtures import SAMPLE_STORY, add_reader, paced_channels

LIMIT = 1_000_000
API_TOKEN = "test-api-token-0123456789"
WORDPRESS_BODY = """\
<p>North Korea fired a <strong>ballistic missile</strong> on Tuesday, the
<a href="https://fairview-gazette.example/seoul">South Korean military</a> said.</p>
<script>document.write('<p>tracking</p>')</script><style>p { color: red }</style>
<h2>What we know</h2>
<ul><li>It flew <em>600 km</em>.</li><li>It landed in the sea.</li></ul>
<p>Read the <a href="javascript:alert(1)">statement</a> &amp; the <a href="/relative">archive</a>.</p>
<iframe src="https://video.example/embed"></iframe>
"""
GHOST_BODY = """\
<figure class="kg-card kg-image-card"><img src="https://x.example/a.jpg"><figcaption>Launch site</figcaption></figure>
<p>Kim Jong-un watched the launch, <a href="https://fairview-gazette.example/kcna">state media</a> said.</p>
<blockquote><p>"A great success," the agency wrote.</p></blockquote>
<ol><li>Japan protested.</li><li>Seoul met.</li></ol>
<div class="kg-card kg-html-card"><script src="https://evil.example/x.js"></script></div>
"""


def draft_body(raw: str, **options: object) -> str:
    return parse_story(raw, max_bytes=LIMIT, **options).body  # type: ignore[arg-type]


def test_a_wordpress_body_becomes_paragraphs_a_subheading_a_list_and_links() -> None:
    assert draft_body(WORDPRESS_BODY) == (
        "North Korea fired a **ballistic missile** on Tuesday, the "
        "[South Korean military](https://fairview-gazette.example/seoul) said.\n\n"
        "## What we know\n\n"
        "- It flew *600 km*.\n- It landed in the sea.\n\n"
        "Read the statement & the archive."
    )


def test_a_ghost_body_drops_figures_and_card_scripts_and_keeps_quotes_and_numbered_lists() -> None:
    draft = parse_story(GHOST_BODY, max_bytes=LIMIT)
    assert draft.body == (
        "Kim Jong-un watched the launch, [state media](https://fairview-gazette.example/kcna) said.\n\n"
        '"A great success," the agency wrote.\n\n'
        "1. Japan protested.\n2. Seoul met."
    )


def test_an_html_file_is_html_and_its_first_heading_is_the_heading(tmp_path: Path) -> None:
    story = tmp_path / "launch.html"
    story.write_text("---\ntopics: [north-korea]\n---\n<h1>Missile launch</h1>" + WORDPRESS_BODY, encoding="utf-8")
    draft = read_story_file(story, LIMIT)
    assert draft.heading == "Missile launch" and draft.topics == ("north-korea",)
    assert draft.body.startswith("North Korea fired a **ballistic missile**")
    as_text = tmp_path / "launch.md"
    as_text.write_text("Tap <b>here</b>\n\n- one\n- two [link](https://x.example/a)\n", encoding="utf-8")
    assert read_story_file(as_text, LIMIT).body == "Tap **here**\n\n- one\n- two [link](https://x.example/a)"


def test_markdown_keeps_lists_links_subheadings_and_emphasis() -> None:
    body = draft_body(
        "# Storm closes schools\n\nAll schools close on **Monday**, the [district](https://x.example/d) said.\n"
        "Buses stop at noon.\n\n## Closures\n\n* Fairview High\n* Oak Street _Elementary_\n\n"
        "3. third\n4. fourth\n"
    )
    assert body == (
        "All schools close on **Monday**, the [district](https://x.example/d) said.\n\n"
        "Buses stop at noon.\n\n## Closures\n\n- Fairview High\n- Oak Street *Elementary*\n\n3. third\n4. fourth"
    )
    assert paragraphs_of(body)[3] == "- Fairview High\n- Oak Street *Elementary*"


@pytest.mark.parametrize("markup", ["auto", "markdown", "text", "html"])
def test_less_than_signs_and_ampersands_are_text_in_every_markup(markup: str) -> None:
    raw = "AT&amp;T &lt;Jr&gt; said 3 &lt; 5." if markup == "html" else "AT&T <Jr> said 3 < 5."
    body = draft_body(raw, markup=markup)
    assert parse_story(body, max_bytes=LIMIT).body == body  # the stored form reads back as itself
    assert " ".join(paragraphs_of(body)) == body
    assert "AT&T" in body and "3 < 5" in body and "Jr>" in body
    assert find_markup("AT&T <Jr> wins") is None and find_markup("3 < 5 > 2") is None
    assert find_markup("a <b>bold</b> title") == "<b>"


def test_a_title_with_angle_brackets_is_accepted_and_markup_in_it_is_not() -> None:
    assert (
        parse_story("---\ntitle: AT&T <Jr> buys 3 < 5\n---\nBody.\n", max_bytes=LIMIT).title == "AT&T <Jr> buys 3 < 5"
    )
    with pytest.raises(Exception, match="front matter 'title' contains HTML markup"):
        parse_story("---\ntitle: <i>Loud</i>\n---\nBody.\n", max_bytes=LIMIT)


def test_text_that_looks_like_markdown_syntax_is_stored_escaped_and_reads_back_the_same() -> None:
    text = "- not a list\n1. not a number\n# not a heading\n2 * 3 = 6, snake_case and [brackets] \\ done"
    body = draft_body(text, markup="text")
    assert [line for line in body.split("\n") if line] == [
        "\\- not a list",
        "1\\. not a number",
        "\\# not a heading",
        "2 \\* 3 = 6, snake\\_case and \\[brackets\\] \\\\ done",
    ]
    assert parse_story(body, max_bytes=LIMIT, markup="markdown").body == body


def test_a_telegram_editors_html_message_keeps_bold_links_and_lines() -> None:
    text_html = (
        '<b>Storm warning</b> for <a href="https://x.example/storm">Fairview</a>\n'
        "Winds of <i>120 km/h</i> &lt;expected&gt; &amp; <s>rain</s> <u>hail</u> <tg-spoiler>maybe</tg-spoiler>\n"
        "• Schools close\n• Buses stop\n"
        "<code>code</code> <pre>pre line one\npre line two</pre>\n"
        '<blockquote>A quote</blockquote>\n<a href="tg://user?id=42">the editor</a>'
    )
    assert draft_body(text_html, markup="html") == (
        "**Storm warning** for [Fairview](https://x.example/storm)\n\n"
        "Winds of *120 km/h* \\<expected> & rain hail maybe\n\n"
        "- Schools close\n- Buses stop\n\ncode\n\npre line one\n\npre line two\n\nA quote\n\nthe editor"
    )


@pytest.mark.parametrize(
    ("raw", "is_html"),
    [
        ("<p>One.</p><p>Two.</p>", True),
        ("  <!-- wp:paragraph -->\n<p>One.</p>", True),
        ("<div><p>A long paragraph of the story.</p></div>", True),
        ("Intro.\n<p>A much longer paragraph that holds most of the story's text.</p>", True),
        ("<b>Bold</b> start of a Markdown story", False),
        ("AT&T <Jr> said 3 < 5", False),
        ("Plain wire copy.\nSecond line.", False),
    ],
)
def test_html_is_told_from_text_by_its_block_elements(raw: str, is_html: bool) -> None:
    assert looks_like_html(raw) is is_html


def test_sentences_never_end_inside_a_link_and_summaries_keep_structure() -> None:
    body = draft_body(
        "The [U.S. Dept. of State report](https://x.example/r) was published. It says little.\n\n"
        "## Reactions\n\n- Seoul welcomed it.\n- Tokyo did not.\n\nA last paragraph that will not fit at all."
    )
    summary = summarise(paragraphs_of(body), 100)
    assert summary == (
        "The [U.S. Dept. of State report](https://x.example/r) was published. It says little.\n\n"
        "## Reactions\n\n- Seoul welcomed it."
    )
    assert summarise(paragraphs_of(body), 60) == "The [U.S. Dept. of State report](https://x.example/r) was published."
    assert summarise(paragraphs_of(body), 20) == "The [U.S. Dept. of…](https://x.example/r)"


@pytest.fixture
def renderer(newsroom: Newsroom) -> Renderer:
    return Renderer(newsroom.settings, newsroom.taxonomy)


def prepared(newsroom: Newsroom, draft: StoryDraft) -> Story:
    return prepare_story(
        draft, settings=newsroom.settings, taxonomy=newsroom.taxonomy, tagger=TopicTagger(newsroom.taxonomy)
    )


def test_the_sample_story_renders_with_its_lead_as_headline_and_the_rest_as_summary(
    newsroom: Newsroom, renderer: Renderer
) -> None:
    story = prepared(newsroom, read_story_file(SAMPLE_STORY, LIMIT))
    first_paragraph = SAMPLE_STORY.read_text(encoding="utf-8").split("\n")[0]
    after_lead = first_paragraph[first_paragraph.index("Trump leaned") :]
    assert story.id == "t504635a944e80e7a2affd74f"  # the same text hash as before stories had structure
    assert story.summary.startswith(after_lead + "\n\n")  # the lead is the headline: not repeated
    message = renderer.telegram_message(story)
    assert message.startswith(
        "<b>President Donald Trump hinted at potential future engagement with North Korean leader Kim Jong-un</b>"
        f"\n\n{after_lead}\n\n"
    )
    assert "In a candid exchange" not in message
    text = renderer.compile_email(story).text
    assert textwrap.fill(after_lead, 72, break_on_hyphens=False, break_long_words=False) + "\n\n" in text


def test_structure_reaches_telegram_html_and_both_email_parts(newsroom: Newsroom, renderer: Renderer) -> None:
    settings = newsroom.settings.model_copy(update={"summary_chars": 1000})
    # With a title, the lead sentence (and its link) is part of the summary.
    draft = parse_story(
        "---\ntitle: Missile launch\n---\n" + WORDPRESS_BODY + "<p>AT&amp;T &lt;Jr&gt; said 3 &lt; 5.</p>",
        max_bytes=LIMIT,
        markup="html",
    )
    story = prepare_story(draft, settings=settings, taxonomy=newsroom.taxonomy, tagger=TopicTagger(newsroom.taxonomy))

    message = renderer.telegram_message(story)
    parse_html(message)  # valid for Telegram
    assert '<a href="https://fairview-gazette.example/seoul">South Korean military</a>' in message
    assert "<b>What we know</b>\n\n• It flew <i>600 km</i>.\n• It landed in the sea." in message
    assert "AT&amp;T &lt;Jr&gt; said 3 &lt; 5." in message and "script" not in message

    compiled = renderer.compile_email(story)
    assert '<a href="https://fairview-gazette.example/seoul" style="color:#1a1a1a;">South Korean military</a>' in (
        compiled.html
    )
    assert "<h2" in compiled.html and "<ul" in compiled.html and "<li>It flew <i>600 km</i>.</li>" in compiled.html
    assert "AT&amp;T &lt;Jr&gt;" in compiled.html and "tracking" not in compiled.html
    assert "South Korean military (https://fairview-gazette.example/seoul) said." in " ".join(compiled.text.split())
    assert "What we know\n------------\n\n- It flew 600 km.\n- It landed in the sea." in compiled.text
    assert "AT&T <Jr> said 3 < 5." in compiled.text


def test_a_long_structured_summary_is_cut_to_one_valid_telegram_message(newsroom: Newsroom, renderer: Renderer) -> None:
    items = "".join(
        f'<li>Item {n} with <a href="https://x.example/{n}">a link &amp; more</a>.</li>' for n in range(400)
    )
    story = prepared(newsroom, parse_story(f"<p>Lead.</p><ul>{items}</ul>", max_bytes=LIMIT))
    story = dataclasses.replace(story, summary=story.body)
    message = renderer.telegram_message(story)
    text, _ = parse_html(message)
    assert len(message) <= 4096 and text.count("• Item") > 10
    assert message.rstrip().endswith("#North_Korea") or "…" in message


@pytest.fixture
async def intake_desk(
    settings: Settings, bot_api: FakeBotAPI, smtp_sink: SmtpSink
) -> AsyncIterator[tuple[Newsroom, DeliveryWorker]]:
    """Live Telegram (fake Bot API) and email (aiosmtpd), the stories API open with a token, readers of north-korea."""
    live = settings.model_copy(
        update={
            "telegram_token": "123456:TEST",
            "telegram_api_url": bot_api.base_url,
            "smtp_url": smtp_sink.url,
            "api_token": API_TOKEN,
        }
    )
    room = await Newsroom.open(live)
    channels = paced_channels(live)
    await add_reader(room, "north-korea", telegram_chat="101")
    await add_reader(room, "north-korea", email="nk@example.org", cadences={ChannelName.EMAIL: Cadence.INSTANT})
    try:
        yield room, DeliveryWorker(room, channels)
    finally:
        for channel in channels.values():
            await channel.aclose()
        await room.close()


def received_email(smtp_sink: SmtpSink) -> tuple[str, str]:
    (received,) = smtp_sink.messages
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    html_part = message.get_body(preferencelist=("html",))
    text_part = message.get_body(preferencelist=("plain",))
    assert html_part is not None and text_part is not None
    return html_part.get_content(), text_part.get_content()


async def test_a_wordpress_body_through_the_api_reaches_telegram_and_email_with_its_links(
    intake_desk: tuple[Newsroom, DeliveryWorker], bot_api: FakeBotAPI, smtp_sink: SmtpSink
) -> None:
    newsroom, worker = intake_desk
    transport = httpx.ASGITransport(app=create_app(newsroom))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        answer = await client.post(
            "/api/stories",
            json={"body": WORDPRESS_BODY, "title": "Missile launch", "topics": ["north-korea"]},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        )
    assert answer.status_code == 201, answer.text
    assert "[South Korean military](https://fairview-gazette.example/seoul)" in answer.json()["summary"]
    assert (await worker.drain()).sent == {"telegram": 1, "email": 1}

    (sent,) = bot_api.sent_messages
    assert '<a href="https://fairview-gazette.example/seoul">South Korean military</a>' in sent.text
    assert "<b>ballistic missile</b>" in sent.text and "script" not in sent.text and "alert" not in sent.text
    html_part, text_part = received_email(smtp_sink)
    assert 'href="https://fairview-gazette.example/seoul"' in html_part and "tracking" not in html_part
    assert "South Korean military (https://fairview-gazette.example/seoul)" in " ".join(text_part.split())


async def test_a_ghost_html_file_through_the_cli_reaches_telegram_and_email_with_its_links(
    intake_desk: tuple[Newsroom, DeliveryWorker], bot_api: FakeBotAPI, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    newsroom, worker = intake_desk
    story = tmp_path / "ghost-post.html"
    story.write_text("---\ntitle: Kim watches launch\ntopics: [north-korea]\n---\n" + GHOST_BODY, encoding="utf-8")
    url = newsroom.settings.database_url
    env = {"NEWSBOT_DATABASE_URL": url} if url.startswith("postgresql") else {}
    result = await asyncio.to_thread(CliRunner().invoke, app, ["ingest", str(story)], env=env)
    assert result.exit_code == 0, result.stderr
    assert (await worker.drain()).sent == {"telegram": 1, "email": 1}

    (sent,) = bot_api.sent_messages
    parse_html(sent.text)
    assert '<a href="https://fairview-gazette.example/kcna">state media</a>' in sent.text
    assert "Launch site" not in sent.text and "evil" not in sent.text
    html_part, text_part = received_email(smtp_sink)
    assert '<a href="https://fairview-gazette.example/kcna"' in html_part and "evil.example" not in html_part
    assert "state media (https://fairview-gazette.example/kcna) said." in " ".join(text_part.split())
