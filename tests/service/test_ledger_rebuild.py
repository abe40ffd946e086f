"""The streamed rebuild of the ledger's aggregates (bot/ledger_rebuild.py) on the real database (SQLite, and
PostgreSQL when configured): it equals what recording maintains, in any zone and across DST changes, works in
bounded batches, reports progress, resumes after a stop, and counts an event recorded meanwhile exactly once."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, insert, select, update

from bot import db, ledger, ledger_rebuild
from bot.config import Config
from bot.ledger import Badge, CountRule, LedgerPolicy, PointsRule, StreakRule
from cogs.recognition import service as recognition_service
from models import BadgeAward, BoardCount, BotState, LedgerEvent, Member, MemberKindStats, MemberPoints
from models.recognition import BadgeRevocation
from tests.service.test_leaderboard_ranks import check_maintained

GUILD = 21
KINDS = ["review_done", "answer_accepted", "checkin", "question_asked", "mentoring_session"]
BADGES = (
    Badge("first-review", "R", "r", "🔍", "bronze", CountRule(frozenset({"review_done"}), 1)),
    Badge("two-kinds", "T", "t", "🔁", "silver", CountRule(frozenset({"checkin", "question_asked"}), 5)),
    Badge("checkin-3", "C", "c", "📅", "silver", StreakRule(frozenset({"checkin"}), 3)),
    Badge("busy-3", "B", "b", "🔥", "gold", StreakRule(frozenset({"checkin", "review_done"}), 3)),
    Badge("points-60", "P", "p", "⭐", "gold", PointsRule("overall", 60)),
    Badge("reviewer-40", "V", "v", "🧐", "gold", PointsRule("reviews", 40)),
)


def policy(zone: str) -> LedgerPolicy:
    return LedgerPolicy.from_config(Config().recognition, badges=BADGES, timezone=zone)


async def add_members(sessions, ids: range) -> None:
    async with sessions.begin() as session:
        await session.execute(
            insert(Member),
            [
                {"id": i, "guild_id": GUILD, "discord_id": 9000 + i, "display_name": f"m{i}", "joined_at": T0}
                for i in ids
            ],
        )


T0 = datetime(2018, 1, 1, tzinfo=UTC)


def scenario(seed: int, members: range, around: list[datetime], n: int) -> list[tuple[int, str, datetime, bool]]:
    """(member, kind, time, on own content) in a random order: times cluster around DST changes and midnights,
    some weeks apart (streaks and their gaps), recorded out of order (back-dated recomputes)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        base = rng.choice(around)
        at = base + timedelta(
            days=7 * rng.randint(-4, 4) + rng.choice([0, 0, 1, -1]), minutes=rng.randint(-90, 90)
        )
        out.append((rng.choice(members), rng.choice(KINDS), at, rng.random() < 0.1))
    return out


# Each zone's DST changes and a month's end, as UTC instants around which events fall.
AROUND = {
    "UTC": [datetime(2026, 3, 31, 23, 30, tzinfo=UTC), datetime(2026, 6, 1, 0, 10, tzinfo=UTC)],
    # DST begins 29 March and ends 25 October 2026; 31 May 22:00 UTC is June in Berlin.
    "Europe/Berlin": [
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
        datetime(2026, 5, 31, 22, 0, tzinfo=UTC),
    ],
    "America/New_York": [datetime(2026, 3, 8, 7, 0, tzinfo=UTC), datetime(2026, 11, 1, 6, 0, tzinfo=UTC)],
    # The clock went back from midnight to 23:00 on 18 February 2018 (a Sunday): the hour after the first
    # midnight is Saturday's again; and forward at midnight on 4 November 2018.
    "America/Sao_Paulo": [datetime(2018, 2, 18, 2, 30, tzinfo=UTC), datetime(2018, 11, 4, 3, 0, tzinfo=UTC)],
    # Until 2010 Newfoundland fell back at 00:01 to 23:01: on 1 November 2009 the date went back to 31 October
    # for an hour (03:01-04:01 UTC), so an event then is October's, as recording says; midnight came twice.
    "America/St_Johns": [datetime(2009, 11, 1, 3, 30, tzinfo=UTC), datetime(2009, 11, 1, 3, 5, tzinfo=UTC)],
}


async def snapshot(sessions) -> tuple[list, list, set]:
    async with sessions() as session:
        points = (await session.execute(select(MemberPoints.__table__).order_by(*MemberPoints.__table__.c))).all()
        stats = (
            await session.execute(select(MemberKindStats.__table__).order_by(*MemberKindStats.__table__.c))
        ).all()
        awards = set((await session.execute(select(BadgeAward.member_id, BadgeAward.badge_key))).all())
    return [tuple(r) for r in points], [tuple(r) for r in stats], awards


async def record_all(sessions, p: LedgerPolicy, events) -> None:
    async with sessions.begin() as session:
        for i, (m, kind, at, own) in enumerate(events):
            await ledger.record_event(
                session,
                p,
                guild_id=GUILD,
                member_id=m,
                kind=kind,
                reference=f"e{i}",
                at=at,
                subject_member_id=m if own else None,
                now=at if own else None,  # an event with a counterpart is dated by the clock
            )


async def wipe(sessions, *, awards: bool = True) -> None:
    async with sessions.begin() as session:
        await session.execute(delete(MemberPoints))
        await session.execute(delete(MemberKindStats))
        if awards:
            await session.execute(delete(BadgeAward))


@pytest.mark.parametrize("zone", list(AROUND))
async def test_the_streamed_rebuild_equals_recording(sessions, engine, zone: str) -> None:
    p = policy(zone)
    members = range(1, 8)
    await add_members(sessions, members)
    await record_all(sessions, p, scenario(len(zone), members, AROUND[zone], 160))
    maintained = await snapshot(sessions)
    assert maintained[0] and maintained[1] and maintained[2]
    # In one transaction, in batches of about 9 events (a member's events are never split).
    await wipe(sessions)
    async with sessions.begin() as session:
        result = await ledger.rebuild(session, p, at=T0, batch_events=9)
    assert await snapshot(sessions) == maintained
    assert result.aggregates == len(maintained[0]) and result.awarded == len(maintained[2])
    assert result.members == len({r[0] for r in maintained[1]})
    # Committed batch by batch, as the bot does at start.
    await wipe(sessions)
    result = await ledger_rebuild.rebuild_in_batches(engine, p, at=T0, force=True, batch_events=5)
    assert result is not None and await snapshot(sessions) == maintained
    async with sessions() as session:
        assert await ledger.aggregates_timezone(session) == zone
        assert not await ledger.needs_rebuild(session, p)


@pytest.mark.parametrize(
    ("zone", "year"),
    [
        ("Europe/Berlin", 2026),
        ("America/Sao_Paulo", 2018),
        ("Australia/Lord_Howe", 2026),
        ("America/St_Johns", 2009),
    ],
)
def test_the_local_days_give_every_instant_its_local_date(zone: str, year: int) -> None:
    tz = ZoneInfo(zone)
    days = ledger_rebuild.local_days(datetime(year, 1, 1).date(), datetime(year + 1, 1, 1).date(), tz)
    starts = [at for at, _ in days]
    assert starts == sorted(set(starts))
    at = datetime(year, 1, 2, 0, 0, 30, tzinfo=UTC)
    while at < datetime(year, 12, 30, tzinfo=UTC):
        _, local = days[bisect.bisect_right(starts, at) - 1]
        assert local == at.astimezone(tz).date(), at
        at += timedelta(minutes=5)


async def test_batches_are_bounded_and_report_progress(sessions, engine) -> None:
    p = policy("Europe/Berlin")
    await add_members(sessions, range(1, 11))
    # Member m has m events: 55 in all.
    start = datetime(2026, 1, 5, tzinfo=UTC)
    events = [(m, "checkin", start + timedelta(weeks=w), False) for m in range(1, 11) for w in range(m)]
    await record_all(sessions, p, events)
    maintained = await snapshot(sessions)
    seen: list[tuple[int, int]] = []
    calls: list[tuple[int | None, int | None]] = []
    real = ledger_rebuild._rebuild_batch

    async def spy(*args, **kwargs):
        calls.append(args[3:5])
        return await real(*args, **kwargs)

    ledger_rebuild._rebuild_batch = spy  # type: ignore[assignment]
    try:
        await wipe(sessions)
        async with sessions.begin() as session:
            await ledger.rebuild(session, p, at=T0, batch_events=12, progress=lambda d, t: seen.append((d, t)))
    finally:
        ledger_rebuild._rebuild_batch = real  # type: ignore[assignment]
    assert await snapshot(sessions) == maintained
    # The 12th event after the last batch closes the next one with its member: members 1-5 (15 events), 6-7
    # (13), 8-9 (17), then 10 (the rest, fewer than 12). A member is never split; a batch holds at most 12
    # events plus the rest of its closing member's.
    assert calls == [(None, 5), (5, 7), (7, 9), (9, None)]
    assert seen == [(0, 55), (15, 55), (28, 55), (45, 55), (55, 55)]
    sizes = [b - a for (a, _), (b, _) in itertools.pairwise(seen)]
    assert all(s <= 12 + 9 for s in sizes)


async def test_a_stopped_batched_rebuild_resumes_where_it_was(sessions, engine) -> None:
    p = policy("America/New_York")
    members = range(1, 9)
    await add_members(sessions, members)
    await record_all(sessions, p, scenario(3, members, AROUND["America/New_York"], 120))
    maintained = await snapshot(sessions)
    await wipe(sessions)

    class Stop(Exception):
        pass

    def stop_after_two(done: int, total: int) -> None:
        seen.append(done)
        if len(seen) == 3:  # the start, then two batches committed
            raise Stop

    seen: list[int] = []
    with pytest.raises(Stop):
        await ledger_rebuild.rebuild_in_batches(engine, p, at=T0, progress=stop_after_two, batch_events=20)
    async with sessions() as session:
        marker = await ledger_rebuild.pending(session)
        assert marker is not None and marker["timezone"] == "America/New_York" and marker["after"] is not None
        # Partly rebuilt aggregates are not mistaken for finished ones.
        assert await ledger.needs_rebuild(session, p)
    resumed: list[int] = []
    result = await ledger_rebuild.rebuild_in_batches(
        engine, p, at=T0, progress=lambda d, t: resumed.append(d), batch_events=20
    )
    assert result is not None and resumed[0] == seen[2] > 0  # carried on after the batches already done
    assert await snapshot(sessions) == maintained
    async with sessions() as session:
        assert await ledger_rebuild.pending(session) is None and not await ledger.needs_rebuild(session, p)
        assert await session.get(BotState, ledger_rebuild.PENDING_KEY) is None
    assert await ledger_rebuild.rebuild_in_batches(engine, p, at=T0) is None  # nothing left to do


async def test_an_event_recorded_during_a_batched_rebuild_counts_once(sessions, engine, monkeypatch) -> None:
    p = policy("Europe/Berlin")
    members = range(1, 7)
    await add_members(sessions, members)
    await record_all(sessions, p, scenario(5, members, AROUND["Europe/Berlin"], 60))
    at = AROUND["Europe/Berlin"][0]
    real, calls = ledger_rebuild._rebuild_batch, []

    async def record_between(*args, **kwargs):
        # Before each batch (outside any batch's transaction), record for the first and the last member: one
        # already rebuilt (its upserts land on rebuilt rows), one not yet (the batch replaces its stale rows).
        calls.append(args[3:5])
        async with sessions.begin() as session:
            for m in (1, 6):
                await ledger.record_event(
                    session,
                    p,
                    guild_id=GUILD,
                    member_id=m,
                    kind="review_done",
                    reference=f"x{len(calls)}:{m}",
                    at=at,
                )
        return await real(*args, **kwargs)

    monkeypatch.setattr(ledger_rebuild, "_rebuild_batch", record_between)
    await ledger_rebuild.rebuild_in_batches(engine, p, at=T0, force=True, batch_events=12)
    monkeypatch.undo()
    assert len(calls) >= 3
    after = await snapshot(sessions)
    # The truth: a rebuild of the final ledger, with nothing recorded meanwhile.
    await wipe(sessions, awards=False)
    async with sessions.begin() as session:
        await ledger.rebuild(session, p, at=T0)
    assert await snapshot(sessions) == after
    async with sessions() as session:
        meanwhile = await session.scalar(select(func.count()).where(LedgerEvent.reference.like("x%")))
    assert meanwhile == 2 * len(calls)


async def test_revoked_badges_stay_revoked_and_awards_are_not_announced(sessions) -> None:
    p = policy("UTC")
    await add_members(sessions, range(1, 3))
    at = datetime(2026, 2, 2, tzinfo=UTC)
    await record_all(sessions, p, [(m, "review_done", at, False) for m in (1, 2)])
    async with sessions.begin() as session:
        assert await ledger.revoke_badge(session, member_id=1, badge_key="first-review", at=at)
    await wipe(sessions, awards=False)
    async with sessions.begin() as session:
        result = await ledger.rebuild(session, p, at=at)
    assert result.awarded == 0  # member 2 holds it already, member 1 had it revoked
    async with sessions() as session:
        assert await session.get(BadgeRevocation, (1, "first-review")) is not None
        held = set((await session.execute(select(BadgeAward.member_id, BadgeAward.badge_key))).all())
    assert held == {(2, "first-review")}


async def test_two_processes_starting_together_rebuild_once(migrated_url: str) -> None:
    engines = [db.create_engine(migrated_url) for _ in range(2)]
    p = policy("Europe/Berlin")
    try:
        sessions = db.create_sessionmaker(engines[0])
        await add_members(sessions, range(1, 6))
        await record_all(sessions, policy("UTC"), scenario(9, range(1, 6), AROUND["Europe/Berlin"], 80))
        results = await asyncio.gather(
            *(ledger_rebuild.rebuild_in_batches(e, p, at=T0, batch_events=10) for e in engines)
        )
        rebuilt = [r for r in results if r is not None]
        if engines[0].dialect.name == "postgresql":
            # The advisory lock: the second waits, then finds the work done.
            assert len(rebuilt) == 1
        else:
            # Two processes on one SQLite file may both rebuild (each batch atomic): the same result.
            assert 1 <= len(rebuilt) <= 2
        first = await snapshot(sessions)
        await wipe(sessions, awards=False)
        async with sessions.begin() as session:
            await ledger.rebuild(session, p, at=T0)
        assert await snapshot(sessions) == first
    finally:
        for e in engines:
            await e.dispose()


async def test_a_rebuild_keeps_the_boards_visibility_and_counts_exact(sessions, engine) -> None:
    """A rebuild replaces member_points rows batch by batch: members gone or opted out stay hidden, and the
    leaderboards' counts (board_counts) follow every replaced row, so ranks are exact during and after it."""
    p = policy("Europe/Berlin")
    members = range(1, 9)
    await add_members(sessions, members)
    await record_all(sessions, p, scenario(7, members, AROUND["Europe/Berlin"], 120))
    async with sessions.begin() as session:
        await session.execute(update(Member).where(Member.id == 2).values(left_at=T0))
        await recognition_service.set_opt_out(session, 3, True, T0)
    async with sessions() as session:
        await check_maintained(session)
    maintained = await snapshot(sessions)
    async with sessions() as session:
        before = await session.scalar(select(func.max(BoardCount.id)))
    seen: list[int] = []
    real = ledger_rebuild._rebuild_batch

    async def checked(session, *args, **kwargs):
        result = await real(session, *args, **kwargs)
        await check_maintained(session)  # exact after each batch, in the batch's own transaction
        seen.append(1)
        return result

    ledger_rebuild._rebuild_batch = checked  # type: ignore[assignment]
    try:
        result = await ledger_rebuild.rebuild_in_batches(engine, p, at=T0, force=True, batch_events=7)
    finally:
        ledger_rebuild._rebuild_batch = real  # type: ignore[assignment]
    assert result is not None and len(seen) > 3
    assert await snapshot(sessions) == maintained
    async with sessions() as session:
        await check_maintained(session)
        hidden = await session.scalars(select(MemberPoints.member_id).where(MemberPoints.visible.is_(False)))
        assert set(hidden) == {2, 3}
        # Each batch folded what it counted: the rebuild left at most one row per board and points value.
        board = [BoardCount.guild_id, BoardCount.period_kind, BoardCount.category, BoardCount.period_start]
        new = BoardCount.id > before
        values = select(*board, BoardCount.points).where(new).group_by(*board, BoardCount.points).subquery()
        added = await session.scalar(select(func.count()).where(new))
        assert added and added == await session.scalar(select(func.count()).select_from(values))


async def test_a_visibility_change_during_a_batch_counts_the_rebuilt_rows(sessions, engine) -> None:
    """PostgreSQL: a member opts out while the rebuild batch holding them is open and changes their points (a
    repair). The trigger waits for the batch and counts the rows the batch wrote, not the ones it replaced."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: a visibility change cannot overlap a batch")
    p = policy("UTC")
    await add_members(sessions, range(1, 4))
    start = datetime(2026, 1, 5, tzinfo=UTC)
    await record_all(
        sessions, p, [(m, "review_done", start + timedelta(days=d), False) for m in (1, 2, 3) for d in range(3)]
    )
    async with sessions.begin() as session:  # stale aggregates (what a repair fixes), counted consistently
        await session.execute(
            update(MemberPoints).where(MemberPoints.member_id == 1).values(points=MemberPoints.points + 7)
        )
        await ledger.rebuild_ranks(session)
    held, release = asyncio.Event(), asyncio.Event()
    real = ledger_rebuild._rebuild_batch

    async def holding(session, *args, **kwargs):
        result = await real(session, *args, **kwargs)
        held.set()
        await release.wait()  # the batch's transaction stays open, its locks held
        return result

    ledger_rebuild._rebuild_batch = holding  # type: ignore[assignment]
    try:
        rebuild = asyncio.create_task(
            ledger_rebuild.rebuild_in_batches(engine, p, at=T0, force=True, batch_events=10_000)
        )
        await asyncio.wait_for(held.wait(), 10)

        async def opt_out() -> None:
            async with sessions.begin() as session:
                await recognition_service.set_opt_out(session, 1, True, T0)

        change = asyncio.create_task(opt_out())
        await asyncio.sleep(0.3)  # the trigger is now waiting for the batch
        release.set()
        await asyncio.wait_for(asyncio.gather(rebuild, change), 10)
    finally:
        ledger_rebuild._rebuild_batch = real  # type: ignore[assignment]
    async with sessions() as session:
        await check_maintained(session)
