"""Tables the core needs: members, the append-only ledger, durable reminders, recurring-job runs, bot state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class Member(Base):
    """A Discord member of one guild, with the profile they gave at onboarding."""

    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("guild_id", "discord_id"),
        # The daily jobs' keyset batches (guild_id = ? AND id > ? ORDER BY id): a range scan, not a sort.
        Index("ix_members_guild_id_id", "guild_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    discord_id: Mapped[int] = mapped_column(BigInteger)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    joined_at: Mapped[datetime]
    onboarded_at: Mapped[datetime | None]
    coc_accepted_at: Mapped[datetime | None]
    timezone: Mapped[str | None] = mapped_column(String(64))
    skill: Mapped[str | None] = mapped_column(String(20))
    goals: Mapped[str | None] = mapped_column(String(500))
    weekly_hours: Mapped[int | None] = mapped_column(Integer)
    language: Mapped[str | None] = mapped_column(String(35))
    communication_style: Mapped[str | None] = mapped_column(String(40))
    last_active_at: Mapped[datetime | None]
    left_at: Mapped[datetime | None]
    # Journey: None until onboarding completes, then learner/contributor/teacher.
    stage: Mapped[str | None] = mapped_column(String(20))
    stage_since: Mapped[datetime | None]
    # Set when a maintainer placed the member by hand: the daily job then leaves the stage alone.
    stage_manual: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The last friendly "how are you doing" DM, so it is sent at most once per inactivity period.
    last_nudge_at: Mapped[datetime | None]
    # Who sees the personal profile fields (bot.privacy.Visibility): everyone, community, mentors or me. A server
    # default only (fetched back on insert), so inserts written against older schemas keep working.
    profile_visibility: Mapped[str] = mapped_column(String(12), server_default="community")
    # Set when the member asked for their data to be deleted: the row stays, anonymised (discord_id becomes
    # -id, no name, no profile), so the ledger and the aggregates keep their totals (cogs/privacy/service.py).
    erased_at: Mapped[datetime | None]
    # The last welcome scheduled for them: a rejoin is greeted again only after [onboarding] regreet_after_days.
    greeted_at: Mapped[datetime | None]


class StageChange(Base):
    """Every move along the journey, automatic or by a maintainer: the audit trail of progression."""

    __tablename__ = "stage_changes"
    __table_args__ = (Index("ix_stage_changes_member_at", "member_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    from_stage: Mapped[str | None] = mapped_column(String(20))
    to_stage: Mapped[str | None] = mapped_column(String(20))
    at: Mapped[datetime]
    # Discord id of the maintainer, or None when the journey rules moved the member.
    by_discord_id: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200), default="")


class RoleGrant(Base):
    """Ambassador and Maintainer: granted and revoked only by maintainers, never by the journey job."""

    __tablename__ = "role_grants"
    __table_args__ = (
        Index("ix_role_grants_member_role", "member_id", "role"),
        # One active grant per member and role: two maintainers granting at once record it once.
        Index(
            "uq_role_grants_active",
            "member_id",
            "role",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))
    granted_by: Mapped[int] = mapped_column(BigInteger)
    granted_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(200), default="")
    revoked_by: Mapped[int | None] = mapped_column(BigInteger)
    revoked_at: Mapped[datetime | None]


class LedgerEvent(Base):
    """One contribution or activity. Append-only: reputation, badges, progression and metrics derive from it."""

    __tablename__ = "ledger_events"
    __table_args__ = (
        # A retried write of the same thing never counts twice.
        UniqueConstraint("member_id", "kind", "reference"),
        Index("ix_ledger_events_member_created", "member_id", "created_at"),
        Index("ix_ledger_events_guild_created", "guild_id", "created_at"),
        # The per-pair caps' budget (what one member got from one other member lately); events without a
        # counterpart are left out of it, so they cost it nothing.
        Index(
            "ix_ledger_events_pair",
            "member_id",
            "subject_member_id",
            "kind",
            "created_at",
            sqlite_where=text("subject_member_id IS NOT NULL"),
            postgresql_where=text("subject_member_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    points: Mapped[int] = mapped_column(Integer, default=0)
    reference: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime]
    # The counterpart (members.id): who voted, accepted, or whose content was reviewed; for per-pair caps.
    subject_member_id: Mapped[int | None] = mapped_column(Integer)


class Reminder(Base):
    """A one-shot reminder. This table, not the scheduler's memory, is the source of truth."""

    __tablename__ = "reminders"
    __table_args__ = (
        Index("ix_reminders_state_due", "state", "due_at"),
        # Lets a feature schedule idempotently ("the 60-minute reminder for session 12" exists once).
        UniqueConstraint("kind", "dedupe_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    guild_id: Mapped[int] = mapped_column(BigInteger)
    # A user id (DM) or channel id, as the kind's handler reads it.
    target_id: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(String(120))
    due_at: Mapped[datetime]
    # Past this, sending is pointless (e.g. the session it announces has started): the reminder is dropped.
    expires_at: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(36))
    finished_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class JobRun(Base):
    """When each recurring job last fired, so a restart neither skips nor repeats a period."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    last_fire_at: Mapped[datetime]
    last_finished_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class BotState(Base):
    """Small named values the bot keeps between runs (e.g. the hash of the last synced command set)."""

    __tablename__ = "bot_state"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
