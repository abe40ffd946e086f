"""The start-up member reconcile's database side (bot.members): set-based at any size, on both backends."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, func, select

from bot import members
from bot.members import Known, Present
from cogs.onboarding import service as onboarding
from models import Member

GUILD = 1


def test_changes_are_new_returned_and_gone(clock) -> None:
    t = clock.now()
    known = Known(
        joined={1: t, 2: t, 3: t, 4: t, 5: t},
        # 1 still here; 2 left earlier and is back; 3 left and rejoined unseen (a later join time); 4 is gone;
        # 5 is gone and already known so.
        left={2, 5},
    )
    present = [Present(1, "a", t), Present(2, "b", t), Present(3, "c", t + timedelta(hours=1)), Present(6, "n", t)]
    changes = {p.discord_id: known.change(p.discord_id, p.joined_at) for p in present}
    assert changes == {1: None, 2: members.RETURNED, 3: members.RETURNED, 6: members.NEW}
    assert known.gone({p.discord_id for p in present}) == [4]


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
        new = [p for p in present if known.change(p.discord_id, p.joined_at) == members.NEW]
        back = [p for p in present if known.change(p.discord_id, p.joined_at) == members.RETURNED]
        gone = known.gone({p.discord_id for p in present})
        assert (len(new), len(back), len(gone)) == (2500, 500, 500)
        async with sessions.begin() as session:
            await members.insert_members(session, GUILD, new)
            await members.insert_members(session, GUILD, new)  # a second run changes nothing
            await members.mark_returned(session, GUILD, back)
            await members.mark_left(session, GUILD, gone, now)
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
