"""The ids setup recorded: channels in ``setup_channels``, community roles in ``community_roles`` (the one store of
role ids, shared with ``bot/community.py``). Plain values in and out; no Discord here."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import community
from bot.db import dialect_insert
from cogs.setup.plan import Record
from models import SetupChannel, SetupRun

# A run holding the lock longer than this crashed (a whole server is built in well under a minute).
STALE_RUN = timedelta(minutes=15)


async def load_records(session: AsyncSession, guild_id: int) -> dict[str, Record]:
    """Every key setup (or the community roles' resolver) recorded: role keys and channel keys."""
    out = {
        key: Record(s.role_id, s.how == "created", s.name)
        for key, s in (await community.load(session, guild_id)).items()
    }
    rows = await session.scalars(select(SetupChannel).where(SetupChannel.guild_id == guild_id))
    out.update({r.key: Record(r.channel_id, r.created) for r in rows})
    return out


async def channel_ids(session: AsyncSession, guild_id: int) -> dict[str, int]:
    rows = await session.execute(
        select(SetupChannel.key, SetupChannel.channel_id).where(SetupChannel.guild_id == guild_id)
    )
    return {key: channel_id for key, channel_id in rows.all()}


async def record_channel(
    session: AsyncSession, guild_id: int, key: str, channel_id: int, kind: str, created: bool, now: datetime
) -> None:
    values = {"channel_id": channel_id, "kind": kind, "created": created, "recorded_at": now}
    stmt = dialect_insert(session, SetupChannel).values(guild_id=guild_id, key=key, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["guild_id", "key"], set_=values))


async def record_role(
    session: AsyncSession, guild_id: int, key: str, role_id: int, name: str, created: bool, now: datetime
) -> None:
    """A community role setup made (``how = created``) or adopted by name (``how = name``), as the community
    roles' resolver would have stored it."""
    await community.save(session, guild_id, key, role_id, name, "created" if created else "name", now)


def configured_ids(channels: Mapping[str, int], roles: Mapping[str, int]) -> dict[str, int]:
    """Ids given in config.toml, by template key (0 = not configured)."""
    return {k: v for k, v in {**channels, **roles}.items() if v}


async def take_run_lock(
    sessions: async_sessionmaker[AsyncSession], guild_id: int, holder: str, now: datetime
) -> datetime | None:
    """Take the guild's setup lock for ``holder``: None when taken, else when the run holding it started. The
    primary key makes the insert race-safe on both backends; a stale lock is taken over with a compare-and-set
    on its ``taken_at``, so of two runs taking it over only one succeeds."""
    async with sessions.begin() as session:
        stmt = dialect_insert(session, SetupRun).values(guild_id=guild_id, holder=holder, taken_at=now)
        inserted = await session.execute(stmt.on_conflict_do_nothing(index_elements=["guild_id"]))
        if inserted.rowcount == 1:  # type: ignore[attr-defined]
            return None
        taken_at = await session.scalar(select(SetupRun.taken_at).where(SetupRun.guild_id == guild_id))
        if taken_at is None:
            return now  # released between the two statements: the caller may try again
        if now - taken_at < STALE_RUN:
            return taken_at
        moved = await session.execute(
            update(SetupRun)
            .where(SetupRun.guild_id == guild_id, SetupRun.taken_at == taken_at)
            .values(holder=holder, taken_at=now)
        )
        return None if moved.rowcount == 1 else taken_at  # type: ignore[attr-defined]


async def release_run_lock(sessions: async_sessionmaker[AsyncSession], guild_id: int, holder: str) -> None:
    async with sessions.begin() as session:
        await session.execute(delete(SetupRun).where(SetupRun.guild_id == guild_id, SetupRun.holder == holder))
