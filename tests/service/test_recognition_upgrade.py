"""Upgrading a database whose ledger predates recognition: the aggregates are built from it (automatically at
bot start, or by ``atlas-bot ledger-rebuild``) and the badges already earned are awarded, without announcements."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from bot import cli, db, ledger
from cogs.recognition import service
from models import BadgeAward, LedgerEvent, Member, MemberKindStats, MemberPoints, Reminder

GUILD = 3
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday


async def ledger_before_recognition(url: str) -> None:
    """A database at 0002 (onboarding and the journey), with ledger rows recorded before 0003 existed."""
    await db.upgrade(url, "0002")
    engine = db.create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(Member),
                [
                    {"id": i, "guild_id": GUILD, "discord_id": 1000 + i, "display_name": f"m{i}", "joined_at": T0}
                    for i in (1, 2)
                ],
            )
            rows = [(1, "answer_accepted", 15, T0 + timedelta(days=7 * w), f"a:{w}") for w in range(4)]
            rows += [(1, "checkin", 2, T0 + timedelta(days=7 * w), f"c:{w}") for w in range(4)]
            rows += [(2, "review_done", 10, T0, "r:1")]
            await conn.execute(
                insert(LedgerEvent),
                [
                    {"guild_id": GUILD, "member_id": m, "kind": k, "points": p, "created_at": at, "reference": ref}
                    for m, k, p, at, ref in rows
                ],
            )
    finally:
        await engine.dispose()


async def counts(sessions) -> tuple[int, int, int, int]:
    async with sessions() as session:
        return tuple(  # type: ignore[return-value]
            [
                int(await session.scalar(select(func.count()).select_from(t)) or 0)
                for t in (MemberPoints, MemberKindStats, BadgeAward, Reminder)
            ]
        )


async def test_upgrade_with_an_existing_ledger_builds_aggregates_and_badges(db_url: str) -> None:
    await ledger_before_recognition(db_url)
    await db.upgrade(db_url)
    engine = db.create_engine(db_url)
    sessions = db.create_sessionmaker(engine)
    policy = ledger.default_policy()
    now = T0 + timedelta(days=30)
    try:
        assert (await counts(sessions))[:3] == (0, 0, 0)  # the migration itself sums nothing
        async with sessions() as session:
            assert await ledger.needs_rebuild(session)
        # Two bot processes starting at once: one rebuilds, the other finds it done.
        results = []
        for _ in range(2):
            async with sessions.begin() as session:
                results.append(await ledger.rebuild_if_needed(session, policy, at=now))
        assert results[1] is None and results[0] is not None
        assert (results[0].members, results[0].awarded) == (2, 3)
        async with sessions() as session:
            assert await ledger.reputation_of(session, 1) == 4 * 15 + 4 * 2
            board = await service.leaderboard(session, GUILD, window="all", category="overall", at=now)
            assert [(r.member_id, r.points) for r in board.rows] == [(1, 68), (2, 10)]
            keys = {
                (m, k)
                for m, k in (await session.execute(select(BadgeAward.member_id, BadgeAward.badge_key))).all()
            }
            assert keys == {(1, "first-accepted-answer"), (1, "checkin-streak-4"), (2, "first-review")}
            assert not await ledger.needs_rebuild(session)
        # History, not news: no announcement of the backfilled badges.
        assert (await counts(sessions))[3] == 0
        # The rebuilt stats carry on as if they had been maintained all along.
        async with sessions.begin() as session:
            more = await ledger.record_event(
                session,
                policy,
                guild_id=GUILD,
                member_id=1,
                kind="checkin",
                reference="c:4",
                at=T0 + timedelta(days=28),
            )
            assert more.awarded == ()
            stats = await session.get(MemberKindStats, (1, "checkin"))
            assert (stats.events, stats.streak, stats.best_streak) == (5, 5, 5)
    finally:
        await engine.dispose()


def test_the_progress_bar_redraws_in_place_on_a_terminal_and_prints_tenths_elsewhere() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term, log = Terminal(), io.StringIO()
    for stream in (term, log):
        bar = cli.ProgressBar("rebuilding aggregates", "events", stream)
        for done in range(0, 10_000_001, 500_000):
            bar(done, 10_000_000)
        bar.close()
    assert term.getvalue().count("\r") == 21 and term.getvalue().endswith("(100%)\n")
    assert "\rrebuilding aggregates: 4,000,000 / 10,000,000 events (40%)\r" in term.getvalue()
    lines = log.getvalue().splitlines()
    assert len(lines) == 11 and lines[4] == "rebuilding aggregates: 4,000,000 / 10,000,000 events (40%)"


async def test_ledger_rebuild_command(db_url: str, tmp_path: Path, capsys) -> None:
    await ledger_before_recognition(db_url)
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{db_url}"\n')
    assert await asyncio.to_thread(cli.main, ["migrate", "-c", str(config)]) == 0
    assert await asyncio.to_thread(cli.main, ["ledger-rebuild", "-c", str(config)]) == 0
    captured = capsys.readouterr()
    assert "for 2 member(s)" in captured.out and "newly awarded (not announced)" in captured.out
    # The progress bar, on stderr: not a terminal here, so a line per tenth (this ledger is one batch).
    assert captured.err.splitlines() == [
        "rebuilding aggregates: 0 / 9 events (0%)",
        "rebuilding aggregates: 9 / 9 events (100%)",
    ]
    engine = db.create_engine(db_url)
    try:
        points, stats, awards, reminders = await counts(db.create_sessionmaker(engine))
        assert points > 0 and stats == 3 and awards == 3 and reminders == 0
        # Run again (a repair): the same aggregates, no second award.
        assert await asyncio.to_thread(cli.main, ["ledger-rebuild", "-c", str(config)]) == 0
        assert "0 badge(s) newly awarded" in capsys.readouterr().out
        assert await counts(db.create_sessionmaker(engine)) == (points, stats, awards, 0)
    finally:
        await engine.dispose()
