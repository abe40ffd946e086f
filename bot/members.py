"""Finding and creating the member row that every feature hangs its data on, and reconciling the whole member
list with Discord's (``bot.member_sync`` drives that on start).

Creating is idempotent: two commands at once from a member the bot has no row for yet (everyone already on the
server when the bot is installed, or a command at the moment of joining) both get the one row, through
``INSERT ... ON CONFLICT DO NOTHING`` and a read, instead of one of them failing on the unique constraint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import ledger
from bot.db import dialect_insert
from models import Member

# Rows per statement in the bulk paths: well under SQLite's bound-parameter limit, and short write locks.
BATCH = 500
# Rows converted between yields to the event loop when reading the whole table.
_READ_PARTITION = 500
# Discord's joined_at against the stored one: later by more than this means the member left and came back.
_REJOIN_SLACK = timedelta(seconds=1)


async def get_member(session: AsyncSession, guild_id: int, discord_id: int) -> Member | None:
    return await session.scalar(select(Member).where(Member.guild_id == guild_id, Member.discord_id == discord_id))


async def ensure_member(
    session: AsyncSession, guild_id: int, discord_id: int, *, display_name: str, joined_at: datetime
) -> Member:
    """The member's row, created on first sight (joined_at is Discord's join time when known)."""
    member = await get_member(session, guild_id, discord_id)
    if member is None:
        await session.execute(
            dialect_insert(session, Member)
            .values(guild_id=guild_id, discord_id=discord_id, display_name=display_name[:100], joined_at=joined_at)
            .on_conflict_do_nothing(index_elements=["guild_id", "discord_id"])
        )
        # Ours or the one a concurrent unit of work inserted a moment ago: either way it exists now.
        member = await get_member(session, guild_id, discord_id)
        assert member is not None
    elif display_name and member.display_name != display_name[:100]:
        member.display_name = display_name[:100]
    return member


# -- reconciling with Discord's member list --------------------------------------------------------------------
class Present(NamedTuple):
    """A member on the server as Discord lists them."""

    discord_id: int
    display_name: str
    joined_at: datetime


NEW, RETURNED = "new", "returned"


@dataclass
class Known:
    """The table's view of a guild: every row's join time, and which rows are marked as left. Two flat
    collections rather than an object per row: at 100,000 members every object made is garbage-collector work
    that pauses the event loop."""

    joined: dict[int, datetime] = field(default_factory=dict)
    left: set[int] = field(default_factory=set)

    def change(self, discord_id: int, joined_at: datetime) -> str | None:
        """NEW (no row), RETURNED (a row marked as left, or a later join than stored: they left and came back
        unseen) or None."""
        stored = self.joined.get(discord_id)
        if stored is None:
            return NEW
        if discord_id in self.left or joined_at > stored + _REJOIN_SLACK:
            return RETURNED
        return None

    def gone(self, seen: set[int]) -> list[int]:
        """Rows of members thought present whom Discord no longer lists."""
        return [i for i in self.joined if i not in seen and i not in self.left]


async def known_members(session: AsyncSession, guild_id: int) -> Known:
    """Every row of the guild: one query, read in partitions so a 100,000-member guild never holds the event
    loop for long."""
    known = Known()
    result = await session.stream(
        select(Member.discord_id, Member.joined_at, Member.left_at.is_not(None)).where(Member.guild_id == guild_id)
    )
    async for part in result.partitions(_READ_PARTITION):
        for discord_id, joined_at, left in part:
            known.joined[discord_id] = joined_at
            if left:
                known.left.add(discord_id)
    return known


async def insert_members(session: AsyncSession, guild_id: int, rows: Sequence[Present]) -> None:
    """Bulk insert (one executemany), skipping any a concurrent join inserted first."""
    if not rows:
        return
    await session.execute(
        dialect_insert(session, Member).on_conflict_do_nothing(index_elements=["guild_id", "discord_id"]),
        [
            {
                "guild_id": guild_id,
                "discord_id": p.discord_id,
                "display_name": p.display_name[:100],
                "joined_at": p.joined_at,
            }
            for p in rows
        ],
    )


async def _lock_for_boards(session: AsyncSession, guild_id: int, discord_ids: Sequence[int]) -> None:
    """On PostgreSQL the board-visibility trigger (migration 0010) locks each member as the UPDATE reaches its
    row, in whatever order the plan visits them; taking those locks first in the ledger's global order keeps a
    bulk change from deadlocking with a recording that locks the same members."""
    if session.get_bind().dialect.name != "postgresql":
        return
    ids = await session.scalars(
        select(Member.id).where(Member.guild_id == guild_id, Member.discord_id.in_(discord_ids))
    )
    await ledger.lock_members(session, list(ids))


async def mark_returned(session: AsyncSession, guild_id: int, rows: Sequence[Present]) -> None:
    """They are back: present again, with Discord's new join time (one executemany)."""
    if not rows:
        return
    await _lock_for_boards(session, guild_id, [p.discord_id for p in rows])
    table = Member.__table__
    await session.execute(
        update(table)
        .where(table.c.guild_id == guild_id, table.c.discord_id == bindparam("d"))
        .values(left_at=None, joined_at=bindparam("j")),
        [{"d": p.discord_id, "j": p.joined_at} for p in rows],
    )


async def mark_left(session: AsyncSession, guild_id: int, discord_ids: Sequence[int], at: datetime) -> None:
    if not discord_ids:
        return
    await _lock_for_boards(session, guild_id, discord_ids)
    await session.execute(
        update(Member)
        .where(Member.guild_id == guild_id, Member.discord_id.in_(discord_ids), Member.left_at.is_(None))
        .values(left_at=at)
        .execution_options(synchronize_session=False)
    )
