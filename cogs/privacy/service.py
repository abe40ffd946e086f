"""A member's own data: the export of everything stored about them, and its erasure. Never imports discord.

Every feature contributes through the ``bot.privacy`` registry (its handler exports and erases its own tables);
this module adds what belongs to the core: the member row itself and the reminders aimed at the member.

Erasure keeps the ledger. The ledger's and the aggregates' ``member_id`` foreign keys cascade, so deleting the
``members`` row would also delete the member's points from every board and total, and rewrite history that
others' ranks, past spotlights and the quarterly reviews were computed from. So the row is kept as an
anonymous member instead: ``discord_id`` becomes ``-id`` (Discord ids are positive, so it can never match a
person and stays unique in the guild), the name and every profile field are cleared, ``left_at`` is set (the
boards and spotlights already leave out members who left, so the row is never shown by name) and ``erased_at``
says why. Its ledger rows and aggregates stay, so community totals and a rebuild from the ledger agree with what
was there before. If the person comes back or uses the bot again, they get a new, empty row.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import ledger, reminders
from bot.members import get_member
from bot.privacy import DataSubject, MemberDataHandler, Visibility
from models import Reminder

EXPORT_FORMAT = "atlas-member-data/1"
# The members row's personal columns (all nullable): cleared on erasure.
PERSONAL_COLUMNS = (
    "timezone",
    "skill",
    "goals",
    "weekly_hours",
    "language",
    "communication_style",
    "onboarded_at",
    "coc_accepted_at",
    "stage",
    "stage_since",
    "last_active_at",
    "last_nudge_at",
    "greeted_at",
)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


async def _pending_reminders(session: AsyncSession, guild_id: int, discord_id: int) -> Sequence[Reminder]:
    return (
        await session.scalars(
            select(Reminder)
            .where(
                Reminder.guild_id == guild_id,
                Reminder.target_id == discord_id,
                Reminder.state == reminders.PENDING,
            )
            .order_by(Reminder.due_at, Reminder.id)
        )
    ).all()


async def export_member(
    session: AsyncSession,
    handlers: Sequence[MemberDataHandler],
    guild_id: int,
    discord_id: int,
    at: datetime,
) -> dict[str, Any] | None:
    """Everything stored about the member, by feature; None when nothing is stored."""
    member = await get_member(session, guild_id, discord_id)
    if member is None:
        return None
    subject = DataSubject(guild_id, member.id, member.discord_id)
    data: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "exported_at": at.isoformat(),
        "guild_id": str(guild_id),
        "member": {
            "discord_id": str(member.discord_id),
            "display_name": member.display_name,
            "joined_at": _iso(member.joined_at),
            "left_at": _iso(member.left_at),
            "last_active_at": _iso(member.last_active_at),
            "last_checkin_dm_at": _iso(member.last_nudge_at),
            "pending_messages": [
                {"kind": r.kind, "due_at": r.due_at.isoformat()}
                for r in await _pending_reminders(session, guild_id, member.discord_id)
            ],
        },
    }
    for handler in handlers:
        data[handler.name] = await handler.export(session, subject)
    return data


def encode_export(data: dict[str, Any], limit: int) -> tuple[bytes, str] | None:
    """The export as a file that fits Discord's upload limit: JSON, or gzipped JSON when the plain file is too
    large (JSON of a long ledger compresses about tenfold); None when even that does not fit."""
    raw = json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8")
    if len(raw) <= limit:
        return raw, "atlas-data.json"
    packed = gzip.compress(raw, mtime=0)
    if len(packed) <= limit:
        return packed, "atlas-data.json.gz"
    return None


@dataclass(frozen=True)
class Erasure:
    member_id: int
    reminders_cancelled: int


async def erase_member(
    session: AsyncSession,
    handlers: Sequence[MemberDataHandler],
    guild_id: int,
    discord_id: int,
    at: datetime,
) -> Erasure | None:
    """Erase the member's personal data in the caller's transaction (see the module docstring); None when
    nothing is stored about them."""
    member = await get_member(session, guild_id, discord_id)
    if member is None:
        return None
    # A contribution recorded at the same moment waits for this transaction (PostgreSQL; SQLite's write lock
    # serialises anyway), so it lands on the anonymous row or on a new one, never half on each.
    await ledger.lock_members(session, [member.id])
    subject = DataSubject(guild_id, member.id, member.discord_id)
    for handler in handlers:
        await handler.erase(session, subject, at)
    # Every reminder aimed at them goes, sent ones too: their kinds, times and dedupe keys are a dated history
    # of the person. One being sent right now (claimed) is left to finish.
    aimed = (
        Reminder.guild_id == guild_id,
        Reminder.target_id == member.discord_id,
        Reminder.state != reminders.CLAIMED,
    )
    cancelled = await session.scalar(
        select(func.count()).select_from(Reminder).where(*aimed, Reminder.state == reminders.PENDING)
    )
    await session.execute(delete(Reminder).where(*aimed))
    # The core row keeps only what the ledger needs: every personal column is cleared here, whichever features
    # are loaded (their handlers above erase their own tables).
    member.discord_id = -member.id
    member.display_name = ""
    for column in PERSONAL_COLUMNS:
        setattr(member, column, None)
    member.stage_manual = False
    member.profile_visibility = Visibility.ME.value
    member.joined_at = at
    member.left_at = member.left_at or at
    member.erased_at = at
    await session.flush()
    return Erasure(member.id, int(cancelled or 0))
