"""Leaderboard page 1 + the viewer's rank at 100,000 members, on SQLite or PostgreSQL, before and after issue 9.

    .venv/bin/python bench/rank_bench.py [--members 100000] [--events 2000000] [--runs 21] [--url URL]

Generates the aggregates of ``--events`` events over ``--members`` members with ledger_bench's skewed activity
(``bot.ledger.accumulate``, so exactly what recording builds), 5% of the members gone and 2% opted out, on a
migrated database: a temporary SQLite file, or the PostgreSQL database ``--url`` names (its tables are
emptied first). The ledger itself is not stored: a board reads only the aggregates, members and prefs.

Then, in the same run, medians in ms of ``service.leaderboard`` (page 1 with the viewer's rank) for the busiest
member and the median member of each board (week, month, all-time; overall), beside main's query (joins with
members and recognition_prefs, rank by counting everyone ahead, with main's index restored for it), and of
``ledger.record_event`` (rolled back) beside main's aggregate upsert. Main's versions are copied below.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import and_, exists, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bench.ledger_bench import KINDS
from bot import db, ledger
from cogs.recognition import service
from models import BoardCount, Member, MemberPoints, RecognitionPref

GUILD = 1
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday, as in ledger_bench
OLD_INDEX = "ix_member_points_board_main"


def aggregates(n_events: int, n_members: int, seed: int = 7) -> dict:
    rng = random.Random(seed)
    policy = ledger.default_policy()
    weights = [1 / (i**0.8) for i in range(1, n_members + 1)]
    member_ids = rng.choices(range(1, n_members + 1), weights=weights, k=n_events)
    kinds = rng.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS], k=n_events)
    span = 365 * 24 * 3600
    points = policy.points
    rows = (
        (member_ids[i], GUILD, kinds[i], points.get(kinds[i], 0), NOW - timedelta(seconds=rng.random() * span))
        for i in range(n_events)
    )
    return ledger.accumulate(rows, policy)


async def load(session: AsyncSession, n_members: int, totals: dict) -> None:
    rng = random.Random(11)
    joined = NOW - timedelta(days=400)
    gone = set(rng.sample(range(2, n_members + 1), n_members // 20))  # the busiest member stays
    out = set(rng.sample(sorted(set(range(2, n_members + 1)) - gone), n_members // 50))
    members = [
        {
            "id": i,
            "guild_id": GUILD,
            "discord_id": 10**17 + i,
            "display_name": f"member{i}",
            "joined_at": joined,
            "left_at": NOW - timedelta(days=3) if i in gone else None,
            "stage_manual": False,
        }
        for i in range(1, n_members + 1)
    ]
    points = [
        {
            "member_id": m,
            "category": c,
            "period_kind": k,
            "period_start": s,
            "guild_id": g,
            "points": p,
            "events": n,
        }
        for (m, c, k, s), (g, p, n) in totals.items()
    ]
    for table, rows in (
        (Member.__table__, members),
        (
            RecognitionPref.__table__,
            [{"member_id": m, "leaderboard_opt_out": True, "updated_at": NOW} for m in out],
        ),
        (MemberPoints.__table__, points),
    ):
        for i in range(0, len(rows), 20_000):
            await session.execute(table.insert(), rows[i : i + 20_000])
    # A bulk load leaves every row shown and no counts: what rebuild_ranks is for.
    await ledger.rebuild_ranks(session, None)


async def main_leaderboard(session: AsyncSession, window: str, viewer: int) -> tuple[list, int | None]:
    """Main's page 1 and rank (cogs/recognition/service.py before issue 9), page count included."""
    start = ledger.period_start(window, NOW)  # type: ignore[arg-type]
    visible = [
        Member.left_at.is_(None),
        ~exists().where(
            RecognitionPref.member_id == MemberPoints.member_id, RecognitionPref.leaderboard_opt_out.is_(True)
        ),
    ]
    where = [
        MemberPoints.guild_id == GUILD,
        MemberPoints.period_kind == window,
        MemberPoints.category == "overall",
        MemberPoints.period_start == start,
        MemberPoints.points > 0,
        *visible,
    ]
    joined = select(MemberPoints.member_id).join(Member, Member.id == MemberPoints.member_id).where(*where)
    await session.scalar(select(func.count()).select_from(joined.limit(100).subquery()))
    rows = (
        await session.execute(
            select(MemberPoints.member_id, MemberPoints.points, Member.discord_id, Member.display_name)
            .join(Member, Member.id == MemberPoints.member_id)
            .where(*where)
            .order_by(MemberPoints.points.desc(), MemberPoints.member_id.desc())
            .limit(10)
        )
    ).all()
    mine = await session.scalar(
        select(MemberPoints.points)
        .join(Member, Member.id == MemberPoints.member_id)
        .where(*where, MemberPoints.member_id == viewer)
    )
    if mine is None:
        return rows, None
    ahead = await session.scalar(
        select(func.count())
        .select_from(MemberPoints)
        .join(Member, Member.id == MemberPoints.member_id)
        .where(
            *where,
            or_(MemberPoints.points > mine, and_(MemberPoints.points == mine, MemberPoints.member_id > viewer)),
        )
    )
    return rows, int(ahead or 0) + 1


async def main_add_to_aggregates(
    session: AsyncSession,
    guild_id: int,
    member_id: int,
    categories: Any,
    at: datetime,
    points: int,
    events: int,
    tz: Any = UTC,
) -> None:
    """Main's aggregate upsert (bot/ledger.py before issue 9): no RETURNING, no board counts."""
    rows = [
        {
            "member_id": m,
            "category": c,
            "period_kind": k,
            "period_start": s,
            "guild_id": guild_id,
            "points": points,
            "events": events,
        }
        for m, c, k, s in ledger.aggregate_keys(member_id, categories, at, tz)
    ]
    table = MemberPoints.__table__
    stmt = db.dialect_insert(session, table).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=["member_id", "category", "period_kind", "period_start"],
        set_={"points": table.c.points + stmt.excluded.points, "events": table.c.events + stmt.excluded.events},
    )
    await session.execute(stmt)


async def median_ms(func: Callable[[], Awaitable[object]], runs: int) -> float:
    await func()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await func()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def empty_postgres(url: str) -> None:
    engine = db.create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def run(url: str, args: argparse.Namespace) -> None:
    postgres = url.startswith("postgresql")
    if postgres:
        await empty_postgres(url)
    t0 = time.perf_counter()
    await db.upgrade(url)
    totals = aggregates(args.events, args.members)
    engine = db.create_engine(url)
    sessions = db.create_sessionmaker(engine)
    async with sessions.begin() as session:
        await load(session, args.members, totals)
    del totals
    async with engine.connect() as conn:
        await conn.execute(
            text(
                f"CREATE INDEX {OLD_INDEX} ON member_points "
                "(guild_id, period_kind, category, period_start, points, member_id)"
            )
        )
        await conn.commit()
    async with engine.connect() as conn:
        if postgres:
            await conn.execute(text("COMMIT"))
            await conn.execute(text("VACUUM ANALYZE"))
        else:
            await conn.execute(text("ANALYZE"))
            await conn.commit()
    print(f"{'PostgreSQL' if postgres else 'SQLite'}: loaded {args.members:,} members ({args.events:,} events' "
          f"aggregates) in {time.perf_counter() - t0:.0f} s")  # fmt: skip

    viewers: dict[str, dict[str, int]] = {}
    async with sessions() as session:
        for window in ("week", "month", "all"):
            start = ledger.period_start(window, NOW)  # type: ignore[arg-type]
            order = list(
                await session.scalars(
                    select(MemberPoints.member_id)
                    .where(
                        MemberPoints.guild_id == GUILD,
                        MemberPoints.period_kind == window,
                        MemberPoints.category == "overall",
                        MemberPoints.period_start == start,
                        MemberPoints.visible.is_(True),
                        MemberPoints.points > 0,
                    )
                    .order_by(MemberPoints.points.desc(), MemberPoints.member_id.desc())
                )
            )
            viewers[window] = {"busiest": order[0], f"median (of {len(order):,})": order[len(order) // 2]}

    results: list[tuple[str, float, float]] = []
    before: dict[tuple[str, str], float] = {}
    async with sessions() as session:
        for window, who in viewers.items():
            for label, viewer in who.items():

                async def old(window: str = window, viewer: int = viewer) -> object:
                    return await main_leaderboard(session, window, viewer)

                before[(window, label)] = await median_ms(old, args.runs)
    async with engine.connect() as conn:
        await conn.execute(text(f"DROP INDEX {OLD_INDEX}"))
        await conn.commit()
    async with sessions() as session:
        for window, who in viewers.items():
            for label, viewer in who.items():

                async def timed(window: str = window, viewer: int = viewer) -> service.Board:
                    return await service.leaderboard(
                        session,
                        GUILD,
                        window=window,  # type: ignore[arg-type]
                        category="overall",
                        at=NOW,
                        viewer_member_id=viewer,
                    )

                # Same answer as main's query (which still works without its index, slowly).
                board = await timed()
                old_rows, old_rank = await main_leaderboard(session, window, viewer)
                assert board.viewer_rank == old_rank, (window, label, board.viewer_rank, old_rank)
                assert [r.member_id for r in board.rows] == [r[0] for r in old_rows]

                results.append(
                    (
                        f"{window} page 1 + rank, {label}",
                        before[(window, label)],
                        await median_ms(timed, args.runs),
                    )
                )

    policy = ledger.default_policy()
    rng = random.Random(3)
    counter = iter(range(10**9))

    async def record(member: int | None = None) -> object:
        async with sessions() as session, session.begin() as tx:
            result = await ledger.record_event(
                session,
                policy,
                guild_id=GUILD,
                member_id=member or rng.randint(1, args.members),
                kind="answer_accepted",
                reference=f"new:{next(counter)}",
                at=NOW,
            )
            await tx.rollback()
            return result

    new_aggregates = ledger._add_to_aggregates
    for label, member in (("random member", None), ("busiest member", 1)):

        async def one(member: int | None = member) -> object:
            return await record(member)

        ledger._add_to_aggregates = main_add_to_aggregates  # type: ignore[assignment]
        old_ms = await median_ms(one, args.runs)
        ledger._add_to_aggregates = new_aggregates
        results.append((f"record event + badges, {label}", old_ms, await median_ms(one, args.runs)))

    # The fold the writer crossing a multiple of ledger.COMPACT_EVERY count ids does (about every 30 events): the
    # values of the last 2 * COMPACT_EVERY rows, after 60 events, in one rolled-back transaction per run.
    async def compaction() -> float:
        async with sessions() as session, session.begin() as tx:
            who = [rng.randint(1, args.members) for _ in range(60)]
            await ledger.lock_members(session, who)
            for member in who:
                await ledger.record_event(
                    session,
                    policy,
                    guild_id=GUILD,
                    member_id=member,
                    kind="answer_accepted",
                    reference=f"fold:{next(counter)}",
                    at=NOW,
                )
            upto = await session.scalar(select(func.max(BoardCount.id)))
            start = time.perf_counter()
            await ledger.fold_board_counts(session, upto)
            took = (time.perf_counter() - start) * 1000
            await tx.rollback()
            return took

    folds = [await compaction() for _ in range(5)]
    results.append(("fold recent board counts (every ~30 events)", float("nan"), statistics.median(folds)))
    await engine.dispose()

    print(f"\nmedians in ms ({args.runs} runs each)")
    print(f"{'':44} {'main':>8} {'issue 9':>8}")
    for name, old_ms, new_ms in results:
        main = f"{old_ms:8.2f}" if old_ms == old_ms else f"{'-':>8}"
        print(f"{name:44} {main} {new_ms:8.2f}")
    slow = [name for name, _, new_ms in results if new_ms >= 10]
    print("target < 10 ms:", "met" if not slow else f"MISSED for {', '.join(slow)}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument(
        "--url", help="a PostgreSQL database to use (emptied first); default a temporary SQLite file"
    )
    args = parser.parse_args()
    if args.url:
        await run(args.url, args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        await run(f"sqlite+aiosqlite:///{Path(tmp) / 'rank.db'}", args)


if __name__ == "__main__":
    asyncio.run(main())
