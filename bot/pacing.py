"""Keeping under Discord's global rate limit (50 requests/s per bot) before Discord has to say so.

discord.py waits on each route's bucket from the X-RateLimit-* headers, but it learns the global limit only from
a 429 (``discord/http.py``: a global 429 pauses every request for ``retry_after``), and every request already on
its way when that 429 is sent draws another. A burst (a raid: hundreds of joins, each a greeting DM costing two
requests) would turn into a stream of 429s, which Discord counts towards its invalid-request ban (10,000 per
10 minutes). So every REST request waits for its slot first, in order, at just under the limit: a burst becomes
a queue. Interaction responses are not bound to the global limit (Discord's rate-limit documentation) and are
never held back: a member's slash command is answered while greetings queue.

It hooks in through aiohttp's request tracing, which discord.py exposes as ``Client(http_trace=...)``: the
``on_request_start`` signal is awaited before a request is sent.

The reminder dispatcher (``bot.reminders``) paces itself one level up, before it even claims a reminder: a
``Lane`` names the Discord bucket a kind of reminder sends through (one channel's messages: 5 per 5 s; one
guild's member edits: 10 per 10 s), and a ``SendWindow`` counts the sends started in it, so a channel's posts
are claimed no faster than the channel takes them and never hold the dispatcher's slots while DMs wait.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiohttp

# Routes outside the global limit: the interaction callback and the interaction-token webhooks.
_EXEMPT = re.compile(r"/api/v\d+/(interactions/[^/]+/[^/]+/callback|webhooks/[^/]+/[^/]+)")
# Margin under the limit: requests leave evenly spaced but reach Discord with some jitter.
HEADROOM = 0.9


class GlobalPacer:
    """Spaces REST requests at most ``per_second`` apart on average, first come first served.

    Slots alone are not enough: when the event loop stalls (a busy machine, a long callback), every request whose
    slot passed meanwhile wakes at once and they leave together, a burst Discord's one-second window refuses.
    So the requests actually let out in the last second are counted too, and one that would be one too many
    waits for the oldest to age out."""

    def __init__(self, limit_per_second: float, headroom: float = HEADROOM) -> None:
        self.interval = 1.0 / (limit_per_second * headroom)
        self.per_second = max(1, int(limit_per_second * headroom))
        self._next = 0.0
        self._sent: deque[float] = deque()  # loop times requests were let out, over the last second
        self.waited = 0.0  # seconds requests spent waiting for a slot, for logs and benchmarks

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            self.waited += slot - now
            await asyncio.sleep(slot - now)
        while True:
            now = loop.time()
            while self._sent and self._sent[0] <= now - 1.0:
                self._sent.popleft()
            if len(self._sent) < self.per_second:
                break
            rest = self._sent[0] + 1.0 - now
            self.waited += rest
            await asyncio.sleep(rest)
        self._sent.append(now)

    @staticmethod
    def exempt(url: str) -> bool:
        return "/api/v" not in url or _EXEMPT.search(url) is not None

    async def _on_request_start(
        self, _session: aiohttp.ClientSession, _ctx: SimpleNamespace, params: aiohttp.TraceRequestStartParams
    ) -> None:
        if not self.exempt(str(params.url)):
            await self.wait()

    def trace_config(self) -> aiohttp.TraceConfig:
        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(self._on_request_start)
        return trace


def dm_rate(limit_per_second: float) -> float:
    """DMs per second the reminder dispatcher starts: a DM to a member whose DM channel is not cached (discord.py
    keeps 128) costs two requests (open the channel, post), and the rest of the bot needs room too."""
    return limit_per_second * HEADROOM / 2


def client_options(limit_per_second: float) -> dict[str, Any]:
    """discord.py Client options that install the pacer."""
    return {"http_trace": GlobalPacer(limit_per_second).trace_config()}


# Discord's observed per-resource limits (bot/emulator/ratelimits.py has the sources).
CHANNEL_MESSAGES = (5, 5.0)  # messages created in one channel (a DM channel too)
MEMBER_EDITS = (10, 10.0)  # member edits and member role changes in one guild
# Kept between a lane's windows: a send starts on our clock but reaches Discord a little later (and after the
# global pacer's queue), so a window that is exactly Discord's could let a sixth one land in Discord's five.
LANE_MARGIN = 0.25


@dataclass(frozen=True)
class Lane:
    """One Discord rate-limit bucket that a kind of reminder sends through; kinds naming the same lane share it."""

    name: str
    limit: int = CHANNEL_MESSAGES[0]
    period: float = CHANNEL_MESSAGES[1]

    @classmethod
    def channel(cls, channel_id: int) -> Lane:
        return cls(f"channel:{channel_id}", *CHANNEL_MESSAGES)

    @classmethod
    def member_edits(cls, guild_id: int) -> Lane:
        return cls(f"members:{guild_id}", *MEMBER_EDITS)


class SendWindow:
    """A sliding window over the sends started in one lane: at most ``limit`` in any ``period`` (plus a margin),
    which also keeps within Discord's fixed window that starts at its first request."""

    def __init__(self, limit: int, period: float, margin: float = LANE_MARGIN) -> None:
        self.limit = limit
        self.period = period + margin
        self._starts: deque[float] = deque()

    def _trim(self, now: float) -> None:
        while self._starts and self._starts[0] <= now - self.period:
            self._starts.popleft()

    def free(self, now: float) -> int:
        """How many sends may start now."""
        self._trim(now)
        return max(0, self.limit - len(self._starts))

    def next_free(self, now: float) -> float:
        """When (loop time) the next send may start."""
        self._trim(now)
        return now if len(self._starts) < self.limit else self._starts[0] + self.period

    def take(self, now: float) -> None:
        self._starts.append(now)

    def give_back(self, at: float) -> None:
        """The send reserved at ``at`` did not happen (nothing was due after all)."""
        if at in self._starts:  # else already out of the window
            self._starts.remove(at)
