"""Social posts: each story also goes to the outlet's Telegram channels and to other networks via Apprise.

Which topic goes where is `bot.topics.distribution`; the text each network gets is `bot.rendering.social_posts`.
When a story is ingested, :func:`queue_social_posts` queues one post per destination (idempotent per story and
destination, in the ``social_posts`` table). :class:`SocialPoster` sends them apart from subscriber delivery, so a
slow or failing network never holds up readers: each post is sent on its own, and its outcome written as it comes.

Claims, crash recovery and retries follow the delivery worker's rules: a poster claims under a lease in the
``workers`` registry (`bot.outbox.worker_lease`; shared with the delivery worker when both run in one process),
so a dead poster's posts go back to the queue exactly when a dead worker's deliveries do, and a temporary failure
is retried on the schedule of `bot.outbox.retry_policy` until ``NEWSBOT_MAX_ATTEMPTS``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.app.clock import Clock
from bot.app.newsroom import Newsroom
from bot.channels import Channel, DeliveryFailed, TemporaryFailure
from bot.channels.apprise import notify
from bot.channels.telegram_rate_limit import SendWithdrawn, still_wanted
from bot.languages.catalogs import outlet_language
from bot.outbox.change_messages import social_change_message
from bot.outbox.halted_stories import HaltedStories
from bot.outbox.retry_policy import RetryPolicy
from bot.outbox.story_messages import telegram_story
from bot.outbox.worker_lease import WorkerLease
from bot.rendering.social_posts import compose_post
from bot.stories.story import Story
from bot.topics.distribution import Destination, Distribution
from subscribers import social_post_claims, social_posts, stories, story_states
from subscribers.deliveries import embargo_not_before
from subscribers.schema import DeliveryStatus

log = logging.getLogger(__name__)

#: Longest a single post may take before it counts as a temporary failure.
POST_TIMEOUT = 60.0


# --- queuing -----------------------------------------------------------------------------------------------


async def queue_social_posts(conn: AsyncConnection, distribution: Distribution, story: Story, now: datetime) -> int:
    """Queue the story for each destination of its topics; queuing twice adds nothing. Returns posts queued.

    An embargoed story's posts wait until its ``publish_at``, as its deliveries do.
    """
    keys = [destination.key for destination in distribution.for_story(story)]
    not_before = embargo_not_before(story.publish_at, now)
    return await social_posts.queue_social_posts(conn, story.id, keys, now, not_before=not_before)


# --- sending -----------------------------------------------------------------------------------------------


@dataclass
class PostingReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    cancelled: int = 0
    stopped: int = 0


class SocialPoster:
    """Sends queued social posts: Telegram channels through the Telegram channel, the rest through Apprise.

    Runs beside the delivery worker (``run``, holding *lease*, the worker's own when given), or once over what is
    due (``drain``, used by tests and the CLI). *clock* (default: the newsroom's) decides retry times and waits.
    """

    def __init__(
        self,
        newsroom: Newsroom,
        telegram: Channel,
        distribution: Distribution | None = None,
        *,
        batch_size: int = 20,
        clock: Clock | None = None,
        lease: WorkerLease | None = None,
    ) -> None:
        self.newsroom = newsroom
        self.telegram = telegram
        self._distribution = distribution
        self.batch_size = batch_size
        self.clock: Clock = clock or newsroom.clock
        self.lease = lease or WorkerLease(newsroom, self.clock)
        self.policy = RetryPolicy.from_settings(newsroom.settings)
        self._wake = asyncio.Event()
        #: Stories an editor stopped or retracted: their posts are held back right before they would go out.
        self.halted = HaltedStories(newsroom, self.clock)

    @property
    def distribution(self) -> Distribution:
        """The one handed in (a test's), else the newsroom's now: the desk may have changed it since the start."""
        return self._distribution if self._distribution is not None else self.newsroom.distribution

    def wake(self) -> None:
        """A post was queued: a sleeping :meth:`run` looks now rather than at its next poll."""
        self._wake.set()

    async def _run_batch(self) -> PostingReport:
        """Claim due posts under the lease, send them concurrently (each bounded by a timeout), record each
        outcome."""
        report = PostingReport()
        async with self.newsroom.engine.begin() as conn:
            claimed = await social_posts.claim_due_social_posts(conn, self.batch_size, self.clock.now())
            await social_post_claims.hold_social_posts(conn, [item.id for item in claimed], self.lease.worker_id)
        if claimed:
            await asyncio.gather(*(self._post(item, report) for item in claimed))
        return report

    async def drain(self) -> PostingReport:
        """Send everything due now; posts waiting for a later retry stay queued."""
        async with self.lease.held():
            return await self._drain()

    async def _drain(self) -> PostingReport:
        total = PostingReport()
        while True:
            report = await self._run_batch()
            done = report.sent + report.retrying + report.failed + report.cancelled + report.stopped
            if not done:
                return total
            total.stopped += report.stopped
            total.sent += report.sent
            total.retrying += report.retrying
            total.failed += report.failed
            total.cancelled += report.cancelled

    async def run(self, stop: asyncio.Event, *, poll_interval: float = 5.0) -> None:
        """Post until *stop* is set, sleeping until the next retry, a :meth:`wake` or *poll_interval*."""
        async with self.lease.held():
            while not stop.is_set():
                report = await self._run_batch()
                if report.sent + report.retrying + report.failed + report.cancelled + report.stopped:
                    continue
                self._wake.clear()
                async with self.newsroom.reader.connect() as conn:
                    next_due = await social_posts.next_social_retry_time(conn)
                timeout = poll_interval
                if next_due is not None:
                    timeout = min(poll_interval, max(0.0, (next_due - self.clock.now()).total_seconds()))
                await self._sleep(stop, timeout)

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        """Wait *seconds* on the clock, or until a stop or a :meth:`wake`; never less than a moment, so a post due
        but held by another worker is not polled in a spin."""
        waiters = [
            asyncio.ensure_future(self.clock.sleep(max(seconds, 0.05))),
            asyncio.ensure_future(stop.wait()),
            asyncio.ensure_future(self._wake.wait()),
        ]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _post(self, item: social_posts.ClaimedSocialPost, report: PostingReport) -> None:
        destination = self.distribution.destinations.get(item.destination)
        async with self.newsroom.reader.connect() as conn:
            story = await stories.load_story(conn, item.story_id, Story)
        status, error, provider_id, retry_at = DeliveryStatus.SENT, None, None, None
        why = await self.halted.why_halted(item.story_id) if item.kind == story_states.POST_KIND else None
        if destination is None or story is None:
            status, error = DeliveryStatus.CANCELLED, "destination no longer configured" if story else "story gone"
        elif why is not None:
            status, error = _halted(why)
        else:
            token = still_wanted.set(
                functools.partial(self.halted.may_send, item.story_id) if item.kind == story_states.POST_KIND else None
            )
            try:
                provider_id = await asyncio.wait_for(self._send(item, destination, story), POST_TIMEOUT)
            except SendWithdrawn:  # stopped while it waited in the rate limiter: it never went out
                status, error = _halted(await self.halted.why_halted(item.story_id) or story_states.STOPPED)
            except (TimeoutError, DeliveryFailed) as exc:
                failure = exc if isinstance(exc, DeliveryFailed) else TemporaryFailure("timed out")
                error = f"{destination.label}: {failure.reason}"
                attempts = item.attempts + 1
                if isinstance(failure, TemporaryFailure) and not self.policy.gives_up(attempts):
                    status = DeliveryStatus.PENDING
                    retry_at = self.policy.next_try(self.clock.now(), attempts, failure.retry_after)
                    log.warning("social post %s to %s failed, retrying: %s", item.id, destination.label, error)
                else:
                    status = DeliveryStatus.FAILED
                    log.error("social post %s to %s failed for good: %s", item.id, destination.label, error)
            finally:
                still_wanted.reset(token)
        async with self.newsroom.engine.begin() as conn:
            await social_posts.record_social_post(
                conn, item.id, status, self.clock.now(), error=error, provider_id=provider_id, retry_at=retry_at
            )
        if status is DeliveryStatus.SENT:
            report.sent += 1
        elif status is DeliveryStatus.STOPPED:
            report.stopped += 1
        elif status is DeliveryStatus.PENDING:
            report.retrying += 1
        elif status is DeliveryStatus.FAILED:
            report.failed += 1
        else:
            report.cancelled += 1

    async def _send(self, item: social_posts.ClaimedSocialPost, destination: Destination, story: Story) -> str | None:
        if destination.kind == "telegram":
            key, target = f"social-{item.id}", destination.target
            message = await social_change_message(self.newsroom, item.id, story, key=key, address=target)
            if message is None:  # an ordinary post, not an edit or deletion of one
                # A channel's members are nobody's subscribers: Read more, but no Unfollow or Settings; and they
                # read the outlet's language.
                language = outlet_language(self.newsroom.settings)
                message = telegram_story(self.newsroom, story, reader_buttons=False, language=language).message(
                    key, target
                )
            receipt = await self.telegram.send(message)
            return receipt.provider_id
        topics = [self.newsroom.taxonomy[slug] for slug in story.topics if slug in self.newsroom.taxonomy]
        text = compose_post(story, topics, body_limit=destination.body_limit, title_limit=destination.title_limit)
        await notify(destination.target, title=text.title, body=text.body)
        return None


def _halted(why: str) -> tuple[DeliveryStatus, str]:
    """A post of a halted story: stopped (resume posts it), or cancelled for a retracted one."""
    if why == story_states.RETRACTED:
        return DeliveryStatus.CANCELLED, "its story was retracted"
    return DeliveryStatus.STOPPED, "its story was stopped by an editor"


__all__ = ["PostingReport", "SocialPoster", "queue_social_posts"]
