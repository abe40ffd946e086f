"""Finding and creating the member row that every feature hangs its data on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Member


async def get_member(session: AsyncSession, guild_id: int, discord_id: int) -> Member | None:
    return await session.scalar(select(Member).where(Member.guild_id == guild_id, Member.discord_id == discord_id))


async def ensure_member(
    session: AsyncSession, guild_id: int, discord_id: int, *, display_name: str, joined_at: datetime
) -> Member:
    """The member's row, created on first sight (joined_at is Discord's join time when known)."""
    member = await get_member(session, guild_id, discord_id)
    if member is None:
        member = Member(
            guild_id=guild_id, discord_id=discord_id, display_name=display_name[:100], joined_at=joined_at
        )
        session.add(member)
        await session.flush()
    elif display_name and member.display_name != display_name[:100]:
        member.display_name = display_name[:100]
    return member
