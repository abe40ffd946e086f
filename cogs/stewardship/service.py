"""Reading four weeks of volunteer work from the ledger (the aggregation itself is ``aggregate``).

Two set-based queries: counts per member and kind of the volunteer kinds in the window (the ledger's
``(guild_id, created_at)`` index), and, for "cohorts facilitated", the cohorts whose weekly milestone or completion
the facilitator was credited for in the window (a cohort they facilitated that met in those weeks), read from the
references the cohorts feature records (``cohort:<id>:milestone:<week>``, ``cohort:<id>:completed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cogs.stewardship import aggregate
from models import Cohort, LedgerEvent, Member

WINDOW = timedelta(weeks=4)
COHORT_KINDS = ("cohort_milestone", "cohort_completed")


@dataclass(frozen=True)
class Person:
    discord_id: int
    display_name: str
    erased: bool


async def work_rows(session: AsyncSession, guild_id: int, now: datetime) -> list[tuple[int, str, int]]:
    since = now - WINDOW
    counted = await session.execute(
        select(LedgerEvent.member_id, LedgerEvent.kind, func.count())
        .where(
            LedgerEvent.guild_id == guild_id,
            LedgerEvent.created_at > since,
            LedgerEvent.created_at <= now,
            LedgerEvent.kind.in_(list(aggregate.KINDS)),
        )
        .group_by(LedgerEvent.member_id, LedgerEvent.kind)
    )
    rows = [
        (member_id, aggregate.KINDS[kind][0], aggregate.KINDS[kind][1] * int(n))
        for member_id, kind, n in counted.all()
    ]
    credited = await session.execute(
        select(LedgerEvent.member_id, LedgerEvent.reference).where(
            LedgerEvent.guild_id == guild_id,
            LedgerEvent.created_at > since,
            LedgerEvent.created_at <= now,
            LedgerEvent.kind.in_(COHORT_KINDS),
        )
    )
    seen: set[tuple[int, int]] = set()
    for member_id, reference in credited.all():
        parts = reference.split(":")
        if len(parts) >= 2 and parts[0] == "cohort" and parts[1].isdigit():
            seen.add((member_id, int(parts[1])))
    if seen:
        facilitators = await session.execute(
            select(Cohort.id, Cohort.facilitator_id).where(
                Cohort.guild_id == guild_id, Cohort.id.in_({cohort_id for _, cohort_id in seen})
            )
        )
        rows += [
            (facilitator, "cohorts", 1)
            for cohort_id, facilitator in facilitators.all()
            if facilitator is not None and (facilitator, cohort_id) in seen
        ]
    return rows


async def people(session: AsyncSession, member_ids: list[int]) -> dict[int, Person]:
    if not member_ids:
        return {}
    found = await session.execute(
        select(Member.id, Member.discord_id, Member.display_name, Member.erased_at).where(
            Member.id.in_(member_ids)
        )
    )
    return {row.id: Person(row.discord_id, row.display_name, row.erased_at is not None) for row in found.all()}


async def stewardship(
    session: AsyncSession, guild_id: int, now: datetime
) -> tuple[list[aggregate.Steward], dict[int, Person]]:
    stewards = aggregate.aggregate(await work_rows(session, guild_id, now))
    return stewards, await people(session, [s.member_id for s in stewards])
