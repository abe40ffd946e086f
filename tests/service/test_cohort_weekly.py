"""The cohorts' weekly rules against the real migrated database (SQLite, and PostgreSQL when configured): week math
across DST, scheduling the steps set-based and once, claiming steps with two dispatchers, the late policy, closing
a week once (also concurrently), streaks and misses with their DMs and move offer, milestones and the cohort's end,
participation from messages, moves."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import ledger
from bot.clock import ManualClock
from bot.reminders import ReminderKind, Reminders
from cogs.cohorts import projects, service, weekly
from models import LedgerEvent, Member, Reminder
from models.cohorts import Cohort, CohortCheckin, CohortFormation, CohortMember, CohortSignup, CohortWeek

GUILD = 42
BERLIN = "Europe/Berlin"
# Europe/Berlin moves to CEST on Sunday 29 March 2026.
START = datetime(2026, 3, 23, 17, 0, tzinfo=UTC)  # Monday 18:00 CET
POLICY = ledger.default_policy()


# -- week math ----------------------------------------------------------------------------------------------------
def test_week_starts_keep_the_local_time_across_dst() -> None:
    assert weekly.week_start(START, BERLIN, 1) == START
    assert weekly.week_start(START, BERLIN, 2) == datetime(2026, 3, 30, 16, 0, tzinfo=UTC)  # 18:00 CEST
    assert weekly.week_start(START, BERLIN, 32) == datetime(2026, 10, 26, 17, 0, tzinfo=UTC)  # CET again
    assert weekly.step_due(START, BERLIN, 1, weekly.SYNTHESIS) == datetime(2026, 3, 29, 16, 0, tzinfo=UTC)
    assert weekly.step_due(START, BERLIN, 1, weekly.CLOSE) == weekly.week_start(START, BERLIN, 2)
    assert weekly.week_of(START, BERLIN, START - timedelta(seconds=1)) == 0
    assert weekly.week_of(START, BERLIN, START) == 1
    assert weekly.week_of(START, BERLIN, datetime(2026, 3, 30, 15, 59, tzinfo=UTC)) == 1
    assert weekly.week_of(START, BERLIN, datetime(2026, 3, 30, 16, 0, tzinfo=UTC)) == 2


ZONES = st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"])


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1)),
    zone=ZONES,
    week=st.integers(1, 60),
)
def test_every_week_starts_at_the_same_local_time_and_is_found_again(
    start: datetime, zone: str, week: int
) -> None:
    starts_at = start.replace(tzinfo=ZoneInfo(zone), fold=0).astimezone(UTC).replace(second=0, microsecond=0)
    local = starts_at.astimezone(ZoneInfo(zone))
    begin = weekly.week_start(starts_at, zone, week)
    at = begin.astimezone(ZoneInfo(zone))
    wall = datetime.combine(local.date() + timedelta(weeks=week - 1), local.time())
    if ZoneInfo(zone).utcoffset(wall) == ZoneInfo(zone).utcoffset(wall.replace(fold=1)) and (
        wall.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC).astimezone(ZoneInfo(zone)).replace(tzinfo=None) == wall
    ):
        assert at.time() == local.time()  # a local time that exists that day: exactly it
    assert weekly.week_start(starts_at, zone, week + 1) > begin
    assert weekly.week_of(starts_at, zone, begin) == week
    assert weekly.week_of(starts_at, zone, begin - timedelta(seconds=1)) == week - 1


# -- helpers ------------------------------------------------------------------------------------------------------
async def add_cohort(
    session: AsyncSession, now: datetime, n_members: int, *, weeks: int = 16, number: int = 1, facilitator: int = 0
) -> tuple[int, list[int]]:
    ids = []
    for i in range(n_members):
        member = Member(guild_id=GUILD, discord_id=1000 * number + i, display_name=f"m{i}", joined_at=now)
        session.add(member)
        await session.flush()
        ids.append(member.id)
    cohort = Cohort(
        guild_id=GUILD,
        number=number,
        name=f"Cohort {number}",
        state="active",
        parent_channel_id=7,
        thread_id=9000 + number,
        facilitator_id=ids[facilitator] if ids else None,
        zone=BERLIN,
        meeting_weekday=2,
        meeting_time="19:00",
        starts_at=START,
        weeks=weeks,
        created_at=now,
    )
    session.add(cohort)
    await session.flush()
    for member_id in ids:
        session.add(CohortMember(cohort_id=cohort.id, member_id=member_id, joined_at=now))
    await session.flush()
    return cohort.id, ids


async def post_week(session: AsyncSession, cohort_id: int, week: int, now: datetime) -> None:
    ctx = await weekly.begin_step(session, cohort_id, week, weekly.POST, now, timedelta(hours=24))
    assert ctx.action == "go", ctx
    await weekly.finish_step(session, cohort_id, week, weekly.POST, now, 123)


async def close(session: AsyncSession, cohort_id: int, week: int, now: datetime) -> weekly.Closed:
    return await weekly.close_week(
        session, POLICY, cohort_id=cohort_id, week=week, now=now, misses_before_nudge=2, misses_before_move=3
    )


# -- scheduling and claiming --------------------------------------------------------------------------------------
async def test_steps_are_scheduled_set_based_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    now = START - timedelta(days=2)
    async with sessions.begin() as session:
        for number in range(1, 4):
            await add_cohort(session, now, 2, number=number)
        added = await weekly.schedule_steps(session, now)
    # Within 8 days of now: week 1's post, nudge and synthesis (its close is at week 2's start, further away).
    assert added == 3 * 3
    async with sessions.begin() as session:
        assert await weekly.schedule_steps(session, now) == 0  # nothing twice
        later = await weekly.schedule_steps(session, START + timedelta(days=7))
    assert later == 3 * 6  # week 1's close, week 2's four steps and week 3's post
    async with sessions() as session:
        keys = set(await session.scalars(select(Reminder.dedupe_key)))
        due = await session.scalar(select(Reminder.due_at).where(Reminder.dedupe_key == "cohort:1:w2:post"))
    assert "cohort:1:w1:post" in keys and "cohort:3:w2:close" in keys
    assert due is not None and due.replace(tzinfo=UTC) == datetime(2026, 3, 30, 16, 0, tzinfo=UTC)


async def test_two_dispatchers_send_each_step_once(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    clock.set(START + timedelta(minutes=1))
    async with sessions.begin() as session:
        for number in range(1, 21):
            await add_cohort(session, clock.now(), 1, number=number)
        await weekly.schedule_steps(session, clock.now())
    posted: list[tuple[int, int]] = []

    def dispatcher() -> Reminders:
        r = Reminders(sessions, clock, max_in_flight=8)

        async def post(reminder: Reminder) -> None:
            async with sessions.begin() as session:
                ctx = await weekly.begin_step(
                    session,
                    reminder.target_id,
                    reminder.payload["week"],
                    weekly.POST,
                    clock.now(),
                    timedelta(hours=24),
                )
            if ctx.action != "go":
                return
            await asyncio.sleep(0.01)  # Discord's round trip
            posted.append((reminder.target_id, reminder.payload["week"]))
            async with sessions.begin() as session:
                await weekly.finish_step(
                    session, reminder.target_id, reminder.payload["week"], weekly.POST, clock.now(), 1
                )

        r.register(ReminderKind(weekly.STEP_KINDS[weekly.POST], post))
        return r

    a, b = dispatcher(), dispatcher()
    await asyncio.gather(a.run_due(), b.run_due())
    assert sorted(posted) == [(n, 1) for n in range(1, 21)]
    async with sessions() as session:
        states = list(await session.scalars(select(Reminder.state).where(Reminder.dedupe_key.like("%:w1:post"))))
    assert states == ["sent"] * 20


async def test_late_policy_posts_within_the_grace_and_skips_and_notes_after(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    grace = timedelta(hours=24)
    async with sessions.begin() as session:
        cid, _ids = await add_cohort(session, START, 1)
        ctx = await weekly.begin_step(session, cid, 1, weekly.POST, START + timedelta(hours=23), grace)
        assert ctx.action == "go" and ctx.due_at == START
        ctx = await weekly.begin_step(
            session, cid, 2, weekly.POST, weekly.week_start(START, BERLIN, 2) + timedelta(hours=25), grace
        )
        assert ctx.action == "skip"
    async with sessions.begin() as session:
        row = await session.get(CohortWeek, (cid, 2))
        assert row is not None and row.skipped is not None and "post skipped: found 25 h late" in row.skipped
        nudge = await weekly.begin_step(
            session, cid, 2, weekly.NUDGE, weekly.step_due(START, BERLIN, 2, weekly.NUDGE), grace
        )
        assert nudge.action == "skip"  # the week was skipped: no nudge about a post nobody saw
        await post_week(session, cid, 1, START)
        again = await weekly.begin_step(session, cid, 1, weekly.POST, START, grace)
        assert again.action == "done"


# -- closing weeks: streaks, misses, nudges, moves, milestones, the end -------------------------------------------
async def test_close_week_once_even_concurrently(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        cid, _ids = await add_cohort(session, START, 3)
        await post_week(session, cid, 1, START)
    at = weekly.week_start(START, BERLIN, 2)

    async def one() -> weekly.Closed:
        async with sessions.begin() as session:
            return await close(session, cid, 1, at)

    results = await asyncio.gather(one(), one())
    assert sorted(r.already for r in results) == [False, True]
    async with sessions() as session:
        missed = await session.scalar(
            select(func.count()).select_from(CohortCheckin).where(CohortCheckin.status == "missed")
        )
    assert missed == 3


async def test_streaks_misses_nudges_and_the_move_offer(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        cid, (fac, keen, quiet) = await add_cohort(session, START, 3)
    results = []
    for week in range(1, 6):
        at = weekly.week_start(START, BERLIN, week)
        async with sessions.begin() as session:
            await post_week(session, cid, week, at)
            await weekly.record_checkin(
                session,
                POLICY,
                guild_id=GUILD,
                cohort_id=cid,
                week=week,
                discord_id=1000,
                status="on_track",
                now=at,
            )
            cohort = await session.get(Cohort, cid)
            assert cohort is not None
            await weekly.count_message(
                session, POLICY, cohort=cohort, discord_id=1001, now=at + timedelta(hours=1)
            )
        async with sessions.begin() as session:
            results.append(await close(session, cid, week, weekly.week_start(START, BERLIN, week + 1)))
    assert [r.missed for r in results] == [[quiet]] * 5
    assert [r.nudged for r in results] == [[], [quiet], [], [], []]  # at 2 misses in a row, once
    assert [r.offered for r in results] == [[], [], [quiet], [], []]  # at 3, once
    assert results[3].milestone == 4
    async with sessions() as session:
        members = {m.member_id: m for m in await session.scalars(select(CohortMember))}
        kinds = list(await session.scalars(select(Reminder.kind).order_by(Reminder.id)))
        targets = list(
            await session.scalars(select(Reminder.target_id).where(Reminder.kind == weekly.FACILITATOR_DM))
        )
        milestone = await session.scalar(
            select(func.count()).select_from(LedgerEvent).where(LedgerEvent.kind == weekly.COHORT_MILESTONE)
        )
        replies = await session.scalar(
            select(func.count()).select_from(LedgerEvent).where(LedgerEvent.kind == weekly.PROMPT_REPLY)
        )
    assert (members[fac].streak, members[keen].streak, members[quiet].streak) == (5, 5, 0)
    assert (
        members[quiet].missed_in_a_row == 5 and members[quiet].missed_total == 5 and members[keen].best_streak == 5
    )
    assert (
        kinds.count(weekly.MISS_DM) == 1
        and kinds.count(weekly.MOVE_OFFER) == 1
        and kinds.count(weekly.CELEBRATE) == 1
    )
    assert targets == [1000]  # the facilitator (discord id) is told
    assert milestone == 3 and replies == 5
    # A check-in resets the count; the move stays offered once.
    async with sessions.begin() as session:
        await post_week(session, cid, 6, weekly.week_start(START, BERLIN, 6))
        await weekly.record_checkin(
            session,
            POLICY,
            guild_id=GUILD,
            cohort_id=cid,
            week=6,
            discord_id=1002,
            status="blocked",
            now=weekly.week_start(START, BERLIN, 6),
        )
        await close(session, cid, 6, weekly.week_start(START, BERLIN, 7))
    async with sessions() as session:
        row = await session.get(CohortMember, (cid, quiet))
    assert row is not None and (row.streak, row.missed_in_a_row, row.missed_total) == (1, 0, 5)


async def test_the_last_week_ends_the_cohort(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Completed (with the ledger credit) only for members who took part in at least half of the weeks."""
    async with sessions.begin() as session:
        cid, ids = await add_cohort(session, START, 4, weeks=2)
    for week in (1, 2):
        async with sessions.begin() as session:
            at = weekly.week_start(START, BERLIN, week)
            await post_week(session, cid, week, at)
            # m0 checks in both weeks, m1 once (half), m2 only replies once; m3 never takes part.
            for who, weeks in ((1000, (1, 2)), (1001, (2,))):
                if week in weeks:
                    await weekly.record_checkin(
                        session,
                        POLICY,
                        guild_id=GUILD,
                        cohort_id=cid,
                        week=week,
                        discord_id=who,
                        status="behind",
                        now=at,
                    )
            if week == 1:
                cohort = await session.get(Cohort, cid)
                assert cohort is not None
                await weekly.count_message(session, POLICY, cohort=cohort, discord_id=1002, now=at)
            result = await close(session, cid, week, weekly.week_start(START, BERLIN, week + 1))
    assert result.ended and sorted(result.ledger_members) == sorted(ids[:3])
    async with sessions() as session:
        by_member = dict((await session.execute(select(CohortMember.member_id, CohortMember.state))).all())
        credited = sorted(
            await session.scalars(select(LedgerEvent.member_id).where(LedgerEvent.kind == weekly.COHORT_COMPLETED))
        )
    assert [by_member[i] for i in ids] == ["completed", "completed", "completed", weekly.LAPSED]
    assert credited == sorted(ids[:3])
    assert result.nudged == []  # the cohort ends: no DMs about misses
    async with sessions() as session:
        cohort = await session.get(Cohort, cid)
        states = list(await session.scalars(select(CohortMember.state)))
        finish = await session.scalar(
            select(func.count()).select_from(Reminder).where(Reminder.kind == weekly.FINISH)
        )
        added = await weekly.schedule_steps(session, weekly.week_start(START, BERLIN, 3))
    assert cohort is not None and cohort.state == "ended" and sorted(states) == ["completed"] * 3 + ["lapsed"]
    assert finish == 1
    assert added == 0  # an ended cohort gets no more steps


async def test_checkins_refuse_outsiders_and_closed_weeks_and_move(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        cid, (a, b) = await add_cohort(session, START, 2)
        other, _ = await add_cohort(session, START, 1, number=2)
    async with sessions.begin() as session:
        try:
            await weekly.record_checkin(
                session,
                POLICY,
                guild_id=GUILD,
                cohort_id=cid,
                week=1,
                discord_id=1000,
                status="on_track",
                now=START,
            )
            raise AssertionError("a week without its post is not open")
        except weekly.CheckinRefused as exc:
            assert "not open yet" in str(exc)
    async with sessions.begin() as session:
        await post_week(session, cid, 1, START)
    async with sessions.begin() as session:
        first = await weekly.record_checkin(
            session, POLICY, guild_id=GUILD, cohort_id=cid, week=1, discord_id=1000, status="behind", now=START
        )
        second = await weekly.record_checkin(
            session, POLICY, guild_id=GUILD, cohort_id=cid, week=1, discord_id=1000, status="on_track", now=START
        )
    assert first.ledger_member_id == a and second.ledger_member_id is None and second.changed_from == "behind"
    async with sessions.begin() as session:
        try:
            await weekly.record_checkin(
                session,
                POLICY,
                guild_id=GUILD,
                cohort_id=cid,
                week=1,
                discord_id=2000,
                status="on_track",
                now=START,
            )
            raise AssertionError("an outsider checked in")
        except weekly.CheckinRefused as exc:
            assert "Only this cohort's members" in str(exc)
    async with sessions.begin() as session:
        try:
            await weekly.move_member(session, guild_id=GUILD, cohort_id=cid, discord_id=1001, now=START)
            raise AssertionError("moved without an offer")
        except weekly.MoveRefused:
            pass
        row = await session.get(CohortMember, (cid, b))
        assert row is not None
        row.move_offered_at = START
    async with sessions.begin() as session:
        thread = await weekly.move_member(session, guild_id=GUILD, cohort_id=cid, discord_id=1001, now=START)
    assert thread == 9001
    async with sessions() as session:
        row = await session.get(CohortMember, (cid, b))
        pool = list(await session.scalars(select(CohortSignup.member_id)))
        removal = await session.scalar(select(Reminder.payload).where(Reminder.kind == weekly.THREAD_REMOVE))
    assert (
        row is not None and row.state == "moved" and pool == [b] and removal == {"user_id": 1001, "cohort_id": cid}
    )
    assert other != cid


async def test_messages_count_for_the_week_and_the_member_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        cid, (a, _b) = await add_cohort(session, START, 2)
        await post_week(session, cid, 1, START)
    for _ in range(3):
        async with sessions.begin() as session:
            cohort = await session.get(Cohort, cid)
            assert cohort is not None
            await weekly.count_message(
                session, POLICY, cohort=cohort, discord_id=1000, now=START + timedelta(hours=2)
            )
            await weekly.count_message(
                session, POLICY, cohort=cohort, discord_id=5555, now=START + timedelta(hours=2)
            )
            before = await weekly.count_message(
                session, POLICY, cohort=cohort, discord_id=1000, now=START - timedelta(days=1)
            )
            assert before is None  # before week 1: not counted
    async with sessions() as session:
        week = await session.get(CohortWeek, (cid, 1))
        checkin = await session.get(CohortCheckin, (cid, a, 1))
        events = await session.scalar(
            select(func.count()).select_from(LedgerEvent).where(LedgerEvent.kind == "prompt_reply")
        )
    assert week is not None and week.messages == 6
    assert checkin is not None and checkin.status == "replied" and checkin.messages == 3 and events == 1


async def test_a_grace_of_zero_still_posts_a_step_woken_a_little_late(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        cid, _ids = await add_cohort(session, START, 1)
        on_time = await weekly.begin_step(session, cid, 1, weekly.POST, START + timedelta(minutes=5), timedelta(0))
        late = await weekly.begin_step(
            session, cid, 2, weekly.POST, weekly.week_start(START, BERLIN, 2) + timedelta(hours=1), timedelta(0)
        )
    assert on_time.action == "go" and late.action == "skip"


# -- projects: points for work, not for commands -----------------------------------------------------------------
async def ledger_kinds(sessions: async_sessionmaker[AsyncSession], kind: str) -> list[int]:
    async with sessions() as session:
        return sorted(await session.scalars(select(LedgerEvent.member_id).where(LedgerEvent.kind == kind)))


async def new_project(sessions: async_sessionmaker[AsyncSession], who: int, title: str, now: datetime) -> int:
    async with sessions.begin() as session:
        project, _cohort = await projects.create_project(
            session, guild_id=GUILD, discord_id=who, title=title, description="", now=now
        )
        return project.id


async def new_milestone(
    sessions: async_sessionmaker[AsyncSession],
    who: int,
    project_id: int,
    owner: int,
    now: datetime,
    title: str = "m",
) -> int:
    async with sessions.begin() as session:
        added = await projects.add_milestone(
            session,
            guild_id=GUILD,
            discord_id=who,
            project_id=project_id,
            title=title,
            owner_discord_id=owner,
            due=f"{(now + timedelta(days=3)).date():%Y-%m-%d}",
            now=now,
        )
        return added.milestone.id


async def done(sessions: async_sessionmaker[AsyncSession], who: int, now: datetime, **what: int) -> projects.Done:
    async with sessions.begin() as session:
        if "milestone_id" in what:
            return await projects.complete_milestone(
                session, POLICY, guild_id=GUILD, discord_id=who, milestone_id=what["milestone_id"], now=now
            )
        return await projects.complete_project(
            session, POLICY, guild_id=GUILD, discord_id=who, project_id=what["project_id"], now=now
        )


async def refused(coro: Any, words: str) -> None:
    try:
        await coro
    except projects.ProjectError as exc:
        assert words in str(exc), exc
    else:
        raise AssertionError(f"not refused ({words})")


async def test_an_empty_project_does_not_complete_and_open_projects_are_limited(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        _cid, _ids = await add_cohort(session, START, 3)
    first = await new_project(sessions, 1000, "p0", START)
    async with sessions.begin() as session:
        await refused(
            projects.complete_project(
                session, POLICY, guild_id=GUILD, discord_id=1000, project_id=first, now=START
            ),
            "through its milestones",
        )
    for i in range(1, projects.MAX_OPEN_PROJECTS):
        await new_project(sessions, 1000, f"p{i}", START)
    async with sessions.begin() as session:
        await refused(
            projects.create_project(
                session, guild_id=GUILD, discord_id=1001, title="one more", description="", now=START
            ),
            f"{projects.MAX_OPEN_PROJECTS} open projects",
        )
    assert await ledger_kinds(sessions, projects.PROJECT_COMPLETED) == []


async def test_milestones_are_limited_per_project(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        await add_cohort(session, START, 2)
    pid = await new_project(sessions, 1000, "p", START)
    for i in range(projects.MAX_MILESTONES):
        await new_milestone(sessions, 1000, pid, 1001, START, f"m{i}")
    async with sessions.begin() as session:
        await refused(
            projects.add_milestone(
                session,
                guild_id=GUILD,
                discord_id=1000,
                project_id=pid,
                title="too many",
                owner_discord_id=1001,
                due="2026-04-01",
                now=START,
            ),
            f"at most {projects.MAX_MILESTONES} milestones",
        )


async def test_a_milestone_credits_its_owner_only_when_set_a_day_before_it_is_done(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        _cid, (a, b, _c) = await add_cohort(session, START, 3)
    pid = await new_project(sessions, 1000, "p", START)
    quick = await new_milestone(sessions, 1000, pid, 1000, START, "quick")
    planned = await new_milestone(sessions, 1000, pid, 1001, START, "planned")
    fast = await done(sessions, 1000, START + timedelta(minutes=1), milestone_id=quick)
    assert fast.credited == [] and "less than a day" in fast.uncredited
    later = await done(sessions, 1000, START + timedelta(hours=25), milestone_id=planned)
    assert later.credited == [b]
    async with sessions.begin() as session:
        await refused(
            projects.complete_milestone(
                session,
                POLICY,
                guild_id=GUILD,
                discord_id=1001,
                milestone_id=planned,
                now=START + timedelta(days=2),
            ),
            "already done",
        )
    assert await ledger_kinds(sessions, projects.PROJECT_MILESTONE) == [b]
    assert a != b


async def test_project_completion_credits_its_workers_for_a_cohorts_first_projects_only(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        _cid, (a, b, c, _d) = await add_cohort(session, START, 4)
    later = START + timedelta(days=2)
    pids = []
    for i in range(projects.CREDITED_PROJECTS + 1):
        pid = await new_project(sessions, 1000, f"p{i}", START)  # a creates every project
        mid = await new_milestone(sessions, 1000, pid, 1001 + (i % 2), START)  # owned by b or c
        await done(sessions, 1000, later, milestone_id=mid)
        pids.append(pid)
    first = await done(sessions, 1001, later, project_id=pids[0])
    assert sorted(first.credited) == [a, b]  # the creator and the owner of its milestone; not c, not d
    second = await done(sessions, 1001, later, project_id=pids[1])
    assert sorted(second.credited) == [a, c]
    third = await done(sessions, 1001, later, project_id=pids[2])
    assert third.credited == [] and f"first {projects.CREDITED_PROJECTS}" in third.uncredited
    assert await ledger_kinds(sessions, projects.PROJECT_COMPLETED) == sorted([a, a, b, c])


async def test_milestone_reminders_are_dropped_when_the_owner_moves_or_the_cohort_ends(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        cid, (_a, b, _c) = await add_cohort(session, START, 3, weeks=2)
    pid = await new_project(sessions, 1000, "p", START)
    moved = await new_milestone(sessions, 1000, pid, 1001, START, "b's")
    kept = await new_milestone(sessions, 1000, pid, 1002, START, "c's")

    async def pending() -> list[str]:
        async with sessions() as session:
            return sorted(
                await session.scalars(
                    select(Reminder.dedupe_key).where(
                        Reminder.kind == weekly.MILESTONE_DUE, Reminder.state == "pending"
                    )
                )
            )

    assert len(await pending()) == 4
    async with sessions.begin() as session:
        row = await session.get(CohortMember, (cid, b))
        assert row is not None
        row.move_offered_at = START
    async with sessions.begin() as session:
        await weekly.move_member(session, guild_id=GUILD, cohort_id=cid, discord_id=1001, now=START)
    assert await pending() == [f"milestone:{kept}:day", f"milestone:{kept}:due"]
    # The moved owner's milestone, marked done a day later by someone else, credits nobody.
    result = await done(sessions, 1000, START + timedelta(days=2), milestone_id=moved)
    assert result.credited == [] and "no longer in the cohort" in result.uncredited
    async with sessions() as session:
        gone = await projects.milestone_for_reminder(session, moved)
        live = await projects.milestone_for_reminder(session, kept)
    assert gone is not None and not gone.live and live is not None and live.live
    for week in (1, 2):
        async with sessions.begin() as session:
            await post_week(session, cid, week, weekly.week_start(START, BERLIN, week))
            await close(session, cid, week, weekly.week_start(START, BERLIN, week + 1))
    assert await pending() == []  # the cohort ended
    assert await ledger_kinds(sessions, projects.PROJECT_MILESTONE) == []


async def test_a_move_keeps_the_pool_answers_and_a_moving_facilitator_hands_over(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        cid, (a, b, c) = await add_cohort(session, START, 3, facilitator=0)  # a facilitates
        for member_id, onboarded in ((b, START - timedelta(days=10)), (c, START - timedelta(days=300))):
            row = await session.get(Member, member_id)
            assert row is not None
            row.onboarded_at = onboarded
        # The formation's plan kept the pool as it was when they were grouped.
        formation = CohortFormation(
            guild_id=GUILD,
            created_by=1,
            created_at=START,
            state="confirmed",
            plan={"pool": {str(a): [[0, 2], True, "UTC"], str(b): [None, False, "UTC"]}},
        )
        session.add(formation)
        await session.flush()
        cohort = await session.get(Cohort, cid)
        assert cohort is not None
        cohort.formation_id = formation.id
        for cm in await session.scalars(select(CohortMember).where(CohortMember.cohort_id == cid)):
            cm.move_offered_at = START
    later = START + timedelta(weeks=3)
    async with sessions.begin() as session:
        await weekly.move_member(session, guild_id=GUILD, cohort_id=cid, discord_id=1000, now=later)
    async with sessions() as session:
        signup = await session.get(CohortSignup, a)
        cohort = await session.get(Cohort, cid)
        said = await session.scalar(select(Reminder.payload).where(Reminder.kind == weekly.FACILITATOR_CHANGED))
    assert signup is not None and signup.days == [0, 2] and signup.facilitate
    assert weekly.aware(signup.joined_at) == START  # placed at START: ahead of whoever signed up since
    assert cohort is not None and cohort.facilitator_id == c  # the longest onboarded remaining member
    assert said == {"cohort_id": cid, "facilitator": 1002}
    async with sessions.begin() as session:
        await weekly.move_member(session, guild_id=GUILD, cohort_id=cid, discord_id=1002, now=later)
        await weekly.move_member(session, guild_id=GUILD, cohort_id=cid, discord_id=1001, now=later)
    async with sessions() as session:
        cohort = await session.get(Cohort, cid)
        said_last = list(
            await session.scalars(
                select(Reminder.payload).where(Reminder.kind == weekly.FACILITATOR_CHANGED).order_by(Reminder.id)
            )
        )
        signup_b = await session.get(CohortSignup, b)
    assert cohort is not None and cohort.facilitator_id is None and said_last[-1]["facilitator"] is None
    assert signup_b is not None and signup_b.days is None and not signup_b.facilitate


async def test_milestone_credit_is_capped_per_member_per_cohort(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        _cid, (_a, b) = await add_cohort(session, START, 2)
    pid = await new_project(sessions, 1000, "p", START)
    mids = [await new_milestone(sessions, 1000, pid, 1001, START, f"m{i}") for i in range(12)]
    later = START + timedelta(days=2)
    results = [await done(sessions, 1000, later, milestone_id=mid) for mid in mids]
    assert [r.credited for r in results[: projects.CREDITED_MILESTONES]] == [[b]] * projects.CREDITED_MILESTONES
    for r in results[projects.CREDITED_MILESTONES :]:
        assert r.credited == [] and "no points: the cap" in r.uncredited.lower()
    assert await ledger_kinds(sessions, projects.PROJECT_MILESTONE) == [b] * projects.CREDITED_MILESTONES


async def test_a_milestone_whose_owner_erased_their_data_credits_nobody(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        _cid, (a, b) = await add_cohort(session, START, 2)
    pid = await new_project(sessions, 1000, "p", START)
    mid = await new_milestone(sessions, 1000, pid, 1001, START)
    async with sessions.begin() as session:
        await service.erase_member_data(session, b, 1001)
    result = await done(sessions, 1000, START + timedelta(days=2), milestone_id=mid)  # a ticks it off
    assert result.credited == [] and result.uncredited
    assert await ledger_kinds(sessions, projects.PROJECT_MILESTONE) == []
    assert a != b


async def test_two_project_completions_at_once_credit_at_most_the_cap(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        _cid, (_a, _b) = await add_cohort(session, START, 2)
    later = START + timedelta(days=2)
    pids = []
    for i in range(projects.CREDITED_PROJECTS + 1):
        pid = await new_project(sessions, 1000, f"p{i}", START)
        await done(sessions, 1000, later, milestone_id=await new_milestone(sessions, 1000, pid, 1001, START))
        pids.append(pid)
    for pid in pids[: projects.CREDITED_PROJECTS - 1]:
        await done(sessions, 1000, later, project_id=pid)
    last_two = pids[projects.CREDITED_PROJECTS - 1 :]
    both = await asyncio.gather(
        *(done(sessions, 1000 + i, later, project_id=pid) for i, pid in enumerate(last_two))
    )
    assert sorted(bool(d.credited) for d in both) == [False, True]
    async with sessions() as session:
        refs = set(
            await session.scalars(
                select(LedgerEvent.reference).where(LedgerEvent.kind == projects.PROJECT_COMPLETED)
            )
        )
    assert len(refs) == projects.CREDITED_PROJECTS


async def test_an_erased_successor_is_never_named_by_the_facilitator_changed_notice(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        cid, (a, b, c) = await add_cohort(session, START, 3, facilitator=0)
        for cm in await session.scalars(select(CohortMember).where(CohortMember.cohort_id == cid)):
            cm.move_offered_at = START
        row = await session.get(Member, c)
        assert row is not None
        row.onboarded_at = START - timedelta(days=300)  # c succeeds a
    async with sessions.begin() as session:
        await weekly.move_member(session, guild_id=GUILD, cohort_id=cid, discord_id=1000, now=START)
    notice = select(Reminder.payload).where(Reminder.kind == weekly.FACILITATOR_CHANGED)
    async with sessions() as session:
        assert (await session.scalar(notice)) == {"cohort_id": cid, "facilitator": 1002}
    async with sessions.begin() as session:
        await service.erase_member_data(session, c, 1002)
    async with sessions() as session:
        payloads = list(await session.scalars(notice))
    assert payloads == [{"cohort_id": cid, "facilitator": None}]  # the notice stays, naming nobody
    assert a != b
