"""Community announcements (one-off or recurring, posted by the bot in a channel) and members' personal
reminders.

The rows are the truth; each upcoming occurrence is one durable reminder (``bot/reminders.py``) keyed by the row
and the occurrence's instant, so a restart neither loses nor repeats one. ``next_at`` is the occurrence the
pending reminder is for: a reminder whose instant no longer matches (the schedule was edited, paused or
cancelled) is stale and does nothing. Each occurrence's outcome (posted, or skipped because the bot was down past
its grace) is one ``announcement_runs`` row, shown by /announce list.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class Announcement(Base):
    """``state``: active -> paused <-> active, -> cancelled, or -> done (a one-off posted, a series ended).
    ``rule`` is an RFC 5545 RRULE body expanded from ``anchor`` at ``local_time`` in ``zone`` (None: a one-off
    at ``next_at``); ``until`` (UTC) ends a series."""

    __tablename__ = "announcements"
    __table_args__ = (Index("ix_announcements_guild_state", "guild_id", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    author_id: Mapped[int] = mapped_column(BigInteger)  # Discord user id of who scheduled it
    channel_id: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str | None] = mapped_column(String(256))
    body: Mapped[str] = mapped_column(Text)
    # The role mentioned (pinged) with each post: chosen explicitly, never read from the text.
    role_id: Mapped[int | None] = mapped_column(BigInteger)
    zone: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str | None] = mapped_column(String(200))
    local_time: Mapped[str | None] = mapped_column(String(5))
    anchor: Mapped[date | None] = mapped_column(Date)
    until: Mapped[datetime | None]
    next_at: Mapped[datetime | None]
    # Optionally the matching native guild scheduled event (EXTERNAL, at ``event_location``) for the next
    # occurrence, lasting ``event_minutes``: ``event_id`` is the one made, for the occurrence ``event_for``.
    event_location: Mapped[str | None] = mapped_column(String(100))
    event_minutes: Mapped[int] = mapped_column(Integer, default=60)
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    event_for: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AnnouncementRun(Base):
    """One occurrence's outcome: ``posted`` (with its message), ``skipped`` (found past its grace) or ``failed``
    (refused by Discord); ``sending`` while the post is going out (a later attempt that finds it looks in the
    channel for the post before posting)."""

    __tablename__ = "announcement_runs"
    __table_args__ = (UniqueConstraint("announcement_id", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    announcement_id: Mapped[int] = mapped_column(ForeignKey("announcements.id", ondelete="CASCADE"))
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(10))
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime]


class PersonalReminder(Base):
    """A member's own reminder: ``place`` "dm" (falls back to ``channel_id`` when DMs are closed) or "channel";
    ``rule`` as for announcements (None: once). ``state``: active -> done | cancelled."""

    __tablename__ = "personal_reminders"
    __table_args__ = (Index("ix_personal_reminders_owner_state", "guild_id", "owner_id", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    owner_id: Mapped[int] = mapped_column(BigInteger)  # Discord user id
    text: Mapped[str] = mapped_column(String(1000))
    zone: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str | None] = mapped_column(String(200))
    local_time: Mapped[str | None] = mapped_column(String(5))
    anchor: Mapped[date | None] = mapped_column(Date)
    next_at: Mapped[datetime | None]
    place: Mapped[str] = mapped_column(String(10))
    channel_id: Mapped[int] = mapped_column(
        BigInteger
    )  # where it was set: the post (or the DM fallback) goes there
    jump_url: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime]
