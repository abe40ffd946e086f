"""Forming's rules on a real migrated database (SQLite, and PostgreSQL when configured): the pool, placing a plan
in one transaction (a double click, two maintainers at once, two previews racing: nobody placed twice), a pool that
changed since the preview, the Discord steps' record that resumes, and the members' data."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from cogs.cohorts import service
from cogs.cohorts.plan import (
    AvailabilityError,
    FormSettings,
    Plan,
    compute_plan,
    first_week_start,
    parse_availability,
    pool_key,
)
from models import Cohort, CohortCheckin, CohortFormation, CohortMember, CohortSignup, Member, Reminder

GUILD = 7
SETTINGS = FormSettings(
    min_size=3, max_size=5, max_spread_hours=3, skill_levels=("beginner", "intermediate", "advanced", "expert")
)


async def add_member(
    session, n: int, zone: str | None, at: datetime, *, stage: str | None = "learner", onboarded: bool = True
) -> Member:
    row = Member(
        guild_id=GUILD,
        discord_id=10_000 + n,
        display_name=f"m{n}",
        joined_at=at - timedelta(weeks=3),
        onboarded_at=at - timedelta(weeks=2) if onboarded else None,
        timezone=zone,
        skill="intermediate",
        weekly_hours=5,
        stage=stage,
    )
    session.add(row)
    await session.flush()
    return row


async def pool(sessions, clock, zones: list[str]) -> list[int]:
    ids = []
    async with sessions.begin() as session:
        for n, zone in enumerate(zones):
            row = await add_member(session, n, zone, clock.now())
            await service.join_pool(session, GUILD, row, clock.now())
            ids.append(row.id)
    return ids


async def preview(sessions, clock) -> tuple[int, Plan]:
    async with sessions() as session:
        members = await service.read_pool(session, GUILD)
        partners = await service.past_partners(session, GUILD)
    plan = await asyncio.to_thread(compute_plan, members, partners, SETTINGS, clock.now())
    async with sessions.begin() as session:
        formation_id = await service.save_formation(session, GUILD, 1, plan, pool_key(members), clock.now())
    return formation_id, plan


async def confirm(sessions, clock, formation_id: int, *, other_active_threads: int = 0) -> service.Confirmation:
    async with sessions.begin() as session:
        return await service.confirm_formation(
            session,
            guild_id=GUILD,
            formation_id=formation_id,
            by=1,
            now=clock.now(),
            parent_channel_id=555,
            weeks=16,
            week_post_at="18:00",
            other_active_threads=other_active_threads,
        )


async def scalar(sessions, statement) -> int:
    async with sessions() as session:
        return int(await session.scalar(statement) or 0)


EIGHT = ["Europe/Berlin"] * 4 + ["Asia/Tokyo"] * 4


# -- the pool ---------------------------------------------------------------------------------------------------
async def test_pool_rules(sessions, clock) -> None:
    now = clock.now()
    async with sessions.begin() as session:
        fresh = await add_member(session, 1, "Europe/Berlin", now, stage=None, onboarded=False)
        zoneless = await add_member(session, 2, None, now)
        learner = await add_member(session, 3, "Europe/Berlin", now)
        teacher = await add_member(session, 4, "Asia/Tokyo", now, stage="teacher")
    async with sessions.begin() as session:
        for row, needle in ((fresh, "/onboard"), (zoneless, "/profile edit"), (None, "/onboard")):
            with pytest.raises(service.CohortError, match=needle):
                await service.join_pool(session, GUILD, row, now)
        with pytest.raises(service.CohortError, match="Contributors and Teachers"):
            await service.join_pool(session, GUILD, learner, now, volunteer=True)
    assert await scalar(sessions, select(func.count()).select_from(CohortSignup)) == 0
    async with sessions.begin() as session:
        first = await service.join_pool(session, GUILD, learner, now, days=frozenset({0, 2}), days_given=True)
        assert first.outcome == "joined" and first.days == (0, 2)
    clock.advance(hours=1)
    async with sessions.begin() as session:
        same = await service.join_pool(session, GUILD, learner, clock.now())
        assert same.outcome == "unchanged" and same.days == (0, 2) and same.joined_at == now
        changed = await service.join_pool(session, GUILD, learner, clock.now(), days=None, days_given=True)
        assert changed.outcome == "updated" and changed.days is None
        vol = await service.join_pool(session, GUILD, teacher, clock.now(), volunteer=True)
        assert vol.outcome == "joined" and vol.volunteer
    async with sessions() as session:
        members = await service.read_pool(session, GUILD)
    assert [(m.member_id, m.days, m.volunteer) for m in members] == [
        (learner.id, None, False),
        (teacher.id, None, True),
    ]
    async with sessions.begin() as session:
        assert await service.leave_pool(session, learner.id)
        assert not await service.leave_pool(session, learner.id)


def test_availability_parsing() -> None:
    assert parse_availability(None) is None
    assert parse_availability("any") is None
    assert parse_availability("Weekday evenings") == frozenset(range(5))
    assert parse_availability("weekends") == frozenset({5, 6})
    assert parse_availability("evenings & weekends") == frozenset(range(7))
    assert parse_availability("mon, Wednesday sat") == frozenset({0, 2, 5})
    for bad in ("", "   ", "someday", "mo", "monday-ish", "<@123>"):
        with pytest.raises(AvailabilityError):
            parse_availability(bad)


def test_week_one_starts_at_the_post_time_at_least_six_hours_later() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 09:00 UTC = 10:00 Berlin: today's 18:00 is 8 hours away.
    start = first_week_start("Europe/Berlin", "18:00", datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    assert start.astimezone(berlin) == datetime(2026, 3, 2, 18, 0, tzinfo=berlin)
    # 14:00 UTC = 15:00 Berlin: 18:00 is 3 hours away, too soon: tomorrow's.
    start = first_week_start("Europe/Berlin", "18:00", datetime(2026, 3, 2, 14, 0, tzinfo=UTC))
    assert start.astimezone(berlin) == datetime(2026, 3, 3, 18, 0, tzinfo=berlin)
    # Across the spring DST change (29 March 2026 in Berlin): still 18:00 local.
    start = first_week_start("Europe/Berlin", "18:00", datetime(2026, 3, 29, 13, 0, tzinfo=UTC))
    assert start.astimezone(berlin).hour == 18 and start.utcoffset() == timedelta(0)


def test_a_lone_member_far_from_everyone_is_explained_not_dropped(clock) -> None:
    from cogs.cohorts.plan import PoolMember

    now = clock.now()
    members = [
        PoolMember(i, "Europe/Berlin", "beginner", 4, now - timedelta(weeks=3), now, None, False) for i in range(4)
    ] + [PoolMember(99, "Pacific/Honolulu", "beginner", 4, now, now, None, False)]
    plan = compute_plan(members, {}, SETTINGS, now)
    assert [g.member_ids for g in plan.groups] == [(0, 1, 2, 3)] or sorted(plan.groups[0].member_ids) == [
        0,
        1,
        2,
        3,
    ]
    assert [ids for ids, _reason in plan.unplaced] == [(99,)]
    assert "from everyone else" in plan.unplaced[0][1]
    assert plan.random_cost > 0 and plan.greedy_cost > 0


# -- placing a plan -------------------------------------------------------------------------------------------
async def test_confirm_places_everyone_once_in_one_transaction(sessions, clock) -> None:
    ids = await pool(sessions, clock, EIGHT)
    formation_id, plan = await preview(sessions, clock)
    assert len(plan.groups) == 2 and plan.placed == 8
    done = await confirm(sessions, clock, formation_id)
    assert done.placed == 8 and len(done.cohort_ids) == 2 and done.dropped == ()
    async with sessions() as session:
        cohorts = (await session.scalars(select(Cohort).order_by(Cohort.number))).all()
        members = (await session.scalars(select(CohortMember))).all()
        formation = await session.get(CohortFormation, formation_id)
    assert [c.number for c in cohorts] == [1, 2] and {c.state for c in cohorts} == {"forming"}
    assert sorted(m.member_id for m in members) == sorted(ids)
    assert formation.state == "confirmed" and formation.confirmed_by == 1
    for c in cohorts:
        local = c.starts_at.astimezone(ZoneInfo(c.zone))
        assert (local.hour, local.minute) == (18, 0) and c.starts_at >= clock.now() + timedelta(hours=6)
        assert c.weeks == 16 and c.parent_channel_id == 555 and c.facilitator_id is not None
    assert await scalar(sessions, select(func.count()).select_from(CohortSignup)) == 0
    # The next formation numbers on from there.
    await pool(sessions, clock, [])  # nothing new
    with pytest.raises(service.CohortError, match="already confirmed"):
        await confirm(sessions, clock, formation_id)


async def test_two_confirmations_at_once_place_nobody_twice(sessions, clock) -> None:
    await pool(sessions, clock, EIGHT)
    formation_id, _plan = await preview(sessions, clock)
    results = await asyncio.gather(
        confirm(sessions, clock, formation_id), confirm(sessions, clock, formation_id), return_exceptions=True
    )
    assert sum(isinstance(r, service.Confirmation) for r in results) == 1
    assert sum(isinstance(r, service.AlreadyConfirmed) for r in results) == 1
    assert await scalar(sessions, select(func.count()).select_from(CohortMember)) == 8
    assert await scalar(sessions, select(func.count()).select_from(Cohort)) == 2


async def test_two_previews_racing_place_nobody_twice(sessions, clock) -> None:
    await pool(sessions, clock, EIGHT)
    first, _ = await preview(sessions, clock)
    second, _ = await preview(sessions, clock)
    async with sessions.begin() as session:  # both previews open, as two /cohort form at the same moment leave
        await session.execute(update(CohortFormation).where(CohortFormation.id == first).values(state="preview"))
    results = await asyncio.gather(
        confirm(sessions, clock, first), confirm(sessions, clock, second), return_exceptions=True
    )
    assert sum(isinstance(r, service.Confirmation) for r in results) == 1, results
    assert sum(isinstance(r, service.CohortError) for r in results) == 1, results
    async with sessions() as session:
        per_member = (
            await session.execute(
                select(CohortMember.member_id, func.count())
                .where(CohortMember.state == "active")
                .group_by(CohortMember.member_id)
            )
        ).all()
    assert len(per_member) == 8 and {n for _m, n in per_member} == {1}


async def test_the_index_refuses_a_second_active_cohort(sessions, clock) -> None:
    await pool(sessions, clock, EIGHT)
    formation_id, _ = await preview(sessions, clock)
    done = await confirm(sessions, clock, formation_id)
    async with sessions() as session:
        member_id = await session.scalar(
            select(CohortMember.member_id).where(CohortMember.cohort_id == done.cohort_ids[0])
        )
    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            await session.execute(
                insert(CohortMember).values(
                    cohort_id=done.cohort_ids[1], member_id=member_id, state="active", joined_at=clock.now()
                )
            )


async def test_a_pool_that_changed_since_the_preview(sessions, clock) -> None:
    ids = await pool(sessions, clock, [*EIGHT, "Europe/Berlin"])  # 5 in Berlin: one can leave
    formation_id, plan = await preview(sessions, clock)
    berlin = next(g for g in plan.groups if len(g.member_ids) == 5)
    # Someone joined since: not in the plan, so they simply stay in the pool for the next run (below).
    async with sessions.begin() as session:
        late = await add_member(session, 50, "Europe/Berlin", clock.now())
        await service.join_pool(session, GUILD, late, clock.now())
    # Changed availability: refused.
    async with sessions.begin() as session:
        row = await session.get(Member, ids[0])
        await service.join_pool(session, GUILD, row, clock.now(), days=frozenset({5}), days_given=True)
    with pytest.raises(service.CohortError, match="changed their availability"):
        await confirm(sessions, clock, formation_id)
    async with sessions.begin() as session:
        await service.join_pool(session, GUILD, row, clock.now(), days=None, days_given=True)
    # The facilitator of the Berlin group leaves the pool: dropped, the next in line facilitates.
    gone = berlin.facilitator_id
    async with sessions.begin() as session:
        await service.leave_pool(session, gone)
    assert await scalar(sessions, select(func.count()).select_from(Cohort)) == 0
    done = await confirm(sessions, clock, formation_id)
    assert done.dropped == (gone,) and done.placed == 8
    async with sessions() as session:  # the late joiner waits in the pool, placed nowhere
        assert [m.member_id for m in await service.read_pool(session, GUILD)] == [late.id]
        assert await service.current_cohort(session, late.id) is None
    async with sessions() as session:
        cohort = await session.scalar(
            select(Cohort).join(CohortMember).where(CohortMember.member_id == berlin.member_ids[1])
        )
    assert cohort.facilitator_id == berlin.member_ids[1]


async def test_a_group_broken_by_leavers_refuses_the_plan(sessions, clock) -> None:
    await pool(sessions, clock, EIGHT)
    formation_id, plan = await preview(sessions, clock)
    leaving = plan.groups[0].member_ids[:2]  # 4 -> 2, below the minimum of 3
    async with sessions.begin() as session:
        for member_id in leaving:
            await service.leave_pool(session, member_id)
    with pytest.raises(service.CohortError, match="would have only 2 member"):
        await confirm(sessions, clock, formation_id)
    assert await scalar(sessions, select(func.count()).select_from(CohortMember)) == 0
    async with sessions() as session:
        assert (await session.get(CohortFormation, formation_id)).state == "preview"


async def test_a_plan_past_discords_active_thread_limit_is_refused(sessions, clock, monkeypatch) -> None:
    await pool(sessions, clock, EIGHT)
    formation_id, plan = await preview(sessions, clock)
    assert len(plan.groups) == 2
    monkeypatch.setattr(service, "MAX_ACTIVE_THREADS", 1)
    with pytest.raises(service.CohortError, match="at most 1 active threads"):
        await confirm(sessions, clock, formation_id)
    assert await scalar(sessions, select(func.count()).select_from(CohortMember)) == 0
    # The server's other active threads (members' threads, forum posts) count toward the limit too.
    monkeypatch.setattr(service, "MAX_ACTIVE_THREADS", 4)
    with pytest.raises(service.CohortError, match="3 other active thread"):
        await confirm(sessions, clock, formation_id, other_active_threads=3)
    assert await scalar(sessions, select(func.count()).select_from(CohortMember)) == 0
    assert len((await confirm(sessions, clock, formation_id, other_active_threads=2)).cohort_ids) == 2


# -- the Discord steps' record ----------------------------------------------------------------------------------
async def test_steps_are_recorded_and_resume_where_they_stopped(sessions, clock) -> None:
    await pool(sessions, clock, EIGHT)
    formation_id, _ = await preview(sessions, clock)
    done = await confirm(sessions, clock, formation_id)
    cohort_id = done.cohort_ids[0]
    async with sessions.begin() as session:
        steps = await service.cohort_steps(session, cohort_id)
        assert steps.thread_id is None and len(steps.pending_adds) == 4
        await service.record_thread(session, cohort_id, 900)
        await service.record_added(session, cohort_id, steps.members[0].member_id, clock.now())
        await service.record_gone(session, cohort_id, steps.members[1].member_id, clock.now())
    async with sessions() as session:
        steps = await service.cohort_steps(session, cohort_id)
        progress = await service.formation_progress(session, formation_id)
        assert await service.forming_cohorts(session, GUILD, formation_id) == list(done.cohort_ids)
    assert steps.thread_id == 900 and len(steps.members) == 3 and len(steps.pending_adds) == 2
    assert (progress.cohorts, progress.threads, progress.members, progress.added) == (2, 1, 7, 1)
    # The thread vanished: every member has to be added to the next one, and the welcome posted again.
    async with sessions.begin() as session:
        await service.record_welcome(session, cohort_id, 1234)
        await service.record_thread(session, cohort_id, None)
    async with sessions() as session:
        steps = await service.cohort_steps(session, cohort_id)
    assert steps.thread_id is None and steps.welcome_message_id is None and len(steps.pending_adds) == 3
    async with sessions.begin() as session:
        assert await service.activate(session, cohort_id, clock.now())
        assert not await service.activate(session, cohort_id, clock.now())  # once
        untold = await service.untold(session, cohort_id)
        await service.mark_told(session, cohort_id, untold[0][0], clock.now())
    async with sessions() as session:
        assert len(await service.untold(session, cohort_id)) == 2
        assert await service.forming_cohorts(session, GUILD) == [done.cohort_ids[1]]


async def test_a_member_who_left_while_being_added_is_not_recorded_added(sessions, clock) -> None:
    await pool(sessions, clock, EIGHT)
    formation_id, _ = await preview(sessions, clock)
    done = await confirm(sessions, clock, formation_id)
    cohort_id = done.cohort_ids[0]
    async with sessions.begin() as session:
        steps = await service.cohort_steps(session, cohort_id)
        await service.record_thread(session, cohort_id, 900)
    first, second = steps.pending_adds[0].member_id, steps.pending_adds[1].member_id
    # The forming run read its pending adds (the snapshot above); then the first member confirms leaving.
    async with sessions.begin() as session:
        assert await service.leave_cohort(session, cohort_id, first, clock.now()) is not None
    async with sessions.begin() as session:
        assert not await service.is_active_member(session, cohort_id, first)
        assert not await service.record_added(session, cohort_id, first, clock.now())  # the caller removes them
        assert await service.record_added(session, cohort_id, second, clock.now())
    async with sessions() as session:
        left = await session.get(CohortMember, (cohort_id, first))
    assert left.state == "left" and left.added_at is None


async def test_a_member_discord_refuses_leaves_the_cohort_and_is_listed(sessions, clock) -> None:
    await pool(sessions, clock, EIGHT)
    formation_id, _ = await preview(sessions, clock)
    done = await confirm(sessions, clock, formation_id)
    async with sessions.begin() as session:
        steps = await service.cohort_steps(session, done.cohort_ids[0])
        refused = steps.members[0]
        await service.record_refused(session, steps.id, refused.member_id, clock.now())
    async with sessions() as session:
        assert await service.formation_refused(session, formation_id) == [
            (refused.discord_id, f"m{refused.discord_id - 10_000}", steps.name)
        ]
        assert len((await service.cohort_steps(session, steps.id)).members) == 3
        assert await service.current_cohort(session, refused.member_id) is None


async def test_leaving_a_cohort_and_the_members_data(sessions, clock) -> None:
    await pool(sessions, clock, EIGHT)
    formation_id, _ = await preview(sessions, clock)
    done = await confirm(sessions, clock, formation_id)
    async with sessions.begin() as session:
        steps = await service.cohort_steps(session, done.cohort_ids[0])
        member_id = steps.members[0].member_id
        session.add(
            CohortCheckin(cohort_id=steps.id, member_id=member_id, week=1, status="on_track", at=clock.now())
        )
    async with sessions() as session:
        data = await service.export_member_data(session, member_id)
    assert data["pool"] is None and data["cohorts"][0]["cohort"] == steps.name
    assert data["checkins"] == [
        {"cohort": steps.name, "week": 1, "status": "on_track", "note": None, "at": clock.now().isoformat()}
    ]
    async with sessions.begin() as session:
        assert await service.leave_cohort(session, steps.id + 1000, member_id, clock.now()) is None
        left = await service.leave_cohort(session, steps.id, member_id, clock.now())
        assert left is not None and left.name == steps.name
        assert await service.current_cohort(session, member_id) is None
        await service.erase_member_data(session, member_id)
    async with sessions() as session:
        data = await service.export_member_data(session, member_id)
    assert data == {"pool": None, "cohorts": [], "checkins": [], "projects_created": [], "milestones": []}
    assert await scalar(sessions, select(func.count()).select_from(Cohort)) == 2  # the cohorts stay


async def test_erasing_a_member_clears_them_from_cohorts_and_reminders_naming_them(sessions, clock) -> None:
    from bot import reminders
    from cogs.cohorts import weekly

    await pool(sessions, clock, EIGHT)
    formation_id, _ = await preview(sessions, clock)
    done = await confirm(sessions, clock, formation_id)
    cohort_id = done.cohort_ids[0]
    async with sessions.begin() as session:
        steps = await service.cohort_steps(session, cohort_id)
        await service.record_thread(session, cohort_id, 900)
        facilitator = await session.get(Member, (await session.get(Cohort, cohort_id)).facilitator_id)
        await service.record_added(session, cohort_id, facilitator.id, clock.now())
        other = next(m for m in steps.members if m.member_id != facilitator.id)
        for n, named in enumerate((facilitator.discord_id, other.discord_id)):
            await reminders.add(
                session,
                kind=weekly.FACILITATOR_DM,
                guild_id=GUILD,
                target_id=1,
                due_at=clock.now() + timedelta(days=1),
                created_at=clock.now(),
                payload={"cohort_id": cohort_id, "week": 2, "member_discord_id": named},
                dedupe_key=f"fac:{n}",
            )
    async with sessions.begin() as session:
        removals = await service.erase_member_data(session, facilitator.id, facilitator.discord_id)
    assert removals == [service.ThreadRemoval(cohort_id, 900)]
    async with sessions() as session:
        assert (await session.get(Cohort, cohort_id)).facilitator_id is None
        left = (
            await session.scalars(select(Reminder.payload).where(Reminder.kind == weekly.FACILITATOR_DM))
        ).all()
    assert [p["member_discord_id"] for p in left] == [other.discord_id]
