"""Stage rules against a real database: random histories of time, points and maintainer actions."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import db, ledger
from bot.config import JourneySection, OnboardingSection
from cogs.onboarding import journey, service
from models import Base, Member

START = datetime(2026, 1, 5, 9, tzinfo=UTC)
PROFILE = {
    "timezone": "Berlin",
    "skill": "beginner",
    "goals": "learn",
    "weekly_hours": "5",
    "language": "English",
    "communication_style": "text chat",
}

actions = st.one_of(
    st.tuples(st.just("wait"), st.integers(0, 30)),  # days
    st.tuples(st.just("points"), st.integers(-40, 120)),  # a contribution (or a revoked vote)
    st.tuples(st.just("evaluate"), st.just(0)),
    st.tuples(st.just("set"), st.sampled_from([*journey.STAGES, None])),  # a maintainer; None = automatic
)


async def replay(history: list[tuple[str, object]], rules_cfg: JourneySection) -> None:
    rules = service.rules_from(rules_cfg)
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.create_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'j.db'}")
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        sessions = db.create_sessionmaker(engine)
        now = START
        async with sessions.begin() as session:
            member = await service.register_join(session, 1, 42, "m", now)
            await service.update_profile(session, member, PROFILE, OnboardingSection(), now)
            await service.complete_onboarding(session, member, now)
        ref = 0
        for action, value in history:
            async with sessions.begin() as session:
                member = await session.get(type(member), member.id)
                before = member.stage
                if action == "wait":
                    now += timedelta(days=int(value))  # type: ignore[arg-type]
                elif action == "points":
                    ref += 1
                    await ledger.record(
                        session,
                        ledger.default_policy(),
                        guild_id=1,
                        member_id=member.id,
                        kind="t",
                        reference=str(ref),
                        points=int(value),
                        at=now,
                    )  # type: ignore[arg-type]
                elif action == "evaluate":
                    moved = await service.evaluate(session, member, now, rules)
                    # The rules only move forward, and only to what weeks and points have earned.
                    assert journey.rank(member.stage) >= journey.rank(before)
                    if moved is not None:
                        week = journey.week_number(member.onboarded_at, now)
                        points = await ledger.points_of(session, member.id)
                        assert member.stage == journey.earned_stage(week, points, rules)
                    if member.stage_manual:
                        assert moved is None  # a maintainer's placement is never overridden
                else:
                    await service.set_stage(session, member, value, 7, now, "test")  # type: ignore[arg-type]
        await engine.dispose()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(actions, min_size=1, max_size=25), st.booleans())
def test_stage_never_goes_backwards_unless_a_maintainer_says_so(history, weeks_only) -> None:
    cfg = JourneySection(contributor_points=0, teacher_points=0) if weeks_only else JourneySection()
    asyncio.run(replay(history, cfg))


async def test_daily_evaluation_skips_manual_left_and_not_onboarded(sessions) -> None:
    rules = service.rules_from(JourneySection(contributor_points=0, teacher_points=0))
    async with sessions.begin() as session:
        rows = {}
        for n, name in enumerate(["auto", "manual", "gone", "fresh"]):
            m = await service.register_join(session, 1, 100 + n, name, START)
            if name != "fresh":
                await service.update_profile(session, m, PROFILE, OnboardingSection(), START)
                await service.complete_onboarding(session, m, START)
            rows[name] = m
        await service.set_stage(session, rows["manual"], "learner", 7, START, "hold")
        rows["gone"].left_at = START
    async with sessions.begin() as session:  # what the daily job does, member by member
        moves = []
        for member_id in await service.evaluation_candidates(session, 1):
            row = await session.get(Member, member_id)
            if (move := await service.evaluate(session, row, START + timedelta(weeks=5), rules)) is not None:
                moves.append(move)
    assert [(m.discord_id, m.to_stage) for m in moves] == [(100, "contributor")]


async def test_profile_view_reads_member_grants_and_points_in_one_go(sessions, engine) -> None:
    async with sessions.begin() as session:
        m = await service.register_join(session, 1, 500, "carol", START)
        await service.update_profile(session, m, PROFILE, OnboardingSection(), START)
        await service.complete_onboarding(session, m, START)
        await service.grant_role(session, m, "ambassador", 7, START, "meetups")
        await service.grant_role(session, m, "maintainer", 7, START, "ops")
        await service.revoke_role(session, m, "maintainer", 7, START)
        for n, pts in enumerate([10, 15]):
            await ledger.record(
                session,
                ledger.default_policy(),
                guild_id=1,
                member_id=m.id,
                kind="t",
                reference=str(n),
                points=pts,
                at=START,
            )
    reads = db.Reads(engine)  # a synchronous read connection on SQLite, the async engine on PostgreSQL
    try:
        view = await service.profile_view(reads, 1, 500, with_points=True)
        plain = await service.profile_view(reads, 1, 500)
        missing = await service.profile_view(reads, 1, 999)
    finally:
        reads.dispose()
    assert view is not None and plain is not None and missing is None
    assert view.grants == frozenset({"ambassador"}) and view.points == 25 and plain.points == 0
    assert (view.timezone, view.stage, view.weekly_hours) == ("Europe/Berlin", "learner", 5)
    assert view.onboarded_at == START
