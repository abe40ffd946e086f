"""Office hours live rules (no discord import): starting and ending a session, the queue (order, positions,
calling the next member, leaving, expiry after leaving voice), attendance from voice states, the host no-show
notice, and the ledger credit.

Decisions:
- The queue is ordered by ``joined_at`` then ``id``; one open (waiting or called) entry per member and session is
  guaranteed by the partial unique index, so two concurrent joins insert one row (ON CONFLICT DO NOTHING).
- A member may queue from text without ever joining voice. Expiry only applies to an entry whose member was in
  the session's voice channel and left it: ``left_voice_at`` is set on leaving, cleared on coming back, and a
  durable reminder at ``left_voice_at + queue_expiry_minutes`` expires the entry if it is still set (and still the
  same leave).
- Ending credits the host ``office_hour_hosted`` (reference ``office_hour:<id>``) and each attendee
  ``office_hour_attended`` (same reference): the ledger's UNIQUE(member, kind, reference) makes it once however
  often ending runs (twice, after a restart).
- Attending: being in the session's voice channel while it is live, or being called from the queue.
- Questions sent ahead by members who were called are marked answered when the session ends; the others of a
  series' session are carried over to the series' next scheduled session (``carried_to_id``).
- Follow-up: each attendee (the host excluded) is sent the feedback prompt once (``feedback_asked_at``); the
  rating and comment may be changed later (the latest kept). The host's summary goes once (``summary_sent_at``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import ledger
from bot.db import dialect_insert
from models import Member
from models.officehours import (
    OfficeHour,
    OfficeHourAttendance,
    OfficeHourQuestion,
    OfficeHourQueueEntry,
    OfficeHourRsvp,
)

OPEN = ("waiting", "called")
EXPIRE_KIND = "officehours.queue_expiry"
NO_SHOW_KIND = "officehours.no_show"
# Discord ended a live session's event by itself (its channel stayed empty): the host and each member still
# waiting in the queue are told why, durably (scheduled in the ending transaction).
DISCORD_ENDED_KIND = "officehours.discord_ended"


class LiveRefused(Exception):
    """Something the member can fix or should know; the message says what."""


def reference(office_hour_id: int) -> str:
    return f"office_hour:{office_hour_id}"


async def _lock(session: AsyncSession, office_hour_id: int) -> OfficeHour:
    """The session row, locked for this transaction: a no-op UPDATE takes the row lock on PostgreSQL and the write
    lock (the WriteGate) on SQLite before anything is read, so concurrent joins, calls and ends take turns."""
    await session.execute(
        update(OfficeHour).where(OfficeHour.id == office_hour_id).values(id=OfficeHour.id),
        execution_options={"synchronize_session": False},
    )
    oh = await session.scalar(
        select(OfficeHour).where(OfficeHour.id == office_hour_id).execution_options(populate_existing=True)
    )
    if oh is None:
        raise LiveRefused("That office hour does not exist.")
    return oh


async def current_for_host(session: AsyncSession, guild_id: int, host_member_id: int | None) -> OfficeHour | None:
    """The session a host means without naming one: their live one, else their earliest scheduled one."""
    for state, order in (("live", OfficeHour.started_at.desc()), ("scheduled", OfficeHour.starts_at)):
        query = select(OfficeHour).where(OfficeHour.guild_id == guild_id, OfficeHour.state == state)
        if host_member_id is not None:
            query = query.where(OfficeHour.host_id == host_member_id)
        found = await session.scalar(query.order_by(order).limit(1))
        if found is not None:
            return found
    return None


async def live_sessions(session: AsyncSession, guild_id: int) -> list[OfficeHour]:
    query = select(OfficeHour).where(OfficeHour.guild_id == guild_id, OfficeHour.state == "live")
    return list(await session.scalars(query.order_by(OfficeHour.started_at, OfficeHour.id)))


async def start(session: AsyncSession, office_hour_id: int, now: datetime) -> tuple[OfficeHour, bool]:
    """scheduled -> live; (session, whether this call started it). Starting a live one again changes nothing."""
    oh = await _lock(session, office_hour_id)
    if oh.state == "live":
        return oh, False
    if oh.state != "scheduled":
        raise LiveRefused(f"This office hour is {oh.state}; it cannot be started.")
    oh.state, oh.started_at = "live", now
    return oh, True


@dataclass
class Ended:
    office_hour: OfficeHour
    newly: bool
    attendees: list[int]  # members.id
    closed_entries: int
    waiting_closed: list[int] = field(default_factory=list)  # members.id still waiting when the queue closed


async def end(session: AsyncSession, policy: ledger.LedgerPolicy, office_hour_id: int, now: datetime) -> Ended:
    """live -> ended: the queue closes (waiting -> left, called -> done), called members' questions are answered,
    and the ledger credits the host and each attendee once (ending again credits nobody twice)."""
    oh = await _lock(session, office_hour_id)
    if oh.state not in ("live", "ended"):
        raise LiveRefused(f"This office hour is {oh.state}; only a live one can be ended.")
    newly = oh.state == "live"
    closed = 0
    waiting_closed: list[int] = []
    if newly:
        waiting_closed = list(
            await session.scalars(
                select(OfficeHourQueueEntry.member_id)
                .where(OfficeHourQueueEntry.office_hour_id == oh.id, OfficeHourQueueEntry.state == "waiting")
                .order_by(OfficeHourQueueEntry.id)
            )
        )
        called = list(
            await session.scalars(
                select(OfficeHourQueueEntry.member_id).where(
                    OfficeHourQueueEntry.office_hour_id == oh.id,
                    OfficeHourQueueEntry.state.in_(("called", "done")),
                )
            )
        )
        if called:
            await session.execute(
                update(OfficeHourQuestion)
                .where(
                    OfficeHourQuestion.office_hour_id == oh.id,
                    OfficeHourQuestion.member_id.in_(called),
                    OfficeHourQuestion.answered_at.is_(None),
                )
                .values(answered_at=now)
            )
        for state, to in (("waiting", "left"), ("called", "done")):
            result = await session.execute(
                update(OfficeHourQueueEntry)
                .where(OfficeHourQueueEntry.office_hour_id == oh.id, OfficeHourQueueEntry.state == state)
                .values(state=to, finished_at=now)
            )
            closed += result.rowcount or 0  # type: ignore[attr-defined]
        oh.state, oh.ended_at = "ended", now
        await carry_over(session, oh)
    attendees = list(
        await session.scalars(
            select(OfficeHourAttendance.member_id)
            .where(OfficeHourAttendance.office_hour_id == oh.id)
            .order_by(OfficeHourAttendance.first_seen_at, OfficeHourAttendance.member_id)
        )
    )
    at = oh.ended_at or now
    ref = reference(oh.id)
    if oh.host_id is not None:
        await ledger.record_event(
            session, policy, guild_id=oh.guild_id, member_id=oh.host_id, kind="office_hour_hosted",
            reference=ref, at=at,
        )  # fmt: skip
    for member_id in attendees:
        if member_id == oh.host_id:
            continue
        await ledger.record_event(
            session, policy, guild_id=oh.guild_id, member_id=member_id, kind="office_hour_attended",
            reference=ref, at=at,
        )  # fmt: skip
    return Ended(oh, newly, [m for m in attendees if m != oh.host_id], closed, waiting_closed)


async def seen_in_voice(session: AsyncSession, office_hour_id: int, member_id: int, now: datetime) -> None:
    """The member is in the live session's voice channel: attending (first time only), and back in voice."""
    await session.execute(
        dialect_insert(session, OfficeHourAttendance)
        .values(office_hour_id=office_hour_id, member_id=member_id, first_seen_at=now)
        .on_conflict_do_nothing(index_elements=["office_hour_id", "member_id"])
    )
    await session.execute(
        update(OfficeHourQueueEntry)
        .where(
            OfficeHourQueueEntry.office_hour_id == office_hour_id,
            OfficeHourQueueEntry.member_id == member_id,
            OfficeHourQueueEntry.state.in_(OPEN),
        )
        .values(left_voice_at=None)
    )


async def left_voice(
    session: AsyncSession, office_hour_id: int, member_id: int, now: datetime
) -> OfficeHourQueueEntry | None:
    """The member left the session's voice channel: their open entry (if any) starts its expiry countdown."""
    entry = await open_entry(session, office_hour_id, member_id)
    if entry is None or entry.left_voice_at is not None:
        return None
    entry.left_voice_at = now
    return entry


async def expire(
    session: AsyncSession, entry_id: int, left_at: datetime, now: datetime, after: timedelta
) -> OfficeHourQueueEntry | None:
    """Expire the entry if its member is still out since ``left_at`` (the same leave) and long enough."""
    entry = await session.get(OfficeHourQueueEntry, entry_id, with_for_update=True)
    if entry is None or entry.state not in OPEN or entry.left_voice_at is None:
        return None
    if abs((entry.left_voice_at - left_at).total_seconds()) > 1 or now - entry.left_voice_at < after:
        return None
    entry.state, entry.finished_at = "expired", now
    return entry


async def open_entry(session: AsyncSession, office_hour_id: int, member_id: int) -> OfficeHourQueueEntry | None:
    return await session.scalar(
        select(OfficeHourQueueEntry).where(
            OfficeHourQueueEntry.office_hour_id == office_hour_id,
            OfficeHourQueueEntry.member_id == member_id,
            OfficeHourQueueEntry.state.in_(OPEN),
        )
    )


async def waiting(session: AsyncSession, office_hour_id: int) -> list[OfficeHourQueueEntry]:
    """Waiting entries in queue order (joined_at, then id)."""
    return list(
        await session.scalars(
            select(OfficeHourQueueEntry)
            .where(OfficeHourQueueEntry.office_hour_id == office_hour_id, OfficeHourQueueEntry.state == "waiting")
            .order_by(OfficeHourQueueEntry.joined_at, OfficeHourQueueEntry.id)
        )
    )


async def position(session: AsyncSession, entry: OfficeHourQueueEntry) -> int:
    """1-based position among the waiting (0 when called)."""
    if entry.state != "waiting":
        return 0
    ahead = await session.scalar(
        select(func.count())
        .select_from(OfficeHourQueueEntry)
        .where(
            OfficeHourQueueEntry.office_hour_id == entry.office_hour_id,
            OfficeHourQueueEntry.state == "waiting",
            (OfficeHourQueueEntry.joined_at < entry.joined_at)
            | ((OfficeHourQueueEntry.joined_at == entry.joined_at) & (OfficeHourQueueEntry.id < entry.id)),
        )
    )
    return int(ahead or 0) + 1


@dataclass
class Joined:
    entry: OfficeHourQueueEntry
    position: int
    new: bool
    was_empty: bool


async def join(session: AsyncSession, office_hour_id: int, member_id: int, question: str, now: datetime) -> Joined:
    oh = await _lock(session, office_hour_id)
    if oh.state != "live":
        raise LiveRefused("The queue opens when the host starts the office hour.")
    was_empty = not await session.scalar(
        select(func.count())
        .select_from(OfficeHourQueueEntry)
        .where(OfficeHourQueueEntry.office_hour_id == oh.id, OfficeHourQueueEntry.state == "waiting")
    )
    inserted = await session.scalar(
        dialect_insert(session, OfficeHourQueueEntry)
        .values(office_hour_id=oh.id, member_id=member_id, question=question[:300], state="waiting", joined_at=now)
        .on_conflict_do_nothing(
            index_elements=["office_hour_id", "member_id"], index_where=OfficeHourQueueEntry.state.in_(OPEN)
        )
        .returning(OfficeHourQueueEntry.id)
    )
    entry = await open_entry(session, oh.id, member_id)
    assert entry is not None
    return Joined(entry, await position(session, entry), inserted is not None, was_empty and inserted is not None)


async def leave(session: AsyncSession, office_hour_id: int, member_id: int, now: datetime) -> bool:
    entry = await open_entry(session, office_hour_id, member_id)
    if entry is None:
        return False
    entry.state, entry.finished_at = "left", now
    return True


@dataclass
class Called:
    entry: OfficeHourQueueEntry
    discord_id: int
    previous: OfficeHourQueueEntry | None


async def call_next(session: AsyncSession, office_hour_id: int, now: datetime) -> Called | None:
    """The called entry (if any) is done; the first waiting one is called (None when nobody waits)."""
    oh = await _lock(session, office_hour_id)
    if oh.state != "live":
        raise LiveRefused("This office hour is not live.")
    previous = await session.scalar(
        select(OfficeHourQueueEntry).where(
            OfficeHourQueueEntry.office_hour_id == oh.id, OfficeHourQueueEntry.state == "called"
        )
    )
    if previous is not None:
        previous.state, previous.finished_at = "done", now
    queue = await waiting(session, oh.id)
    if not queue:
        return None
    entry = queue[0]
    entry.state, entry.called_at = "called", now
    # Called from the queue counts as attending (the member may be on stage, or answered in text).
    await session.execute(
        dialect_insert(session, OfficeHourAttendance)
        .values(office_hour_id=oh.id, member_id=entry.member_id, first_seen_at=now)
        .on_conflict_do_nothing(index_elements=["office_hour_id", "member_id"])
    )
    discord_id = await session.scalar(select(Member.discord_id).where(Member.id == entry.member_id))
    return Called(entry, int(discord_id or 0), previous)


async def queue_listing(session: AsyncSession, office_hour_id: int) -> list[tuple[str, int, str]]:
    """(state, discord id, question) of the called entry then the waiting ones, in order."""
    rows = await session.execute(
        select(OfficeHourQueueEntry.state, Member.discord_id, OfficeHourQueueEntry.question)
        .join(Member, Member.id == OfficeHourQueueEntry.member_id)
        .where(OfficeHourQueueEntry.office_hour_id == office_hour_id, OfficeHourQueueEntry.state.in_(OPEN))
        .order_by(
            (OfficeHourQueueEntry.state == "waiting"), OfficeHourQueueEntry.joined_at, OfficeHourQueueEntry.id
        )
    )
    return [(state, int(did), question) for state, did, question in rows]


async def seated_discord_ids(session: AsyncSession, office_hour_id: int) -> list[int]:
    rows = await session.scalars(
        select(Member.discord_id)
        .join(OfficeHourRsvp, OfficeHourRsvp.member_id == Member.id)
        .where(OfficeHourRsvp.office_hour_id == office_hour_id, OfficeHourRsvp.state == "seat")
        .order_by(OfficeHourRsvp.seat)
    )
    return [int(d) for d in rows]


async def discord_id_of(session: AsyncSession, member_id: int | None) -> int | None:
    if member_id is None:
        return None
    found = await session.scalar(select(Member.discord_id).where(Member.id == member_id))
    return int(found) if found is not None else None


async def claim_no_show(session: AsyncSession, office_hour_id: int, now: datetime, after: timedelta) -> bool:
    """True once: the session is still scheduled ``after`` past its start and nobody was told yet."""
    result = await session.execute(
        update(OfficeHour)
        .where(
            OfficeHour.id == office_hour_id,
            OfficeHour.state == "scheduled",
            OfficeHour.no_show_notified_at.is_(None),
            OfficeHour.starts_at <= now - after,
        )
        .values(no_show_notified_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def no_show_candidates(
    session: AsyncSession, guild_id: int, since: datetime, until: datetime
) -> list[OfficeHour]:
    """Scheduled sessions starting in [since, until] whose no-show notice has not gone out."""
    return list(
        await session.scalars(
            select(OfficeHour).where(
                OfficeHour.guild_id == guild_id,
                OfficeHour.state == "scheduled",
                OfficeHour.no_show_notified_at.is_(None),
                OfficeHour.starts_at >= since,
                OfficeHour.starts_at <= until,
            )
        )
    )


# -- follow-up -------------------------------------------------------------------------------------------------
FEEDBACK_KIND = "officehours.feedback"
SUMMARY_KIND = "officehours.summary"


def questions_of(office_hour_id: int) -> ColumnElement[bool]:
    """A session's questions: those sent for it and those carried over to it from the series' earlier one."""
    question = OfficeHourQuestion
    return or_(question.office_hour_id == office_hour_id, question.carried_to_id == office_hour_id)


async def carry_over(session: AsyncSession, oh: OfficeHour) -> int:
    """Unanswered questions of an ended session of a series go to the series' next scheduled session."""
    if oh.series_id is None:
        return 0
    following = await session.scalar(
        select(OfficeHour.id)
        .where(
            OfficeHour.series_id == oh.series_id,
            OfficeHour.state == "scheduled",
            OfficeHour.starts_at > oh.starts_at,
        )
        .order_by(OfficeHour.starts_at)
        .limit(1)
    )
    if following is None:
        return 0
    result = await session.execute(
        update(OfficeHourQuestion)
        .where(
            OfficeHourQuestion.answered_at.is_(None),
            # Its own not yet carried, and those carried to it (they go on to the next one in turn).
            or_(
                (OfficeHourQuestion.office_hour_id == oh.id) & OfficeHourQuestion.carried_to_id.is_(None),
                OfficeHourQuestion.carried_to_id == oh.id,
            ),
        )
        .values(carried_to_id=following)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


async def attendee_discord_ids(session: AsyncSession, office_hour_id: int, *, unasked: bool = False) -> list[int]:
    """The attendees (the host excluded), by Discord id; ``unasked``: only those not yet sent the prompt."""
    oh = await session.get(OfficeHour, office_hour_id)
    query = (
        select(Member.discord_id)
        .join(OfficeHourAttendance, OfficeHourAttendance.member_id == Member.id)
        .where(OfficeHourAttendance.office_hour_id == office_hour_id)
        .order_by(OfficeHourAttendance.first_seen_at, Member.id)
    )
    if oh is not None and oh.host_id is not None:
        query = query.where(Member.id != oh.host_id)
    if unasked:
        query = query.where(OfficeHourAttendance.feedback_asked_at.is_(None))
    return [int(d) for d in await session.scalars(query)]


async def _attendance(session: AsyncSession, office_hour_id: int, discord_id: int) -> OfficeHourAttendance | None:
    return await session.scalar(
        select(OfficeHourAttendance)
        .join(Member, Member.id == OfficeHourAttendance.member_id)
        .where(OfficeHourAttendance.office_hour_id == office_hour_id, Member.discord_id == discord_id)
    )


async def feedback_to_ask(session: AsyncSession, office_hour_id: int, discord_id: int) -> OfficeHour | None:
    """The session when this attendee has not been sent the prompt yet (else None)."""
    attendance = await _attendance(session, office_hour_id, discord_id)
    if attendance is None or attendance.feedback_asked_at is not None:
        return None
    return await session.get(OfficeHour, office_hour_id)


async def mark_asked(session: AsyncSession, office_hour_id: int, discord_id: int, now: datetime) -> None:
    attendance = await _attendance(session, office_hour_id, discord_id)
    if attendance is not None and attendance.feedback_asked_at is None:
        attendance.feedback_asked_at = now


async def record_feedback(
    session: AsyncSession,
    office_hour_id: int,
    discord_id: int,
    now: datetime,
    *,
    rating: int | None = None,
    comment: str | None = None,
) -> OfficeHourAttendance:
    """Store (or change) an attendee's rating (1-5) or comment; one row per attendee, the latest answer kept."""
    attendance = await _attendance(session, office_hour_id, discord_id)
    if attendance is None:
        raise LiveRefused("Only members who attended this office hour can give feedback on it.")
    if rating is not None:
        if not 1 <= rating <= 5:
            raise LiveRefused("A rating is 1 to 5.")
        attendance.rating = rating
    if comment is not None:
        attendance.comment = comment[:1000] or None
    attendance.feedback_at = now
    return attendance


@dataclass
class Summary:
    office_hour: OfficeHour
    attendees: list[int]  # Discord ids
    done: int
    asked: int
    answered: int
    carried: int


async def summary_to_send(session: AsyncSession, office_hour_id: int) -> Summary | None:
    """The host's summary of an ended session, unless it was sent already."""
    oh = await session.get(OfficeHour, office_hour_id)
    if oh is None or oh.state != "ended" or oh.summary_sent_at is not None:
        return None

    async def count(table: type, *where: Any) -> int:
        found = await session.scalar(select(func.count()).select_from(table).where(*where))
        return int(found or 0)

    return Summary(
        oh,
        await attendee_discord_ids(session, oh.id),
        await count(
            OfficeHourQueueEntry,
            OfficeHourQueueEntry.office_hour_id == oh.id,
            OfficeHourQueueEntry.state == "done",
        ),
        await count(OfficeHourQuestion, OfficeHourQuestion.office_hour_id == oh.id),
        await count(
            OfficeHourQuestion,
            OfficeHourQuestion.office_hour_id == oh.id,
            OfficeHourQuestion.answered_at.is_not(None),
        ),
        await count(
            OfficeHourQuestion,
            OfficeHourQuestion.office_hour_id == oh.id,
            OfficeHourQuestion.carried_to_id.is_not(None),
        ),
    )


async def mark_summary_sent(session: AsyncSession, office_hour_id: int, now: datetime) -> None:
    await session.execute(
        update(OfficeHour)
        .where(OfficeHour.id == office_hour_id, OfficeHour.summary_sent_at.is_(None))
        .values(summary_sent_at=now)
    )
