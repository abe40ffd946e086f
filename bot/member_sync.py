"""Reconciling Discord's member list with the ``members`` table each time the gateway becomes ready.

Joins and leaves reach the bot as gateway events only while it is connected: members who joined while it was
down, or during a reconnect that could not RESUME (a fresh IDENTIFY replays nothing), would never be greeted,
and members already on the server when the bot was installed would be unknown to it. So on every READY
(``AtlasBot.on_ready``) a background task, off the ready handler's path, compares the guild's member list with
the table, set-based: one streamed query of the known rows, bulk inserts of the unknown, one statement per batch
for those who came back or left. Features act on the members who arrived unseen through hooks run in the same
transaction as the batch (onboarding greets them), so a crash midway repeats work instead of losing it, and every
step is idempotent (ON CONFLICT DO NOTHING, reminder dedupe keys).

"Unseen" is decided against the last-seen time: when the last complete reconcile took its snapshot, kept in
``bot_state``. Everyone who joined while the bot watched has a row, so an unknown member who joined after that
time arrived unseen; the very first start has no last-seen time, and everyone already there is recorded quietly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot import members
from bot.members import Present
from bot.state import get_state, set_state

if TYPE_CHECKING:
    import discord

    from bot.core import AtlasBot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Arrivals:
    """Members who joined while the bot was not watching: no row yet, or one marked as left (or an older join)."""

    guild_id: int
    members: Sequence[Present]
    # The last complete reconcile (None on the first start: nobody counts as having arrived unseen then).
    last_seen: datetime | None
    now: datetime

    def since_last_seen(self) -> list[Present]:
        if self.last_seen is None:
            return []
        return [p for p in self.members if p.joined_at >= self.last_seen]


Hook = Callable[[AsyncSession, Arrivals], Awaitable[None]]


@dataclass(frozen=True)
class SyncResult:
    new: int
    returned: int
    gone: int
    last_seen: datetime | None
    snapshot_at: datetime


@dataclass
class MemberSync:
    bot: AtlasBot
    batch: int = members.BATCH
    hooks: dict[str, Hook] = field(default_factory=dict)
    last_result: SyncResult | None = None
    _task: asyncio.Task[None] | None = None
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._idle.set()

    def add_hook(self, name: str, hook: Hook) -> None:
        """``hook(session, arrivals)`` runs in each batch's transaction (a feature's reaction to unseen joins)."""
        self.hooks[name] = hook

    def remove_hook(self, name: str) -> None:
        self.hooks.pop(name, None)

    def start(self) -> None:
        """Reconcile in the background (a newer READY supersedes a reconcile still running)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._idle.clear()
        self._task = asyncio.create_task(self._run_logged(), name="atlas-member-sync")

    async def wait(self) -> None:
        """Until a reconcile has run (since this process connected) and none is running."""
        while self._task is None or not self._idle.is_set() or not self._task.done():
            if self._task is None:
                await asyncio.sleep(0.01)
            else:
                await self._idle.wait()
                await asyncio.sleep(0)

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._idle.set()

    async def _run_logged(self) -> None:
        task = asyncio.current_task()
        try:
            self.last_result = await self.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            # The next READY tries again; nothing half-done is lost (each batch committed with its hooks).
            log.exception("reconciling the member list failed")
        finally:
            if self._task is task:
                self._idle.set()

    async def _write_arrivals(
        self,
        guild: discord.Guild,
        known: members.Known,
        arrived: list[Present],
        last_seen: datetime | None,
        now: datetime,
    ) -> tuple[int, int]:
        """One transaction: the rows of a slice's arrivals and what the hooks do about them; (new, came back)."""
        # Still here as the batch is written (a leave handled since is written after ours, on the same row).
        arrived = [p for p in arrived if guild.get_member(p.discord_id) is not None]
        back = [p for p in arrived if p.discord_id in known.joined]
        async with self.bot.sessions.begin() as session:
            await members.insert_members(
                session, guild.id, [p for p in arrived if p.discord_id not in known.joined]
            )
            await members.mark_returned(session, guild.id, back)
            arrivals = Arrivals(guild.id, arrived, last_seen, now)
            for hook in list(self.hooks.values()):
                await hook(session, arrivals)
        return len(arrived) - len(back), len(back)

    async def run(self) -> SyncResult | None:
        guild = self.bot.home_guild
        if guild is None or guild.unavailable:
            return None
        if not guild.chunked:
            await guild.chunk()
        key = f"members_seen:{guild.id}"
        # The table first, then Discord's list: a join or leave handled live in between then looks like a change
        # that is already applied (no-ops), never like the reverse of one.
        async with self.bot.sessions() as session:
            seen_at = await get_state(session, key)
            known = await members.known_members(session, guild.id)
        last_seen = datetime.fromisoformat(seen_at) if seen_at else None
        now = self.bot.clock.now()
        # Slice by slice, each slice's arrivals written (with the hooks) before the next is read: only a slice's
        # worth of new objects is alive at a time, so a 100,000-member first start does not grow the heap into
        # long garbage-collector pauses.
        listed = guild.members  # a copy of discord.py's cache
        seen: set[int] = set()
        new = returned = 0
        for start in range(0, len(listed), self.batch):
            arrived: list[Present] = []
            for m in listed[start : start + self.batch]:
                if m.bot:
                    continue
                seen.add(m.id)
                joined = m.joined_at or now
                if known.change(m.id, joined) is not None:
                    arrived.append(Present(m.id, m.display_name, joined))
            if arrived:
                added, back = await self._write_arrivals(guild, known, arrived, last_seen, now)
                new, returned = new + added, returned + back
            else:
                await asyncio.sleep(0)
        gone = known.gone(seen)
        for start in range(0, len(gone), self.batch):
            # Still gone as the batch is written (one who rejoined since must not be marked as left).
            still_gone = [i for i in gone[start : start + self.batch] if guild.get_member(i) is None]
            async with self.bot.sessions.begin() as session:
                await members.mark_left(session, guild.id, still_gone, now)
        async with self.bot.sessions.begin() as session:
            await set_state(session, key, now.isoformat())
        result = SyncResult(new, returned, len(gone), last_seen, now)
        log.info(
            "member list reconciled: %d new, %d back, %d gone since the bot last saw the server",
            result.new,
            result.returned,
            result.gone,
        )
        return result
