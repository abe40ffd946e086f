"""Group projects of a cohort (``/cohort project``): projects, milestones with an owner and a due time, their
reminders and their completion in the ledger. No discord import.

Points are for work, not for typing commands: a project completes only with at least one milestone, all done;
``project_completed`` goes to the members who created it or own one of its done milestones (still active in the
cohort), and only for a cohort's first ``CREDITED_PROJECTS`` completed projects; a milestone credits its owner
(once, still active, at most ``CREDITED_MILESTONES`` per member per cohort) only if it was set at least
``MILESTONE_MIN_AGE`` before it was marked done; one whose owner erased their data credits nobody. A cohort has
at most ``MAX_OPEN_PROJECTS`` open projects and a project at most ``MAX_MILESTONES`` milestones.

A milestone's due time is typed in the author's own time zone (their profile's, else UTC), parsed here and shown
back as the instant it became. Its reminders (a day before and at the due time, to the owner) are durable
reminders scheduled in the same transaction as the milestone, and dropped when it is marked done.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import String, cast, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import ledger, reminders, text
from cogs.cohorts.weekly import MILESTONE_DUE, active_membership, add_reminder_rows, aware, reminder_row
from models import LedgerEvent, Member
from models.cohorts import Cohort, CohortMember, CohortMilestone, CohortProject

PROJECT_MILESTONE, PROJECT_COMPLETED = "project_milestone", "project_completed"
DAY_BEFORE = timedelta(days=1)
_DUE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]+(\d{1,2}):(\d{2}))?\s*$")
END_OF_DAY = time(23, 59)
# A cohort's completed projects that earn project_completed: a group runs one or two real projects in a cohort;
# more completions are welcome but earn nothing (else creating and completing projects farms points).
CREDITED_PROJECTS = 2
MAX_OPEN_PROJECTS = 5
MAX_MILESTONES = 20
# A milestone set and ticked off within a day earns nothing: it was not a plan.
MILESTONE_MIN_AGE = timedelta(hours=24)
# Credited milestones per member per cohort: a real plan gives a member a handful over a cohort's weeks; without a
# cap, setting many milestones, waiting a day and ticking them off farms points (done ones free their slots).
CREDITED_MILESTONES = 8


class ProjectError(Exception):
    """A mistake the member can fix, in words for them."""


def parse_due(typed: str, zone: str | None, now: datetime) -> tuple[datetime, str]:
    """``YYYY-MM-DD HH:MM`` (or a date alone: the end of that day) in ``zone`` -> (UTC instant, how it was read).
    A time that does not exist in the zone (the spring DST gap) is refused rather than silently moved."""
    match = _DUE.match(typed)
    if match is None:
        raise ProjectError(
            "Write the due time as YYYY-MM-DD HH:MM (24-hour), or YYYY-MM-DD for the end of that day."
        )
    y, m, d = (int(match.group(i)) for i in (1, 2, 3))
    try:
        day = date(y, m, d)
        at = time(int(match.group(4)), int(match.group(5))) if match.group(4) is not None else END_OF_DAY
    except ValueError:
        raise ProjectError("That date or time does not exist; use YYYY-MM-DD HH:MM (24-hour).") from None
    tz = ZoneInfo(zone or "UTC")
    local = datetime.combine(day, at, tzinfo=tz)
    instant = local.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise ProjectError(
            f"{day} {at:%H:%M} does not exist in {zone or 'UTC'} (the clocks skip it); pick another time."
        )
    if instant <= now:
        raise ProjectError("That due time is in the past; pick a time in the future.")
    if instant > now + timedelta(days=366):
        raise ProjectError("Pick a due time within the next year.")
    return instant, f"{day:%a %d %b %Y} {at:%H:%M} {zone or 'UTC'}"


async def _membership(
    session: AsyncSession, guild_id: int, discord_id: int
) -> tuple[Member, CohortMember, Cohort]:
    found = await active_membership(session, guild_id, discord_id)
    if found is None:
        raise ProjectError("You are not in an active cohort; projects belong to a cohort.")
    return found


def _clean_title(value: str, what: str, limit: int) -> str:
    value = text.clean(value).strip()
    if not value or text.is_blank(value):
        raise ProjectError(f"The {what} cannot be empty.")
    if len(value) > limit:
        raise ProjectError(f"The {what} can be at most {limit} characters.")
    return value


async def create_project(
    session: AsyncSession, *, guild_id: int, discord_id: int, title: str, description: str, now: datetime
) -> tuple[CohortProject, Cohort]:
    member, _cm, cohort = await _membership(session, guild_id, discord_id)
    title = _clean_title(title, "title", 100)
    description = text.clean(description or "").strip()[:1000]
    existing = await session.scalar(
        select(CohortProject.id).where(CohortProject.cohort_id == cohort.id, CohortProject.title == title)
    )
    if existing is not None:
        raise ProjectError("Your cohort already has a project with that title.")
    open_projects = await session.scalar(
        select(func.count())
        .select_from(CohortProject)
        .where(CohortProject.cohort_id == cohort.id, CohortProject.completed_at.is_(None))
    )
    if (open_projects or 0) >= MAX_OPEN_PROJECTS:
        raise ProjectError(
            f"Your cohort already has {MAX_OPEN_PROJECTS} open projects: complete one before registering another."
        )
    project = CohortProject(
        cohort_id=cohort.id, title=title, description=description, created_by=member.id, created_at=now
    )
    session.add(project)
    await session.flush()
    return project, cohort


async def _project(session: AsyncSession, cohort: Cohort, project_id: int) -> CohortProject:
    project = await session.get(CohortProject, project_id)
    if project is None or project.cohort_id != cohort.id:
        raise ProjectError("That is not one of your cohort's projects; pick one from the list.")
    return project


@dataclass(frozen=True)
class MilestoneAdded:
    milestone: CohortMilestone
    project: CohortProject
    shown: str  # how the due time was read, in the author's zone
    reminders: int


async def add_milestone(
    session: AsyncSession,
    *,
    guild_id: int,
    discord_id: int,
    project_id: int,
    title: str,
    owner_discord_id: int,
    due: str,
    now: datetime,
) -> MilestoneAdded:
    member, _cm, cohort = await _membership(session, guild_id, discord_id)
    project = await _project(session, cohort, project_id)
    if project.completed_at is not None:
        raise ProjectError("That project is already complete.")
    title = _clean_title(title, "milestone title", 100)
    count = await session.scalar(
        select(func.count()).select_from(CohortMilestone).where(CohortMilestone.project_id == project.id)
    )
    if (count or 0) >= MAX_MILESTONES:
        raise ProjectError(f"A project can have at most {MAX_MILESTONES} milestones.")
    owner = await active_membership(session, guild_id, owner_discord_id, cohort.id)
    if owner is None:
        raise ProjectError("The owner must be an active member of your cohort.")
    due_at, shown = parse_due(due, member.timezone, now)
    milestone = CohortMilestone(
        project_id=project.id, title=title, owner_id=owner[0].id, due_at=due_at, created_at=now
    )
    session.add(milestone)
    await session.flush()
    rows = []
    for which, at in (("day", due_at - DAY_BEFORE), ("due", due_at)):
        if at > now:
            row = reminder_row(
                MILESTONE_DUE,
                guild_id,
                owner_discord_id,
                f"milestone:{milestone.id}:{which}",
                at,
                now,
                milestone_id=milestone.id,
                which=which,
            )
            row["expires_at"] = due_at + timedelta(hours=12)  # a reminder found later than that is pointless
            rows.append(row)
    added = await add_reminder_rows(session, rows)
    return MilestoneAdded(milestone, project, shown, added)


@dataclass(frozen=True)
class Done:
    title: str
    project_title: str
    credited: list[int]  # members.id credited in the ledger now
    badges: bool
    open_left: int = 0
    # Why nobody was credited, when nobody was (for the member's reply).
    uncredited: str = ""


async def complete_milestone(
    session: AsyncSession,
    policy: ledger.LedgerPolicy,
    *,
    guild_id: int,
    discord_id: int,
    milestone_id: int,
    now: datetime,
) -> Done:
    member, _cm, cohort = await _membership(session, guild_id, discord_id)
    milestone = await session.get(CohortMilestone, milestone_id)
    project = await session.get(CohortProject, milestone.project_id) if milestone is not None else None
    if milestone is None or project is None or project.cohort_id != cohort.id:
        raise ProjectError("That is not one of your cohort's milestones; pick one from the list.")
    if milestone.done_at is not None:
        raise ProjectError("That milestone is already done.")
    milestone.done_at, milestone.done_by = now, member.id
    for which in ("day", "due"):
        await reminders.drop_pending(
            session,
            kind=MILESTONE_DUE,
            dedupe_key=f"milestone:{milestone.id}:{which}",
            at=now,
            why="milestone done",
        )
    credited: list[int] = []
    badges, uncredited = False, ""
    owner = milestone.owner_id  # None: the owner erased their data; the member ticking it off is not them
    created_at = aware(milestone.created_at)
    owner_active = (
        await session.scalar(
            select(CohortMember.member_id).where(
                CohortMember.cohort_id == cohort.id,
                CohortMember.member_id == owner,
                CohortMember.state == "active",
            )
        )
        if owner is not None
        else None
    )
    if owner is None or owner_active is None:
        uncredited = "Its owner is no longer in the cohort, so it earns no points."
    elif created_at is not None and now - created_at < MILESTONE_MIN_AGE:
        uncredited = "It was set less than a day ago, so it earns no points."
    else:
        # The owner locked (PostgreSQL; on SQLite the done_at write above already holds the write lock) before
        # counting, so two completions at once do not both pass the cap.
        await ledger.lock_members(session, [owner])
        if await _credited_milestones(session, cohort.id, owner) >= CREDITED_MILESTONES:
            uncredited = (
                f"No points: the cap ({CREDITED_MILESTONES} credited milestones a member per cohort) is reached."
            )
        else:
            recorded = await ledger.record_event(
                session,
                policy,
                guild_id=guild_id,
                member_id=owner,
                kind=PROJECT_MILESTONE,
                reference=f"milestone:{milestone.id}",
                at=now,
                now=now,
            )
            if not recorded.duplicate:
                credited.append(owner)
                badges = bool(recorded.awarded)
    open_left = len(
        list(
            await session.scalars(
                select(CohortMilestone.id).where(
                    CohortMilestone.project_id == project.id, CohortMilestone.done_at.is_(None)
                )
            )
        )
    )
    return Done(milestone.title, project.title, credited, badges, open_left, uncredited)


async def _credited_milestones(session: AsyncSession, cohort_id: int, member_id: int) -> int:
    """How many of this cohort's milestones credited ``member_id`` in the ledger."""
    cohort_refs = (
        select(literal("milestone:") + cast(CohortMilestone.id, String))
        .join(CohortProject, CohortProject.id == CohortMilestone.project_id)
        .where(CohortProject.cohort_id == cohort_id)
    )
    counted = await session.scalar(
        select(func.count())
        .select_from(LedgerEvent)
        .where(
            LedgerEvent.member_id == member_id,
            LedgerEvent.kind == PROJECT_MILESTONE,
            LedgerEvent.reference.in_(cohort_refs),
        )
    )
    return counted or 0


async def complete_project(
    session: AsyncSession,
    policy: ledger.LedgerPolicy,
    *,
    guild_id: int,
    discord_id: int,
    project_id: int,
    now: datetime,
) -> Done:
    _member, _cm, cohort = await _membership(session, guild_id, discord_id)
    project = await _project(session, cohort, project_id)
    if project.completed_at is not None:
        raise ProjectError("That project is already complete.")
    milestones = list(
        await session.scalars(select(CohortMilestone).where(CohortMilestone.project_id == project.id))
    )
    if not milestones:
        raise ProjectError("A project completes through its milestones: add one with `/cohort project milestone`.")
    open_count = sum(1 for m in milestones if m.done_at is None)
    if open_count:
        raise ProjectError(f"{open_count} milestone(s) of that project are still open: mark them done first.")
    # The cohort's row locked before counting, so two completions at once do not both count as the last credited
    # one: PostgreSQL's row lock; on SQLite a write (a no-op UPDATE) takes the write lock (the WriteGate), as
    # FOR UPDATE does nothing there and the count would be read before either completion is written.
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(Cohort.id).where(Cohort.id == cohort.id).with_for_update())
    else:
        await session.execute(update(Cohort).where(Cohort.id == cohort.id).values(id=Cohort.id))
    earlier = await session.scalar(
        select(func.count())
        .select_from(CohortProject)
        .where(CohortProject.cohort_id == cohort.id, CohortProject.completed_at.is_not(None))
    )
    project.completed_at = now
    if (earlier or 0) >= CREDITED_PROJECTS:
        why = f"Only a cohort's first {CREDITED_PROJECTS} completed projects earn points."
        return Done(project.title, project.title, [], False, uncredited=why)
    # Who worked on it: its creator and the owners of its milestones (all done by now), still in the cohort.
    workers = {m.owner_id for m in milestones if m.owner_id is not None}
    if project.created_by is not None:
        workers.add(project.created_by)
    members = sorted(
        await session.scalars(
            select(CohortMember.member_id).where(
                CohortMember.cohort_id == cohort.id,
                CohortMember.state == "active",
                CohortMember.member_id.in_(workers or {0}),
            )
        )
    )
    await ledger.lock_members(session, members)
    credited: list[int] = []
    badges = False
    for member_id in members:
        recorded = await ledger.record_event(
            session,
            policy,
            guild_id=guild_id,
            member_id=member_id,
            kind=PROJECT_COMPLETED,
            reference=f"project:{project.id}",
            at=now,
            now=now,
        )
        if not recorded.duplicate:
            credited.append(member_id)
            badges = badges or bool(recorded.awarded)
    return Done(project.title, project.title, credited, badges)


@dataclass(frozen=True)
class MilestoneView:
    id: int
    title: str
    owner_discord_id: int | None
    due_at: datetime
    done_at: datetime | None


@dataclass(frozen=True)
class ProjectView:
    id: int
    title: str
    description: str
    completed_at: datetime | None
    milestones: list[MilestoneView]


async def list_projects(
    session: AsyncSession, *, guild_id: int, discord_id: int
) -> tuple[Cohort, list[ProjectView]]:
    _member, _cm, cohort = await _membership(session, guild_id, discord_id)
    projects = list(
        await session.scalars(
            select(CohortProject).where(CohortProject.cohort_id == cohort.id).order_by(CohortProject.id)
        )
    )
    rows = (
        await session.execute(
            select(CohortMilestone, Member.discord_id)
            .outerjoin(Member, Member.id == CohortMilestone.owner_id)
            .where(CohortMilestone.project_id.in_([p.id for p in projects] or [0]))
            .order_by(CohortMilestone.due_at, CohortMilestone.id)
        )
    ).all()
    by_project: dict[int, list[MilestoneView]] = {}
    for m, owner in rows:
        by_project.setdefault(m.project_id, []).append(
            MilestoneView(m.id, m.title, owner, aware(m.due_at) or m.due_at, aware(m.done_at))
        )
    return cohort, [
        ProjectView(p.id, p.title, p.description, aware(p.completed_at), by_project.get(p.id, []))
        for p in projects
    ]


@dataclass(frozen=True)
class DueReminder:
    milestone_id: int
    title: str
    project_title: str
    due_at: datetime
    thread_id: int | None
    done: bool
    # Whether reminding still makes sense: the cohort active and the owner still an active member of it.
    live: bool = True


async def milestone_for_reminder(session: AsyncSession, milestone_id: int) -> DueReminder | None:
    row = (
        await session.execute(
            select(CohortMilestone, CohortProject, Cohort)
            .join(CohortProject, CohortProject.id == CohortMilestone.project_id)
            .join(Cohort, Cohort.id == CohortProject.cohort_id)
            .where(CohortMilestone.id == milestone_id)
        )
    ).first()
    if row is None:
        return None
    m, p, c = row
    owner_active = await session.scalar(
        select(CohortMember.member_id).where(
            CohortMember.cohort_id == c.id, CohortMember.member_id == m.owner_id, CohortMember.state == "active"
        )
    )
    live = c.state == "active" and owner_active is not None
    return DueReminder(
        m.id, m.title, p.title, aware(m.due_at) or m.due_at, c.thread_id, m.done_at is not None, live
    )
