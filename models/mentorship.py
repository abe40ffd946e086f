"""Mentorship: mentor and mentee sign-ups (with their topics), match runs (preview then confirm), pairs with
their private thread, logged sessions and end-of-pairing feedback, the code review exchange, and career
conversation requests.

A pair is a private thread, never a channel or a role (DISCORD-FACTS.md: 500 channels, 250 roles). Ended pairs
stay (``state = 'ended'``) so matching avoids them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class MentorProfile(Base):
    """A mentor's sign-up (Contributors and up). ``paused_at`` set: not matched, not offered career talks."""

    __tablename__ = "mentor_profiles"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    capacity: Mapped[int] = mapped_column(Integer)
    # Hours a month the mentor can give (shown to mentees; matching uses the zone's waking hours).
    hours: Mapped[int] = mapped_column(Integer)
    style: Mapped[str] = mapped_column(String(40))
    # Willing to hold career conversations (/career).
    career: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    paused_at: Mapped[datetime | None]


class MenteeProfile(Base):
    """A mentee's sign-up: goals (free text, shown in the kickoff) and style. ``paused_at`` set (``/mentee pause``,
    or their mentorship ended): not matched until they sign up again."""

    __tablename__ = "mentee_profiles"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    goals: Mapped[str] = mapped_column(String(500))
    style: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    paused_at: Mapped[datetime | None]


class MentorTopic(Base):
    """One topic of a sign-up: ``role`` mentor (expertise) or mentee (what they want to learn)."""

    __tablename__ = "mentor_topics"
    __table_args__ = (Index("ix_mentor_topics_topic", "role", "topic"),)

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(8), primary_key=True)
    topic: Mapped[str] = mapped_column(String(40), primary_key=True)


class MentorMatchRun(Base):
    """One ``/mentor match``: the pairs exactly as previewed (``plan``: pairs with scores and reasons, unmatched
    with reasons), confirmed at most once (a conditional UPDATE on ``state``)."""

    __tablename__ = "mentor_match_runs"
    __table_args__ = (Index("ix_mentor_match_runs_guild_created", "guild_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    # preview | confirmed | discarded
    state: Mapped[str] = mapped_column(String(12), default="preview")
    plan: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    total: Mapped[float] = mapped_column(Float, default=0.0)
    greedy_total: Mapped[float] = mapped_column(Float, default=0.0)
    confirmed_at: Mapped[datetime | None]


class MentorPair(Base):
    """A mentor and a mentee (``kind`` mentorship, or career for one career conversation). ``state``: forming
    (thread not ready yet) -> active -> ended. The thread and kickoff are recorded as soon as they exist, so a
    Discord error half-way resumes rather than redoes."""

    __tablename__ = "mentor_pairs"
    __table_args__ = (
        Index("ix_mentor_pairs_mentor", "mentor_id", "state"),
        Index("ix_mentor_pairs_mentee", "mentee_id", "state"),
        Index("ix_mentor_pairs_thread", "thread_id"),
        # One open pairing of the same two people at a time.
        Index(
            "uq_mentor_pairs_open",
            "mentor_id",
            "mentee_id",
            unique=True,
            sqlite_where=text("state != 'ended'"),
            postgresql_where=text("state != 'ended'"),
        ),
        # One open mentorship per mentee (career talks aside): two confirms at once cannot give two mentors.
        Index(
            "uq_mentor_pairs_open_mentee",
            "mentee_id",
            unique=True,
            sqlite_where=text("state != 'ended' AND kind = 'mentorship'"),
            postgresql_where=text("state != 'ended' AND kind = 'mentorship'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    mentor_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    mentee_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(12), default="mentorship")
    run_id: Mapped[int | None] = mapped_column(ForeignKey("mentor_match_runs.id", ondelete="SET NULL"))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    reasons: Mapped[str] = mapped_column(String(500), default="")
    state: Mapped[str] = mapped_column(String(12), default="forming")
    parent_channel_id: Mapped[int] = mapped_column(BigInteger)
    thread_id: Mapped[int | None] = mapped_column(BigInteger)
    kickoff_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    # The last logged session or message in the thread: a month without either flags the pair once.
    last_activity_at: Mapped[datetime]
    flagged_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[int | None] = mapped_column(Integer)


class MentorSession(Base):
    """A logged session: once per pair and day (the ledger's ``mentoring_session`` for the mentor)."""

    __tablename__ = "mentor_sessions"
    __table_args__ = (UniqueConstraint("pair_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("mentor_pairs.id", ondelete="CASCADE"))
    # The UTC day, ISO "YYYY-MM-DD".
    day: Mapped[str] = mapped_column(String(10))
    logged_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(String(300), default="")
    at: Mapped[datetime]


class MentorFeedback(Base):
    """The feedback form given when a side ends the pairing."""

    __tablename__ = "mentor_feedback"

    pair_id: Mapped[int] = mapped_column(ForeignKey("mentor_pairs.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(String(1000), default="")
    at: Mapped[datetime]


class ReviewRequest(Base):
    """A code review request. ``state``: open -> claimed (one reviewer, a conditional UPDATE) -> delivered ->
    rated (the reviewer's ``review_done`` in the ledger); or cancelled."""

    __tablename__ = "review_requests"
    __table_args__ = (Index("ix_review_requests_guild_state", "guild_id", "state", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    requester_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    link: Mapped[str] = mapped_column(String(500))
    area: Mapped[str] = mapped_column(String(40))
    wanted: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(12), default="open")
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    thread_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    reoffered_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    feedback_message_id: Mapped[int | None] = mapped_column(BigInteger)
    rating: Mapped[int | None] = mapped_column(Integer)
    rated_at: Mapped[datetime | None]


class CareerRequest(Base):
    """A member's ask for a career conversation; matched to a willing mentor (a ``kind = 'career'`` pair)."""

    __tablename__ = "career_requests"
    __table_args__ = (Index("ix_career_requests_guild_state", "guild_id", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(300))
    # open | matched | unmatched (nobody could take it then; the member may ask again)
    state: Mapped[str] = mapped_column(String(12), default="open")
    pair_id: Mapped[int | None] = mapped_column(ForeignKey("mentor_pairs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
