"""The contribution ledger: one append-only row per contribution or activity.

Every feature records through ``record``; reputation, badges, progression, leaderboards and metrics are all
computed from these rows. Recording is idempotent on (member, kind, reference), so a retry never counts twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import LedgerEvent


async def record(
    session: AsyncSession,
    *,
    guild_id: int,
    member_id: int,
    kind: str,
    reference: str,
    points: int,
    at: datetime,
) -> LedgerEvent | None:
    """Append an event in the caller's transaction; returns None when this (member, kind, reference) exists."""
    if not kind or not reference:
        raise ValueError("a ledger event needs a kind and a reference")
    existing = await session.scalar(
        select(LedgerEvent.id).where(
            LedgerEvent.member_id == member_id, LedgerEvent.kind == kind, LedgerEvent.reference == reference
        )
    )
    if existing is not None:
        return None
    event = LedgerEvent(
        guild_id=guild_id, member_id=member_id, kind=kind, reference=reference, points=points, created_at=at
    )
    session.add(event)
    await session.flush()
    return event


async def points_of(session: AsyncSession, member_id: int, *, since: datetime | None = None) -> int:
    query = select(func.coalesce(func.sum(LedgerEvent.points), 0)).where(LedgerEvent.member_id == member_id)
    if since is not None:
        query = query.where(LedgerEvent.created_at >= since)
    return int(await session.scalar(query) or 0)
