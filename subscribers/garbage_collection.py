"""Pausing Python's cyclic garbage collector while an import builds its rows.

A 100,000-row import keeps about a million small objects (rows, addresses, tuples of values) alive until it
writes them. Each of those allocations counts towards the collector's next run, and every older-generation run
walks all of them again: close to half of checking the rows went to collections that found nothing, since none
of these objects refers back to itself. Reference counting still frees everything as usual meanwhile.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def garbage_collection_paused() -> Iterator[None]:
    """No cyclic collection inside the block; the collector is switched back on after it, unless it was off
    before. Inside a process that serves others, only around synchronous work: held across an ``await`` it would
    pause collection for every other task of the loop too. A command that runs nothing else may hold it
    throughout, which also saves the collection each stage's end would start over the rows kept for the next."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
