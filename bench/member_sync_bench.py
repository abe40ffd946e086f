"""The start-up member reconcile (bot.member_sync) at community scale: how long it takes and how long it ever
holds the event loop.

A stand-in guild of N members (plain objects with discord.Member's attributes: building 100,000 real ones through
the emulator's GUILD_CREATE would measure discord.py's parsing, not the reconcile) against a migrated SQLite file
(or --db URL). Three runs: the first install (every member unknown: recorded quietly), a restart with nothing
changed, and a restart after J joins and L leaves while the bot was down. A ticker task wakes every millisecond
and records its longest wait, which is the longest the reconcile kept the loop from other work (on a busy machine
the baseline line shows what the OS alone costs). Both sides run in one process: first as before, then with the
member cache settled as AtlasBot does on READY (``bot.heap.settle``).

    .venv/bin/python -m bench.member_sync_bench            # -n 100000 -j 500 -l 500 [--db URL]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot import db, heap
from bot.clock import ManualClock
from bot.member_sync import Arrivals, MemberSync


@dataclass
class FakeMember:
    id: int
    display_name: str
    joined_at: datetime
    bot: bool = False


@dataclass
class FakeGuild:
    id: int
    by_id: dict[int, FakeMember] = field(default_factory=dict)
    chunked: bool = True
    unavailable: bool = False

    @property
    def members(self) -> list[FakeMember]:
        return list(self.by_id.values())

    def get_member(self, member_id: int) -> FakeMember | None:
        return self.by_id.get(member_id)


@dataclass
class FakeBot:
    home_guild: FakeGuild
    clock: ManualClock
    sessions: Any


async def _ticker(stop: asyncio.Event, worst: list[float]) -> None:
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        worst[0] = max(worst[0], now - last - 0.001)
        last = now


async def _timed(sync: MemberSync) -> tuple[float, float]:
    stop, worst = asyncio.Event(), [0.0]
    ticker = asyncio.create_task(_ticker(stop, worst))
    await asyncio.sleep(0.01)
    worst[0] = 0.0
    start = time.perf_counter()
    await sync.run()
    elapsed = time.perf_counter() - start
    stop.set()
    await ticker
    return elapsed, worst[0]


def _fmt(elapsed: float, worst: float) -> str:
    return f"{elapsed * 1000:8.0f} ms, loop held at most {worst * 1000:.1f} ms"


async def scenarios(args: argparse.Namespace, url: str, *, frozen: bool) -> None:
    """The three runs on a fresh database; ``frozen``: the cache is settled as AtlasBot does on READY
    (``bot.heap.settle``: one collection, then the cached members frozen out of later full collections)."""
    await db.upgrade(url)
    engine = db.create_engine(url)
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    guild = FakeGuild(1)
    start = clock.now() - timedelta(days=400)
    for i in range(args.members):
        guild.by_id[10_000 + i] = FakeMember(10_000 + i, f"member{i}", start + timedelta(minutes=i))
    bot = FakeBot(guild, clock, db.create_sessionmaker(engine))
    sync = MemberSync(bot)  # type: ignore[arg-type]
    greeted: list[int] = []

    async def hook(_session: Any, arrivals: Arrivals) -> None:
        greeted.extend(p.discord_id for p in arrivals.since_last_seen())

    sync.add_hook("count", hook)
    gc.unfreeze()
    gc.collect()
    settled = ""
    if frozen:
        began = time.perf_counter()
        heap.settle(args.members, threshold=0)
        settled = f" in {(time.perf_counter() - began) * 1000:.0f} ms, at connect"
    print(f"-- {'cache settled (bot.heap.settle)' + settled if frozen else 'as before (no freeze)'}")
    elapsed, worst = await _timed(sync)
    print(f"first install (all recorded quietly): {_fmt(elapsed, worst)}")
    clock.advance(hours=1)
    elapsed, worst = await _timed(sync)
    print(f"restart, nothing changed:             {_fmt(elapsed, worst)}")
    clock.advance(hours=1)
    for i in range(args.leaves):
        del guild.by_id[10_000 + i]
    for i in range(args.joins):
        new_id = 10_000 + args.members + i
        guild.by_id[new_id] = FakeMember(new_id, f"new{i}", clock.now() - timedelta(minutes=30))
    clock.advance(minutes=1)
    elapsed, worst = await _timed(sync)
    print(f"restart, {args.joins} joined + {args.leaves} left:   {_fmt(elapsed, worst)}; {len(greeted)} to greet")
    await engine.dispose()
    gc.unfreeze()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--members", type=int, default=100_000)
    parser.add_argument("-j", "--joins", type=int, default=500, help="joins while the bot was down")
    parser.add_argument("-l", "--leaves", type=int, default=500, help="leaves while the bot was down")
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file per side)")
    args = parser.parse_args()
    print(f"{args.members} members, load average {os.getloadavg()[0]:.1f}")
    stop, idle = asyncio.Event(), [0.0]
    ticker = asyncio.create_task(_ticker(stop, idle))
    await asyncio.sleep(1)
    stop.set()
    await ticker
    print(f"baseline (no work, 1 s): loop held at most {idle[0] * 1000:.1f} ms (other processes, the OS)")
    for frozen in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            if args.db:
                url = args.db
                if frozen:
                    print("(--db: the second side reuses the database; use a fresh one per side to compare)")
            else:
                url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            await scenarios(args, url, frozen=frozen)


if __name__ == "__main__":
    asyncio.run(main())
