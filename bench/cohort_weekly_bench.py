"""What the cohorts' weekly rules cost at 200 active cohorts (issue 10), on a temporary SQLite file (or PostgreSQL
with ``--db URL``): the step sweep (one read of the active cohorts, one INSERT ... ON CONFLICT), a week's
posts recorded (begin/finish per cohort, as the reminder handlers do), closing every cohort's week (misses,
streaks, ledger), and the maintainers' health overview (set-based queries).

    .venv/bin/python -m bench.cohort_weekly_bench            # --cohorts 200 --members 6
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot import db, ledger
from cogs.cohorts import weekly
from models import Member
from models.cohorts import Cohort, CohortMember

START = datetime(2026, 3, 23, 17, 0, tzinfo=UTC)
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "America/Sao_Paulo", "UTC"]


async def run(url: str, cohorts: int, members: int) -> None:
    await db.upgrade(url)
    engine = db.create_engine(url)
    sessions = db.create_sessionmaker(engine)
    policy = ledger.default_policy()
    async with sessions.begin() as session:
        for c in range(cohorts):
            rows = [
                Member(guild_id=1, discord_id=c * 100 + i, display_name="m", joined_at=START)
                for i in range(members)
            ]
            session.add_all(rows)
            await session.flush()
            cohort = Cohort(
                guild_id=1,
                number=c + 1,
                name=f"Cohort {c + 1}",
                state="active",
                parent_channel_id=1,
                thread_id=10_000 + c,
                facilitator_id=rows[0].id,
                zone=ZONES[c % len(ZONES)],
                meeting_weekday=2,
                meeting_time="19:00",
                starts_at=START,
                weeks=16,
                created_at=START,
            )
            session.add(cohort)
            await session.flush()
            session.add_all(CohortMember(cohort_id=cohort.id, member_id=r.id, joined_at=START) for r in rows)

    def timed(label: str, t0: float, extra: str = "") -> None:
        print(f"{label:<44} {1000 * (time.perf_counter() - t0):8.1f} ms {extra}")

    t0 = time.perf_counter()
    async with sessions.begin() as session:
        added = await weekly.schedule_steps(session, START - timedelta(hours=1))
    timed(f"sweep, first ({cohorts} cohorts)", t0, f"{added} reminder rows")
    t0 = time.perf_counter()
    async with sessions.begin() as session:
        again = await weekly.schedule_steps(session, START - timedelta(hours=1))
    timed("sweep, again (all scheduled)", t0, f"{again} rows")
    ids = list(range(1, cohorts + 1))
    t0 = time.perf_counter()
    for cid in ids:
        async with sessions.begin() as session:
            ctx = await weekly.begin_step(
                session, cid, 1, weekly.POST, START + timedelta(hours=2), timedelta(hours=24)
            )
            if ctx.action == "go":
                await weekly.finish_step(session, cid, 1, weekly.POST, START, 1)
    timed(f"week 1 posts recorded ({cohorts} x begin+finish)", t0)
    t0 = time.perf_counter()
    for cid in ids:
        async with sessions.begin() as session:
            await weekly.close_week(
                session,
                policy,
                cohort_id=cid,
                week=1,
                now=START + timedelta(days=8),
                misses_before_nudge=1,
                misses_before_move=3,
            )
    timed(f"week 1 closed ({cohorts} cohorts, everyone missed)", t0, f"{cohorts * members} members")
    t0 = time.perf_counter()
    async with sessions() as session:
        rows = await weekly.health(session, 1, START + timedelta(days=8))
    timed("health overview (all cohorts)", t0, f"{len(rows)} rows")
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cohorts", type=int, default=200)
    parser.add_argument("--members", type=int, default=6)
    parser.add_argument("--db", default="", help="a database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        asyncio.run(run(url, args.cohorts, args.members))


if __name__ == "__main__":
    main()
