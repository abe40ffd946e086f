"""Finding and creating the member row that every feature hangs its data on, and reconciling the whole member
list with Discord's (``bot.member_sync`` drives that on start).

Creating is idempotent: two commands at once from a member the bot has no row for yet (everyone already on the
server when the bot is installed, or a command at the moment of joining) both get the one row, through
``INSERT ... ON CONFLICT DO NOTHING`` and a read, instead of one of them failing on the unique constraint.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import dialect_insert
from models import Member

# Rows per statement in the bulk paths: well under SQLite's bound-parameter limit, and short write locks.
BATCH = 2000
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
@dataclass(frozen=True)
class Present:
    """A member on the server as Discord lists them."""

    discord_id: int
    display_name: str
    joined_at: datetime


@dataclass(frozen=True)
class Known:
    joined_at: datetime
    left: bool


@dataclass(frozen=True)
class Difference:
    """How Discord's member list differs from the table."""

    new: list[Present]  # no row yet
    returned: list[Present]  # a row marked as left, or a later join than stored: they left and came back
    gone: list[int]  # a row of someone present who is no longer on the server


def compare(present: Iterable[Present], known: dict[int, Known]) -> Difference:
    """Pure: what changed between the table (``known``, by discord id) and Discord's list."""
    new: list[Present] = []
    returned: list[Present] = []
    seen: set[int] = set()
    for p in present:
        seen.add(p.discord_id)
        k = known.get(p.discord_id)
        if k is None:
            new.append(p)
        elif k.left or p.joined_at > k.joined_at + _REJOIN_SLACK:
            returned.append(p)
    gone = [i for i, k in known.items() if not k.left and i not in seen]
    return Difference(new, returned, gone)


async def known_members(session: AsyncSession, guild_id: int) -> dict[int, Known]:
    """Every row of the guild, by discord id: one query, read in partitions so a 100,000-member guild never holds
    the event loop for long."""
    known: dict[int, Known] = {}
    result = await session.stream(
        select(Member.discord_id, Member.joined_at, Member.left_at.is_not(None)).where(Member.guild_id == guild_id)
    )
    async for part in result.partitions(BATCH):
        for discord_id, joined_at, left in part:
            known[discord_id] = Known(joined_at, bool(left))
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


async def mark_returned(session: AsyncSession, guild_id: int, rows: Sequence[Present]) -> None:
    """They are back: present again, with Discord's new join time (one executemany)."""
    if not rows:
        return
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
    await session.execute(
        update(Member)
        .where(Member.guild_id == guild_id, Member.discord_id.in_(discord_ids), Member.left_at.is_(None))
        .values(left_at=at)
        .execution_options(synchronize_session=False)
    )
