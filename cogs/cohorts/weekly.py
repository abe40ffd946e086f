"""The cohorts' weekly rules: week math, the steps of each week, check-ins, participation, closing a week (misses,
streaks, milestones, the cohort's end), moves, and the status figures. No discord import: the cog posts.

**Week math.** Week N starts at ``starts_at``'s *local* time in the cohort's zone plus N-1 weeks, so the post
stays at the same local time across that zone's DST changes (a UTC instant plus 7 days would move by an hour).

**Steps.** Each week has four steps, each a durable reminder (``bot.reminders``) due at its own instant:
``post`` at the week's start (topic, prompts, reading, the next meeting, check-in buttons), ``nudge`` three
days in (only if the thread is quiet), ``synthesis`` six days in, and ``close`` at the next week's start
(check-ins tallied, misses, streaks, milestones; after the last week the cohort ends). Reminders rather than a
frequent polling job: every step wakes exactly when due, retries on Discord 5xx/429 with backoff, and a restart
reloads what is pending; the reminder row, unique per (kind, dedupe key) = (step, cohort, week), is the step's
claim (one atomic UPDATE per batch, never two senders). ``schedule_steps`` (a daily job, at start-up, and when
a cohort becomes active) inserts, set-based, the steps of every active cohort due within ``HORIZON``: one read
of the active cohorts and one INSERT ... ON CONFLICT DO NOTHING.

**Exactly once across a crash.** The reminders' pattern is claim -> send -> finish; a crash between "sent" and
"recorded" leaves a stale claim that is retried, i.e. at-least-once. The step handlers close that window:
``begin_step`` reads ``cohort_weeks`` (a step already recorded is not redone) and tells the cog whether this is
a retry (the reminder's ``attempts`` > 1); on a retry the cog first looks in the thread's history for its own
message carrying the step's marker (``marker``) and records that one instead of posting again. The ``close``
step writes only to the database, all in one transaction guarded by ``closed_at IS NULL``.

**Late policy.** A post found late (downtime) still goes up within ``[cohorts] late_grace_hours``; later than
that the week is skipped and noted (``cohort_weeks.skipped``): its nudge and synthesis are skipped too and its
close counts nobody as missed (there was nothing to check in to).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import ledger
from bot.db import dialect_insert
from cogs.cohorts.meeting import Meeting, next_occurrence
from models import Member, Reminder
from models.cohorts import (
    Cohort,
    CohortCheckin,
    CohortFormation,
    CohortMember,
    CohortMilestone,
    CohortProject,
    CohortSignup,
    CohortWeek,
)

POST, NUDGE, SYNTHESIS, CLOSE = "post", "nudge", "synthesis", "close"
STEPS = (POST, NUDGE, SYNTHESIS, CLOSE)
# Days after the week's start (local calendar days, same local time).
STEP_DAYS = {POST: 0, NUDGE: 3, SYNTHESIS: 6, CLOSE: 7}
STEP_KINDS = {step: f"cohorts.week_{step}" for step in STEPS}
# A step this late is still on time whatever the grace (a wake-up a few seconds late is not downtime).
ON_TIME = timedelta(minutes=15)
# Steps are scheduled this far ahead: more than the sweep's period (daily), so none is ever missing when due.
HORIZON = timedelta(days=8)
CHECKIN_STATUSES = ("on_track", "behind", "blocked")
TOOK_PART = ("on_track", "behind", "blocked", "replied")
MILESTONE_WEEKS = (4, 8, 12)
# At the cohort's end, a member who took part (checked in or replied) in fewer than half of its posted weeks ends
# ``lapsed`` rather than ``completed``, without the completion credit: still listed is not completing, and the
# completion rate (completed / placed) stays honest.
LAPSED = "lapsed"
# Ledger kinds (points in [recognition] points).
CHECKIN, PROMPT_REPLY = "checkin", "prompt_reply"
COHORT_MILESTONE, COHORT_COMPLETED = "cohort_milestone", "cohort_completed"
# Reminder kinds the close step schedules (the cog handles them).
MISS_DM, FACILITATOR_DM, MOVE_OFFER, CELEBRATE, FINISH, THREAD_REMOVE = (
    "cohorts.miss_dm",
    "cohorts.facilitator_dm",
    "cohorts.move_offer",
    "cohorts.celebrate",
    "cohorts.finish",
    "cohorts.thread_remove",
)
# Said in the thread when the facilitator took the move: who facilitates now.
FACILITATOR_CHANGED = "cohorts.facilitator_changed"
# A project milestone's reminders to its owner (``projects`` schedules them; dropped here when the cohort ends or
# the owner moves on: nothing to remind a member of who is no longer working on it).
MILESTONE_DUE = "cohorts.milestone_due"


# -- week math (pure) -------------------------------------------------------------------------------------------
def _at_local(local_naive: datetime, tz: ZoneInfo) -> datetime:
    # fold=0: an ambiguous local time (autumn) is its first occurrence; a time in the spring gap is read with
    # the offset before the gap and lands just after it. The same rule as meeting.next_occurrence.
    return local_naive.replace(tzinfo=tz, fold=0).astimezone(UTC)


def step_due(starts_at: datetime, zone: str, week: int, step: str = POST) -> datetime:
    """When ``step`` of week ``week`` (1-based) is due: the local time of ``starts_at`` in ``zone``, N-1 weeks
    (plus the step's days) later on the local calendar, as an aware UTC instant."""
    if starts_at.tzinfo is None:
        starts_at = starts_at.replace(tzinfo=UTC)  # SQLite returns naive UTC
    tz = ZoneInfo(zone)
    local = starts_at.astimezone(tz).replace(tzinfo=None)
    return _at_local(local + timedelta(weeks=week - 1, days=STEP_DAYS[step]), tz)


def week_start(starts_at: datetime, zone: str, week: int) -> datetime:
    return step_due(starts_at, zone, week, POST)


def week_of(starts_at: datetime, zone: str, at: datetime) -> int:
    """The week ``at`` falls in: 0 before week 1, else N (past the last week too: the caller compares)."""
    if starts_at.tzinfo is None:
        starts_at = starts_at.replace(tzinfo=UTC)
    if at < starts_at:
        return 0
    n = max(1, (at - starts_at) // timedelta(weeks=1) + 1)
    # An hour of DST either way can put ``at`` across a boundary from the estimate.
    while n > 1 and at < week_start(starts_at, zone, n):
        n -= 1
    while at >= week_start(starts_at, zone, n + 1):
        n += 1
    return n


def meeting_of(cohort: Cohort) -> Meeting:
    return Meeting(cohort.zone, cohort.meeting_weekday, time.fromisoformat(cohort.meeting_time))


def next_meeting(cohort: Cohort, after: datetime) -> datetime:
    return next_occurrence(meeting_of(cohort), after)


def marker(cohort_id: int, week: int, step: str) -> str:
    """The last line of every message a step posts: how a retry finds what an interrupted attempt posted."""
    return f"-# cohort {cohort_id} · week {week} · {step}"


def aware(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


# -- scheduling ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Due:
    cohort_id: int
    guild_id: int
    week: int
    step: str
    due_at: datetime

    @property
    def key(self) -> str:
        return f"cohort:{self.cohort_id}:w{self.week}:{self.step}"


def steps_until(cohort: Cohort, from_week: int, until: datetime) -> list[Due]:
    """The steps of ``cohort`` from week ``from_week`` due at or before ``until``."""
    starts_at = aware(cohort.starts_at)
    assert starts_at is not None
    found = []
    for week in range(max(1, from_week), cohort.weeks + 1):
        if week_start(starts_at, cohort.zone, week) > until:
            break
        for step in STEPS:
            due = step_due(starts_at, cohort.zone, week, step)
            if due <= until:
                found.append(Due(cohort.id, cohort.guild_id, week, step, due))
    return found


async def schedule_steps(
    session: AsyncSession,
    now: datetime,
    *,
    guild_id: int | None = None,
    cohort_ids: Sequence[int] | None = None,
    states: Sequence[str] = ("active",),
) -> int:
    """Insert the reminders of every step due within ``HORIZON`` for the active cohorts (from their first week
    not yet closed); steps already scheduled (or done) are left alone. Returns how many rows were added."""
    closed = (
        select(func.max(CohortWeek.week))
        .where(CohortWeek.cohort_id == Cohort.id, CohortWeek.closed_at.is_not(None))
        .correlate(Cohort)
        .scalar_subquery()
    )
    query = select(Cohort, closed).where(Cohort.state.in_(list(states)))
    if guild_id is not None:
        query = query.where(Cohort.guild_id == guild_id)
    if cohort_ids is not None:
        query = query.where(Cohort.id.in_(list(cohort_ids)))
    rows = []
    for cohort, last_closed in (await session.execute(query)).all():
        for due in steps_until(cohort, (last_closed or 0) + 1, now + HORIZON):
            rows.append(
                {
                    "kind": STEP_KINDS[due.step],
                    "guild_id": due.guild_id,
                    "target_id": due.cohort_id,
                    "payload": {"week": due.week},
                    "dedupe_key": due.key,
                    "due_at": due.due_at,
                    "expires_at": None,
                    "state": "pending",
                    "attempts": 0,
                    "created_at": now,
                }
            )
    return await add_reminder_rows(session, rows)


async def add_reminder_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Reminder rows with their own due times in one prebuilt INSERT ... ON CONFLICT DO NOTHING (as
    ``reminders.add_many``, which takes one due time for all); the caller kicks the dispatcher after commit."""
    if not rows:
        return 0
    statement = (
        dialect_insert(session, Reminder)
        .on_conflict_do_nothing(index_elements=["kind", "dedupe_key"])
        .returning(Reminder.id)
    )
    return len((await session.execute(statement, rows)).all())


def reminder_row(
    kind: str, guild_id: int, target_id: int, key: str, due_at: datetime, now: datetime, **payload: Any
) -> dict[str, Any]:
    return {
        "kind": kind,
        "guild_id": guild_id,
        "target_id": target_id,
        "payload": payload,
        "dedupe_key": key,
        "due_at": due_at,
        "expires_at": None,
        "state": "pending",
        "attempts": 0,
        "created_at": now,
    }


async def drop_milestone_reminders(
    session: AsyncSession, cohort_id: int, now: datetime, why: str, owner_id: int | None = None
) -> int:
    """Drop the pending milestone reminders of a cohort's projects (only ``owner_id``'s if given)."""
    query = (
        select(CohortMilestone.id)
        .join(CohortProject, CohortProject.id == CohortMilestone.project_id)
        .where(CohortProject.cohort_id == cohort_id, CohortMilestone.done_at.is_(None))
    )
    if owner_id is not None:
        query = query.where(CohortMilestone.owner_id == owner_id)
    keys = [f"milestone:{m}:{which}" for m in await session.scalars(query) for which in ("day", "due")]
    if not keys:
        return 0
    result = await session.execute(
        update(Reminder)
        .where(Reminder.kind == MILESTONE_DUE, Reminder.state == "pending", Reminder.dedupe_key.in_(keys))
        .values(state="dropped", finished_at=now, last_error=why)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


# -- a step's bookkeeping -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StepContext:
    """What a step's handler needs: ``action`` is "go" (send it), "done" (already recorded), "skip" (too late:
    noted), "wait" (the cohort is still forming: try again later) or "gone" (not active any more, no thread)."""

    action: str
    cohort_id: int
    week: int
    step: str
    due_at: datetime
    weeks: int = 0
    name: str = ""
    number: int = 0
    thread_id: int | None = None
    zone: str = "UTC"
    next_meeting: datetime | None = None
    messages: int = 0
    reason: str = ""


async def _week_row(session: AsyncSession, cohort_id: int, week: int) -> CohortWeek:
    await session.execute(
        dialect_insert(session, CohortWeek)
        .values(cohort_id=cohort_id, week=week, messages=0)
        .on_conflict_do_nothing(index_elements=["cohort_id", "week"])
    )
    row = await session.get(CohortWeek, (cohort_id, week), populate_existing=True)
    assert row is not None
    return row


def _note(row: CohortWeek, text: str) -> None:
    row.skipped = text if not row.skipped else f"{row.skipped}; {text}"[:200]


async def begin_step(
    session: AsyncSession, cohort_id: int, week: int, step: str, now: datetime, grace: timedelta
) -> StepContext:
    """Decide what the step's handler does now, noting a skip (the late policy) in the same transaction."""
    cohort = await session.get(Cohort, cohort_id)
    due_at = now
    if cohort is not None and cohort.state == "forming":
        return StepContext("wait", cohort_id, week, step, due_at, reason="the cohort is still forming")
    if cohort is None or cohort.state != "active" or cohort.thread_id is None:
        return StepContext("gone", cohort_id, week, step, due_at, reason="the cohort is not active")
    starts_at = aware(cohort.starts_at)
    assert starts_at is not None
    due_at = step_due(starts_at, cohort.zone, week, step)
    row = await _week_row(session, cohort_id, week)
    ctx = dict(
        cohort_id=cohort_id,
        week=week,
        step=step,
        due_at=due_at,
        weeks=cohort.weeks,
        name=cohort.name,
        number=cohort.number,
        thread_id=cohort.thread_id,
        zone=cohort.zone,
        next_meeting=next_meeting(cohort, max(now, due_at)),
        messages=row.messages,
    )
    done = {POST: row.posted_at, NUDGE: row.nudged_at, SYNTHESIS: row.synthesis_at, CLOSE: row.closed_at}[step]
    if done is not None:
        return StepContext("done", **ctx)
    if step != POST and row.posted_at is None and row.skipped and "post" in row.skipped:
        return StepContext("skip", **ctx, reason="the week's post was skipped")
    if step in (POST, NUDGE, SYNTHESIS) and now > due_at + max(grace, ON_TIME):
        late = now - due_at
        hours = int(late.total_seconds() // 3600)
        _note(row, f"{step} skipped: found {hours} h late (grace {int(grace.total_seconds() // 3600)} h)")
        return StepContext("skip", **ctx, reason=f"{hours} h late")
    return StepContext("go", **ctx)


async def finish_step(
    session: AsyncSession, cohort_id: int, week: int, step: str, now: datetime, message_id: int | None
) -> None:
    """Record a sent step (only once: a concurrent finisher's record stands)."""
    column = {POST: CohortWeek.posted_at, NUDGE: CohortWeek.nudged_at, SYNTHESIS: CohortWeek.synthesis_at}[step]
    values: dict[str, Any] = {column.key: now}
    if step == POST:
        values["post_message_id"] = message_id
    await session.execute(
        update(CohortWeek)
        .where(CohortWeek.cohort_id == cohort_id, CohortWeek.week == week, column.is_(None))
        .values(**values)
    )


# -- members -----------------------------------------------------------------------------------------------------
async def active_membership(
    session: AsyncSession, guild_id: int, discord_id: int, cohort_id: int | None = None
) -> tuple[Member, CohortMember, Cohort] | None:
    """The member's active cohort (or their active membership of ``cohort_id``)."""
    query = (
        select(Member, CohortMember, Cohort)
        .join(CohortMember, CohortMember.member_id == Member.id)
        .join(Cohort, Cohort.id == CohortMember.cohort_id)
        .where(Member.guild_id == guild_id, Member.discord_id == discord_id, CohortMember.state == "active")
    )
    if cohort_id is not None:
        query = query.where(Cohort.id == cohort_id)
    row = (await session.execute(query.limit(1))).first()
    return None if row is None else (row[0], row[1], row[2])


# -- check-ins ----------------------------------------------------------------------------------------------------
class CheckinRefused(Exception):
    """Why a check-in cannot be recorded, in words for the member."""


@dataclass(frozen=True)
class CheckinResult:
    status: str
    changed_from: str | None
    ledger_member_id: int | None  # set when the ledger event was recorded now
    badges: bool = False


async def checkin_open(
    session: AsyncSession, *, guild_id: int, cohort_id: int, week: int, discord_id: int, status: str
) -> Member:
    """The member who may check in now, or CheckinRefused why not: reads only, so the click can ask before it
    shows the note form (the recording, a write, comes after the form is on screen)."""
    if status not in CHECKIN_STATUSES:
        raise CheckinRefused("That is not a check-in answer I know.")
    found = await active_membership(session, guild_id, discord_id, cohort_id)
    if found is None:
        raise CheckinRefused("Only this cohort's members can check in here.")
    row = await session.get(CohortWeek, (cohort_id, week))
    if row is None or row.posted_at is None:
        raise CheckinRefused("This week's check-in is not open yet.")
    if row.closed_at is not None:
        raise CheckinRefused(f"Week {week} is closed; check in on the latest week's post.")
    return found[0]


async def stored_checkin(
    session: AsyncSession, *, guild_id: int, cohort_id: int, week: int, discord_id: int, status: str
) -> str | None:
    """The status already stored for this member and week (None if none), after checkin_open's refusals: a read,
    so the note form's submit can skip the write its click already made."""
    member = await checkin_open(
        session, guild_id=guild_id, cohort_id=cohort_id, week=week, discord_id=discord_id, status=status
    )
    row = await session.get(CohortCheckin, (cohort_id, member.id, week))
    return row.status if row is not None else None


async def record_checkin(
    session: AsyncSession,
    policy: ledger.LedgerPolicy,
    *,
    guild_id: int,
    cohort_id: int,
    week: int,
    discord_id: int,
    status: str,
    now: datetime,
) -> CheckinResult:
    member = await checkin_open(
        session, guild_id=guild_id, cohort_id=cohort_id, week=week, discord_id=discord_id, status=status
    )
    existing = await session.get(CohortCheckin, (cohort_id, member.id, week))
    before = existing.status if existing is not None else None
    # An upsert: the click records after showing the note form, so the form's submit may record first.
    await session.execute(
        dialect_insert(session, CohortCheckin)
        .values(cohort_id=cohort_id, member_id=member.id, week=week, status=status, at=now)
        .on_conflict_do_update(
            index_elements=["cohort_id", "member_id", "week"], set_={"status": status, "at": now}
        )
    )
    if existing is not None:
        await session.refresh(existing)
    result = await ledger.record_event(
        session,
        policy,
        guild_id=guild_id,
        member_id=member.id,
        kind=CHECKIN,
        reference=f"cohort:{cohort_id}:week:{week}",
        at=now,
        now=now,
    )
    return CheckinResult(
        status,
        before if before in CHECKIN_STATUSES else None,
        None if result.duplicate else member.id,
        bool(result.awarded),
    )


async def record_note(
    session: AsyncSession, *, guild_id: int, cohort_id: int, week: int, discord_id: int, note: str
) -> bool:
    found = await active_membership(session, guild_id, discord_id, cohort_id)
    if found is None:
        raise CheckinRefused("Only this cohort's members can check in here.")
    week_row = await session.get(CohortWeek, (cohort_id, week))
    if week_row is not None and week_row.closed_at is not None:
        raise CheckinRefused(f"Week {week} is closed; check in on the latest week's post.")
    row = await session.get(CohortCheckin, (cohort_id, found[0].id, week))
    if row is None or row.status not in CHECKIN_STATUSES:
        raise CheckinRefused("Pick on track, behind or blocked first; the note goes with it.")
    row.note = note[:500] or None
    return True


# -- participation (message events; never their content) ----------------------------------------------------------
@dataclass(frozen=True)
class Participation:
    cohort_id: int
    week: int
    ledger_member_id: int | None
    badges: bool = False


async def cohort_for_thread(session: AsyncSession, thread_id: int) -> Cohort | None:
    return await session.scalar(select(Cohort).where(Cohort.thread_id == thread_id, Cohort.state == "active"))


async def count_message(
    session: AsyncSession,
    policy: ledger.LedgerPolicy,
    *,
    cohort: Cohort,
    discord_id: int,
    now: datetime,
    credit: bool = True,
) -> Participation | None:
    """A member wrote in the cohort's thread: the week's message count, and (once per member and week) the
    member's participation (a ``replied`` check-in unless they clicked) and a ``prompt_reply`` ledger event."""
    starts_at = aware(cohort.starts_at)
    assert starts_at is not None
    week = week_of(starts_at, cohort.zone, now)
    if not 1 <= week <= cohort.weeks:
        return None
    insert = dialect_insert(session, CohortWeek).values(cohort_id=cohort.id, week=week, messages=1)
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=["cohort_id", "week"], set_={"messages": CohortWeek.messages + 1}
        )
    )
    if not credit:
        return Participation(cohort.id, week, None)
    found = await active_membership(session, cohort.guild_id, discord_id, cohort.id)
    if found is None:
        return Participation(cohort.id, week, None)  # a maintainer or facilitator from outside: activity only
    member = found[0]
    week_row = await session.get(CohortWeek, (cohort.id, week))
    if week_row is not None and week_row.closed_at is not None:
        return Participation(cohort.id, week, None)
    checkin = dialect_insert(session, CohortCheckin).values(
        cohort_id=cohort.id, member_id=member.id, week=week, status="replied", at=now, messages=1
    )
    await session.execute(
        checkin.on_conflict_do_update(
            index_elements=["cohort_id", "member_id", "week"], set_={"messages": CohortCheckin.messages + 1}
        )
    )
    result = await ledger.record_event(
        session,
        policy,
        guild_id=cohort.guild_id,
        member_id=member.id,
        kind=PROMPT_REPLY,
        reference=f"cohort:{cohort.id}:week:{week}",
        at=now,
        now=now,
    )
    return Participation(cohort.id, week, None if result.duplicate else member.id, bool(result.awarded))


async def took_part(
    session: AsyncSession,
    policy: ledger.LedgerPolicy,
    *,
    cohort: Cohort,
    week: int,
    replies: dict[int, datetime],
    now: datetime,
) -> list[int]:
    """Replies found in the thread's history as the week closes (written while the bot was away, so no message
    event reached it): each author who is an active member of the cohort and has nothing for the week yet gets
    ``replied`` and the week's ``prompt_reply``, as a live reply would have given them. ``replies`` maps a
    Discord id to the time of their first reply that week. Returns the members (members.id) credited."""
    credited: list[int] = []
    for discord_id, at in replies.items():
        found = await active_membership(session, cohort.guild_id, discord_id, cohort.id)
        if found is None:
            continue
        member = found[0]
        checkin = dialect_insert(session, CohortCheckin).values(
            cohort_id=cohort.id, member_id=member.id, week=week, status="replied", at=at, messages=1
        )
        await session.execute(checkin.on_conflict_do_nothing(index_elements=["cohort_id", "member_id", "week"]))
        result = await ledger.record_event(
            session,
            policy,
            guild_id=cohort.guild_id,
            member_id=member.id,
            kind=PROMPT_REPLY,
            reference=f"cohort:{cohort.id}:week:{week}",
            at=at,
            now=now,
        )
        if not result.duplicate:
            credited.append(member.id)
    return credited


# -- closing a week -----------------------------------------------------------------------------------------------
@dataclass
class Closed:
    cohort_id: int
    week: int
    already: bool = False
    missed: list[int] = field(default_factory=list)  # members.id
    nudged: list[int] = field(default_factory=list)
    offered: list[int] = field(default_factory=list)
    milestone: int | None = None
    ended: bool = False
    ledger_members: list[int] = field(default_factory=list)
    badges: bool = False


async def close_week(
    session: AsyncSession,
    policy: ledger.LedgerPolicy,
    *,
    cohort_id: int,
    week: int,
    now: datetime,
    misses_before_nudge: int,
    misses_before_move: int,
) -> Closed:
    """Close week ``week`` once (guarded by ``closed_at IS NULL`` in this transaction): members with neither a
    check-in nor a reply get ``missed``; streaks and miss counters move; at ``misses_before_nudge`` misses in a
    row a kind DM (and a word to the facilitator), at ``misses_before_move`` a move offer (once), each a durable
    reminder; weeks 4, 8 and 12 are milestones; after the last week the cohort ends."""
    cohort = await session.get(Cohort, cohort_id)
    if cohort is None or cohort.state != "active":
        return Closed(cohort_id, week, already=True)
    await _week_row(session, cohort_id, week)
    claimed = await session.execute(
        update(CohortWeek)
        .where(CohortWeek.cohort_id == cohort_id, CohortWeek.week == week, CohortWeek.closed_at.is_(None))
        .values(closed_at=now)
    )
    if claimed.rowcount != 1:
        return Closed(cohort_id, week, already=True)
    row = await session.get(CohortWeek, (cohort_id, week), populate_existing=True)
    assert row is not None
    result = Closed(cohort_id, week)
    last = week >= cohort.weeks
    counted = row.posted_at is not None  # a skipped week had nothing to check in to: nobody missed it
    members = list(
        (
            await session.execute(
                select(CohortMember, Member.discord_id)
                .join(Member, Member.id == CohortMember.member_id)
                .where(CohortMember.cohort_id == cohort_id, CohortMember.state == "active")
                .order_by(CohortMember.member_id)
            )
        ).all()
    )
    checkins = {
        c.member_id: c
        for c in await session.scalars(
            select(CohortCheckin).where(CohortCheckin.cohort_id == cohort_id, CohortCheckin.week == week)
        )
    }
    facilitator_discord = None
    if cohort.facilitator_id is not None:
        facilitator_discord = await session.scalar(
            select(Member.discord_id).where(Member.id == cohort.facilitator_id)
        )
    reminders: list[dict[str, Any]] = []
    for cm, discord_id in members:
        if not counted:
            continue
        checkin = checkins.get(cm.member_id)
        if checkin is not None and checkin.status in TOOK_PART:
            cm.streak += 1
            cm.best_streak = max(cm.best_streak, cm.streak)
            cm.missed_in_a_row = 0
            continue
        if checkin is None:
            session.add(
                CohortCheckin(cohort_id=cohort_id, member_id=cm.member_id, week=week, status="missed", at=now)
            )
        cm.streak = 0
        cm.missed_in_a_row += 1
        cm.missed_total += 1
        result.missed.append(cm.member_id)
        if last:
            continue  # the cohort ends now: no nudges or offers
        if cm.missed_in_a_row == misses_before_nudge:
            result.nudged.append(cm.member_id)
            reminders.append(
                reminder_row(
                    MISS_DM,
                    cohort.guild_id,
                    discord_id,
                    f"cohort:{cohort_id}:miss:{cm.member_id}:{week}",
                    now,
                    now,
                    cohort_id=cohort_id,
                    week=week,
                    missed=cm.missed_in_a_row,
                )
            )
            if facilitator_discord is not None and cm.member_id != cohort.facilitator_id:
                reminders.append(
                    reminder_row(
                        FACILITATOR_DM,
                        cohort.guild_id,
                        facilitator_discord,
                        f"cohort:{cohort_id}:fac:{cm.member_id}:{week}",
                        now,
                        now,
                        cohort_id=cohort_id,
                        week=week,
                        member_discord_id=discord_id,
                        missed=cm.missed_in_a_row,
                    )
                )
        if cm.missed_in_a_row >= misses_before_move and cm.move_offered_at is None:
            cm.move_offered_at = now
            result.offered.append(cm.member_id)
            reminders.append(
                reminder_row(
                    MOVE_OFFER,
                    cohort.guild_id,
                    discord_id,
                    f"cohort:{cohort_id}:move:{cm.member_id}",
                    now,
                    now,
                    cohort_id=cohort_id,
                    missed=cm.missed_in_a_row,
                )
            )
    active_ids = [cm.member_id for cm, _d in members]
    if last:
        cohort.state, cohort.ended_at = "ended", now
        await session.flush()  # this week's misses and streaks, before the tally
        took_part = await _weeks_taken_part(session, cohort_id)
        posted = await session.scalar(
            select(func.count())
            .select_from(CohortWeek)
            .where(CohortWeek.cohort_id == cohort_id, CohortWeek.posted_at.is_not(None))
        )
        completed = [m for m in active_ids if took_part.get(m, 0) > 0 and 2 * took_part.get(m, 0) >= (posted or 0)]
        for cm, _d in members:
            cm.state, cm.left_at = ("completed" if cm.member_id in completed else LAPSED), now
        result.ended = True
        active_ids = completed  # the completion credit below: only those who completed
        await drop_milestone_reminders(session, cohort_id, now, "the cohort ended")
        await _credit(
            session, policy, result, cohort, active_ids, COHORT_COMPLETED, f"cohort:{cohort_id}:completed", now
        )
        reminders.append(
            reminder_row(FINISH, cohort.guild_id, cohort_id, f"cohort:{cohort_id}:finish", now, now, week=week)
        )
    elif week in MILESTONE_WEEKS:
        result.milestone = week
        await _credit(
            session,
            policy,
            result,
            cohort,
            active_ids,
            COHORT_MILESTONE,
            f"cohort:{cohort_id}:milestone:{week}",
            now,
        )
        reminders.append(
            reminder_row(
                CELEBRATE, cohort.guild_id, cohort_id, f"cohort:{cohort_id}:celebrate:{week}", now, now, week=week
            )
        )
    await add_reminder_rows(session, reminders)
    return result


async def _weeks_taken_part(session: AsyncSession, cohort_id: int) -> dict[int, int]:
    """Per member, the weeks of the cohort they took part in (a check-in answer or a reply)."""
    rows = await session.execute(
        select(CohortCheckin.member_id, func.count())
        .where(CohortCheckin.cohort_id == cohort_id, CohortCheckin.status.in_(TOOK_PART))
        .group_by(CohortCheckin.member_id)
    )
    return {member_id: count for member_id, count in rows.all()}


async def _credit(
    session: AsyncSession,
    policy: ledger.LedgerPolicy,
    result: Closed,
    cohort: Cohort,
    member_ids: list[int],
    kind: str,
    reference: str,
    now: datetime,
) -> None:
    await ledger.lock_members(session, member_ids)
    for member_id in member_ids:
        recorded = await ledger.record_event(
            session,
            policy,
            guild_id=cohort.guild_id,
            member_id=member_id,
            kind=kind,
            reference=reference,
            at=now,
            now=now,
        )
        if not recorded.duplicate:
            result.ledger_members.append(member_id)
            result.badges = result.badges or bool(recorded.awarded)


# -- moving to the next cohort ------------------------------------------------------------------------------------
class MoveRefused(Exception):
    """Why a move cannot happen, in words for the member."""


async def move_member(
    session: AsyncSession, *, guild_id: int, cohort_id: int, discord_id: int, now: datetime
) -> int:
    """Take the offered move: the membership becomes ``moved``, the member is back in the pool (a signup row),
    and their removal from the thread is a durable reminder in the same transaction. Returns the thread id.

    Back in the pool with the availability days and volunteering they had when grouped (the formation's plan
    keeps that snapshot of the pool; the signup row itself went at placement), in sign-up order as of their
    placement (their first sign-up time is not kept). A facilitator who moves hands over to the most experienced
    remaining member (earliest onboarded), or to nobody, said in the thread (a durable reminder)."""
    found = await active_membership(session, guild_id, discord_id, cohort_id)
    if found is None:
        raise MoveRefused("You are no longer an active member of that cohort, so there is nothing to move.")
    member, cm, cohort = found
    if cm.move_offered_at is None:
        raise MoveRefused("A move has not been offered for this cohort.")
    cm.state, cm.left_at = "moved", now
    await drop_milestone_reminders(session, cohort_id, now, "the owner moved to the next cohort", member.id)
    days, volunteer = None, False
    if cohort.formation_id is not None:
        formation = await session.get(CohortFormation, cohort.formation_id)
        entry = (formation.plan.get("pool") or {}).get(str(member.id)) if formation is not None else None
        if isinstance(entry, list) and len(entry) >= 2:
            days, volunteer = entry[0], bool(entry[1])
    await session.execute(
        dialect_insert(session, CohortSignup)
        .values(
            member_id=member.id, guild_id=guild_id, joined_at=aware(cm.joined_at), days=days, facilitate=volunteer
        )
        .on_conflict_do_nothing(index_elements=["member_id"])
    )
    rows = []
    if cohort.facilitator_id == member.id:
        successor = (
            await session.execute(
                select(Member.id, Member.discord_id)
                .join(CohortMember, CohortMember.member_id == Member.id)
                .where(
                    CohortMember.cohort_id == cohort_id,
                    CohortMember.state == "active",
                    CohortMember.member_id != member.id,
                )
                .order_by(Member.onboarded_at.is_(None), Member.onboarded_at, Member.id)
                .limit(1)
            )
        ).first()
        cohort.facilitator_id = successor[0] if successor is not None else None
        if cohort.thread_id is not None:
            rows.append(
                reminder_row(
                    FACILITATOR_CHANGED,
                    guild_id,
                    cohort.thread_id,
                    f"cohort:{cohort_id}:facilitator:{member.id}:{now.isoformat()}",
                    now,
                    now,
                    cohort_id=cohort_id,
                    facilitator=successor[1] if successor is not None else None,
                )
            )
    if cohort.thread_id is not None:
        await add_reminder_rows(
            session,
            [
                *rows,
                reminder_row(
                    THREAD_REMOVE,
                    guild_id,
                    cohort.thread_id,
                    f"cohort:{cohort_id}:remove:{member.id}",
                    now,
                    now,
                    user_id=discord_id,
                    cohort_id=cohort_id,
                ),
            ],
        )
    return cohort.thread_id or 0


# -- status -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MemberStatus:
    cohort_id: int
    name: str
    state: str
    thread_id: int | None
    week: int
    weeks: int
    topic_week: int
    next_meeting: datetime | None
    zone: str
    streak: int
    best_streak: int
    missed_in_a_row: int
    member_zone: str | None
    this_week: str | None


async def member_status(
    session: AsyncSession, guild_id: int, discord_id: int, now: datetime
) -> MemberStatus | None:
    """The member's active cohort, else the one they were last in."""
    row = (
        await session.execute(
            select(Member, CohortMember, Cohort)
            .join(CohortMember, CohortMember.member_id == Member.id)
            .join(Cohort, Cohort.id == CohortMember.cohort_id)
            .where(Member.guild_id == guild_id, Member.discord_id == discord_id)
            .order_by((CohortMember.state == "active").desc(), CohortMember.joined_at.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    member, cm, cohort = row
    starts_at = aware(cohort.starts_at)
    assert starts_at is not None
    week = week_of(starts_at, cohort.zone, now)
    this_week = None
    if 1 <= week <= cohort.weeks:
        checkin = await session.get(CohortCheckin, (cohort.id, member.id, week))
        this_week = checkin.status if checkin is not None else None
    active = cohort.state == "active" and cm.state == "active"
    return MemberStatus(
        cohort.id,
        cohort.name,
        cm.state if cohort.state != "ended" or cm.state != "active" else "completed",
        cohort.thread_id,
        week,
        cohort.weeks,
        min(max(week, 1), cohort.weeks),
        next_meeting(cohort, now) if active else None,
        cohort.zone,
        cm.streak,
        cm.best_streak,
        cm.missed_in_a_row,
        member.timezone,
        this_week,
    )


@dataclass(frozen=True)
class Health:
    cohort_id: int
    number: int
    name: str
    state: str
    thread_id: int | None
    week: int
    weeks: int
    active_members: int
    last_closed_week: int | None
    checkin_rate: float | None  # of last closed week: took part / counted members
    quiet_weeks: int
    at_risk: int
    skipped_weeks: int


async def health(
    session: AsyncSession, guild_id: int, now: datetime, *, include_ended: bool = False
) -> list[Health]:
    """Every cohort's health in a handful of set-based queries (no per-cohort query): 200 cohorts, one page."""
    states = ("active", "ended") if include_ended else ("active",)
    cohorts = list(
        await session.scalars(
            select(Cohort).where(Cohort.guild_id == guild_id, Cohort.state.in_(states)).order_by(Cohort.number)
        )
    )
    if not cohorts:
        return []
    ids = [c.id for c in cohorts]
    active = dict(
        (
            await session.execute(
                select(CohortMember.cohort_id, func.count())
                .where(CohortMember.cohort_id.in_(ids), CohortMember.state == "active")
                .group_by(CohortMember.cohort_id)
            )
        ).all()
    )
    at_risk = dict(
        (
            await session.execute(
                select(CohortMember.cohort_id, func.count())
                .where(
                    CohortMember.cohort_id.in_(ids),
                    CohortMember.state == "active",
                    CohortMember.missed_in_a_row > 0,
                )
                .group_by(CohortMember.cohort_id)
            )
        ).all()
    )
    weeks = (
        await session.execute(
            select(
                CohortWeek.cohort_id,
                func.max(CohortWeek.week).filter(CohortWeek.closed_at.is_not(None)),
                func.count().filter(and_(CohortWeek.closed_at.is_not(None), CohortWeek.messages == 0)),
                func.count().filter(CohortWeek.skipped.is_not(None)),
            )
            .where(CohortWeek.cohort_id.in_(ids))
            .group_by(CohortWeek.cohort_id)
        )
    ).all()
    week_info = {cid: (last, quiet, skipped) for cid, last, quiet, skipped in weeks}
    last_closed = {cid: info[0] for cid, info in week_info.items() if info[0] is not None}
    rates: dict[int, float] = {}
    if last_closed:
        pairs = [and_(CohortCheckin.cohort_id == cid, CohortCheckin.week == w) for cid, w in last_closed.items()]
        tally = (
            await session.execute(
                select(
                    CohortCheckin.cohort_id,
                    func.count().filter(CohortCheckin.status.in_(TOOK_PART)),
                    func.count(),
                )
                .where(or_(*pairs))
                .group_by(CohortCheckin.cohort_id)
            )
        ).all()
        rates = {cid: took / total for cid, took, total in tally if total}
    out = []
    for c in cohorts:
        starts_at = aware(c.starts_at)
        assert starts_at is not None
        last, quiet, skipped = week_info.get(c.id, (None, 0, 0))
        out.append(
            Health(
                c.id,
                c.number,
                c.name,
                c.state,
                c.thread_id,
                min(week_of(starts_at, c.zone, now), c.weeks + 1),
                c.weeks,
                active.get(c.id, 0),
                last,
                rates.get(c.id),
                quiet or 0,
                at_risk.get(c.id, 0),
                skipped or 0,
            )
        )
    return out
