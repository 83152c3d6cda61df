"""CPU-bound work off the event loop: a process pool for the pure-Python parsing a story or a feed needs.

``feedparser.parse`` of a 5 MB feed takes 0.5-1.4 s and story preparation (pysbd, the tagger, HTML cleaning)
11-47 ms a story. On the shared loop that stalls every send, reply and page for as long. A thread does not help:
those libraries are pure Python and hold the GIL between switch intervals, so the loop still waits behind them and
the senders lose half their CPU. A process has its own interpreter and, on a machine with a spare core, its own
core; only the inputs and the results cross, pickled (by the pool's own threads, not the loop).

Two pools per process, by lane, each created on first use and shared by every newsroom in it (tests open many;
starting an interpreter costs about a second, once): ``stories`` for the story a door prepares while an editor
or a CMS waits, ``feeds`` (one process) for the seconds-long feed parses, so a story never queues behind one.

Functions sent here are module-level and pure: their arguments and results pickle, and they touch neither the
store nor the network. (Measured with a 5 MB feed while the loop ran small steps: in a thread the loop made half
its steps and stalled up to 426 ms; in the pool, all of them, with stalls no longer than the machine's own
scheduling noise.) As with every spawned pool, a script that calls into it must guard its entry point with
``if __name__ == "__main__"`` (``newsbot``'s own entry point does).
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Literal, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

Lane = Literal["stories", "feeds"]

_lock = threading.Lock()
_pools: dict[Lane, ProcessPoolExecutor] = {}


def pool_size(lane: Lane) -> int:
    """Stories: one process per core beyond the loop's own (at least one, at most four); feeds: one."""
    return 1 if lane == "feeds" else max(1, min(4, (os.cpu_count() or 2) - 1))


def _executor(lane: Lane) -> ProcessPoolExecutor:
    with _lock:
        pool = _pools.get(lane)
        if pool is None:
            # spawn, not fork: forking a process with running threads (the loop's executor, SQLite's) is unsafe.
            pool = _pools[lane] = ProcessPoolExecutor(pool_size(lane), mp_context=multiprocessing.get_context("spawn"))
        return pool


def _discard(lane: Lane, broken: ProcessPoolExecutor) -> None:
    with _lock:
        if _pools.get(lane) is broken:
            del _pools[lane]
    broken.shutdown(wait=False, cancel_futures=True)


async def off_loop(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``function(*args, **kwargs)`` in the stories lane, awaited without blocking the loop (see :func:`in_lane`)."""
    return await in_lane("stories", function, *args, **kwargs)


async def in_lane(lane: Lane, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``function(*args, **kwargs)`` in *lane*'s pool, awaited without blocking the loop; its exception is raised
    here. A pool whose process died (killed, out of memory) is replaced and the call tried once more."""
    call = functools.partial(function, *args, **kwargs)
    loop = asyncio.get_running_loop()
    for attempt in (1, 2):
        pool = _executor(lane)
        try:
            return await loop.run_in_executor(pool, call)
        except BrokenProcessPool:
            _discard(lane, pool)
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def shut_down() -> None:
    """Stop the pools' processes (``newsbot run`` does it when it stops); the next call starts new pools."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)
