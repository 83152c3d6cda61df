"""The garbage collector's full passes, kept short: what start-up created is left out of them.

CPython's cycle collector looks at every tracked object in its full (oldest-generation) pass, and it runs one
whenever a quarter as many objects again have reached that generation. ``newsbot run`` starts with about 200,000
tracked objects (the libraries' modules, classes and tables, the app), and a fan-out at 1,000 messages a second
promotes enough short-lived objects (claimed rows, requests, tasks) to start a full pass every few seconds: each
one went through all 200,000 and held the loop for 130-150 ms, the longest stall of a fan-out. Those start-up
objects live as long as the process, so :func:`freeze_start_up_objects` moves them out of the collector's view
once (``gc.freeze``): a full pass then looks only at what was created since, and nothing a frozen object keeps
alive is ever freed by it, as nothing would have been anyway.
"""

from __future__ import annotations

import gc


def freeze_start_up_objects() -> int:
    """Collect start-up's garbage once, then leave every object alive now out of later passes; returns how many.

    For the long-running process only, once it is built: the single collection before the freeze is the one
    full pass over the start-up objects it will ever make.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
