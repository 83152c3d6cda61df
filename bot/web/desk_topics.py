"""The desk's Topics and Social pages, for admins: the topics readers follow and where stories are posted.

Topics: add one (slug, name, description, the keywords the tagger uses, aliases), change one, retire one (asked
first, saying how many readers follow it: their follows are kept, and restoring the topic gives it back to them)
or restore it. Social: add a destination (an Apprise URL or an outlet channel, and the topics that go there),
disable, enable or remove one. Apprise URLs hold credentials, so the pages name them as the store and the logs do
(service and a hash). Every change goes through :mod:`bot.topics.topic_settings`, audited as the admin, and every
process, the bot's keyboards and the compose page included, sees it within seconds. A bad field is a 422 page
naming it, with what was typed kept.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from bot.topics import topic_settings as settings_of_topics
from bot.topics.topic_settings import TopicSettingProblem
from bot.web.desk_auth import DeskPost, DeskView, admin_post, admin_view
from subscribers.topic_settings import TopicRow

router = APIRouter()
TOPICS, SOCIAL = "/desk/topics", "/desk/social"
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_SLUG = 40
DONE = {
    "added": "The topic is added: readers can follow it now, and the tagger looks for its keywords.",
    "changed": "The topic is changed.",
    "retired": "The topic is retired: nobody is offered it any more. Its readers' follows are kept.",
    "restored": "The topic is back, for everyone who followed it before too.",
    "destination-added": "The destination is added: the next story of its topics is posted there.",
    "enabled": "The destination gets posts again.",
    "disabled": "The destination gets no posts until it is enabled again.",
    "removed": "The destination is removed; posts still waiting for it are cancelled.",
}


def _text(form: FormData, name: str, limit: int = 400) -> str:
    value = form.get(name)
    return value[:limit].strip() if isinstance(value, str) else ""


def _words(text: str) -> tuple[str, ...]:
    """Comma- or line-separated words, once each, in the order typed."""
    return tuple(dict.fromkeys(w.strip() for w in re.split(r"[,\n]", text) if w.strip()))


def _typed_topic(form: FormData, slug: str | None = None) -> dict[str, str]:
    return {
        "slug": slug if slug is not None else _text(form, "slug", 64).lower(),
        "name": _text(form, "name", 200),
        "description": _text(form, "description", 500),
        "keywords": _text(form, "keywords", 4000),
        "aliases": _text(form, "aliases", 1000),
    }


def _topic_of(typed: dict[str, str]) -> TopicRow:
    """The topic the form describes; TopicSettingProblem naming the first field that is wrong."""
    if not SLUG.match(typed["slug"]) or len(typed["slug"]) > MAX_SLUG:
        raise TopicSettingProblem(
            "slug", f"use lowercase letters and digits joined by '-', at most {MAX_SLUG} characters, e.g. 'city-hall'."
        )
    if not typed["name"]:
        raise TopicSettingProblem("name", "enter the name readers see (it is also the topic's hashtag).")
    keywords = _words(typed["keywords"])
    if not keywords:
        raise TopicSettingProblem("keywords", "enter at least one keyword: the tagger assigns the topic by them.")
    return TopicRow(typed["slug"], typed["name"], typed["description"], keywords, _words(typed["aliases"]))


def _form_of(topic: TopicRow) -> dict[str, str]:
    words = ", ".join
    return {
        "slug": topic.slug,
        "name": topic.name,
        "description": topic.description,
        "keywords": words(topic.keywords),
        "aliases": words(topic.aliases),
    }


def _answer(problem: TopicSettingProblem | None, done: str) -> dict[str, str | None]:
    """What every page here says above its forms: the field that was wrong and why, or what was just done."""
    error, field = (str(problem), problem.field) if problem else (None, None)
    return {"error": error, "error_field": field, "done": DONE.get(done)}


# -- topics ------------------------------------------------------------------------------------------------------


async def _topics_page(
    desk: DeskView,
    *,
    form: dict[str, str] | None = None,
    problem: TopicSettingProblem | None = None,
    done: str = "",
    status: int = 200,
) -> HTMLResponse:
    rows = await settings_of_topics.topic_rows(desk.newsroom)
    context = {
        "topics": rows,
        "followers": await settings_of_topics.follower_counts(desk.newsroom),
        "form": form or dict.fromkeys(("slug", "name", "description", "keywords", "aliases"), ""),
        **_answer(problem, done),
    }
    return desk.page("topics.html.j2", context, section=TOPICS, status=status)


@router.get(TOPICS, response_class=HTMLResponse)
async def topics_page(done: str = "", desk: DeskView = Depends(admin_view)) -> HTMLResponse:
    """Every topic with its followers, and the form that adds one."""
    return await _topics_page(desk, done=done)


@router.post(TOPICS, response_class=HTMLResponse)
async def add_topic(post: DeskPost = Depends(admin_post)) -> Response:
    typed = _typed_topic(post.form)
    try:
        await settings_of_topics.add_topic(post.newsroom, _topic_of(typed), actor=post.editor.actor)
    except TopicSettingProblem as problem:
        return await _topics_page(post, form=typed, problem=problem, status=422)
    return RedirectResponse(f"{TOPICS}/{typed['slug']}?done=added", status_code=303)


async def _topic_page(
    desk: DeskView,
    slug: str,
    *,
    form: dict[str, str] | None = None,
    problem: TopicSettingProblem | None = None,
    done: str = "",
    ask: str = "",
    status: int = 200,
) -> HTMLResponse:
    topic = next((row for row in await settings_of_topics.topic_rows(desk.newsroom) if row.slug == slug), None)
    context = {
        "topic": topic,
        "slug": slug,
        "form": form or (_form_of(topic) if topic else {}),
        "followers": await settings_of_topics.follower_count(desk.newsroom, slug),
        **_answer(problem, done),
        "ask_retire": ask == "retire",
    }
    return desk.page("topic.html.j2", context, section=TOPICS, status=status if topic else 404)


@router.get(TOPICS + "/{slug}", response_class=HTMLResponse)
async def topic_page(
    slug: str,
    done: str = "",
    ask: str = "",
    desk: DeskView = Depends(admin_view),
) -> HTMLResponse:
    """One topic: its form, and retire (asked first, naming its followers) or restore."""
    return await _topic_page(desk, slug, done=done, ask=ask)


@router.post(TOPICS + "/{slug}", response_class=HTMLResponse)
async def edit_topic(slug: str, post: DeskPost = Depends(admin_post)) -> Response:
    typed = _typed_topic(post.form, slug)
    try:
        await settings_of_topics.edit_topic(post.newsroom, _topic_of(typed), actor=post.editor.actor)
    except TopicSettingProblem as problem:
        return await _topic_page(post, slug, form=typed, problem=problem, status=422)
    return RedirectResponse(f"{TOPICS}/{slug}?done=changed", status_code=303)


async def _change_topic(
    post: DeskPost, slug: str, change: Callable[..., Awaitable[object]], done: str, refused: int
) -> Response:
    """Retire or restore: back to the topic's page saying so, or that page with why not (status *refused*)."""
    try:
        await change(post.newsroom, slug, actor=post.editor.actor)
    except TopicSettingProblem as problem:
        return await _topic_page(post, slug, problem=problem, status=refused)
    return RedirectResponse(f"{TOPICS}/{slug}?done={done}", status_code=303)


@router.post(TOPICS + "/{slug}/retire", response_class=HTMLResponse)
async def retire_topic(slug: str, post: DeskPost = Depends(admin_post)) -> Response:
    return await _change_topic(post, slug, settings_of_topics.retire_topic, "retired", 409)


@router.post(TOPICS + "/{slug}/restore", response_class=HTMLResponse)
async def restore_topic(slug: str, post: DeskPost = Depends(admin_post)) -> Response:
    return await _change_topic(post, slug, settings_of_topics.restore_topic, "restored", 404)


# -- social destinations -----------------------------------------------------------------------------------------


async def _social_page(
    desk: DeskView,
    *,
    form: dict[str, object] | None = None,
    problem: TopicSettingProblem | None = None,
    done: str = "",
    status: int = 200,
) -> HTMLResponse:
    context = {
        "destinations": await settings_of_topics.destination_rows(desk.newsroom),
        "topics": list(desk.newsroom.taxonomy),
        "form": form or {"target": "", "topics": []},
        **_answer(problem, done),
    }
    return desk.page("social.html.j2", context, section=SOCIAL, status=status)


@router.get(SOCIAL, response_class=HTMLResponse)
async def social_page(done: str = "", desk: DeskView = Depends(admin_view)) -> HTMLResponse:
    """Every social destination (named without its secrets) and its topics, and the form that adds one."""
    return await _social_page(desk, done=done)


@router.post(SOCIAL, response_class=HTMLResponse)
async def add_destination(post: DeskPost = Depends(admin_post)) -> Response:
    target = _text(post.form, "target", 2000)
    chosen = [slug for slug in post.form.getlist("topic") if isinstance(slug, str) and slug in post.newsroom.taxonomy]
    try:
        await settings_of_topics.add_destination(post.newsroom, target, chosen, actor=post.editor.actor)
    except TopicSettingProblem as problem:
        # The URL is not typed back into the page: it may hold a token, and the page may be cached or shared.
        form = {"target": "", "topics": chosen}
        return await _social_page(post, form=form, problem=problem, status=422)
    return RedirectResponse(f"{SOCIAL}?done=destination-added", status_code=303)


@router.post(SOCIAL + "/{action}", response_class=HTMLResponse)
async def change_destination(action: str, post: DeskPost = Depends(admin_post)) -> Response:
    """enable, disable or remove the destination named by the form's ``key``."""
    key, actor = _text(post.form, "key", 200), post.editor.actor
    try:
        if action in ("enable", "disable"):
            await settings_of_topics.set_destination_enabled(post.newsroom, key, action == "enable", actor=actor)
        elif action == "remove":
            await settings_of_topics.remove_destination(post.newsroom, key, actor=actor)
        else:
            raise TopicSettingProblem("action", f"{action[:20]!r} is not something a destination does.")
    except TopicSettingProblem as problem:
        return await _social_page(post, problem=problem, status=404)
    return RedirectResponse(f"{SOCIAL}?done={'removed' if action == 'remove' else action + 'd'}", status_code=303)
