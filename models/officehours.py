"""Office hours: sessions (one-off or of a weekly series) mirrored by native Discord scheduled events, RSVPs with
capacity and a waitlist, questions sent ahead, the live queue, attendance and feedback.

The database is the source of truth; the native event (``event_id``) and the announcement are Discord's view of
a session and are brought in line with it (created, edited, started, ended, cancelled) step by step, each step
recorded, so a Discord error half-way is resumed rather than redone.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base

SEATED = text("state = 'seat'")
WAITING_IN_QUEUE = text("state IN ('waiting', 'called')")


class OfficeHourSeries(Base):
    """A weekly series ("every Tuesday 18:00" in the host's zone): each session stays at the same local time
    across DST. Only the next few sessions exist at a time (a guild holds at most 100 scheduled events)."""

    __tablename__ = "office_hour_series"
    __table_args__ = (Index("ix_office_hour_series_guild", "guild_id", "ended_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    host_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    topic: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(1000), default="")
    # The host's zone, the weekday (0 = Monday) and "HH:MM" local time of every session.
    zone: Mapped[str] = mapped_column(String(64))
    weekday: Mapped[int] = mapped_column(Integer)
    local_time: Mapped[str] = mapped_column(String(5))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int] = mapped_column(Integer)
    channel_id: Mapped[int] = mapped_column(BigInteger)
    recorded: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime]
    # Set when the host (or a maintainer) ends the series: no new sessions are made after it.
    ended_at: Mapped[datetime | None]


class OfficeHour(Base):
    """One session. ``state``: scheduled -> live (queue open, event ACTIVE) -> ended (event COMPLETED); or
    cancelled (event CANCELED). The native event and the announcement are recorded as soon as they exist."""

    __tablename__ = "office_hours"
    __table_args__ = (
        Index("ix_office_hours_guild_state_start", "guild_id", "state", "starts_at"),
        Index("ix_office_hours_event", "event_id"),
        # One session per series and start: making a series' next sessions twice (a retry, two processes)
        # creates nothing twice.
        UniqueConstraint("series_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    series_id: Mapped[int | None] = mapped_column(ForeignKey("office_hour_series.id", ondelete="SET NULL"))
    host_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    topic: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(1000), default="")
    # The zone the host scheduled in (shown with the time; reminders show each reader's own zone).
    zone: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime]
    duration_minutes: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int] = mapped_column(Integer)
    # The voice or stage channel the session takes place in.
    channel_id: Mapped[int] = mapped_column(BigInteger)
    recorded: Mapped[bool] = mapped_column(default=False, server_default=false())
    state: Mapped[str] = mapped_column(String(12), default="scheduled")
    # Discord's view: the native guild scheduled event and the announcement with the RSVP buttons.
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    announcement_channel_id: Mapped[int | None] = mapped_column(BigInteger)
    announcement_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(300))
    # Told once: the host has not started 10 minutes after the scheduled time.
    no_show_notified_at: Mapped[datetime | None]
    # The host's summary after the session (attendance, questions answered and carried over).
    summary_sent_at: Mapped[datetime | None]


class OfficeHourRsvp(Base):
    """A member's RSVP: ``state`` seat | waitlist | cancelled. Seats never exceed the session's capacity: a seat
    is taken under the session row's lock (PostgreSQL) or the single writer (SQLite), and the partial unique
    index on (office_hour_id, seat) makes a double-booked seat number impossible. Seats and the waitlist go in
    click order: ``click_id`` is the click's interaction snowflake (Discord's time of the click; for
    "Interested", a snowflake of the moment it arrived), then ``member_id``. ``via``: button | interested (the
    native event's "Interested")."""

    __tablename__ = "office_hour_rsvps"
    __table_args__ = (
        Index(
            "uq_office_hour_rsvps_seat",
            "office_hour_id",
            "seat",
            unique=True,
            sqlite_where=SEATED,
            postgresql_where=SEATED,
        ),
        Index("ix_office_hour_rsvps_order", "office_hour_id", "state", "created_at"),
        Index("ix_office_hour_rsvps_click", "office_hour_id", "state", "click_id"),
    )

    office_hour_id: Mapped[int] = mapped_column(
        ForeignKey("office_hours.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[str] = mapped_column(String(12))
    # 1..capacity while seated; NULL on the waitlist or cancelled.
    seat: Mapped[int | None] = mapped_column(Integer)
    via: Mapped[str] = mapped_column(String(12), default="button")
    # When the member clicked (a Discord snowflake: its time and order); a new RSVP after a cancel is a new click.
    click_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OfficeHourQuestion(Base):
    """A question sent ahead by an RSVP'd member (modal), grouped by topic for the host; answered in the session
    or carried over to the series' next one."""

    __tablename__ = "office_hour_questions"
    __table_args__ = (Index("ix_office_hour_questions_session", "office_hour_id", "topic"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    office_hour_id: Mapped[int] = mapped_column(ForeignKey("office_hours.id", ondelete="CASCADE"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    topic: Mapped[str] = mapped_column(String(60))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    # The session it was carried over to (unanswered when this one ended).
    carried_to_id: Mapped[int | None] = mapped_column(ForeignKey("office_hours.id", ondelete="SET NULL"))


class OfficeHourQueueEntry(Base):
    """The live queue: ``state`` waiting | called | done | left | expired. Order is ``joined_at`` then ``id``.
    ``left_voice_at`` is set while the member is out of the session's voice channel; an entry whose member has
    been out longer than the configured time expires."""

    __tablename__ = "office_hour_queue"
    __table_args__ = (
        # One open entry per member and session.
        Index(
            "uq_office_hour_queue_open",
            "office_hour_id",
            "member_id",
            unique=True,
            sqlite_where=WAITING_IN_QUEUE,
            postgresql_where=WAITING_IN_QUEUE,
        ),
        Index("ix_office_hour_queue_order", "office_hour_id", "state", "joined_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    office_hour_id: Mapped[int] = mapped_column(ForeignKey("office_hours.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    question: Mapped[str] = mapped_column(String(300), default="")
    state: Mapped[str] = mapped_column(String(12), default="waiting")
    joined_at: Mapped[datetime]
    called_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    left_voice_at: Mapped[datetime | None]


class OfficeHourAttendance(Base):
    """Who attended (was in the session's voice channel while it was live, or was called from the queue): the
    ledger's ``office_hour_attended`` once per session and member, the follow-up prompt, the host's summary."""

    __tablename__ = "office_hour_attendance"

    office_hour_id: Mapped[int] = mapped_column(
        ForeignKey("office_hours.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    first_seen_at: Mapped[datetime]
    # The follow-up: asked once after the session, answered with a rating (1-5) and an optional comment.
    feedback_asked_at: Mapped[datetime | None]
    rating: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(String(1000))
    feedback_at: Mapped[datetime | None]
