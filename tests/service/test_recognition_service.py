"""Recognition service on a real database: leaderboards, opt-out, announcements, spotlights, quarterly review."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot import ledger
from bot.members import ensure_member
from cogs.recognition import service
from cogs.recognition.spotlight import HELPER, NEWCOMER, PICKED

GUILD = 7
_ids = itertools.count(50_000)


async def member(session, at: datetime, name: str) -> int:
    return (await ensure_member(session, GUILD, next(_ids), display_name=name, joined_at=at)).id


async def give(session, member_id: int, kind: str, n: int, at: datetime, tag: str = "") -> None:
    policy = ledger.default_policy()
    for i in range(n):
        await ledger.record_event(
            session, policy, guild_id=GUILD, member_id=member_id, kind=kind, reference=f"{tag}{kind}:{i}", at=at
        )


async def test_leaderboard_windows_categories_pages_and_viewer_rank(sessions, clock) -> None:
    now = clock.now()  # Monday 2 March
    async with sessions.begin() as session:
        ids = [await member(session, now, f"m{i}") for i in range(25)]
        for i, m in enumerate(ids):
            await give(session, m, "review_done", i + 1, now)  # this week: i+1 reviews
        await give(session, ids[0], "answer_accepted", 20, now - timedelta(days=40), tag="old")  # January
    async with sessions() as session:
        week = await service.leaderboard(
            session, GUILD, window="week", category="reviews", at=now, page_size=10, viewer_member_id=ids[3]
        )
        assert week.pages == 3 and [r.points for r in week.rows][:3] == [250, 240, 230]
        assert [r.rank for r in week.rows] == list(range(1, 11))
        assert (week.viewer_rank, week.viewer_points) == (22, 40)
        last = await service.leaderboard(session, GUILD, window="week", category="reviews", at=now, page=99)
        assert last.page == 2 and [r.rank for r in last.rows] == [21, 22, 23, 24, 25]
        allt = await service.leaderboard(session, GUILD, window="all", category="overall", at=now)
        assert allt.rows[0].member_id == ids[0] and allt.rows[0].points == 310
        answers_week = await service.leaderboard(session, GUILD, window="week", category="answers", at=now)
        assert answers_week.rows == [] and answers_week.pages == 1
        capped = await service.leaderboard(
            session, GUILD, window="week", category="reviews", at=now, page_size=10, max_pages=2
        )
        assert capped.pages == 2
        # A new week starts empty.
        nxt = await service.leaderboard(
            session, GUILD, window="week", category="reviews", at=now + timedelta(days=7)
        )
        assert nxt.rows == []
        with pytest.raises(service.RecognitionError):
            await service.leaderboard(session, GUILD, window="week", category="memes", at=now)


async def test_opted_out_and_departed_members_are_hidden_but_keep_points(sessions, clock) -> None:
    now = clock.now()
    async with sessions.begin() as session:
        a, b, c = [await member(session, now, n) for n in "abc"]
        for m, n in ((a, 3), (b, 2), (c, 1)):
            await give(session, m, "review_done", n, now)
        assert await service.set_opt_out(session, a, True, now)
        assert not await service.set_opt_out(session, a, True, now)
    async with sessions() as session:
        board = await service.leaderboard(
            session, GUILD, window="all", category="overall", at=now, viewer_member_id=a
        )
        assert [r.member_id for r in board.rows] == [b, c] and board.viewer_rank is None
        assert await ledger.reputation_of(session, a) == 30
    async with sessions.begin() as session:
        await service.set_opt_out(session, a, False, now)
        row = await session.get(service.Member, c)
        row.left_at = now
    async with sessions() as session:
        board = await service.leaderboard(session, GUILD, window="all", category="overall", at=now)
        assert [r.member_id for r in board.rows] == [a, b]


async def test_announcement_of_an_award_and_none_once_revoked(sessions, clock) -> None:
    now = clock.now()
    policy = ledger.default_policy()
    async with sessions.begin() as session:
        m = await member(session, now, "x")
        result = await ledger.record_event(
            session, policy, guild_id=GUILD, member_id=m, kind="review_done", reference="r", at=now
        )
        award_id = result.awarded[0].award_id
    async with sessions.begin() as session:
        a = await service.announcement(session, policy, award_id)
        assert a is not None and (a.badge.key, a.name, a.manual) == ("first-review", "x", False)
        await ledger.revoke_badge(session, member_id=m, badge_key="first-review", at=now)
        assert await service.announcement(session, policy, award_id) is None
        # A revoked badge is no longer "next up" either: it cannot be earned again.
        progress = {p.badge.key for p in await service.progress_of(session, policy, m)}
        assert "first-review" not in progress and "twenty-reviews" in progress


async def test_badges_of_and_progress(sessions, clock) -> None:
    now = clock.now()
    policy = ledger.default_policy()
    async with sessions.begin() as session:
        m = await member(session, now, "p")
        await give(session, m, "answer_accepted", 3, now)
        held = await service.badges_of(session, policy, m)
        assert [h.badge.key for h in held] == ["first-accepted-answer"]
        progress = {p.badge.key: (p.current, p.target) for p in await service.progress_of(session, policy, m)}
        assert progress["ten-accepted-answers"] == (3, 10)
        assert progress["reputation-100"] == (45, 100)
        assert "helping-hand" not in progress


async def test_spotlight_is_fair_stable_editable_and_posted_once(sessions, clock) -> None:
    march = datetime(2026, 3, 1, tzinfo=UTC)
    feb = datetime(2026, 2, 10, tzinfo=UTC)
    async with sessions.begin() as session:
        veteran = await member(session, feb, "veteran")  # top of the board in both months
        await give(session, veteran, "contribution_merged", 10, feb, tag="feb")
        await give(session, veteran, "contribution_merged", 12, march + timedelta(days=3))
        steady = []
        for name in ("steady1", "steady2"):  # busy both months, no rise: only a free slot would feature them
            steady.append(await member(session, feb, name))
            await give(session, steady[-1], "contribution_merged", 5, feb, tag="feb")
            await give(session, steady[-1], "contribution_merged", 5, march + timedelta(days=2))
        newcomer = await member(session, march, "newcomer")
        await give(session, newcomer, "question_asked", 2, march + timedelta(days=5))
        helper = await member(session, feb, "helper")
        await give(session, helper, "checkin", 1, feb, tag="feb")
        await give(session, helper, "review_done", 2, march + timedelta(days=6))
        april_only = await member(session, march, "later")
        await give(session, april_only, "review_done", 1, march + timedelta(days=40))
        draft = await service.prepare_spotlight(session, GUILD, march, clock.now(), size=10)
    by_member = {e.member_id: e for e in draft.entries}
    assert set(by_member) == {newcomer, helper, veteran}  # the steady ones neither rose nor helped
    assert by_member[newcomer].reason == NEWCOMER and "2 questions asked" in by_member[newcomer].note
    assert by_member[helper].reason == HELPER and "2 reviews" in by_member[helper].note
    async with sessions.begin() as session:
        # Prepared again: the same draft, not a new choice.
        again = await service.prepare_spotlight(session, GUILD, march, clock.now())
        assert again.id == draft.id and again.entries == draft.entries
        await service.edit_spotlight_note(session, GUILD, march, helper, "Reviewed two tricky PRs")
        await service.remove_from_spotlight(session, GUILD, march, veteran)
        await service.add_to_spotlight(session, GUILD, march, april_only, "Organised the reading club")
        with pytest.raises(service.RecognitionError, match="already in the draft"):
            await service.add_to_spotlight(session, GUILD, march, helper, "twice")
        with pytest.raises(service.RecognitionError, match="not in the spotlight"):
            await service.remove_from_spotlight(session, GUILD, march, veteran)
    async with sessions() as session:
        edited = await service.spotlight_draft(session, GUILD, march)
    assert [(e.member_id, e.reason) for e in edited.entries][-1] == (april_only, PICKED)
    assert next(e.note for e in edited.entries if e.member_id == helper) == "Reviewed two tricky PRs"

    async def mark(message_id: int) -> bool:
        async with sessions.begin() as session:
            return await service.mark_spotlight_posted(session, draft.id, 1, message_id, clock.now())

    assert sorted(await asyncio.gather(mark(1), mark(2), mark(3))) == [False, False, True]
    async with sessions.begin() as session:
        with pytest.raises(service.RecognitionError, match="already posted"):
            await service.edit_spotlight_note(session, GUILD, march, helper, "late edit")
        # April: whoever was featured in March waits out the cooldown.
        await give(session, helper, "review_done", 3, march + timedelta(days=35), tag="apr")
        fresh = await member(session, march, "fresh")
        await give(session, fresh, "answer_posted", 1, march + timedelta(days=36))
        april = await service.prepare_spotlight(
            session, GUILD, march + timedelta(days=31), clock.now(), cooldown_months=3
        )
    # Featured in March (by the rule, or by hand): not again in April.
    assert {e.member_id for e in april.entries} == {fresh}


async def test_quarter_review(sessions, clock) -> None:
    q1 = datetime(2026, 1, 5, tzinfo=UTC)
    async with sessions.begin() as session:
        a = await member(session, q1, "a")
        b = await member(session, q1, "b")
        old = await member(session, datetime(2025, 11, 1, tzinfo=UTC), "old")
        await give(session, old, "review_done", 1, datetime(2025, 11, 2, tzinfo=UTC), tag="q4")
        await give(session, a, "answer_accepted", 2, q1 + timedelta(days=40))
        await give(session, b, "mentoring_session", 1, q1 + timedelta(days=70))
        await give(session, b, "review_done", 4, q1 + timedelta(days=80))  # still March
        await give(session, a, "review_done", 9, datetime(2026, 4, 2, tzinfo=UTC), tag="q2")  # next quarter
        review = await service.quarter_review(session, GUILD, datetime(2026, 2, 14, tzinfo=UTC))
    assert review.label == "2026 Q1" and review.quarter_start == datetime(2026, 1, 1, tzinfo=UTC)
    assert (review.new_members, review.previous_new_members) == (2, 1)
    assert (review.active_members, review.previous_active_members) == (2, 1)
    assert (review.points, review.previous_points, review.events) == (85, 10, 7)
    assert [(r.member_id, r.points) for r in review.top] == [(b, 55), (a, 30)]
    assert review.category_leaders["answers"].member_id == a
    assert review.category_leaders["reviews"].member_id == b
    assert review.badges_awarded == 2  # a's first accepted answer, b's first review


async def test_concurrent_drafts_of_one_month_are_one_draft(sessions, clock) -> None:
    march = datetime(2026, 3, 1, tzinfo=UTC)
    async with sessions.begin() as session:
        for name in ("a", "b", "c"):
            await give(session, await member(session, march, name), "review_done", 2, march + timedelta(days=3))

    async def prepare() -> service.SpotlightDraft:
        async with sessions.begin() as session:
            return await service.prepare_spotlight(session, GUILD, march, clock.now())

    drafts = await asyncio.gather(*(prepare() for _ in range(5)))  # the job and maintainers' previews at once
    assert len({d.id for d in drafts}) == 1
    assert all(len(d.entries) == 3 for d in drafts)


async def test_spotlight_leaves_out_members_who_opted_out_or_left_since_the_draft(sessions, clock) -> None:
    march = datetime(2026, 3, 1, tzinfo=UTC)
    now = clock.now()
    async with sessions.begin() as session:
        stays, opts_out, leaves = [await member(session, march, n) for n in ("stays", "opts-out", "leaves")]
        for m in (stays, opts_out, leaves):
            await give(session, m, "review_done", 1, march + timedelta(days=3))
        draft = await service.prepare_spotlight(session, GUILD, march, now)
        assert {e.member_id for e in draft.entries} == {stays, opts_out, leaves}
    async with sessions.begin() as session:
        await service.set_opt_out(session, opts_out, True, now)
        (await session.get(service.Member, leaves)).left_at = now
    async with sessions.begin() as session:
        posted = await service.spotlight_by_id(session, GUILD, draft.id)
        assert posted is not None and [e.member_id for e in posted.entries] == [stays]
        await service.remove_from_spotlight(session, GUILD, march, opts_out)
        with pytest.raises(service.RecognitionError, match="opted out"):
            await service.add_to_spotlight(session, GUILD, march, opts_out, "great work")


async def test_post_now_moves_the_post_reminder_to_now(sessions, clock) -> None:
    from models import Reminder

    march = datetime(2026, 3, 1, tzinfo=UTC)
    now = clock.now()
    key = service.spotlight_post_key(GUILD, march)
    assert key == f"spotlight:{GUILD}:2026-03"
    assert service.spotlight_post_time(march, 15) == datetime(2026, 4, 1, 15, 5, tzinfo=UTC)
    async with sessions.begin() as session:
        draft = await service.prepare_spotlight(session, GUILD, march, now)
        assert await service.post_spotlight_now(session, GUILD, draft.id, now) == "missing"
        session.add(
            Reminder(
                kind=service.SPOTLIGHT_POST,
                guild_id=GUILD,
                target_id=draft.id,
                payload={},
                dedupe_key=key,
                due_at=service.spotlight_post_time(march, 15) - timedelta(days=30),
                state="dropped",
                attempts=1,
                last_error="missed",
                created_at=now,
            )
        )
    async with sessions.begin() as session:
        assert await service.post_spotlight_now(session, GUILD, draft.id, now) == "rescheduled"
        reminder = await session.scalar(select(Reminder).where(Reminder.dedupe_key == key))
        assert (reminder.state, reminder.due_at, reminder.attempts, reminder.last_error) == (
            "pending",
            now,
            0,
            None,
        )
        reminder.state = "claimed"
    async with sessions.begin() as session:
        assert await service.post_spotlight_now(session, GUILD, draft.id, now) == "posting"
        await service.mark_spotlight_posted(session, draft.id, 1, 2, now)
        assert await service.post_spotlight_now(session, GUILD, draft.id, now) == "posted"
        with pytest.raises(service.RecognitionError, match="no longer exists"):
            await service.post_spotlight_now(session, GUILD + 1, draft.id, now)
