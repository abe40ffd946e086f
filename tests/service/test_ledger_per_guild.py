"""Two communities' bots on one database, each with its own ``[community] timezone``: the start-up rebuild of
the aggregates (bot/ledger_rebuild.py ``LedgerUpgrade``) and the zone marker are per guild, so one bot's start
never re-cuts the other guild's weeks and months in its own zone (nor the other's start undo it)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select

from bot import ledger
from bot.clock import ManualClock
from bot.config import Config
from bot.ledger import LedgerPolicy
from bot.ledger_rebuild import LedgerUpgrade
from models import Member, MemberPoints

A, B = 21, 22
# Sunday 31 May 2026 23:30 UTC is Monday 1 June in Berlin: another week and another month than in UTC.
SUNDAY_NIGHT = datetime(2026, 5, 31, 23, 30, tzinfo=UTC)


def policy(zone: str) -> LedgerPolicy:
    return LedgerPolicy.from_config(Config().recognition, timezone=zone)


async def rows_of(sessions, guild_id: int) -> list[tuple]:
    async with sessions() as session:
        table = MemberPoints.__table__
        query = select(table).where(table.c.guild_id == guild_id).order_by(*table.c)
        return [tuple(r) for r in (await session.execute(query)).all()]


async def test_one_guilds_start_does_not_rebuild_the_other_guilds_boards(sessions, engine) -> None:
    zones = {A: policy("UTC"), B: policy("Europe/Berlin")}
    async with sessions.begin() as session:
        for guild_id, first in ((A, 1), (B, 11)):
            await session.execute(
                insert(Member),
                [
                    {"id": i, "guild_id": guild_id, "discord_id": 9000 + i, "display_name": f"m{i}"}
                    | {"joined_at": SUNDAY_NIGHT}
                    for i in range(first, first + 3)
                ],
            )
            for i in range(first, first + 3):
                await ledger.record_event(
                    session,
                    zones[guild_id],
                    guild_id=guild_id,
                    member_id=i,
                    kind="review_done",
                    reference=f"r{i}",
                    at=SUNDAY_NIGHT,
                )
    clock = ManualClock(SUNDAY_NIGHT)
    a_start = LedgerUpgrade(engine, clock, A)
    await a_start.start(zones[A])  # A's aggregates are UTC ones (no marker yet means UTC): nothing to do
    assert a_start.ready.is_set()
    a_rows = await rows_of(sessions, A)
    assert a_rows

    # B's start: its aggregates were never marked (so: UTC) but its zone is Berlin: B's, and only B's, rebuilt.
    b_start = LedgerUpgrade(engine, clock, B)
    await b_start.start(zones[B])
    await b_start.wait()
    assert await rows_of(sessions, A) == a_rows
    async with sessions() as session:
        assert await ledger.aggregates_timezone(session, A) == "UTC"
        assert await ledger.aggregates_timezone(session, B) == "Europe/Berlin"
        assert not await ledger.needs_rebuild(session, zones[A], A)
        assert not await ledger.needs_rebuild(session, zones[B], B)
        weeks = await session.scalars(
            select(MemberPoints.period_start).where(MemberPoints.guild_id == B, MemberPoints.period_kind == "week")
        )
        assert set(weeks) == {datetime(2026, 5, 31, 22, tzinfo=UTC)}  # Monday 1 June 00:00 in Berlin

    # A restarts: nothing to rebuild (before, the shared marker said Berlin and A rebuilt everyone in UTC).
    again = LedgerUpgrade(engine, clock, A)
    await again.start(zones[A])
    assert again.ready.is_set() and again._task is None
    assert await rows_of(sessions, A) == a_rows
