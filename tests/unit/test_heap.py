"""bot.heap: a large member cache is frozen out of full collections, and released on the next READY."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from bot import heap


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    gc.unfreeze()  # an earlier test's bot with a large guild (the soak's 10,000 members) froze this process's heap
    yield
    gc.unfreeze()


def test_a_small_guild_is_left_to_the_collector() -> None:
    assert heap.settle(heap.FREEZE_FROM_MEMBERS - 1) is False
    assert gc.get_freeze_count() == 0


def test_a_large_cache_is_frozen_and_what_it_replaced_is_collected_on_the_next_ready() -> None:
    cached = Node()
    alive = weakref.ref(cached)
    assert heap.settle(heap.FREEZE_FROM_MEMBERS) is True
    assert gc.get_freeze_count() > 0
    del cached  # a reconnect replaced the cache: the old objects are garbage, but frozen
    gc.collect()
    assert alive() is not None  # a frozen cycle is never collected...
    heap.settle(heap.FREEZE_FROM_MEMBERS)
    assert alive() is None  # ...until the next settle unfreezes it first
