"""Office-hours rules: sessions and weekly series, RSVPs with capacity and a waitlist (no discord import).

Seats: a member takes a seat inside a transaction that first touches the session row (``UPDATE office_hours SET
capacity = capacity``): on PostgreSQL that takes the row's lock, on SQLite the process's write gate (the single
writer), so the seats counted next cannot change under us; the partial unique index on (session, seat) makes a
double-booked seat impossible even so. Click order is when the member clicked: ``click_id``, the click's
interaction snowflake (Discord stamps it when the click reaches Discord, so it orders clicks whatever order their
handlers reach the database in), then ``member_id``. The cog hands simultaneous clicks to ``rsvp`` in that order
(a short settle window per session), and the waitlist is always served by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import when
from bot.db import dialect_insert
from bot.privacy import DataSubject, MemberDataHandler
from bot.reminders import DROPPED, PENDING, Reminders
from cogs.officehours import live
from models import Member, Reminder
from models.officehours import (
    OfficeHour,
    OfficeHourAttendance,
    OfficeHourQuestion,
    OfficeHourQueueEntry,
    OfficeHourRsvp,
    OfficeHourSeries,
)

SEAT, WAITLIST, CANCELLED = "seat", "waitlist", "cancelled"


class ScheduleError(ValueError):
    """Refused with the reason in words."""


@dataclass(frozen=True)
class SessionSpec:
    guild_id: int
    host_id: int
    topic: str
    zone: str
    duration_minutes: int
    capacity: int
    channel_id: int
    recorded: bool


async def create_once(session: AsyncSession, spec: SessionSpec, starts_at: datetime, now: datetime) -> OfficeHour:
    row = OfficeHour(
        guild_id=spec.guild_id,
        host_id=spec.host_id,
        topic=spec.topic,
        zone=spec.zone,
        starts_at=starts_at,
        duration_minutes=spec.duration_minutes,
        capacity=spec.capacity,
        channel_id=spec.channel_id,
        recorded=spec.recorded,
        state="scheduled",
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def create_series(
    session: AsyncSession, spec: SessionSpec, weekly: when.Weekly, ahead: int, now: datetime
) -> tuple[OfficeHourSeries, list[int]]:
    series = OfficeHourSeries(
        guild_id=spec.guild_id,
        host_id=spec.host_id,
        topic=spec.topic,
        zone=spec.zone,
        weekday=weekly.weekday,
        local_time=weekly.local_time,
        duration_minutes=spec.duration_minutes,
        capacity=spec.capacity,
        channel_id=spec.channel_id,
        recorded=spec.recorded,
        created_at=now,
    )
    session.add(series)
    await session.flush()
    return series, await extend_series(session, series.id, ahead, now)


async def extend_series(session: AsyncSession, series_id: int, ahead: int, now: datetime) -> list[int]:
    """Makes the series' upcoming sessions up to ``ahead`` of them (idempotent: UNIQUE(series_id, starts_at));
    the ids of the sessions it created."""
    series = await session.get(OfficeHourSeries, series_id)
    if series is None or series.ended_at is not None:
        return []
    upcoming = (
        await session.execute(
            select(OfficeHour.starts_at, OfficeHour.state).where(
                OfficeHour.series_id == series_id, OfficeHour.starts_at > now
            )
        )
    ).all()
    # Every later date is taken, whatever its state (a cancelled one, one run early and already ended): the next
    # comes after it. Only scheduled and live ones hold a place: members get ``ahead`` real ones.
    latest = max((start for start, _state in upcoming), default=now)
    missing = ahead - sum(1 for _start, state in upcoming if state in ("scheduled", "live"))
    created: list[int] = []
    if missing <= 0:
        return created
    for start in when.occurrences(series.weekday, series.local_time, series.zone, latest, missing):
        new_id = await session.scalar(
            dialect_insert(session, OfficeHour)
            .values(
                guild_id=series.guild_id,
                series_id=series.id,
                host_id=series.host_id,
                topic=series.topic,
                description=series.description,
                zone=series.zone,
                starts_at=start,
                duration_minutes=series.duration_minutes,
                capacity=series.capacity,
                channel_id=series.channel_id,
                recorded=series.recorded,
                state="scheduled",
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["series_id", "starts_at"])
            .returning(OfficeHour.id)
        )
        if new_id is not None:
            created.append(new_id)
    return created


async def active_series(session: AsyncSession, guild_id: int) -> list[int]:
    return list(
        await session.scalars(
            select(OfficeHourSeries.id).where(
                OfficeHourSeries.guild_id == guild_id, OfficeHourSeries.ended_at.is_(None)
            )
        )
    )


async def needing_discord(session: AsyncSession, guild_id: int, now: datetime) -> list[int]:
    """Scheduled sessions whose native event or announcement is not made yet (a Discord error, a restart)."""
    return list(
        await session.scalars(
            select(OfficeHour.id)
            .where(
                OfficeHour.guild_id == guild_id,
                OfficeHour.state == "scheduled",
                OfficeHour.starts_at > now,
                (OfficeHour.event_id.is_(None)) | (OfficeHour.announcement_message_id.is_(None)),
            )
            .order_by(OfficeHour.starts_at)
        )
    )


@dataclass(frozen=True)
class Seats:
    taken: int
    capacity: int
    waiting: int

    @property
    def left(self) -> int:
        return max(self.capacity - self.taken, 0)


async def event_ids_taken(session: AsyncSession, office_hour_id: int) -> set[int]:
    """The Discord events recorded on sessions other than ``office_hour_id``: never adopted as its own."""
    return set(
        await session.scalars(
            select(OfficeHour.event_id).where(OfficeHour.event_id.is_not(None), OfficeHour.id != office_hour_id)
        )
    )


async def seats(session: AsyncSession, office_hour_id: int) -> Seats:
    row = await session.get(OfficeHour, office_hour_id)
    assert row is not None
    counts = dict(
        (
            await session.execute(
                select(OfficeHourRsvp.state, func.count())
                .where(OfficeHourRsvp.office_hour_id == office_hour_id)
                .group_by(OfficeHourRsvp.state)
            )
        ).all()
    )
    return Seats(counts.get(SEAT, 0), row.capacity, counts.get(WAITLIST, 0))


@dataclass(frozen=True)
class RsvpResult:
    state: str  # seat | waitlist
    seat: int | None
    position: int | None  # on the waitlist, 1-based
    already: bool


async def _lock_session(session: AsyncSession, office_hour_id: int) -> OfficeHour:
    """Serialises seat changes of one session (row lock on PostgreSQL, the write gate on SQLite)."""
    await session.execute(
        update(OfficeHour).where(OfficeHour.id == office_hour_id).values(capacity=OfficeHour.capacity)
    )
    row = await session.get(OfficeHour, office_hour_id, populate_existing=True)
    if row is None:
        raise ScheduleError("This session no longer exists.")
    return row


lock_session = _lock_session


async def _free_seat(session: AsyncSession, row: OfficeHour) -> int | None:
    taken = set(
        await session.scalars(
            select(OfficeHourRsvp.seat).where(
                OfficeHourRsvp.office_hour_id == row.id, OfficeHourRsvp.state == SEAT
            )
        )
    )
    return next((n for n in range(1, row.capacity + 1) if n not in taken), None)


DISCORD_EPOCH_MS = 1420070400000


def snowflake_at(moment: datetime) -> int:
    """The smallest Discord snowflake of ``moment`` (a click with no interaction, e.g. "Interested")."""
    return (int(moment.timestamp() * 1000) - DISCORD_EPOCH_MS) << 22


async def _position(session: AsyncSession, rsvp: OfficeHourRsvp) -> int:
    ahead = await session.scalar(
        select(func.count()).where(
            OfficeHourRsvp.office_hour_id == rsvp.office_hour_id,
            OfficeHourRsvp.state == WAITLIST,
            (OfficeHourRsvp.click_id < rsvp.click_id)
            | ((OfficeHourRsvp.click_id == rsvp.click_id) & (OfficeHourRsvp.member_id < rsvp.member_id)),
        )
    )
    return int(ahead or 0) + 1


async def rsvp(
    session: AsyncSession,
    office_hour_id: int,
    member_id: int,
    now: datetime,
    *,
    via: str = "button",
    click: int | None = None,
) -> RsvpResult:
    """``click``: the click's snowflake (default: ``now``'s), which places the member on the waitlist."""
    row = await _lock_session(session, office_hour_id)
    if row.state != "scheduled":
        raise ScheduleError("This session is no longer taking RSVPs.")
    existing = await session.get(OfficeHourRsvp, (office_hour_id, member_id), populate_existing=True)
    if existing is not None and existing.state == SEAT:
        return RsvpResult(SEAT, existing.seat, None, True)
    if existing is not None and existing.state == WAITLIST:
        return RsvpResult(WAITLIST, None, await _position(session, existing), True)
    seat = await _free_seat(session, row)
    # Waitlisted members keep their turn: a free seat goes to a newcomer only when nobody is waiting.
    waiting = await session.scalar(
        select(func.count()).where(
            OfficeHourRsvp.office_hour_id == office_hour_id, OfficeHourRsvp.state == WAITLIST
        )
    )
    state = SEAT if seat is not None and not waiting else WAITLIST
    click_id = click if click is not None else snowflake_at(now)
    if existing is None:
        existing = OfficeHourRsvp(
            office_hour_id=office_hour_id, member_id=member_id, created_at=now, click_id=click_id
        )
        session.add(existing)
    else:
        existing.created_at, existing.click_id = now, click_id  # back in line, at this click
    existing.state, existing.seat = state, (seat if state == SEAT else None)
    existing.via, existing.updated_at = via, now
    await session.flush()
    if state == SEAT:
        return RsvpResult(SEAT, seat, None, False)
    return RsvpResult(WAITLIST, None, await _position(session, existing), False)


@dataclass(frozen=True)
class CancelResult:
    was: str | None  # seat | waitlist | None (had no RSVP)
    promoted: list[int]  # member ids moved from the waitlist into a seat


async def cancel_rsvp(
    session: AsyncSession, office_hour_id: int, member_id: int, now: datetime, *, only_via: str | None = None
) -> CancelResult:
    row = await _lock_session(session, office_hour_id)
    existing = await session.get(OfficeHourRsvp, (office_hour_id, member_id), populate_existing=True)
    if existing is None or existing.state == CANCELLED or (only_via is not None and existing.via != only_via):
        return CancelResult(None, [])
    was = existing.state
    existing.state, existing.seat, existing.updated_at = CANCELLED, None, now
    await session.flush()
    promoted = await fill_seats(session, row, now) if row.state == "scheduled" else []
    return CancelResult(was, promoted)


async def held_by(session: AsyncSession, member_id: int) -> list[int]:
    """The scheduled sessions the member holds a seat or a waitlist place in."""
    return list(
        await session.scalars(
            select(OfficeHourRsvp.office_hour_id)
            .join(OfficeHour, OfficeHour.id == OfficeHourRsvp.office_hour_id)
            .where(
                OfficeHourRsvp.member_id == member_id,
                OfficeHourRsvp.state.in_((SEAT, WAITLIST)),
                OfficeHour.state == "scheduled",
            )
            .order_by(OfficeHourRsvp.office_hour_id)
        )
    )


async def fill_seats(session: AsyncSession, row: OfficeHour, now: datetime) -> list[int]:
    """Moves the first waitlisted members into free seats (click order); their member ids."""
    promoted: list[int] = []
    while (seat := await _free_seat(session, row)) is not None:
        first = await session.scalar(
            select(OfficeHourRsvp)
            .where(OfficeHourRsvp.office_hour_id == row.id, OfficeHourRsvp.state == WAITLIST)
            .order_by(OfficeHourRsvp.click_id, OfficeHourRsvp.member_id)
            .limit(1)
        )
        if first is None:
            break
        first.state, first.seat, first.updated_at = SEAT, seat, now
        await session.flush()
        promoted.append(first.member_id)
    return promoted


async def rsvps(session: AsyncSession, office_hour_id: int, state: str) -> list[OfficeHourRsvp]:
    return list(
        await session.scalars(
            select(OfficeHourRsvp)
            .where(OfficeHourRsvp.office_hour_id == office_hour_id, OfficeHourRsvp.state == state)
            .order_by(OfficeHourRsvp.click_id, OfficeHourRsvp.member_id)
        )
    )


async def discord_ids(session: AsyncSession, member_ids: list[int]) -> dict[int, int]:
    if not member_ids:
        return {}
    rows = await session.execute(select(Member.id, Member.discord_id).where(Member.id.in_(member_ids)))
    return dict(rows.all())


def ends_at(row: OfficeHour) -> datetime:
    return row.starts_at + timedelta(minutes=row.duration_minutes)


# -- reminders, cancelling, rescheduling -----------------------------------------------------------------------
# A reminder per (session, offset) fans out at its time into one DM reminder per recipient (the host and the
# seated members as of then): each is durable and deduplicated, so a restart or a retry sends nobody two.
REMIND = "officehours.remind"
REMIND_ONE = "officehours.remind_one"
CANCELLED_ONE = "officehours.cancelled_one"
MOVED_ONE = "officehours.moved_one"


def remind_key(office_hour_id: int, offset: int, starts_at: datetime) -> str:
    return f"oh:{office_hour_id}:{offset}:{int(starts_at.timestamp())}"


async def plan_reminders(
    session: AsyncSession, reminders: Reminders, row: OfficeHour, offsets: list[int], now: datetime
) -> int:
    """Schedules the session's reminders for its current start (those not already past); how many."""
    planned = 0
    for offset in sorted(set(offsets)):
        due = row.starts_at - timedelta(minutes=offset)
        if due <= now:
            continue
        key = remind_key(row.id, offset, row.starts_at)
        # A session moved back to a start it had before: the reminder dropped by the first move holds the key;
        # it goes, so the new one is made (a sent or pending one is kept, and schedule() keeps it single).
        await session.execute(
            delete(Reminder).where(
                Reminder.kind == REMIND, Reminder.dedupe_key == key, Reminder.state == "dropped"
            )
        )
        added = await reminders.schedule(
            session,
            kind=REMIND,
            guild_id=row.guild_id,
            target_id=row.id,
            due_at=due,
            payload={"session": row.id, "offset": offset, "starts_at": int(row.starts_at.timestamp())},
            dedupe_key=key,
            expires_at=row.starts_at,  # late policy: never after the start
        )
        planned += added is not None
    return planned


async def drop_reminders(
    session: AsyncSession, reminders: Reminders, row: OfficeHour, offsets: list[int], starts_at: datetime
) -> None:
    for offset in set(offsets):
        await reminders.cancel(session, kind=REMIND, dedupe_key=remind_key(row.id, offset, starts_at))


def still_due(row: OfficeHour | None, starts_at_ts: int, now: datetime) -> bool:
    """A reminder is sent only for a session still scheduled, at the start it was made for, not yet begun."""
    return (
        row is not None
        and row.state == "scheduled"
        and int(row.starts_at.timestamp()) == starts_at_ts
        and now < row.starts_at
    )


async def fan_out(session: AsyncSession, reminders: Reminders, reminder: Reminder, now: datetime) -> int:
    """The per-recipient DMs of one session reminder; how many were added."""
    payload = reminder.payload
    row = await session.get(OfficeHour, payload["session"])
    if not still_due(row, payload["starts_at"], now):
        return 0
    assert row is not None
    recipients = [r.member_id for r in await rsvps(session, row.id, SEAT)]
    if row.host_id is not None:
        recipients.insert(0, row.host_id)
    ids = await discord_ids(session, recipients)
    added = 0
    for member_id in dict.fromkeys(recipients):
        if member_id not in ids:
            continue
        added += (
            await reminders.schedule(
                session,
                kind=REMIND_ONE,
                guild_id=row.guild_id,
                target_id=ids[member_id],
                due_at=now,
                payload={**payload, "member": member_id, "host": member_id == row.host_id},
                dedupe_key=f"{remind_key(row.id, payload['offset'], row.starts_at)}:{member_id}",
                expires_at=row.starts_at,
            )
            is not None
        )
    return added


async def end_series(
    session: AsyncSession,
    reminders: Reminders,
    office_hour_id: int,
    reason: str,
    offsets: list[int],
    now: datetime,
) -> list[OfficeHour]:
    """Ends the weekly series ``office_hour_id`` belongs to: no session is made after it, and its scheduled
    sessions (this one included) are cancelled, each as ``cancel_session`` does. The cancelled rows."""
    row = await session.get(OfficeHour, office_hour_id)
    if row is None or row.series_id is None:
        raise ScheduleError("This session is not part of a weekly series.")
    series = await session.get(OfficeHourSeries, row.series_id)
    if series is not None and series.ended_at is None:
        series.ended_at = now
    ids = list(
        await session.scalars(
            select(OfficeHour.id)
            .where(OfficeHour.series_id == row.series_id, OfficeHour.state == "scheduled")
            .order_by(OfficeHour.starts_at)
        )
    )
    return [await cancel_session(session, reminders, i, reason, offsets, now) for i in ids]


async def cancel_session(
    session: AsyncSession,
    reminders: Reminders,
    office_hour_id: int,
    reason: str,
    offsets: list[int],
    now: datetime,
) -> OfficeHour:
    """Cancels a scheduled session: its reminders dropped, one "cancelled" DM per seated and waitlisted member
    (durable, deduplicated: told once)."""
    row = await _lock_session(session, office_hour_id)
    if row.state != "scheduled":
        raise ScheduleError(f"This session is {row.state}; only a scheduled session can be cancelled.")
    row.state, row.cancelled_at, row.cancel_reason = "cancelled", now, reason[:300] or None
    await drop_reminders(session, reminders, row, offsets, row.starts_at)
    told = [r.member_id for r in await rsvps(session, row.id, SEAT)] + [
        r.member_id for r in await rsvps(session, row.id, WAITLIST)
    ]
    ids = await discord_ids(session, told)
    for member_id in told:
        await reminders.schedule(
            session,
            kind=CANCELLED_ONE,
            guild_id=row.guild_id,
            target_id=ids[member_id],
            due_at=now,
            payload={"session": row.id, "member": member_id},
            dedupe_key=f"oh-cancelled:{row.id}:{member_id}",
        )
    return row


async def reschedule_session(
    session: AsyncSession,
    reminders: Reminders,
    office_hour_id: int,
    starts_at: datetime,
    offsets: list[int],
    now: datetime,
) -> tuple[OfficeHour, datetime]:
    """Moves a scheduled session (its reminders with it); the row and its previous start."""
    row = await _lock_session(session, office_hour_id)
    if row.state != "scheduled":
        raise ScheduleError(f"This session is {row.state}; only a scheduled session can be moved.")
    if row.series_id is not None:
        clash = await session.scalar(
            select(OfficeHour.id).where(
                OfficeHour.series_id == row.series_id, OfficeHour.starts_at == starts_at, OfficeHour.id != row.id
            )
        )
        if clash is not None:
            raise ScheduleError("Another session of this series already starts then.")
    before = row.starts_at
    await drop_reminders(session, reminders, row, offsets, before)
    row.starts_at = starts_at
    await session.flush()
    await plan_reminders(session, reminders, row, offsets, now)
    # Everyone who RSVP'd is told the new time once (per move).
    told = [r.member_id for r in await rsvps(session, row.id, SEAT)] + [
        r.member_id for r in await rsvps(session, row.id, WAITLIST)
    ]
    ids = await discord_ids(session, told)
    for member_id in told:
        await reminders.schedule(
            session,
            kind=MOVED_ONE,
            guild_id=row.guild_id,
            target_id=ids[member_id],
            due_at=now,
            payload={"session": row.id, "member": member_id, "starts_at": int(starts_at.timestamp())},
            # Per move (its moment), so moving back and forth tells each move once.
            dedupe_key=f"oh-moved:{row.id}:{int(now.timestamp() * 1000)}:{member_id}",
        )
    return row, before


async def upcoming_for(
    session: AsyncSession, guild_id: int, host_id: int | None, now: datetime
) -> list[OfficeHour]:
    """Scheduled sessions (of one host, or all when ``host_id`` is None), soonest first."""
    query = select(OfficeHour).where(
        OfficeHour.guild_id == guild_id, OfficeHour.state == "scheduled", OfficeHour.starts_at > now
    )
    if host_id is not None:
        query = query.where(OfficeHour.host_id == host_id)
    return list(await session.scalars(query.order_by(OfficeHour.starts_at).limit(25)))


# -- questions ahead -------------------------------------------------------------------------------------------
MAX_QUESTIONS_PER_MEMBER = 5


async def add_question(
    session: AsyncSession, office_hour_id: int, member_id: int, topic: str, body: str, now: datetime
) -> OfficeHourQuestion:
    """A question from a member who RSVP'd (seat or waitlist) to a session not yet over."""
    row = await session.get(OfficeHour, office_hour_id)
    if row is None or row.state not in ("scheduled", "live"):
        raise ScheduleError("This session is not taking questions any more.")
    mine = await session.get(OfficeHourRsvp, (office_hour_id, member_id))
    if mine is None or mine.state == CANCELLED:
        raise ScheduleError("RSVP to the session first, then send your question.")
    topic, body = " ".join(topic.split())[:60], body.strip()
    if not topic or not body:
        raise ScheduleError("Give your question a topic and some text.")
    count = await session.scalar(
        select(func.count()).where(
            OfficeHourQuestion.office_hour_id == office_hour_id, OfficeHourQuestion.member_id == member_id
        )
    )
    if (count or 0) >= MAX_QUESTIONS_PER_MEMBER:
        raise ScheduleError(f"You have sent {MAX_QUESTIONS_PER_MEMBER} questions for this session already.")
    question = OfficeHourQuestion(
        office_hour_id=office_hour_id, member_id=member_id, topic=topic, text=body[:2000], created_at=now
    )
    session.add(question)
    await session.flush()
    return question


@dataclass(frozen=True)
class TopicQuestions:
    topic: str
    questions: list[tuple[str, str]]  # (asker's display name, text), oldest first


async def questions_by_topic(session: AsyncSession, office_hour_id: int) -> list[TopicQuestions]:
    """The session's unanswered questions (its own and those carried over to it) grouped by topic
    (case-insensitive), topics in order of first asked."""
    rows = (
        await session.execute(
            select(OfficeHourQuestion, Member.display_name)
            .outerjoin(Member, Member.id == OfficeHourQuestion.member_id)
            .where(live.questions_of(office_hour_id), OfficeHourQuestion.answered_at.is_(None))
            .order_by(OfficeHourQuestion.created_at, OfficeHourQuestion.id)
        )
    ).all()
    groups: dict[str, TopicQuestions] = {}
    for question, name in rows:
        key = question.topic.casefold()
        group = groups.setdefault(key, TopicQuestions(question.topic, []))
        group.questions.append((name or "a former member", question.text))
    return list(groups.values())


async def unanswered(session: AsyncSession, office_hour_id: int, limit: int = 25) -> list[OfficeHourQuestion]:
    """The session's unanswered questions (carried over ones too), oldest first (what the host can mark
    answered)."""
    return list(
        await session.scalars(
            select(OfficeHourQuestion)
            .where(live.questions_of(office_hour_id), OfficeHourQuestion.answered_at.is_(None))
            .order_by(OfficeHourQuestion.created_at, OfficeHourQuestion.id)
            .limit(limit)
        )
    )


async def mark_answered(session: AsyncSession, office_hour_id: int, question_ids: list[int], now: datetime) -> int:
    """The host marks questions of their session answered by hand: they leave the list and are not carried over
    to the series' next session (nor counted as carried in the summary). How many were newly marked."""
    if not question_ids:
        return 0
    result = await session.execute(
        update(OfficeHourQuestion)
        .where(
            live.questions_of(office_hour_id),
            OfficeHourQuestion.id.in_(question_ids),
            OfficeHourQuestion.answered_at.is_(None),
        )
        .values(answered_at=now)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


# -- privacy ---------------------------------------------------------------------------------------------------
async def export_member_data(session: AsyncSession, member_id: int) -> dict[str, Any]:
    rsvp_rows = (
        await session.execute(
            select(OfficeHourRsvp, OfficeHour.topic, OfficeHour.starts_at)
            .join(OfficeHour, OfficeHour.id == OfficeHourRsvp.office_hour_id)
            .where(OfficeHourRsvp.member_id == member_id)
            .order_by(OfficeHour.starts_at)
        )
    ).all()
    questions = await session.scalars(
        select(OfficeHourQuestion).where(OfficeHourQuestion.member_id == member_id).order_by(OfficeHourQuestion.id)
    )
    queue = await session.scalars(
        select(OfficeHourQueueEntry)
        .where(OfficeHourQueueEntry.member_id == member_id)
        .order_by(OfficeHourQueueEntry.id)
    )
    attendance = await session.scalars(
        select(OfficeHourAttendance).where(OfficeHourAttendance.member_id == member_id)
    )
    return {
        "rsvps": [
            {
                "session": r.office_hour_id,
                "topic": topic,
                "starts_at": starts.isoformat(),
                "state": r.state,
                "seat": r.seat,
                "via": r.via,
                "at": r.created_at.isoformat(),
            }
            for r, topic, starts in rsvp_rows
        ],
        "questions": [
            {"session": q.office_hour_id, "topic": q.topic, "text": q.text, "at": q.created_at.isoformat()}
            for q in questions
        ],
        "queue": [
            {
                "session": e.office_hour_id,
                "question": e.question,
                "state": e.state,
                "joined_at": e.joined_at.isoformat(),
            }
            for e in queue
        ],
        "attendance": [
            {
                "session": a.office_hour_id,
                "first_seen_at": a.first_seen_at.isoformat(),
                "rating": a.rating,
                "comment": a.comment,
            }
            for a in attendance
        ],
    }


async def erase_member_data(session: AsyncSession, member_id: int, now: datetime) -> dict[int, list[int]]:
    """Deletes the member's RSVPs, questions, queue entries and attendance; a seat they held in a scheduled
    session goes to the first waiting. The promoted members by session.

    Locks first, in the RSVP and queue paths' order: each session the member has an RSVP or a queue entry in
    (by id) before any of their rows is touched. Deleting an RSVP first and locking its session after would
    deadlock on PostgreSQL with a concurrent cancel that holds the session and promotes that very RSVP."""
    touched = set(
        await session.scalars(select(OfficeHourRsvp.office_hour_id).where(OfficeHourRsvp.member_id == member_id))
    ) | set(
        await session.scalars(
            select(OfficeHourQueueEntry.office_hour_id).where(OfficeHourQueueEntry.member_id == member_id)
        )
    )
    for office_hour_id in sorted(touched):
        await _lock_session(session, office_hour_id)
    held = list(
        await session.scalars(
            select(OfficeHourRsvp.office_hour_id)
            .join(OfficeHour, OfficeHour.id == OfficeHourRsvp.office_hour_id)
            .where(
                OfficeHourRsvp.member_id == member_id,
                OfficeHourRsvp.state == SEAT,
                OfficeHour.state == "scheduled",
            )
        )
    )
    for model in (OfficeHourRsvp, OfficeHourQuestion, OfficeHourQueueEntry, OfficeHourAttendance):
        await session.execute(delete(model).where(model.member_id == member_id))
    promoted: dict[int, list[int]] = {}
    for office_hour_id in held:
        row = await _lock_session(session, office_hour_id)
        if moved := await fill_seats(session, row, now):
            promoted[office_hour_id] = moved
    return promoted


PROMOTED_ONE = "officehours.promoted_one"


async def tell_promoted(
    session: AsyncSession, reminders: Reminders, guild_id: int, promoted: dict[int, list[int]], now: datetime
) -> None:
    """One durable "a seat freed up" DM per promoted member (used where no interaction can send it at once)."""
    for office_hour_id, member_ids in promoted.items():
        ids = await discord_ids(session, member_ids)
        for member_id in member_ids:
            await reminders.schedule(
                session,
                kind=PROMOTED_ONE,
                guild_id=guild_id,
                target_id=ids[member_id],
                due_at=now,
                payload={"session": office_hour_id, "member": member_id},
                dedupe_key=f"oh-promoted:{office_hour_id}:{member_id}:{int(now.timestamp())}",
            )


# The office-hours reminders addressed to one member (their ``target_id`` is the member's Discord id).
MEMBER_KINDS = (
    REMIND_ONE,
    CANCELLED_ONE,
    PROMOTED_ONE,
    MOVED_ONE,
    live.EXPIRE_KIND,
    live.FEEDBACK_KIND,
    live.SUMMARY_KIND,
    live.DISCORD_ENDED_KIND,
)


async def drop_member_reminders(session: AsyncSession, discord_id: int, now: datetime) -> int:
    """Drops the member's pending office-hours DMs (an erased member is told nothing more); how many."""
    result = await session.execute(
        update(Reminder)
        .where(Reminder.kind.in_(MEMBER_KINDS), Reminder.target_id == discord_id, Reminder.state == PENDING)
        .values(state=DROPPED, finished_at=now, last_error="member data erased")
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


def member_data_handler(reminders: Reminders) -> MemberDataHandler:
    """/privacy export and delete for office hours (rsvps, questions, queue, attendance)."""

    async def export(session: AsyncSession, subject: DataSubject) -> dict[str, Any]:
        return await export_member_data(session, subject.member_id)

    async def erase(session: AsyncSession, subject: DataSubject, at: datetime) -> None:
        promoted = await erase_member_data(session, subject.member_id, at)
        # After the erase, which holds their sessions' locks: a concurrent cancel cannot schedule a "seat freed
        # up" for them after the drop.
        await drop_member_reminders(session, subject.discord_id, at)
        await tell_promoted(session, reminders, subject.guild_id, promoted, at)

    return MemberDataHandler("officehours", export, erase)
