"""Full garbage collections kept short in a process that caches a large guild.

discord.py keeps every member of the guild in memory (the ``members`` intent), and a full (generation 2)
collection walks all of them: at 100,000 members one takes 60-100 ms and lands on the event loop whenever
enough new objects have survived into the old generation (bench/member_sync_bench.py). Once the cache is
filled, ``settle`` moves everything alive to the permanent generation (``gc.freeze``), so later full
collections walk only what was made since. The first time it freezes without collecting (a collection is the
very pause this avoids; the little start-up garbage stays frozen). On a later READY, which replaces the cache,
what was frozen is released and collected once, so the replaced cache is freed; that pause happens only on a
reconnect that could not resume.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)

# Below this many cached members a full collection is already short; freezing would only cost the collection.
FREEZE_FROM_MEMBERS = 10_000


def settle(cached_members: int, *, threshold: int = FREEZE_FROM_MEMBERS) -> bool:
    """After the member cache was filled (on READY): freeze what is alive. Returns whether it froze."""
    if cached_members < threshold:
        return False
    started = time.perf_counter()
    if gc.get_freeze_count():
        # A READY that replaced the cache: the old one is frozen garbage now. Release and collect it once.
        gc.unfreeze()
        gc.collect()
    gc.freeze()
    log.debug(
        "froze %d objects after caching %d members (%.0f ms)",
        gc.get_freeze_count(),
        cached_members,
        (time.perf_counter() - started) * 1000,
    )
    return True
