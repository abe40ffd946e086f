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
"""

from __future__ import annotations

import asyncio
import re
from types import SimpleNamespace
from typing import Any

import aiohttp

# Routes outside the global limit: the interaction callback and the interaction-token webhooks.
_EXEMPT = re.compile(r"/api/v\d+/(interactions/[^/]+/[^/]+/callback|webhooks/[^/]+/[^/]+)")
# Margin under the limit: requests leave evenly spaced but reach Discord with some jitter.
HEADROOM = 0.9


class GlobalPacer:
    """Spaces REST requests at most ``per_second`` apart on average, first come first served."""

    def __init__(self, limit_per_second: float, headroom: float = HEADROOM) -> None:
        self.interval = 1.0 / (limit_per_second * headroom)
        self._next = 0.0
        self.waited = 0.0  # seconds requests spent waiting for a slot, for logs and benchmarks

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            self.waited += slot - now
            await asyncio.sleep(slot - now)

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


def client_options(limit_per_second: float) -> dict[str, Any]:
    """discord.py Client options that install the pacer."""
    return {"http_trace": GlobalPacer(limit_per_second).trace_config()}
