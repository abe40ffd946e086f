"""Measuring helpers for ``bench/scale_bench.py``: how long the event loop was held, statements executed, memory.

- ``LoopWatch``: asyncio's own slow-callback log (debug mode, ``slow_callback_duration`` 20 ms: the "Executing
  <handle> took X seconds" warnings, max and count) and a 1 ms ticker task's worst lateness (a second opinion that
  needs no debug mode: the ticker cannot run while anything else holds the loop).
- ``StatementCounter``: a SQLAlchemy ``before_cursor_execute`` listener on an engine (the async engine's sync
  engine). ``bot.db.Reads`` uses its own sqlite3 connection, which this does not see.
- ``rss_mib()`` / ``peak_rss_mib()``: VmRSS / VmHWM of this process from /proc/self/status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

SLOW = 0.02


def _status(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # kB -> MiB
    return float("nan")


def rss_mib() -> float:
    return _status("VmRSS")


def peak_rss_mib() -> float:
    return _status("VmHWM")


def reset_peak_rss() -> None:
    """Linux: writing 5 to clear_refs resets VmHWM to the current RSS (so a later peak belongs to what follows)."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")


class _SlowLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.holds: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.msg if isinstance(record.msg, str) else ""
        if msg.startswith("Executing") and record.args and isinstance(record.args, tuple):
            self.holds.append((float(record.args[-1]), str(record.args[0])))


# "asyncio" (default): asyncio's own slow-callback log (``BaseEventLoop._run_once`` times every callback when
# ``loop._debug`` is set and logs "Executing <handle> took X seconds" past ``slow_callback_duration``), with the
# rest of debug mode left off: ``get_debug()`` keeps answering False, so no stack is recorded for every task,
# future and handle and coroutine origins are not tracked. Full debug mode ("debug", ``loop.set_debug(True)``)
# slows callback-heavy code down several times (the daily journey job 3.6x at 10,000 members), which would
# distort the durations measured beside the holds.
MODE = "asyncio"


@dataclass
class LoopWatch:
    """``async with LoopWatch() as w: ...``; then ``w.max_hold_ms``, ``w.over_20ms``, ``w.max_late_ms``."""

    holds: list[tuple[float, str]] = field(default_factory=list)
    max_late_ms: float = 0.0
    _handler: _SlowLog | None = None
    _ticker: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LoopWatch:
        loop = asyncio.get_running_loop()
        loop.slow_callback_duration = SLOW
        if MODE == "debug":
            loop.set_debug(True)
        else:
            loop.get_debug = lambda: False  # type: ignore[method-assign]
            loop._debug = True  # type: ignore[attr-defined]
        self._handler = _SlowLog()
        logger = logging.getLogger("asyncio")
        logger.addHandler(self._handler)
        logger.setLevel(logging.WARNING)
        logger.propagate = False  # collected here, not printed
        self._ticker = asyncio.create_task(self._tick())
        await asyncio.sleep(0)
        return self

    async def _tick(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            late = (time.perf_counter() - start - 0.001) * 1000
            self.max_late_ms = max(self.max_late_ms, late)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.sleep(0)  # let the ticker see the last hold
        assert self._ticker is not None and self._handler is not None
        self._ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._ticker
        logging.getLogger("asyncio").removeHandler(self._handler)
        loop = asyncio.get_running_loop()
        loop.set_debug(False)
        with contextlib.suppress(AttributeError):
            del loop.get_debug  # the instance override: back to the class's method
        # The loop decides to time a callback before running it: end this step here, so the caller's code after
        # the watch (a gc.collect() before the next measurement) is not timed and logged into the next watch.
        await asyncio.sleep(0)
        self.holds = self._handler.holds

    @property
    def max_hold_ms(self) -> float:
        return max((s for s, _ in self.holds), default=0.0) * 1000

    @property
    def over_20ms(self) -> int:
        return sum(1 for s, _ in self.holds if s > SLOW)

    @property
    def worst(self) -> str:
        if not self.holds:
            return ""
        text = max(self.holds)[1]
        return re.sub(r"\s+", " ", text)[:160]

    def summary(self) -> dict[str, Any]:
        return {
            "max_hold_ms": round(self.max_hold_ms, 1),
            "holds_over_20ms": self.over_20ms,
            "ticker_max_late_ms": round(self.max_late_ms, 1),
            "worst_callback": self.worst,
        }


class StatementCounter:
    """Counts statements on an engine; ``matching(pattern)`` counts those whose SQL matches a regex."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine.sync_engine
        self.statements: list[str] = []
        event.listen(self.engine, "before_cursor_execute", self._on)

    def _on(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)

    def reset(self) -> None:
        self.statements.clear()

    @property
    def count(self) -> int:
        return len(self.statements)

    def matching(self, pattern: str) -> int:
        rx = re.compile(pattern, re.I | re.S)
        return sum(1 for s in self.statements if rx.search(s))

    # Never removed: removing a listener while another task's statement runs the listeners breaks SQLAlchemy's
    # dispatch ("deque mutated during iteration"). One counter per engine, reset between measurements.


async def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = await func()
    return time.perf_counter() - start, result
