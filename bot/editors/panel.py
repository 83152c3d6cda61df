"""The review panel under an editor's preview: its text, its buttons and the callback data behind them.

Every button carries the draft's nonce, so a button of an older panel can never act on the current draft:

``ed:<nonce>:t:<i>``  toggle the panel's i-th topic       ``ed:<nonce>:a:<i>``  toggle the taxonomy's i-th topic
``ed:<nonce>:p:<n>``  show page n of all topics ("More topics")   ``ed:<nonce>:back``  back to the panel's buttons
``ed:<nonce>:title``  the next message is the headline     ``ed:<nonce>:replace`` / ``keep``  answer "replace?"
``ed:<nonce>:send`` / ``cancel``                            ``ed:<nonce>:stop`` / ``resume``  the sent draft's send
``ed:<nonce>:sched`` / ``at:<choice>``  when it goes out (`bot.editors.schedule_panel`)
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.editors.drafts import PendingStory
from bot.rendering.reply_limits import summarise
from bot.topics.taxonomy import Taxonomy

CALLBACK_PATTERN = r"^ed:[0-9a-f]+:(t:\d+|a:\d+|p:\d+|back|title|replace|keep|send|cancel|stop|resume|sched|at:\w+)$"
TOPICS_PER_ROW = 2
TOPICS_PER_PAGE = 8
CHECKED, UNCHECKED = "✅ ", "⬜ "


def callback(pending: PendingStory | str, action: str) -> str:
    nonce = pending if isinstance(pending, str) else pending.nonce
    return f"ed:{nonce}:{action}"


def topic_name(taxonomy: Taxonomy, slug: str) -> str:
    return taxonomy[slug].name if slug in taxonomy else slug


def topic_names(taxonomy: Taxonomy, slugs: Sequence[str]) -> str:
    return ", ".join(summarise([topic_name(taxonomy, slug) for slug in slugs]))


def panel_text(pending: PendingStory, taxonomy: Taxonomy, social: Sequence[str], schedule: str | None = None) -> str:
    """What the panel says: kind, topics, readers now, social destinations, schedule, and every warning."""
    story = pending.current()
    total = sum(pending.recipients.values())
    kind = "🔴 Breaking push" if story.breaking else "Story"
    counts = ", ".join(f"{channel} {n}" for channel, n in pending.recipients.items())
    lines = [
        f"<b>{kind}</b>: the message above is exactly what readers will get.",
        f"Headline: {html.escape(story.title)}" + (" <i>(derived from the lead)</i>" if story.headline_derived else ""),
        f"Topics: {html.escape(topic_names(taxonomy, story.topics)) or 'none'}",
        f"Readers now: {counts} (total {total})",
    ]
    if social:
        lines.append("Social: " + html.escape(", ".join(summarise(list(social)))))
    if pending.follow_up is not None:
        follow_up = pending.follow_up
        lines.append(
            f"↪️ Follow-up to “{html.escape(follow_up.title)}”: it also reaches the {follow_up.readers} reader"
            f"{'' if follow_up.readers == 1 else 's'} who got that story, as a reply to their copy, plus the "
            "followers of its topics."
        )
    if schedule:
        lines.append(schedule)
    if pending.already_published:
        lines.append("⚠️ This story was already published; sending it again reaches nobody.")
    if not story.topics and pending.follow_up is None:
        lines.append("⚠️ No topic: nobody would receive this story. Tap a topic or More topics to choose one.")
    elif story.breaking and total == 0 and not pending.already_published:
        topics = html.escape(topic_names(taxonomy, story.topics))
        lines.append(f"⚠️ This breaking push reaches nobody: no reader follows {topics}.")
    if pending.awaiting_headline:
        lines.append("✏️ Send the new headline as your next message.")
    lines.append("Tap a topic to add or remove it. Nothing goes out until you press Send.")
    return "\n".join(lines)


def panel_keyboard(
    pending: PendingStory, taxonomy: Taxonomy, schedule: Sequence[list[InlineKeyboardButton]] = ()
) -> InlineKeyboardMarkup:
    """The panel's buttons: the offered topics, a page of all topics, or the *schedule* choices, then the
    draft's actions."""
    if pending.choosing_time and schedule:
        return InlineKeyboardMarkup([*schedule, _send_row(pending)])
    if pending.topic_page is not None:
        return _topic_page(pending, taxonomy, pending.topic_page)
    buttons = [
        InlineKeyboardButton(
            (CHECKED if slug in pending.selected else UNCHECKED) + topic_name(taxonomy, slug),
            callback_data=callback(pending, f"t:{index}"),
        )
        for index, slug in enumerate(pending.candidates)
    ]
    rows = [buttons[i : i + TOPICS_PER_ROW] for i in range(0, len(buttons), TOPICS_PER_ROW)]
    rows.append(
        [
            InlineKeyboardButton("➕ More topics", callback_data=callback(pending, "p:0")),
            InlineKeyboardButton("✏️ Headline", callback_data=callback(pending, "title")),
            InlineKeyboardButton("🕒 Schedule", callback_data=callback(pending, "sched")),
        ]
    )
    rows.append(_send_row(pending))
    return InlineKeyboardMarkup(rows)


def page_count(taxonomy: Taxonomy) -> int:
    return max(1, math.ceil(len(taxonomy) / TOPICS_PER_PAGE))


def page_of(taxonomy: Taxonomy, slug: str) -> int:
    return taxonomy.slugs.index(slug) // TOPICS_PER_PAGE if slug in taxonomy else 0


def _topic_page(pending: PendingStory, taxonomy: Taxonomy, page: int) -> InlineKeyboardMarkup:
    """One page of every taxonomy topic, a check mark on those chosen, page navigation and Back."""
    pages = page_count(taxonomy)
    page = min(max(page, 0), pages - 1)
    first = page * TOPICS_PER_PAGE
    buttons = [
        InlineKeyboardButton(
            (CHECKED if topic.slug in pending.selected else UNCHECKED) + topic.name,
            callback_data=callback(pending, f"a:{first + offset}"),
        )
        for offset, topic in enumerate(list(taxonomy)[first : first + TOPICS_PER_PAGE])
    ]
    rows = [buttons[i : i + TOPICS_PER_ROW] for i in range(0, len(buttons), TOPICS_PER_ROW)]
    navigation = []
    if page > 0:
        navigation.append(InlineKeyboardButton("‹ Back", callback_data=callback(pending, f"p:{page - 1}")))
    if page < pages - 1:
        navigation.append(InlineKeyboardButton("More ›", callback_data=callback(pending, f"p:{page + 1}")))
    if navigation:
        rows.append(navigation)
    rows.append([InlineKeyboardButton("↩ Done choosing topics", callback_data=callback(pending, "back"))])
    rows.append(_send_row(pending))
    return InlineKeyboardMarkup(rows)


def _send_row(pending: PendingStory) -> list[InlineKeyboardButton]:
    total = sum(pending.recipients.values())
    return [
        InlineKeyboardButton(
            f"Send to {total} reader{'' if total == 1 else 's'}", callback_data=callback(pending, "send")
        ),
        InlineKeyboardButton("Cancel", callback_data=callback(pending, "cancel")),
    ]


def replace_question(pending: PendingStory) -> tuple[str, InlineKeyboardMarkup]:
    """Asked when text arrives while a panel is open: replace the draft with it, or keep the draft."""
    text = (
        f"A draft is open (“{html.escape(pending.story.title)}”). Replace it with the text you just sent, or keep "
        "the draft and drop that text?"
    )
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Replace the draft", callback_data=callback(pending, "replace")),
                InlineKeyboardButton("Keep the draft", callback_data=callback(pending, "keep")),
            ]
        ]
    )
    return text, keyboard


def progress_line(counts: Mapping[str, Mapping[str, int]]) -> tuple[str, bool]:
    """ "Sent N of M" for a story's deliveries (per channel and status), and whether none is still to go."""
    by_status: dict[str, int] = {}
    for statuses in counts.values():
        for status, n in statuses.items():
            by_status[status] = by_status.get(status, 0) + n
    total = sum(by_status.values())
    sent = by_status.get("sent", 0)
    line = f"Progress: sent {sent} of {total}"
    for status in ("failed", "stopped", "cancelled"):
        if by_status.get(status):
            line += f", {by_status[status]} {status}"
    done = not (by_status.get("pending", 0) or by_status.get("sending", 0))
    return line + (" (done)." if done else "…"), done


async def edit_message(message: Message, text: str, keyboard: InlineKeyboardMarkup | None) -> Message:
    """Edit a message the bot sent (text and buttons); an edit that changes nothing is not an error."""
    try:
        edited = await message.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
    except BadRequest as exc:
        if "not modified" in exc.message.lower():
            return message
        raise
    return edited if isinstance(edited, Message) else message
