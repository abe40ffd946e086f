"""Join-burst benchmark: N members join within a few seconds; how long until each gets the greeting DM?

    .venv/bin/python -m bench.join_burst_bench                          # 1000 joins in 10 s, SQLite, 3 runs
    .venv/bin/python -m bench.join_burst_bench -n 100 --window 0        # 100 joins at once
    scripts/with-postgres.sh .venv/bin/python -m bench.join_burst_bench --db postgres
    .venv/bin/python -m bench.join_burst_bench --global-limit 250       # a bot whose global limit was raised

Everything goes through the Discord emulator with Discord's rate limits on (``Emulator(rate_limits=True)``:
50 requests/s per bot, 5 messages per 5 s per channel, X-RateLimit-* headers, 429 with retry_after). The real
``AtlasBot`` runs as in production (SystemClock, the live scheduler, migrations on a temporary SQLite file or a
fresh PostgreSQL database, the meta and onboarding cogs). Members join at an even pace over ``--window`` seconds.

Greeting latency is, per member, the emulator's timestamp of the bot's first DM to them minus their join time (the
DM is the member's first contact). The welcome channel is checked too: every member must be named there once,
with the time until the last one is. Printed per side (median of ``--runs`` runs):

- **Atlas**: the bot as shipped.
- **bare discord.py**: a ``commands.Bot`` whose ``on_member_join`` DMs the member and posts a welcome straight
  away (no database, no durability, one post per member), against its own emulator with the same limits: what
  discord.py alone does with the burst. Its welcome column counts what was posted once the DMs were done (one
  post per member at 5 per 5 s would take n seconds).
- **bound**: the best any bot can do under the global limit: greetings in join order, each costing two requests
  (open the DM channel, send the DM) at exactly ``--global-limit`` requests/s, the welcome posts not counted.

Rate-limit figures: 429s the emulator sent (by scope) and 429s a client ignored (a request before retry_after had
passed). The Atlas side also reports reminders that failed or were retried, and any "database is locked".
Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import math
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import discord
from discord.ext import commands
from sqlalchemy import select

from bot.clock import ManualClock, SystemClock
from bot.discord_seam import point_discord_at
from bot.emulator import Emulator, Guild, Member
from bot.harness import AtlasHarness, config_for, create_pg_database, drop_pg_database, make_world
from models import Reminder

log = logging.getLogger("bench.join_burst")
TARGET_P99_S = 5.0


@dataclass
class Run:
    side: str
    n: int
    latencies: list[float] = field(default_factory=list)  # seconds, one per greeted member
    welcomed_after: float = math.nan  # seconds from the first join until every member was named in #welcome
    welcome_posts: int = 0
    named_twice: int = 0
    dms_twice: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    ignored: int = 0
    failed: int = 0
    retried: int = 0
    locked: int = 0
    seconds: float = 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


# --------------------------------------------------------------------------------------------- load
async def burst(emu: Emulator, guild: Guild, n: int, window: float) -> tuple[list[Member], float]:
    """``n`` joins evenly over ``window`` seconds; returns the members and the monotonic start time."""
    members: list[Member] = []
    start = time.monotonic()
    for i in range(n):
        due = start + (window * i / n if n > 1 else 0.0)
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        members.append(emu.join(guild, f"joiner{i:04d}"))
    return members, start


def greeted(emu: Emulator, member: Member) -> list[Any]:
    channel = emu.dm_channels.get(member.id)
    return [m for m in channel.messages if m.author.id == emu.bot_user.id] if channel else []


async def observe(
    emu: Emulator, guild: Guild, members: list[Member], patience: float, run: Run, *, welcomes: bool = True
) -> None:
    """Wait until every member has a DM and (``welcomes``) is named in #welcome, or ``patience`` runs out; fill
    in the figures."""
    welcome = emu.channel(guild, "welcome")
    first_join = min(m.joined_at for m in members)
    end = time.monotonic() + patience
    ids = {m.id for m in members}
    while time.monotonic() < end:
        named = {u for msg in emu.messages(welcome) for u in msg.mentioned_user_ids}
        if all(greeted(emu, m) for m in members) and (not welcomes or ids <= named):
            break
        await asyncio.sleep(0.05)
    for m in members:
        dms = greeted(emu, m)
        if dms:
            run.latencies.append((dms[0].timestamp - m.joined_at).total_seconds())
        run.dms_twice += len(dms) > 1
    names: Counter[int] = Counter()
    last: Any = None
    for msg in emu.messages(welcome):
        hits = [u for u in msg.mentioned_user_ids if u in ids]
        if hits:
            run.welcome_posts += 1
            names.update(hits)
            last = msg.timestamp
    run.named_twice = sum(1 for c in names.values() if c > 1)
    if ids <= set(names) and last is not None:
        run.welcomed_after = (last - first_join).total_seconds()
    limiter = emu.rate_limiter
    assert limiter is not None
    run.rejected = Counter(r.scope for r in limiter.rejected)
    run.ignored = len(limiter.ignored)


async def timed_burst(emu: Emulator, guild: Guild, args: argparse.Namespace, run: Run, *, welcomes: bool) -> None:
    """The measured part, the same for both sides: the burst and its greetings, after start-up's requests have
    left the global window and the rate limiter's records were reset."""
    await asyncio.sleep(1.1)
    assert emu.rate_limiter is not None
    emu.rate_limiter.rejected.clear()
    emu.rate_limiter.ignored.clear()
    gc.collect()
    started = time.perf_counter()
    members, _ = await burst(emu, guild, args.n, args.window)
    await observe(emu, guild, members, args.timeout, run, welcomes=welcomes)
    run.seconds = time.perf_counter() - started


# --------------------------------------------------------------------------------------------- Atlas
async def run_atlas(args: argparse.Namespace, workdir: Path) -> Run:
    clock = SystemClock()
    run = Run("Atlas", args.n)
    pg_name = None
    if args.db == "postgres":
        url, pg_name = await create_pg_database(os.environ["ATLAS_TEST_POSTGRES_URL"], "atlas_bench")
    else:
        url = f"sqlite+aiosqlite:///{workdir / f'burst-{uuid.uuid4().hex[:6]}.db'}"
    async with Emulator(now=clock.now, rate_limits=True, global_rate_limit=args.global_limit) as emu:
        point_discord_at(emu.api_base, emu.gateway_url)
        guild = make_world(emu)
        config = config_for(
            emu, guild, cogs=["meta", "onboarding"], discord={"global_rate_limit": args.global_limit}
        )
        harness = AtlasHarness(emu, guild, cast(ManualClock, clock), config, url)
        await harness.start(live_scheduler=True)
        try:
            await timed_burst(emu, guild, args, run, welcomes=True)
            async with harness.bot.sessions() as session:
                rows = list(await session.scalars(select(Reminder)))
            run.failed = sum(r.state == "failed" for r in rows)
            run.retried = sum(r.attempts > 1 for r in rows)
            run.locked = sum("locked" in (r.last_error or "") for r in rows)
        finally:
            await harness.stop()
            point_discord_at(None)
    if pg_name is not None:
        await drop_pg_database(os.environ["ATLAS_TEST_POSTGRES_URL"], pg_name)
    return run


# --------------------------------------------------------------------------------------------- bare discord.py
class BareGreeter(commands.Bot):
    """What a bot without Atlas's machinery does: greet from the event handler, one post per member."""

    def __init__(self, guild_id: int, welcome_id: int) -> None:
        intents = discord.Intents.none()
        intents.guilds = intents.members = True
        super().__init__(command_prefix="!", intents=intents, guild_ready_timeout=0.05, help_command=None)
        self.guild_id, self.welcome_id = guild_id, welcome_id

    async def on_member_join(self, member: discord.Member) -> None:
        embed = discord.Embed(title=f"Welcome to {member.guild.name}!", description="Start onboarding below.")
        with contextlib.suppress(discord.HTTPException):
            await member.send(embed=embed)
        channel = self.get_channel(self.welcome_id)
        if isinstance(channel, discord.TextChannel):
            with contextlib.suppress(discord.HTTPException):
                await channel.send(
                    f"Welcome, {member.mention}!", allowed_mentions=discord.AllowedMentions(users=[member])
                )


async def run_bare(args: argparse.Namespace) -> Run:
    clock = SystemClock()
    run = Run("bare discord.py", args.n)
    async with Emulator(now=clock.now, rate_limits=True, global_rate_limit=args.global_limit) as emu:
        point_discord_at(emu.api_base, emu.gateway_url)
        guild = make_world(emu)
        bot = BareGreeter(guild.id, emu.channel(guild, "welcome").id)
        task = asyncio.create_task(bot.start("bench-token"))
        try:
            await asyncio.wait_for(bot.wait_until_ready(), 30)
            await emu.wait_ready()
            # One post per member at Discord's 5 per 5 s takes n seconds: wait for the DMs only.
            await timed_burst(emu, guild, args, run, welcomes=False)
        finally:
            await bot.close()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, 5)
            point_discord_at(None)
    return run


def bound(args: argparse.Namespace) -> Run:
    """Greetings in join order at exactly the global limit, two requests each."""
    run = Run("bound (global limit)", args.n)
    per = 2.0 / args.global_limit
    done = 0.0
    for i in range(args.n):
        arrival = args.window * i / args.n if args.n > 1 else 0.0
        done = max(arrival, done) + per
        run.latencies.append(done - arrival)
    return run


# --------------------------------------------------------------------------------------------- reporting
def med(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else math.nan


def print_table(results: dict[str, list[Run]], args: argparse.Namespace) -> None:
    print()
    print(
        f"{args.n} joins within {args.window:g} s, global limit {args.global_limit}/s, "
        f"database {args.db}; median of {args.runs} run(s); latency = join -> greeting DM"
    )
    header = (
        f"{'side':<22} {'greeted':>8} {'p50 s':>7} {'p99 s':>7} {'max s':>7} {'all welcomed s':>15} "
        f"{'posts':>6} {'twice':>6} {'429 user/global':>16} {'ignored':>8} {'failed':>7} {'locked':>7}"
    )
    print(header)
    print("-" * len(header))
    for name, runs in results.items():
        greeted_n = med([len(r.latencies) for r in runs])
        twice = max(r.dms_twice + r.named_twice for r in runs)
        if name.startswith("bound"):
            r = runs[0]
            print(f"{name:<22} {args.n:>8} {r.pct(50):>7.2f} {r.pct(99):>7.2f} {r.pct(100):>7.2f}")
            continue
        print(
            f"{name:<22} {greeted_n:>8.0f} {med([r.pct(50) for r in runs]):>7.2f} "
            f"{med([r.pct(99) for r in runs]):>7.2f} {med([r.pct(100) for r in runs]):>7.2f} "
            f"{med([r.welcomed_after for r in runs]):>15.2f} {med([r.welcome_posts for r in runs]):>6.0f} "
            f"{twice:>6} "
            f"{med([r.rejected['user'] for r in runs]):>7.0f}/{med([r.rejected['global'] for r in runs]):<8.0f} "
            f"{max(r.ignored for r in runs):>8} {max(r.failed for r in runs):>7} {max(r.locked for r in runs):>7}"
        )
    atlas = results.get("Atlas", [])
    if atlas:
        p99 = med([r.pct(99) for r in atlas])
        verdict = "HOLDS" if p99 < TARGET_P99_S and all(len(r.latencies) == args.n for r in atlas) else "MISSED"
        print(f"target: Atlas greeting p99 < {TARGET_P99_S:g} s ........ {verdict}")
        print("per run (Atlas p50/p99 s): " + ", ".join(f"{r.pct(50):.2f}/{r.pct(99):.2f}" for r in atlas))


async def main(args: argparse.Namespace) -> int:
    if args.db == "postgres" and not os.environ.get("ATLAS_TEST_POSTGRES_URL"):
        print("--db postgres needs ATLAS_TEST_POSTGRES_URL (scripts/with-postgres.sh sets it)")
        return 2
    load = os.getloadavg()[0]
    print(f"load average before the run: {load:.2f} on {os.cpu_count()} CPUs", flush=True)
    results: dict[str, list[Run]] = {"Atlas": [], "bare discord.py": []}
    with tempfile.TemporaryDirectory(prefix="atlas-burst-") as tmp:
        for i in range(args.runs):
            sides = ("Atlas", "bare discord.py") if i % 2 == 0 else ("bare discord.py", "Atlas")
            for side in sides:
                if side == "bare discord.py" and args.no_bare:
                    continue
                r = await (run_atlas(args, Path(tmp)) if side == "Atlas" else run_bare(args))
                results[side].append(r)
                print(
                    f"  run {i + 1} {side:<16} greeted {len(r.latencies)}/{args.n}  p50 {r.pct(50):6.2f} s  "
                    f"p99 {r.pct(99):6.2f} s  all welcomed {r.welcomed_after:6.2f} s "
                    f"in {r.welcome_posts} post(s)  "
                    f"429 {dict(r.rejected)} ignored {r.ignored} failed {r.failed} retried {r.retried} "
                    f"locked {r.locked}",
                    flush=True,
                )
    if args.no_bare:
        del results["bare discord.py"]
    results["bound (global limit)"] = [bound(args)]
    print_table(results, args)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("-n", type=int, default=1000, help="members joining (default 1000)")
    p.add_argument(
        "--window", type=float, default=10.0, help="seconds over which they join (default 10; 0: at once)"
    )
    p.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("-r", "--runs", type=int, default=3, help="runs per side (default 3)")
    p.add_argument("--global-limit", type=int, default=50, help="the emulator's global limit, requests/s (50)")
    p.add_argument("--timeout", type=float, default=180.0, help="give up waiting after this many seconds (180)")
    p.add_argument("--no-bare", action="store_true", help="skip the bare discord.py side")
    args = p.parse_args(argv)
    if args.n < 1 or args.runs < 1 or args.window < 0 or args.global_limit < 1:
        p.error("-n, --runs and --global-limit must be >= 1, --window >= 0")
    return args


def quiet(record: logging.LogRecord) -> bool:
    text = record.getMessage()
    return "voice will NOT be supported" not in text and "We are being rate limited" not in text


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(quiet)
    sys.exit(asyncio.run(main(parse_args())))
