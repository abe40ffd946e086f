"""Reports to moderators (one per reporter and message, resolved once) and regional/language channels
(one per guild, kind and key). Branches from 0018 beside 0019 (server setup): rechained onto 0019 at integration.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-28 04:18:39.561244
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mod_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("reporter_id", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("excerpt", sa.String(length=1000), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("posted_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("posted_message_id", sa.BigInteger(), nullable=True),
        sa.Column("posting_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.BigInteger(), nullable=True),
        sa.Column("resolved_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolution_note", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mod_reports")),
        sa.UniqueConstraint(
            "guild_id", "message_id", "reporter_id", name=op.f("uq_mod_reports_guild_id_message_id_reporter_id")
        ),
    )
    op.create_table(
        "regional_channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("is_thread", sa.Boolean(), nullable=False),
        sa.Column("members_at_creation", sa.Integer(), nullable=False),
        sa.Column("claimed_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regional_channels")),
        sa.UniqueConstraint("guild_id", "kind", "key", name=op.f("uq_regional_channels_guild_id_kind_key")),
    )


def downgrade() -> None:
    op.drop_table("regional_channels")
    op.drop_table("mod_reports")
