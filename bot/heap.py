"""Full garbage collections kept short in a process that caches a large guild.

discord.py keeps every member of the guild in memory (the ``members`` intent), and a full (generation 2)
collection walks all of them: at 100,000 members one takes 60-70 ms and lands on the event loop whenever
enough new objects have survived into the old generation (bench/member_sync_bench.py). Once the cache is
filled, ``settle`` collects once and moves everything alive to the permanent generation (``gc.freeze``), so
later full collections walk only what was made since. On the next READY, which replaces the cache, the old
objects are unfrozen first so that the replaced ones can be collected.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)

# Below this many cached members a full collection is already short; freezing would only cost the collection.
FREEZE_FROM_MEMBERS = 10_000


def settle(cached_members: int, *, threshold: int = FREEZE_FROM_MEMBERS) -> bool:
    """After the member cache was filled (on READY): one collection, then freeze what survives. Returns
    whether it froze. One pause of a full collection here (at connect, once) instead of one every so often."""
    if cached_members < threshold:
        return False
    started = time.perf_counter()
    gc.unfreeze()  # what the previous READY froze, the replaced cache included, can be collected now
    gc.collect()
    gc.freeze()
    log.debug(
        "froze %d objects after caching %d members (%.0f ms)",
        gc.get_freeze_count(),
        cached_members,
        (time.perf_counter() - started) * 1000,
    )
    return True
