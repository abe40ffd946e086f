"""Discord's REST rate limits: per-route buckets with X-RateLimit-* headers, 429 with retry_after, a global limit.

What Discord documents (https://discord.com/developers/docs/topics/rate-limits) and what is modelled here:

- **Per-route buckets**, counted per top-level resource (``channel_id``, ``guild_id``, ``webhook_id``): every
  answer carries ``X-RateLimit-Limit``, ``-Remaining``, ``-Reset`` (epoch seconds), ``-Reset-After`` (seconds,
  with decimals) and ``-Bucket`` (the same hash for the route whatever the resource). A request to an exhausted
  bucket gets 429 with ``Retry-After`` (whole seconds), ``X-RateLimit-Scope: user`` and the JSON body
  ``{"message", "retry_after", "global": false}``; the window is fixed, starting at its first request.
- **The global limit**: 50 requests per second per bot, whatever the route; beyond it a 429 with
  ``X-RateLimit-Global: true``, ``X-RateLimit-Scope: global`` and ``"global": true``. Interaction endpoints
  (the callback and the interaction-token webhooks) are not bound to it.
- Limits Discord does not publish are observed values (``ROUTES``): creating messages is 5 per 5 s in one
  channel (a DM is a channel too); reactions 1 per 0.25 s in one channel (adding and removing share it); member
  edits and member role adds/removes 10 per 10 s in one guild (the role PUT and DELETE share one bucket, with
  a fixed window, as reported in discord-api-docs#7680); creating threads is not reported anywhere we found,
  so it gets the message limit, 5 per 5 s a channel. Opening a DM channel and every other route get a bucket as
  large as the global limit (per second, per route and resource), so that the global limit is what binds them.
- **The invalid-request limit** ("Cloudflare bans"): 10,000 responses with 401, 403 or 429 (except 429s with
  ``X-RateLimit-Scope: shared``) per 10 minutes from one IP get it temporarily restricted. ``invalid_requests``
  counts them over the last 10 minutes; past the limit every request (interaction endpoints too: the ban is by
  IP) is refused. Discord does not document what a banned client receives nor for how long: reports show
  Cloudflare's "error code: 1015" page, a 429 with a text body and no ``Via`` header (which is how discord.py
  tells a ban from a rate limit, ``discord/http.py``), lasting about an hour (discord-api-docs#5385); so that.

discord.py reads these headers (``discord/http.py``: ``Ratelimit.update`` uses Limit, Remaining and Reset-After,
and groups routes by ``X-Ratelimit-Bucket``); it retries a 429 only when the response has a ``Via`` header
(without one it assumes a Cloudflare ban), so 429s carry ``Via`` as Discord's do.

Everything is recorded for tests: ``rejected`` (every 429 sent) and ``ignored`` (a request that arrived while an
earlier 429's ``retry_after`` had not yet passed for that bucket, or globally: a client that does not wait).
Windows use the monotonic wall clock, as clients sleep in real time (not the emulator's ``now``).
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

GLOBAL_LIMIT = 50  # requests per second per bot (Discord's API reference, "Global Rate Limit")
INVALID_LIMIT, INVALID_WINDOW = 10_000, 600.0  # invalid requests per 10 minutes (API reference)
BAN_SECONDS = 3600.0  # not documented: the length reported for Cloudflare's 1015 restriction
INVALID_STATUSES = frozenset({401, 403, 429})
# A client sleeping exactly ``retry_after`` may be woken a timer tick early; not counted as ignoring the 429.
_TOLERANCE = 0.005

_EXEMPT = (
    re.compile(r"^/interactions/[^/]+/[^/]+/callback$"),
    re.compile(r"^/webhooks/[^/]+/[^/]+(/.*)?$"),  # interaction follow-ups use the interaction token
)


@dataclass(frozen=True)
class RouteLimit:
    method: str
    pattern: re.Pattern[str]
    name: str
    limit: int
    period: float


def _route(method: str, template: str, limit: int, period: float, bucket: str | None = None) -> RouteLimit:
    """A route's limit; routes given the same ``bucket`` name share one bucket (and its hash), as Discord's do."""
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return RouteLimit(method, re.compile(f"^{regex}$"), bucket or f"{method} {template}", limit, period)


_REACTION = "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me"
_MEMBER_ROLE = "/guilds/{guild_id}/members/{user_id}/roles/{role_id}"
# The routes features use whose limits are below the global one (see the module docstring for the sources);
# anything else falls back to ``default_limit`` per second per route and resource.
ROUTES = (
    _route("POST", "/channels/{channel_id}/messages", 5, 5.0),
    _route("PUT", _REACTION, 1, 0.25, bucket="reactions"),
    _route("DELETE", _REACTION, 1, 0.25, bucket="reactions"),
    _route("PATCH", "/guilds/{guild_id}/members/{user_id}", 10, 10.0),
    _route("PUT", _MEMBER_ROLE, 10, 10.0, bucket="member roles"),
    _route("DELETE", _MEMBER_ROLE, 10, 10.0, bucket="member roles"),
    _route("POST", "/channels/{channel_id}/threads", 5, 5.0, bucket="thread create"),
    _route("POST", "/channels/{channel_id}/messages/{message_id}/threads", 5, 5.0, bucket="thread create"),
)
_MAJOR = re.compile(r"^/(channels|guilds|webhooks)/(\d+)")
_ID = re.compile(r"/\d+")


@dataclass
class Window:
    """A fixed window: ``limit`` requests from the first one until ``period`` seconds later."""

    limit: int
    period: float
    name: str
    count: int = 0
    started: float = -math.inf
    blocked_until: float = 0.0  # set by a 429: requests before this ignored it

    def roll(self, now: float) -> None:
        if now >= self.started + self.period:
            self.started, self.count = now, 0

    @property
    def reset_at(self) -> float:
        return self.started + self.period


@dataclass(frozen=True)
class Rejection:
    method: str
    path: str
    scope: str  # "user" (a route's bucket) or "global"
    bucket: str
    retry_after: float
    at: float


@dataclass
class Decision:
    """What the server does with one request: go ahead (``status`` 0) with these headers, or answer 429."""

    headers: dict[str, str]
    status: int = 0
    body: dict[str, object] | None = None
    text: str | None = None  # a non-JSON body (Cloudflare's ban page)


@dataclass
class RateLimiter:
    global_limit: int = GLOBAL_LIMIT
    routes: tuple[RouteLimit, ...] = ROUTES
    default_limit: int | None = None  # per second, for routes not in ``routes``; None: the global limit
    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    windows: dict[tuple[str, str], Window] = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)
    ignored: list[Rejection] = field(default_factory=list)
    requests: int = 0
    invalid_limit: int = INVALID_LIMIT
    invalid_window: float = INVALID_WINDOW
    ban_seconds: float = BAN_SECONDS
    banned_until: float = -math.inf
    banned_refusals: int = 0  # requests refused while banned
    _invalid: deque[float] = field(default_factory=deque)  # when each counted invalid response was sent

    def __post_init__(self) -> None:
        self.global_window = Window(self.global_limit, 1.0, "global")

    @property
    def invalid_requests(self) -> int:
        """Invalid responses (401, 403, 429 but a shared-scope one) sent in the last ``invalid_window`` seconds."""
        self._trim(self.monotonic())
        return len(self._invalid)

    @property
    def banned(self) -> bool:
        return self.monotonic() < self.banned_until

    def _trim(self, now: float) -> None:
        while self._invalid and self._invalid[0] <= now - self.invalid_window:
            self._invalid.popleft()

    def record(self, status: int, scope: str | None = None) -> None:
        """Count one response the server sent; reaching the limit bans every request for ``ban_seconds``."""
        if status not in INVALID_STATUSES or (status == 429 and scope == "shared"):
            return
        now = self.monotonic()
        self._trim(now)
        self._invalid.append(now)
        if len(self._invalid) >= self.invalid_limit and now >= self.banned_until:
            self.banned_until = now + self.ban_seconds

    def refuse_if_banned(self) -> Decision | None:
        """Cloudflare's answer to a banned IP, whatever the route (see the module docstring), or None."""
        now = self.monotonic()
        if now >= self.banned_until:
            return None
        self.banned_refusals += 1
        headers = {"Retry-After": str(math.ceil(self.banned_until - now)), "Content-Type": "text/plain"}
        return Decision(headers, 429, text="error code: 1015")

    def _bucket(self, method: str, path: str) -> Window:
        major = _MAJOR.match(path)
        resource = major.group(0) if major else ""
        for route in self.routes:
            if route.method == method and route.pattern.match(path):
                name, limit, period = route.name, route.limit, route.period
                break
        else:
            name = f"{method} {_ID.sub('/{id}', path)}"
            limit, period = self.default_limit or self.global_limit, 1.0
        key = (name, resource)
        window = self.windows.get(key)
        if window is None:
            window = self.windows[key] = Window(limit, period, name)
        return window

    @staticmethod
    def bucket_hash(name: str) -> str:
        return hashlib.sha1(name.encode()).hexdigest()[:16]  # an identifier, not security

    def check(self, method: str, path: str) -> Decision | None:
        """Count one request; None for routes outside the limits (interaction endpoints)."""
        if any(p.match(path) for p in _EXEMPT):
            return None
        now = self.monotonic()
        self.requests += 1
        bucket = self._bucket(method, path)
        glob = self.global_window
        for window, scope in ((glob, "global"), (bucket, "user")):
            if now < window.blocked_until - _TOLERANCE:
                self.ignored.append(Rejection(method, path, scope, window.name, window.blocked_until - now, now))
        glob.roll(now)
        if glob.count >= glob.limit:
            return self._reject(method, path, glob, now, scope="global")
        bucket.roll(now)
        if bucket.count >= bucket.limit:
            return self._reject(method, path, bucket, now, scope="user")
        glob.count += 1
        bucket.count += 1
        return Decision(self._headers(bucket, now))

    def _headers(self, bucket: Window, now: float) -> dict[str, str]:
        reset_after = max(0.0, bucket.reset_at - now)
        return {
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Remaining": str(max(0, bucket.limit - bucket.count)),
            "X-RateLimit-Reset": f"{self.wall() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": self.bucket_hash(bucket.name),
        }

    def _reject(self, method: str, path: str, window: Window, now: float, *, scope: str) -> Decision:
        retry_after = max(0.001, round(window.reset_at - now, 3))
        window.blocked_until = max(window.blocked_until, now + retry_after)
        self.rejected.append(Rejection(method, path, scope, window.name, retry_after, now))
        # discord.py treats a 429 without ``Via`` as a Cloudflare ban and raises instead of retrying.
        headers = {"Retry-After": str(math.ceil(retry_after)), "Via": "1.1 google"}
        if scope == "global":
            headers.update({"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"})
            body: dict[str, object] = {
                "message": "You are being rate limited.",
                "retry_after": retry_after,
                "global": True,
            }
        else:
            headers.update(self._headers(window, now))
            headers["X-RateLimit-Scope"] = "user"
            body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
        return Decision(headers, 429, body)
