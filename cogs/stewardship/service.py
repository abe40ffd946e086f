"""Reading four weeks of volunteer work from the ledger (the aggregation itself is ``aggregate``).

- Work events (office hours hosted, reviews, mentoring sessions, answers posted and accepted) in the window are
  counted per member and kind; an event whose subject is the member themselves (answering or accepting one's own
  question) is not work for others and is left out.
- A reversal (``<kind>_reversed``, reference ``<original>:undo:<n>`` or ``:redo:<n>``, as Q&A records them) counts
  by the sign of its points: an undo takes the piece back, a redo (an accept switched back) gives it back. It
  counts only when its original event is in the window too: taking back work done before the window takes
  nothing from these four weeks.
- "Cohorts facilitated" are the cohorts the member facilitates that ran at some time in the window (started by
  now, active or ended, not ended before the window began), from the cohorts table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cogs.stewardship import aggregate
from models import Cohort, LedgerEvent, Member

WINDOW = timedelta(weeks=4)
REVERSED = "_reversed"
RUNNING = ("active", "ended")  # cohorts.service's states of a cohort that started (not "forming")
_REVERSAL_REF = re.compile(r"^(?P<original>.+):(?:undo|redo):\d+$")


@dataclass(frozen=True)
class Person:
    discord_id: int
    display_name: str
    erased: bool


def _original(kind: str, reference: str) -> tuple[str, str] | None:
    """(original kind, original reference) of a reversal event, else None."""
    found = _REVERSAL_REF.match(reference)
    if not kind.endswith(REVERSED) or found is None:
        return None
    return kind[: -len(REVERSED)], found["original"]


async def work_rows(session: AsyncSession, guild_id: int, now: datetime) -> list[tuple[int, str, int]]:
    since = now - WINDOW
    in_window = (
        LedgerEvent.guild_id == guild_id,
        LedgerEvent.created_at > since,
        LedgerEvent.created_at <= now,
        # Work for others: an event about the member themselves (a self-answer, a self-accept) is not counted.
        or_(LedgerEvent.subject_member_id.is_(None), LedgerEvent.subject_member_id != LedgerEvent.member_id),
    )
    plain = [kind for kind in aggregate.KINDS if not kind.endswith(REVERSED)]
    counted = await session.execute(
        select(LedgerEvent.member_id, LedgerEvent.kind, func.count())
        .where(*in_window, LedgerEvent.kind.in_(plain))
        .group_by(LedgerEvent.member_id, LedgerEvent.kind)
    )
    rows = [(member_id, aggregate.KINDS[kind][0], int(n)) for member_id, kind, n in counted.all()]
    reversals = await session.execute(
        select(LedgerEvent.member_id, LedgerEvent.kind, LedgerEvent.reference, LedgerEvent.points).where(
            *in_window, LedgerEvent.kind.in_([f"{kind}{REVERSED}" for kind in plain])
        )
    )
    pending: list[tuple[int, str, str, int]] = []
    for member_id, kind, reference, points in reversals.all():
        original = _original(kind, reference)
        if original is not None and points:
            pending.append((member_id, *original, 1 if points > 0 else -1))
    if pending:
        originals = await session.execute(
            select(LedgerEvent.member_id, LedgerEvent.kind, LedgerEvent.reference).where(
                *in_window, LedgerEvent.reference.in_({ref for _, _, ref, _ in pending})
            )
        )
        seen = set(originals.all())
        rows += [
            (member_id, aggregate.KINDS[kind][0], sign)
            for member_id, kind, reference, sign in pending
            if (member_id, kind, reference) in seen and kind in aggregate.KINDS
        ]
    facilitated = await session.execute(
        select(Cohort.facilitator_id, func.count())
        .where(
            Cohort.guild_id == guild_id,
            Cohort.facilitator_id.is_not(None),
            Cohort.state.in_(RUNNING),
            Cohort.starts_at <= now,
            or_(Cohort.ended_at.is_(None), Cohort.ended_at >= since),
        )
        .group_by(Cohort.facilitator_id)
    )
    rows += [(facilitator, "cohorts", int(n)) for facilitator, n in facilitated.all()]
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
