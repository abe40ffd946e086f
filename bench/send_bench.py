"""Send benchmark: 10,000 due reminders (badge posts to one channel, and DMs) drained under Discord's limits.

    .venv/bin/python -m bench.send_bench                          # 5,000 badge posts + 5,000 DMs, SQLite
    .venv/bin/python -m bench.send_bench --badges 1000 --dms 1000
    scripts/with-postgres.sh .venv/bin/python -m bench.send_bench --db postgres

The real ``AtlasBot`` (SystemClock, the live scheduler, the meta, onboarding and recognition cogs) against the
Discord emulator with Discord's rate limits on (``Emulator(rate_limits=True)``: 50 requests/s per bot, 5 messages
per 5 s per channel, X-RateLimit-* headers, 429 with retry_after, invalid-request counting). Before the clock
starts, ``--badges`` members earn a badge each (the ledger schedules one ``recognition.badge_post`` per award,
all due now) and ``--dms`` members get a due ``journey.nudge`` (a DM each); then the dispatcher is kicked once and
the run lasts until every one of those reminders is sent (or failed).

Printed: the drain time, messages/s (posts and DMs the emulator received), the digest posts and how many members
they named (each once?), 429s the emulator sent (by scope) and 429s a client ignored, the invalid-request count,
claim statements per reminder (a SQLAlchemy ``before_cursor_execute`` listener), and the event loop's longest
stall (a 10 ms ticker's worst lateness). Numbers are printed, never asserted.

Badge digests hold 50 members; a remainder smaller than that waits for the digest window (15 minutes) after the
previous post, by design, so ``--badges`` should be a multiple of 50 for a drain that ends.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import cast

from sqlalchemy import event, func, select

from bot import ledger, reminders
from bot.clock import ManualClock, SystemClock
from bot.discord_seam import point_discord_at
from bot.emulator import Emulator
from bot.emulator.ratelimits import RateLimiter
from bot.harness import AtlasHarness, config_for, create_pg_database, drop_pg_database, make_world
from bot.members import ensure_member
from models import Reminder

log = logging.getLogger("bench.send")
MENTION = re.compile(r"<@!?(\d+)>")
KINDS = (ledger.BADGE_POST, "journey.nudge")


class LoopLag:
    """The event loop's worst stall: a ticker that wants to wake every ``tick`` seconds, and how late it woke."""

    def __init__(self, tick: float = 0.01) -> None:
        self.tick = tick
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.tick)
            self.worst = max(self.worst, loop.time() - before - self.tick)

    def __enter__(self) -> LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


async def prepare(harness: AtlasHarness, badges: int, dms: int) -> None:
    """The awards (with their announcement reminders) and the nudges, all due now."""
    bot, emu, guild = harness.bot, harness.emu, harness.guild
    members = [m for m in guild.members.values() if m.name.startswith("crowd")]
    policy = ledger.policy_for(bot.config)
    now = bot.clock.now()
    for start in range(0, badges, 500):
        async with bot.sessions.begin() as session:
            for i, member in enumerate(members[start : min(badges, start + 500)], start):
                row = await ensure_member(session, guild.id, member.id, display_name=member.name, joined_at=now)
                await ledger.record_event(
                    session,
                    policy,
                    guild_id=guild.id,
                    member_id=row.id,
                    kind="review_done",
                    reference=f"pr:{i}",
                    at=now,
                )
    async with bot.sessions.begin() as session:
        for member in members[:dms]:
            await reminders.add(
                session,
                kind="journey.nudge",
                guild_id=guild.id,
                target_id=member.id,
                due_at=now,
                created_at=now,
                dedupe_key=f"bench:{member.id}",
            )
    del emu


async def finished(harness: AtlasHarness) -> int:
    async with harness.bot.sessions() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(Reminder)
                .where(Reminder.kind.in_(KINDS), Reminder.state.in_(["sent", "failed", "dropped"]))
            )
            or 0
        )


async def run(args: argparse.Namespace, workdir: Path) -> None:
    clock = SystemClock()
    pg_name = None
    if args.db == "postgres":
        url, pg_name = await create_pg_database(os.environ["ATLAS_TEST_POSTGRES_URL"], "atlas_bench")
    else:
        url = f"sqlite+aiosqlite:///{workdir / f'send-{uuid.uuid4().hex[:6]}.db'}"
    total = args.badges + args.dms
    async with Emulator(now=clock.now, rate_limits=True) as emu:
        point_discord_at(emu.api_base, emu.gateway_url)
        guild = make_world(emu)
        for i in range(max(args.badges, args.dms)):
            emu.add_member(guild, f"crowd{i:05d}")
        config = config_for(emu, guild, cogs=["meta", "onboarding", "recognition"])
        harness = AtlasHarness(emu, guild, cast(ManualClock, clock), config, url)
        await harness.start(live_scheduler=True)
        try:
            started = time.perf_counter()
            harness.bot.scheduler.close_gate()  # nothing is sent while the backlog is prepared
            await prepare(harness, args.badges, args.dms)
            print(f"prepared {args.badges} awards and {args.dms} nudges in {time.perf_counter() - started:.1f} s")
            announcements = harness.channel("announcements")
            before_posts = len(emu.messages(announcements))
            before_requests = len(emu.rest.requests)
            emu.rate_limiter = limiter = RateLimiter()
            claims = 0

            def count(_conn, _cursor, statement: str, params, *_args) -> None:  # type: ignore[no-untyped-def]
                nonlocal claims
                if "UPDATE REMINDERS SET STATE" in statement.upper() and "claimed" in str(params):
                    claims += 1

            engine = harness.bot.engine.sync_engine
            event.listen(engine, "before_cursor_execute", count)
            with LoopLag() as lag:
                t0 = time.perf_counter()
                harness.bot.scheduler.open_gate()
                harness.bot.scheduler.kick()
                done = 0
                while done < total and time.perf_counter() - t0 < args.timeout:
                    await asyncio.sleep(0.5)
                    done = await finished(harness)
                elapsed = time.perf_counter() - t0
            event.remove(engine, "before_cursor_execute", count)
            posts = emu.messages(announcements)[before_posts:]
            named = Counter(int(u) for p in posts for u in MENTION.findall(p.content))
            requests = emu.rest.requests[before_requests:]
            sent_messages = sum(  # messages Discord accepted (a 429 is not a message)
                1 for r in requests if r.method == "POST" and r.path.endswith("/messages") and r.status < 300
            )
            async with harness.bot.sessions() as session:
                states = Counter(
                    (kind, state)
                    for kind, state in await session.execute(
                        select(Reminder.kind, Reminder.state).where(Reminder.kind.in_(KINDS))
                    )
                )
            print(f"drained {done}/{total} reminders in {elapsed:.1f} s ({done / elapsed:.1f} reminders/s)")
            print(
                f"messages sent: {sent_messages} ({sent_messages / elapsed:.1f}/s): {len(posts)} digest post(s) "
                f"naming {len(named)} members (max {max(named.values(), default=0)}x each), "
                f"{sent_messages - len(posts)} DM(s)"
            )
            print(f"REST requests: {len(requests)} ({len(requests) / elapsed:.1f}/s)")
            print(
                f"429s sent: {dict(Counter(r.scope for r in limiter.rejected))} "
                f"(buckets hit more than once: {sum(1 for n in Counter((r.bucket, r.path) for r in limiter.rejected).values() if n > 1)}), "  # noqa: E501
                f"ignored: {len(limiter.ignored)}, invalid requests: {limiter.invalid_requests}"
            )
            print(f"claim statements: {claims} ({claims / max(1, done):.4f} per reminder)")
            print(f"reminder states: {dict(states)}")
            print(f"event loop: worst stall {lag.worst * 1000:.0f} ms")
        finally:
            await harness.stop()
            point_discord_at(None)
    if pg_name is not None:
        await drop_pg_database(os.environ["ATLAS_TEST_POSTGRES_URL"], pg_name)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--badges", type=int, default=5000, help="members earning a badge (default 5000)")
    p.add_argument("--dms", type=int, default=5000, help="members getting a DM (default 5000)")
    p.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds (900)")
    return p.parse_args(argv)


def quiet(record: logging.LogRecord) -> bool:
    text = record.getMessage()
    return "voice will NOT be supported" not in text and "We are being rate limited" not in text


async def main(args: argparse.Namespace) -> int:
    if args.db == "postgres" and not os.environ.get("ATLAS_TEST_POSTGRES_URL"):
        print("--db postgres needs ATLAS_TEST_POSTGRES_URL (scripts/with-postgres.sh sets it)")
        return 2
    print(f"load average before the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="atlas-send-") as tmp:
        await run(args, Path(tmp))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(quiet)
    sys.exit(asyncio.run(main(parse_args())))
