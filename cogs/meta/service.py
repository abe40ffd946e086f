"""Bot health in plain values: reminder counts by state and the recurring jobs' last runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import JobRun, Member, Reminder


@dataclass(frozen=True)
class Status:
    members: int
    reminders_by_state: dict[str, int]
    next_reminder_at: datetime | None
    jobs: list[tuple[str, datetime, str | None]]


async def status(session: AsyncSession, guild_id: int) -> Status:
    members = await session.scalar(
        select(func.count()).select_from(Member).where(Member.guild_id == guild_id, Member.left_at.is_(None))
    )
    rows = await session.execute(
        select(Reminder.state, func.count()).where(Reminder.guild_id == guild_id).group_by(Reminder.state)
    )
    next_at = await session.scalar(
        select(func.min(Reminder.due_at)).where(Reminder.guild_id == guild_id, Reminder.state == "pending")
    )
    # This guild's job periods ("name@guild", bot/scheduler.py), and plain names not yet carried over.
    runs = await session.scalars(
        select(JobRun)
        .where(or_(JobRun.name.endswith(f"@{guild_id}"), JobRun.name.not_like("%@%")))
        .order_by(JobRun.name)
    )
    jobs = [(r.name.removesuffix(f"@{guild_id}"), r.last_fire_at, r.last_error) for r in runs]
    return Status(int(members or 0), {state: int(n) for state, n in rows.all()}, next_at, jobs)
