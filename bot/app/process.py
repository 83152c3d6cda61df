"""``newsbot run``: the one long-running process of a newsroom, everything in one asyncio loop.

- the web side: uvicorn serving ``create_app(newsroom)`` on ``NEWSBOT_WEB_HOST``:``NEWSBOT_WEB_PORT``;
- the Telegram bot: a python-telegram-bot Application run inside this loop (``async with``-style start and stop,
  as in PTB's custom webhook example), with long polling, or with a webhook route on the web side when
  ``NEWSBOT_WEBHOOK_URL`` is set;
- the background loops of `Service.loops`: the delivery worker, and whatever else is added there;
- the scheduler (weekly digest, :mod:`bot.app.scheduler`): with a bot, the Application's JobQueue, whose jobs are
  set up in :func:`schedule_jobs`; without one, a plain background loop (no Application is built).

Without ``NEWSBOT_TELEGRAM_TOKEN`` there is no bot, but the web side, the worker (writing chat messages to the file
outbox) and the scheduler run all the same.

Stopping (SIGINT, SIGTERM, or setting the ``stop`` event) takes things down in the order that loses nothing: no new
updates are fetched, the web side closes, updates already received are handled, running jobs end, each loop
finishes what it is on (the worker lets its sends in flight finish, up to 10 s, and records them, so nothing is sent
twice), and only then are connections closed.

What only some roles use (the web side, the Telegram bot and its handlers, the worker, the feed poller) is
imported where that part is built, once the store is open: a process pays only for its own parts, and a store that
cannot be opened is reported before FastAPI, uvicorn or the bot's handlers load.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bot.app import cpu_pool
from bot.app.config import Settings
from bot.app.errors import ConfigurationError, NewsbotError
from bot.app.garbage_collection import freeze_start_up_objects
from bot.app.loop_lag import LoopLagMonitor
from bot.app.metrics import watch_loop
from bot.app.newsroom import Newsroom
from bot.app.roles import Role
from bot.app.sending_checks import email_setup_warnings
from bot.app.store_access import open_newsroom
from bot.channels import Channel, EmailOutbox, TelegramOutbox, build_channels, close_channels
from bot.topics.topic_settings import refresh_loop as topic_refresh_loop

if TYPE_CHECKING:
    from bot.app.telegram_bot import NewsbotApplication
    from bot.app.web_serving import WebServer
    from bot.outbox.worker import DeliveryWorker

logger = logging.getLogger("newsbot")

#: A background loop: runs until the event is set, finishing the work it is on.
Loop = Callable[[asyncio.Event], Awaitable[None]]


DIGEST_JOB = "weekly-digest"


def schedule_jobs(application: NewsbotApplication, newsroom: Newsroom, worker: DeliveryWorker | None) -> None:
    """The scheduler's jobs (PTB's JobQueue): the digest queues deliveries, then wakes the worker to send them;
    the editor menus follow the desk accounts (:func:`bot.app.telegram_bot.refresh_editor_menus`).

    Each reader's digest covers their own local week: planning runs at start-up (a digest whose hour passed while
    newsbot was down still goes out), every :data:`~bot.app.scheduler.PLANNING_TICK`, and as any zone's week
    ends between two ticks. Planning is idempotent: readers who already have their last week's digest get nothing
    new. Each reader's rows wait for ``NEWSBOT_DIGEST_WEEKDAY`` ``NEWSBOT_DIGEST_TIME`` in their own zone.
    """
    from bot.app.scheduler import PLANNING_TICK, DigestPlanner, describe_schedule
    from bot.app.telegram_bot import EDITOR_MENU_SECONDS, refresh_editor_menus

    job_queue = application.job_queue
    assert job_queue is not None, "python-telegram-bot's job-queue extra is a dependency"
    planner = DigestPlanner(newsroom, worker)
    week_end_job = f"{DIGEST_JOB}-week-end"

    async def week_end(context: object) -> None:
        await planner.plan()

    async def weekly_digest(context: object) -> None:
        await planner.plan()
        seconds = planner.seconds_to_next()
        if seconds < PLANNING_TICK.total_seconds() and not job_queue.get_jobs_by_name(week_end_job):
            job_queue.run_once(week_end, seconds, name=week_end_job)

    async def editor_menus(context: object) -> None:
        await refresh_editor_menus(application)

    job_queue.run_repeating(editor_menus, EDITOR_MENU_SECONDS, first=EDITOR_MENU_SECONDS, name="editor-menus")
    job_queue.run_repeating(weekly_digest, PLANNING_TICK, first=PLANNING_TICK, name=DIGEST_JOB)
    job_queue.run_once(weekly_digest, 0, name=f"{DIGEST_JOB}-catch-up")  # a repeating job cannot start at once
    logger.info("weekly digest: %s", describe_schedule(newsroom.settings))


class Service:
    """Everything ``newsbot run`` runs; :meth:`run` serves until *stop* is set.

    While running, `newsroom`, `worker`, `application` and `web_url` are set and `ready` is set, so a test can
    drive the service in its own event loop.
    """

    def __init__(self, settings: Settings, role: Role = Role.ALL, *, freeze_heap: bool = False) -> None:
        self.settings = settings
        self.role = role
        #: Leave what start-up created out of the garbage collector's full passes (`bot.app.garbage_collection`):
        #: the process of ``newsbot run`` does; a test that runs the service inside the test process does not.
        self.freeze_heap = freeze_heap
        self.ready = asyncio.Event()
        self.web_url = ""
        self.newsroom: Newsroom | None = None
        self.worker: DeliveryWorker | None = None
        self.application: NewsbotApplication | None = None

    def loops(self, newsroom: Newsroom, channels: dict[str, Channel], worker: DeliveryWorker | None) -> dict[str, Loop]:
        """The background loops of this process's role, by name; each one gets the stop event."""
        monitor = LoopLagMonitor()
        watch_loop(monitor)  # every role: the lag /metrics reports is this process's own
        # Every process follows the topics and social destinations admins change on the desk.
        loops: dict[str, Loop] = {"topics": lambda stop: topic_refresh_loop(newsroom, stop), "loop lag": monitor.run}
        if worker is not None:
            from bot.outbox.social import SocialPoster
            from bot.rendering.gallery import keep_gallery_fresh, writes_to_files

            # Posts to outlet channels and other networks, under the worker's lease: one registration per process.
            social = SocialPoster(newsroom, channels["telegram"], clock=worker.clock, lease=worker.lease)
            newsroom.published_listeners += [worker.wake, social.wake]
            loops |= {"delivery": worker.run, "social": social.run}
            if writes_to_files(channels):  # the outbox preview shows what the worker just wrote
                loops["outbox preview"] = lambda stop: keep_gallery_fresh(
                    newsroom.renderer.environment, newsroom.settings.outbox_dir, stop
                )
        if Role.BOT in self.role.parts:  # one poller per deployment, beside the scheduler
            from bot.stories.embargo import top_up_loop
            from bot.stories.feeds import FeedPoller

            loops["feeds"] = FeedPoller(newsroom).run
            # Embargoes that lift reach the readers who followed their topics since the story was planned.
            loops["embargoes"] = lambda stop: top_up_loop(newsroom, stop)
        return loops

    async def run(self, stop: asyncio.Event) -> None:
        settings = self.settings
        parts = self.role.parts
        bot_live = Role.BOT in parts and bool(settings.telegram_token)
        webhook = bot_live and bool(settings.webhook_url)
        serve_web = Role.WEB in parts or webhook  # a webhook needs the web side to receive updates
        sock = listen(settings.web_host, settings.web_port) if serve_web else None
        newsroom = channels = application = server = None
        tasks: dict[str, asyncio.Task[Any]] = {}
        try:
            newsroom = self.newsroom = await open_newsroom(settings)
            logger.info("%s", newsroom.secret.description)
            for warning in email_setup_warnings(settings):
                logger.warning("%s", warning)
            # The worker sends through its own rate-limited bot (build_channels), not the Application's: replies to
            # readers must never queue behind a broadcast of thousands of messages.
            channels = build_channels(settings)
            worker = None
            if Role.WORKER in parts:
                from bot.outbox.worker import DeliveryWorker

                worker = self.worker = DeliveryWorker(newsroom, channels, clock=newsroom.clock)
            if bot_live:
                from bot.app.telegram_bot import build_application

                application = self.application = build_application(
                    newsroom, email_channel=channels.get("email"), polling=not webhook
                )
                schedule_jobs(application, newsroom, worker)
            self._log_channels(channels)
            if bot_live:
                await start_bot(application, settings, webhook=webhook, signing_key=newsroom.secret.value)
            if serve_web:
                from bot.app.web_serving import web_server

                server = web_server(newsroom, channels, application if webhook else None)
                tasks["web"] = asyncio.create_task(server.serve(sockets=[sock]), name="web")
                await _started(server, tasks["web"])
            if self.freeze_heap:  # built: from here on the long-lived objects are all there
                logger.debug("%d start-up objects left out of full collections", freeze_start_up_objects())
            loops = self.loops(newsroom, channels, worker)
            if Role.BOT in parts and application is None:  # no bot: the digest is scheduled without PTB
                from bot.app.scheduler import describe_schedule, digest_loop

                loops["scheduler"] = lambda stop: digest_loop(newsroom, worker, stop)
                logger.info("weekly digest: %s", describe_schedule(settings))
            for name, loop in loops.items():
                tasks[name] = asyncio.create_task(loop(stop), name=name)
            if serve_web:
                host, port = sock.getsockname()[:2]
                self.web_url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
                logger.info("web side on %s (GET /healthz)", self.web_url)
            running = [*tasks, *(["bot"] if bot_live else []), *(["scheduler"] if application is not None else [])]
            logger.info("running: %s (role %s); Ctrl+C or SIGTERM stops", ", ".join(running), self.role)
            self.ready.set()
            await _until_stopped_or_failed(stop, tasks)
        finally:
            stop.set()
            await self._shut_down(application, server, tasks, bot_live)
            if sock is not None:
                sock.close()
            if channels is not None:
                await close_channels(channels)
            if newsroom is not None:
                await newsroom.close()
            await asyncio.to_thread(cpu_pool.shut_down)  # the parsing processes, if any were started
            if self.ready.is_set():  # a start that failed is reported as its one error line, nothing more
                logger.info("stopped")
        for name, task in tasks.items():
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise NewsbotError(f"the {name} loop failed: {task.exception()}") from task.exception()

    async def _shut_down(
        self,
        application: NewsbotApplication | None,
        server: WebServer | None,
        tasks: dict[str, asyncio.Task[Any]],
        bot_live: bool,
    ) -> None:
        if application is not None and application.updater is not None and application.updater.running:
            await application.updater.stop()
        web = tasks.pop("web", None)
        if server is not None and web is not None:
            server.should_exit = True
            await asyncio.gather(web, return_exceptions=True)
            tasks["web"] = web
        if application is not None:
            if application.running:
                await application.stop()  # handles updates already received; waits for running jobs
            elif application.job_queue is not None and application.job_queue.scheduler.running:
                await application.job_queue.stop()
        await asyncio.gather(*(task for name, task in tasks.items() if name != "web"), return_exceptions=True)
        if application is not None and bot_live:
            await application.shutdown()

    def _log_channels(self, channels: dict[str, Channel]) -> None:
        for name, channel in channels.items():
            description = getattr(channel, "description", name)
            if name == "telegram" and not self.settings.telegram_token:
                logger.info("NEWSBOT_TELEGRAM_TOKEN is not set: no Telegram bot; %s", description)
            elif isinstance(channel, TelegramOutbox | EmailOutbox):
                logger.info("channel %s (nothing is sent)", description)
            else:
                logger.info("channel %s (live)", description)


async def start_bot(
    application: NewsbotApplication, settings: Settings, *, webhook: bool, signing_key: str | None = None
) -> None:
    """Check the token (getMe), publish the command menu, start handling updates and start fetching them.

    A webhook's secret token is derived from *signing_key*, the newsroom's signing secret.
    """
    from telegram.error import InvalidToken, NetworkError

    from bot.app.telegram_bot import ALLOWED_UPDATES, register_commands

    try:
        await application.initialize()
    except InvalidToken:
        raise ConfigurationError("NEWSBOT_TELEGRAM_TOKEN: the Bot API refused the token") from None
    except NetworkError as exc:
        raise NewsbotError(f"cannot reach the Bot API at {settings.telegram_api_url}: {exc.message}") from None
    await register_commands(application)
    await application.start()
    username = application.bot.username
    if webhook:
        from bot.web.telegram_webhook import webhook_secret

        await application.bot.set_webhook(
            settings.webhook_url, secret_token=webhook_secret(settings, signing_key), allowed_updates=ALLOWED_UPDATES
        )
        logger.info("telegram bot @%s: updates arrive by webhook at %s", username, settings.webhook_url)
    else:
        assert application.updater is not None
        await application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        logger.info("telegram bot @%s: long polling for updates", username)


def listen(host: str, port: int) -> socket.socket:
    """The web side's listening socket, bound before anything starts so that a taken port stops us at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=1024)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} (set NEWSBOT_WEB_HOST and NEWSBOT_WEB_PORT)"
        ) from None


async def _started(server: WebServer, task: asyncio.Task[Any]) -> None:
    while not server.started:
        if task.done():
            with contextlib.suppress(SystemExit):  # uvicorn exits the process when the app's start-up fails
                task.result()
            raise NewsbotError("the web app failed to start (see the log above)")
        await asyncio.sleep(0.01)


async def _until_stopped_or_failed(stop: asyncio.Event, tasks: dict[str, asyncio.Task[Any]]) -> None:
    """Return when *stop* is set, or when a task ends on its own (a loop that crashed stops the service)."""
    stopping = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait([stopping, *tasks.values()], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    for name, task in tasks.items():
        if task in done and not stop.is_set():
            error = None if task.cancelled() else task.exception()
            logger.error("the %s loop ended unexpectedly: %r; stopping", name, error)


async def serve_until_signalled(settings: Settings, role: Role = Role.ALL) -> None:
    """Run the service until SIGINT or SIGTERM; a second signal while stopping is only acknowledged."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            logger.info("already stopping; in-flight sends are being recorded")
            return
        logger.info("%s received: stopping gracefully", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await Service(settings, role, freeze_heap=True).run(stop)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
