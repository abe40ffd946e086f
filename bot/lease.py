"""The leader lease: of several ``atlas-bot run`` processes for one guild (and shard) on one PostgreSQL database,
one is active and the others wait as standbys, taking over when it dies.

Two connected processes would both answer every interaction (Discord sends each event to every session of the
shard) and race to send every greeting. So a process takes a **session-level advisory lock** on its own
connection before it connects to Discord, and the others wait for it (``pg_try_advisory_lock``, tried every few
seconds). PostgreSQL releases the lock the moment the holder's connection ends: a process that exits, crashes or
is SIGKILLed loses it with its socket, and a standby takes over within one retry interval. Reminders and job
periods live in the database (claimed atomically), so the new active sends what fell due meanwhile, once;
members who joined while no process was connected are found by the member sync that follows every READY.

The active checks its lease connection every few seconds, each check bounded by a timeout. If that connection
fails or goes silent (a database restart, a network cut that drops packets without a reset), PostgreSQL has
dropped the lock or soon will, and a standby may take over: this process leaves Discord at once and exits with
status 1, so its supervisor restarts it as a standby, rather than risk two active processes. The timing makes
the step-down come first:

- the old active notices within ``check + timeout`` seconds of its last good check and leaves Discord within
  ``close`` seconds more (``bot/launcher.py`` exits hard if it cannot);
- the lease session asks the server for TCP keepalives (and a user timeout) well above that, so a silent cut
  frees the lock for a standby after ``_SERVER_GIVES_UP`` seconds, not after the kernel's two hours;
- a new active waits ``settle = check + timeout + close`` seconds after taking the lock before it connects to
  Discord: a lock freed early (the server ended the old session: ``pg_terminate_backend``, a restart) still
  leaves the old active that long to notice and leave. Never more than one live Discord session.

SQLite has no lease: a SQLite file serves one process (README: "Running two processes / sharding").
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)


def lease_key(guild_id: int, shard_id: int = 0) -> int:
    """The advisory lock's 64-bit key for a guild and shard: shards of one application do not exclude each
    other, two processes for the same guild and shard do."""
    digest = hashlib.sha256(f"atlas-leader:{guild_id}:{shard_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# Server-side keepalives for the lease session (seconds): a silent client is dropped, and its lock freed, after
# about idle + interval * count = 20 s, well after the client's own step-down (check + timeout + close).
_KEEPALIVES = {"tcp_keepalives_idle": 10, "tcp_keepalives_interval": 5, "tcp_keepalives_count": 2}
_SERVER_GIVES_UP = 20


class Lease:
    def __init__(
        self,
        engine: AsyncEngine,
        key: int,
        *,
        retry: float = 2.0,
        check: float = 2.0,
        timeout: float = 2.0,
        close: float = 3.0,
    ) -> None:
        self.engine = engine
        self.key = key
        self.retry = retry  # seconds between a standby's tries
        self.check = check  # seconds between the active's checks of its lease connection
        self.timeout = timeout  # seconds a check (or a try) may take before the connection counts as lost
        self.close = close  # seconds the launcher allows itself to leave Discord after the lease is lost
        self._conn: AsyncConnection | None = None

    @property
    def settle(self) -> float:
        """Seconds a new active waits after taking the lock: the old one has noticed and left Discord by then."""
        return self.check + self.timeout + self.close

    @property
    def held(self) -> bool:
        return self._conn is not None

    async def _try(self) -> bool:
        return await asyncio.wait_for(self._try_once(), self.timeout)

    async def _try_once(self) -> bool:
        if self._conn is None:
            self._conn = await self.engine.connect()
            # This session only (it is invalidated, never pooled, when dropped). Ignored on a Unix socket.
            for name, seconds in _KEEPALIVES.items():
                await self._conn.execute(text(f"SET {name} = {int(seconds)}"))
            await self._conn.execute(text(f"SET tcp_user_timeout = {_SERVER_GIVES_UP * 1000}"))
        got = (await self._conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key})).scalar()
        await self._conn.commit()  # a session-level lock outlives the transaction: none is left open
        return bool(got)

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait until this process holds the lease (True), or until ``stop`` is set (False)."""
        said = False
        while not stop.is_set():
            try:
                if await self._try():
                    log.info(
                        "the active process is gone: this standby takes over" if said else "leader lease taken"
                    )
                    # A lock freed by the server (the old session ended) may leave the old active connected to
                    # Discord until it notices: give it the time it has to leave before connecting.
                    log.info("waiting %g s before connecting to Discord", self.settle)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.settle)
                    if stop.is_set():
                        break
                    return True
            except Exception as exc:  # the database is unreachable for now: a standby keeps waiting
                log.warning("leader lease: cannot reach the database (%s); trying again", type(exc).__name__)
                await self._drop()
            if not said:
                log.info(
                    "standby: another process is active for this guild and shard; taking over when it stops "
                    "(checking every %g s)",
                    self.retry,
                )
                said = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.retry)
        await self._drop()
        return False

    async def lost(self) -> None:
        """Return when the lease connection fails or does not answer within ``timeout`` (the lock is then gone
        with it, or soon will be: the caller must leave Discord within ``close`` seconds)."""
        conn = self._conn
        assert conn is not None, "acquire() first"

        async def ping() -> None:
            await conn.execute(text("SELECT 1"))
            await conn.commit()

        while True:
            await asyncio.sleep(self.check)
            try:
                await asyncio.wait_for(ping(), self.timeout)
            except Exception as exc:  # TimeoutError included: a silent cut looks like this
                log.error(
                    "lost the leader lease (its database connection failed: %s): stopping, so that a standby "
                    "takes over; restart this process and it waits as the standby",
                    type(exc).__name__,
                )
                # Not awaited to the end: closing a connection nobody answers could hang.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._drop(), self.timeout)
                return

    async def _drop(self) -> None:
        # Invalidated, not returned to the pool: the PostgreSQL session ends, and any lock it held with it.
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()
            with contextlib.suppress(Exception):
                await conn.close()

    async def release(self) -> None:
        """Give the lease up (a clean shutdown): a standby takes over at its next try."""
        await self._drop()
