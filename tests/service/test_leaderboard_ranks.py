"""Leaderboard pages and the viewer's rank from ``member_points.visible`` and ``board_counts`` (issue 9), on the
real migrated database: compared with a brute-force ranking over random data (ties, negative points, members
leaving, coming back, opting out and in, erased, joining late), and the maintained structures checked exact
after every way visibility changes, after compaction, after ``rebuild_ranks`` and under concurrent writers."""

from __future__ import annotations

import asyncio
import itertools
import random
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import delete, event, func, select, update

from bot import db, ledger, members
from bot.members import ensure_member
from cogs.privacy import service as privacy
from cogs.recognition import service
from models import BoardCount, Member, MemberPoints, RecognitionPref, UTCDateTime

GUILD = 9
KINDS = ("answer_accepted", "review_done", "mentoring_session", "checkin")
_discord_ids = itertools.count(90_000)


async def new_member(session, at: datetime) -> Member:
    return await ensure_member(session, GUILD, next(_discord_ids), display_name="m", joined_at=at)


async def record(session, member_id: int, points: int, at: datetime, ref: str, kind: str = "review_done") -> None:
    await ledger.record_event(
        session,
        ledger.default_policy(),
        guild_id=GUILD,
        member_id=member_id,
        kind=kind,
        reference=ref,
        at=at,
        points=points,
    )


async def truth(session, window: str, category: str, at: datetime) -> list[tuple[int, int]]:
    """The board by brute force: every aggregate row joined with members and prefs, sorted in Python."""
    start = ledger.period_start(window, at)  # type: ignore[arg-type]
    rows = await session.execute(
        select(MemberPoints.member_id, MemberPoints.points, Member.left_at, RecognitionPref.leaderboard_opt_out)
        .join(Member, Member.id == MemberPoints.member_id)
        .outerjoin(RecognitionPref, RecognitionPref.member_id == MemberPoints.member_id)
        .where(
            MemberPoints.guild_id == GUILD,
            MemberPoints.period_kind == window,
            MemberPoints.category == category,
            MemberPoints.period_start == start,
        )
    )
    shown = [(m, int(p)) for m, p, left, out in rows.all() if p > 0 and left is None and not out]
    return sorted(shown, key=lambda r: (-r[1], -r[0]))


async def check_maintained(session) -> None:
    """``visible`` says what members and prefs say, and board_counts sums to the visible rows' histogram."""
    rows = (
        await session.execute(
            select(
                MemberPoints.guild_id,
                MemberPoints.period_kind,
                MemberPoints.category,
                MemberPoints.period_start,
                MemberPoints.points,
                MemberPoints.visible,
                Member.left_at,
                RecognitionPref.leaderboard_opt_out,
            )
            .join(Member, Member.id == MemberPoints.member_id)
            .outerjoin(RecognitionPref, RecognitionPref.member_id == MemberPoints.member_id)
        )
    ).all()
    wrong = [r for r in rows if bool(r.visible) != (r.left_at is None and not r.leaderboard_opt_out)]
    assert wrong == []
    expected = Counter((g, k, c, s, int(p)) for g, k, c, s, p, v, _, _ in rows if v and p > 0)
    counted = await session.execute(
        select(
            BoardCount.guild_id,
            BoardCount.period_kind,
            BoardCount.category,
            BoardCount.period_start,
            BoardCount.points,
            func.sum(BoardCount.members),
        ).group_by(
            BoardCount.guild_id,
            BoardCount.period_kind,
            BoardCount.category,
            BoardCount.period_start,
            BoardCount.points,
        )
    )
    assert {(g, k, c, s, int(p)): int(n) for g, k, c, s, p, n in counted.all() if n} == dict(expected)


async def check_boards(session, at: datetime, page_size: int = 4) -> None:
    """Every page and every member's rank, each window and category, against the brute force."""
    ids = list(await session.scalars(select(Member.id).where(Member.guild_id == GUILD)))
    for window, category in itertools.product(ledger.WINDOWS, ledger.CATEGORIES):
        expected = await truth(session, window, category, at)
        got: list[tuple[int, int]] = []
        pages = 1
        page = 0
        while page < pages:
            board = await service.leaderboard(
                session, GUILD, window=window, category=category, at=at, page=page, page_size=page_size,
                max_pages=100,
            )  # fmt: skip
            pages = board.pages
            assert [r.rank for r in board.rows] == list(
                range(page * page_size + 1, page * page_size + 1 + len(board.rows))
            )
            got += [(r.member_id, r.points) for r in board.rows]
            page += 1
        assert got == expected, (window, category)
        position = {m: (i + 1, p) for i, (m, p) in enumerate(expected)}
        for member_id in ids:
            board = await service.leaderboard(
                session, GUILD, window=window, category=category, at=at, page_size=page_size,
                viewer_member_id=member_id,
            )  # fmt: skip
            rank, points = position.get(member_id, (None, None))
            assert (board.viewer_rank, board.viewer_points) == (rank, points), (window, category, member_id)


@pytest.fixture
def compact_often(monkeypatch: pytest.MonkeyPatch) -> None:
    # Fold the count rows every few ids, so the random runs exercise compaction many times.
    monkeypatch.setattr(ledger, "COMPACT_EVERY", 3)


async def test_random_history_matches_brute_force(sessions, clock, compact_often) -> None:
    """Random events (ties, negative points, three weeks over two months) interleaved with every way a member's
    visibility changes, each in its own transaction: pages and ranks equal the brute force throughout."""
    rng = random.Random(20261127)
    now = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday; its week and month hold some of the events
    async with sessions.begin() as session:
        ids = [(await new_member(session, now - timedelta(days=60))).id for _ in range(14)]
    refs = itertools.count()
    for step in range(160):
        async with sessions.begin() as session:
            roll = rng.random()
            m = rng.choice(ids)
            row = await session.get(Member, m)
            assert row is not None
            if roll < 0.62:
                at = now - timedelta(days=rng.choice([0, 0, 1, 2, 9, 20, 40]), hours=rng.random())
                points = rng.choice([1, 2, 2, 3, 3, 5, 8, -2])
                await record(session, m, points, at, f"r:{next(refs)}", rng.choice(KINDS))
            elif roll < 0.70:
                row.left_at = None if row.left_at is not None else now  # leave, or come back (one row)
            elif roll < 0.74:
                gone = [row.discord_id, (await session.get(Member, rng.choice(ids))).discord_id]
                await members.mark_left(session, GUILD, gone, now)  # the reconcile's bulk UPDATE
            elif roll < 0.78:
                back = await session.scalars(
                    select(Member).where(Member.guild_id == GUILD, Member.left_at.is_not(None))
                )
                present = [members.Present(b.discord_id, "m", now) for b in back][:3]
                await members.mark_returned(session, GUILD, present)
            elif roll < 0.90:
                await service.set_opt_out(session, m, rng.random() < 0.5, now)
            elif roll < 0.94 and row.erased_at is None and row.left_at is None:
                handlers = [service.member_data_handler(ledger.default_policy())]
                await privacy.erase_member(session, handlers, GUILD, row.discord_id, now)
            else:
                # Someone new, sometimes opted out before their first event: their first rows start hidden.
                fresh = await new_member(session, now)
                ids.append(fresh.id)
                if rng.random() < 0.5:
                    await service.set_opt_out(session, fresh.id, True, now)
                await record(session, fresh.id, rng.choice([1, 3, 5]), now, f"r:{next(refs)}")
        if step % 40 == 39:
            async with sessions() as session:
                await check_maintained(session)
                await check_boards(session, now)
    async with sessions() as session:
        await check_maintained(session)
        await check_boards(session, now)
        folded = await session.scalar(select(func.count()).select_from(BoardCount))
        changes = await session.scalar(select(func.max(BoardCount.id)))
        assert folded < changes  # compaction folded rows


async def test_each_visibility_change_moves_the_rank(sessions, clock) -> None:
    now = clock.now()
    async with sessions.begin() as session:
        a, b, c = [(await new_member(session, now)).id for _ in range(3)]
        await record(session, a, 30, now, "a")
        await record(session, b, 20, now, "b")
        await record(session, c, 20, now, "c")  # ties with b: the higher member id ranks first

    async def ranks() -> dict[int, int | None]:
        async with sessions() as session:
            out = {}
            for m in (a, b, c):
                board = await service.leaderboard(
                    session, GUILD, window="week", category="overall", at=now, viewer_member_id=m
                )
                out[m] = board.viewer_rank
            await check_maintained(session)
            return out

    assert await ranks() == {a: 1, c: 2, b: 3}
    async with sessions.begin() as session:  # opt-out
        await service.set_opt_out(session, a, True, now)
    assert await ranks() == {a: None, c: 1, b: 2}
    async with sessions.begin() as session:  # leave (the onboarding listener's ORM path)
        (await session.get(Member, c)).left_at = now
    assert await ranks() == {a: None, c: None, b: 1}
    async with sessions.begin() as session:  # opt back in; come back
        await service.set_opt_out(session, a, False, now)
        (await session.get(Member, c)).left_at = None
    assert await ranks() == {a: 1, c: 2, b: 3}
    async with sessions.begin() as session:  # points while opted out stay hidden, and count once back
        await service.set_opt_out(session, b, True, now)
        await record(session, b, 15, now, "b2")
    assert await ranks() == {a: 1, c: 2, b: None}
    async with sessions.begin() as session:
        await service.set_opt_out(session, b, False, now)
    assert await ranks() == {b: 1, a: 2, c: 3}
    async with sessions.begin() as session:  # erasure
        discord_id = (await session.get(Member, b)).discord_id
        handlers = [service.member_data_handler(ledger.default_policy())]
        await privacy.erase_member(session, handlers, GUILD, discord_id, now)
    assert await ranks() == {b: None, a: 1, c: 2}
    async with sessions.begin() as session:  # a members row deleted outright takes its counts with it
        await session.execute(delete(Member).where(Member.id == a))
    async with sessions() as session:
        await check_maintained(session)
        board = await service.leaderboard(
            session, GUILD, window="week", category="overall", at=now, viewer_member_id=c
        )
        assert board.viewer_rank == 1 and [r.member_id for r in board.rows] == [c]


async def test_a_new_members_first_event_after_opting_out_is_hidden(sessions, clock) -> None:
    now = clock.now()
    async with sessions.begin() as session:
        shy = (await new_member(session, now)).id
        await service.set_opt_out(session, shy, True, now)
        await record(session, shy, 10, now, "first")
    async with sessions() as session:
        board = await service.leaderboard(
            session, GUILD, window="all", category="overall", at=now, viewer_member_id=shy
        )
        assert board.rows == [] and board.viewer_rank is None
        await check_maintained(session)


async def test_rank_reads_counts_not_members_or_prefs(sessions, clock, engine) -> None:
    """The viewer's rank is a sum over board_counts plus an index range of ties: no statement of a board view
    joins recognition_prefs, only the page's names read members, and nothing counts the members ahead."""
    now = clock.now()
    async with sessions.begin() as session:
        ids = [(await new_member(session, now)).id for _ in range(5)]
        for i, m in enumerate(ids):
            await record(session, m, 10 * (i + 1), now, f"e{i}")
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement.lower())

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        async with sessions() as session:
            board = await service.leaderboard(
                session, GUILD, window="week", category="overall", at=now, viewer_member_id=ids[1]
            )
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)
    assert board.viewer_rank == 4
    assert not [s for s in statements if "recognition_prefs" in s]
    assert len([s for s in statements if re.search(r"\b(from|join) members\b", s)]) == 1
    assert [s for s in statements if "board_counts" in s]


async def test_rebuild_ranks_recomputes_from_the_aggregates(sessions, clock) -> None:
    now = clock.now()
    async with sessions.begin() as session:
        ids = [(await new_member(session, now)).id for _ in range(6)]
        for i, m in enumerate(ids):
            await record(session, m, 5 + i % 3, now, f"e{i}", KINDS[i % len(KINDS)])
        await service.set_opt_out(session, ids[0], True, now)
        (await session.get(Member, ids[1])).left_at = now
        # What a wholesale rewrite of the aggregates leaves: every row shown, the counts gone.
        await session.execute(update(MemberPoints).values(visible=True))
        await session.execute(delete(BoardCount))
        await ledger.rebuild_ranks(session, GUILD)
    async with sessions() as session:
        await check_maintained(session)
        await check_boards(session, now)


async def test_concurrent_recordings_and_visibility_changes_stay_exact(sessions, clock, compact_often) -> None:
    """Writers in parallel (each its own transaction; on PostgreSQL really concurrent): recordings for one and
    for two members, opt-outs and leaves of the same members, with compaction every few ids. No deadlock, no
    lost count, and every new row's visibility right."""
    now = clock.now()
    async with sessions.begin() as session:
        ids = [(await new_member(session, now)).id for _ in range(8)]
    refs = itertools.count()

    async def recorder(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(12):
            async with sessions.begin() as session:
                pair = rng.sample(ids, 2) if rng.random() < 0.4 else [rng.choice(ids)]
                await ledger.lock_members(session, pair)
                for m in pair:
                    await record(session, m, rng.choice([1, 2, 3]), now, f"c:{next(refs)}", rng.choice(KINDS))

    async def changer(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(10):
            async with sessions.begin() as session:
                m = rng.choice(ids)
                if rng.random() < 0.5:
                    await service.set_opt_out(session, m, rng.random() < 0.5, now)
                else:
                    row = await session.get(Member, m)
                    row.left_at = None if row.left_at is not None else now
            await asyncio.sleep(0)

    await asyncio.gather(*[recorder(i) for i in range(6)], *[changer(100 + i) for i in range(3)])
    async with sessions() as session:
        await check_maintained(session)
        await check_boards(session, now)


async def test_upgrade_backfills_visibility_and_counts(db_url: str, clock) -> None:
    """A database with boards from before 0010: members gone and opted out are hidden, the counts exact."""
    now = clock.now()
    await db.upgrade(db_url, "0008")
    engine = db.create_engine(db_url)
    try:
        sessions = db.create_sessionmaker(engine)
        old_points = sa.table(
            "member_points",
            *[sa.column(c) for c in ("member_id", "category", "period_kind", "guild_id", "points", "events")],
            sa.column("period_start", UTCDateTime(timezone=True)),
        )
        async with sessions.begin() as session:
            ids = [(await new_member(session, now)).id for _ in range(5)]
            (await session.get(Member, ids[0])).left_at = now
            session.add(RecognitionPref(member_id=ids[1], leaderboard_opt_out=True, updated_at=now))
            session.add(RecognitionPref(member_id=ids[2], leaderboard_opt_out=False, updated_at=now))
            await session.flush()
            await session.execute(
                sa.insert(old_points),
                [
                    {
                        "member_id": m,
                        "category": "overall",
                        "period_kind": kind,
                        "period_start": ledger.period_start(kind, now),
                        "guild_id": GUILD,
                        "points": 10 + i % 2,
                        "events": 1,
                    }
                    for i, m in enumerate(ids)
                    for kind in ledger.WINDOWS
                ],
            )
        await db.upgrade(db_url)
        async with sessions() as session:
            await check_maintained(session)
            board = await service.leaderboard(session, GUILD, window="all", category="overall", at=now)
            assert [r.member_id for r in board.rows] == [ids[3], ids[4], ids[2]]
            await check_boards(session, now)
    finally:
        await engine.dispose()
