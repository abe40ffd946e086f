"""The ledger service on a real database: idempotency, anti-farming, aggregates, badges, reputation."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot import ledger
from bot.config import RecognitionSection
from bot.ledger import LedgerPolicy
from bot.members import ensure_member
from models import BadgeAward, LedgerAdjustment, LedgerEvent, MemberKindStats, MemberPoints, Reminder
from models.recognition import BadgeRevocation

GUILD = 1
_ids = itertools.count(10_000)
HYPOTHESIS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def policy(**overrides: object) -> LedgerPolicy:
    return LedgerPolicy.from_config(RecognitionSection(**overrides))  # type: ignore[arg-type]


async def new_member(session, at: datetime, name: str = "m") -> int:
    member = await ensure_member(session, GUILD, next(_ids), display_name=name, joined_at=at)
    return member.id


async def aggregates(session, member_id: int) -> dict[tuple[str, str, datetime], tuple[int, int]]:
    rows = await session.execute(
        select(
            MemberPoints.category,
            MemberPoints.period_kind,
            MemberPoints.period_start,
            MemberPoints.points,
            MemberPoints.events,
        ).where(MemberPoints.member_id == member_id)
    )
    out: dict = {(c, k, s): (p, n) for c, k, s, p, n in rows.all()}
    stats = await session.scalars(select(MemberKindStats).where(MemberKindStats.member_id == member_id))
    out |= {("kind", st.kind): (st.events, st.last_week, st.streak, st.best_streak) for st in stats}
    return out


KINDS = ["answer_posted", "answer_accepted", "review_done", "checkin", "question_asked", "mentoring_session"]


@HYPOTHESIS
@given(
    ops=st.lists(
        st.tuples(st.integers(0, 2), st.sampled_from(KINDS), st.integers(0, 5), st.integers(0, 40)),
        min_size=1,
        max_size=30,
    )
)
async def test_recording_is_idempotent_and_aggregates_match_the_ledger(sessions, clock, ops) -> None:
    p = policy()
    start = clock.now()
    async with sessions.begin() as session:
        members = [await new_member(session, start) for _ in range(3)]
    expected: dict[tuple[int, str, str], int] = {}
    # Each op is a separate transaction, as features record: retries of the same triple must not count.
    for who, kind, ref, day in ops:
        async with sessions.begin() as session:
            result = await ledger.record_event(
                session,
                p,
                guild_id=GUILD,
                member_id=members[who],
                kind=kind,
                reference=f"r{ref}",
                at=start + timedelta(days=day),
            )
        key = (members[who], kind, f"r{ref}")
        assert result.duplicate == (key in expected)
        if key not in expected:
            expected[key] = p.points[kind]
            assert result.points == p.points[kind]
    async with sessions() as session:
        for m in members:
            mine = [pts for (mm, _, _), pts in expected.items() if mm == m]
            assert await ledger.points_of(session, m) == sum(mine)
            assert await ledger.reputation_of(session, m) == sum(mine)
            n = await session.scalar(
                select(func.count()).select_from(LedgerEvent).where(LedgerEvent.member_id == m)
            )
            assert n == len(mine)
        maintained = {m: await aggregates(session, m) for m in members}
    # The maintained aggregates equal a rebuild from the ledger.
    async with sessions.begin() as session:
        await ledger.rebuild_aggregates(session, p, GUILD)
    async with sessions() as session:
        for m in members:
            assert await aggregates(session, m) == maintained[m]


@HYPOTHESIS
@given(
    votes=st.lists(st.tuples(st.integers(1, 60), st.integers(0, 3), st.integers(0, 23)), min_size=1, max_size=25),
    cap=st.integers(0, 120),
)
async def test_daily_vote_cap_is_never_exceeded(sessions, clock, votes, cap) -> None:
    p = policy(daily_vote_cap=cap)
    start = clock.now().replace(hour=0)
    async with sessions.begin() as session:
        member = await new_member(session, start)
    used: dict[int, int] = {}
    for i, (points, day, hour) in enumerate(votes):
        async with sessions.begin() as session:
            result = await ledger.record_event(
                session,
                p,
                guild_id=GUILD,
                member_id=member,
                kind="answer_upvoted",
                reference=f"vote:{i}",
                at=start + timedelta(days=day, hours=hour),
                points=points,
                now=start + timedelta(days=day, hours=hour),  # votes are dated by the clock
            )
        expected = min(points, cap - used.get(day, 0))
        assert result.points == expected
        assert result.adjustment == (ledger.DAILY_CAP if expected < points else None)
        used[day] = used.get(day, 0) + expected
    async with sessions() as session:
        assert all(v <= cap for v in used.values())
        assert await ledger.points_of(session, member) == sum(used.values())
        requested = await session.scalar(
            select(func.coalesce(func.sum(LedgerAdjustment.requested_points), 0))
            .join(LedgerEvent, LedgerEvent.id == LedgerAdjustment.event_id)
            .where(LedgerEvent.member_id == member)
        )
        granted_adjusted = await session.scalar(
            select(func.coalesce(func.sum(LedgerEvent.points), 0))
            .join(LedgerAdjustment, LedgerEvent.id == LedgerAdjustment.event_id)
            .where(LedgerEvent.member_id == member)
        )
        # The audit trail accounts for every point not given.
        assert requested - granted_adjusted == sum(p for p, _, _ in votes) - sum(used.values())


async def test_non_vote_kinds_are_not_capped(sessions, clock) -> None:
    p = policy(daily_vote_cap=10)
    async with sessions.begin() as session:
        m = await new_member(session, clock.now())
        for i in range(5):
            r = await ledger.record_event(
                session, p, guild_id=GUILD, member_id=m, kind="answer_accepted", reference=f"a{i}", at=clock.now()
            )
            assert r.points == 15 and r.adjustment is None


async def test_acting_on_own_content_earns_nothing_and_counts_for_no_badge(sessions, clock) -> None:
    p = policy()
    async with sessions.begin() as session:
        m = await new_member(session, clock.now())
        other = await new_member(session, clock.now())
        r = await ledger.record_event(
            session,
            p,
            guild_id=GUILD,
            member_id=m,
            kind="answer_accepted",
            reference="own",
            at=clock.now(),
            subject_member_id=m,
            now=clock.now(),
        )
        assert r.points == 0 and r.adjustment == ledger.SELF and r.awarded == ()
        assert await ledger.points_of(session, m) == 0
        assert await ledger.reputation_of(session, m) == 0
        ok = await ledger.record_event(
            session,
            p,
            guild_id=GUILD,
            member_id=m,
            kind="answer_accepted",
            reference="theirs",
            at=clock.now(),
            subject_member_id=other,
            now=clock.now(),
        )
        assert ok.points == 15
        assert [a.badge.key for a in ok.awarded] == ["first-accepted-answer"]
        rows, total = await ledger.history(session, m)
        assert total == 2
        own = next(row for row in rows if row.reference == "own")
        assert (own.points, own.requested, own.adjustment) == (0, 15, "self")


async def test_record_needs_the_policy_and_applies_its_rules(sessions, clock) -> None:
    p = policy(daily_vote_cap=5)
    async with sessions.begin() as session:
        m = await new_member(session, clock.now())
        other = await new_member(session, clock.now())
        with pytest.raises(TypeError):
            await ledger.record(  # type: ignore[call-arg]
                session, guild_id=GUILD, member_id=m, kind="anything", reference="x", points=7, at=clock.now()
            )
        first = await ledger.record(
            session, p, guild_id=GUILD, member_id=m, kind="anything", reference="x", points=7, at=clock.now()
        )
        again = await ledger.record(
            session, p, guild_id=GUILD, member_id=m, kind="anything", reference="x", points=7, at=clock.now()
        )
        assert isinstance(first, LedgerEvent) and again is None
        # The caller's policy (its cap), and the self rule through subject_member_id.
        vote = await ledger.record(
            session,
            p,
            guild_id=GUILD,
            member_id=m,
            kind="answer_upvoted",
            reference="v",
            points=9,
            at=clock.now(),
            now=clock.now(),
        )
        own = await ledger.record(
            session,
            p,
            guild_id=GUILD,
            member_id=m,
            kind="answer_accepted",
            reference="own",
            points=15,
            at=clock.now(),
            subject_member_id=m,
            now=clock.now(),
        )
        theirs = await ledger.record(
            session,
            p,
            guild_id=GUILD,
            member_id=m,
            kind="answer_accepted",
            reference="theirs",
            points=15,
            at=clock.now(),
            subject_member_id=other,
            now=clock.now(),
        )
        assert (vote.points, own.points, theirs.points) == (5, 0, 15)
        assert await ledger.reputation_of(session, m) == 7 + 5 + 15


async def test_bad_input_is_refused(sessions, clock) -> None:
    p = policy()
    async with sessions.begin() as session:
        m = await new_member(session, clock.now())
        with pytest.raises(ValueError, match="kind and a reference"):
            await ledger.record_event(
                session, p, guild_id=GUILD, member_id=m, kind="", reference="x", at=clock.now()
            )
        with pytest.raises(ValueError, match="timezone-aware"):
            await ledger.record_event(
                session, p, guild_id=GUILD, member_id=m, kind="checkin", reference="x", at=datetime(2026, 1, 1)
            )


# -- badges ----------------------------------------------------------------------------------------------------
async def record_many(sessions, p, member: int, kind: str, n: int, at: datetime, *, step=timedelta(0)) -> list:
    awarded = []
    for i in range(n):
        async with sessions.begin() as session:
            r = await ledger.record_event(
                session, p, guild_id=GUILD, member_id=member, kind=kind, reference=f"{kind}:{i}", at=at + step * i
            )
            awarded.append([a.badge.key for a in r.awarded])
    return awarded


@pytest.mark.parametrize(
    ("kind", "n", "badge"),
    [
        ("question_asked", 1, "first-question"),
        ("answer_accepted", 1, "first-accepted-answer"),
        ("answer_accepted", 10, "ten-accepted-answers"),
        ("office_hour_hosted", 5, "office-hours-host"),
        ("mentoring_session", 10, "mentor"),
        ("review_done", 1, "first-review"),
        ("review_done", 20, "twenty-reviews"),
    ],
)
async def test_each_count_badge_is_awarded_exactly_when_reached(sessions, clock, kind, n, badge) -> None:
    p = policy(points={})  # no points, so only the count rules can fire
    async with sessions.begin() as session:
        m = await new_member(session, clock.now())
    awarded = await record_many(sessions, p, m, kind, n, clock.now())
    assert badge in awarded[n - 1]
    assert all(badge not in keys for keys in awarded[: n - 1])
    async with sessions() as session:
        held = list(await session.scalars(select(BadgeAward.badge_key).where(BadgeAward.member_id == m)))
    assert held.count(badge) == 1


@pytest.mark.parametrize(("weeks", "badge"), [(4, "checkin-streak-4"), (12, "checkin-streak-12")])
async def test_weekly_streak_badges(sessions, clock, weeks, badge) -> None:
    p = policy(points={})
    async with sessions.begin() as session:
        m = await new_member(session, clock.now())
        gap = await new_member(session, clock.now())
    awarded = await record_many(sessions, p, m, "checkin", weeks, clock.now(), step=timedelta(days=7))
    assert badge in awarded[-1] and all(badge not in a for a in awarded[:-1])
    # Two check-ins in one week count once; a missed week restarts the streak.
    times = [clock.now() + timedelta(days=7 * w) for w in range(weeks) if w != weeks // 2]
    times.append(clock.now() + timedelta(days=1))
    for i, at in enumerate(times):
        async with sessions.begin() as session:
            r = await ledger.record_event(
                session, p, guild_id=GUILD, member_id=gap, kind="checkin", reference=f"c{i}", at=at
            )
            assert badge not in [a.badge.key for a in r.awarded]


async def test_points_badge_and_manual_badges(sessions, clock) -> None:
    p = policy()
    async with sessions.begin() as session:
        m = await new_member(session, clock.now())
        r = await ledger.record_event(
            session, p, guild_id=GUILD, member_id=m, kind="bounty", reference="b", at=clock.now(), points=99
        )
        assert "reputation-100" not in [a.badge.key for a in r.awarded]
        r = await ledger.record_event(
            session, p, guild_id=GUILD, member_id=m, kind="bounty", reference="c", at=clock.now(), points=1
        )
        assert [a.badge.key for a in r.awarded] == ["reputation-100"]
        # Manual badges are never automatic, and a maintainer's award needs a reason and happens once.
        assert not any(a.badge.key == "helping-hand" for a in r.awarded)
        with pytest.raises(ValueError, match="reason"):
            await ledger.award_badge(
                session,
                p,
                guild_id=GUILD,
                member_id=m,
                badge_key="helping-hand",
                by_discord_id=5,
                reason=" ",
                at=clock.now(),
            )
        with pytest.raises(ValueError, match="unknown badge"):
            await ledger.award_badge(
                session,
                p,
                guild_id=GUILD,
                member_id=m,
                badge_key="nope",
                by_discord_id=5,
                reason="x",
                at=clock.now(),
            )
        first = await ledger.award_badge(
            session,
            p,
            guild_id=GUILD,
            member_id=m,
            badge_key="helping-hand",
            by_discord_id=5,
            reason="ran the study group",
            at=clock.now(),
        )
        again = await ledger.award_badge(
            session,
            p,
            guild_id=GUILD,
            member_id=m,
            badge_key="helping-hand",
            by_discord_id=5,
            reason="again",
            at=clock.now(),
        )
        assert first is not None and again is None
        assert await ledger.revoke_badge(session, member_id=m, badge_key="helping-hand", at=clock.now())
        assert not await ledger.revoke_badge(session, member_id=m, badge_key="helping-hand", at=clock.now())


async def test_badge_is_awarded_once_under_concurrency(sessions, clock, monkeypatch) -> None:
    p = policy()
    async with sessions.begin() as session:
        m = await new_member(session, clock.now())

    async def nothing_held(session, member_id: int) -> set[str]:
        # Every evaluation believes the badge is not held yet, as racing transactions that each read before the
        # other's award committed would: only the database's unique (member, badge) constraint can decide.
        return set()

    monkeypatch.setattr(ledger, "held_or_revoked", nothing_held)

    async def accept(i: int) -> ledger.Recorded:
        async with sessions.begin() as session:  # a session per task: AsyncSession is not shareable
            return await ledger.record_event(
                session, p, guild_id=GUILD, member_id=m, kind="answer_accepted", reference=f"a{i}", at=clock.now()
            )

    results = await asyncio.gather(*(accept(i) for i in range(8)))
    winners = [a for r in results for a in r.awarded if a.badge.key == "first-accepted-answer"]
    assert len(winners) == 1
    async with sessions() as session:
        n = await session.scalar(
            select(func.count())
            .select_from(BadgeAward)
            .where(BadgeAward.member_id == m, BadgeAward.badge_key == "first-accepted-answer")
        )
        assert n == 1
        assert await ledger.reputation_of(session, m) == 8 * 15
        keys = list(await session.scalars(select(BadgeAward.badge_key).where(BadgeAward.member_id == m)))
        assert sorted(keys) == ["first-accepted-answer", "reputation-100"]  # each once
        posts = await session.scalar(
            select(func.count()).select_from(Reminder).where(Reminder.kind == ledger.BADGE_POST)
        )
        assert posts == 2  # one announcement per award: the losers scheduled none


async def test_same_event_recorded_concurrently_counts_once(sessions, clock) -> None:
    p = policy()
    async with sessions.begin() as session:
        m = await new_member(session, clock.now())

    async def retry() -> ledger.Recorded:
        async with sessions.begin() as session:
            return await ledger.record_event(
                session, p, guild_id=GUILD, member_id=m, kind="review_done", reference="pr:1", at=clock.now()
            )

    results = await asyncio.gather(*(retry() for _ in range(6)))
    assert sum(not r.duplicate for r in results) == 1
    async with sessions() as session:
        assert await ledger.points_of(session, m) == 10
        assert await ledger.reputation_of(session, m) == 10


async def test_evaluate_badges_catches_up_after_new_rules(sessions, clock) -> None:
    async with sessions.begin() as session:
        m = await new_member(session, clock.now())
        without = policy()
        without = LedgerPolicy(**{**without.__dict__, "badges": ()})
        for i in range(2):
            await ledger.record_event(
                session,
                without,
                guild_id=GUILD,
                member_id=m,
                kind="review_done",
                reference=f"r{i}",
                at=clock.now(),
            )
        awarded = await ledger.evaluate_badges(session, policy(), guild_id=GUILD, member_id=m, at=clock.now())
        assert [a.badge.key for a in awarded] == ["first-review"]


# -- reputation ------------------------------------------------------------------------------------------------
async def test_reputation_privileges_and_floor(sessions, clock) -> None:
    p = policy(privileges={"vote": 15, "review": 100})
    async with sessions.begin() as session:
        m = await new_member(session, clock.now())
        assert not await ledger.has_privilege(session, m, "vote", policy=p)
        await ledger.record_event(
            session, p, guild_id=GUILD, member_id=m, kind="answer_accepted", reference="a", at=clock.now()
        )
        assert await ledger.has_privilege(session, m, "vote", policy=p)
        assert not await ledger.has_privilege(session, m, "review", policy=p)
        with pytest.raises(ValueError, match="unknown privilege"):
            await ledger.has_privilege(session, m, "fly", policy=p)
        await ledger.record_event(
            session, p, guild_id=GUILD, member_id=m, kind="penalty", reference="p", at=clock.now(), points=-100
        )
        assert await ledger.reputation_of(session, m) == 0
        assert await ledger.points_of(session, m) == -85
        assert ledger.privileges_for(120, p) == {"vote": True, "review": True}
        with pytest.raises(TypeError):
            await ledger.has_privilege(session, m, "vote")  # type: ignore[call-arg]


async def test_periods_put_events_in_the_right_week_and_month(sessions) -> None:
    p = policy()
    sunday_night = datetime(2026, 3, 1, 23, 59, tzinfo=UTC)  # a Sunday, last day of February's... March 1st
    async with sessions.begin() as session:
        m = await new_member(session, sunday_night)
        await ledger.record_event(
            session, p, guild_id=GUILD, member_id=m, kind="review_done", reference="x", at=sunday_night
        )
        agg = await aggregates(session, m)
    assert agg[("reviews", "week", datetime(2026, 2, 23, tzinfo=UTC))] == (10, 1)
    assert agg[("reviews", "month", datetime(2026, 3, 1, tzinfo=UTC))] == (10, 1)
    assert agg[("overall", "all", ledger.ALL_TIME)] == (10, 1)
    assert len(agg) == 7  # 6 point aggregates and the kind's stats


# -- announcements and revocations --------------------------------------------------------------------------------
async def reminders_of(session, kind: str = ledger.BADGE_POST) -> list[Reminder]:
    return list(await session.scalars(select(Reminder).where(Reminder.kind == kind).order_by(Reminder.id)))


async def test_every_award_schedules_its_announcement_in_the_same_transaction(sessions, clock) -> None:
    p = policy()
    async with sessions.begin() as session:
        m = await new_member(session, clock.now())
        auto = await ledger.record_event(
            session, p, guild_id=GUILD, member_id=m, kind="answer_accepted", reference="a", at=clock.now()
        )
        manual = await ledger.award_badge(
            session,
            p,
            guild_id=GUILD,
            member_id=m,
            badge_key="helping-hand",
            by_discord_id=5,
            reason="ran the study group",
            at=clock.now(),
        )
        assert manual is not None
    ids = [auto.awarded[0].award_id, manual.award_id]
    async with sessions() as session:
        rows = await reminders_of(session)
    assert [r.dedupe_key for r in rows] == [f"badge:{i}" for i in ids]
    assert all(r.state == "pending" and r.due_at == clock.now() and r.guild_id == GUILD for r in rows)
    assert [r.payload["award_id"] for r in rows] == ids
    # A rolled-back award leaves no announcement behind.
    async with sessions() as session, session.begin() as tx:
        await ledger.award_badge(
            session,
            p,
            guild_id=GUILD,
            member_id=m,
            badge_key="mentor",
            by_discord_id=5,
            reason="x",
            at=clock.now(),
        )
        await tx.rollback()
    async with sessions() as session:
        assert len(await reminders_of(session)) == 2


async def test_a_revoked_automatic_badge_is_not_awarded_again(sessions, clock) -> None:
    p = policy()
    async with sessions.begin() as session:
        m = await new_member(session, clock.now())
        first = await ledger.record_event(
            session, p, guild_id=GUILD, member_id=m, kind="review_done", reference="r0", at=clock.now()
        )
        assert [a.badge.key for a in first.awarded] == ["first-review"]
    async with sessions.begin() as session:
        assert await ledger.revoke_badge(
            session, member_id=m, badge_key="first-review", by_discord_id=9, at=clock.now()
        )
    async with sessions.begin() as session:
        again = await ledger.record_event(
            session, p, guild_id=GUILD, member_id=m, kind="review_done", reference="r1", at=clock.now()
        )
        assert again.awarded == ()
        assert await ledger.evaluate_badges(session, p, guild_id=GUILD, member_id=m, at=clock.now()) == []
        revocation = await session.get(BadgeRevocation, (m, "first-review"))
        assert revocation is not None and revocation.revoked_by == 9
        # The announcement not yet posted is dropped with the badge.
        (reminder,) = await reminders_of(session)
        assert (reminder.state, reminder.last_error) == ("dropped", "badge revoked")
        # A maintainer's award by hand gives it back, and lifts the revocation.
        back = await ledger.award_badge(
            session,
            p,
            guild_id=GUILD,
            member_id=m,
            badge_key="first-review",
            by_discord_id=9,
            reason="revoked by mistake",
            at=clock.now(),
        )
        assert back is not None and await session.get(BadgeRevocation, (m, "first-review")) is None
    async with sessions.begin() as session:
        await ledger.rebuild(session, p, at=clock.now())
        keys = list(await session.scalars(select(BadgeAward.badge_key).where(BadgeAward.member_id == m)))
        assert keys == ["first-review"]


# -- locking and stale reads ------------------------------------------------------------------------------------
async def test_daily_cap_holds_under_concurrent_votes(sessions, clock) -> None:
    p = policy(daily_vote_cap=30)
    async with sessions.begin() as session:
        m = await new_member(session, clock.now())

    async def vote(i: int) -> None:
        async with sessions.begin() as session:
            await ledger.record_event(
                session,
                p,
                guild_id=GUILD,
                member_id=m,
                kind="answer_upvoted",
                reference=f"v{i}",
                at=clock.now(),
                points=10,
                now=clock.now(),
            )

    await asyncio.gather(*(vote(i) for i in range(12)))
    async with sessions() as session:
        assert await ledger.points_of(session, m) == 30
        assert await ledger.reputation_of(session, m) == 30


async def test_multi_member_transactions_lock_in_order_and_never_deadlock(sessions, clock, caplog) -> None:
    p = policy()
    async with sessions.begin() as session:
        a = await new_member(session, clock.now())
        b = await new_member(session, clock.now())

    async def both(first: int, second: int, tag: str, *, lock_first: bool) -> None:
        async with sessions.begin() as session:
            if lock_first:
                await ledger.lock_members(session, [first, second])
            await ledger.record_event(
                session,
                p,
                guild_id=GUILD,
                member_id=first,
                kind="review_done",
                reference=f"{tag}1",
                at=clock.now(),
            )
            await asyncio.sleep(0.2)  # both transactions hold their first member before asking for the second
            await ledger.record_event(
                session,
                p,
                guild_id=GUILD,
                member_id=second,
                kind="review_done",
                reference=f"{tag}2",
                at=clock.now(),
            )

    await asyncio.gather(both(a, b, "x", lock_first=True), both(b, a, "y", lock_first=True))
    async with sessions() as session:
        assert await ledger.points_of(session, a) == await ledger.points_of(session, b) == 20
    if sessions.kw["bind"].dialect.name != "postgresql":
        return  # SQLite has one writer at a time: no lock order to get wrong
    # Without lock_members, opposite orders deadlock on PostgreSQL (one transaction is aborted), and the ledger
    # says how to avoid it.
    results = await asyncio.gather(
        both(a, b, "p", lock_first=False), both(b, a, "q", lock_first=False), return_exceptions=True
    )
    assert any("deadlock" in str(r) for r in results)
    assert "lock_members" in caplog.text


async def test_kind_stats_are_read_fresh_not_from_a_stale_identity_map(sessions, clock) -> None:
    p = policy()
    async with sessions.begin() as session:
        m = await new_member(session, clock.now())
        await ledger.record_event(
            session, p, guild_id=GUILD, member_id=m, kind="review_done", reference="r0", at=clock.now()
        )
    async with sessions() as stale, stale.begin():
        loaded = await ledger.load_kind_stats(stale, m, {"review_done"})  # held in this session's identity map
        assert loaded["review_done"].events == 1
        async with sessions.begin() as other:  # meanwhile another transaction records one
            await ledger.record_event(
                other, p, guild_id=GUILD, member_id=m, kind="review_done", reference="r1", at=clock.now()
            )
        await ledger.record_event(
            stale, p, guild_id=GUILD, member_id=m, kind="review_done", reference="r2", at=clock.now()
        )
    async with sessions() as session:
        stats = await session.get(MemberKindStats, (m, "review_done"))
        assert stats is not None and stats.events == 3
