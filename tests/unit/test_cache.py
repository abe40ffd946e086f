from __future__ import annotations

from bot.cache import MemberCache


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_hit_expiry_eviction_and_bound() -> None:
    clock = Clock()
    cache: MemberCache[str] = MemberCache(ttl=10, maxsize=2, monotonic=clock)
    cache.put("a", 1, "A")
    assert cache.get("a") == "A"
    clock.t = 11
    assert cache.get("a") is None  # expired: bounded staleness across processes
    cache.put("a", 1, "A")
    cache.put("a2", 1, "A2")
    cache.evict_member(1)
    assert cache.get("a") is None and cache.get("a2") is None
    for key, member in (("x", 2), ("y", 3), ("z", 4)):
        cache.put(key, member, key.upper())
    assert cache.get("x") is None and cache.get("z") == "Z"  # least recently used dropped
