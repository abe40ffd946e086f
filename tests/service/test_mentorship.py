"""Mentorship rules against the real migrated database (SQLite, and PostgreSQL with ATLAS_TEST_POSTGRES_URL):
sign-up refusals, a match run confirmed once and within capacity, one session per pair and day in the ledger, a
quiet pair flagged once, ending once, review claims (one reviewer, never the requester) and the rating's credit,
and members' data."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from bot import ledger
from bot.members import ensure_member
from cogs.mentorship import reviews, service
from cogs.mentorship.matching import Matching, Pair, Unmatched
from models import LedgerEvent, Member
from models.mentorship import MentorMatchRun, MentorPair, MentorSession, ReviewRequest

GUILD = 1
LEVELS = ["beginner", "intermediate", "advanced", "expert"]


async def member(sessions, clock, n: int, *, stage: str = "learner", skill: str = "beginner") -> int:
    async with sessions.begin() as session:
        row = await ensure_member(session, GUILD, 5000 + n, display_name=f"m{n}", joined_at=clock.now())
        row.onboarded_at, row.stage, row.skill, row.timezone = clock.now(), stage, skill, "Europe/Berlin"
        return row.id


async def test_signup_rules_and_edit(sessions, clock) -> None:
    learner = await member(sessions, clock, 1)
    mentor = await member(sessions, clock, 2, stage="contributor", skill="advanced")
    async with sessions.begin() as session:
        with pytest.raises(service.MentorError, match="Contributors and up"):
            await service.mentor_signup(
                session,
                await session.get(Member, learner),
                clock.now(),
                topics="python",
                capacity=2,
                hours=4,
                style="text chat",
                career=False,
                elevated=False,
            )
        with pytest.raises(service.MentorError, match="1 to 5"):
            await service.mentor_signup(
                session,
                await session.get(Member, mentor),
                clock.now(),
                topics="python",
                capacity=6,
                hours=4,
                style="text chat",
                career=False,
                elevated=False,
            )
        first = await service.mentor_signup(
            session,
            await session.get(Member, mentor),
            clock.now(),
            topics="Python, SQL,python",
            capacity=2,
            hours=4,
            style="text chat",
            career=True,
            elevated=False,
        )
        again = await service.mentor_signup(
            session,
            await session.get(Member, mentor),
            clock.now(),
            topics="go",
            capacity=3,
            hours=4,
            style="voice calls",
            career=True,
            elevated=False,
        )
    assert first == service.Signup("signed_up", ("python", "sql")) and again.outcome == "updated"
    async with sessions() as session:
        assert await service.topics_of(session, mentor, "mentor") == ("go",)
    async with sessions.begin() as session:
        assert await service.set_paused(session, mentor, clock.now(), True)
        assert not await service.set_paused(session, mentor, clock.now(), True)
        assert await service.mentors_in(session, GUILD, clock.now(), LEVELS) == []


def test_awake_hours_follow_the_zone(clock) -> None:
    berlin = service.awake_utc_hours("Europe/Berlin", clock.now())  # winter: UTC+1
    assert min(berlin) == 7 and len(berlin) == 14
    assert (
        service.level_of("expert", "teacher", LEVELS) == 4 and service.level_of("beginner", "learner", LEVELS) == 0
    )
    assert service.awake_utc_hours("America/New_York", clock.now()) == frozenset(
        (h + 5) % 24 for h in range(8, 22)
    )


async def _pair(sessions, clock) -> tuple[int, int, int]:
    mentor = await member(sessions, clock, 10, stage="teacher", skill="expert")
    mentee = await member(sessions, clock, 11)
    other = await member(sessions, clock, 12)
    async with sessions.begin() as session:
        await service.mentor_signup(
            session,
            await session.get(Member, mentor),
            clock.now(),
            topics="python",
            capacity=1,
            hours=4,
            style="text chat",
            career=False,
            elevated=False,
        )
        for m in (mentee, other):
            await service.mentee_signup(
                session,
                await session.get(Member, m),
                clock.now(),
                goals="learn",
                topics="python",
                style="text chat",
            )
        plan = Matching(
            (Pair(mentor, mentee, 3.0, ("python",)), Pair(mentor, other, 2.0, ("python",))),
            (Unmatched(999, "nobody"),),
            5.0,
            4.0,
        )
        run_id = await service.save_run(session, GUILD, 1, plan, clock.now())
    return run_id, mentor, mentee


async def test_confirm_once_and_within_capacity(sessions, clock) -> None:
    run_id, mentor, mentee = await _pair(sessions, clock)

    async def confirm() -> service.Confirmed | str:
        async with sessions.begin() as session:
            try:
                return await service.confirm_run(session, GUILD, run_id, clock.now(), 77)
            except service.MentorError as exc:
                return exc.message

    results = await asyncio.gather(confirm(), confirm())
    done = [r for r in results if isinstance(r, service.Confirmed)]
    assert len(done) == 1 and done[0].skipped == 1  # capacity 1: the second previewed pair is not made
    async with sessions() as session:
        pairs = list(await session.scalars(select(MentorPair)))
        assert [(p.mentor_id, p.mentee_id, p.state) for p in pairs] == [(mentor, mentee, "forming")]
        assert await service.previous_pairs(session, GUILD) == {(mentor, mentee)}


async def test_two_runs_confirmed_at_once_give_no_mentee_two_mentors_nor_a_mentor_too_many(sessions, clock):
    """Two previews confirmed at the same moment (PostgreSQL runs them truly at once): the mentor rows are
    locked, so the second sees the first's pairs; the index backs it (one open mentorship per mentee)."""
    m1 = await member(sessions, clock, 20, stage="teacher", skill="expert")
    m2 = await member(sessions, clock, 21, stage="teacher", skill="expert")
    a, b = await member(sessions, clock, 22), await member(sessions, clock, 23)
    async with sessions.begin() as session:
        for m in (m1, m2):
            await service.mentor_signup(
                session,
                await session.get(Member, m),
                clock.now(),
                topics="python",
                capacity=1,
                hours=4,
                style="text chat",
                career=False,
                elevated=False,
            )
        for m in (a, b):
            await service.mentee_signup(
                session, await session.get(Member, m), clock.now(), goals="go", topics="python", style="text chat"
            )
        first = await service.save_run(
            session, GUILD, 1, Matching((Pair(m1, a, 3.0, ("python",)),), (), 3.0, 3.0), clock.now()
        )
        second = await service.save_run(
            session,
            GUILD,
            1,
            Matching((Pair(m2, a, 3.0, ("python",)), Pair(m1, b, 2.0, ("python",))), (), 5.0, 5.0),
            clock.now(),
        )
        # Both previews open, as two /mentor match at the same moment leave them.
        await session.execute(update(MentorMatchRun).values(state="preview"))

    async def confirm(run_id: int) -> service.Confirmed:
        async with sessions.begin() as session:
            return await service.confirm_run(session, GUILD, run_id, clock.now(), 77)

    for _ in range(3):  # a few rounds: the race is a matter of timing
        results = await asyncio.gather(confirm(first), confirm(second), return_exceptions=True)
        assert all(isinstance(r, service.Confirmed) for r in results), results
        async with sessions() as session:
            pairs = [(p.mentor_id, p.mentee_id) for p in await session.scalars(select(MentorPair))]
        assert len({mentee for _m, mentee in pairs}) == len(pairs), pairs  # no mentee twice
        assert len({mentor for mentor, _m in pairs}) == len(pairs), pairs  # capacity 1 each
        async with sessions.begin() as session:
            await session.execute(delete(MentorPair))
            await session.execute(update(MentorMatchRun).values(state="preview"))
    async with sessions.begin() as session:  # the index refuses a second open mentorship of one mentee
        await service.confirm_run(session, GUILD, first, clock.now(), 77)
    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            session.add(
                MentorPair(
                    guild_id=GUILD,
                    mentor_id=m2,
                    mentee_id=a,
                    kind="mentorship",
                    state="forming",
                    parent_channel_id=77,
                    created_at=clock.now(),
                    last_activity_at=clock.now(),
                )
            )


async def test_a_mentee_or_mentor_paused_after_the_preview_is_not_paired(sessions, clock) -> None:
    run_id, mentor, mentee = await _pair(sessions, clock)
    async with sessions.begin() as session:
        assert await service.pause_mentee(session, mentee, clock.now())
        assert not await service.pause_mentee(session, mentee, clock.now())
        done = await service.confirm_run(session, GUILD, run_id, clock.now(), 77)
    # mentee paused: skipped; the other previewed pair (capacity 1) is made instead.
    assert done.skipped == 1 and len(done.pair_ids) == 1
    async with sessions.begin() as session:
        await session.execute(delete(MentorPair))
        await session.execute(update(MentorMatchRun).values(state="preview"))
        assert await service.set_paused(session, mentor, clock.now(), True)
        done = await service.confirm_run(session, GUILD, run_id, clock.now(), 77)
    assert done.pair_ids == () and done.skipped == 2


async def test_erasing_a_member_drops_their_pairs_pending_checkin(sessions, clock) -> None:
    from bot import reminders
    from models import Reminder

    run_id, _mentor, mentee = await _pair(sessions, clock)
    async with sessions.begin() as session:
        (pair_id,) = (await service.confirm_run(session, GUILD, run_id, clock.now(), 77)).pair_ids
        await service.record_thread(session, pair_id, 4242)
        assert await service.record_kickoff(session, pair_id, 1, clock.now())
        for key in (service.checkin_key(pair_id, 3), service.checkin_key(pair_id + 10, 1)):
            await reminders.add(
                session,
                kind=service.CHECKIN,
                guild_id=GUILD,
                target_id=4242,
                due_at=clock.now() + timedelta(days=14),
                created_at=clock.now(),
                payload={"pair_id": pair_id, "n": 3},
                dedupe_key=key,
            )
    async with sessions.begin() as session:
        await service.erase_member_data(session, mentee, clock.now())
    async with sessions() as session:
        states = dict((await session.execute(select(Reminder.dedupe_key, Reminder.state))).all())
    # Only this pair's check-in goes (pair 1's key is not a prefix of pair 11's).
    assert states == {service.checkin_key(pair_id, 3): "dropped", service.checkin_key(pair_id + 10, 1): "pending"}


async def test_career_talks_spread_over_mentors_stay_out_of_the_quiet_scan_and_close_after_a_while(
    sessions, clock
) -> None:
    from cogs.mentorship import career

    mentors = [await member(sessions, clock, 30 + i, stage="contributor", skill="advanced") for i in range(2)]
    askers = [await member(sessions, clock, 40 + i) for i in range(3)]
    async with sessions.begin() as session:
        for m in mentors:
            await service.mentor_signup(
                session,
                await session.get(Member, m),
                clock.now(),
                topics="python",
                capacity=2,
                hours=4,
                style="text chat",
                career=True,
                elevated=False,
            )
    results = []
    for a in askers:
        async with sessions.begin() as session:
            results.append(
                await career.request_talk(
                    session, GUILD, await session.get(Member, a), "backend to SRE", clock.now(), LEVELS, 77
                )
            )
    # One open career talk per mentor: two different mentors, the third ask waits.
    assert [r.pair_id is not None for r in results] == [True, True, False], results
    async with sessions.begin() as session:
        talks = list(await session.scalars(select(MentorPair).where(MentorPair.kind == "career")))
        assert len({t.mentor_id for t in talks}) == 2
        for t in talks:
            await service.record_thread(session, t.id, 9000 + t.id)
            assert await service.record_kickoff(session, t.id, 1, clock.now())
    clock.advance(days=service.CAREER_OPEN_DAYS - 1)
    async with sessions.begin() as session:
        assert await service.quiet_pairs(session, GUILD, clock.now(), 10) == []  # never flagged as quiet
        assert await service.close_old_career_talks(session, GUILD, clock.now()) == []
    clock.advance(days=2)
    async with sessions.begin() as session:
        closed = await service.close_old_career_talks(session, GUILD, clock.now())
    assert sorted(closed) == sorted(9000 + t.id for t in talks)
    async with sessions() as session:
        assert {p.state for p in await session.scalars(select(MentorPair))} == {"ended"}
    async with sessions.begin() as session:  # a mentor is free for the next talk
        again = await career.request_talk(
            session, GUILD, await session.get(Member, askers[2]), "backend to SRE", clock.now(), LEVELS, 77
        )
    assert again.pair_id is not None


async def test_two_session_logs_at_once_make_one_session_and_one_credit(sessions, clock) -> None:
    run_id, mentor, mentee = await _pair(sessions, clock)
    async with sessions.begin() as session:
        (pair_id,) = (await service.confirm_run(session, GUILD, run_id, clock.now(), 77)).pair_ids
        await service.record_thread(session, pair_id, 4242)
        assert await service.record_kickoff(session, pair_id, 1, clock.now())
    policy = ledger.default_policy()

    async def log(by: int) -> service.Logged:
        async with sessions.begin() as session:
            pair = await service.pair_view(session, pair_id)
            return await service.log_session(session, policy, pair, by, "", clock.now())

    for _ in range(3):
        results = await asyncio.gather(log(mentor), log(mentee), return_exceptions=True)
        assert all(isinstance(r, service.Logged) for r in results), results
        assert sorted(r.created for r in results) == [False, True]
        async with sessions() as session:
            assert await session.scalar(select(func.count()).select_from(MentorSession)) == 1
            kinds = select(func.count()).select_from(LedgerEvent).where(LedgerEvent.kind == "mentoring_session")
            assert await session.scalar(kinds) == 1
        async with sessions.begin() as session:
            await session.execute(delete(MentorSession))
            await session.execute(delete(LedgerEvent))


async def test_session_once_a_day_quiet_flag_once_and_end_once(sessions, clock) -> None:
    run_id, mentor, mentee = await _pair(sessions, clock)
    async with sessions.begin() as session:
        (pair_id,) = (await service.confirm_run(session, GUILD, run_id, clock.now(), 77)).pair_ids
        await service.record_thread(session, pair_id, 4242)
        assert await service.record_kickoff(session, pair_id, 1, clock.now())
    policy = ledger.default_policy()
    async with sessions.begin() as session:
        pair = await service.pair_view(session, pair_id)
        first = await service.log_session(session, policy, pair, mentee, "good", clock.now())
        second = await service.log_session(session, policy, pair, mentor, "again", clock.now())
    assert first.created and first.credited > 0 and not second.created
    async with sessions() as session:
        events = list(await session.scalars(select(LedgerEvent).where(LedgerEvent.kind == "mentoring_session")))
        assert [(e.member_id, e.subject_member_id) for e in events] == [(mentor, mentee)]
        assert await session.scalar(select(func.count()).select_from(MentorSession)) == 1

    clock.advance(days=20)
    async with sessions.begin() as session:
        await service.touch(session, 4242, clock.now())  # a message in the thread
    clock.advance(days=29)
    async with sessions.begin() as session:
        assert await service.quiet_pairs(session, GUILD, clock.now(), 30) == []
    clock.advance(days=2)
    async with sessions.begin() as session:
        flagged = await service.quiet_pairs(session, GUILD, clock.now(), 30)
    async with sessions.begin() as session:
        assert await service.quiet_pairs(session, GUILD, clock.now() + timedelta(days=90), 30) == []
    assert [p.id for p in flagged] == [pair_id]

    async with sessions.begin() as session:
        ended = await service.end_pair(session, pair_id, mentee, 5, "thanks", clock.now())
    assert ended.state == "ended"
    async with sessions.begin() as session:
        with pytest.raises(service.MentorError, match="already ended"):
            await service.end_pair(session, pair_id, mentor, 4, "", clock.now())


async def test_review_claimed_once_never_by_requester_and_rating_credits(sessions, clock) -> None:
    asker = await member(sessions, clock, 20)
    r1 = await member(sessions, clock, 21, stage="contributor")
    r2 = await member(sessions, clock, 22, stage="contributor")
    async with sessions.begin() as session:
        with pytest.raises(service.MentorError, match="https"):
            await reviews.create(session, GUILD, asker, "javascript:alert(1)", "python", "x", clock.now())
        request_id = await reviews.create(
            session, GUILD, asker, "https://github.com/x/y/pull/1", "Python", "errors?", clock.now()
        )
    async with sessions.begin() as session:
        with pytest.raises(service.MentorError, match="your own"):
            await reviews.claim(session, request_id, asker, clock.now())

    async def claim(who: int) -> str:
        async with sessions.begin() as session:
            try:
                await reviews.claim(session, request_id, who, clock.now())
                return "ok"
            except service.MentorError as exc:
                return exc.message

    results = sorted(await asyncio.gather(claim(r1), claim(r2)))
    assert results[1] == "ok" and "already claimed" in results[0]
    async with sessions() as session:
        row = await session.get(ReviewRequest, request_id)
        reviewer = row.reviewer_id
    other = r2 if reviewer == r1 else r1
    async with sessions.begin() as session:
        with pytest.raises(service.MentorError, match="Only the reviewer"):
            await reviews.deliver(session, request_id, other, clock.now())
        await reviews.deliver(session, request_id, reviewer, clock.now())
    policy = ledger.default_policy()
    async with sessions.begin() as session:
        with pytest.raises(service.MentorError, match="Only the member"):
            await reviews.rate(session, policy, request_id, reviewer, 5, clock.now())
        rated = await reviews.rate(session, policy, request_id, asker, 4, clock.now())
    assert rated.credited > 0
    async with sessions.begin() as session:
        with pytest.raises(service.MentorError, match="already rated"):
            await reviews.rate(session, policy, request_id, asker, 5, clock.now())
    async with sessions() as session:
        events = list(await session.scalars(select(LedgerEvent).where(LedgerEvent.kind == "review_done")))
    assert [(e.member_id, e.subject_member_id) for e in events] == [(reviewer, asker)]


async def test_export_and_erase(sessions, clock) -> None:
    run_id, _mentor, mentee = await _pair(sessions, clock)
    async with sessions.begin() as session:
        await service.confirm_run(session, GUILD, run_id, clock.now(), 77)
        await reviews.create(session, GUILD, mentee, "https://example.org/pr/2", "python", "secret", clock.now())
    async with sessions() as session:
        data = await service.export_member_data(session, mentee)
    assert data["mentee_signup"]["goals"] == "learn" and data["review_requests"][0]["wanted"] == "secret"
    assert data["pairs"][0]["role"] == "mentee"
    async with sessions.begin() as session:
        await service.erase_member_data(session, mentee, clock.now())
    async with sessions() as session:
        data = await service.export_member_data(session, mentee)
    assert data["mentee_signup"] is None and data["review_requests"][0]["wanted"] == ""
    assert data["pairs"][0]["state"] == "ended"


async def test_review_queue_matches_expertise_as_words_not_patterns_and_ignores_case(sessions, clock) -> None:
    """A mentor's topics match a request's area or wanted text literally and case-insensitively on both
    backends: `_` and `%` in a topic are characters, not LIKE wildcards."""
    asker = await member(sessions, clock, 30)
    reviewer = await member(sessions, clock, 31, stage="contributor", skill="advanced")
    async with sessions.begin() as session:
        await service.mentor_signup(
            session,
            await session.get(Member, reviewer),
            clock.now(),
            topics="c_a, 100%",
            capacity=2,
            hours=4,
            style="text chat",
            career=False,
            elevated=False,
        )
        ids = {
            area: await reviews.create(
                session, GUILD, asker, f"https://example.org/pr/{n}", area, "thoughts?", clock.now()
            )
            for n, area in enumerate(["cxa", "C_A design", "1000 nodes", "100% uptime"])
        }
    async with sessions() as session:
        queue = {v.id for v in await reviews.queue_for(session, GUILD, reviewer)}
    assert queue == {ids["C_A design"], ids["100% uptime"]}
