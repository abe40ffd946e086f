"""Scale benchmark (issue 9): a generated community of N members and E ledger events, the daily jobs, the
first-start rebuild, /journey show and /leaderboard show, a reminder drain under Discord's rate limits, start-up.

    .venv/bin/python -m bench.scale_bench                          # 100,000 members, 10,000,000 events, SQLite
    .venv/bin/python -m bench.scale_bench --quick                  # 10,000 members, 200,000 events (~1.5 min)
    .venv/bin/python -m bench.scale_bench --only reads,startup     # some sections (gen always runs or is cached)
    .venv/bin/python -m bench.scale_bench --members 100000 --events 1000000 --only daily,rebuild
    scripts/with-postgres.sh .venv/bin/python -m bench.scale_bench --quick --db postgres
    .venv/bin/python -m bench.scale_bench --db postgresql+asyncpg://user@host/admin_db ...

Sections (``--only``, comma-separated; default all):

- ``gen``: the community (bench/scale_gen.py). SQLite files are cached under /tmp/atlas-scale-cache keyed by
  (members, events, seed, alembic head); each run works on a copy. PostgreSQL: generated once per invocation
  into a template database, each run on ``CREATE DATABASE ... TEMPLATE`` copy.
- ``startup``: the real AtlasBot (meta, onboarding, recognition cogs; production's guild_ready_timeout) against
  the Discord emulator (rate limits on) whose guild holds every present member of the generated community: time
  to ready, to the start-up member reconcile done, peak RSS of the process (bot + emulator together).
- ``reads``: ``/journey show`` and ``/leaderboard show`` (all-time and this week, with the viewer's rank) for the
  busiest and a median member through the emulator (latency = the emulator's ``answered_after``; /leaderboard
  defers, so its full time is the wall time until the deferred answer is filled), beside the SQL underneath:
  the maintained read against the raw ledger (SUM / GROUP BY) in the same run.
- ``reminders``: ``--reminders`` due reminders (half nudge DMs, half badge announcements in one channel) drained
  by the bot's dispatcher (``Reminders.run_due``) under ``Emulator(rate_limits=True)`` for at most
  ``--drain-seconds``: messages/s, 429s the emulator sent (``rejected``) and requests made before retry_after had
  passed (``ignored``), claim UPDATEs per reminder, and the time a full drain would take at that rate.
- ``daily``: the onboarding cog's ``evaluate_all``, ``reconcile_roles``, ``send_nudges`` on the running bot,
  ``--runs`` days in a row: time, statements, RSS before/after.
- ``rebuild``: the first start after an upgrade: ``ledger.rebuild_if_needed`` with member_points,
  member_kind_stats and badge_awards emptied, in a child process of its own: time, peak RSS (VmHWM), loop holds.

"Longest loop hold" is reported twice: asyncio's slow-callback log (debug mode on, ``slow_callback_duration``
20 ms; the max, and how many callbacks took over 20 ms) and a 1 ms ticker task's worst lateness. Debug mode adds
its own overhead to every callback, so the figures are somewhat pessimistic. The bot sections and the rebuild
each run in a child process (clean peak RSS); the table shows medians of ``--runs`` where it says so.

APIs called (isolated in the ``call_*`` functions below so they can follow the parallel changes of issue 9):
``AtlasBot(config, engine=, sessionmaker=, clock=, start_scheduler=False)`` then ``bot.start(token)``,
``bot.wait_until_ready()``, ``bot.community.resolved``, ``bot.member_sync.wait()``, optional ``bot.ledger_ready``
(an asyncio.Event, if a branch adds it); ``OnboardingCog.evaluate_all(now)``, ``.reconcile_roles(now)``,
``.send_nudges(now)``; ``ledger.rebuild_if_needed(session, policy, at=)`` (a ``progress=`` callback is passed
when the signature has one); ``bot.reminders.run_due(now)``; the onboarding reminder kind ``journey.nudge``
(``cogs.onboarding.cog.NUDGE``) and ``ledger.BADGE_POST`` with payload ``{"award_id", "member_id"}``.
Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import inspect
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench import scale_gen as gen
from bench import scale_probe as probe
from bench.scale_probe import LoopWatch, StatementCounter, peak_rss_mib, reset_peak_rss, rss_mib
from bot import db, ledger

log = logging.getLogger("bench.scale")
SECTIONS = ("gen", "startup", "reads", "reminders", "daily", "rebuild")
BOT_SECTIONS = ("startup", "reads", "reminders", "daily")
CACHE = Path("/tmp/atlas-scale-cache")
BEFORE = {  # issue 9's "before" figures, printed beside ours
    "startup": "+2 s guild_ready_timeout",
    "journey": "60 ms on the loop (busy member, 36,520 events)",
    "leaderboard": "rank 53 ms at 100k (SQLite); all-time page 10.5 ms at 10k (PostgreSQL)",
    "evaluate_all": "1.7 ms + 2 statements/member: 160 s at 100k",
    "reconcile_roles": "loop stall 2.2 s at 100k",
    "send_nudges": "-",
    "rebuild": "37 s, one loop stall 10.8 s, 879 MiB peak at 1M events",
    "reminders": "230-275 msg/s, no pacing; ~3 claim UPDATEs/reminder",
}


# --------------------------------------------------------------------------------------------- the database
def alembic_head() -> str:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    root = Path(__file__).resolve().parents[1]
    cfg = AlembicConfig(str(root / "alembic.ini"))
    cfg.set_main_option("script_location", str(root / "migrations"))
    return ScriptDirectory.from_config(cfg).get_current_head() or "none"


def admin_url(args: argparse.Namespace) -> str | None:
    if args.db == "postgres":
        return os.environ["ATLAS_TEST_POSTGRES_URL"]
    return args.db if args.db.startswith("postgresql") else None


async def prepare(args: argparse.Namespace) -> tuple[str, float | None]:
    """The generated community: a cached SQLite file's path or a PostgreSQL template database's name; and the
    generation time (None when it came from the cache)."""
    admin = admin_url(args)
    # Blocking file operations in the async set-up functions (ASYNC240) are outside every measurement.
    if admin is None:
        CACHE.mkdir(exist_ok=True)  # noqa: ASYNC240
        path = CACHE / f"atlas-scale-n{args.members}-e{args.events}-s{args.seed}-{alembic_head()}.db"
        if path.exists():
            return str(path), None
        tmp = path.with_suffix(".partial")
        tmp.unlink(missing_ok=True)
        start = time.perf_counter()
        await db.upgrade(f"sqlite+aiosqlite:///{tmp}")
        await asyncio.to_thread(gen.generate_sqlite, tmp, args.members, args.events, args.seed)
        seconds = time.perf_counter() - start
        tmp.rename(path)
        return str(path), seconds
    from bot.harness import create_pg_database

    url, name = await create_pg_database(admin, "atlas_scale_gen")
    start = time.perf_counter()
    await db.upgrade(url)
    await gen.generate_postgres(url, args.members, args.events, args.seed)
    return name, time.perf_counter() - start


@contextlib.asynccontextmanager
async def working_copy(args: argparse.Namespace, source: str) -> Any:
    """A database URL holding a fresh copy of the generated community, removed afterwards."""
    admin = admin_url(args)
    if admin is None:
        with tempfile.TemporaryDirectory(prefix="atlas-scale-") as tmp:
            path = Path(tmp) / "atlas.db"
            shutil.copyfile(source, path)
            yield f"sqlite+aiosqlite:///{path}"
        return
    import asyncpg

    from bot.harness import drop_pg_database

    name = f"atlas_scale_run_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    conn = await asyncpg.connect(admin.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    finally:
        await conn.close()
    try:
        yield f"{admin.rpartition('/')[0]}/{name}"
    finally:
        await drop_pg_database(admin, name)


# --------------------------------------------------------------------------------------------- API adapters
# One small function per call into code other branches of issue 9 are changing.
async def call_start_bot(config: Any, url: str, clock: Any) -> tuple[Any, asyncio.Task[None], float, float]:
    """Start AtlasBot as production does (default guild_ready_timeout); seconds to ready and to the start-up
    member reconcile (and the ledger, where a branch adds ``bot.ledger_ready``) being done."""
    from bot.core import AtlasBot
    from bot.harness import TOKEN

    engine = db.create_engine(url)
    start = time.perf_counter()
    bot = AtlasBot(
        config, engine=engine, sessionmaker=db.create_sessionmaker(engine), clock=clock, start_scheduler=False
    )
    task = asyncio.create_task(bot.start(TOKEN))
    ready = asyncio.create_task(bot.wait_until_ready())
    done, _ = await asyncio.wait({task, ready}, timeout=900, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        ready.cancel()
        task.result()
    if ready not in done:
        raise TimeoutError("AtlasBot did not become ready")
    to_ready = time.perf_counter() - start
    await asyncio.wait_for(bot.community.resolved.wait(), 900)
    if bot.home_guild is not None:
        await asyncio.wait_for(bot.member_sync.wait(), 900)
    ledger_ready = getattr(bot, "ledger_ready", None)
    if isinstance(ledger_ready, asyncio.Event):
        await asyncio.wait_for(ledger_ready.wait(), 900)
    return bot, task, to_ready, time.perf_counter() - start


async def call_stop_bot(bot: Any, task: asyncio.Task[None]) -> None:
    await bot.close()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.wait_for(task, 10)
    await bot.engine.dispose()


def call_daily_jobs(bot: Any) -> dict[str, Any]:
    cog = bot.get_cog("OnboardingCog")
    return {
        "evaluate_all": cog.evaluate_all,
        "reconcile_roles": cog.reconcile_roles,
        "send_nudges": cog.send_nudges,
    }


async def call_rebuild(session: Any, policy: ledger.LedgerPolicy, progress: list[Any]) -> Any:
    kwargs: dict[str, Any] = {"at": gen.NOW}
    if "progress" in inspect.signature(ledger.rebuild_if_needed).parameters:
        kwargs["progress"] = lambda *a, **k: progress.append((time.perf_counter(), a, k))
    return await ledger.rebuild_if_needed(session, policy, **kwargs)


async def call_drain(bot: Any) -> Any:
    return await bot.reminders.run_due(gen.NOW)


async def call_leaderboard(bot: Any, window: str, viewer: int) -> Any:
    """The service call under /leaderboard show: page 1 and the viewer's rank (cogs/recognition/cog.py)."""
    from cogs.recognition import service

    async with bot.sessions() as session:
        return await service.leaderboard(
            session,
            gen.GUILD,
            window=window,  # type: ignore[arg-type]
            category="overall",
            at=gen.NOW,
            page=0,
            viewer_member_id=viewer,
        )


def nudge_kind() -> str:
    from cogs.onboarding.cog import NUDGE

    return NUDGE


# --------------------------------------------------------------------------------------------- the bot world
def add_world(emu: Any, rows: list[tuple[int, int, str, str | None, Any]]) -> Any:
    """The harness's guild (roles and channels), with the generated community's guild id and every present
    member (their stage role; 1 in 200 onboarded members without it, for the reconcile to repair)."""
    from bot.emulator.state import Member as EmuMember
    from bot.emulator.state import User
    from bot.harness import make_world

    real_next = emu.snowflakes.next
    first = iter([gen.GUILD])
    emu.snowflakes.next = lambda: next(first, None) or real_next()
    guild = make_world(emu)
    emu.snowflakes.next = real_next
    assert guild.id == gen.GUILD
    role_of = {s: guild.role_named(s.title()).id for s in ("learner", "contributor", "teacher")}
    for member_id, discord_id, name, stage, joined in rows:
        user = User(discord_id, name)
        emu.users[discord_id] = user
        roles = [role_of[stage]] if stage is not None and member_id % 200 != 3 else []
        guild.members[discord_id] = EmuMember(user, guild, roles, joined_at=joined)
    return guild


async def present_members(url: str) -> list[tuple[int, int, str, str | None, Any]]:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT id, discord_id, display_name, stage, joined_at FROM members WHERE left_at IS NULL")
            )
            out = []
            for mid, did, name, stage, joined in rows:
                if isinstance(joined, str):
                    from datetime import UTC, datetime

                    joined = datetime.fromisoformat(joined).replace(tzinfo=UTC)
                out.append((mid, did, name, stage, joined))
            return out
    finally:
        await engine.dispose()


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def bot_child(args: argparse.Namespace, url: str, sections: set[str]) -> dict[str, Any]:
    from bot.clock import ManualClock
    from bot.discord_seam import point_discord_at
    from bot.emulator import Emulator
    from bot.harness import config_for

    out: dict[str, Any] = {}
    rows = await present_members(url)
    clock = ManualClock(gen.NOW)
    async with Emulator(now=clock.now, rate_limits=True, response_timeout=60.0) as emu:
        point_discord_at(emu.api_base, emu.gateway_url)
        guild = add_world(emu, rows)
        config = config_for(emu, guild, cogs=["meta", "onboarding", "recognition"])
        gc.collect()
        base_rss = rss_mib()
        reset_peak_rss()
        async with LoopWatch() as watch:
            bot, task, to_ready, to_synced = await call_start_bot(config, url, clock)
        out["startup"] = {
            "guild_members": len(guild.members),
            "to_ready_s": round(to_ready, 2),
            "to_member_sync_done_s": round(to_synced, 2),
            "rss_before_mib": round(base_rss, 0),
            "peak_rss_mib": round(peak_rss_mib(), 0),
            **watch.summary(),
        }
        print(f"[child] startup: {out['startup']}", file=sys.stderr, flush=True)
        bot.bench_counter = StatementCounter(bot.engine)
        try:
            if "reads" in sections:
                out["reads"] = await reads(args, bot, emu, guild)
            if "reminders" in sections:
                out["reminders"] = await drain(args, bot, emu, guild)
            if "daily" in sections:
                out["daily"] = await daily(args, bot, clock)
        finally:
            await call_stop_bot(bot, task)
            point_discord_at(None)
    return out


async def pick_members(bot: Any) -> dict[str, tuple[int, int, int]]:
    """(member id, discord id, ledger events) of the busiest present onboarded member and of a median one (not
    opted out of leaderboards, so both have a rank)."""
    async with bot.sessions() as session:
        n = await session.scalar(text("SELECT MAX(id) FROM members"))
        picks = {}
        for label, from_id in (("busiest", 1), ("median", n // 2)):
            mid, did = (
                await session.execute(
                    text(
                        "SELECT id, discord_id FROM members WHERE id >= :i AND left_at IS NULL "
                        "AND onboarded_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM recognition_prefs p "
                        "WHERE p.member_id = members.id AND p.leaderboard_opt_out) ORDER BY id LIMIT 1"
                    ),
                    {"i": from_id},
                )
            ).one()
            events = await session.scalar(
                text("SELECT COUNT(*) FROM ledger_events WHERE member_id = :m"), {"m": mid}
            )
            picks[label] = (mid, did, int(events or 0))
    return picks


async def sql_ms(bot: Any, sql: str, params: dict[str, Any], runs: int, *, warm: bool = True) -> float:
    times = []
    async with bot.engine.connect() as conn:
        if warm:  # not for the raw-ledger baselines: at 10M events one run is long enough
            await conn.execute(text(sql), params)
        for _ in range(runs):
            start = time.perf_counter()
            (await conn.execute(text(sql), params)).all()
            times.append((time.perf_counter() - start) * 1000)
    return med(times)


async def reads(args: argparse.Namespace, bot: Any, emu: Any, guild: Any) -> dict[str, Any]:
    picks = await pick_members(bot)
    # Raw SQL binds: SQLite stores UTCDateTime as naive text, so the all-time period start is bound as that text.
    sqlite = bot.engine.dialect.name == "sqlite"
    all_time: Any = gen.sqlite_ts(ledger.ALL_TIME) if sqlite else ledger.ALL_TIME
    out: dict[str, Any] = {"members": {k: {"id": v[0], "events": v[2]} for k, v in picks.items()}, "rows": []}
    commands = (
        ("journey show", {}, "journey"),
        ("leaderboard show", {"window": "all"}, "leaderboard"),
        ("leaderboard show", {}, "leaderboard"),
    )
    for label, (mid, did, events) in picks.items():
        member = guild.members[did]
        for command, options, before_key in commands:
            await emu.slash(member, command, **options)  # warm
            answered, complete, errors = [], [], []
            async with LoopWatch() as watch:
                for _ in range(args.runs):
                    start = time.perf_counter()
                    r = await emu.slash(member, command, **options)
                    complete.append((time.perf_counter() - start) * 1000)
                    if r.answered_after is not None:
                        answered.append(r.answered_after * 1000)
                    if r.error:
                        errors.append(r.error)
            name = f"/{command}" + (f" window={options['window']}" if options else "")
            out["rows"].append(
                {
                    "who": f"{label} ({events:,} events)",
                    "command": name,
                    "answered_ms": round(med(answered), 1),
                    "complete_ms": round(med(complete), 1),
                    "errors": errors[:1],
                    "before": BEFORE[before_key],
                    **watch.summary(),
                }
            )
            print(f"[child] reads: {out['rows'][-1]}", file=sys.stderr, flush=True)
        for window in ("all", "week"):
            times = []
            async with LoopWatch() as watch:
                for _ in range(args.runs + 1):
                    start = time.perf_counter()
                    board = await call_leaderboard(bot, window, mid)
                    times.append((time.perf_counter() - start) * 1000)
            out["rows"].append(
                {
                    "who": f"{label} ({events:,} events)",
                    "command": f"service.leaderboard window={window} (page 1 + rank #{board.viewer_rank})",
                    "service_ms": round(med(times[1:]), 1),
                    "before": BEFORE["leaderboard"],
                    **watch.summary(),
                }
            )
        # The SQL under the commands: the maintained read against the raw ledger, same run.
        points = (
            await sql_one(
                bot,
                "SELECT points FROM member_points WHERE member_id = :m AND category = 'overall' "
                "AND period_kind = 'all' AND period_start = :s",
                {"m": mid, "s": all_time},
            )
            or 0
        )
        base = {"m": mid, "s": all_time, "p": points, "g": gen.GUILD}
        out["rows"].append(
            {
                "who": f"{label} ({events:,} events)",
                "command": "SQL: points (maintained | raw SUM)",
                "maintained_ms": round(
                    await sql_ms(
                        bot,
                        "SELECT points FROM member_points WHERE member_id = :m AND category = 'overall' "
                        "AND period_kind = 'all' AND period_start = :s",
                        base,
                        args.runs,
                    ),
                    2,
                ),
                "raw_ms": round(
                    await sql_ms(
                        bot,
                        "SELECT SUM(points) FROM ledger_events WHERE member_id = :m",
                        base,
                        args.naive_runs,
                        warm=False,
                    ),
                    1,
                ),
            }
        )
        out["rows"].append(
            {
                "who": f"{label} ({events:,} events)",
                "command": "SQL: all-time rank (COUNT ahead | raw GROUP BY)",
                "maintained_ms": round(
                    await sql_ms(
                        bot,
                        "SELECT COUNT(*) FROM member_points WHERE guild_id = :g AND period_kind = 'all' "
                        "AND category = 'overall' AND period_start = :s AND points > :p",
                        base,
                        args.runs,
                    ),
                    2,
                ),
                "raw_ms": round(
                    await sql_ms(
                        bot,
                        "SELECT COUNT(*) FROM (SELECT member_id, SUM(points) AS s FROM ledger_events "
                        "GROUP BY member_id) t WHERE s > :p",
                        base,
                        args.naive_runs,
                        warm=False,
                    ),
                    1,
                ),
            }
        )
    return out


async def sql_one(bot: Any, sql: str, params: dict[str, Any]) -> Any:
    async with bot.engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


def bot_messages(emu: Any) -> int:
    bot_id = emu.bot_user.id
    channels = list(emu.dm_channels.values())
    for guild in emu.guilds.values():
        channels += list(guild.channels.values())
    return sum(1 for ch in channels for m in getattr(ch, "messages", ()) if m.author.id == bot_id)


async def drain(args: argparse.Namespace, bot: Any, emu: Any, guild: Any) -> dict[str, Any]:
    from models import BadgeAward, Reminder

    n = args.reminders
    policy = ledger.policy_for(bot.config)
    badge_keys = [b.key for b in policy.badges]
    async with bot.sessions() as session:
        people = (
            await session.execute(
                text(
                    "SELECT id, discord_id FROM members WHERE left_at IS NULL AND onboarded_at IS NOT NULL "
                    "ORDER BY id LIMIT :n"
                ),
                {"n": n},
            )
        ).all()
    due = gen.NOW - timedelta(seconds=1)
    half = n // 2
    async with bot.sessions.begin() as session:
        awards = [
            {
                "guild_id": gen.GUILD,
                "member_id": mid,
                "badge_key": badge_keys[i % len(badge_keys)],
                "awarded_at": due,
                "reason": "",
            }
            for i, (mid, _) in enumerate(people[: n - half])
        ]
        await session.execute(BadgeAward.__table__.insert(), awards)
    async with bot.sessions.begin() as session:
        award_rows = (await session.execute(text("SELECT id, member_id FROM badge_awards ORDER BY id"))).all()
        rows = [
            {
                "kind": nudge_kind(),
                "guild_id": gen.GUILD,
                "target_id": did,
                "payload": {},
                "dedupe_key": f"bench-nudge:{mid}",
                "due_at": due,
                "state": "pending",
                "attempts": 0,
                "created_at": due,
            }
            for mid, did in people[:half]
        ] + [
            {
                "kind": ledger.BADGE_POST,
                "guild_id": gen.GUILD,
                "target_id": aid,
                "payload": {"award_id": aid, "member_id": mid},
                "dedupe_key": ledger.announcement_key(aid),
                "due_at": due,
                "state": "pending",
                "attempts": 0,
                "created_at": due,
            }
            for aid, mid in award_rows[: n - half]
        ]
        await session.execute(Reminder.__table__.insert(), rows)
    await asyncio.sleep(1.1)  # start-up's requests leave the global window
    limiter = emu.rate_limiter
    limiter.rejected.clear()
    limiter.ignored.clear()
    counter = bot.bench_counter
    counter.reset()
    before = bot_messages(emu)
    gc.collect()
    start = time.perf_counter()
    async with LoopWatch() as watch:
        task = asyncio.create_task(call_drain(bot), name="bench:drain")
        await asyncio.wait({task}, timeout=args.drain_seconds)
        finished = task.done()
        if not finished:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    seconds = time.perf_counter() - start
    sent_messages = bot_messages(emu) - before
    async with bot.sessions.begin() as session:
        states = dict((await session.execute(text("SELECT state, COUNT(*) FROM reminders GROUP BY state"))).all())
        # What was not sent in the window is dropped, so nothing sends in the background of later sections.
        await session.execute(text("UPDATE reminders SET state = 'dropped' WHERE state IN ('pending', 'claimed')"))
    done = sum(v for k, v in states.items() if k in ("sent", "failed", "dropped"))
    rate = sent_messages / seconds if seconds else float("nan")
    scopes: dict[str, int] = {}
    for r in limiter.rejected:
        scopes[r.scope] = scopes.get(r.scope, 0) + 1
    out = {
        "reminders": n,
        "window_s": round(seconds, 1),
        "drained": finished,
        "states": states,
        "messages": sent_messages,
        "messages_per_s": round(rate, 1),
        "full_drain_s_at_this_rate": round(n / rate, 0) if rate else None,
        "rejected_429": len(limiter.rejected),
        "rejected_by_scope": scopes,
        "ignored_retry_after": len(limiter.ignored),
        "claim_updates": counter.matching(r"UPDATE reminders SET (?:(?!WHERE).)*claimed_at="),
        "reminder_updates": counter.matching(r"UPDATE reminders SET"),
        "finished": done,
        "statements": counter.count,
        **watch.summary(),
    }
    out["claims_per_reminder"] = round(out["claim_updates"] / done, 2) if done else None
    out["updates_per_reminder"] = round(out["reminder_updates"] / done, 2) if done else None
    print(f"[child] reminders: {out}", file=sys.stderr, flush=True)
    return out


async def daily(args: argparse.Namespace, bot: Any, clock: Any) -> dict[str, Any]:
    jobs = call_daily_jobs(bot)
    counter = bot.bench_counter
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in jobs}
    for day in range(args.days or args.runs):
        now = gen.NOW + timedelta(days=day)
        clock.set(now)
        for name, job in jobs.items():
            gc.collect()
            counter.reset()
            rss0 = rss_mib()
            start = time.perf_counter()
            async with LoopWatch() as watch:
                await asyncio.create_task(job(now), name=f"bench:{name}")
            seconds = time.perf_counter() - start
            runs[name].append(
                {
                    "s": seconds,
                    "statements": counter.count,
                    "rss_before": rss0,
                    "rss_after": rss_mib(),
                    **watch.summary(),
                }
            )
            print(f"[child] daily day {day}: {name} {runs[name][-1]}", file=sys.stderr, flush=True)
    out = {}
    for name, rs in runs.items():
        out[name] = {
            "median_s": round(med([r["s"] for r in rs]), 2),
            "first_s": round(rs[0]["s"], 2),
            "statements_median": int(med([r["statements"] for r in rs])),
            "statements_first": rs[0]["statements"],
            "rss_before_mib": round(rs[0]["rss_before"], 0),
            "rss_after_mib": round(rs[-1]["rss_after"], 0),
            "max_hold_ms": max(r["max_hold_ms"] for r in rs),
            "holds_over_20ms": max(r["holds_over_20ms"] for r in rs),
            "ticker_max_late_ms": max(r["ticker_max_late_ms"] for r in rs),
            "worst_callback": max(rs, key=lambda r: r["max_hold_ms"])["worst_callback"],
        }
    return out


async def rebuild_child(args: argparse.Namespace, url: str) -> dict[str, Any]:
    from sqlalchemy import delete

    from models import BadgeAward, MemberKindStats, MemberPoints

    engine = db.create_engine(url)
    sessions = db.create_sessionmaker(engine)
    policy = ledger.default_policy()
    async with sessions.begin() as session:  # as a database upgraded from before the aggregates
        for table in (MemberPoints, MemberKindStats, BadgeAward):
            await session.execute(delete(table))
    gc.collect()
    base = rss_mib()
    reset_peak_rss()
    progress: list[Any] = []
    start = time.perf_counter()
    async with LoopWatch() as watch, sessions.begin() as session:
        result = await asyncio.create_task(call_rebuild(session, policy, progress), name="bench:rebuild")
    seconds = time.perf_counter() - start
    await engine.dispose()
    return {
        "seconds": round(seconds, 1),
        "rss_before_mib": round(base, 0),
        "peak_rss_mib": round(peak_rss_mib(), 0),
        "maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
        "result": repr(result),
        "progress_calls": len(progress),
        **watch.summary(),
    }


# --------------------------------------------------------------------------------------------- parent
def run_child(kind: str, url: str, sections: set[str]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    cmd = [sys.executable, "-m", "bench.scale_bench", *sys.argv[1:], "--child", kind, "--url", url, "--out", out]
    cmd += ["--only", ",".join(sorted(sections))]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[1])
    wall = time.perf_counter() - start
    try:
        data = json.loads(Path(out).read_text() or "{}")
    except json.JSONDecodeError:
        data = {}
    Path(out).unlink(missing_ok=True)
    data["_exit"] = proc.returncode
    data["_wall_s"] = round(wall, 1)
    data["_maxrss_children_mib"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 0)
    return data


def fmt_hold(d: dict[str, Any]) -> str:
    nan = float("nan")
    return (
        f"{d.get('max_hold_ms', nan):.0f} ms ({d.get('holds_over_20ms', 0)} >20ms) "
        f"| tick {d.get('ticker_max_late_ms', nan):.0f} ms"
    )


def report(args: argparse.Namespace, gen_s: float | None, source: str, res: dict[str, Any]) -> None:
    load = os.getloadavg()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
    ).stdout.strip()
    print()
    print(
        f"scale_bench: {args.members:,} members, {args.events:,} events, {args.dbname}, runs={args.runs}, "
        f"commit {commit}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    gen_text = f"{gen_s:.1f} s" if gen_s is not None else "cached"
    print(f"generation: {gen_text} ({source})")
    rows: list[tuple[str, str, str, str]] = []
    bot = res.get("bot", {})
    if "startup" in bot:
        s = bot["startup"]
        rows.append(
            (
                f"start-up to ready ({s['guild_members']:,} members in guild)",
                f"{s['to_ready_s']:.2f} s; member sync done {s['to_member_sync_done_s']:.2f} s; "
                f"peak RSS {s['peak_rss_mib']:.0f} MiB (bot+emulator; {s['rss_before_mib']:.0f} before)",
                fmt_hold(s),
                BEFORE["startup"],
            )
        )
    if "reads" in bot:
        for r in bot["reads"]["rows"]:
            if "service_ms" in r:
                rows.append(
                    (f"{r['command']}, {r['who']}", f"{r['service_ms']:.1f} ms (median)", fmt_hold(r), r["before"])
                )
            elif "answered_ms" in r:
                value = f"answered {r['answered_ms']:.1f} ms, complete {r['complete_ms']:.1f} ms (median)"
                if r["errors"]:
                    value += f" ERROR {r['errors'][0]}"
                rows.append((f"{r['command']}, {r['who']}", value, fmt_hold(r), r["before"]))
            else:
                rows.append(
                    (
                        f"{r['command']}, {r['who']}",
                        f"{r['maintained_ms']:.2f} ms | {r['raw_ms']:.1f} ms",
                        "(SQL only)",
                        "same-run baseline",
                    )
                )
    if "reminders" in bot:
        d = bot["reminders"]
        rows.append(
            (
                f"drain {d['reminders']:,} due reminders (rate limits on)",
                f"{d['messages']:,} msgs in {d['window_s']} s = "
                f"{d['messages_per_s']} msg/s "
                f"({'all done' if d['drained'] else 'window ended'}; "
                f"full drain ~{d['full_drain_s_at_this_rate']} s); "
                f"429s {d['rejected_429']} {d['rejected_by_scope']}, "
                f"ignored {d['ignored_retry_after']}; "
                f"claim UPDATEs/reminder {d['claims_per_reminder']} "
                f"(all reminder UPDATEs {d['updates_per_reminder']})",
                fmt_hold(d),
                BEFORE["reminders"],
            )
        )
    if "daily" in bot:
        for name, d in bot["daily"].items():
            rows.append(
                (
                    f"daily {name}",
                    f"{d['median_s']:.2f} s median (first {d['first_s']:.2f} s), {d['statements_median']:,} "
                    f"statements (first {d['statements_first']:,}), RSS {d['rss_before_mib']:.0f} -> "
                    f"{d['rss_after_mib']:.0f} MiB",
                    fmt_hold(d),
                    BEFORE[name],
                )
            )
    if "rebuild" in res:
        d = res["rebuild"]
        if "seconds" in d:
            rows.append(
                (
                    "first-start rebuild (rebuild_if_needed)",
                    f"{d['seconds']:.1f} s, peak RSS {d['peak_rss_mib']:.0f} MiB "
                    f"({d['rss_before_mib']:.0f} before), progress calls {d['progress_calls']}",
                    fmt_hold(d),
                    BEFORE["rebuild"],
                )
            )
    for name, data in (("bot", bot), ("rebuild", res.get("rebuild", {}))):
        if data and data.get("_exit"):
            rows.append((f"{name} child", f"FAILED (exit {data['_exit']})", "", ""))
    head = ("measure", "value", "longest loop hold (slow-callback log | 1 ms ticker)", "issue 9 (before)")
    print()
    for row in [head, *rows]:
        print(" | ".join(row))
    worst = [r for r in rows if "ms (" in r[2]]
    if worst:
        print()
        for label, data in (("startup", bot.get("startup")), ("reminders", bot.get("reminders"))):
            if data and data.get("worst_callback"):
                print(f"worst callback ({label}): {data['worst_callback']}")
        for name, d in bot.get("daily", {}).items():
            if d.get("worst_callback"):
                print(f"worst callback (daily {name}): {d['worst_callback']}")
        if res.get("rebuild", {}).get("worst_callback"):
            print(f"worst callback (rebuild): {res['rebuild']['worst_callback']}")


async def parent(args: argparse.Namespace) -> int:
    only = set(args.only.split(",")) if args.only else set(SECTIONS)
    unknown = only - set(SECTIONS)
    if unknown:
        print(f"unknown section(s): {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
        return 2
    print(
        f"generating (or reusing) {args.members:,} members / {args.events:,} events on {args.dbname} ...",
        flush=True,
    )
    source, gen_s = await prepare(args)
    if gen_s is not None:
        print(f"generated in {gen_s:.1f} s", flush=True)
    else:
        print(f"reusing {source}", flush=True)
    res: dict[str, Any] = {}
    try:
        bot_sections = only & set(BOT_SECTIONS)
        if bot_sections:
            async with working_copy(args, source) as url:
                res["bot"] = await asyncio.to_thread(run_child, "bot", url, bot_sections | {"startup"})
        if "rebuild" in only:
            async with working_copy(args, source) as url:
                res["rebuild"] = await asyncio.to_thread(run_child, "rebuild", url, {"rebuild"})
    finally:
        admin = admin_url(args)
        if admin is not None:
            from bot.harness import drop_pg_database

            await drop_pg_database(admin, source)
    report(args, gen_s, source, res)
    if args.json:
        Path(args.json).write_text(json.dumps({"generation_s": gen_s, **res}, indent=2, default=str))  # noqa: ASYNC240
    return 0


async def child(args: argparse.Namespace) -> int:
    sections = set(args.only.split(",")) if args.only else set(BOT_SECTIONS)
    if args.child == "bot":
        out = await bot_child(args, args.url, sections)
    else:
        out = await rebuild_child(args, args.url)
    Path(args.out).write_text(json.dumps(out, default=str))  # noqa: ASYNC240
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\nSections")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--members", type=int, default=100_000)
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--runs", type=int, default=5, help="runs per measurement (medians); days of daily jobs")
    p.add_argument("--days", type=int, default=0, help="days of daily jobs (default: --runs)")
    p.add_argument("--naive-runs", type=int, default=1, help="runs of the raw-ledger SQL baselines")
    p.add_argument("--db", default="sqlite", help="sqlite (default), postgres (ATLAS_TEST_POSTGRES_URL) or a URL")
    p.add_argument("--only", default="", help=f"comma-separated sections: {','.join(SECTIONS)}")
    p.add_argument(
        "--quick",
        action="store_true",
        help="10,000 members, 200,000 events, 3 runs, 1 day of daily jobs, 1,000 reminders for 5 s",
    )
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--reminders", type=int, default=10_000)
    p.add_argument("--drain-seconds", type=float, default=60.0)
    p.add_argument(
        "--loop-log",
        choices=("asyncio", "debug"),
        default="asyncio",
        help="asyncio: asyncio's slow-callback log without debug mode's stack capture (default); "
        "debug: full loop.set_debug(True), which inflates durations",
    )
    p.add_argument("--json", default="", help="also write the raw figures to this file")
    p.add_argument("--child", default="", help=argparse.SUPPRESS)
    p.add_argument("--url", default="", help=argparse.SUPPRESS)
    p.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        explicit = set(argv if argv is not None else sys.argv[1:])
        if "--members" not in explicit:
            args.members = 10_000
        if "--events" not in explicit:
            args.events = 200_000
        if "--runs" not in explicit:
            args.runs = 3
        if "--days" not in explicit:
            args.days = 1
        if "--reminders" not in explicit:
            args.reminders = 1_000
        if "--drain-seconds" not in explicit:
            args.drain_seconds = 5.0
    args.dbname = "PostgreSQL" if admin_url(args) else "SQLite"
    return args


def main() -> int:
    args = parse_args()
    probe.MODE = args.loop_log
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(child(args) if args.child else parent(args))


if __name__ == "__main__":
    sys.exit(main())
