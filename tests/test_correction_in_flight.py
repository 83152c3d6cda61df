"""A copy that was in a worker's hands when the story was corrected: it went out with the old text, so it is
edited too, once it is recorded as sent."""

from __future__ import annotations

import asyncio

from bot.app.newsroom import Newsroom
from bot.channels import Channel, OutgoingMessage, Receipt
from bot.outbox.worker import DeliveryWorker
from bot.stories.corrections import correct_story
from tests.fakes import FakeBotAPI
from tests.newsroom_fixtures import add_reader
from tests.test_story_corrections import FIXED, draft, publish, sent_ids


class HeldChannel:
    """The real Telegram channel, holding the first send until the test lets it go: a copy in flight."""

    def __init__(self, inner: Channel) -> None:
        self.name = inner.name
        self._inner = inner
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def send(self, message: OutgoingMessage) -> Receipt:
        if not self.holding.is_set():
            self.holding.set()
            await self.release.wait()
        return await self._inner.send(message)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_a_copy_sent_after_the_correction_from_the_old_text_is_edited_too(
    live: tuple[Newsroom, DeliveryWorker], bot_api: FakeBotAPI
) -> None:
    newsroom, worker = live
    await add_reader(newsroom, "local", telegram_chat="601")
    held = HeldChannel(worker.channels["telegram"])
    in_flight = DeliveryWorker(newsroom, {**worker.channels, "telegram": held})
    story = await publish(newsroom)
    sending = asyncio.create_task(in_flight.drain())
    await held.holding.wait()  # rendered from version 1, not yet sent

    report = await correct_story(newsroom, story.id, draft(FIXED), note="21 million, not 12.", actor="cli")
    assert report.edits == 0  # nothing was sent yet when the correction came
    held.release.set()
    await sending  # the drain also sends the edit queued when the old copy was recorded

    (sent_message,) = bot_api.calls_to("sendMessage")
    assert "12 million" in sent_message["text"]
    (sent,) = (await sent_ids(newsroom, f"story:{story.id}")).values()
    (edit,) = bot_api.calls_to("editMessageText")
    assert (edit["chat_id"], str(edit["message_id"])) == (601, sent)
    assert "21 million" in (bot_api.text_of(601, int(sent)) or "")
