"""What the ``/correct``, ``/update`` and ``/retract`` panels say, and their buttons.

Each confirmation names its reach before anything happens (how many Telegram copies an edit or a deletion
touches, who a notice would reach); the answer after the action says what the service did. Callback data carries
the action's nonce, as the draft panel's does:

``sl:<nonce>:pick:<i>``  the i-th story of the list      ``sl:<nonce>:nonote``  no note
``sl:<nonce>:correct`` / ``notify`` / ``retract`` / ``cancel``
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.rendering.reply_limits import shorten
from bot.stories.corrections import CorrectionReport
from bot.stories.retraction import RetractionReport
from bot.stories.story import Story
from subscribers.stories import RecentStory
from subscribers.story_reach import StoryReach

LIFE_PATTERN = r"^sl:[0-9a-f]+:(pick:\d+|nonote|correct|notify|retract|cancel)$"
PICK_TITLE_CHARS = 48
CLOSED = "This panel is closed. Start again with /correct, /update or /retract."
NOTHING_CHANGED = "Cancelled: nothing was changed."


def callback(nonce: str, action: str) -> str:
    return f"sl:{nonce}:{action}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def copies(n: int) -> str:
    return f"{n} Telegram cop{'y' if n == 1 else 'ies'}"


def by_channel(counts: dict[str, int]) -> str:
    return ", ".join(f"{channel} {n}" for channel, n in counts.items() if n) or "nobody"


def pick_keyboard(nonce: str, recent: Sequence[RecentStory]) -> InlineKeyboardMarkup:
    """The latest stories, one button each (newest first)."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    ("🔴 " if story.breaking else "") + shorten(story.title, PICK_TITLE_CHARS),
                    callback_data=callback(nonce, f"pick:{index}"),
                )
            ]
            for index, story in enumerate(recent)
        ]
        + [[InlineKeyboardButton("Cancel", callback_data=callback(nonce, "cancel"))]]
    )


def note_keyboard(nonce: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("No note", callback_data=callback(nonce, "nonote"))]])


def correction_text(story: Story, reach: StoryReach, note: str | None) -> str:
    """The correction's confirmation, under the preview of the corrected copy."""
    emails = reach.sent.get("email", 0)
    lines = [
        f"<b>Correction</b> of “{html.escape(story.title)}” (version {story.version} → {story.version + 1}): the "
        "message above is the corrected copy.",
        f"Note: {html.escape(note)}" if note else "Note: none (send one as a message to add it).",
        f"Correct edits {copies(reach.telegram_copies)} in readers' chats in place.",
    ]
    if emails:
        lines.append(f"Emails cannot change: {plural(emails, 'reader')} got it by email.")
    lines.append(
        f"Correct and notify also sends a short notice to the {plural(reach.readers, 'reader')} who got it "
        f"({by_channel(reach.sent)}), and to no one else."
    )
    return "\n".join(lines)


def correction_keyboard(nonce: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("✅ Correct", callback_data=callback(nonce, "correct")),
                InlineKeyboardButton("📣 Correct and notify", callback_data=callback(nonce, "notify")),
            ],
            [InlineKeyboardButton("Cancel", callback_data=callback(nonce, "cancel"))],
        ]
    )


def correction_done(report: CorrectionReport) -> str:
    if not report.changed:
        return "Nothing changed: the story already has this text and note."
    text = (
        f"✅ Corrected: “{html.escape(report.story.title)}” is version {report.story.version}; "
        f"{copies(report.edits)} queued for an edit in place"
    )
    if report.channel_edits:
        text += f", {plural(report.channel_edits, 'channel post')}"
    if report.total_notices:
        text += f"; a correction notice to {plural(report.total_notices, 'reader')} ({by_channel(report.notices)})"
    return text + "."


def retraction_text(story: Story, reach: StoryReach, note: str | None) -> str:
    """The retraction's confirmation: what will be deleted, replaced and cancelled."""
    return "\n".join(
        [
            f"<b>Retract</b> “{html.escape(story.title)}”?",
            f"This deletes {copies(reach.telegram_recent)} younger than 48 h, "
            f"replaces {reach.telegram_older} older one{'' if reach.telegram_older == 1 else 's'} with a withdrawal "
            f"notice, and cancels {reach.waiting} queued. Emails cannot be taken back.",
            f"Note: {html.escape(note)}" if note else "Note: none (send one as a message for the withdrawal notice).",
        ]
    )


def retraction_keyboard(nonce: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("🗑 Retract", callback_data=callback(nonce, "retract")),
                InlineKeyboardButton("Cancel", callback_data=callback(nonce, "cancel")),
            ]
        ]
    )


def retraction_done(report: RetractionReport) -> str:
    if not report.retracted:
        return f"Already retracted: “{html.escape(report.story.title)}”; nothing changed."
    return (
        f"🗑 Retracted “{html.escape(report.story.title)}”: {report.deleted} deleted, {report.withdrawn} replaced by "
        f"the withdrawal notice, {report.cancelled_deliveries} queued cancelled. Emails cannot be taken back."
    )
