"""Soak: a 10,000-member server under a steady mix of commands, joins, clicks and due reminders for minutes.

    .venv/bin/python -m bench.soak_bench                                 # 10,000 members, 5 minutes, SQLite
    .venv/bin/python -m bench.soak_bench --minutes 1 --members 2000      # a quick look
    scripts/with-postgres.sh .venv/bin/python -m bench.soak_bench --db postgres

The real ``AtlasBot`` runs as in production (SystemClock, the live scheduler, migrations on a temporary SQLite
file or a fresh PostgreSQL database, the meta and onboarding cogs) against the Discord emulator with Discord's
rate limits on. The members are on the server before the bot first starts (recorded quietly by the first member
sync, as when the bot is installed in an existing community). Then, every second, open loop (the load does not
slow down when the bot does):

- ``--commands`` slash commands (``/profile view``) from random members,
- ``--joins`` new members join (each one a greeting DM, a welcome post and a role change: reminders),
- ``--clicks`` clicks on "Start onboarding" in a joined member's greeting DM (the modal opens),
- ``--reminders`` reminders scheduled 0-10 s ahead, each a DM when due (the dispatcher under steady work).

Every ``--sample`` seconds it prints: operations done, interactions answered and their p50/p99 latency (the
emulator's ``answered_after``: from INTERACTION_CREATE to the response), the process's RSS, and the reminders
pending (all) and due but not yet sent (the backlog). The emulator runs in the same process, so its own state
(every member, DM channel and message) is part of the RSS; its per-request records are cleared every sample.
After the load stops it waits for the backlog to drain and checks the work: every interaction answered, every
joiner greeted once, every scheduled reminder sent once. Figures are printed, never asserted; ``run_soak`` is
what tests/e2e/test_soak.py runs in a short form.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import math
import os
import random
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import cast

from sqlalchemy import func, select

from bot.clock import ManualClock, SystemClock
from bot.discord_seam import point_discord_at
from bot.emulator import Emulator, Member
from bot.emulator.interactions import InteractionResult
from bot.harness import AtlasHarness, config_for, create_pg_database, drop_pg_database, make_world
from bot.reminders import PENDING, SENT, ReminderKind
from models import Reminder

log = logging.getLogger("bench.soak")
KIND = "soak.dm"


@dataclass
class Sample:
    at: float  # seconds since the load started
    ops: int  # operations issued so far
    answered: int  # interactions answered in this sample
    p50_ms: float
    p99_ms: float
    rss_mb: float
    pending: int  # reminders pending, due or not
    due: int  # reminders due and not yet sent: the backlog


@dataclass
class Report:
    members: int
    seconds: float = 0.0
    ops: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, every answered interaction
    errors: list[str] = field(default_factory=list)  # interactions not answered, or answered with an error
    samples: list[Sample] = field(default_factory=list)
    joined: list[Member] = field(default_factory=list)
    greeted_twice: int = 0
    not_greeted: int = 0
    scheduled: int = 0
    sent_once: int = 0
    sent_twice: int = 0
    left_due: int = 0  # due reminders still not sent after the drain
    failed: int = 0
    drained_after: float = math.nan

    def pct(self, q: float, values: list[float] | None = None) -> float:
        ordered = sorted(self.latencies if values is None else values)
        if not ordered:
            return math.nan
        return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] * 1000

    @property
    def throughput(self) -> float:
        return sum(self.ops.values()) / self.seconds if self.seconds else 0.0


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


async def run_soak(
    *,
    members: int = 10_000,
    seconds: float = 300,
    commands: float = 8,
    joins: float = 1,
    clicks: float = 1,
    reminders: float = 4,
    sample: float = 10,
    db: str = "sqlite",
    workdir: Path | None = None,
    drain: float = 60,
    seed: int = 15,
    say: Callable[[str], None] = print,
) -> Report:
    rng = random.Random(seed)
    clock = SystemClock()
    report = Report(members)
    pg_name = None
    admin = os.environ.get("ATLAS_TEST_POSTGRES_URL", "")
    if db == "postgres":
        url, pg_name = await create_pg_database(admin, "atlas_soak")
    else:
        folder = workdir or Path(tempfile.mkdtemp(prefix="atlas-soak-"))
        url = f"sqlite+aiosqlite:///{folder / f'soak-{uuid.uuid4().hex[:6]}.db'}"
    sent: Counter[int] = Counter()  # soak reminder id -> times its handler sent it
    try:
        async with Emulator(now=clock.now, rate_limits=True) as emu:
            point_discord_at(emu.api_base, emu.gateway_url)
            guild = make_world(emu)
            crowd = [emu.add_member(guild, f"member{i:05d}") for i in range(members)]
            config = config_for(emu, guild, cogs=["meta", "onboarding"])
            harness = AtlasHarness(emu, guild, cast(ManualClock, clock), config, url)
            started = time.perf_counter()
            bot = await harness.start(live_scheduler=True)
            say(f"bot ready with {members:,} members in {time.perf_counter() - started:.1f} s ({db})")

            async def soak_dm(reminder: Reminder) -> None:
                member = await bot.live_member(reminder.target_id)
                await member.send(f"soak reminder {reminder.id}")
                sent[reminder.id] += 1

            bot.reminders.register(ReminderKind(KIND, soak_dm))
            tasks: set[asyncio.Task[None]] = set()
            window: list[float] = []

            async def interact(coro: Awaitable[InteractionResult]) -> None:
                try:
                    r = await coro
                except Exception as exc:  # the emulator refused the request: the load's fault, counted
                    report.errors.append(repr(exc))
                    return
                if r.error or r.answered_after is None:
                    report.errors.append(str(r.error or "not answered"))
                else:
                    window.append(r.answered_after)
                    report.latencies.append(r.answered_after)

            async def schedule() -> None:
                target = rng.choice(crowd)
                async with bot.sessions.begin() as session:
                    rid = await bot.reminders.schedule(
                        session,
                        kind=KIND,
                        guild_id=guild.id,
                        target_id=target.id,
                        due_at=clock.now() + timedelta(seconds=rng.uniform(0, 10)),
                    )
                if rid is not None:
                    report.scheduled += 1

            def spawn(coro: Awaitable[None]) -> None:
                task = asyncio.ensure_future(coro)
                tasks.add(task)
                task.add_done_callback(tasks.discard)

            async def counts() -> tuple[int, int]:
                async with bot.sessions() as session:
                    pending = await session.scalar(
                        select(func.count()).select_from(Reminder).where(Reminder.state == PENDING)
                    )
                    due = await session.scalar(
                        select(func.count())
                        .select_from(Reminder)
                        .where(Reminder.state.in_([PENDING, "claimed"]), Reminder.due_at <= clock.now())
                    )
                return int(pending or 0), int(due or 0)

            rates = {"command": commands, "join": joins, "click": clicks, "reminder": reminders}
            gc.collect()
            say(
                f"{'t s':>6} {'ops':>7} {'answered':>8} {'p50 ms':>7} {'p99 ms':>7} {'RSS MB':>7} "
                f"{'pending':>7} {'due':>5}"
            )
            start = time.monotonic()
            next_sample = start + sample
            owed = dict.fromkeys(rates, 0.0)
            tick = 0.1
            clickable: list[Member] = []
            while (now := time.monotonic()) < start + seconds:
                for op, rate in rates.items():
                    owed[op] += rate * tick
                    while owed[op] >= 1:
                        owed[op] -= 1
                        report.ops[op] += 1
                        if op == "command":
                            spawn(interact(emu.slash(rng.choice(crowd), "profile view")))
                        elif op == "join":
                            member = emu.join(guild, f"joiner{len(report.joined):05d}")
                            report.joined.append(member)
                            crowd.append(member)
                        elif op == "click":
                            ready = [m for m in report.joined[-50:] if m not in clickable and emu.dms(m)]
                            if ready:
                                member = rng.choice(ready)
                                clickable.append(member)
                                spawn(interact(emu.click(member, emu.dms(member)[0], "onb:start")))
                            else:
                                report.ops[op] -= 1
                        else:
                            spawn(schedule())
                if now >= next_sample:
                    pending, due = await counts()
                    s = Sample(
                        now - start,
                        sum(report.ops.values()),
                        len(window),
                        report.pct(50, window),
                        report.pct(99, window),
                        rss_mb(),
                        pending,
                        due,
                    )
                    report.samples.append(s)
                    say(
                        f"{s.at:6.0f} {s.ops:7,} {s.answered:8,} {s.p50_ms:7.1f} {s.p99_ms:7.1f} {s.rss_mb:7.1f} "
                        f"{s.pending:7,} {s.due:5,}"
                    )
                    window.clear()
                    # The emulator keeps every interaction and request for tests: not the bot's memory.
                    forget_finished(emu, older_than=sample)
                    emu.requests.clear()
                    next_sample += sample
                await asyncio.sleep(max(0.0, tick - (time.monotonic() - now)))
            report.seconds = time.monotonic() - start
            if tasks:
                await asyncio.gather(*list(tasks), return_exceptions=True)

            # Drain: the load has stopped; everything scheduled (up to 10 s ahead) must go out.
            drain_start = time.monotonic()
            while time.monotonic() < drain_start + drain:
                _, due = await counts()
                greeted = all(emu.dms(m) for m in report.joined)
                if due == 0 and greeted and len(sent) >= report.scheduled:
                    report.drained_after = time.monotonic() - drain_start
                    break
                await asyncio.sleep(0.25)
            await asyncio.sleep(1)  # a repeat, if any, would arrive meanwhile
            for m in report.joined:
                greetings = [d for d in emu.dms(m) if d.embeds and "Welcome" in str(d.embeds[0].get("title", ""))]
                report.greeted_twice += len(greetings) > 1
                report.not_greeted += not greetings
            report.sent_once = sum(1 for n in sent.values() if n == 1)
            report.sent_twice = sum(1 for n in sent.values() if n > 1)
            async with bot.sessions() as session:
                rows = list(
                    await session.execute(select(Reminder.kind, Reminder.state).where(Reminder.kind == KIND))
                )
            report.failed = sum(1 for _, state in rows if state == "failed")
            report.left_due = sum(1 for _, state in rows if state != SENT) - report.failed
            await harness.stop()
    finally:
        point_discord_at(None)
        if pg_name is not None:
            await drop_pg_database(admin, pg_name)
    return report


def forget_finished(emu: Emulator, *, older_than: float) -> int:
    """Drop the emulator's records of interactions that are over (answered, or expired unanswered) and were
    created more than ``older_than`` seconds ago; returns how many. An interaction still in flight keeps its
    record: it is how the emulator knows the bot's answer is for a live interaction. Clearing them all at a
    sample (as this bench once did) dropped a click dispatched a few milliseconds before, and the bot's answer,
    on time, met 10062 Unknown interaction: the "missed deadline" of the soak's CI form."""
    cutoff = time.monotonic() - older_than
    over = [r for r in emu.interactions.values() if r.is_done() and r.created <= cutoff]
    for r in over:
        del emu.interactions[r.id]
        emu.interactions_by_token.pop(r.token, None)
    return len(over)


def summary(report: Report) -> str:
    rss = [s.rss_mb for s in report.samples]
    half = len(report.samples) // 2
    first, second = report.samples[:half], report.samples[half:]
    lines = [
        f"{report.members:,} members, {report.seconds:.0f} s: {sum(report.ops.values()):,} operations "
        f"({', '.join(f'{k} {v:,}' for k, v in sorted(report.ops.items()))}), {report.throughput:.1f}/s",
        f"interactions: {len(report.latencies):,} answered, p50 {report.pct(50):.1f} ms, "
        f"p99 {report.pct(99):.1f} ms, {len(report.errors)} not answered or errors",
    ]
    if rss:
        lines.append(
            f"RSS: {rss[0]:.0f} MB at the first sample, {rss[-1]:.0f} MB at the last, max {max(rss):.0f} MB "
            f"(first half max {max(s.rss_mb for s in first) if first else math.nan:.0f}, second half max "
            f"{max(s.rss_mb for s in second):.0f})"
        )
        lines.append(
            f"backlog (due, unsent): first half max {max((s.due for s in first), default=0)}, second half max "
            f"{max(s.due for s in second)}, last {report.samples[-1].due}"
        )
    lines.append(
        f"joiners {len(report.joined):,}: {report.not_greeted} not greeted, {report.greeted_twice} greeted twice; "
        f"reminders {report.scheduled:,}: {report.sent_once:,} sent once, {report.sent_twice} twice, "
        f"{report.failed} failed, {report.left_due} left; drained {report.drained_after:.1f} s after the load"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--commands", type=float, default=8, help="slash commands per second")
    parser.add_argument("--joins", type=float, default=1, help="joins per second")
    parser.add_argument("--clicks", type=float, default=1, help="clicks per second")
    parser.add_argument("--reminders", type=float, default=4, help="reminders scheduled per second")
    parser.add_argument("--sample", type=float, default=15, help="seconds between samples")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        report = asyncio.run(
            run_soak(
                members=args.members,
                seconds=args.minutes * 60,
                commands=args.commands,
                joins=args.joins,
                clicks=args.clicks,
                reminders=args.reminders,
                sample=args.sample,
                db=args.db,
            )
        )
        print(summary(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
