"""The ledger's inputs (clock-dated member-driven events, bounded points, per-pair caps, 64-bit sums) and its
windows in the community's time zone (weeks, months, the vote cap's day, streaks, spotlights, quarters, DST),
with the rebuild when the zone changes; on the real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from bot import ledger, reminders
from bot.config import Config, RecognitionSection
from bot.ledger import LedgerPolicy
from bot.members import ensure_member
from cogs.recognition import service
from models import LedgerAdjustment, LedgerEvent, MemberKindStats, MemberPoints, Reminder, Spotlight

GUILD = 11
_ids = itertools.count(70_000)
BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")


def policy(timezone: str = "UTC", **overrides: object) -> LedgerPolicy:
    config = Config.model_validate({"community": {"timezone": timezone}, "recognition": overrides})
    return ledger.policy_for(config)


async def new_member(session, at: datetime) -> int:
    return (await ensure_member(session, GUILD, next(_ids), display_name="m", joined_at=at)).id


async def keys(session, member_id: int, category: str = "overall") -> dict[str, datetime]:
    rows = await session.execute(
        select(MemberPoints.period_kind, MemberPoints.period_start).where(
            MemberPoints.member_id == member_id, MemberPoints.category == category
        )
    )
    return dict(rows.all())


def test_the_community_time_zone_reaches_the_policy() -> None:
    assert policy("Europe/Berlin").timezone == "Europe/Berlin" and policy().tz is UTC
    assert LedgerPolicy.from_config(RecognitionSection()).timezone == "UTC"
    assert policy(pair_caps={"answer_accepted": {"points": 30, "days": 7}}).pair_caps == {
        "answer_accepted": (30, 7)
    }


# -- item 5: inputs ----------------------------------------------------------------------------------------------
async def test_a_back_dated_vote_is_clamped_to_the_clock_and_gets_no_fresh_cap(sessions, clock) -> None:
    p = policy(daily_vote_cap=20)
    now = clock.now()
    async with sessions.begin() as session:
        m, voter = await new_member(session, now), await new_member(session, now)
        today = await ledger.record_event(
            session,
            p,
            guild_id=GUILD,
            member_id=m,
            kind="answer_upvoted",
            reference="v1",
            at=now,
            points=20,
            subject_member_id=voter,
            now=now,
        )
        assert today.points == 20
        # Dated three days back, where that day's cap is unused: recorded now (minus the window), so capped.
        old = await ledger.record_event(
            session,
            p,
            guild_id=GUILD,
            member_id=m,
            kind="answer_upvoted",
            reference="v2",
            at=now - timedelta(days=3),
            points=20,
            now=now,
        )
        assert (old.points, old.adjustment) == (0, ledger.DAILY_CAP)
        assert old.event.created_at == now - ledger.RECORD_WINDOW
        # Inside the window the caller's time stands.
        recent = await ledger.record_event(
            session,
            p,
            guild_id=GUILD,
            member_id=m,
            kind="question_upvoted",
            reference="v3",
            at=now - timedelta(minutes=2),
            now=now,
        )
        assert recent.event.created_at == now - timedelta(minutes=2)
        assert await ledger.reputation_of(session, m) == 20


async def test_future_events_and_unclocked_member_driven_events_are_refused(sessions, clock) -> None:
    p = policy()
    now = clock.now()
    async with sessions.begin() as session:
        m, other = await new_member(session, now), await new_member(session, now)
        with pytest.raises(ledger.LedgerTimeError, match="future"):
            await ledger.record_event(
                session,
                p,
                guild_id=GUILD,
                member_id=m,
                kind="review_done",
                reference="r",
                at=now + timedelta(hours=1),
                now=now,
            )
        with pytest.raises(ledger.LedgerTimeError, match="future"):  # a vote dated tomorrow: a fresh cap
            await ledger.record_event(
                session,
                p,
                guild_id=GUILD,
                member_id=m,
                kind="answer_upvoted",
                reference="v",
                at=now + timedelta(days=1),
                now=now,
            )
        for kind, subject in (("answer_upvoted", None), ("answer_accepted", other)):
            with pytest.raises(ledger.LedgerTimeError, match=r"now=bot\.clock\.now"):
                await ledger.record_event(
                    session,
                    p,
                    guild_id=GUILD,
                    member_id=m,
                    kind=kind,
                    reference="x",
                    at=now - timedelta(days=2),
                    subject_member_id=subject,
                )
        # A small clock skew is tolerated; a trusted caller's back-dated entry (no counterpart) keeps its time.
        ok = await ledger.record_event(
            session,
            p,
            guild_id=GUILD,
            member_id=m,
            kind="review_done",
            reference="r2",
            at=now + timedelta(seconds=30),
            now=now,
        )
        assert ok.points == 10
        past = await ledger.record_event(
            session,
            p,
            guild_id=GUILD,
            member_id=m,
            kind="contribution_merged",
            reference="pr:1",
            at=now - timedelta(days=40),
        )
        assert past.event.created_at == now - timedelta(days=40)
        n = await session.scalar(select(func.count()).where(LedgerEvent.member_id == m))
        assert n == 2  # nothing was written by the refused calls


async def test_explicit_points_are_bounded(sessions, clock) -> None:
    p = policy()
    async with sessions.begin() as session:
        m = await new_member(session, clock.now())
        for bad in (ledger.MAX_EVENT_POINTS + 1, -ledger.MAX_EVENT_POINTS - 1, 2**40, True, 1.5):
            with pytest.raises(ValueError, match="explicit ledger points"):
                await ledger.record_event(
                    session,
                    p,
                    guild_id=GUILD,
                    member_id=m,
                    kind="bounty",
                    reference=f"b{bad}",
                    at=clock.now(),
                    points=bad,  # type: ignore[arg-type]
                )
        top = await ledger.record_event(
            session,
            p,
            guild_id=GUILD,
            member_id=m,
            kind="bounty",
            reference="max",
            at=clock.now(),
            points=ledger.MAX_EVENT_POINTS,
        )
        assert top.points == ledger.MAX_EVENT_POINTS
        assert await session.scalar(select(func.count()).where(LedgerEvent.member_id == m)) == 1


async def test_point_sums_go_past_32_bits(sessions, clock) -> None:
    p = policy()
    now = clock.now()
    async with sessions.begin() as session:
        m = await new_member(session, now)
        await ledger.record_event(
            session, p, guild_id=GUILD, member_id=m, kind="bounty", reference="a", at=now, points=10
        )
        # As if the member had earned 2**31 - 5 points already (on PostgreSQL an INTEGER column overflows here).
        await session.execute(update(MemberPoints).where(MemberPoints.member_id == m).values(points=2**31 - 5))
    async with sessions.begin() as session:
        await ledger.record_event(
            session, p, guild_id=GUILD, member_id=m, kind="bounty", reference="b", at=now, points=10_000
        )
    async with sessions() as session:
        assert await ledger.reputation_of(session, m) == 2**31 - 5 + 10_000
        board = await service.leaderboard(session, GUILD, window="all", category="overall", at=now)
        assert board.rows[0].points == 2**31 - 5 + 10_000


async def test_per_pair_cap_limits_what_one_member_can_give_another(sessions, clock) -> None:
    p = policy(pair_caps={"answer_accepted": {"points": 30, "days": 7}})
    now = clock.now()
    async with sessions.begin() as session:
        answerer, asker, other = [await new_member(session, now) for _ in range(3)]

    async def accept(asker_id: int, ref: str, at: datetime) -> ledger.Recorded:
        async with sessions.begin() as session:
            return await ledger.record_event(
                session,
                p,
                guild_id=GUILD,
                member_id=answerer,
                kind="answer_accepted",
                reference=ref,
                at=at,
                subject_member_id=asker_id,
                now=at,
            )

    got = [await accept(asker, f"a{i}", now + timedelta(hours=i)) for i in range(4)]
    assert [(r.points, r.adjustment) for r in got] == [
        (15, None),
        (15, None),
        (0, ledger.PAIR_CAP),
        (0, ledger.PAIR_CAP),
    ]
    assert (await accept(other, "b0", now + timedelta(hours=5))).points == 15  # another asker: its own budget
    assert (await accept(asker, "a9", now + timedelta(days=8))).points == 15  # a week later: budget back
    async with sessions() as session:
        assert await ledger.reputation_of(session, answerer) == 15 * 4
        capped = await session.scalar(select(func.count()).where(LedgerAdjustment.reason == ledger.PAIR_CAP))
        assert capped == 2
        rows, _ = await ledger.history(session, answerer)
        assert {r.adjustment for r in rows} == {None, "pair_cap"}
        # A kind without a pair cap is not limited by it.
        unlimited = policy()
        async with sessions.begin() as s2:
            r = await ledger.record_event(
                s2,
                unlimited,
                guild_id=GUILD,
                member_id=answerer,
                kind="answer_accepted",
                reference="c",
                at=now + timedelta(days=8),
                subject_member_id=asker,
                now=now + timedelta(days=8),
            )
            assert r.points == 15


# -- item 23: windows in the community's time zone ----------------------------------------------------------------
def test_period_functions_follow_the_zone_and_dst() -> None:
    sunday_night = datetime(2026, 5, 31, 23, 30, tzinfo=UTC)  # Monday 1 June 01:30 in Berlin (UTC+2)
    assert ledger.week_start(sunday_night) == datetime(2026, 5, 25, tzinfo=UTC)
    assert ledger.week_start(sunday_night, BERLIN) == datetime(2026, 5, 31, 22, tzinfo=UTC)
    assert ledger.month_start(sunday_night, BERLIN) == datetime(2026, 5, 31, 22, tzinfo=UTC)
    assert ledger.add_months(datetime(2026, 5, 31, 22, tzinfo=UTC), -3, BERLIN) == datetime(
        2026, 2, 28, 23, tzinfo=UTC
    )
    # Berlin springs forward on Sunday 29 March 2026: that day lasts 23 hours, its week 167.
    day = ledger.day_start(datetime(2026, 3, 29, 12, tzinfo=UTC), BERLIN)
    assert (day, ledger.next_day_start(day, BERLIN)) == (
        datetime(2026, 3, 28, 23, tzinfo=UTC),
        datetime(2026, 3, 29, 22, tzinfo=UTC),
    )
    week = ledger.week_start(datetime(2026, 3, 29, 12, tzinfo=UTC), BERLIN)
    assert ledger.week_start(week + timedelta(days=7, hours=1), BERLIN) - week == timedelta(hours=167)
    # New York falls back on Sunday 1 November 2026: that week lasts 169 hours.
    week = ledger.week_start(datetime(2026, 10, 28, tzinfo=UTC), NEW_YORK)
    assert week == datetime(2026, 10, 26, 4, tzinfo=UTC)
    assert ledger.week_start(datetime(2026, 11, 2, 4, 30, tzinfo=UTC), NEW_YORK) == week  # Sunday 23:30 EST
    assert ledger.week_start(datetime(2026, 11, 2, 5, tzinfo=UTC), NEW_YORK) == week + timedelta(hours=169)
    # The spotlight posts at the post hour's wall time, also on a DST day (New York's 1 November).
    october = ledger.month_start(datetime(2026, 10, 15, tzinfo=UTC), NEW_YORK)
    assert service.spotlight_post_time(october, 15, NEW_YORK) == datetime(2026, 11, 1, 20, 5, tzinfo=UTC)
    assert service.spotlight_post_key(GUILD, october, NEW_YORK) == f"spotlight:{GUILD}:2026-10"
    assert service.quarter_start(datetime(2026, 6, 30, 23, tzinfo=UTC), BERLIN) == datetime(
        2026, 6, 30, 22, tzinfo=UTC
    )


async def test_a_sunday_night_event_belongs_to_the_communitys_next_week_and_month(sessions) -> None:
    sunday_night = datetime(2026, 5, 31, 23, 30, tzinfo=UTC)
    p = policy("Europe/Berlin")
    async with sessions.begin() as session:
        m = await new_member(session, sunday_night)
        await ledger.record_event(
            session, p, guild_id=GUILD, member_id=m, kind="review_done", reference="r", at=sunday_night
        )
        assert await keys(session, m) == {
            "week": datetime(2026, 5, 31, 22, tzinfo=UTC),
            "month": datetime(2026, 5, 31, 22, tzinfo=UTC),
            "all": ledger.ALL_TIME,
        }
    async with sessions() as session:

        async def board(window: str, at: datetime) -> list[int]:
            b = await service.leaderboard(
                session,
                GUILD,
                window=window,
                category="reviews",
                at=at,
                tz=p.tz,  # type: ignore[arg-type]
            )
            return [r.member_id for r in b.rows]

        monday = datetime(2026, 6, 1, 8, tzinfo=UTC)
        assert await board("week", monday) == [m] and await board("month", monday) == [m]
        before = datetime(2026, 5, 31, 21, tzinfo=UTC)  # Sunday 23:00 in Berlin: the week before
        assert await board("week", before) == [] and await board("month", before) == []


async def test_the_vote_caps_day_is_the_communitys_day_across_dst(sessions) -> None:
    p = policy("Europe/Berlin", daily_vote_cap=10)
    async with sessions.begin() as session:
        m = await new_member(session, datetime(2026, 3, 1, tzinfo=UTC))

    async def vote(ref: str, at: datetime) -> int:
        async with sessions.begin() as session:
            r = await ledger.record_event(
                session, p, guild_id=GUILD, member_id=m, kind="answer_upvoted", reference=ref, at=at, now=at
            )
            return r.points

    # 22:30 and 23:30 UTC on Saturday 28 March are two Berlin days (Saturday 23:30, then Sunday 00:30).
    assert await vote("a", datetime(2026, 3, 28, 22, 30, tzinfo=UTC)) == 10  # Saturday 23:30 CET
    assert await vote("b", datetime(2026, 3, 28, 23, 30, tzinfo=UTC)) == 10  # Sunday 00:30 CET: a new day
    # Sunday 29 March is 23 hours long in Berlin: 21:59 UTC is still that day, 22:00 UTC is Monday.
    assert await vote("c", datetime(2026, 3, 29, 21, 59, tzinfo=UTC)) == 0
    assert await vote("d", datetime(2026, 3, 29, 22, 0, tzinfo=UTC)) == 10


async def test_weekly_streaks_count_the_communitys_weeks(sessions) -> None:
    # Sunday 23:30 in Berlin, then Monday 01:30 in Berlin: two weeks there, one UTC week.
    times = [datetime(2026, 6, 7, 21, 30, tzinfo=UTC), datetime(2026, 6, 7, 23, 30, tzinfo=UTC)]
    async with sessions.begin() as session:
        for zone, expected in (("UTC", 1), ("Europe/Berlin", 2)):
            m = await new_member(session, times[0])
            for i, at in enumerate(times):
                await ledger.record_event(
                    session, policy(zone), guild_id=GUILD, member_id=m, kind="checkin", reference=f"c{i}", at=at
                )
            stats = await session.get(MemberKindStats, (m, "checkin"))
            assert stats is not None and stats.best_streak == expected, zone


async def test_changing_the_time_zone_rebuilds_the_windows(sessions) -> None:
    sunday_night = datetime(2026, 5, 31, 23, 30, tzinfo=UTC)
    utc, berlin = policy(), policy("Europe/Berlin")
    async with sessions.begin() as session:
        m = await new_member(session, sunday_night)
        await ledger.record_event(
            session, utc, guild_id=GUILD, member_id=m, kind="review_done", reference="r", at=sunday_night
        )
        # Aggregates from before the zone was recorded are UTC ones: no rebuild for UTC, one for Berlin.
        assert await ledger.aggregates_timezone(session) is None
        assert not await ledger.needs_rebuild(session, utc)
        assert await ledger.needs_rebuild(session, berlin)
        assert await ledger.rebuild_if_needed(session, utc, at=sunday_night) is None
        assert await ledger.aggregates_timezone(session) == "UTC"
    async with sessions.begin() as session:
        result = await ledger.rebuild_if_needed(session, berlin, at=sunday_night)
        assert result is not None and result.members == 1
        assert await keys(session, m) == {
            "week": datetime(2026, 5, 31, 22, tzinfo=UTC),
            "month": datetime(2026, 5, 31, 22, tzinfo=UTC),
            "all": ledger.ALL_TIME,
        }
        assert not await ledger.needs_rebuild(session, berlin)
        assert await ledger.rebuild_if_needed(session, berlin, at=sunday_night) is None
        # New events land in the same windows as the rebuilt ones.
        await ledger.record_event(
            session, berlin, guild_id=GUILD, member_id=m, kind="review_done", reference="r2", at=sunday_night
        )
        rows = await session.execute(
            select(MemberPoints.period_kind, MemberPoints.points).where(
                MemberPoints.member_id == m, MemberPoints.category == "reviews"
            )
        )
        assert dict(rows.all()) == {"week": 20, "month": 20, "all": 20}
        assert await ledger.needs_rebuild(session, utc)  # and back again if the zone changes back


async def test_spotlight_month_follows_the_zone_and_is_rekeyed_when_it_changes(sessions, clock) -> None:
    sunday_night = datetime(2026, 5, 31, 23, 30, tzinfo=UTC)  # June in Berlin, May in UTC
    p = policy("Europe/Berlin")
    async with sessions.begin() as session:
        m = await new_member(session, sunday_night)
        await ledger.record_event(
            session, p, guild_id=GUILD, member_id=m, kind="review_done", reference="r", at=sunday_night
        )
        june = ledger.month_start(datetime(2026, 6, 15, tzinfo=UTC), p.tz)
        draft = await service.prepare_spotlight(session, GUILD, june, clock.now(), tz=p.tz)
        assert [e.member_id for e in draft.entries] == [m]
        assert service.month_label(draft.month_start, p.tz) == "June 2026"
        assert service.spotlight_post_time(june, 15, p.tz) == datetime(2026, 7, 1, 13, 5, tzinfo=UTC)
        # A spotlight keyed on UTC months (before the zone was set) is moved to Berlin's, keeping its month.
        session.add(
            Spotlight(guild_id=GUILD, month_start=datetime(2026, 4, 1, tzinfo=UTC), created_at=clock.now())
        )
        await session.flush()
        assert await service.align_spotlight_months(session, p.tz) == 1
        assert await service.align_spotlight_months(session, p.tz) == 0
        starts = set(await session.scalars(select(Spotlight.month_start)))
        assert starts == {datetime(2026, 3, 31, 22, tzinfo=UTC), datetime(2026, 5, 31, 22, tzinfo=UTC)}
        assert await service.spotlight_draft(session, GUILD, datetime(2026, 4, 10, tzinfo=UTC), tz=p.tz)


async def test_quarter_review_uses_the_zones_quarters_and_knows_when_it_is_quiet(sessions) -> None:
    p = policy("Europe/Berlin")
    start = datetime(2026, 6, 30, 22, 30, tzinfo=UTC)  # 1 July 00:30 in Berlin: the third quarter
    async with sessions.begin() as session:
        m = await new_member(session, datetime(2026, 1, 5, tzinfo=UTC))
        await ledger.record_event(
            session, p, guild_id=GUILD, member_id=m, kind="review_done", reference="r", at=start
        )
        q2 = await service.quarter_review(session, GUILD, datetime(2026, 5, 1, tzinfo=UTC), tz=p.tz)
        q3 = await service.quarter_review(session, GUILD, datetime(2026, 8, 1, tzinfo=UTC), tz=p.tz)
    assert (q2.label, q2.events, q2.quiet) == ("2026 Q2", 0, True)
    assert (q3.label, q3.events, q3.quiet, q3.quarter_start) == (
        "2026 Q3",
        1,
        False,
        datetime(2026, 6, 30, 22, tzinfo=UTC),
    )


async def test_post_now_moves_the_months_post_reminder_in_a_zoned_community(sessions, clock) -> None:
    """ "Post now" finds the post reminder by the key it was scheduled with, the community's month: not UTC's."""
    berlin = ZoneInfo("Europe/Berlin")
    june = ledger.month_start(datetime(2026, 6, 15, tzinfo=UTC), berlin)  # 31 May 22:00 UTC: May in UTC
    async with sessions.begin() as session:
        m = await new_member(session, june)
        await ledger.record_event(
            session,
            policy("Europe/Berlin"),
            guild_id=GUILD,
            member_id=m,
            kind="review_done",
            reference="r",
            at=june + timedelta(days=3),
        )
        draft = await service.prepare_spotlight(session, GUILD, june, clock.now(), tz=berlin)
        await reminders.add(
            session,
            kind=service.SPOTLIGHT_POST,
            guild_id=GUILD,
            target_id=draft.id,
            due_at=service.spotlight_post_time(june, 15, berlin),
            created_at=clock.now(),
            dedupe_key=service.spotlight_post_key(GUILD, june, berlin),
        )
    async with sessions.begin() as session:
        state = await service.post_spotlight_now(session, GUILD, draft.id, clock.now(), berlin)
    assert state == "rescheduled"
    async with sessions() as session:
        due = await session.scalar(select(Reminder.due_at).where(Reminder.kind == service.SPOTLIGHT_POST))
    assert due == clock.now()


async def test_rebuilding_one_guild_does_not_record_the_zone_for_every_guild(sessions) -> None:
    sunday_night = datetime(2026, 5, 31, 23, 30, tzinfo=UTC)
    utc, berlin = policy(), policy("Europe/Berlin")
    async with sessions.begin() as session:
        m = await new_member(session, sunday_night)
        await ledger.record_event(
            session, utc, guild_id=GUILD, member_id=m, kind="review_done", reference="r", at=sunday_night
        )
        await ledger.rebuild(session, utc, at=sunday_night)
        assert await ledger.aggregates_timezone(session) == "UTC"
        # Only GUILD's windows are re-cut in Berlin's zone: every other guild's are still UTC ones, so the
        # marker must not claim Berlin, and a full rebuild is still needed.
        await ledger.rebuild(session, berlin, at=sunday_night, guild_id=GUILD)
        assert await ledger.aggregates_timezone(session) == "UTC"
        assert await ledger.needs_rebuild(session, berlin)
        await ledger.rebuild(session, berlin, at=sunday_night)
        assert await ledger.aggregates_timezone(session) == "Europe/Berlin"
        assert not await ledger.needs_rebuild(session, berlin)
