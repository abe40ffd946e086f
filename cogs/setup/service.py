"""The ids setup recorded: channels in ``setup_channels``, community roles in ``community_roles`` (the one store of
role ids, shared with ``bot/community.py``). Plain values in and out; no Discord here."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import community
from bot.db import dialect_insert
from cogs.setup.plan import Record
from models import SetupChannel


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
