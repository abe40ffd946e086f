"""Announcement and personal-reminder rules (no discord import): creating, the occurrence chain, the late policy,
edit, pause, resume, cancel, the per-member limit.

Each row has at most one pending durable reminder, for its ``next_at``, keyed ``<prefix>:<id>:<instant>``. The
handler asks ``begin_occurrence`` what to do with a due one: nothing (stale: edited, paused, cancelled since),
skip it (found past its grace: recorded, the chain moves on), or send it; after a send (or a refusal by Discord
that no retry cures) ``advance`` records the outcome and schedules the next occurrence in one transaction. A
transient Discord error leaves ``next_at`` alone, so the dispatcher's retry finds the same occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import when
from bot.privacy import DataSubject, MemberDataHandler
from bot.reminders import Reminders
from models import Reminder
from models.announcements import Announcement, AnnouncementRun, PersonalReminder

POST = "announce.post"
REMIND = "remind.personal"
ACTIVE, PAUSED, CANCELLED, DONE = "active", "paused", "cancelled", "done"
POSTED, SKIPPED, FAILED = "posted", "skipped", "failed"
# A run recorded before the post goes out: found again by a later attempt, which looks for the post in the
# channel before posting (the process died after the send, or Discord's answer was lost).
SENDING = "sending"


# The durable reminders' own grace only bounds a backlog: the late policy is ours (begin_occurrence). Discord
# trouble: keep retrying (at most every 10 minutes) until the late policy skips the occurrence.
KIND_GRACE = timedelta(days=3660)
MAX_ATTEMPTS = 10_000
MAX_BACKOFF = timedelta(minutes=10)


class RuleError(ValueError):
    """Refused with the reason in words."""


# pg_advisory_xact_lock's class for this module ("ANNC"); the key is the (guild, owner) being counted.
LOCK_CLASS = 0x414E4E43


async def _serialise(session: AsyncSession, guild_id: int, owner_id: int) -> None:
    """Until the transaction ends, one creator per (guild, owner) at a time, so a limit's count-then-insert
    cannot be raced. PostgreSQL: an advisory lock on the pair (a hash collision only serialises more); SQLite:
    a write (a no-op UPDATE) takes the database's write lock (the WriteGate) before the count is read."""
    if session.get_bind().dialect.name == "postgresql":
        key = hash((guild_id, owner_id)) & 0x7FFFFFFF  # stable for ints: no per-process hash seed
        await session.execute(text("SELECT pg_advisory_xact_lock(:cls, :key)"), {"cls": LOCK_CLASS, "key": key})
    else:
        await session.execute(update(PersonalReminder).where(PersonalReminder.id == -1).values(state=ACTIVE))


def recurrence_of(row: Announcement | PersonalReminder) -> when.Recurrence | None:
    if row.rule is None:
        return None
    assert row.local_time is not None and row.anchor is not None
    until = row.until if isinstance(row, Announcement) else None
    return when.Recurrence(row.rule, row.local_time, row.zone, row.anchor, until)


def describe_row(row: Announcement | PersonalReminder) -> str:
    rec = recurrence_of(row)
    if rec is not None:
        return rec.describe_rule()
    if row.next_at is None:  # a one-off that has ended
        return "once"
    return when.describe_instant(row.next_at, row.zone)


def _key(prefix: str, row_id: int, at: datetime) -> str:
    return f"{prefix}:{row_id}:{at.isoformat()}"


async def _plan(session: AsyncSession, reminders: Reminders, kind: str, row: Any) -> None:
    """The durable reminder for ``row.next_at`` (a key dropped by an earlier edit is freed first)."""
    assert row.next_at is not None
    key = _key(kind, row.id, row.next_at)
    await session.execute(
        delete(Reminder).where(Reminder.kind == kind, Reminder.dedupe_key == key, Reminder.state == "dropped")
    )
    await reminders.schedule(
        session,
        kind=kind,
        guild_id=row.guild_id,
        target_id=row.id,
        due_at=row.next_at,
        payload={"id": row.id, "due": row.next_at.isoformat()},
        dedupe_key=key,
    )


async def _unplan(session: AsyncSession, reminders: Reminders, kind: str, row: Any) -> None:
    if row.next_at is not None:
        await reminders.cancel(session, kind=kind, dedupe_key=_key(kind, row.id, row.next_at))


def _set_schedule(
    row: Announcement | PersonalReminder, parsed: when.Once | when.Recurrence, now: datetime
) -> None:
    if isinstance(parsed, when.Once):
        if parsed.starts_at <= now:  # read earlier (a preview, an edit's form) and passed meanwhile
            raise RuleError("That time has passed meanwhile: give a new one.")
        row.rule, row.local_time, row.anchor, row.next_at = None, None, None, parsed.starts_at
        if isinstance(row, Announcement):
            row.until = None
        return
    first = parsed.next(now, 1)
    if not first:
        raise RuleError("That repeat has no occurrence left before its end date.")
    row.rule, row.local_time, row.anchor, row.next_at = parsed.rule, parsed.local_time, parsed.anchor, first[0]
    if isinstance(row, Announcement):
        row.until = parsed.until
    row.zone = parsed.zone


# -- announcements ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AnnouncementSpec:
    guild_id: int
    author_id: int
    channel_id: int
    title: str | None
    body: str
    role_id: int | None
    event_location: str | None = None
    event_minutes: int = 60


def event_wanted(row: Announcement, now: datetime) -> datetime | None:
    """The occurrence the native event should be for: the next one, while the announcement is active."""
    if row.event_location is None or row.state != ACTIVE or row.next_at is None or row.next_at <= now:
        return None
    return row.next_at


async def active_count(session: AsyncSession, guild_id: int) -> int:
    return (
        await session.scalar(
            select(func.count()).where(Announcement.guild_id == guild_id, Announcement.state.in_((ACTIVE, PAUSED)))
        )
        or 0
    )


async def create_announcement(
    session: AsyncSession,
    reminders: Reminders,
    spec: AnnouncementSpec,
    parsed: when.Once | when.Recurrence,
    now: datetime,
    max_active: int,
) -> Announcement:
    await _serialise(session, spec.guild_id, 0)  # the limit is the server's
    if await active_count(session, spec.guild_id) >= max_active:
        raise RuleError(f"The server already has {max_active} announcements: cancel one first.")
    row = Announcement(
        guild_id=spec.guild_id,
        author_id=spec.author_id,
        channel_id=spec.channel_id,
        title=spec.title,
        body=spec.body,
        role_id=spec.role_id,
        zone=parsed.zone,
        event_location=spec.event_location,
        event_minutes=spec.event_minutes,
        state=ACTIVE,
        created_at=now,
        updated_at=now,
    )
    _set_schedule(row, parsed, now)
    session.add(row)
    await session.flush()
    await _plan(session, reminders, POST, row)
    return row


async def announcements(
    session: AsyncSession, guild_id: int, states: tuple[str, ...] = (ACTIVE, PAUSED)
) -> list[Announcement]:
    return list(
        await session.scalars(
            select(Announcement)
            .where(Announcement.guild_id == guild_id, Announcement.state.in_(states))
            .order_by(Announcement.next_at, Announcement.id)
        )
    )


# /announce list: an ended announcement stays listed while it has a skipped or failed occurrence this recent;
# a listed one's skipped or failed occurrences are shown back this far.
ENDED_SHOWN = timedelta(days=14)
TROUBLE_SHOWN = timedelta(days=30)


async def listed_announcements(
    session: AsyncSession, guild_id: int, now: datetime
) -> list[tuple[Announcement, list[AnnouncementRun]]]:
    """What /announce list shows: the active and paused announcements, then those ended (a one-off or the last
    of a series) with a skipped or failed occurrence in the last two weeks; each with its skipped or failed runs
    of the last month, newest first (posted ones are not news)."""
    troubled = list(
        await session.scalars(
            select(AnnouncementRun)
            .join(Announcement, Announcement.id == AnnouncementRun.announcement_id)
            .where(
                Announcement.guild_id == guild_id,
                AnnouncementRun.state.in_((SKIPPED, FAILED)),
                AnnouncementRun.due_at >= now - TROUBLE_SHOWN,
            )
            .order_by(AnnouncementRun.due_at.desc())
        )
    )
    runs: dict[int, list[AnnouncementRun]] = {}
    for run in troubled:
        runs.setdefault(run.announcement_id, []).append(run)
    live = await announcements(session, guild_id)
    recent = [key for key, found in runs.items() if found[0].due_at >= now - ENDED_SHOWN]
    ended = list(
        await session.scalars(
            select(Announcement)
            .where(Announcement.id.in_(recent), Announcement.state == DONE)
            .order_by(Announcement.updated_at.desc(), Announcement.id)
        )
    ) if recent else []  # fmt: skip
    return [(row, runs.get(row.id, [])) for row in [*live, *ended]]


async def _locked(session: AsyncSession, model: type[Any], row_id: int) -> Any:
    """The row, held until the transaction ends, so a change made meanwhile by another transaction (an edit
    and a post finishing) is neither lost nor acted on stale: PostgreSQL's row lock; on SQLite a write (a
    no-op UPDATE) takes the write lock (the WriteGate) before the row is read, as FOR UPDATE does nothing there."""
    if session.get_bind().dialect.name == "postgresql":
        return await session.get(model, row_id, with_for_update=True, populate_existing=True)
    await session.execute(update(model).where(model.id == row_id).values(id=model.id))
    return await session.get(model, row_id, populate_existing=True)


async def get_announcement(
    session: AsyncSession, guild_id: int, announcement_id: int, *, lock: bool = False
) -> Announcement:
    """``lock``: held for a change (edit, pause, resume, cancel) until the transaction ends."""
    if lock:
        row = await _locked(session, Announcement, announcement_id)
    else:
        row = await session.get(Announcement, announcement_id)
    if row is None or row.guild_id != guild_id or row.state in (CANCELLED, DONE):
        raise RuleError("There is no such announcement (it may have ended or been cancelled).")
    return row


async def recent_runs(session: AsyncSession, announcement_id: int, limit: int = 3) -> list[AnnouncementRun]:
    return list(
        await session.scalars(
            select(AnnouncementRun)
            .where(AnnouncementRun.announcement_id == announcement_id)
            .order_by(AnnouncementRun.due_at.desc())
            .limit(limit)
        )
    )


async def edit_announcement(
    session: AsyncSession,
    reminders: Reminders,
    row: Announcement,
    now: datetime,
    *,
    parsed: when.Once | when.Recurrence | None = None,
    **fields: Any,
) -> None:
    """Text, title, channel and role take effect on the next post (read when it goes out); a new time or rule
    moves the pending occurrence."""
    for name, value in fields.items():
        setattr(row, name, value)
    if parsed is not None:
        if row.state == ACTIVE:
            await _unplan(session, reminders, POST, row)
        _set_schedule(row, parsed, now)
        if row.state == ACTIVE:
            await _plan(session, reminders, POST, row)
    row.updated_at = now


async def pause_announcement(
    session: AsyncSession, reminders: Reminders, row: Announcement, now: datetime
) -> None:
    if row.state != ACTIVE:
        raise RuleError("Only an active announcement can be paused.")
    await _unplan(session, reminders, POST, row)
    row.state, row.updated_at = PAUSED, now


async def resume_announcement(
    session: AsyncSession, reminders: Reminders, row: Announcement, now: datetime
) -> None:
    """The next occurrence after now (those that fell in the pause are not posted)."""
    if row.state != PAUSED:
        raise RuleError("Only a paused announcement can be resumed.")
    rec = recurrence_of(row)
    if rec is None:
        if row.next_at is None or row.next_at <= now:
            raise RuleError("Its time passed while it was paused: edit it with a new time instead.")
    else:
        following = rec.next(now, 1)
        if not following:
            raise RuleError("Its end date passed while it was paused.")
        row.next_at = following[0]
    row.state, row.updated_at = ACTIVE, now
    await _plan(session, reminders, POST, row)


async def cancel_announcement(
    session: AsyncSession, reminders: Reminders, row: Announcement, now: datetime
) -> None:
    if row.state == ACTIVE:
        await _unplan(session, reminders, POST, row)
    row.state, row.updated_at = CANCELLED, now


@dataclass(frozen=True)
class Occurrence:
    """What the handler does with a due reminder: ``action`` "send", "skip" (already recorded), "stale", or
    "check": an earlier attempt recorded the send and may have posted, so look for the post first (``late``: if
    it is not there, the occurrence is past its grace and is skipped, not posted)."""

    action: str
    row: Announcement | PersonalReminder | None = None
    due: datetime | None = None
    late: bool = False


async def begin_occurrence(
    session: AsyncSession,
    reminders: Reminders,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    grace: timedelta,
) -> Occurrence:
    model = Announcement if kind == POST else PersonalReminder
    row = await _locked(session, model, payload["id"])
    due = datetime.fromisoformat(payload["due"])
    if row is None or row.state != ACTIVE or row.next_at != due:
        return Occurrence("stale")
    late = now > due + grace
    if isinstance(row, Announcement):
        done = await session.scalar(
            select(AnnouncementRun.state).where(
                AnnouncementRun.announcement_id == row.id, AnnouncementRun.due_at == due
            )
        )
        if done == SENDING:
            return Occurrence("check", row, due, late)
        if done is not None:  # recorded by a process that died before the reminder was: move on, never twice
            await advance(session, reminders, kind, row, due, now, None)
            return Occurrence("stale")
    if late:
        await advance(
            session,
            reminders,
            kind,
            row,
            due,
            now,
            (SKIPPED, None, f"the bot was down past the {span(grace)} grace"),
        )
        return Occurrence("skip", row, due)
    if isinstance(row, Announcement):
        session.add(AnnouncementRun(announcement_id=row.id, due_at=due, state=SENDING, note="", at=now))
    return Occurrence("send", row, due)


async def _record_run(
    session: AsyncSession, row: Announcement, due: datetime, now: datetime, outcome: tuple[str, int | None, str]
) -> None:
    """The occurrence's outcome, over its "sending" run when there is one."""
    state, message_id, note = outcome
    run = await session.scalar(
        select(AnnouncementRun).where(AnnouncementRun.announcement_id == row.id, AnnouncementRun.due_at == due)
    )
    if run is None:
        run = AnnouncementRun(announcement_id=row.id, due_at=due)
        session.add(run)
    run.state, run.message_id, run.note, run.at = state, message_id, note[:200], now


def span(grace: timedelta) -> str:
    minutes = int(grace.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 and minutes else f"{minutes} min"


async def advance(
    session: AsyncSession,
    reminders: Reminders,
    kind: str,
    row: Announcement | PersonalReminder,
    due: datetime,
    now: datetime,
    outcome: tuple[str, int | None, str] | None,
) -> None:
    """Record one occurrence's ``outcome`` (state, message id, note) and plan the next one (or end the row)."""
    if outcome is not None and isinstance(row, Announcement):
        await _record_run(session, row, due, now, outcome)
    rec = recurrence_of(row)
    following = rec.next(due, 1) if rec is not None else []
    if not following:
        row.state, row.next_at = DONE, None
        if isinstance(row, Announcement):
            row.updated_at = now
        return
    row.next_at = following[0]
    await _plan(session, reminders, kind, row)


async def finish_occurrence(
    session: AsyncSession,
    reminders: Reminders,
    kind: str,
    row_id: int,
    due: datetime,
    now: datetime,
    outcome: tuple[str, int | None, str],
) -> None:
    """After the send (or Discord's final refusal): record it and move on, unless the row changed meanwhile."""
    model = Announcement if kind == POST else PersonalReminder
    row = await _locked(session, model, row_id)
    if row is None:
        return
    if row.state == ACTIVE and row.next_at == due:
        await advance(session, reminders, kind, row, due, now, outcome)
    elif isinstance(row, Announcement):
        await _record_run(session, row, due, now, outcome)


async def replan_missing(
    session: AsyncSession, reminders: Reminders, now: datetime, guild_id: int | None = None
) -> int:
    """Active rows (of ``guild_id``: another community's bot on the same database repairs its own) whose pending
    reminder is gone (given up after Discord trouble, or lost to a bug) get it again for their ``next_at``; the
    late policy then decides. How many were replanned."""
    count = 0
    for kind, model in ((POST, Announcement), (REMIND, PersonalReminder)):
        mine = [] if guild_id is None else [model.guild_id == guild_id]
        rows = await session.scalars(select(model).where(model.state == ACTIVE, model.next_at.is_not(None), *mine))
        for row in rows:
            key = _key(kind, row.id, row.next_at)
            live = await session.scalar(
                select(Reminder.id).where(
                    Reminder.kind == kind, Reminder.dedupe_key == key, Reminder.state.in_(("pending", "claimed"))
                )
            )
            sent = await session.scalar(
                select(Reminder.id).where(
                    Reminder.kind == kind, Reminder.dedupe_key == key, Reminder.state == "sent"
                )
            )
            if live is None and sent is None:
                await session.execute(
                    delete(Reminder).where(
                        Reminder.kind == kind, Reminder.dedupe_key == key, Reminder.state != "sent"
                    )
                )
                await _plan(session, reminders, kind, row)
                count += 1
    return count


# -- personal reminders -----------------------------------------------------------------------------------------
async def active_reminders(session: AsyncSession, guild_id: int, owner_id: int) -> list[PersonalReminder]:
    return list(
        await session.scalars(
            select(PersonalReminder)
            .where(
                PersonalReminder.guild_id == guild_id,
                PersonalReminder.owner_id == owner_id,
                PersonalReminder.state == ACTIVE,
            )
            .order_by(PersonalReminder.next_at, PersonalReminder.id)
        )
    )


@dataclass(frozen=True)
class ReminderSpec:
    guild_id: int
    owner_id: int
    text: str
    place: str  # "dm" | "channel"
    channel_id: int
    jump_url: str


async def create_reminder(
    session: AsyncSession,
    reminders: Reminders,
    spec: ReminderSpec,
    parsed: when.Once | when.Recurrence,
    now: datetime,
    limit: int,
) -> PersonalReminder:
    await _serialise(session, spec.guild_id, spec.owner_id)
    held = await session.scalar(
        select(func.count()).where(
            PersonalReminder.guild_id == spec.guild_id,
            PersonalReminder.owner_id == spec.owner_id,
            PersonalReminder.state == ACTIVE,
        )
    )
    if (held or 0) >= limit:
        raise RuleError(
            f"You already have {limit} active reminders, the most one member may hold: cancel one first."
        )
    row = PersonalReminder(
        guild_id=spec.guild_id,
        owner_id=spec.owner_id,
        text=spec.text,
        zone=parsed.zone,
        place=spec.place,
        channel_id=spec.channel_id,
        jump_url=spec.jump_url,
        state=ACTIVE,
        created_at=now,
    )
    _set_schedule(row, parsed, now)
    session.add(row)
    await session.flush()
    await _plan(session, reminders, REMIND, row)
    return row


async def cancel_reminder(
    session: AsyncSession, reminders: Reminders, guild_id: int, owner_id: int, reminder_id: int
) -> PersonalReminder:
    row = await session.get(PersonalReminder, reminder_id)
    if row is None or row.guild_id != guild_id or row.owner_id != owner_id or row.state != ACTIVE:
        raise RuleError("You have no such active reminder.")
    await _unplan(session, reminders, REMIND, row)
    row.state = CANCELLED
    return row


# -- /privacy export and delete ---------------------------------------------------------------------------------
def member_data_handler(reminders: Reminders) -> MemberDataHandler:
    """A member's personal reminders (exported; erased with their pending sends) and the announcements they
    scheduled (exported; on erasure they stay, no longer tied to them: they belong to the community)."""

    async def export(session: AsyncSession, subject: DataSubject) -> dict[str, Any]:
        mine = await session.scalars(
            select(PersonalReminder).where(
                PersonalReminder.guild_id == subject.guild_id, PersonalReminder.owner_id == subject.discord_id
            )
        )
        authored = await session.scalars(
            select(Announcement).where(
                Announcement.guild_id == subject.guild_id, Announcement.author_id == subject.discord_id
            )
        )
        return {
            "personal_reminders": [
                {
                    "id": r.id,
                    "text": r.text,
                    "zone": r.zone,
                    "rule": r.rule,
                    "next_at": r.next_at.isoformat() if r.next_at else None,
                    "place": r.place,
                    "state": r.state,
                    "created_at": r.created_at.isoformat(),
                }
                for r in mine
            ],
            "announcements_scheduled": [
                {
                    "id": a.id,
                    "title": a.title,
                    "body": a.body,
                    "state": a.state,
                    "created_at": a.created_at.isoformat(),
                }
                for a in authored
            ],
        }

    async def erase(session: AsyncSession, subject: DataSubject, at: datetime) -> None:
        rows = await session.scalars(
            select(PersonalReminder).where(
                PersonalReminder.guild_id == subject.guild_id, PersonalReminder.owner_id == subject.discord_id
            )
        )
        for row in rows:
            if row.state == ACTIVE:
                await _unplan(session, reminders, REMIND, row)
            await session.delete(row)
        await session.execute(
            update(Announcement)
            .where(Announcement.guild_id == subject.guild_id, Announcement.author_id == subject.discord_id)
            .values(author_id=0)
        )

    return MemberDataHandler("announce", export, erase)
