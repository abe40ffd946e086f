"""Stage rules against a real database: random histories of time, points and maintainer actions."""

from __future__ import annotations

import asyncio
import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select

from bot import db, ledger, reminders
from bot.config import JourneySection, OnboardingSection, PairCap, RecognitionSection
from cogs.onboarding import journey, service
from models import Base, LedgerAdjustment, LedgerEvent, Member, MemberPoints, Reminder, StageChange

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
    now = START + timedelta(weeks=5)
    async with sessions.begin() as session:  # what the daily job does: only the due members are loaded
        moves = []
        for candidate in await service.promotion_candidates(session, 1, now, rules):
            row = await session.get(Member, candidate.member_id)
            if (move := await service.evaluate(session, row, now, rules)) is not None:
                moves.append(move)
    assert [(m.discord_id, m.to_stage) for m in moves] == [(100, "contributor")]


# -- set-based daily jobs -----------------------------------------------------------------------------------------
NOW = datetime(2026, 6, 1, 6, tzinfo=UTC)
TICK = timedelta(microseconds=1)


class Statements:
    """Every statement sent on the engine while active (a ``before_cursor_execute`` listener)."""

    def __init__(self, engine) -> None:
        self.engine, self.seen = engine.sync_engine, []

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.seen.append(" ".join(statement.split()))

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def starting(self, prefix: str) -> list[str]:
        return [s for s in self.seen if s.upper().startswith(prefix.upper())]


async def add_members(sessions, specs: list[dict], guild_id: int = 1) -> list[int]:
    """Members straight into the tables (the daily jobs' input): journey fields, and a member_points row when
    ``points`` is given (as recording would have left it)."""
    async with sessions.begin() as session:
        ids = []
        for n, spec in enumerate(specs):
            spec = dict(spec)
            points = spec.pop("points", None)
            member = Member(
                guild_id=spec.pop("guild_id", guild_id),
                discord_id=spec.pop("discord_id", 1_000_000 + n),
                joined_at=spec.get("onboarded_at") or NOW,
                **spec,
            )
            session.add(member)
            await session.flush()
            ids.append(member.id)
            if points is not None:
                session.add(
                    MemberPoints(
                        member_id=member.id,
                        category="overall",
                        period_kind="all",
                        period_start=ledger.ALL_TIME,
                        guild_id=member.guild_id,
                        points=points,
                        events=1,
                    )
                )
    return ids


def journey_member(stage: str | None, onboarded_at: datetime | None, points: int | None, **extra) -> dict:
    return {
        "stage": stage,
        "onboarded_at": onboarded_at,
        "last_active_at": onboarded_at,
        "points": points,
        **extra,
    }


async def all_candidates(sessions, now, rules, limit=7) -> list[service.Candidate]:
    found, after = [], 0
    while True:
        async with sessions() as session:
            batch = await service.promotion_candidates(session, 1, now, rules, after=after, limit=limit)
        found += batch
        if len(batch) < limit:
            return found
        after = batch[-1].member_id


RULE_SETS = [
    JourneySection(),  # contributor: week 5 and 50 points; teacher: week 13 and 200 points
    JourneySection(contributor_points=0, teacher_points=0),  # weeks only
    JourneySection(contributor_weeks=1, contributor_points=0, teacher_weeks=2, teacher_points=10),
    JourneySection(contributor_weeks=2, contributor_points=7, teacher_weeks=3, teacher_points=7),  # equal points
]


@pytest.mark.parametrize("cfg", RULE_SETS, ids=["default", "weeks-only", "week-1", "equal-points"])
async def test_set_based_evaluation_finds_exactly_whom_the_pure_rules_move(sessions, cfg) -> None:
    """Members on both sides of every boundary (the exact instant a week starts, a point below and at each
    threshold, no points row, negative points), manual, left, other-guild and not-onboarded ones: the query
    returns exactly those ``journey.next_stage`` moves, and after the moves nobody."""
    rules = service.rules_from(cfg)
    rng = random.Random(f"{cfg}")
    offsets = [timedelta(0), TICK, -TICK, timedelta(days=-1)]
    weeks = sorted(
        {0, 1, 2, cfg.contributor_weeks - 1, cfg.contributor_weeks, cfg.teacher_weeks - 1, cfg.teacher_weeks, 30}
    )
    thresholds = sorted({0, cfg.contributor_points, cfg.teacher_points})
    points_choices = [None, -5, *sorted({p + d for p in thresholds for d in (-1, 0, 1)})]
    specs, expected_ok = [], []
    for n in range(400):
        w = rng.choice(weeks)
        onboarded = NOW - max(0, w - 1) * timedelta(weeks=1) + rng.choice(offsets)
        stage = rng.choice(journey.STAGES)
        kind = rng.choices(["plain", "manual", "left", "other", "fresh"], [80, 6, 6, 4, 4])[0]
        spec = journey_member(stage, onboarded, rng.choice(points_choices), discord_id=10_000 + n)
        if kind == "manual":
            spec["stage_manual"] = True
        elif kind == "left":
            spec["left_at"] = NOW - timedelta(days=1)
        elif kind == "other":
            spec["guild_id"] = 2
        elif kind == "fresh":
            spec |= {"stage": None, "onboarded_at": None}
        specs.append(spec)
        expected_ok.append(kind == "plain")
    ids = await add_members(sessions, specs)
    expected = {}
    for member_id, spec, plain in zip(ids, specs, expected_ok, strict=True):
        if not plain:
            continue
        week = journey.week_number(spec["onboarded_at"], NOW)
        target = journey.next_stage(spec["stage"], week, spec["points"] or 0, manual=False, rules=rules)
        if target != spec["stage"]:
            expected[member_id] = target
    found = await all_candidates(sessions, NOW, rules)
    assert {c.member_id: c.target(NOW, rules) for c in found} == expected
    assert [c.member_id for c in found] == sorted(expected)  # keyset order, no repeats
    assert expected, "the sample should hold some promotions"
    async with sessions.begin() as session:
        moves = await service.promote_many(session, found, NOW, rules)
    assert {m.member_id: m.to_stage for m in moves} == expected
    async with sessions() as session:
        stages = dict((await session.execute(select(Member.id, Member.stage).where(Member.id.in_(ids)))).all())
        history = (
            await session.execute(select(StageChange.member_id, StageChange.from_stage, StageChange.to_stage))
        ).all()
    assert {m: stages[m] for m in expected} == expected
    assert sorted(history) == sorted((m.member_id, m.from_stage, m.to_stage) for m in moves)
    assert await all_candidates(sessions, NOW, rules) == []


async def test_a_promotion_yields_to_what_changed_since_the_read(sessions) -> None:
    """The compare-and-set: a maintainer's placement, a departure or another promotion between the query and the
    write wins, and that member is left alone; the others are moved."""
    rules = service.rules_from(JourneySection())
    ids = await add_members(sessions, [journey_member("learner", NOW - timedelta(weeks=6), 60)] * 4)
    found = await all_candidates(sessions, NOW, rules)
    assert [c.member_id for c in found] == ids
    async with sessions.begin() as session:
        members = {m.id: m for m in await session.scalars(select(Member).where(Member.id.in_(ids)))}
        await service.set_stage(session, members[ids[0]], "learner", 7, NOW, "hold")
        members[ids[1]].left_at = NOW
        members[ids[2]].stage = "contributor"  # promoted by a ledger event meanwhile
    async with sessions.begin() as session:
        moves = await service.promote_many(session, found, NOW, rules)
    assert [(m.member_id, m.from_stage, m.to_stage) for m in moves] == [(ids[3], "learner", "contributor")]


async def test_boundaries_of_weeks_and_points(sessions) -> None:
    rules = service.rules_from(JourneySection())  # contributor: week 5, 50 points; teacher: week 13, 200
    week5, week13 = NOW - timedelta(weeks=4), NOW - timedelta(weeks=12)
    cases = {
        "week 5 from this instant, 50 points": (journey_member("learner", week5, 50), "contributor"),
        "a microsecond short of week 5": (journey_member("learner", week5 + TICK, 50), None),
        "49 points": (journey_member("learner", week5, 49), None),
        "no points row": (journey_member("learner", week5 - timedelta(weeks=20), None), None),
        "both stages at once": (journey_member("learner", week13, 200), "teacher"),
        "contributor at week 13": (journey_member("contributor", week13, 200), "teacher"),
        "contributor a microsecond early": (journey_member("contributor", week13 + TICK, 500), None),
        "contributor with 199": (journey_member("contributor", week13 - timedelta(weeks=9), 199), None),
        "negative points": (journey_member("learner", week13, -3), None),
        "manual": (journey_member("learner", week13, 900, stage_manual=True), None),
        "left": (journey_member("learner", week13, 900, left_at=NOW), None),
        "teacher": (journey_member("teacher", week13, 900), None),
        "not onboarded": (journey_member(None, None, 900), None),
    }
    ids = dict(zip(cases, await add_members(sessions, [spec for spec, _ in cases.values()]), strict=True))
    found = {c.member_id: c.target(NOW, rules) for c in await all_candidates(sessions, NOW, rules)}
    assert found == {ids[name]: target for name, (_, target) in cases.items() if target is not None}


async def test_evaluation_query_count_does_not_grow_with_members_who_are_not_due(engine, sessions) -> None:
    rules = service.rules_from(JourneySection())
    due = await add_members(sessions, [journey_member("learner", NOW - timedelta(weeks=5), 60)] * 3)
    counts = []
    for extra in (10, 2000):
        # Not due: too early, too few points, placed by hand, gone, at the top.
        specs = [
            journey_member("learner", NOW - timedelta(days=i % 20), 500, discord_id=5_000_000 + extra * 10 + i)
            if i % 5 == 0
            else journey_member("learner", NOW - timedelta(weeks=30), 10, discord_id=5_000_000 + extra * 10 + i)
            if i % 5 == 1
            else journey_member(
                "learner", NOW - timedelta(weeks=30), 900, stage_manual=True, discord_id=5_000_000 + extra * 10 + i
            )
            if i % 5 == 2
            else journey_member(
                "contributor", NOW - timedelta(weeks=30), 900, left_at=NOW, discord_id=5_000_000 + extra * 10 + i
            )
            if i % 5 == 3
            else journey_member("teacher", NOW - timedelta(weeks=30), 900, discord_id=5_000_000 + extra * 10 + i)
            for i in range(extra)
        ]
        await add_members(sessions, specs)
        with Statements(engine) as statements:
            found = await all_candidates(sessions, NOW, rules, limit=500)
        assert [c.member_id for c in found] == due
        counts.append(len(statements.seen))
    assert counts[0] == counts[1] == 1, counts


async def test_journey_points_are_the_maintained_all_time_points(engine, sessions, clock) -> None:
    """The journey reads member_points (overall, all time), never the ledger, and it equals the ledger's sum
    with the anti-farming rules at work: daily vote caps, pair caps, events on one's own content, downvotes."""
    policy = ledger.LedgerPolicy.from_config(
        RecognitionSection(daily_vote_cap=20, pair_caps={"review_done": PairCap(points=15, days=7)})
    )
    now = clock.now()
    async with sessions.begin() as session:
        members = [(await service.register_join(session, 1, 900 + n, f"m{n}", now)).id for n in range(5)]
    rng = random.Random(9)
    kinds = ["answer_upvoted", "answer_accepted", "review_done", "question_asked", "t"]
    for i in range(150):
        member, other = rng.choice(members), rng.choice(members)
        kind = rng.choice(kinds)
        async with sessions.begin() as session:
            await ledger.record_event(
                session,
                policy,
                guild_id=1,
                member_id=member,
                kind=kind,
                reference=f"r{i}",
                at=now,
                now=now,
                subject_member_id=other if kind != "question_asked" else None,
                points=rng.choice([None, None, 12, -4]) if kind == "t" else None,
            )
        now += timedelta(hours=rng.choice([0, 1, 7]))
    async with sessions() as session:
        sums = dict(
            (
                await session.execute(
                    select(LedgerEvent.member_id, func.sum(LedgerEvent.points)).group_by(LedgerEvent.member_id)
                )
            ).all()
        )
        with Statements(engine) as statements:
            points = {m: await service.journey_points(session, m) for m in members}
        adjusted = await session.scalar(select(func.count()).select_from(LedgerAdjustment))
    assert points == {m: int(sums.get(m, 0)) for m in members}
    assert adjusted > 0 and any(p != 0 for p in points.values())
    assert statements.seen and not any("ledger_events" in s for s in statements.seen)


def test_profile_and_journey_view_reads_no_ledger_rows() -> None:
    sql = str(service._VIEW[True])
    assert "member_points" in sql and "ledger_events" not in sql


async def test_nudges_claim_only_due_members_in_batches(engine, sessions) -> None:
    days = 21
    quiet, nudged = NOW - timedelta(days=30), NOW - timedelta(days=25)
    specs = [
        journey_member("learner", quiet, None),  # due
        journey_member("learner", quiet, None, last_nudge_at=nudged),  # due: nudged in an earlier period
        journey_member("learner", quiet, None, last_nudge_at=NOW - timedelta(days=3)),  # nudged this period
        journey_member("learner", NOW - timedelta(days=2), None),  # active
        journey_member("learner", quiet, None, left_at=NOW),  # gone
        journey_member(None, None, None, last_active_at=quiet),  # never onboarded
    ]
    ids = await add_members(sessions, specs)
    counts = []
    for extra in (5, 1500):
        base = 7_000_000 + extra * 10
        await add_members(
            sessions, [journey_member("learner", NOW, None, discord_id=base + i) for i in range(extra)]
        )
        with Statements(engine) as statements:
            async with sessions() as session:
                batch = await service.nudge_candidates(session, 1, NOW, days, limit=500)
        counts.append(len(statements.seen))
    assert counts == [1, 1]
    assert batch == ids[:2]
    async with sessions.begin() as session:
        claimed = await service.claim_nudges(session, 1, [*batch, ids[2], ids[3]], NOW, days)
        targets = [(d, f"nudge:{m}:{NOW.date()}", {}) for m, d in claimed]
        assert (
            await reminders.add_many(
                session, kind="journey.nudge", guild_id=1, due_at=NOW, created_at=NOW, targets=targets
            )
            == 2
        )
        # The same keys again (a rerun the same day) add nothing, as bot.reminders.add would.
        assert (
            await reminders.add_many(
                session, kind="journey.nudge", guild_id=1, due_at=NOW, created_at=NOW, targets=targets
            )
            == 0
        )
    assert [m for m, _ in claimed] == ids[:2]
    async with sessions() as session:
        assert await service.nudge_candidates(session, 1, NOW, days) == []
        rows = (await session.execute(select(Reminder.target_id, Reminder.state, Reminder.dedupe_key))).all()
    assert sorted(rows) == sorted((d, "pending", key) for d, key, _ in targets)


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


async def test_reconcile_reads_members_in_keyset_batches(engine, sessions) -> None:
    specs = [
        journey_member(None, None, None)
        if i % 10 == 0  # not onboarded
        else journey_member("learner", NOW, None, left_at=NOW)
        if i % 10 == 1  # gone
        else journey_member(journey.STAGES[i % 3], NOW, None)
        for i in range(2500)
    ]
    ids = await add_members(sessions, specs)
    await add_members(sessions, [journey_member("learner", NOW, None, guild_id=2, discord_id=1)])
    rows, after = [], 0
    with Statements(engine) as statements:
        while True:
            async with sessions() as session:
                batch = await service.onboarded_batch(session, 1, after=after, limit=1000)
            rows += batch
            if len(batch) < 1000:
                break
            after = batch[-1].member_id
    assert len(statements.seen) == 3  # 2,000 members on the journey: two full batches, then an empty one
    expected = [(m, s["stage"]) for m, s in zip(ids, specs, strict=True) if s["stage"] and not s.get("left_at")]
    assert [(r.member_id, r.stage) for r in rows] == expected
