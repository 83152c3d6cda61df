"""``newsbot demo``: the whole pipeline on embedded defaults, so a newcomer sees it work in one command.

A few sample readers (different topics, channels and cadences) are added, the sample story is ingested and
delivered to the file outboxes under the data directory (never to a live channel, even when credentials are
configured), and a page showing every rendered message is written. The story comes in through the same intake
as any other (:func:`bot.stories.intake.publish_story`), so ``newsbot audit`` lists it. A second run adds no
reader and queues and sends nothing; like any door's duplicate, the audit log notes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.app.newsroom import Newsroom
from bot.app.resources import sample_story_path
from bot.channels import build_channels, close_channels
from bot.outbox.worker import DeliveryWorker, DrainReport
from bot.rendering.gallery import write_gallery
from bot.stories.intake import IngestResult, prepare_for, publish_story
from bot.stories.parsing import read_story_file
from bot.topics.distribution import Distribution
from subscribers import deliveries, status
from subscribers import readers as readers_store
from subscribers.preferences import build_subscriber
from subscribers.schema import Cadence, ChannelName, DeliveryStatus

#: Who the audit log names for the demo's story.
DEMO_ACTOR = "demo"


@dataclass(frozen=True)
class SampleReader:
    who: str
    topics: tuple[str, ...]
    telegram_chat: str | None = None
    email: str | None = None
    confirmed: bool = True
    cadences: dict[ChannelName, Cadence] = field(default_factory=dict)


_INSTANT_EMAIL = {ChannelName.EMAIL: Cadence.INSTANT}

#: Who reads the Gazette in the demo: one line each, so who gets what is easy to check against the report.
# fmt: off
SAMPLE_READERS = (
    SampleReader("Telegram reader following North Korea", ("north-korea",), telegram_chat="100001"),
    SampleReader("Email reader following North Korea and world news, instant", ("north-korea", "world"),
                 email="korea.watcher@example.org", cadences=_INSTANT_EMAIL),
    SampleReader("Reader on Telegram and email following North Korea, email weekly", ("north-korea",),
                 telegram_chat="100003", email="weekly.reader@example.org"),
    SampleReader("Sports fan on Telegram and email", ("sports",),
                 telegram_chat="100002", email="sports.fan@example.org", cadences=_INSTANT_EMAIL),
    SampleReader("Email reader who has not confirmed yet", ("north-korea",),
                 email="not.confirmed@example.org", confirmed=False, cadences=_INSTANT_EMAIL),
)
# fmt: on


@dataclass
class DemoReport:
    ingest: IngestResult
    delivery: DrainReport
    lines: list[str]
    gallery: str

    def render(self) -> str:
        story = self.ingest.story
        head = [
            f"Story: {story.title}",
            f"  topics: {', '.join(story.topics)}",
            f"  summary: {story.summary}",
            "" if self.ingest.created else "  (already ingested by an earlier run: nothing new was queued or sent)",
            "Who got what:",
        ]
        tail = ["", f"Every rendered message: {self.gallery}"]
        return "\n".join([line for line in head if line] + self.lines + tail)


async def run_demo(newsroom: Newsroom) -> DemoReport:
    now = newsroom.clock.now()
    readers = [
        build_subscriber(
            newsroom.taxonomy,
            telegram_chat=r.telegram_chat,
            email=r.email,
            topics=r.topics,
            confirmed=r.confirmed,
            cadences=r.cadences,
        )
        for r in SAMPLE_READERS
    ]
    async with newsroom.engine.begin() as conn:
        await readers_store.add_subscribers(conn, readers, now)

    settings = newsroom.settings
    story = prepare_for(newsroom, read_story_file(sample_story_path(), settings.max_story_bytes), source="demo")
    # The door every story takes, so the demo's story is audited like any other; no social destinations, since
    # the demo never posts anywhere public.
    ingested = (await publish_story(newsroom, story, actor=DEMO_ACTOR, distribution=Distribution({}))).ingested
    channels = build_channels(settings, live=False)  # file outboxes only: the demo never messages a real reader
    try:
        delivery = await DeliveryWorker(newsroom, channels).drain()
    finally:
        await close_channels(channels)

    async with newsroom.reader.connect() as conn:
        records = {
            (r.channel, r.address): r
            for r in await status.list_deliveries(conn)
            if r.item_key == deliveries.story_item_key(story.id)
        }
    lines = []
    for sample, reader in zip(SAMPLE_READERS, readers, strict=True):
        lines.append(f"- {sample.who} (follows {', '.join(reader.topics)})")
        for address in reader.addresses:
            record = records.get((address.channel.value, address.address))
            if record is not None and record.status == DeliveryStatus.SENT:
                outcome = f"received it: {record.provider_id}"
            elif record is not None:
                outcome = f"{record.status}: {record.last_error or ''}".rstrip(": ")
            elif not set(reader.topics) & set(story.topics):
                outcome = "nothing: does not follow any of the story's topics"
            elif address.status.value == "pending":
                outcome = "nothing: waiting for double opt-in confirmation"
            elif address.cadence is Cadence.WEEKLY:
                outcome = "nothing now: gets it in the weekly digest"
            else:
                outcome = f"nothing (cadence {address.cadence.value})"
            lines.append(f"    {address.channel.value} {address.address}: {outcome}")
    gallery = write_gallery(newsroom.renderer.environment, settings.outbox_dir)
    return DemoReport(ingest=ingested, delivery=delivery, lines=lines, gallery=str(gallery))
