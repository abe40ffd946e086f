"""A small per-process read cache for hot, read-mostly rows (a member's profile shown on every other command).

Every read through the async SQLite driver costs several thread hand-offs, more than the query itself, so the
busiest read paths keep what they read here. Correctness rests on two rules: an entry is evicted as soon as this
process flushes a change to any row it was built from (ORM flushes are watched), and it expires after ``ttl``
seconds anyway, which bounds how stale it can be when several processes share one PostgreSQL database.
Writes that bypass the ORM (Core ``update()``/``insert()``) must call ``evict_member`` themselves.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session

V = TypeVar("V")


class MemberCache(Generic[V]):
    def __init__(self, *, ttl: float = 30.0, maxsize: int = 5000, monotonic: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.maxsize = maxsize
        self._now = monotonic
        self._entries: OrderedDict[Hashable, tuple[float, int, V]] = OrderedDict()
        self._by_member: dict[int, set[Hashable]] = {}
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < self._now():
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return entry[2]

    def put(self, key: Hashable, member_id: int, value: V) -> None:
        self._entries[key] = (self._now() + self.ttl, member_id, value)
        self._entries.move_to_end(key)
        self._by_member.setdefault(member_id, set()).add(key)
        while len(self._entries) > self.maxsize:
            old_key, (_, old_member, _) = self._entries.popitem(last=False)
            self._by_member.get(old_member, set()).discard(old_key)

    def evict_member(self, member_id: int) -> None:
        for key in self._by_member.pop(member_id, set()):
            self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
        self._by_member.clear()

    def watch(self, member_id_of: dict[type, Callable[[Any], int | None]]) -> Callable[[], None]:
        """Evict on every ORM flush (in this process) that adds, changes or deletes a row of the given models;
        ``member_id_of`` says which member a row belongs to. Returns a function that stops watching."""

        def after_flush(session: Session, _context: Any) -> None:
            for obj in (*session.new, *session.dirty, *session.deleted):
                getter = member_id_of.get(type(obj))
                if getter is not None and (member_id := getter(obj)) is not None:
                    self.evict_member(member_id)

        event.listen(Session, "after_flush", after_flush)
        return lambda: event.remove(Session, "after_flush", after_flush)
