"""Ledger benchmark: leaderboards, badge evaluation and reputation on 1,000,000 events over 10,000 members.

    .venv/bin/python bench/ledger_bench.py [--events 1000000] [--members 10000] [--runs 21] [--naive-runs 3]

Builds a temporary SQLite file migrated with Alembic, bulk-loads members and events with the sqlite3 module
(fast), fills the maintained aggregates with the same ``bot.ledger.accumulate`` that recording uses, then times
the real service calls through SQLAlchemy + aiosqlite beside naive versions in the same run: a plain GROUP BY
over the ledger, and a full scan of the ledger in Python. Prints medians in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from bot import db, ledger
from cogs.recognition import service

GUILD = 1
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday: the week and month are partly filled
KINDS = [
    ("question_asked", 16),
    ("answer_posted", 20),
    ("answer_accepted", 8),
    ("answer_upvoted", 14),
    ("question_upvoted", 6),
    ("review_done", 10),
    ("contribution_merged", 3),
    ("mentoring_session", 3),
    ("office_hour_hosted", 1),
    ("office_hour_attended", 5),
    ("checkin", 10),
    ("prompt_reply", 4),
]


def sqlite_ts(at: datetime) -> str:
    # The text UTCDateTime stores on SQLite (naive UTC), so SQLAlchemy reads and compares these rows normally.
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def build(path: Path, n_events: int, n_members: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    policy = ledger.default_policy()
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    joined = NOW - timedelta(days=400)
    con.executemany(
        "INSERT INTO members (id, guild_id, discord_id, display_name, joined_at, stage_manual) "
        "VALUES (?,?,?,?,?,0)",
        ((i, GUILD, 10**17 + i, f"member{i}", sqlite_ts(joined)) for i in range(1, n_members + 1)),
    )
    # Skewed activity, as in real communities: a few members make most of the contributions.
    weights = [1 / (i**0.8) for i in range(1, n_members + 1)]
    member_ids = rng.choices(range(1, n_members + 1), weights=weights, k=n_events)
    kinds = rng.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS], k=n_events)
    span = 365 * 24 * 3600
    rows = []
    for i in range(n_events):
        at = NOW - timedelta(seconds=rng.random() * span)
        rows.append((member_ids[i], GUILD, kinds[i], policy.points.get(kinds[i], 0), at))
    con.executemany(
        "INSERT INTO ledger_events (guild_id, member_id, kind, points, reference, created_at) "
        "VALUES (?,?,?,?,?,?)",
        ((g, m, k, p, f"bench:{i}", sqlite_ts(at)) for i, (m, g, k, p, at) in enumerate(rows)),
    )
    totals = ledger.accumulate(rows, policy)
    con.executemany(
        "INSERT INTO member_points (member_id, category, period_kind, period_start, guild_id, points, events) "
        "VALUES (?,?,?,?,?,?,?)",
        ((m, c, k, sqlite_ts(s), g, p, n) for (m, c, k, s), (g, p, n) in totals.items()),
    )
    by_kind: dict[tuple[int, str], list[datetime]] = defaultdict(list)
    for m, _, k, _, at in rows:
        by_kind[(m, k)].append(at)
    stats = ((m, k, ledger.kind_stats(times)) for (m, k), times in by_kind.items())
    con.executemany(
        "INSERT INTO member_kind_stats (member_id, kind, events, last_week, streak, best_streak) "
        "VALUES (?,?,?,?,?,?)",
        ((m, k, st.events, st.last_week, st.streak, st.best_streak) for m, k, st in stats if st),
    )
    # Members already hold the badges their history earned (a running bot awarded them along the way).
    stats_by_member: dict[int, dict[str, ledger.KindStats]] = defaultdict(dict)
    for (m, k), times in by_kind.items():
        st = ledger.kind_stats(times)
        if st:
            stats_by_member[m][k] = st
    awards = []
    for m, mine in stats_by_member.items():
        for badge in policy.badges:
            rule = badge.rule
            if isinstance(rule, ledger.CountRule):
                earned = sum(mine[k].events for k in rule.kinds if k in mine) >= rule.at_least
            elif isinstance(rule, ledger.StreakRule):
                earned = max((mine[k].best_streak for k in rule.kinds if k in mine), default=0) >= rule.weeks
            elif isinstance(rule, ledger.PointsRule):
                slot = totals.get((m, rule.category, "all", ledger.ALL_TIME))
                earned = slot is not None and slot[1] >= rule.at_least
            else:
                earned = False
            if earned:
                awards.append((GUILD, m, badge.key, sqlite_ts(NOW - timedelta(days=1))))
    con.executemany(
        "INSERT INTO badge_awards (guild_id, member_id, badge_key, awarded_at, reason) VALUES (?,?,?,?,'')",
        awards,
    )
    con.commit()
    con.execute("ANALYZE")
    con.close()


async def median_ms(func: Callable[[], Awaitable[object]], runs: int) -> float:
    await func()  # warm caches, as a running bot's would be
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await func()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--naive-runs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        url = f"sqlite+aiosqlite:///{path}"
        t0 = time.perf_counter()
        await db.upgrade(url)
        build(path, args.events, args.members)
        print(
            f"built {args.events:,} events / {args.members:,} members in {time.perf_counter() - t0:.1f} s "
            f"({path.stat().st_size / 2**20:.0f} MiB)"
        )

        engine = db.create_engine(url)
        sessions = db.create_sessionmaker(engine)
        async with sessions.begin() as session:
            await ledger.rebuild_ranks(session)  # the bulk load wrote member_points without the board counts
        policy = ledger.default_policy()
        rng = random.Random(1)
        results: list[tuple[str, float, float, float]] = []
        active_member = 1  # the busiest member: the worst case for per-member work
        async with sessions() as session:

            async def scan() -> list:
                return (
                    await session.execute(text("SELECT member_id, kind, points, created_at FROM ledger_events"))
                ).all()

            for window in ("week", "month", "all"):
                start = ledger.period_start(window, NOW)  # type: ignore[arg-type]

                async def fast(window=window) -> object:
                    return await service.leaderboard(
                        session,
                        GUILD,
                        window=window,
                        category="overall",
                        at=NOW,
                        page=0,
                        viewer_member_id=rng.randint(1, args.members),
                    )

                async def group_by(start=start) -> object:
                    return (
                        await session.execute(
                            text(
                                "SELECT member_id, SUM(points) AS p FROM ledger_events WHERE guild_id = :g "
                                "AND created_at >= :s GROUP BY member_id ORDER BY p DESC LIMIT 10"
                            ),
                            {"g": GUILD, "s": sqlite_ts(start)},
                        )
                    ).all()

                async def python(start=start) -> object:
                    cutoff = sqlite_ts(start)
                    totals: Counter[int] = Counter()
                    for member_id, _, points, created in await scan():
                        if created >= cutoff:
                            totals[member_id] += points
                    return totals.most_common(10)

                results.append(
                    (
                        f"leaderboard {window} (page 1 + rank)",
                        await median_ms(fast, args.runs),
                        await median_ms(group_by, args.naive_runs),
                        await median_ms(python, args.naive_runs),
                    )
                )

            async def rep() -> int:
                return await ledger.reputation_of(session, rng.randint(1, args.members))

            async def rep_sum() -> object:
                return await session.scalar(
                    text("SELECT SUM(points) FROM ledger_events WHERE member_id = :m"),
                    {"m": rng.randint(1, args.members)},
                )

            async def rep_python() -> int:
                m = rng.randint(1, args.members)
                return sum(p for mid, _, p, _ in await scan() if mid == m)

            results.append(
                (
                    "reputation of one member",
                    await median_ms(rep, args.runs),
                    await median_ms(rep_sum, args.naive_runs),
                    await median_ms(rep_python, args.naive_runs),
                )
            )

        counter = iter(range(10**9))

        async def record_new_event(member: int | None = None, badges: ledger.LedgerPolicy = policy) -> object:
            # The full write path: insert, daily cap, aggregate upserts and the badge rules the kind can affect.
            # Rolled back so every run sees the same ledger.
            async with sessions() as session, session.begin() as tx:
                result = await ledger.record_event(
                    session,
                    badges,
                    guild_id=GUILD,
                    member_id=member or rng.randint(1, args.members),
                    kind="answer_accepted",
                    reference=f"new:{next(counter)}",
                    at=NOW,
                )
                await tx.rollback()
                return result

        async def record_busiest() -> object:
            return await record_new_event(active_member)

        no_badges = ledger.LedgerPolicy(**{**policy.__dict__, "badges": ()})

        async def record_without_badges() -> object:
            return await record_new_event(None, no_badges)

        async def evaluate_all() -> object:
            async with sessions() as session, session.begin() as tx:
                awarded = await ledger.evaluate_badges(
                    session, policy, guild_id=GUILD, member_id=active_member, at=NOW
                )
                await tx.rollback()
                return awarded

        async def badges_group_by() -> object:
            async with sessions() as session:
                return (
                    await session.execute(
                        text("SELECT kind, COUNT(*) FROM ledger_events GROUP BY member_id, kind")
                    )
                ).all()

        async def badges_python() -> object:
            async with sessions() as session:
                rows = (
                    await session.execute(text("SELECT member_id, kind, points, created_at FROM ledger_events"))
                ).all()
            counts: dict[str, int] = defaultdict(int)
            weeks: set[str] = set()
            total = 0
            for member_id, kind, points, created in rows:
                if member_id == active_member:
                    counts[kind] += 1
                    total += points
                    if kind == "checkin":
                        weeks.add(created[:10])
            return counts, total, weeks

        results.append(
            (
                "record event + badges, random member",
                await median_ms(record_new_event, args.runs),
                await median_ms(badges_group_by, args.naive_runs),
                await median_ms(badges_python, args.naive_runs),
            )
        )
        nan = float("nan")
        results.append(
            ("record event + badges, busiest member", await median_ms(record_busiest, args.runs), nan, nan)
        )
        results.append(
            (
                "record event, no badge rules (baseline)",
                await median_ms(record_without_badges, args.runs),
                nan,
                nan,
            )
        )
        results.append(
            (
                "evaluate all badge rules, busiest member",
                await median_ms(evaluate_all, args.runs),
                float("nan"),
                float("nan"),
            )
        )
        # Once, not a median: the first start on a database upgraded with this ledger (aggregates and every
        # member's badges rebuilt from the ledger in one pass), rolled back.
        async with sessions() as session, session.begin() as tx:
            start = time.perf_counter()
            rebuilt = await ledger.rebuild(session, policy, at=NOW)
            rebuild_s = time.perf_counter() - start
            await tx.rollback()
        await engine.dispose()

    print(
        f"rebuild from the ledger (first start after an upgrade): {rebuild_s:.1f} s "
        f"({rebuilt.aggregates:,} aggregate rows, {rebuilt.members:,} members)"
    )
    print(f"\nmedians in ms (maintained: {args.runs} runs; naive: {args.naive_runs} runs)")
    print(f"{'query':40} {'maintained':>11} {'GROUP BY':>10} {'Python scan':>12}")
    for name, fast_ms, sql_ms, py_ms in results:
        sql = f"{sql_ms:10.1f}" if sql_ms == sql_ms else f"{'-':>10}"
        py = f"{py_ms:12.1f}" if py_ms == py_ms else f"{'-':>12}"
        print(f"{name:40} {fast_ms:11.2f} {sql} {py}")
    slow = [name for name, fast_ms, _, _ in results if fast_ms >= 10]
    print("\ntarget < 10 ms:", "met" if not slow else f"MISSED for {', '.join(slow)}")


if __name__ == "__main__":
    asyncio.run(main())
