"""Q&A rules on the real migrated database (SQLite, and PostgreSQL with ATLAS_TEST_POSTGRES_URL): questions and
answers in the ledger, votes (one per member and post, changes and removals reversed), accepts (who may, switching,
reopening, young accounts), the pair limit across votes and accepts, and the once-only prompts."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot import ledger
from bot.config import Config
from bot.members import ensure_member
from cogs.qa import service
from models import LedgerEvent, MemberKindStats, MemberPoints, Reminder
from models.qa import QaAnswer, QaQuestion, QaVote

GUILD = 1
_ids = itertools.count(50_000)
_threads = itertools.count(9_000_000)
HYPOTHESIS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def rules(**qa: object) -> service.QaRules:
    config = (
        Config().with_overrides(bot={"guild_id": GUILD}, qa=qa)
        if qa
        else Config().with_overrides(bot={"guild_id": GUILD})
    )
    return service.QaRules.from_config(config)


def open_policy() -> ledger.LedgerPolicy:
    """The default points and caps, with voting open to everyone (the privilege has its own test)."""
    return dataclasses.replace(ledger.default_policy(), privileges={"vote": 0})


async def new_members(sessions, at: datetime, n: int) -> list[int]:
    async with sessions.begin() as session:
        return [
            (await ensure_member(session, GUILD, next(_ids), display_name="m", joined_at=at)).id for _ in range(n)
        ]


async def ask(sessions, r, p, asker: int, now: datetime, tags: list[str] | None = None) -> QaQuestion:
    async with sessions.begin() as session:
        question = await service.create_question(
            session,
            r,
            p,
            thread_id=next(_threads),
            forum_id=77,
            asker_id=asker,
            title="How do I pick a quorum size?",
            body="Raft, five nodes",
            tags=tags or ["raft"],
            now=now,
        )
        assert question is not None
        return question


async def answer(sessions, r, p, question: QaQuestion, author: int, now: datetime) -> QaAnswer:
    async with sessions.begin() as session:
        q = await session.get(QaQuestion, question.id)
        result = await service.add_answer(
            session,
            r,
            p,
            question=q,
            message_id=next(_threads),
            author_id=author,
            body="a majority",
            created_at=now,
            now=now,
        )
        assert result is not None
        return result.answer


async def points(sessions, member: int) -> int:
    async with sessions() as session:
        return await ledger.points_of(session, member)


async def maintained(sessions, member: int) -> int:
    async with sessions() as session:
        value = await session.scalar(
            select(MemberPoints.points).where(
                MemberPoints.member_id == member,
                MemberPoints.category == "overall",
                MemberPoints.period_kind == "all",
            )
        )
        return int(value or 0)


async def vote(sessions, r, p, message_id: int, voter: int, value: int, now: datetime) -> service.VoteResult:
    async with sessions.begin() as session:
        return await service.vote(session, r, p, message_id=message_id, voter_id=voter, value=value, now=now)


async def unvote(sessions, r, p, message_id: int, voter: int, value: int, now: datetime) -> service.VoteResult:
    async with sessions.begin() as session:
        return await service.unvote(session, r, p, message_id=message_id, voter_id=voter, value=value, now=now)


async def accept(sessions, r, p, a: QaAnswer, by: int, now: datetime, *, mod: bool = False, created=None):
    async with sessions.begin() as session:
        q = await session.get(QaQuestion, a.question_id)
        row = await session.get(QaAnswer, a.id)
        return await service.accept(
            session,
            r,
            p,
            question=q,
            answer=row,
            by_member_id=by,
            moderator=mod,
            answerer_account_created=created,
            now=now,
        )


async def test_asking_and_answering_reach_the_ledger_once(sessions, clock) -> None:
    r, p = rules(), open_policy()
    asker, helper = await new_members(sessions, clock.now(), 2)
    question = await ask(sessions, r, p, asker, clock.now())
    assert await points(sessions, asker) == p.points["question_asked"]
    async with sessions.begin() as session:  # the same thread seen again (THREAD_CREATE after /ask's post)
        again = await service.create_question(
            session, r, p, thread_id=question.thread_id, forum_id=77, asker_id=asker, title="x", body="",
            tags=[], now=clock.now(),
        )  # fmt: skip
        assert again is None
        idle = await session.scalar(select(func.count()).where(Reminder.kind == service.IDLE))
        assert idle == 1
    await answer(sessions, r, p, question, helper, clock.now())
    await answer(sessions, r, p, question, helper, clock.now())  # a second message: no more points
    assert await points(sessions, helper) == p.points["answer_posted"]
    await answer(sessions, r, p, question, asker, clock.now())  # the asker's own reply: nothing
    assert await points(sessions, asker) == p.points["question_asked"]
    async with sessions() as session:
        q = await session.get(QaQuestion, question.id)
        assert q.answer_count == 2  # the asker's follow-up is not an answer


async def test_votes_one_per_member_changes_and_removals_reversed(sessions, clock) -> None:
    r, p = rules(), open_policy()
    asker, helper, voter = await new_members(sessions, clock.now(), 3)
    question = await ask(sessions, r, p, asker, clock.now())
    a = await answer(sessions, r, p, question, helper, clock.now())
    base = await points(sessions, helper)
    now = clock.now()
    assert (await vote(sessions, r, p, a.message_id, voter, service.UP, now)).outcome == "recorded"
    assert (await vote(sessions, r, p, a.message_id, voter, service.UP, now)).outcome == "unchanged"
    assert await points(sessions, helper) == base + p.points["answer_upvoted"]
    assert (await vote(sessions, r, p, a.message_id, voter, service.DOWN, now)).outcome == "changed"
    assert await points(sessions, helper) == base - r.downvote_points
    # Removing the 👍 that is no longer the vote changes nothing; removing the 👎 reverses it.
    assert (await unvote(sessions, r, p, a.message_id, voter, service.UP, now)).outcome == "unchanged"
    assert (await unvote(sessions, r, p, a.message_id, voter, service.DOWN, now)).outcome == "removed"
    assert await points(sessions, helper) == base
    # Voting again after a removal is a new vote with its own ledger reference.
    assert (await vote(sessions, r, p, a.message_id, voter, service.UP, now)).outcome == "recorded"
    assert await points(sessions, helper) == base + p.points["answer_upvoted"]
    assert await maintained(sessions, helper) == await points(sessions, helper)
    async with sessions() as session:
        row = await session.get(QaVote, (voter, a.message_id))
        assert (row.value, row.seq) == (1, 3)  # up, down, (removed), up
        assert (await session.get(QaAnswer, a.id)).score == 1
    # Self-votes are ignored; a question's starter message is voted like an answer.
    assert (await vote(sessions, r, p, a.message_id, helper, service.UP, now)).outcome == "self"
    assert (await vote(sessions, r, p, question.thread_id, voter, service.UP, now)).outcome == "recorded"
    assert await points(sessions, asker) == p.points["question_asked"] + p.points["question_upvoted"]
    assert (await vote(sessions, r, p, 12345, voter, service.UP, now)).outcome == "unknown"


async def test_voting_needs_the_vote_privilege(sessions, clock) -> None:
    r, p = rules(), ledger.default_policy()  # vote needs 15 reputation
    asker, helper, newcomer = await new_members(sessions, clock.now(), 3)
    question = await ask(sessions, r, p, asker, clock.now())
    a = await answer(sessions, r, p, question, helper, clock.now())
    before = await points(sessions, helper)
    assert (await vote(sessions, r, p, a.message_id, newcomer, service.UP, clock.now())).outcome == "no_privilege"
    assert await points(sessions, helper) == before
    async with sessions.begin() as session:
        await ledger.record_event(
            session, p, guild_id=GUILD, member_id=newcomer, kind="review_done", reference="r1", at=clock.now(),
            points=20,
        )  # fmt: skip
    assert (await vote(sessions, r, p, a.message_id, newcomer, service.UP, clock.now())).outcome == "recorded"


async def test_accept_by_asker_or_moderator_only_switch_and_reopen_reverse(sessions, clock) -> None:
    r, p = rules(), open_policy()
    asker, one, two, stranger = await new_members(sessions, clock.now(), 4)
    question = await ask(sessions, r, p, asker, clock.now())
    a1 = await answer(sessions, r, p, question, one, clock.now())
    a2 = await answer(sessions, r, p, question, two, clock.now())
    base_one, base_two, base_asker = [await points(sessions, m) for m in (one, two, asker)]
    try:
        await accept(sessions, r, p, a1, stranger, clock.now())
        raise AssertionError("a stranger marked the solution")
    except service.QaError as exc:
        assert "Only the member who asked" in str(exc)
    result = await accept(sessions, r, p, a1, asker, clock.now())
    assert not result.already and result.replaced_message_id is None
    assert await points(sessions, one) == base_one + p.points["answer_accepted"]
    assert await points(sessions, asker) == base_asker + r.accepter_points
    assert (await accept(sessions, r, p, a1, asker, clock.now())).already
    # A maintainer switches the solution: the first accept is reversed, the second credited.
    result = await accept(sessions, r, p, a2, stranger, clock.now(), mod=True)
    assert result.replaced_message_id == a1.message_id
    assert await points(sessions, one) == base_one
    assert await points(sessions, two) == base_two + p.points["answer_accepted"]
    assert await points(sessions, asker) == base_asker + r.accepter_points
    async with sessions.begin() as session:
        q = await session.get(QaQuestion, question.id)
        assert q.state == service.SOLVED
        reopened = await service.reopen(session, r, p, q, by_member_id=asker, moderator=False, now=clock.now())
        assert reopened.reopened and reopened.unaccepted_message_id == a2.message_id
        assert q.state == service.OPEN
    assert await points(sessions, two) == base_two
    assert await points(sessions, asker) == base_asker
    # Accepted again after the reopen: a new round with its own references, credited again.
    await accept(sessions, r, p, a2, asker, clock.now())
    assert await points(sessions, two) == base_two + p.points["answer_accepted"]
    for m in (asker, one, two):
        assert await maintained(sessions, m) == await points(sessions, m)


async def test_switching_the_accepted_answer_earns_no_more_accept_events(sessions, clock) -> None:
    r, p = rules(pair_weekly_points=1000), open_policy()
    asker, carol, dave = await new_members(sessions, clock.now(), 3)
    question = await ask(sessions, r, p, asker, clock.now())
    a = await answer(sessions, r, p, question, carol, clock.now())
    b = await answer(sessions, r, p, question, dave, clock.now())
    for _ in range(4):
        await accept(sessions, r, p, a, asker, clock.now())
        await accept(sessions, r, p, b, asker, clock.now())
    async with sessions() as session:
        for m in (carol, dave):
            kinds = list(
                await session.scalars(
                    select(LedgerEvent.kind).where(
                        LedgerEvent.member_id == m, LedgerEvent.kind == service.ACCEPTED
                    )
                )
            )
            assert len(kinds) == 1
            assert await session.scalar(
                select(MemberKindStats.events).where(
                    MemberKindStats.member_id == m, MemberKindStats.kind == service.ACCEPTED
                )
            ) == 1
    accepted = p.points["answer_accepted"]
    assert await points(sessions, dave) == p.points["answer_posted"] + accepted
    assert await points(sessions, carol) == p.points["answer_posted"]
    assert await maintained(sessions, carol) == await points(sessions, carol)


async def test_close_and_reopen_rules(sessions, clock) -> None:
    r, p = rules(), open_policy()
    asker, helper, stranger = await new_members(sessions, clock.now(), 3)
    question = await ask(sessions, r, p, asker, clock.now())
    a = await answer(sessions, r, p, question, helper, clock.now())
    async with sessions.begin() as session:
        q = await session.get(QaQuestion, question.id)
        for call in (
            service.close(session, q, by_member_id=stranger, moderator=False, now=clock.now()),
            service.reopen(session, r, p, q, by_member_id=stranger, moderator=False, now=clock.now()),
        ):
            try:
                await call
                raise AssertionError("a stranger changed the question")
            except service.QaError:
                pass
        assert await service.close(session, q, by_member_id=asker, moderator=False, now=clock.now())
        assert not await service.close(session, q, by_member_id=asker, moderator=False, now=clock.now())
    try:
        await accept(sessions, r, p, a, asker, clock.now())
        raise AssertionError("accepted on a closed question")
    except service.QaError as exc:
        assert "reopen" in str(exc)
    async with sessions.begin() as session:
        q = await session.get(QaQuestion, question.id)
        assert (
            await service.reopen(session, r, p, q, by_member_id=asker, moderator=False, now=clock.now())
        ).reopened
        assert q.state == service.OPEN and q.closed_at is None


async def test_a_young_account_earns_nothing_for_an_accepted_answer(sessions, clock) -> None:
    r, p = rules(min_account_age_days=7), open_policy()
    asker, helper = await new_members(sessions, clock.now(), 2)
    question = await ask(sessions, r, p, asker, clock.now())
    a = await answer(sessions, r, p, question, helper, clock.now())
    before = await points(sessions, helper)
    result = await accept(sessions, r, p, a, asker, clock.now(), created=clock.now() - timedelta(days=2))
    assert result.answerer_points == 0
    assert await points(sessions, helper) == before


async def test_pair_limit_spans_votes_and_accepts(sessions, clock) -> None:
    r, p = rules(pair_weekly_points=30), open_policy()
    asker, helper = await new_members(sessions, clock.now(), 2)
    given = 0
    for _ in range(4):  # each question: asker upvotes the answer (10) and accepts it (15)
        question = await ask(sessions, r, p, asker, clock.now())
        a = await answer(sessions, r, p, question, helper, clock.now())
        given += (await vote(sessions, r, p, a.message_id, asker, service.UP, clock.now())).points
        given += (await accept(sessions, r, p, a, asker, clock.now())).answerer_points
    assert given == 30
    # A week later the budget is there again.
    clock.advance(timedelta(days=8))
    question = await ask(sessions, r, p, asker, clock.now())
    a = await answer(sessions, r, p, question, helper, clock.now())
    assert (await vote(sessions, r, p, a.message_id, asker, service.UP, clock.now())).points == 10


async def test_thanks_prompt_idle_reminder_and_subscribers_once(sessions, clock) -> None:
    r, p = rules(idle_hours=48, subscribers_after_hours=24), open_policy()
    asker, helper, fan = await new_members(sessions, clock.now(), 3)
    question = await ask(sessions, r, p, asker, clock.now(), tags=["raft", "go"])
    async with sessions.begin() as session:
        assert await service.subscribe(session, GUILD, fan, "go", clock.now())
        assert not await service.subscribe(session, GUILD, fan, "go", clock.now())
        assert await service.subscribe(session, GUILD, asker, "go", clock.now())  # the asker is not told
        assert not await service.claim_thanks_prompt(session, question.id, clock.now())  # nothing to mark yet
        step = await service.idle_step(session, r, question.id, clock.now())
        assert step.action == "later"
    clock.advance(timedelta(hours=49))
    async with sessions.begin() as session:
        step = await service.idle_step(session, r, question.id, clock.now())
        assert step.action == "remind"
        assert await service.mark_idle_reminded(session, r, question.id, clock.now())
        assert not await service.mark_idle_reminded(session, r, question.id, clock.now())
        assert (await service.idle_step(session, r, question.id, clock.now())).action == "none"
        q, told = await service.subscribers_to_tell(session, question.id)
        fan_discord = await service.discord_id_of(session, fan)
        assert q is not None and told == [fan_discord]
        assert await service.mark_subscribers_told(session, question.id, clock.now())
        assert (await service.subscribers_to_tell(session, question.id)) == (None, [])
    await answer(sessions, r, p, question, helper, clock.now())
    async with sessions.begin() as session:
        assert service.says_thanks("Thanks, that worked!")
        assert not service.says_thanks("this is still broken")
        assert await service.claim_thanks_prompt(session, question.id, clock.now())
        assert not await service.claim_thanks_prompt(session, question.id, clock.now())


async def test_unanswered_listing_and_deleted_answers(sessions, clock) -> None:
    r, p = rules(), open_policy()
    asker, helper = await new_members(sessions, clock.now(), 2)
    q1 = await ask(sessions, r, p, asker, clock.now(), tags=["raft"])
    q2 = await ask(sessions, r, p, asker, clock.now(), tags=["go"])
    a = await answer(sessions, r, p, q1, helper, clock.now())
    await accept(sessions, r, p, a, asker, clock.now())
    async with sessions() as session:
        ids = [q.id for q in await service.unanswered(session, GUILD)]
        assert q2.id in ids and q1.id not in ids
        assert q2.id not in [q.id for q in await service.unanswered(session, GUILD, tag="raft")]
    before = await points(sessions, helper)
    async with sessions.begin() as session:  # the accepted answer's message is deleted
        await service.delete_answer(session, r, p, a.message_id, clock.now())
        q = await session.get(QaQuestion, q1.id)
        assert q.state == service.OPEN and q.answer_count == 0
    # The accept and, their only answer here gone, answer_posted are taken back.
    assert await points(sessions, helper) == before - p.points["answer_accepted"] - p.points["answer_posted"]


# -- random sequences -------------------------------------------------------------------------------------------
OPS = st.lists(
    st.tuples(
        st.sampled_from(["up", "down", "unup", "undown", "accept", "reopen", "close", "delete"]),
        st.integers(0, 3),  # who acts (member index)
        st.integers(0, 3),  # which post: 0 the question, 1-3 answers
        st.integers(0, 60),  # minutes later
    ),
    min_size=1,
    max_size=25,
)


@HYPOTHESIS
@given(ops=OPS, cap=st.integers(0, 40), daily=st.integers(0, 30))
async def test_random_votes_and_accepts_keep_reputation_equal_to_the_ledger(
    sessions, clock, ops, cap, daily
) -> None:
    r = rules(pair_weekly_points=cap)
    p = dataclasses.replace(open_policy(), daily_vote_cap=daily)
    people = await new_members(sessions, clock.now(), 4)
    asker = people[0]
    question = await ask(sessions, r, p, asker, clock.now())
    answers = [await answer(sessions, r, p, question, people[i], clock.now()) for i in (1, 2, 3)]
    posts = [question.thread_id] + [a.message_id for a in answers]
    start = clock.now()
    deleted: set[int] = set()
    for op, who, post, minutes in ops:
        clock.advance(timedelta(minutes=minutes))
        voter = people[who]
        message = posts[post]
        if op in ("up", "down"):
            await vote(sessions, r, p, message, voter, service.UP if op == "up" else service.DOWN, clock.now())
        elif op in ("unup", "undown"):
            await unvote(sessions, r, p, message, voter, service.UP if op == "unup" else service.DOWN, clock.now())
        elif op == "accept" and post > 0:
            try:
                await accept(sessions, r, p, answers[post - 1], voter, clock.now())
            except service.QaError:
                async with sessions() as session:
                    closed = (await session.get(QaQuestion, question.id)).closed_at is not None
                assert voter != asker or message in deleted or closed
        elif op == "reopen":
            async with sessions.begin() as session:
                q = await session.get(QaQuestion, question.id)
                try:
                    await service.reopen(session, r, p, q, by_member_id=voter, moderator=False, now=clock.now())
                except service.QaError:
                    assert voter != asker
        elif op == "close":
            async with sessions.begin() as session:
                q = await session.get(QaQuestion, question.id)
                was = q.state
                try:
                    await service.close(session, q, by_member_id=voter, moderator=False, now=clock.now())
                except service.QaError:
                    assert voter != asker
                assert q.state == was  # closing keeps solved/open: a solved question stays in the knowledge base
        elif op == "delete" and post > 0 and who == 0:
            async with sessions.begin() as session:
                await service.delete_answer(session, r, p, message, clock.now())
            deleted.add(message)
    async with sessions() as session:
        for m in people:
            # Reputation (the maintained aggregate) always equals the ledger's sum.
            assert await maintained(sessions, m) == await ledger.points_of(session, m)
        # Pair limit: what any member got from any other through votes and accepts, positive events only.
        rows = (
            await session.execute(
                select(LedgerEvent.member_id, LedgerEvent.subject_member_id, func.sum(LedgerEvent.points))
                .where(
                    LedgerEvent.member_id.in_(people),
                    LedgerEvent.kind.in_(r.pair_limit.kinds),
                    LedgerEvent.points > 0,
                    LedgerEvent.created_at >= start - timedelta(minutes=10),
                )
                .group_by(LedgerEvent.member_id, LedgerEvent.subject_member_id)
            )
        ).all()
        for _, _, total in rows:
            assert total <= cap  # all within a week here
        # The daily vote cap (vote kinds) per member and day.
        days = (
            await session.execute(
                select(LedgerEvent.member_id, func.sum(LedgerEvent.points))
                .where(
                    LedgerEvent.member_id.in_(people), LedgerEvent.kind.in_(p.vote_kinds), LedgerEvent.points > 0
                )
                .group_by(LedgerEvent.member_id)
            )
        ).all()
        span_days = (clock.now() - start).days + 2
        for _, total in days:
            assert total <= daily * span_days
        # Scores equal the current votes; at most one accepted answer, and solved exactly when there is one.
        q = await session.get(QaQuestion, question.id)
        votes = list(await session.scalars(select(QaVote).where(QaVote.question_id == question.id)))
        assert q.score == sum(v.value for v in votes if v.answer_id is None)
        for a in answers:
            row = await session.get(QaAnswer, a.id)
            assert row.score == sum(v.value for v in votes if v.answer_id == a.id)
        accepted = await session.scalar(
            select(func.count()).where(QaAnswer.question_id == question.id, QaAnswer.accepted.is_(True))
        )
        assert accepted == (1 if q.state == service.SOLVED else 0)
        # Each category's board (maintained) equals the ledger's sum over the kinds in that category: a
        # reversal lowers the board its event raised.
        for m in people:
            events = (
                await session.execute(
                    select(LedgerEvent.kind, func.sum(LedgerEvent.points))
                    .where(LedgerEvent.member_id == m)
                    .group_by(LedgerEvent.kind)
                )
            ).all()
            for category in ("answers", "reviews", "mentoring"):
                expected = sum(int(t) for k, t in events if category in p.categories_of(k))
                board = await session.scalar(
                    select(MemberPoints.points).where(
                        MemberPoints.member_id == m,
                        MemberPoints.category == category,
                        MemberPoints.period_kind == "all",
                    )
                )
                assert int(board or 0) == expected, (m, category)
            # Switching the accepted answer back and forth never adds answer_accepted events (badges count them).
            stats = await session.scalar(
                select(MemberKindStats.events).where(
                    MemberKindStats.member_id == m, MemberKindStats.kind == service.ACCEPTED
                )
            )
            assert int(stats or 0) <= 1


async def test_ledger_pair_limit_spans_its_kinds_only_and_counts_per_counterpart(sessions, clock) -> None:
    p = ledger.default_policy()
    limit = ledger.PairLimit(frozenset({"answer_upvoted", "answer_accepted"}), 20, 7)
    member, giver, other = await new_members(sessions, clock.now(), 3)

    async def give(kind: str, ref: str, subject: int = giver) -> ledger.Recorded:
        async with sessions.begin() as session:
            return await ledger.record_event(
                session, p, guild_id=GUILD, member_id=member, kind=kind, reference=ref, at=clock.now(),
                now=clock.now(), subject_member_id=subject, pair_limit=limit,
            )  # fmt: skip

    assert (await give("answer_upvoted", "a")).points == 10
    capped = await give("answer_accepted", "b")
    assert (capped.points, capped.adjustment) == (10, ledger.PAIR_CAP)
    assert (await give("answer_upvoted", "c")).points == 0
    assert (await give("answer_posted", "d")).points == p.points["answer_posted"]  # a kind outside the limit
    assert (await give("answer_upvoted", "e", subject=other)).points == 10  # another counterpart's own budget
    clock.advance(timedelta(days=7, minutes=1))
    assert (await give("answer_upvoted", "f")).points == 10


async def test_concurrent_votes_answers_and_accepts_stay_consistent(sessions, clock) -> None:
    import asyncio

    r, p = rules(), open_policy()
    asker, *helpers = await new_members(sessions, clock.now(), 7)
    question = await ask(sessions, r, p, asker, clock.now())
    a = await answer(sessions, r, p, question, helpers[0], clock.now())
    values = [service.UP, service.DOWN] * 5
    # One voter flipping fast (reaction events arrive together), and five others voting at once.
    await asyncio.gather(
        *(vote(sessions, r, p, a.message_id, helpers[1], v, clock.now()) for v in values),
        *(vote(sessions, r, p, a.message_id, h, service.UP, clock.now()) for h in helpers[2:]),
    )
    async with sessions() as session:
        row = await session.get(QaAnswer, a.id)
        votes = list(await session.scalars(select(QaVote).where(QaVote.message_id == a.message_id)))
        assert row.score == sum(v.value for v in votes)
        assert len(votes) == 5
    assert await maintained(sessions, helpers[0]) == await points(sessions, helpers[0])
    # Two answers land together; then the asker and a moderator accept different answers at once.
    b, c = await asyncio.gather(*(answer(sessions, r, p, question, h, clock.now()) for h in helpers[1:3]))
    results = await asyncio.gather(
        accept(sessions, r, p, b, asker, clock.now()), accept(sessions, r, p, c, helpers[5], clock.now(), mod=True)
    )
    assert len(results) == 2
    async with sessions() as session:
        q = await session.get(QaQuestion, question.id)
        assert q.answer_count == 3 and q.state == service.SOLVED
        accepted = list(
            await session.scalars(
                select(QaAnswer).where(QaAnswer.question_id == q.id, QaAnswer.accepted.is_(True))
            )
        )
        assert len(accepted) == 1
    for m in (asker, *helpers):
        assert await maintained(sessions, m) == await points(sessions, m)


async def test_erasing_a_member_blanks_their_text_reindexes_and_takes_their_votes_off_scores(
    sessions, clock
) -> None:
    from cogs.qa import search

    r, p = rules(), open_policy()
    asker, helper, voter = await new_members(sessions, clock.now(), 3)
    async with sessions.begin() as session:
        question = await service.create_question(
            session, r, p, thread_id=next(_threads), forum_id=77, asker_id=voter,
            title="Quorum question", body="Secret zanzibar details", tags=["raft"], now=clock.now(),
        )  # fmt: skip
    mine = await answer(sessions, r, p, question, voter, clock.now())
    other_q = await ask(sessions, r, p, asker, clock.now())
    theirs = await answer(sessions, r, p, other_q, helper, clock.now())
    async with sessions.begin() as session:
        row = await session.get(QaAnswer, mine.id)
        row.body = "my zanzibar answer"
        await search.index_answer(session, row.id)
    await vote(sessions, r, p, theirs.message_id, voter, service.UP, clock.now())
    await vote(sessions, r, p, other_q.thread_id, voter, service.DOWN, clock.now())
    async with sessions() as session:
        assert await search.search(session, GUILD, "zanzibar", limit=5)
    async with sessions.begin() as session:
        await service.erase_member_data(session, voter)
    async with sessions() as session:
        q = await session.get(QaQuestion, question.id)
        assert q.body == "" and q.asker_id == voter  # the row stays for the ledger
        assert (await session.get(QaAnswer, mine.id)).body == ""
        assert not [h for h in await search.search(session, GUILD, "zanzibar details", limit=5)]
        assert not [h for h in await search.search(session, GUILD, "zanzibar answer", limit=5)]
        assert (await session.get(QaAnswer, theirs.id)).score == 0
        assert (await session.get(QaQuestion, other_q.id)).score == 0
