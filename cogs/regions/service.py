"""Regional and language channels on the database: counting members per region and language, and recording
each channel so it is made once.

Making one is claim, create, record: the row is inserted (the unique (guild, kind, key) makes a second insert a
no-op) and claimed with one UPDATE (``channel_id IS NULL`` and no fresh claim), so two processes, or the daily job
and an onboarding at once, never both ask Discord; a claim left by a crash expires after ``CLAIM_TTL`` and the
next run first looks for a channel of that name to adopt before making one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import dialect_insert
from bot.privacy import Visibility
from cogs.regions import groups
from models import Member, RegionalChannel

CLAIM_TTL = timedelta(minutes=10)


def _present(guild_id: int) -> list[ColumnElement[bool]]:
    return [
        Member.guild_id == guild_id,
        Member.onboarded_at.is_not(None),
        Member.left_at.is_(None),
        Member.erased_at.is_(None),
        # A member who keeps their profile to themselves ("only you") is not counted, even in a total.
        Member.profile_visibility != Visibility.ME.value,
    ]


async def member_groups(
    session: AsyncSession, guild_id: int, *, languages: bool, main_language: str | None = None
) -> dict[tuple[str, str], groups.Group]:
    """Onboarded members still here, per region and (with ``languages``) per language: two GROUP BY queries
    (a few hundred distinct zones; as many distinct language spellings as people typed)."""
    zones = await session.execute(
        select(Member.timezone, func.count()).where(*_present(guild_id)).group_by(Member.timezone)
    )
    spoken: list[tuple[str | None, int]] = []
    if languages:
        rows = await session.execute(
            select(Member.language, func.count())
            .where(*_present(guild_id), Member.language.is_not(None))
            .group_by(Member.language)
        )
        spoken = [(text, int(n)) for text, n in rows.all()]
    return groups.count_groups([(zone, int(n)) for zone, n in zones.all()], spoken, main_language)


async def made(session: AsyncSession, guild_id: int) -> set[tuple[str, str]]:
    rows = await session.execute(
        select(RegionalChannel.kind, RegionalChannel.key).where(
            RegionalChannel.guild_id == guild_id, RegionalChannel.channel_id.is_not(None)
        )
    )
    return {(kind, key) for kind, key in rows.all()}


async def made_channels(session: AsyncSession, guild_id: int) -> dict[tuple[str, str], int]:
    rows = await session.execute(
        select(RegionalChannel.kind, RegionalChannel.key, RegionalChannel.channel_id).where(
            RegionalChannel.guild_id == guild_id, RegionalChannel.channel_id.is_not(None)
        )
    )
    return {(kind, key): channel_id for kind, key, channel_id in rows.all()}


async def claim(session: AsyncSession, guild_id: int, group: groups.Group, now: datetime) -> int | None:
    """The row's id when this caller may make the channel now, else None (made already, or being made)."""
    await session.execute(
        dialect_insert(session, RegionalChannel)
        .values(guild_id=guild_id, kind=group.kind, key=group.key, name=group.name)
        .on_conflict_do_nothing(index_elements=["guild_id", "kind", "key"])
    )
    return await session.scalar(
        update(RegionalChannel)
        .where(
            RegionalChannel.guild_id == guild_id,
            RegionalChannel.kind == group.kind,
            RegionalChannel.key == group.key,
            RegionalChannel.channel_id.is_(None),
            or_(RegionalChannel.claimed_at.is_(None), RegionalChannel.claimed_at < now - CLAIM_TTL),
        )
        .values(claimed_at=now)
        .returning(RegionalChannel.id)
    )


async def record_made(
    session: AsyncSession, row_id: int, *, channel_id: int, is_thread: bool, members: int, now: datetime
) -> None:
    await session.execute(
        update(RegionalChannel)
        .where(RegionalChannel.id == row_id)
        .values(channel_id=channel_id, is_thread=is_thread, members_at_creation=members, created_at=now)
    )


async def release(session: AsyncSession, row_id: int) -> None:
    """Discord refused: the next run may try again."""
    await session.execute(
        update(RegionalChannel)
        .where(RegionalChannel.id == row_id, RegionalChannel.channel_id.is_(None))
        .values(claimed_at=None)
    )
