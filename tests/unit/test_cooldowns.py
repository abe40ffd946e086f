from __future__ import annotations

from datetime import UTC, datetime

from bot.clock import ManualClock
from bot.cooldowns import Cooldowns


def test_sliding_window_per_key_and_refund() -> None:
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    cd = Cooldowns(clock)
    key = ("profile edit", 1, None)
    assert cd.take(key, 2, 60) is None
    clock.advance(seconds=10)
    assert cd.take(key, 2, 60) is None
    assert cd.take(key, 2, 60) == 50  # the first use leaves the window in 50 s
    assert cd.take(("profile edit", 2, None), 2, 60) is None  # another member has their own allowance
    cd.refund(key)
    assert cd.take(key, 2, 60) is None
    clock.advance(seconds=51)
    assert cd.take(key, 2, 60) is None


def test_expired_keys_are_pruned() -> None:
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    cd = Cooldowns(clock)
    for member in range(10_000):
        cd.take(("x", member, None), 1, 60)
    clock.advance(seconds=61)
    cd.take(("x", -1, None), 1, 60)
    assert len(cd._uses) == 1
