"""Reports to moderators (cogs/reports) and the regional and language channels made from profiles
(cogs/regions)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class ModReport(Base):
    """A member's report of a message. One per reporter and message (the unique constraint makes a second
    report, even two at once, file nothing); resolved once (an UPDATE guarded by ``resolved_at IS NULL``)."""

    __tablename__ = "mod_reports"
    __table_args__ = (UniqueConstraint("guild_id", "message_id", "reporter_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    channel_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)
    # Discord user ids: a report outlives the reporter's or the author's membership.
    reporter_id: Mapped[int] = mapped_column(BigInteger)
    author_id: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(1000))
    # The reported text as Discord sent it with the report (the message may be edited or deleted later).
    excerpt: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[datetime]
    # Where the private report was posted, once it was.
    posted_channel_id: Mapped[int | None] = mapped_column(BigInteger)
    posted_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # A post under way (set by one guarded UPDATE before sending, cleared on failure): never posted twice.
    posting_at: Mapped[datetime | None]
    resolved_by: Mapped[int | None] = mapped_column(BigInteger)
    resolved_at: Mapped[datetime | None]
    resolution_note: Mapped[str | None] = mapped_column(String(1000))


class RegionalChannel(Base):
    """A region's or language's channel (or thread), recorded before Discord is asked, so it is made once:
    ``channel_id`` is filled in after Discord made it; ``claimed_at`` marks a creation under way."""

    __tablename__ = "regional_channels"
    __table_args__ = (UniqueConstraint("guild_id", "kind", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(12))  # "region" or "language"
    key: Mapped[str] = mapped_column(String(40))  # normalised: "europe", "german"
    name: Mapped[str] = mapped_column(String(100))  # the channel's name on Discord
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    is_thread: Mapped[bool] = mapped_column(default=False)
    members_at_creation: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime | None]
    created_at: Mapped[datetime | None]
