"""The desk's compose form as a story, and the story as every reader will get it.

Nothing is kept between Preview and Send: the preview page carries the form's fields back, so Send reads the same
text again through the same intake (:func:`bot.stories.intake.prepare_for`) and an abandoned draft leaves nothing
behind. The previews come from the renderers the senders use, so the desk shows exactly what goes out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData

from bot.app.errors import InvalidSchedule, StoryRejected
from bot.app.newsroom import Newsroom
from bot.editors.drafts import story_draft_from_message
from bot.editors.schedule_panel import parse_typed_time
from bot.languages.catalogs import language_name, languages, outlet_language
from bot.languages.language_codes import EXAMPLES, language_code
from bot.outbox.story_messages import telegram_story
from bot.rendering.renderer import PREFERENCES_URL_SENTINEL, UNSUBSCRIBE_URL_SENTINEL
from bot.rendering.social_posts import compose_post
from bot.stories.intake import prepare_for
from bot.stories.parsing import check_image_url, check_story_url
from bot.stories.story import MAX_TITLE_CHARS, Story
from subscribers import deliveries, story_language_filters

#: The form's fields, carried from Compose to Preview to Send as they were typed.
FIELDS = ("body", "title", "url", "image_url", "publish_at", "updates", "language")


class DraftProblem(StoryRejected):
    """A field of the compose form cannot be used; ``field`` names it for the page."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


@dataclass(frozen=True, slots=True)
class ComposeForm:
    """What the editor typed, as typed (so a page can show it again)."""

    body: str = ""
    title: str = ""
    url: str = ""
    image_url: str = ""
    publish_at: str = ""
    updates: str = ""
    #: The Language select (a code); empty before the form was first sent, when the outlet's is preselected.
    language: str = ""
    breaking: bool = False
    #: Topics the editor ticked; None before the first preview (then the tagger's suggestions are ticked).
    topics: tuple[str, ...] | None = None

    @classmethod
    def of(cls, form: FormData | Mapping[str, str]) -> ComposeForm:
        values = {name: str(form.get(name) or "").strip() for name in FIELDS}
        values["body"] = str(form.get("body") or "")
        topics = tuple(str(t) for t in form.getlist("topic")) if isinstance(form, FormData) else ()
        chosen = topics if "topics_shown" in form else None
        return cls(**values, breaking=form.get("breaking") in ("1", "on", "yes"), topics=chosen)


@dataclass(frozen=True, slots=True)
class SocialPreview:
    label: str
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class DraftPreview:
    """A story as it would go out now, rendered for every channel, and whom it reaches."""

    story: Story
    telegram_html: str
    telegram_buttons: list[list[str]]
    telegram_photo: str | None
    email_subject: str
    email_html: str
    email_text: str
    social: list[SocialPreview]
    recipients: dict[str, int]
    #: Topics the tagger suggested (ticked on the first preview), then every other topic.
    suggested: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def reach(self) -> int:
        return sum(self.recipients.values())


def schedule_zone(newsroom: Newsroom) -> ZoneInfo:
    """The newsroom's zone: a schedule time typed without an offset is read in it."""
    return ZoneInfo(newsroom.settings.digest_timezone)


def story_from_form(newsroom: Newsroom, form: ComposeForm) -> tuple[Story, list[str]]:
    """The story *form* describes, with the topics ticked (the tagger's when none were shown yet), and the
    tagger's suggestions. Raises DraftProblem naming the field."""
    if not form.body.strip():
        raise DraftProblem("body", "Paste the story's text (newsbot does not fetch pages; a URL is only its link)")
    try:
        draft = story_draft_from_message(form.body, max_bytes=newsroom.settings.max_story_bytes)
    except StoryRejected as exc:
        raise DraftProblem("body", str(exc)) from None
    changes: dict[str, object] = {}
    for name, check in (("url", check_story_url), ("image_url", check_image_url)):
        value = getattr(form, name)
        if value:
            try:
                changes[name] = check(value)
            except StoryRejected as exc:
                raise DraftProblem(name, str(exc)) from None
    if form.title:
        if len(form.title) > MAX_TITLE_CHARS:
            raise DraftProblem("title", f"the headline is longer than {MAX_TITLE_CHARS} characters")
        changes["title"] = " ".join(form.title.split())
    if form.publish_at:
        try:
            changes["publish_at"] = parse_typed_time(form.publish_at, schedule_zone(newsroom))
        except InvalidSchedule as exc:
            raise DraftProblem("publish_at", str(exc)) from None
    if form.updates:
        changes["updates"] = form.updates
    if form.language:
        code = language_code(form.language)
        if code is None:
            raise DraftProblem("language", f"{form.language[:40]!r} is not a language code such as {EXAMPLES}")
        # The front matter's language wins over the select left at the outlet's: the editor wrote it there.
        if not (draft.language and code == newsroom.settings.default_language):
            changes["language"] = code
    if "image_url" in changes:
        changes["image_alt"] = None
    draft = dataclasses.replace(draft, **changes)  # type: ignore[arg-type]
    try:
        story = prepare_for(newsroom, draft, breaking=form.breaking, source="desk")
    except StoryRejected as exc:
        raise DraftProblem("body", str(exc)) from None
    suggested = list(story.topics)
    if form.topics is not None:
        unknown = [slug for slug in form.topics if slug not in newsroom.taxonomy]
        if unknown:
            raise DraftProblem("topic", f"unknown topic {unknown[0]!r}")
        order = [t.slug for t in newsroom.taxonomy]
        chosen = tuple(sorted(set(form.topics), key=order.index))
        given = tuple(slug for slug in story.given_topics if slug in chosen)
        story = dataclasses.replace(story, topics=chosen, given_topics=given)
    return story, suggested


async def desk_languages(newsroom: Newsroom, current: str = "") -> list[tuple[str, str]]:
    """The Language select's options, code and name: the outlet's first, then the languages newsbot speaks, those
    stories were published in, and the one chosen (a front matter's, say)."""
    async with newsroom.reader.connect() as conn:
        published = await story_language_filters.published_languages(conn)
    default = newsroom.settings.default_language
    chosen = [code for code in [language_code(current)] if code]
    codes = [default, *sorted({*languages(), *published, *chosen} - {default})]
    return [(code, f"{language_name(code)} ({code})") for code in codes]


def _preview_links(html: str, newsroom: Newsroom) -> str:
    """Personal links are per reader; the preview points them at the signup page instead of a placeholder."""
    base = newsroom.settings.public_url.rstrip("/")
    return html.replace(UNSUBSCRIBE_URL_SENTINEL, f"{base}/subscribe").replace(
        PREFERENCES_URL_SENTINEL, f"{base}/subscribe"
    )


async def preview_story(newsroom: Newsroom, story: Story, suggested: Sequence[str] = ()) -> DraftPreview:
    """Every message *story* would become, and the readers it reaches now per channel."""
    chat = telegram_story(newsroom, story)
    email = newsroom.renderer.compile_email(story)
    topics = [newsroom.taxonomy[slug] for slug in story.topics if slug in newsroom.taxonomy]
    social = []
    for destination in newsroom.distribution.for_story(story):
        if destination.kind == "telegram":
            channel_copy = telegram_story(
                newsroom, story, reader_buttons=False, language=outlet_language(newsroom.settings)
            )
            social.append(SocialPreview(destination.label, "", channel_copy.content))
            continue
        text = compose_post(story, topics, body_limit=destination.body_limit, title_limit=destination.title_limit)
        social.append(SocialPreview(destination.label, text.title, text.body))
    async with newsroom.reader.connect() as conn:
        recipients = await deliveries.count_story_audience(conn, story.topics, story.breaking, story.language)
    warnings = []
    if not story.topics:
        warnings.append("No topic is ticked: this story reaches nobody.")
    elif story.breaking and not sum(recipients.values()):
        warnings.append("This breaking story reaches nobody: no reader follows its topics.")
    if story.derived_headline:
        warnings.append("The headline was made from the first sentence: check it, or type your own.")
    return DraftPreview(
        story=story,
        telegram_html=chat.content,
        telegram_buttons=[[button.text for button in row] for row in chat.keyboard],
        telegram_photo=chat.photo,
        email_subject=email.subject,
        email_html=_preview_links(email.html, newsroom),
        email_text=_preview_links(email.text, newsroom),
        social=social,
        recipients=recipients,
        suggested=list(suggested),
        warnings=warnings,
    )


def when_text(moment: datetime | None, zone: ZoneInfo) -> str:
    """A moment as an editor reads it, in the newsroom's zone; "at once" for none."""
    return "at once" if moment is None else f"{moment.astimezone(zone):%a %d %b %Y %H:%M %Z}"
