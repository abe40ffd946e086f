"""Recognition: maintained point aggregates, ledger adjustments, badge awards, leaderboard opt-outs, spotlights.

Everything here derives from (or annotates) the append-only ``ledger_events``; ``member_points`` can always be
rebuilt from it (``bot.ledger.rebuild_aggregates``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint, false, true
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class MemberPoints(Base):
    """Points per member, category and period, updated in the same transaction as each ledger insert.

    period_kind is "week" (Monday 00:00), "month" (1st 00:00) or "all" (period_start 1970-01-01 UTC), so a
    leaderboard page is an index range scan instead of a GROUP BY over the ledger. Weeks and months are the
    community's (``[community] timezone``); period_start is the UTC instant they start.
    """

    __tablename__ = "member_points"
    __table_args__ = (
        # Leaderboard order among visible members: scanned backwards for "points DESC, member_id DESC" with no
        # sort step and no join (a page, the viewer's ties) by an index-only scan.
        Index(
            "ix_member_points_board",
            "guild_id",
            "period_kind",
            "category",
            "period_start",
            "visible",
            "points",
            "member_id",
        ),
    )

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(String(20), primary_key=True)
    period_kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    # A sum: 64-bit on PostgreSQL too (SQLite's integers always are).
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    events: Mapped[int] = mapped_column(Integer, default=0)
    # Shown on public boards: the member is present (members.left_at IS NULL) and not opted out. Kept by
    # database triggers on members.left_at and recognition_prefs (migration 0010), so no code path that
    # changes either can forget it; a new row takes it from those tables (``bot.ledger._add_to_aggregates``).
    visible: Mapped[bool] = mapped_column(default=True, server_default=true())


class BoardCount(Base):
    """How many visible members hold each points value on each board: the viewer's rank is a sum over the
    distinct values above theirs (a few thousand rows at most) instead of a count of everyone ahead.

    Written insert-only, as +1/-1 rows, in the transaction that changes the member_points row (recording, or a
    visibility trigger), so concurrent writers never wait on or deadlock over a shared counter row; the rows
    of a value are folded into one now and then (``bot.ledger._fold_recent``). Always the sum over
    ``member_points`` rows with ``visible`` and ``points > 0``; ``bot.ledger.rebuild_ranks`` recomputes it.
    """

    __tablename__ = "board_counts"
    __table_args__ = (
        Index(
            "ix_board_counts_board", "guild_id", "period_kind", "category", "period_start", "points", "members"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    period_kind: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(20))
    period_start: Mapped[datetime]
    points: Mapped[int] = mapped_column(BigInteger)
    # A change (+1, -1) or a folded sum.
    members: Mapped[int] = mapped_column(Integer)


class MemberKindStats(Base):
    """Per member and ledger kind: how many events (own-content ones excluded) and the weekly streaks.

    Maintained with each insert so a badge rule is one primary-key read, however long the member's history.
    Weeks are numbered consecutively (Monday 00:00 in the community's time zone starts one).
    """

    __tablename__ = "member_kind_stats"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    events: Mapped[int] = mapped_column(Integer, default=0)
    last_week: Mapped[int] = mapped_column(Integer)
    # Consecutive weeks ending at last_week, and the longest run ever.
    streak: Mapped[int] = mapped_column(Integer, default=1)
    best_streak: Mapped[int] = mapped_column(Integer, default=1)


class LedgerAdjustment(Base):
    """Why an event earned fewer points than its kind is worth (the anti-farming audit trail)."""

    __tablename__ = "ledger_adjustments"

    event_id: Mapped[int] = mapped_column(ForeignKey("ledger_events.id", ondelete="CASCADE"), primary_key=True)
    requested_points: Mapped[int] = mapped_column(Integer)
    # "self": the member acted on their own content (0 points, not counted for badges); "pair_cap", "daily_cap".
    reason: Mapped[str] = mapped_column(String(20))
    subject_member_id: Mapped[int | None] = mapped_column(Integer)


class BadgeAward(Base):
    """A badge a member holds: once per (member, badge), enforced by the database even under concurrency."""

    __tablename__ = "badge_awards"
    __table_args__ = (UniqueConstraint("member_id", "badge_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    badge_key: Mapped[str] = mapped_column(String(60))
    awarded_at: Mapped[datetime]
    # The ledger event that made the rule true; None for manual awards.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_events.id", ondelete="SET NULL"))
    # Discord id of the maintainer for a manual award, with their reason.
    awarded_by: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200), default="")
    # Announced through a durable reminder ("recognition.badge_post", dedupe "badge:{id}") scheduled in the
    # transaction that inserts the award, so a Discord error delays the post instead of losing it.


class BadgeRevocation(Base):
    """A badge a maintainer took back: an automatic badge is not awarded again by its rule (a maintainer's
    award by hand clears this)."""

    __tablename__ = "badge_revocations"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    badge_key: Mapped[str] = mapped_column(String(60), primary_key=True)
    revoked_at: Mapped[datetime]
    # Discord id of the maintainer who revoked it.
    revoked_by: Mapped[int | None] = mapped_column(BigInteger)


class RecognitionPref(Base):
    """A member's recognition choices (kept apart from ``members``, which belongs to the core)."""

    __tablename__ = "recognition_prefs"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    leaderboard_opt_out: Mapped[bool] = mapped_column(default=False, server_default=false())
    updated_at: Mapped[datetime]


class Spotlight(Base):
    """The monthly spotlight of one guild: a draft maintainers may edit, then posted once."""

    __tablename__ = "spotlights"
    __table_args__ = (UniqueConstraint("guild_id", "month_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    # The month being celebrated (the UTC instant of the 1st 00:00 in the community's time zone), not the month
    # it is posted in.
    month_start: Mapped[datetime]
    # draft | posted. Posting is a durable reminder ("recognition.spotlight_post", dedupe
    # "spotlight:{guild}:{YYYY-MM}") scheduled with the draft; its handler sets posted and the message.
    status: Mapped[str] = mapped_column(String(12), default="draft")
    created_at: Mapped[datetime]
    posted_at: Mapped[datetime | None]
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)


class SpotlightEntry(Base):
    __tablename__ = "spotlight_entries"
    __table_args__ = (UniqueConstraint("spotlight_id", "member_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    spotlight_id: Mapped[int] = mapped_column(ForeignKey("spotlights.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    # "top mover", "first-time contributor", "quiet helper" or "maintainers' pick".
    reason: Mapped[str] = mapped_column(String(40))
    # What they did, generated from the ledger; maintainers may rewrite it before posting.
    note: Mapped[str] = mapped_column(String(300), default="")
