"""Forming's rules on the database: the pool (join, leave, facilitate), formation runs (preview, discard,
confirm), the Discord steps' record (thread, members added, welcome, told) and the members' data. Never imports
discord.

A member is placed by ONE transaction (``confirm_formation``): the formation is claimed with one conditional
UPDATE (``state = 'preview'`` -> ``confirmed``, so a double click or two maintainers at once confirm it once), the
cohorts and their members are inserted, and the members' sign-ups deleted. The partial unique index on
``cohort_members`` (one active cohort per member) is the last guard: whatever races past the state check cannot
place anyone twice. The Discord work that follows is recorded step by step here (``thread_id`` as soon as the
thread exists, ``added_at`` per member, ``welcome_message_id``, ``state = 'active'``, ``told_at``), so a Discord
error half-way is resumed from where it stopped, never redone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot import reminders
from bot.db import dialect_insert
from bot.privacy import DataSubject, MemberDataHandler
from cogs.cohorts.plan import Plan, PoolMember, first_week_start, snapshot_entry
from cogs.cohorts.weekly import FACILITATOR_CHANGED, FACILITATOR_DM, THREAD_REMOVE
from models import Cohort, CohortCheckin, CohortFormation, CohortMember, CohortSignup, Member, Reminder
from models.cohorts import CohortMilestone, CohortProject

FORMING, ACTIVE, ENDED = "forming", "active", "ended"
# A cohort member's state when Discord refused to add them to the thread (403 Missing Access: they cannot see the
# study-groups channel); they are out of the cohort and named in the maintainer's report.
REFUSED = "refused"
PREVIEW, CONFIRMED, DISCARDED, STALE = "preview", "confirmed", "discarded", "stale"
FACILITATOR_STAGES = ("contributor", "teacher")


class CohortError(Exception):
    """A rule said no; the message says why and what to do (the cog shows it ephemerally)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- the pool -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Membership:
    cohort_id: int
    number: int
    name: str
    state: str
    thread_id: int | None


async def current_cohort(session: AsyncSession, member_id: int) -> Membership | None:
    """The member's cohort (forming or active) if they are an active member of one."""
    row = (
        await session.execute(
            select(Cohort.id, Cohort.number, Cohort.name, Cohort.state, Cohort.thread_id)
            .join(CohortMember, CohortMember.cohort_id == Cohort.id)
            .where(CohortMember.member_id == member_id, CohortMember.state == "active", Cohort.state != ENDED)
        )
    ).first()
    return Membership(*row) if row is not None else None


def _ready_for_pool(member: Member | None) -> Member:
    if member is None or member.onboarded_at is None or member.left_at is not None:
        raise CohortError(
            "Finish onboarding first (`/onboard`): a cohort is matched on your profile's time zone, skill and "
            "weekly hours."
        )
    if not member.timezone:
        raise CohortError(
            "Your profile has no time zone, and cohorts meet at a time that suits everyone's: set it with "
            "`/profile edit timezone:` and try again."
        )
    return member


@dataclass(frozen=True)
class JoinResult:
    outcome: str  # joined | updated | unchanged
    days: tuple[int, ...] | None
    joined_at: datetime
    volunteer: bool


async def join_pool(
    session: AsyncSession,
    guild_id: int,
    member: Member | None,
    now: datetime,
    *,
    days: frozenset[int] | None = None,
    days_given: bool = False,
    volunteer: bool = False,
) -> JoinResult:
    """Put the member in the pool (``/cohort join``; ``volunteer`` for ``/cohort facilitate``). Refused
    (CohortError, nothing changed) before onboarding, without a time zone, or while in a cohort. Joining again
    updates the availability when one is given (and volunteering), keeping the place in sign-up order."""
    member = _ready_for_pool(member)
    if volunteer and member.stage not in FACILITATOR_STAGES:
        raise CohortError(
            "Facilitating is for Contributors and Teachers (your journey stage is "
            f"{(member.stage or 'not set').title()}). `/cohort join` puts you in the pool as a member, and "
            "`/journey show` shows when you reach Contributor."
        )
    cohort = await current_cohort(session, member.id)
    if cohort is not None:
        raise CohortError(
            f"You are already in {cohort.name}"
            + (f" (<#{cohort.thread_id}>)" if cohort.thread_id else "")
            + ". `/cohort leave` if you want to leave it first."
        )
    stored_days = sorted(days) if days is not None else None
    inserted = await session.scalar(
        dialect_insert(session, CohortSignup)
        .values(member_id=member.id, guild_id=guild_id, joined_at=now, days=stored_days, facilitate=volunteer)
        .on_conflict_do_nothing(index_elements=["member_id"])
        .returning(CohortSignup.member_id)
    )
    signup = await session.get(CohortSignup, member.id, populate_existing=True)
    assert signup is not None
    if inserted is not None:
        return JoinResult("joined", tuple(stored_days) if stored_days is not None else None, now, volunteer)
    changed = False
    if days_given and signup.days != stored_days:
        signup.days = stored_days
        changed = True
    if volunteer and not signup.facilitate:
        signup.facilitate = True
        changed = True
    current = tuple(signup.days) if signup.days is not None else None
    return JoinResult("updated" if changed else "unchanged", current, signup.joined_at, signup.facilitate)


async def leave_pool(session: AsyncSession, member_id: int) -> bool:
    result = await session.execute(delete(CohortSignup).where(CohortSignup.member_id == member_id))
    return bool(result.rowcount)


async def leave_cohort(session: AsyncSession, cohort_id: int, member_id: int, now: datetime) -> Membership | None:
    """The member leaves their cohort (state left); None when they were not an active member of it."""
    cohort = await current_cohort(session, member_id)
    if cohort is None or cohort.cohort_id != cohort_id:
        return None
    await session.execute(
        update(CohortMember)
        .where(
            CohortMember.cohort_id == cohort_id,
            CohortMember.member_id == member_id,
            CohortMember.state == "active",
        )
        .values(state="left", left_at=now)
    )
    return cohort


async def read_pool(session: AsyncSession, guild_id: int) -> list[PoolMember]:
    """The pool in sign-up order, members still on the server with a time zone (the rest cannot be grouped)."""
    rows = await session.execute(
        select(
            CohortSignup.member_id,
            Member.timezone,
            Member.skill,
            Member.weekly_hours,
            Member.onboarded_at,
            CohortSignup.joined_at,
            CohortSignup.days,
            CohortSignup.facilitate,
        )
        .join(Member, Member.id == CohortSignup.member_id)
        .where(CohortSignup.guild_id == guild_id, Member.left_at.is_(None), Member.timezone.is_not(None))
        .order_by(CohortSignup.joined_at, CohortSignup.member_id)
    )
    return [
        PoolMember(
            member_id=r[0],
            timezone=r[1],
            skill=r[2],
            weekly_hours=r[3],
            onboarded_at=r[4],
            joined_at=r[5],
            days=tuple(r[6]) if r[6] is not None else None,
            volunteer=bool(r[7]),
        )
        for r in rows
    ]


async def past_partners(session: AsyncSession, guild_id: int) -> dict[int, set[int]]:
    """Who in the pool was in a cohort with whom before (any state): the grouping's repeat term."""
    other = aliased(CohortMember)
    pool = select(CohortSignup.member_id).where(CohortSignup.guild_id == guild_id)
    rows = await session.execute(
        select(CohortMember.member_id, other.member_id)
        .join(other, and_(other.cohort_id == CohortMember.cohort_id, other.member_id != CohortMember.member_id))
        .where(CohortMember.member_id.in_(pool))
    )
    found: dict[int, set[int]] = {}
    for a, b in rows:
        found.setdefault(a, set()).add(b)
    return found


# -- formations ---------------------------------------------------------------------------------------------------
async def save_formation(
    session: AsyncSession, guild_id: int, created_by: int, plan: Plan, pool_key: str, now: datetime
) -> int:
    """Store a preview; older previews become stale (only the newest can be confirmed)."""
    await session.execute(
        update(CohortFormation)
        .where(CohortFormation.guild_id == guild_id, CohortFormation.state == PREVIEW)
        .values(state=STALE)
    )
    formation = CohortFormation(
        guild_id=guild_id,
        created_by=created_by,
        created_at=now,
        state=PREVIEW,
        plan=plan.to_json(),
        pool_key=pool_key,
        cost=plan.cost,
        random_cost=plan.random_cost,
        greedy_cost=plan.greedy_cost,
    )
    session.add(formation)
    await session.flush()
    return formation.id


async def formation(session: AsyncSession, guild_id: int, formation_id: int) -> CohortFormation | None:
    found = await session.get(CohortFormation, formation_id)
    return found if found is not None and found.guild_id == guild_id else None


CLOSED = {
    CONFIRMED: "This plan was already confirmed.",
    DISCARDED: "This plan was discarded; run `/cohort form` for a new one.",
    STALE: "This preview is out of date: a newer `/cohort form` replaced it. Use the newest preview.",
}


async def discard_formation(session: AsyncSession, guild_id: int, formation_id: int) -> None:
    result = await session.execute(
        update(CohortFormation)
        .where(
            CohortFormation.id == formation_id,
            CohortFormation.guild_id == guild_id,
            CohortFormation.state == PREVIEW,
        )
        .values(state=DISCARDED)
    )
    if not result.rowcount:
        found = await formation(session, guild_id, formation_id)
        raise CohortError(CLOSED.get(found.state, "No such plan.") if found else "No such plan.")


# Discord's limit on a server's active threads (each cohort is one; members' threads and forum posts count too).
MAX_ACTIVE_THREADS = 1000


def thread_limit_text(others: int, running: int, new: int) -> str:
    return (
        f"The server has {others} other active thread(s), {running} cohort(s) are running and this plan adds "
        f"{new}: a server holds at most {MAX_ACTIVE_THREADS} active threads."
    )


class AlreadyConfirmed(CohortError):
    """The formation was confirmed before (a double click, another maintainer): nothing placed again."""


@dataclass(frozen=True)
class Confirmation:
    formation_id: int
    cohort_ids: tuple[int, ...]
    placed: int
    dropped: tuple[int, ...]  # members of the plan who left the pool since the preview


async def confirm_formation(
    session: AsyncSession,
    *,
    guild_id: int,
    formation_id: int,
    by: int,
    now: datetime,
    parent_channel_id: int,
    weeks: int,
    week_post_at: str,
    other_active_threads: int = 0,
) -> Confirmation:
    """Place the previewed plan, in the caller's transaction (see the module docstring). Members who left the
    pool since the preview are dropped and those who joined it since stay in it for the next run; a group that
    would fall below the minimum size, or a member whose availability or time zone changed refuses the whole plan
    (CohortError: run /cohort form again). ``other_active_threads``: the guild's active threads that are not
    cohorts' (members' threads, forum posts), which count toward Discord's limit too. Cohorts are created in state
    forming; week 1 starts as ``plan.first_week_start`` says."""
    claimed = await session.scalar(
        update(CohortFormation)
        .where(
            CohortFormation.id == formation_id,
            CohortFormation.guild_id == guild_id,
            CohortFormation.state == PREVIEW,
        )
        .values(state=CONFIRMED, confirmed_by=by, confirmed_at=now)
        .returning(CohortFormation.id)
    )
    found = await session.get(CohortFormation, formation_id, populate_existing=True)
    if claimed is None or found is None:
        if found is not None and found.guild_id == guild_id and found.state == CONFIRMED:
            raise AlreadyConfirmed(CLOSED[CONFIRMED])
        raise CohortError(CLOSED.get(found.state, "No such plan.") if found else "No such plan.")
    plan = Plan.from_json(found.plan)
    current = {m.member_id: snapshot_entry(m) for m in await read_pool(session, guild_id)}
    again = "Nothing was placed: run `/cohort form` again for a fresh plan."
    # Members who joined the pool since the preview are not in the plan: they stay in the pool for the next run.
    changed = [i for i in plan.pool if i in current and current[i] != plan.pool[i]]
    if changed:
        raise CohortError(
            f"{len(changed)} member(s) changed their availability, volunteering or time zone since this preview. "
            + again
        )
    dropped = {i for i in plan.pool if i not in current}
    min_size = int(plan.settings.get("min_size", 2))
    kept: list[tuple[int, list[int]]] = []
    for k, group in enumerate(plan.groups):
        members = [i for i in group.member_ids if i not in dropped]
        if len(members) < len(group.member_ids) and len(members) < max(2, min_size):
            raise CohortError(
                f"Group {k + 1} would have only {len(members)} member(s): "
                f"{len(group.member_ids) - len(members)} left the pool since this preview. {again}"
            )
        kept.append((k, members))
    if not any(members for _k, members in kept):
        raise CohortError(f"Nobody in this plan is still in the pool. {again}")
    # Every cohort's thread is kept active (unarchived for each week's post): past Discord's limit on active
    # threads its members would be placed in a cohort whose thread Discord refuses.
    running = await running_cohorts(session, guild_id)
    if other_active_threads + running + len(kept) > MAX_ACTIVE_THREADS:
        raise CohortError(
            thread_limit_text(other_active_threads, running, len(kept))
            + " Nothing was placed: let older cohorts end (or threads be archived), or run `/cohort form` with "
            "fewer members in the pool."
        )
    number = await session.scalar(
        select(func.coalesce(func.max(Cohort.number), 0)).where(Cohort.guild_id == guild_id)
    )
    cohorts: list[tuple[Cohort, list[int]]] = []
    for k, members in kept:
        group = plan.groups[k]
        number += 1
        cohort = Cohort(
            guild_id=guild_id,
            formation_id=formation_id,
            number=number,
            name=f"Cohort {number}",
            state=FORMING,
            parent_channel_id=parent_channel_id,
            facilitator_id=members[0],  # the plan lists the facilitator first, then who would replace them
            zone=group.zone,
            meeting_weekday=group.weekday,
            meeting_time=group.at,
            starts_at=first_week_start(group.zone, week_post_at, now),
            weeks=weeks,
            cost=group.cost,
            reasons=list(group.reasons),
            created_at=now,
        )
        session.add(cohort)
        cohorts.append((cohort, members))
    placed = [i for _c, members in cohorts for i in members]
    try:
        await session.flush()
        await session.execute(
            dialect_insert(session, CohortMember),
            [
                {"cohort_id": cohort.id, "member_id": i, "state": "active", "joined_at": now}
                for cohort, members in cohorts
                for i in members
            ],
        )
        await session.execute(delete(CohortSignup).where(CohortSignup.member_id.in_(placed)))
        await session.flush()
    except IntegrityError:
        # Someone in the plan was placed meanwhile (another formation confirmed at the same moment): the index
        # refused a second active cohort, and the caller's transaction rolls back with nothing placed.
        raise CohortError(f"Some of these members were placed in a cohort meanwhile. {again}") from None
    return Confirmation(formation_id, tuple(c.id for c, _m in cohorts), len(placed), tuple(sorted(dropped)))


# -- the Discord steps' record ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MemberStep:
    member_id: int
    discord_id: int
    added_at: datetime | None
    told_at: datetime | None


@dataclass(frozen=True)
class CohortSteps:
    id: int
    guild_id: int
    formation_id: int | None
    number: int
    name: str
    state: str
    parent_channel_id: int
    thread_id: int | None
    welcome_message_id: int | None
    facilitator_discord_id: int | None
    zone: str
    meeting_weekday: int
    meeting_time: str
    starts_at: datetime
    weeks: int
    reasons: tuple[str, ...]
    members: tuple[MemberStep, ...] = field(default_factory=tuple)

    @property
    def pending_adds(self) -> list[MemberStep]:
        return [m for m in self.members if m.added_at is None]


async def cohort_steps(session: AsyncSession, cohort_id: int) -> CohortSteps | None:
    cohort = await session.get(Cohort, cohort_id, populate_existing=True)
    if cohort is None:
        return None
    facilitator = (
        await session.scalar(select(Member.discord_id).where(Member.id == cohort.facilitator_id))
        if cohort.facilitator_id is not None
        else None
    )
    rows = await session.execute(
        select(CohortMember.member_id, Member.discord_id, CohortMember.added_at, CohortMember.told_at)
        .join(Member, Member.id == CohortMember.member_id)
        .where(CohortMember.cohort_id == cohort_id, CohortMember.state == "active")
        .order_by(CohortMember.member_id)
    )
    return CohortSteps(
        id=cohort.id,
        guild_id=cohort.guild_id,
        formation_id=cohort.formation_id,
        number=cohort.number,
        name=cohort.name,
        state=cohort.state,
        parent_channel_id=cohort.parent_channel_id,
        thread_id=cohort.thread_id,
        welcome_message_id=cohort.welcome_message_id,
        facilitator_discord_id=facilitator,
        zone=cohort.zone,
        meeting_weekday=cohort.meeting_weekday,
        meeting_time=cohort.meeting_time,
        starts_at=cohort.starts_at,
        weeks=cohort.weeks,
        reasons=tuple(cohort.reasons or ()),
        members=tuple(MemberStep(*r) for r in rows),
    )


async def forming_cohorts(session: AsyncSession, guild_id: int, formation_id: int | None = None) -> list[int]:
    """Cohorts whose Discord steps are not finished (state forming), oldest first."""
    query = select(Cohort.id).where(Cohort.guild_id == guild_id, Cohort.state == FORMING).order_by(Cohort.id)
    if formation_id is not None:
        query = query.where(Cohort.formation_id == formation_id)
    return list(await session.scalars(query))


async def running_cohorts(session: AsyncSession, guild_id: int) -> int:
    """Cohorts forming or active: each holds a thread that the bot keeps (or makes) active."""
    query = select(func.count()).where(Cohort.guild_id == guild_id, Cohort.state != ENDED)
    return int(await session.scalar(query) or 0)


async def running_thread_ids(session: AsyncSession, guild_id: int) -> set[int]:
    """The threads of the cohorts forming or active (those ``running_cohorts`` counts)."""
    query = select(Cohort.thread_id).where(
        Cohort.guild_id == guild_id, Cohort.state != ENDED, Cohort.thread_id.is_not(None)
    )
    return set(await session.scalars(query))


async def formation_cohorts(session: AsyncSession, formation_id: int) -> list[tuple[int, str, str]]:
    """(id, name, state) of each cohort a formation created."""
    rows = await session.execute(
        select(Cohort.id, Cohort.name, Cohort.state).where(Cohort.formation_id == formation_id).order_by(Cohort.id)
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def record_thread(session: AsyncSession, cohort_id: int, thread_id: int | None) -> None:
    """The thread exists (or, with None, is gone: every member has to be added to the next one)."""
    await session.execute(update(Cohort).where(Cohort.id == cohort_id).values(thread_id=thread_id))
    if thread_id is None:
        await session.execute(
            update(CohortMember)
            .where(CohortMember.cohort_id == cohort_id)
            .values(added_at=None)
            .execution_options(synchronize_session=False)
        )
        await session.execute(update(Cohort).where(Cohort.id == cohort_id).values(welcome_message_id=None))


async def record_added(session: AsyncSession, cohort_id: int, member_id: int, at: datetime) -> bool:
    """Record the member added to the thread; False when they are no longer an active member (they left the
    cohort while the add was under way: the caller takes them out of the thread again)."""
    result = await session.execute(
        update(CohortMember)
        .where(
            CohortMember.cohort_id == cohort_id,
            CohortMember.member_id == member_id,
            CohortMember.state == "active",
        )
        .values(added_at=at)
    )
    return bool(result.rowcount)


async def is_active_member(session: AsyncSession, cohort_id: int, member_id: int) -> bool:
    state = await session.scalar(
        select(CohortMember.state).where(CohortMember.cohort_id == cohort_id, CohortMember.member_id == member_id)
    )
    return state == "active"


async def record_refused(session: AsyncSession, cohort_id: int, member_id: int, at: datetime) -> None:
    """Discord refused to add this member to the thread (they cannot see the study-groups channel): they leave
    the cohort in state ``refused`` (listed in the maintainer's report), so the others' forming goes on."""
    await session.execute(
        update(CohortMember)
        .where(
            CohortMember.cohort_id == cohort_id,
            CohortMember.member_id == member_id,
            CohortMember.state == "active",
        )
        .values(state=REFUSED, left_at=at)
    )


async def formation_refused(session: AsyncSession, formation_id: int) -> list[tuple[int, str, str]]:
    """(Discord id, display name, cohort name) of the members Discord refused to add, for the report."""
    rows = await session.execute(
        select(Member.discord_id, Member.display_name, Cohort.name)
        .join(CohortMember, CohortMember.member_id == Member.id)
        .join(Cohort, Cohort.id == CohortMember.cohort_id)
        .where(Cohort.formation_id == formation_id, CohortMember.state == REFUSED)
        .order_by(Cohort.id, Member.id)
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def record_gone(session: AsyncSession, cohort_id: int, member_id: int, at: datetime) -> None:
    """The member left the server before they could be added: they leave the cohort (not placed twice, and
    their place is not held)."""
    await session.execute(
        update(CohortMember)
        .where(
            CohortMember.cohort_id == cohort_id,
            CohortMember.member_id == member_id,
            CohortMember.state == "active",
        )
        .values(state="left", left_at=at)
    )


async def record_welcome(session: AsyncSession, cohort_id: int, message_id: int) -> None:
    await session.execute(update(Cohort).where(Cohort.id == cohort_id).values(welcome_message_id=message_id))


async def activate(session: AsyncSession, cohort_id: int, at: datetime) -> bool:
    result = await session.execute(
        update(Cohort).where(Cohort.id == cohort_id, Cohort.state == FORMING).values(state=ACTIVE, activated_at=at)
    )
    return bool(result.rowcount)


async def untold(session: AsyncSession, cohort_id: int) -> list[tuple[int, int]]:
    """(member id, Discord id) of the active members not told by DM yet."""
    rows = await session.execute(
        select(CohortMember.member_id, Member.discord_id)
        .join(Member, Member.id == CohortMember.member_id)
        .where(CohortMember.cohort_id == cohort_id, CohortMember.state == "active", CohortMember.told_at.is_(None))
    )
    return [(r[0], r[1]) for r in rows]


async def mark_told(session: AsyncSession, cohort_id: int, member_id: int, at: datetime) -> None:
    await session.execute(
        update(CohortMember)
        .where(CohortMember.cohort_id == cohort_id, CohortMember.member_id == member_id)
        .values(told_at=at)
    )


async def display_names(session: AsyncSession, member_ids: Sequence[int]) -> dict[int, tuple[int, str]]:
    """member id -> (Discord id, display name), for the preview."""
    found: dict[int, tuple[int, str]] = {}
    ids = list(member_ids)
    for i in range(0, len(ids), 500):
        rows = await session.execute(
            select(Member.id, Member.discord_id, Member.display_name).where(Member.id.in_(ids[i : i + 500]))
        )
        for member_id, discord_id, name in rows:
            found[member_id] = (discord_id, name)
    return found


# -- members' data (/privacy export and delete) -------------------------------------------------------------------
def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


async def export_member_data(session: AsyncSession, member_id: int) -> dict[str, Any]:
    signup = await session.get(CohortSignup, member_id)
    memberships = await session.execute(
        select(CohortMember, Cohort.name)
        .join(Cohort, Cohort.id == CohortMember.cohort_id)
        .where(CohortMember.member_id == member_id)
        .order_by(CohortMember.joined_at)
    )
    checkins = await session.execute(
        select(CohortCheckin, Cohort.name)
        .join(Cohort, Cohort.id == CohortCheckin.cohort_id)
        .where(CohortCheckin.member_id == member_id)
        .order_by(CohortCheckin.cohort_id, CohortCheckin.week)
    )
    projects = await session.execute(
        select(CohortProject, Cohort.name)
        .join(Cohort, Cohort.id == CohortProject.cohort_id)
        .where(CohortProject.created_by == member_id)
        .order_by(CohortProject.id)
    )
    milestones = await session.execute(
        select(CohortMilestone, CohortProject.title)
        .join(CohortProject, CohortProject.id == CohortMilestone.project_id)
        .where(or_(CohortMilestone.owner_id == member_id, CohortMilestone.done_by == member_id))
        .order_by(CohortMilestone.id)
    )
    return {
        "pool": (
            {
                "joined_at": _iso(signup.joined_at),
                "days": signup.days,
                "volunteered_to_facilitate": signup.facilitate,
            }
            if signup is not None
            else None
        ),
        "cohorts": [
            {
                "cohort": name,
                "state": m.state,
                "joined_at": _iso(m.joined_at),
                "left_at": _iso(m.left_at),
                "streak": m.streak,
                "best_streak": m.best_streak,
                "missed_total": m.missed_total,
            }
            for m, name in memberships
        ],
        "checkins": [
            {"cohort": name, "week": c.week, "status": c.status, "note": c.note, "at": _iso(c.at)}
            for c, name in checkins
        ],
        "projects_created": [
            {
                "cohort": name,
                "title": p.title,
                "description": p.description,
                "created_at": _iso(p.created_at),
                "completed_at": _iso(p.completed_at),
            }
            for p, name in projects
        ],
        "milestones": [
            {
                "project": project,
                "title": m.title,
                "owner": m.owner_id == member_id,
                "finished_by_you": m.done_by == member_id,
                "due_at": _iso(m.due_at),
                "done_at": _iso(m.done_at),
            }
            for m, project in milestones
        ],
    }


@dataclass(frozen=True)
class ThreadRemoval:
    """An erased member to take out of a running cohort's thread (a durable reminder does it)."""

    cohort_id: int
    thread_id: int


# Reminders whose payload names a member other than their target, with the payload key naming them (the privacy
# cog deletes those aimed at them). An erased member's facilitator DM goes; the thread's facilitator-changed
# notice stays, naming nobody (the erasure leaves the cohort without a facilitator too).
NAMING_KINDS = {FACILITATOR_DM: "member_discord_id", FACILITATOR_CHANGED: "facilitator"}
KEPT_UNNAMED = (FACILITATOR_CHANGED,)


async def erase_member_data(
    session: AsyncSession, member_id: int, discord_id: int | None = None
) -> list[ThreadRemoval]:
    """The pool entry, memberships and check-ins go; the cohorts stay, without them as facilitator; their projects
    and milestones stay the group's, without their name on them; pending or past reminders whose payload names
    them go. Returns the running cohorts' threads they have to be taken out of (the caller schedules it in this
    transaction; the privacy cog anonymises the members row and deletes the reminders aimed at them)."""
    removals = [
        ThreadRemoval(r[0], r[1])
        for r in await session.execute(
            select(Cohort.id, Cohort.thread_id)
            .join(CohortMember, CohortMember.cohort_id == Cohort.id)
            .where(
                CohortMember.member_id == member_id,
                Cohort.state != ENDED,
                Cohort.thread_id.is_not(None),
                or_(CohortMember.state == "active", CohortMember.added_at.is_not(None)),
            )
        )
    ]
    await session.execute(delete(CohortCheckin).where(CohortCheckin.member_id == member_id))
    await session.execute(delete(CohortMember).where(CohortMember.member_id == member_id))
    await session.execute(delete(CohortSignup).where(CohortSignup.member_id == member_id))
    await session.execute(update(Cohort).where(Cohort.facilitator_id == member_id).values(facilitator_id=None))
    await session.execute(
        update(CohortProject).where(CohortProject.created_by == member_id).values(created_by=None)
    )
    await session.execute(
        update(CohortMilestone).where(CohortMilestone.owner_id == member_id).values(owner_id=None)
    )
    await session.execute(update(CohortMilestone).where(CohortMilestone.done_by == member_id).values(done_by=None))
    if discord_id is not None:
        # A JSON payload is read in Python (the same on SQLite and PostgreSQL); these kinds are few rows.
        naming = [
            r
            for r in await session.scalars(
                select(Reminder).where(Reminder.kind.in_(NAMING_KINDS), Reminder.state != reminders.CLAIMED)
            )
            if str((r.payload or {}).get(NAMING_KINDS[r.kind])) == str(discord_id)
        ]
        for r in naming:
            if r.kind in KEPT_UNNAMED:
                r.payload = {**r.payload, NAMING_KINDS[r.kind]: None}  # a new dict: JSON changes are not tracked
        gone = [r.id for r in naming if r.kind not in KEPT_UNNAMED]
        if gone:
            await session.execute(delete(Reminder).where(Reminder.id.in_(gone)))
    return removals


async def _export(session: AsyncSession, subject: DataSubject) -> dict[str, Any]:
    return await export_member_data(session, subject.member_id)


def member_data_handler(scheduler: reminders.Reminders) -> MemberDataHandler:
    """/privacy export and delete for cohorts; the erased member's removal from their running cohorts' threads is
    a durable reminder (``weekly.THREAD_REMOVE``) in the erasure's transaction, so it happens after a crash too."""

    async def erase(session: AsyncSession, subject: DataSubject, at: datetime) -> None:
        for removal in await erase_member_data(session, subject.member_id, subject.discord_id):
            await scheduler.schedule(
                session,
                kind=THREAD_REMOVE,
                guild_id=subject.guild_id,
                target_id=removal.thread_id,
                due_at=at,
                payload={"user_id": subject.discord_id, "cohort_id": removal.cohort_id},
                dedupe_key=f"cohort:{removal.cohort_id}:erase:{subject.member_id}",
            )

    return MemberDataHandler("cohorts", _export, erase)


@dataclass(frozen=True)
class Progress:
    """How far a formation's Discord steps got (for the maintainer's report)."""

    cohorts: int
    threads: int
    members: int
    added: int
    welcomed: int
    active: int
    told: int

    @property
    def done(self) -> bool:
        return self.cohorts > 0 and self.active == self.cohorts


async def formation_progress(session: AsyncSession, formation_id: int) -> Progress:
    row = (
        await session.execute(
            select(
                func.count(),
                func.count(Cohort.thread_id),
                func.count(Cohort.welcome_message_id),
                func.count().filter(Cohort.state != FORMING),
            ).where(Cohort.formation_id == formation_id)
        )
    ).one()
    members = (
        await session.execute(
            select(func.count(), func.count(CohortMember.added_at), func.count(CohortMember.told_at))
            .join(Cohort, Cohort.id == CohortMember.cohort_id)
            .where(Cohort.formation_id == formation_id, CohortMember.state == "active")
        )
    ).one()
    return Progress(
        cohorts=row[0],
        threads=row[1],
        members=members[0],
        added=members[1],
        welcomed=row[2],
        active=row[3],
        told=members[2],
    )
