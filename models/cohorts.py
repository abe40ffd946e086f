"""Study groups: the pool of members waiting for a cohort, formation runs, cohorts and their weekly life.

A cohort is a private thread in the study-groups channel (Discord's limits rule out a channel or a role per
cohort at 200 cohorts). The database is the source of truth: a member is placed in a cohort by one transaction
(signup row removed, cohort_members row added), and the Discord work that follows (thread, members, welcome,
DMs) is recorded step by step on the rows here, so a Discord error half-way is resumed, never redone or lost.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base

ACTIVE_MEMBER = text("state = 'active'")


class CohortSignup(Base):
    """A member waiting in the pool for the next cohort (``/cohort join``); the row goes when they are placed or
    leave the pool, so a member is in the pool at most once."""

    __tablename__ = "cohort_signups"
    __table_args__ = (Index("ix_cohort_signups_guild_joined", "guild_id", "joined_at"),)

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    # Sign-up order: the greedy baseline groups by it, and ties in the pool are shown by it.
    joined_at: Mapped[datetime]
    # Hard availability: local weekdays (0 = Monday .. 6 = Sunday) the member can meet; NULL = any day.
    days: Mapped[list[int] | None] = mapped_column(JSON)
    # Volunteered to facilitate (``/cohort facilitate``; Contributors and Teachers).
    facilitate: Mapped[bool] = mapped_column(default=False, server_default=false())


class CohortFormation(Base):
    """One ``/cohort form`` run: the preview's plan, kept until a maintainer confirms or discards it.

    ``plan`` is the grouping exactly as previewed (groups with member ids, facilitator, meeting, reasons, cost;
    unplaced members with the reason), so confirming places what was shown; ``pool_key`` is a digest of the pool
    it was computed from, so a pool that changed since the preview is noticed at confirm time.
    """

    __tablename__ = "cohort_formations"
    __table_args__ = (Index("ix_cohort_formations_guild_created", "guild_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    # preview | confirmed | discarded | stale (superseded by a newer preview)
    state: Mapped[str] = mapped_column(String(12), default="preview")
    plan: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    pool_key: Mapped[str] = mapped_column(String(64), default="")
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    random_cost: Mapped[float] = mapped_column(Float, default=0.0)
    greedy_cost: Mapped[float] = mapped_column(Float, default=0.0)
    confirmed_by: Mapped[int | None] = mapped_column(BigInteger)
    confirmed_at: Mapped[datetime | None]


class Cohort(Base):
    """A study group. ``state``: forming (placed in the database, Discord work pending: thread, members,
    welcome) -> active -> ended. The weekly meeting is fixed in the local time of ``zone`` so it stays at the same
    local time across that zone's DST changes."""

    __tablename__ = "cohorts"
    __table_args__ = (
        UniqueConstraint("guild_id", "number"),
        Index("ix_cohorts_guild_state", "guild_id", "state"),
        Index("ix_cohorts_thread", "thread_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    formation_id: Mapped[int | None] = mapped_column(ForeignKey("cohort_formations.id", ondelete="SET NULL"))
    # "Cohort 12": numbered per guild.
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(12), default="forming")
    # The study-groups channel the thread lives in, and the thread once created (recorded at once, so a retry
    # after an error reuses it instead of opening a second one).
    parent_channel_id: Mapped[int] = mapped_column(BigInteger)
    thread_id: Mapped[int | None] = mapped_column(BigInteger)
    welcome_message_id: Mapped[int | None] = mapped_column(BigInteger)
    facilitator_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    # The weekly meeting: weekday (0 = Monday) and "HH:MM" in ``zone``'s local time.
    zone: Mapped[str] = mapped_column(String(64))
    meeting_weekday: Mapped[int] = mapped_column(Integer)
    meeting_time: Mapped[str] = mapped_column(String(5))
    # Week 1 starts here (UTC instant); week N starts N-1 weeks later in ``zone``'s local time.
    starts_at: Mapped[datetime]
    # How many curriculum weeks the cohort runs for.
    weeks: Mapped[int] = mapped_column(Integer)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    # Why these members were grouped (short sentences from the grouping), shown in the preview and the welcome.
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    activated_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class CohortMember(Base):
    """A member of a cohort. ``state``: active | left | moved (offered a later cohort and took it) | completed |
    refused (Discord refused to add them to the thread: they cannot see the study-groups channel).

    A partial unique index allows one active cohort per member, so no race or retry can place anyone twice.
    Streak and missed counters are kept here as check-ins close each week (``cohort_checkins`` has the history).
    """

    __tablename__ = "cohort_members"
    __table_args__ = (
        Index(
            "uq_cohort_members_active",
            "member_id",
            unique=True,
            sqlite_where=ACTIVE_MEMBER,
            postgresql_where=ACTIVE_MEMBER,
        ),
        # Who was grouped with whom before (the grouping's repeat term).
        Index("ix_cohort_members_member", "member_id"),
    )

    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[str] = mapped_column(String(12), default="active")
    joined_at: Mapped[datetime]
    # Added to the Discord thread (NULL until done; the resume step adds whoever is still missing).
    added_at: Mapped[datetime | None]
    # Told by DM that they were placed (the welcome DM goes through the durable reminders).
    told_at: Mapped[datetime | None]
    left_at: Mapped[datetime | None]
    # Consecutive weeks checked in (or took part), the best run, and consecutive weeks missed.
    streak: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    best_streak: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    missed_in_a_row: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    missed_total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Offered a move to the next cohort after too many misses (once).
    move_offered_at: Mapped[datetime | None]


class CohortWeek(Base):
    """What the bot did for one cohort's week; each step at most once (a restart or a late run checks here)."""

    __tablename__ = "cohort_weeks"

    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"), primary_key=True)
    week: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The week's topic post (prompts and reading) with the check-in buttons.
    posted_at: Mapped[datetime | None]
    post_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # Skipped by the late policy (the bot was down past the grace): why, shown in the cohort's status.
    skipped: Mapped[str | None] = mapped_column(String(200))
    nudged_at: Mapped[datetime | None]
    synthesis_at: Mapped[datetime | None]
    # Check-ins counted (missed ones recorded, streaks updated) once the week is over.
    closed_at: Mapped[datetime | None]
    # Replies in the thread this week (counted from message events; content is never read or stored).
    messages: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class CohortCheckin(Base):
    """A member's check-in for a week: on_track | behind | blocked; replied (took part in the thread without
    clicking, which is not a miss); missed (recorded when the week closes)."""

    __tablename__ = "cohort_checkins"

    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    week: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(12))
    note: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[datetime]
    # Replies in the thread during the week count as taking part (a reply without a click is not a miss).
    messages: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class CohortProject(Base):
    """A group project a cohort registered (``/cohort project``)."""

    __tablename__ = "cohort_projects"
    __table_args__ = (Index("ix_cohort_projects_cohort", "cohort_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(1000), default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]


class CohortMilestone(Base):
    """A project milestone with an owner and a due time; reminded before it is due, ledgered when done."""

    __tablename__ = "cohort_milestones"
    __table_args__ = (Index("ix_cohort_milestones_project", "project_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("cohort_projects.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(100))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    due_at: Mapped[datetime]
    # When it was set (NULL: before this was recorded); it credits its owner only if set a day before done.
    created_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    done_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
