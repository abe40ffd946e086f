"""Q&A rules: questions, answers, votes, accepted solutions, close/reopen, the once-only prompts (no discord
import). Every function runs in the caller's transaction and keeps the search index (``search``) in step.

Ledger (bot/ledger.py), reputation always equal to the ledger's sum:

- ``question_asked`` once per question; ``answer_posted`` once per member and question (more messages in the
  same thread earn nothing more), with the asker as counterpart, so answering one's own question earns nothing;
- a vote is an event for the post's author with the voter as counterpart (``answer_upvoted`` /
  ``question_upvoted``, vote kinds under the daily cap; ``answer_downvoted`` / ``question_downvoted`` take
  ``downvote_points``). Changing or removing a vote appends a ``<kind>_reversed`` event
  (``ledger.reversal_kind``, in the reversed kind's category, so every board drops) worth minus what the old
  one was granted: the ledger stays append-only and the sum stays right. ``QaVote.seq`` numbers the changes,
  so every event and reversal has its own reference (recording is idempotent on it);
- an accept credits the answerer (``answer_accepted``, 0 points for an account younger than
  ``min_account_age_days``) and the asker (``solution_marked``), once per answer for good; un-accepting
  (another answer chosen, the question reopened, the answer deleted) appends reversal-kind events for both,
  and accepting that answer again restores them with reversal-kind events (badges count ``answer_accepted``
  events, which switching must not grow); deleting a member's last answer in a question reverses
  ``answer_posted``;
- votes and accepts together are capped per pair (``[qa] pair_weekly_points`` in 7 days) by the ledger's
  ``PairLimit``, the one place anti-farming lives. A reversal never refunds that budget or the daily cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import ledger, reminders
from bot.config import Config
from bot.db import dialect_insert
from bot.privacy import DataSubject, MemberDataHandler
from cogs.qa import export, search
from models import LedgerEvent, Member
from models.qa import QaAnswer, QaQuestion, QaQuestionTag, QaSubscription, QaVote

# A question's state is open or solved; closing is ``closed_at`` on top of either (so closing a solved
# question keeps it in the knowledge base).
OPEN, SOLVED = "open", "solved"
UP, DOWN = 1, -1
# Reminder kinds (durable; bot/reminders.py): the idle reminder to the asker, then the post to subscribers.
IDLE = "qa.idle"
SUBSCRIBERS = "qa.subscribers"
ACCEPTED = "answer_accepted"
MARKED = "solution_marked"
VOTE_KINDS = {(True, UP): "question_upvoted", (True, DOWN): "question_downvoted"} | {
    (False, UP): "answer_upvoted",
    (False, DOWN): "answer_downvoted",
}
# Discord: a forum post holds at most 5 tags; a tag name is at most 20 characters.
MAX_TAGS = 5
TITLE_MAX = 100
BODY_MAX = 4000


class QaError(ValueError):
    """A refusal with its reason in words, for the member who asked."""


@dataclass(frozen=True)
class QaRules:
    guild_id: int
    idle: timedelta
    subscribers_after: timedelta
    pair_limit: ledger.PairLimit
    min_account_age: timedelta
    downvote_points: int
    accepter_points: int

    @classmethod
    def from_config(cls, config: Config) -> QaRules:
        qa = config.qa
        given = frozenset({*VOTE_KINDS.values(), ACCEPTED, MARKED})
        return cls(
            guild_id=config.bot.guild_id,
            idle=timedelta(hours=qa.idle_hours),
            subscribers_after=timedelta(hours=qa.subscribers_after_hours),
            pair_limit=ledger.PairLimit(given, qa.pair_weekly_points, 7),
            min_account_age=timedelta(days=qa.min_account_age_days),
            downvote_points=qa.downvote_points,
            accepter_points=qa.accepter_points,
        )


def clean_tags(tags: list[str] | tuple[str, ...]) -> list[str]:
    """Distinct tag names in order, at most 5 (Discord's limit per post)."""
    out: list[str] = []
    for tag in tags:
        tag = tag.strip()[:20]
        if tag and tag not in out:
            out.append(tag)
    return out[:MAX_TAGS]


# -- questions --------------------------------------------------------------------------------------------------
async def question_by_thread(session: AsyncSession, thread_id: int) -> QaQuestion | None:
    return await session.scalar(select(QaQuestion).where(QaQuestion.thread_id == thread_id))


async def tags_of(session: AsyncSession, question_id: int) -> list[str]:
    return list(
        await session.scalars(
            select(QaQuestionTag.tag).where(QaQuestionTag.question_id == question_id).order_by(QaQuestionTag.tag)
        )
    )


async def _set_tags(session: AsyncSession, question_id: int, tags: list[str]) -> None:
    await session.execute(delete(QaQuestionTag).where(QaQuestionTag.question_id == question_id))
    for tag in clean_tags(tags):
        session.add(QaQuestionTag(question_id=question_id, tag=tag))
    await session.flush()


def idle_key(question_id: int, since: datetime) -> str:
    return f"qa-idle:{question_id}:{int(since.timestamp())}"


async def create_question(
    session: AsyncSession,
    rules: QaRules,
    policy: ledger.LedgerPolicy,
    *,
    thread_id: int,
    forum_id: int,
    asker_id: int | None,
    title: str,
    body: str,
    tags: list[str],
    now: datetime,
) -> QaQuestion | None:
    """Store a new forum post as a question; None when its thread is stored already (a retry, or /ask's post
    seen again as THREAD_CREATE). Records ``question_asked`` and schedules the idle reminder."""
    inserted = await session.scalar(
        dialect_insert(session, QaQuestion)
        .values(
            guild_id=rules.guild_id,
            forum_id=forum_id,
            thread_id=thread_id,
            asker_id=asker_id,
            title=title.strip()[:TITLE_MAX] or "(untitled)",
            body=body[:BODY_MAX],
            state=OPEN,
            score=0,
            answer_count=0,
            created_at=now,
            last_activity_at=now,
        )
        .on_conflict_do_nothing(index_elements=["thread_id"])
        .returning(QaQuestion.id)
    )
    if inserted is None:
        return None
    await _set_tags(session, inserted, tags)
    if asker_id is not None:
        await ledger.record_event(
            session,
            policy,
            guild_id=rules.guild_id,
            member_id=asker_id,
            kind="question_asked",
            reference=f"qa:question:{inserted}",
            at=now,
            now=now,
        )
    await reminders.add(
        session,
        kind=IDLE,
        guild_id=rules.guild_id,
        target_id=inserted,
        due_at=now + rules.idle,
        created_at=now,
        dedupe_key=idle_key(inserted, now),
    )
    await search.index_question(session, inserted)
    question = await session.get(QaQuestion, inserted)
    assert question is not None
    return question


async def edit_question(
    session: AsyncSession,
    thread_id: int,
    *,
    now: datetime,
    title: str | None = None,
    body: str | None = None,
    tags: list[str] | None = None,
) -> QaQuestion | None:
    """A renamed post, an edited starter message or changed tags: stored and re-indexed."""
    question = await question_by_thread(session, thread_id)
    if question is None or question.deleted_at is not None:
        return None
    if title is not None and title.strip():
        question.title = title.strip()[:TITLE_MAX]
    if body is not None:
        question.body = body[:BODY_MAX]
    if tags is not None:
        await _set_tags(session, question.id, tags)
    await session.flush()
    await search.index_question(session, question.id)
    return question


async def delete_question(session: AsyncSession, thread_id: int, now: datetime) -> bool:
    """The thread was deleted: out of search and listings; the row stays for the ledger."""
    question = await question_by_thread(session, thread_id)
    if question is None or question.deleted_at is not None:
        return False
    question.deleted_at = now
    await session.flush()
    await search.drop_question(session, question.id)
    return True


# -- answers ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AnswerResult:
    answer: QaAnswer
    new: bool
    credited: int | None  # the answerer's member id when answer_posted earned points now


async def add_answer(
    session: AsyncSession,
    rules: QaRules,
    policy: ledger.LedgerPolicy,
    *,
    question: QaQuestion,
    message_id: int,
    author_id: int | None,
    body: str,
    created_at: datetime,
    now: datetime,
) -> AnswerResult | None:
    """Store a message of a question's thread as an answer (None for the starter message). Seen again (the
    context menu on a message stored without its text) it fills in the body when it had none."""
    if message_id == question.thread_id or question.deleted_at is not None:
        return None
    await lock_question(session, question)  # answer_count below, and one row per message
    existing = await session.scalar(select(QaAnswer).where(QaAnswer.message_id == message_id))
    if existing is not None:
        if body and not existing.body:
            existing.body = body[:BODY_MAX]
            await session.flush()
            await search.index_answer(session, existing.id)
        return AnswerResult(existing, False, None)
    answer = QaAnswer(
        question_id=question.id,
        message_id=message_id,
        author_id=author_id,
        body=body[:BODY_MAX],
        score=0,
        accepted=False,
        created_at=min(created_at, now),
    )
    session.add(answer)
    if author_id != question.asker_id:
        question.answer_count += 1  # the asker's own replies are follow-ups, not answers to wait for
    question.last_activity_at = now
    await session.flush()
    credited = None
    if author_id is not None:
        result = await ledger.record_event(
            session,
            policy,
            guild_id=rules.guild_id,
            member_id=author_id,
            kind="answer_posted",
            reference=f"qa:answered:{question.id}:{author_id}",
            at=now,
            now=now,
            subject_member_id=question.asker_id,
        )
        credited = author_id if result.points else None
    await search.index_answer(session, answer.id)
    return AnswerResult(answer, True, credited)


async def edit_answer(session: AsyncSession, message_id: int, body: str, now: datetime) -> bool:
    answer = await session.scalar(select(QaAnswer).where(QaAnswer.message_id == message_id))
    if answer is None or answer.deleted_at is not None:
        return False
    answer.body = body[:BODY_MAX]
    answer.edited_at = now
    await session.flush()
    await search.index_answer(session, answer.id)
    return True


async def delete_answer(
    session: AsyncSession,
    rules: QaRules,
    policy: ledger.LedgerPolicy,
    message_id: int,
    now: datetime,
    *,
    thread_id: int | None = None,
) -> bool | None:
    """A deleted message: out of search; an accepted one is un-accepted (its points reversed, the question
    open again). None when it was no stored answer (of the question in ``thread_id``, when given); else
    whether it was the accepted one."""
    answer = await session.scalar(select(QaAnswer).where(QaAnswer.message_id == message_id))
    if answer is None or answer.deleted_at is not None:
        return None
    question = await session.get(QaQuestion, answer.question_id)
    assert question is not None
    if thread_id is not None and question.thread_id != thread_id:
        return None
    await lock_question(session, question)
    await session.refresh(answer)
    if answer.deleted_at is not None:
        return None
    was_accepted = answer.accepted
    answer.deleted_at = now
    if answer.author_id != question.asker_id:
        question.answer_count = max(0, question.answer_count - 1)
    if answer.accepted:
        await _unaccept(session, rules, policy, question, answer, now)
        if question.state == SOLVED:
            question.state, question.solved_at = OPEN, None
    await session.flush()
    if answer.author_id is not None and not await session.scalar(
        select(func.count()).where(
            QaAnswer.question_id == question.id,
            QaAnswer.author_id == answer.author_id,
            QaAnswer.deleted_at.is_(None),
        )
    ):
        # Their last answer here is gone: answer_posted is taken back (once; answering again earns nothing,
        # so posting and deleting cannot farm it).
        await ledger.lock_members(session, [answer.author_id])
        await _reverse(
            session,
            rules,
            policy,
            member_id=answer.author_id,
            reference=f"qa:answered:{question.id}:{answer.author_id}",
            subject=question.asker_id,
            now=now,
        )
    await search.drop_answer(session, answer.id)
    await search.index_question(session, question.id)
    return was_accepted


async def lock_question(session: AsyncSession, question: QaQuestion) -> None:
    """Serialise the writers of one question (votes, accepts, close/reopen) and read it afresh: an UPDATE that
    changes nothing takes the row's lock on PostgreSQL and, as the transaction's first write, the process's
    write gate on SQLite (whose reads before a first write run outside any transaction), so what is read next
    cannot change under us."""
    await session.execute(
        update(QaQuestion)
        .where(QaQuestion.id == question.id)
        .values(score=QaQuestion.score)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(question)


# -- votes ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VoteResult:
    # "recorded", "changed", "removed", "unchanged", "self", "no_privilege", "unknown"
    outcome: str
    author_id: int | None = None
    points: int = 0


async def _target(session: AsyncSession, message_id: int) -> tuple[QaQuestion, QaAnswer | None] | None:
    question = await question_by_thread(session, message_id)
    if question is not None:
        return None if question.deleted_at is not None else (question, None)
    answer = await session.scalar(select(QaAnswer).where(QaAnswer.message_id == message_id))
    if answer is None or answer.deleted_at is not None:
        return None
    question = await session.get(QaQuestion, answer.question_id)
    if question is None or question.deleted_at is not None:
        return None
    return question, answer


async def vote(
    session: AsyncSession,
    rules: QaRules,
    policy: ledger.LedgerPolicy,
    *,
    message_id: int,
    voter_id: int,
    value: int,
    now: datetime,
) -> VoteResult:
    """A 👍 (+1) or 👎 (-1) reaction added on a question's starter message or an answer. One vote per member and
    post: the other direction replaces it (the old one reversed in the ledger)."""
    if value not in (UP, DOWN):
        raise ValueError("a vote is +1 or -1")
    target = await _target(session, message_id)
    if target is None:
        return VoteResult("unknown")
    question, answer = target
    author = answer.author_id if answer is not None else question.asker_id
    if author is None:
        return VoteResult("unknown")
    if author == voter_id:
        return VoteResult("self", author)
    if "vote" in policy.privileges and not await ledger.has_privilege(session, voter_id, "vote", policy=policy):
        return VoteResult("no_privilege", author)
    await lock_question(session, question)
    if answer is not None:
        await session.refresh(answer)
    await ledger.lock_members(session, [author, voter_id])
    row = await session.scalar(
        select(QaVote)
        .where(QaVote.voter_id == voter_id, QaVote.message_id == message_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is not None and row.value == value:
        return VoteResult("unchanged", author)
    outcome = "recorded"
    if row is None:
        row = QaVote(
            voter_id=voter_id,
            message_id=message_id,
            question_id=question.id,
            answer_id=answer.id if answer is not None else None,
            value=value,
            seq=1,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        old = 0
    else:
        old = row.value
        if old:
            await _reverse_vote(session, rules, policy, row, author, now)
            outcome = "changed"
        row.seq += 1
        row.value, row.updated_at = value, now
    _add_score(question, answer, value - old)
    await session.flush()
    result = await _record_vote(session, rules, policy, row, author, answer is None, now)
    return VoteResult(outcome, author, result)


async def unvote(
    session: AsyncSession,
    rules: QaRules,
    policy: ledger.LedgerPolicy,
    *,
    message_id: int,
    voter_id: int,
    value: int,
    now: datetime,
) -> VoteResult:
    """The 👍 or 👎 reaction was removed: the vote it made (if it is the current one) is reversed."""
    seen = await session.scalar(
        select(QaVote.question_id).where(QaVote.voter_id == voter_id, QaVote.message_id == message_id)
    )
    locked = await session.get(QaQuestion, seen) if seen is not None else None
    if locked is None:
        return VoteResult("unchanged")
    await lock_question(session, locked)
    row = await session.scalar(
        select(QaVote)
        .where(QaVote.voter_id == voter_id, QaVote.message_id == message_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None or row.value != value:
        return VoteResult("unchanged")
    question = await session.get(QaQuestion, row.question_id)
    answer = await session.get(QaAnswer, row.answer_id) if row.answer_id is not None else None
    assert question is not None
    if answer is not None:
        await session.refresh(answer)
    author = answer.author_id if answer is not None else question.asker_id
    if author is not None:
        await ledger.lock_members(session, [author, voter_id])
        await _reverse_vote(session, rules, policy, row, author, now)
    row.value, row.updated_at = 0, now
    _add_score(question, answer, -value)
    await session.flush()
    return VoteResult("removed", author)


def _add_score(question: QaQuestion, answer: QaAnswer | None, delta: int) -> None:
    if answer is not None:
        answer.score += delta
    else:
        question.score += delta


def _vote_reference(row: QaVote) -> str:
    return f"qa:vote:{row.message_id}:{row.voter_id}:{row.seq}"


async def _record_vote(
    session: AsyncSession,
    rules: QaRules,
    policy: ledger.LedgerPolicy,
    row: QaVote,
    author: int,
    on_question: bool,
    now: datetime,
) -> int:
    result = await ledger.record_event(
        session,
        policy,
        guild_id=rules.guild_id,
        member_id=author,
        kind=VOTE_KINDS[(on_question, row.value)],
        reference=_vote_reference(row),
        at=now,
        now=now,
        subject_member_id=row.voter_id,
        points=None if row.value == UP else -rules.downvote_points,
        pair_limit=rules.pair_limit,
    )
    return result.points


async def _granted(session: AsyncSession, member_id: int, reference: str) -> tuple[str, int] | None:
    """The kind and points of the member's event with this reference (None: no such event). Reversals have
    references of their own (``<reference>:undo:<n>`` / ``:redo:<n>``), so this finds the original."""
    row = (
        await session.execute(
            select(LedgerEvent.kind, LedgerEvent.points).where(
                LedgerEvent.member_id == member_id, LedgerEvent.reference == reference
            )
        )
    ).first()
    return None if row is None else (str(row[0]), int(row[1]))


async def _count_refs(session: AsyncSession, member_id: int, prefix: str) -> int:
    return int(
        await session.scalar(
            select(func.count()).where(
                LedgerEvent.member_id == member_id, LedgerEvent.reference.like(f"{prefix}%")
            )
        )
        or 0
    )


async def _reverse(
    session: AsyncSession,
    rules: QaRules,
    policy: ledger.LedgerPolicy,
    *,
    member_id: int,
    reference: str,
    subject: int | None,
    now: datetime,
    restore: bool = False,
) -> int:
    """Take back (or, ``restore``, give back after a take-back) what the member's event ``reference`` was
    granted, as an event of the reversal kind of that event's kind (``ledger.reversal_kind``): it lands in the
    same category, and the original kind's count (what badges count) does not grow. Balanced: taken back only
    while it counts, restored only while taken back. Returns the points moved."""
    original = await _granted(session, member_id, reference)
    if original is None or not original[1]:
        return 0  # nothing was given (self, capped to 0, or never recorded): nothing to move
    kind, granted = original
    undone = await _count_refs(session, member_id, f"{reference}:undo:")
    redone = await _count_refs(session, member_id, f"{reference}:redo:")
    if (undone > redone) != restore:
        return 0
    moved = granted if restore else -granted
    await ledger.record_event(
        session,
        policy,
        guild_id=rules.guild_id,
        member_id=member_id,
        kind=ledger.reversal_kind(kind),
        reference=f"{reference}:redo:{redone}" if restore else f"{reference}:undo:{undone}",
        at=now,
        now=now,
        subject_member_id=subject,
        points=moved,
    )
    return moved


async def _reverse_vote(
    session: AsyncSession, rules: QaRules, policy: ledger.LedgerPolicy, row: QaVote, author: int, now: datetime
) -> None:
    await _reverse(
        session, rules, policy, member_id=author, reference=_vote_reference(row), subject=row.voter_id, now=now
    )


# -- accept, close, reopen --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AcceptResult:
    question: QaQuestion
    answer: QaAnswer
    already: bool
    # The message id of the answer accepted before (to unpin), if another one was.
    replaced_message_id: int | None
    answerer_points: int


def may_manage(question: QaQuestion, member_id: int, moderator: bool) -> bool:
    return moderator or (question.asker_id is not None and question.asker_id == member_id)


def _accept_ref(answer: QaAnswer) -> str:
    """One answer_accepted per answer for good: accepting it again after a take-back restores those points."""
    return f"qa:accept:{answer.id}"


def _marked_ref(answer: QaAnswer) -> str:
    return f"qa:marked:{answer.id}"


async def accept(
    session: AsyncSession,
    rules: QaRules,
    policy: ledger.LedgerPolicy,
    *,
    question: QaQuestion,
    answer: QaAnswer,
    by_member_id: int,
    moderator: bool,
    answerer_account_created: datetime | None,
    now: datetime,
) -> AcceptResult:
    """Mark ``answer`` as the question's solution (the asker, or a moderator). Another accepted answer is
    un-accepted first. Raises QaError with the reason when refused."""
    if not may_manage(question, by_member_id, moderator):
        raise QaError("Only the member who asked (or a maintainer) can mark the solution.")
    if question.deleted_at is not None or answer.deleted_at is not None:
        raise QaError("That question or answer was deleted.")
    if answer.question_id != question.id:
        raise QaError("That message is not an answer to this question.")
    if question.closed_at is not None:
        raise QaError("This question is closed: reopen it first.")
    if answer.message_id == question.thread_id:
        raise QaError("The question itself cannot be its solution: pick an answer in the thread.")
    await lock_question(session, question)
    await session.refresh(answer)
    if question.closed_at is not None:
        raise QaError("This question is closed: reopen it first.")
    if answer.accepted:
        return AcceptResult(question, answer, True, None, 0)
    people = [m for m in (question.asker_id, answer.author_id) if m is not None]
    await ledger.lock_members(session, people)
    previous = await session.scalar(
        select(QaAnswer).where(QaAnswer.question_id == question.id, QaAnswer.accepted.is_(True))
    )
    replaced = None
    if previous is not None:
        await _unaccept(session, rules, policy, question, previous, now)
        replaced = previous.message_id
    answer.accepted = True
    question.state, question.solved_at = SOLVED, now
    question.last_activity_at = now
    await session.flush()
    points = 0
    if answer.author_id is not None:
        if await _granted(session, answer.author_id, _accept_ref(answer)) is not None:
            # Accepted before, then taken back: restored (a reversal-kind event), never a second
            # answer_accepted, so switching the accepted answer back and forth cannot farm badges.
            points = await _reverse(
                session, rules, policy, member_id=answer.author_id, reference=_accept_ref(answer),
                subject=question.asker_id, now=now, restore=True,
            )  # fmt: skip
        else:
            young = (
                answerer_account_created is not None and now - answerer_account_created < rules.min_account_age
            )
            result = await ledger.record_event(
                session,
                policy,
                guild_id=rules.guild_id,
                member_id=answer.author_id,
                kind=ACCEPTED,
                reference=_accept_ref(answer),
                at=now,
                now=now,
                subject_member_id=question.asker_id,
                points=0 if young else None,
                pair_limit=rules.pair_limit,
            )
            points = result.points
    if question.asker_id is not None:
        if await _granted(session, question.asker_id, _marked_ref(answer)) is not None:
            await _reverse(
                session, rules, policy, member_id=question.asker_id, reference=_marked_ref(answer),
                subject=answer.author_id, now=now, restore=True,
            )  # fmt: skip
        else:
            await ledger.record_event(
                session,
                policy,
                guild_id=rules.guild_id,
                member_id=question.asker_id,
                kind=MARKED,
                reference=_marked_ref(answer),
                at=now,
                now=now,
                subject_member_id=answer.author_id,
                points=rules.accepter_points,
                pair_limit=rules.pair_limit,
            )
    await search.index_question(session, question.id)
    return AcceptResult(question, answer, False, replaced, points)


async def _unaccept(
    session: AsyncSession,
    rules: QaRules,
    policy: ledger.LedgerPolicy,
    question: QaQuestion,
    answer: QaAnswer,
    now: datetime,
) -> None:
    answer.accepted = False
    await session.flush()
    people = [m for m in (question.asker_id, answer.author_id) if m is not None]
    await ledger.lock_members(session, people)
    if answer.author_id is not None:
        await _reverse(
            session, rules, policy, member_id=answer.author_id, reference=_accept_ref(answer),
            subject=question.asker_id, now=now,
        )  # fmt: skip
    if question.asker_id is not None:
        await _reverse(
            session, rules, policy, member_id=question.asker_id, reference=_marked_ref(answer),
            subject=answer.author_id, now=now,
        )  # fmt: skip


async def accepted_answer(session: AsyncSession, question_id: int) -> QaAnswer | None:
    return await session.scalar(
        select(QaAnswer).where(QaAnswer.question_id == question_id, QaAnswer.accepted.is_(True))
    )


async def latest_answer(session: AsyncSession, question: QaQuestion) -> QaAnswer | None:
    """The newest answer by someone other than the asker (what ``/solved`` without a link marks)."""
    query = select(QaAnswer).where(QaAnswer.question_id == question.id, QaAnswer.deleted_at.is_(None))
    if question.asker_id is not None:
        query = query.where((QaAnswer.author_id != question.asker_id) | QaAnswer.author_id.is_(None))
    return await session.scalar(query.order_by(QaAnswer.created_at.desc(), QaAnswer.id.desc()).limit(1))


async def close(
    session: AsyncSession, question: QaQuestion, *, by_member_id: int, moderator: bool, now: datetime
) -> bool:
    """Close (no more answers wanted); False when it was closed already. Closing is ``closed_at`` alone:
    ``state`` stays solved or open, so a solved question stays in the knowledge base with its accepted answer
    and points."""
    if not may_manage(question, by_member_id, moderator):
        raise QaError("Only the member who asked (or a maintainer) can close this question.")
    await lock_question(session, question)
    if question.closed_at is not None:
        return False
    question.closed_at = now
    await session.flush()
    await search.index_question(session, question.id)
    return True


@dataclass(frozen=True)
class ReopenResult:
    reopened: bool
    unaccepted_message_id: int | None  # the answer that is no longer the solution (to unpin)
    solved: bool = False  # still solved (a closed solved question reopened keeps its accept)


async def reopen(
    session: AsyncSession,
    rules: QaRules,
    policy: ledger.LedgerPolicy,
    question: QaQuestion,
    *,
    by_member_id: int,
    moderator: bool,
    now: datetime,
) -> ReopenResult:
    """Open again: a closed question (only the close is undone: a solved one keeps its accepted answer), or a
    solved one whose solution turned out wrong (it is un-accepted and its points reversed)."""
    if not may_manage(question, by_member_id, moderator):
        raise QaError("Only the member who asked (or a maintainer) can reopen this question.")
    await lock_question(session, question)
    if question.closed_at is not None:
        question.closed_at = None
        question.last_activity_at = now
        await session.flush()
        await search.index_question(session, question.id)
        return ReopenResult(True, None, question.state == SOLVED)
    if question.state == OPEN:
        return ReopenResult(False, None)
    unaccepted = None
    previous = await accepted_answer(session, question.id)
    if previous is not None:
        await _unaccept(session, rules, policy, question, previous, now)
        unaccepted = previous.message_id
    question.state, question.solved_at = OPEN, None
    question.last_activity_at = now
    await session.flush()
    await search.index_question(session, question.id)
    return ReopenResult(True, unaccepted)


# -- the once-only prompts --------------------------------------------------------------------------------------
THANKS_WORDS = frozenset({"thx", "ty", "tysm", "cheers", "solved"})
THANKS_PHRASES = ("thank", "that worked", "it works", "works now")


def says_thanks(text: str) -> bool:
    """Whether a message reads like "thanks, that solved it" (the asker is then prompted, once, to mark it)."""
    lowered = text.lower()
    tokens = {w.strip(".,!?:;()'\"") for w in lowered.split()}
    return any(p in lowered for p in THANKS_PHRASES) or bool(tokens & THANKS_WORDS)


async def claim_thanks_prompt(session: AsyncSession, question_id: int, now: datetime) -> bool:
    """Whether to prompt the asker to mark a solution now: once per question, only while it is open and has an
    answer to mark. One UPDATE decides, so two messages at once prompt once."""
    claimed = await session.execute(
        update(QaQuestion)
        .where(
            QaQuestion.id == question_id,
            QaQuestion.thanks_prompted_at.is_(None),
            QaQuestion.state == OPEN,
            QaQuestion.closed_at.is_(None),
            QaQuestion.answer_count > 0,
            QaQuestion.deleted_at.is_(None),
        )
        .values(thanks_prompted_at=now)
    )
    return bool(claimed.rowcount)


@dataclass(frozen=True)
class IdleStep:
    # "remind": tell the asker now; "later": activity since, rescheduled; "none": nothing to do.
    action: str
    question: QaQuestion | None = None
    asker_discord_id: int | None = None


async def idle_step(session: AsyncSession, rules: QaRules, question_id: int, now: datetime) -> IdleStep:
    """What a due idle reminder does: remind the asker once (an open question idle for ``idle``), or come back
    when newer activity moved the idle time."""
    question = await session.get(QaQuestion, question_id)
    if question is None or question.deleted_at is not None or question.state != OPEN or question.closed_at:
        return IdleStep("none")
    if question.idle_reminded_at is not None:
        return IdleStep("none")
    due = question.last_activity_at + rules.idle
    if due > now:
        await reminders.add(
            session,
            kind=IDLE,
            guild_id=question.guild_id,
            target_id=question.id,
            due_at=due,
            created_at=now,
            dedupe_key=idle_key(question.id, question.last_activity_at),
        )
        return IdleStep("later", question)
    asker = await session.get(Member, question.asker_id) if question.asker_id is not None else None
    return IdleStep("remind", question, asker.discord_id if asker is not None else None)


async def mark_idle_reminded(session: AsyncSession, rules: QaRules, question_id: int, now: datetime) -> bool:
    """After the reminder went out: stamped (never again) and the subscribers' post scheduled."""
    done = await session.execute(
        update(QaQuestion)
        .where(QaQuestion.id == question_id, QaQuestion.idle_reminded_at.is_(None))
        .values(idle_reminded_at=now)
    )
    if not done.rowcount:
        return False
    await reminders.add(
        session,
        kind=SUBSCRIBERS,
        guild_id=rules.guild_id,
        target_id=question_id,
        due_at=now + rules.subscribers_after,
        created_at=now,
        dedupe_key=f"qa-subs:{question_id}",
    )
    return True


async def subscribers_to_tell(
    session: AsyncSession, question_id: int, limit: int = 50
) -> tuple[QaQuestion | None, list[int]]:
    """The question and the Discord ids of members subscribed to any of its tags (the asker excepted), when it
    is still open, unanswered and its subscribers were not told yet; else (None, [])."""
    question = await session.get(QaQuestion, question_id)
    if (
        question is None
        or question.deleted_at is not None
        or question.state != OPEN
        or question.closed_at is not None
        or question.answer_count > 0
        or question.subscribers_notified_at is not None
    ):
        return None, []
    rows = await session.scalars(
        select(Member.discord_id)
        .join(QaSubscription, QaSubscription.member_id == Member.id)
        .join(QaQuestionTag, QaQuestionTag.tag == QaSubscription.tag)
        .where(
            QaQuestionTag.question_id == question_id,
            QaSubscription.guild_id == question.guild_id,
            Member.left_at.is_(None),
            Member.id != (question.asker_id or 0),
        )
        .distinct()
        .order_by(Member.discord_id)
        .limit(limit)
    )
    return question, list(rows)


async def mark_subscribers_told(session: AsyncSession, question_id: int, now: datetime) -> bool:
    done = await session.execute(
        update(QaQuestion)
        .where(QaQuestion.id == question_id, QaQuestion.subscribers_notified_at.is_(None))
        .values(subscribers_notified_at=now)
    )
    return bool(done.rowcount)


# -- subscriptions and listings ---------------------------------------------------------------------------------
async def subscribe(session: AsyncSession, guild_id: int, member_id: int, tag: str, now: datetime) -> bool:
    """Subscribe to a tag; False when subscribed already."""
    added = await session.scalar(
        dialect_insert(session, QaSubscription)
        .values(member_id=member_id, guild_id=guild_id, tag=tag[:20], created_at=now)
        .on_conflict_do_nothing(index_elements=["member_id", "tag"])
        .returning(QaSubscription.member_id)
    )
    return added is not None


async def unsubscribe(session: AsyncSession, member_id: int, tag: str) -> bool:
    gone = await session.execute(
        delete(QaSubscription).where(QaSubscription.member_id == member_id, QaSubscription.tag == tag)
    )
    return bool(gone.rowcount)


async def subscriptions(session: AsyncSession, member_id: int) -> list[str]:
    return list(
        await session.scalars(
            select(QaSubscription.tag).where(QaSubscription.member_id == member_id).order_by(QaSubscription.tag)
        )
    )


async def unanswered(
    session: AsyncSession, guild_id: int, *, tag: str | None = None, limit: int = 10
) -> list[QaQuestion]:
    """Open questions without an answer, oldest first (the ones waiting longest)."""
    query = select(QaQuestion).where(
        QaQuestion.guild_id == guild_id,
        QaQuestion.state == OPEN,
        QaQuestion.closed_at.is_(None),
        QaQuestion.answer_count == 0,
        QaQuestion.deleted_at.is_(None),
    )
    if tag:
        query = query.where(QaQuestion.id.in_(select(QaQuestionTag.question_id).where(QaQuestionTag.tag == tag)))
    return list(await session.scalars(query.order_by(QaQuestion.created_at, QaQuestion.id).limit(limit)))


async def member_ids(session: AsyncSession, discord_ids: list[int], guild_id: int) -> dict[int, int]:
    rows = await session.execute(
        select(Member.discord_id, Member.id).where(Member.guild_id == guild_id, Member.discord_id.in_(discord_ids))
    )
    return {d: m for d, m in rows.all()}


async def discord_id_of(session: AsyncSession, member_id: int | None) -> int | None:
    if member_id is None:
        return None
    return await session.scalar(select(Member.discord_id).where(Member.id == member_id))


# -- export -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SolvedPage:
    question: QaQuestion
    tags: list[str]
    accepted: QaAnswer
    others: list[QaAnswer]


async def solved_pages(session: AsyncSession, guild_id: int | None = None) -> list[SolvedPage]:
    """Solved questions with their tags, accepted answer and the other answers by score (atlas-bot export-kb)."""
    query = select(QaQuestion).where(QaQuestion.state == SOLVED, QaQuestion.deleted_at.is_(None))
    if guild_id is not None:
        query = query.where(QaQuestion.guild_id == guild_id)
    pages: list[SolvedPage] = []
    for question in await session.scalars(query.order_by(QaQuestion.id)):
        answers = list(
            await session.scalars(
                select(QaAnswer)
                .where(QaAnswer.question_id == question.id, QaAnswer.deleted_at.is_(None))
                .order_by(QaAnswer.accepted.desc(), QaAnswer.score.desc(), QaAnswer.created_at)
            )
        )
        if not answers or not answers[0].accepted:
            continue
        pages.append(SolvedPage(question, await tags_of(session, question.id), answers[0], answers[1:]))
    return pages


async def kb_pages(session: AsyncSession, guild_id: int | None = None) -> list[export.Page]:
    """The solved questions as export pages, with the display names of askers and answerers."""
    pages = await solved_pages(session, guild_id)
    people = {p.question.asker_id for p in pages} | {a.author_id for p in pages for a in (p.accepted, *p.others)}
    ids = [m for m in people if m is not None]
    names = dict((await session.execute(select(Member.id, Member.display_name).where(Member.id.in_(ids)))).all())

    def text(answer: QaAnswer) -> export.AnswerText:
        return export.AnswerText(answer.message_id, names.get(answer.author_id, ""), answer.body, answer.score)

    return [
        export.Page(
            question_id=p.question.id,
            guild_id=p.question.guild_id,
            thread_id=p.question.thread_id,
            title=p.question.title,
            tags=p.tags,
            asker=names.get(p.question.asker_id, ""),
            body=p.question.body,
            accepted=text(p.accepted),
            others=[text(a) for a in p.others],
        )
        for p in pages
    ]


def export_row(question: QaQuestion) -> dict[str, Any]:
    return {
        "title": question.title,
        "thread_id": question.thread_id,
        "state": question.state,
        "closed": question.closed_at is not None,
    }


# -- member data (/privacy export and delete) -------------------------------------------------------------------
async def export_member_data(session: AsyncSession, member_id: int) -> dict[str, Any]:
    questions = await session.scalars(
        select(QaQuestion).where(QaQuestion.asker_id == member_id).order_by(QaQuestion.id)
    )
    answers = await session.scalars(select(QaAnswer).where(QaAnswer.author_id == member_id).order_by(QaAnswer.id))
    votes = await session.scalars(
        select(QaVote).where(QaVote.voter_id == member_id, QaVote.value != 0).order_by(QaVote.message_id)
    )
    return {
        "questions": [export_row(q) for q in questions],
        "answers": [
            {
                "message_id": a.message_id,
                "body": a.body,
                "accepted": a.accepted,
                "deleted": a.deleted_at is not None,
            }
            for a in answers
        ],
        "votes": [{"message_id": v.message_id, "value": v.value} for v in votes],
        "subscriptions": await subscriptions(session, member_id),
    }


async def erase_member_data(session: AsyncSession, member_id: int) -> None:
    """Subscriptions and votes go, and the member's votes come off the scores they made. The member's question
    and answer texts are blanked and re-indexed (search no longer finds them by it); the rows stay, linked to
    the anonymised member, for the ledger."""
    await session.execute(delete(QaSubscription).where(QaSubscription.member_id == member_id))
    votes = list(await session.scalars(select(QaVote).where(QaVote.voter_id == member_id, QaVote.value != 0)))
    for row in votes:
        question = await session.get(QaQuestion, row.question_id)
        answer = await session.get(QaAnswer, row.answer_id) if row.answer_id is not None else None
        if question is not None:
            await lock_question(session, question)
            if answer is not None:
                await session.refresh(answer)
            _add_score(question, answer, -row.value)
    await session.execute(delete(QaVote).where(QaVote.voter_id == member_id))
    touched: set[int] = set()
    for question in await session.scalars(select(QaQuestion).where(QaQuestion.asker_id == member_id)):
        question.body = ""
        touched.add(question.id)
    for answer in await session.scalars(select(QaAnswer).where(QaAnswer.author_id == member_id)):
        answer.body = ""
        touched.add(answer.question_id)
    await session.flush()
    for question_id in sorted(touched):
        await search.index_question(session, question_id)


def member_data_handler() -> MemberDataHandler:
    async def export(session: AsyncSession, subject: DataSubject) -> dict[str, Any]:
        return await export_member_data(session, subject.member_id)

    async def erase(session: AsyncSession, subject: DataSubject, at: datetime) -> None:
        await erase_member_data(session, subject.member_id)

    return MemberDataHandler("qa", export, erase)
