"""Every message newsbot sends or shows is rendered here: one Jinja environment, one compile path.

A story becomes a Telegram HTML message (:meth:`Renderer.telegram_message`) and a compiled email
(:meth:`Renderer.compile_email`); other emails (the weekly digest, the double opt-in mail) are template sets
compiled the same way (:meth:`Renderer.compile_email_set`), and the web pages and the Telegram digest are single
templates (:meth:`Renderer.render`).

Templates live in the built-in ``templates/`` folder; a newsroom overrides any of them by putting a file with the
same relative name in ``NEWSBOT_TEMPLATES_DIR``. Every template receives:

``story`` (the Story), ``headline``, ``summary`` (newsbot's Markdown: paragraphs, subheadings, lists, links,
emphasis; see `bot.stories.body_blocks`), ``summary_blocks`` (the summary's blocks, one Markdown string each),
``paragraphs`` (each block as plain text), ``preview``, ``byline`` (author and date, may be empty), ``url`` (the
story link, only when it is http(s)), ``read_more_url`` (that link, else newsbot's own page of the story),
``image_url`` and ``image_alt`` (the story's picture, may be None), ``topics`` (the story's `Topic` objects),
``outlet_name`` and ``public_url``; email templates also get ``unsubscribe_url`` and ``preferences_url``, which
are placeholders replaced per reader when the message is sent.

A summary (or a block of it) is shown through a filter: ``telegram_html``, ``email_html`` or ``plain_text``
(`bot.rendering.story_body`). HTML and MJML templates are autoescaped; ``.txt`` templates are not.

Templates are translated with Jinja's i18n extension (``{% trans %}``, ``_()``), in the language of the render:
``language`` in the context (the reader's, `bot.languages`), English when absent. A story is compiled once per
language it is sent in, then personalised per reader as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import CodeType
from typing import Any

import jinja2
import jinja2.bccache
from mjml import mjml2html

from bot.app.config import Settings
from bot.app.errors import RenderError
from bot.app.resources import shipped_path
from bot.languages.catalogs import SOURCE_LANGUAGE, gettext_in, ngettext_in
from bot.languages.formatting import long_date, number
from bot.rendering.reply_limits import TELEGRAM_MAX_LENGTH, utf16_length
from bot.rendering.safe_links import http_link
from bot.rendering.story_body import email_html, plain_text, summary_blocks, telegram_html
from bot.rendering.story_links import read_more_url
from bot.stories.story import Story
from bot.stories.summarising import plain_text_of, shorten, shorten_markdown
from bot.topics.taxonomy import Taxonomy, Topic

#: Stand-ins for the personal links in a compiled email; `bot.rendering.email_message` swaps in each reader's own links.
UNSUBSCRIBE_URL_SENTINEL = "https://newsbot-placeholder.invalid/unsubscribe/3f9c1e7a52b04d68"
PREFERENCES_URL_SENTINEL = "https://newsbot-placeholder.invalid/preferences/8d2a6b0c4e1f9735"

TELEGRAM_TEMPLATE = "telegram/story.html.j2"
EMAIL_HTML_TEMPLATE = "email/story.mjml.j2"
EMAIL_TEXT_TEMPLATE = "email/story.txt.j2"
EMAIL_SUBJECT_TEMPLATE = "email/subject.txt.j2"

_PREVIEW_CHARS = 150
#: The longest caption Telegram takes under a photo; a story with a picture is sent as one.
TELEGRAM_CAPTION_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class CompiledEmail:
    """One story's email, compiled once and shared by every reader; links are still sentinels."""

    subject: str
    html: str
    text: str


def builtin_templates_dir() -> Path:
    """The templates shipped with newsbot: inside the package when installed from a wheel, else the repo's."""
    return shipped_path("templates", "templates")


def _autoescape(template_name: str | None) -> bool:
    """Escape everything except plain-text templates, so a new markup template is never unescaped by accident."""
    return template_name is None or not template_name.lower().removesuffix(".j2").endswith(".txt")


def _longest_fitting(
    render: Callable[[str], str],
    text: str,
    *,
    cut: Callable[[str, int], str] = shorten,
    length: int | None = None,
    limit: int = TELEGRAM_MAX_LENGTH,
) -> str | None:
    """Render with the longest shortening of *text* that fits *limit* characters, or None if even "" does not.

    *cut* shortens *text* to a number of visible characters (*length* of them in all). Every visible character
    renders to at least one, so only the first *limit* can matter; a binary search over the cut keeps this to
    about a dozen renders however long the text.
    """
    low, high, best = 0, min(len(text) if length is None else length, limit), None
    while low <= high:
        middle = (low + high) // 2
        message = render(cut(text, middle))
        if utf16_length(message) <= limit:
            low, best = middle + 1, message
        else:
            high = middle - 1
    return best


def _byline(story: Story, language: str) -> str:
    parts = []
    if story.author:
        parts.append(gettext_in(language, "By %(author)s") % {"author": story.author})
    if story.published:
        parts.append(long_date(story.published, language))
    return " · ".join(parts)


def _language(context: jinja2.runtime.Context) -> str:
    return context.get("language") or SOURCE_LANGUAGE


@jinja2.pass_context
def _gettext(context: jinja2.runtime.Context, message: str) -> str:
    return gettext_in(_language(context), message)


@jinja2.pass_context
def _ngettext(context: jinja2.runtime.Context, singular: str, plural: str, count: int) -> str:
    return ngettext_in(_language(context), singular, plural, count)


@jinja2.pass_context
def _number(context: jinja2.runtime.Context, value: float) -> str:
    """``{{ count | number }}``: "1,234" or "1.234", as the render's language writes it."""
    return number(value, _language(context))


class _CompiledTemplates(jinja2.BytecodeCache):
    """The process's compiled templates, shared by every Renderer: compiling is most of a template's first render.

    Jinja keys each template by its name and file and checks the source's checksum, so a template edited or
    overridden in ``NEWSBOT_TEMPLATES_DIR`` is compiled anew; every Renderer configures its environment alike, so the
    compiled code of one source is the same for all of them.
    """

    def __init__(self) -> None:
        self._code: dict[str, tuple[str, CodeType]] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        found = self._code.get(bucket.key)
        if found is not None and found[0] == bucket.checksum:
            bucket.code = found[1]

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.code is not None:
            self._code[bucket.key] = (bucket.checksum, bucket.code)


_COMPILED_TEMPLATES = _CompiledTemplates()


class Renderer:
    """Renders stories with the configured templates; one instance is shared by all channels."""

    def __init__(self, settings: Settings, taxonomy: Taxonomy) -> None:
        self.settings = settings
        self.taxonomy = taxonomy
        search_path = [builtin_templates_dir()]
        if settings.templates_dir is not None:
            search_path.insert(0, settings.templates_dir)
        self.environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(search_path),
            autoescape=_autoescape,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=["jinja2.ext.i18n"],
            bytecode_cache=_COMPILED_TEMPLATES,
        )
        self.environment.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
        self.environment.filters.update(
            telegram_html=telegram_html, email_html=email_html, plain_text=plain_text, number=_number
        )
        self.environment.globals.update(postal_address=settings.postal_address)  # every email footer shows it
        #: Number of MJML compilations so far; compiling is the expensive step, so callers check it is shared.
        self.mjml_compiles = 0

    def _topics(self, story: Story) -> list[Topic]:
        topics = [self.taxonomy[slug] for slug in story.topics if slug in self.taxonomy]
        return [topic for topic in topics if len(topic.hashtag) > 1]

    def _context(self, story: Story, *, headline: str, summary: str, language: str) -> dict[str, Any]:
        blocks = summary_blocks(summary)
        return {
            "language": language,
            "story": story,
            "headline": " ".join(headline.split()),
            "summary": summary,
            "summary_blocks": blocks,
            "paragraphs": [" ".join(plain_text_of(block).split()) for block in blocks],
            "preview": shorten(" ".join(plain_text_of(summary).split()), _PREVIEW_CHARS),
            "byline": _byline(story, language),
            "url": http_link(story.url),
            "read_more_url": read_more_url(self.settings, story),
            "image_url": http_link(story.image_url),
            "image_alt": story.image_alt,
            "topics": self._topics(story),
            "outlet_name": self.settings.outlet_name,
            "public_url": self.settings.public_url,
        }

    def render(self, name: str, context: dict[str, Any]) -> str:
        """Render one template, turning Jinja's errors into a RenderError naming it."""
        try:
            return self.environment.get_template(name).render({"language": SOURCE_LANGUAGE, **context})
        except jinja2.TemplateNotFound:
            raise RenderError(f"template {name} not found in {self._search_path_description()}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(f"template {exc.name or name} line {exc.lineno}: {exc.message}") from None
        except jinja2.TemplateError as exc:
            raise RenderError(f"template {name}: {exc}") from None

    def _search_path_description(self) -> str:
        loader = self.environment.loader
        assert isinstance(loader, jinja2.FileSystemLoader)
        return " or ".join(str(path) for path in loader.searchpath)

    def telegram_message(
        self, story: Story, *, limit: int = TELEGRAM_MAX_LENGTH, language: str = SOURCE_LANGUAGE
    ) -> str:
        """The story as a Telegram HTML message that fits one message (or, with a *limit*, a photo's caption).

        Too long a message is fixed by re-rendering with a shorter summary (then headline), never by slicing the
        HTML, so no tag or entity is ever cut.
        """
        headline, summary = story.title.strip(), story.summary.strip()

        def render(headline: str, summary: str) -> str:
            context = self._context(story, headline=headline, summary=summary, language=language)
            return self.render(TELEGRAM_TEMPLATE, context).strip()

        message = render(headline, summary)
        if utf16_length(message) <= limit:
            return message
        fitted = _longest_fitting(
            lambda cut: render(headline, cut),
            summary,
            cut=shorten_markdown,
            length=len(plain_text_of(summary)),
            limit=limit,
        ) or _longest_fitting(lambda cut: render(cut, ""), headline, limit=limit)
        if fitted is None:
            raise RenderError(f"{TELEGRAM_TEMPLATE} renders more than {limit} characters")
        return fitted

    def telegram_caption(self, story: Story, *, language: str = SOURCE_LANGUAGE) -> str:
        """The story as the caption of its photo: the same message, its summary shortened to 1,024 characters."""
        return self.telegram_message(story, limit=TELEGRAM_CAPTION_LENGTH, language=language)

    def compile_email(self, story: Story, *, language: str = SOURCE_LANGUAGE) -> CompiledEmail:
        """Render the subject, the MJML-compiled HTML and the plain-text body once for all readers of *language*."""
        context = self._context(story, headline=story.title.strip(), summary=story.summary.strip(), language=language)
        return self._compile(EMAIL_SUBJECT_TEMPLATE, EMAIL_HTML_TEMPLATE, EMAIL_TEXT_TEMPLATE, context)

    def compile_email_set(self, name: str, context: dict[str, Any]) -> CompiledEmail:
        """Compile template set *name*: ``email/NAME.subject.txt.j2``, ``email/NAME.mjml.j2``, ``email/NAME.txt.j2``.

        The context gets ``outlet_name`` and ``public_url`` unless given; the personal links are sentinels, as in
        story emails, so `EmailTemplate` builds the MIME once and patches each reader in.
        """
        settings = self.settings
        context = {"outlet_name": settings.outlet_name, "public_url": settings.public_url, **context}
        subject, html, text = (f"email/{name}.{kind}.j2" for kind in ("subject.txt", "mjml", "txt"))
        return self._compile(subject, html, text, context)

    def _compile(self, subject_name: str, html_name: str, text_name: str, context: dict[str, Any]) -> CompiledEmail:
        """Subject, MJML-compiled HTML and plain text; both bodies must carry the unsubscribe link."""
        context = {**context, "unsubscribe_url": UNSUBSCRIBE_URL_SENTINEL, "preferences_url": PREFERENCES_URL_SENTINEL}
        subject = " ".join(self.render(subject_name, context).split())
        if not subject:
            raise RenderError(f"template {subject_name} rendered an empty subject")
        text = self.render(text_name, context).rstrip("\n") + "\n"
        mjml_source = self.render(html_name, context)
        self.mjml_compiles += 1
        try:
            html = mjml2html(mjml_source, fonts={})
        except ValueError as exc:
            raise RenderError(f"template {html_name} is not valid MJML: {exc}") from None
        for name, body in ((html_name, html), (text_name, text)):
            if UNSUBSCRIBE_URL_SENTINEL not in body:
                raise RenderError(f"template {name} must include the unsubscribe link ({{{{ unsubscribe_url }}}})")
        return CompiledEmail(subject=subject, html=html, text=text)
