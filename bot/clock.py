"""The one clock. Nothing else calls ``datetime.now()``: tests and the sandbox move time through this."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to (tests, the sandbox's ``advance``)."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        delta = delta if delta is not None else timedelta(**kwargs)
        if delta < timedelta(0):
            raise ValueError("time only moves forward")
        self._now += delta
        return self._now

    def set(self, when: datetime) -> datetime:
        if when.tzinfo is None:
            raise ValueError("set() needs a timezone-aware time")
        if when < self._now:
            raise ValueError("time only moves forward")
        self._now = when.astimezone(UTC)
        return self._now


def parse_duration(text: str) -> timedelta:
    """``"7d"``, ``"13w"``, ``"2h30m"``, ``"90s"`` -> timedelta; used by the sandbox's ``advance``."""
    units = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
    text = text.strip().lower()
    if not text:
        raise ValueError("empty duration")
    total = timedelta(0)
    number = ""
    for ch in text:
        if ch.isdigit():
            number += ch
        elif ch in units and number:
            total += timedelta(**{units[ch]: int(number)})
            number = ""
        else:
            raise ValueError(f"bad duration {text!r}: use e.g. 7d, 13w, 2h30m")
    if number:
        raise ValueError(f"bad duration {text!r}: a number needs a unit (w, d, h, m, s)")
    return total
