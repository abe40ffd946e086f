"""Community roles known by id: which Discord role is the Learner, Maintainer, ... role of a guild."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class CommunityRole(Base):
    """A config role key resolved to a Discord role id, once (bot/community.py says when and how).

    Capability checks and role changes use ``role_id`` only: a role renamed in Discord keeps working, and another
    role with the same name is ignored.
    """

    __tablename__ = "community_roles"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    key: Mapped[str] = mapped_column(String(20), primary_key=True)
    role_id: Mapped[int] = mapped_column(BigInteger)
    # The configured name it was resolved for: when the config names another role, the key is resolved again.
    name: Mapped[str] = mapped_column(String(100))
    # How it was found: "config" (an id in config.toml), "name" (by name on the first start) or "created".
    how: Mapped[str] = mapped_column(String(12))
    resolved_at: Mapped[datetime]


class SetupChannel(Base):
    """A channel (or category) of the server template, by its template key, that setup created or adopted.

    Features find channels through ``bot.channels`` (an id in config.toml first, then this). The community roles
    setup makes or adopts are stored in ``community_roles`` (one store of role ids for the whole bot).
    """

    __tablename__ = "setup_channels"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    channel_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(10))  # category, text, news, voice, stage, forum
    # True: setup made it (and may bring it back in line with the template); False: adopted, never changed.
    created: Mapped[bool]
    recorded_at: Mapped[datetime]


class SetupRun(Base):
    """The lock of a setup run: one row per guild while ``/setup apply`` or ``atlas-bot setup`` builds it, so two
    runs (two processes, or the bot and the CLI) never build the same server at once. Taken by inserting the row
    (the primary key refuses a second), released by deleting it; a row older than the longest run is stale (a
    crashed run) and may be taken over."""

    __tablename__ = "setup_runs"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    holder: Mapped[str] = mapped_column(String(32))
    taken_at: Mapped[datetime]
