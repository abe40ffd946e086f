"""Community role ids stored in the real migrated database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import community
from bot.clock import ManualClock
from bot.community import Stored

GUILD = 2**62 + 7  # snowflakes need 64 bits


async def test_save_then_load_and_overwrite(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    async with sessions.begin() as session:
        assert await community.load(session, GUILD) == {}
        await community.save(session, GUILD, "maintainer", 2**63 - 1, "Maintainer", "name", clock.now())
        await community.save(session, GUILD, "learner", 11, "Learner", "created", clock.now())
        await community.save(session, GUILD + 1, "learner", 12, "Learner", "name", clock.now())  # another guild
    async with sessions.begin() as session:
        await community.save(session, GUILD, "learner", 13, "Newcomer", "config", clock.now())  # re-resolved
    async with sessions() as session:
        assert await community.load(session, GUILD) == {
            "maintainer": Stored(2**63 - 1, "Maintainer", "name"),
            "learner": Stored(13, "Newcomer", "config"),
        }
