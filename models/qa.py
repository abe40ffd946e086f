"""The Q&A knowledge base: questions (posts in the Q&A forum channel), answers (messages in a question's thread),
votes (reactions), accepted solutions and tag subscriptions.

A question is a forum thread; its id is the thread's id, which is also the id of the post's starter message (a
Discord rule for forum posts). Answers are stored from thread messages (with the Message Content intent) or from
the "Mark as solution" context menu, whose target message Discord always sends. Votes are one row per voter and
post, changed in place; each change goes to the ledger as an event (or a reversing one), so reputation always
equals the ledger's sum. The full-text index over titles, bodies and answers is kept by cogs/qa/search.py in the
same transaction as each write here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, SmallInteger, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base

ACCEPTED = text("accepted")


class QaQuestion(Base):
    """``state``: open -> solved (an answer accepted), back to open when the accept is undone. Closing (the
    asker or a maintainer) only sets ``closed_at``, so a closed solved question stays in the knowledge base;
    reopening a closed question clears it. ``deleted_at`` is set when the thread is deleted: the row stays for
    the ledger, search drops it."""

    __tablename__ = "qa_questions"
    __table_args__ = (
        Index("ix_qa_questions_guild_state_activity", "guild_id", "state", "last_activity_at"),
        Index("ix_qa_questions_asker", "asker_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    forum_id: Mapped[int] = mapped_column(BigInteger)
    # The forum post (thread) id, equal to its starter message's id.
    thread_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    asker_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(10), default="open")
    # Net votes (up minus down) and answers, kept with each vote and answer for listings.
    score: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    answer_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime]
    # The last answer or edit (idle reminders count from it).
    last_activity_at: Mapped[datetime]
    solved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    # Each told at most once per question: the "thanks" prompt to mark a solution, the idle reminder to the
    # asker, the post to members subscribed to its tags.
    thanks_prompted_at: Mapped[datetime | None]
    idle_reminded_at: Mapped[datetime | None]
    subscribers_notified_at: Mapped[datetime | None]


class QaQuestionTag(Base):
    """A forum tag applied to a question (Discord: at most 5 per post), by name as the forum shows it."""

    __tablename__ = "qa_question_tags"
    __table_args__ = (Index("ix_qa_question_tags_tag", "tag", "question_id"),)

    question_id: Mapped[int] = mapped_column(ForeignKey("qa_questions.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(20), primary_key=True)


class QaAnswer(Base):
    """A message in a question's thread (other than the starter message). At most one accepted answer per
    question (partial unique index)."""

    __tablename__ = "qa_answers"
    __table_args__ = (
        Index("ix_qa_answers_question", "question_id", "created_at"),
        Index("ix_qa_answers_author", "author_id"),
        Index(
            "uq_qa_answers_accepted",
            "question_id",
            unique=True,
            sqlite_where=ACCEPTED,
            postgresql_where=ACCEPTED,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("qa_questions.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    accepted: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime]
    edited_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]


class QaVote(Base):
    """One vote per member and post (a question's starter message or an answer): ``value`` +1, -1, or 0 once
    the reaction was removed. Changing or removing a vote updates the row (kept at 0, so ``seq`` keeps
    counting): ``seq`` counts the changes, so each ledger event (and each reversal) has its own idempotent
    reference."""

    __tablename__ = "qa_votes"
    __table_args__ = (Index("ix_qa_votes_question", "question_id"),)

    voter_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("qa_questions.id", ondelete="CASCADE"))
    answer_id: Mapped[int | None] = mapped_column(ForeignKey("qa_answers.id", ondelete="CASCADE"))
    value: Mapped[int] = mapped_column(SmallInteger)
    seq: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class QaSubscription(Base):
    """A member subscribed to a forum tag (``/qa subscribe``): told once about idle unanswered questions."""

    __tablename__ = "qa_subscriptions"
    __table_args__ = (Index("ix_qa_subscriptions_tag", "guild_id", "tag"),)

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    tag: Mapped[str] = mapped_column(String(20), primary_key=True)
    created_at: Mapped[datetime]
