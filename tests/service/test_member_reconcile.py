"""The start-up member reconcile's database side (bot.members): set-based at any size, on both backends."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, func, select

from bot import members
from bot.members import Known, Present
from cogs.onboarding import service as onboarding
from models import Member

GUILD = 1


def test_compare_finds_new_returned_and_gone(clock) -> None:
    t = clock.now()
    known = {
        1: Known(t, left=False),  # still here
        2: Known(t, left=True),  # left earlier, back now
        3: Known(t, left=False),  # left and rejoined while unseen: a later join time
        4: Known(t, left=False),  # gone
        5: Known(t, left=True),  # gone, already known so
    }
    present = [Present(1, "a", t), Present(2, "b", t), Present(3, "c", t + timedelta(hours=1)), Present(6, "n", t)]
    diff = members.compare(present, known)
    assert [p.discord_id for p in diff.new] == [6]
    assert [p.discord_id for p in diff.returned] == [2, 3]
    assert diff.gone == [4]


async def test_five_thousand_members_take_a_handful_of_statements(engine, sessions, clock) -> None:
    now = clock.now()
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement.split()[0].upper())

    async with sessions.begin() as session:
        await members.insert_members(session, GUILD, [Present(i, f"m{i}", now) for i in range(2500)])
        await members.mark_left(session, GUILD, list(range(2000, 2500)), now)
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        present = [Present(i, f"m{i}", now) for i in range(500, 5000)]
        async with sessions() as session:
            known = await members.known_members(session, GUILD)
        diff = members.compare(present, known)
        assert (len(diff.new), len(diff.returned), len(diff.gone)) == (2500, 500, 500)
        async with sessions.begin() as session:
            await members.insert_members(session, GUILD, diff.new)
            await members.insert_members(session, GUILD, diff.new)  # a second run changes nothing
            await members.mark_returned(session, GUILD, diff.returned)
            await members.mark_left(session, GUILD, diff.gone, now)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    # Not one statement per member: a read, two bulk inserts, an update each (PostgreSQL pages inserts by 1000).
    assert len(statements) <= 20, statements
    async with sessions() as session:
        total = await session.scalar(select(func.count()).select_from(Member))
        present_now = await session.scalar(
            select(func.count()).select_from(Member).where(Member.left_at.is_(None))
        )
    assert (total, present_now) == (5000, 4500)


async def test_claim_greetings_respects_onboarding_and_the_quiet_period(sessions, clock) -> None:
    now = clock.now()
    quiet = timedelta(days=30)
    async with sessions.begin() as session:
        await members.insert_members(session, GUILD, [Present(i, f"m{i}", now) for i in (1, 2, 3)])
        rows = {m.discord_id: m for m in await session.scalars(select(Member))}
        rows[2].onboarded_at = now
        rows[3].greeted_at = now - timedelta(days=3)
    async with sessions.begin() as session:
        assert await onboarding.claim_greetings(session, GUILD, [1, 2, 3], now, quiet) == [1]
    async with sessions.begin() as session:  # claimed: not twice
        assert await onboarding.claim_greetings(session, GUILD, [1, 2, 3], now, quiet) == []
    later = now + timedelta(days=31)
    async with sessions.begin() as session:
        assert sorted(await onboarding.claim_greetings(session, GUILD, [1, 2, 3], later, quiet)) == [1, 3]
