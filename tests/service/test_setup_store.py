"""The ids server setup records, in the real migrated database (SQLite, and PostgreSQL when configured): channels
in ``setup_channels``, community roles in ``community_roles`` (the one store of role ids)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import community
from bot.clock import ManualClock
from cogs.setup import service
from cogs.setup.plan import Record

GUILD = 2**62 + 7  # snowflakes need 64 bits


async def test_channels_and_roles_recorded_then_loaded_per_guild(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    async with sessions.begin() as session:
        assert await service.load_records(session, GUILD) == {}
        await service.record_channel(session, GUILD, "welcome", 2**63 - 1, "text", True, clock.now())
        await service.record_channel(session, GUILD, "qa_forum", 21, "forum", False, clock.now())
        await service.record_channel(session, GUILD + 1, "welcome", 31, "text", True, clock.now())  # another guild
        await service.record_role(session, GUILD, "maintainer", 41, "Maintainer", False, clock.now())
        await service.record_role(session, GUILD, "learner", 42, "Learner", True, clock.now())
    async with sessions() as session:
        assert await service.load_records(session, GUILD) == {
            "welcome": Record(2**63 - 1, True),
            "qa_forum": Record(21, False),
            "maintainer": Record(41, False, "Maintainer"),
            "learner": Record(42, True, "Learner"),
        }
        assert await service.channel_ids(session, GUILD) == {"welcome": 2**63 - 1, "qa_forum": 21}
        # The community roles' resolver reads the same rows (how: name = adopted, created = made by the bot).
        stored = await community.load(session, GUILD)
        assert (stored["maintainer"].how, stored["learner"].how) == ("name", "created")


async def test_recording_again_replaces_and_concurrent_records_of_one_key_leave_one_row(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    async with sessions.begin() as session:
        await service.record_channel(session, GUILD, "welcome", 10, "text", False, clock.now())

    async def record(channel_id: int) -> None:
        async with sessions.begin() as session:
            await service.record_channel(session, GUILD, "welcome", channel_id, "text", True, clock.now())

    await asyncio.gather(*(record(100 + i) for i in range(5)))
    async with sessions() as session:
        ids = await service.channel_ids(session, GUILD)
    assert list(ids) == ["welcome"] and ids["welcome"] in range(100, 105)


async def test_one_setup_run_at_a_time_per_guild(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    """Two runs (two processes) racing for the lock: exactly one gets it; released, the next one does; a lock
    left by a crashed run is taken over once it is stale, by one run only."""
    results = await asyncio.gather(
        *(service.take_run_lock(sessions, GUILD, f"run{i}", clock.now()) for i in range(4))
    )
    assert sum(r is None for r in results) == 1
    assert all(r == clock.now() for r in results if r is not None)
    assert await service.take_run_lock(sessions, GUILD + 1, "other", clock.now()) is None  # another guild
    winner = f"run{results.index(None)}"
    await service.release_run_lock(sessions, GUILD, "not-the-holder")
    assert await service.take_run_lock(sessions, GUILD, "late", clock.now()) is not None
    await service.release_run_lock(sessions, GUILD, winner)
    assert await service.take_run_lock(sessions, GUILD, "next", clock.now()) is None
    # "next" crashes without releasing; after STALE_RUN two runs race to take it over.
    clock.advance(service.STALE_RUN + timedelta(seconds=1))
    later = await asyncio.gather(*(service.take_run_lock(sessions, GUILD, f"r{i}", clock.now()) for i in range(3)))
    assert sum(r is None for r in later) == 1
