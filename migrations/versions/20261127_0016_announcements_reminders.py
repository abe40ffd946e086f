"""Announcements (one-off or recurring, with their per-occurrence outcomes) and personal reminders

Revision ID: 0016
Revises: 0014
Create Date: 2026-11-28 01:00:35.214296
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "announcements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=256), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("role_id", sa.BigInteger(), nullable=True),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=True),
        sa.Column("local_time", sa.String(length=5), nullable=True),
        sa.Column("anchor", sa.Date(), nullable=True),
        sa.Column("until", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("next_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("event_location", sa.String(length=100), nullable=True),
        sa.Column("event_minutes", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("event_for", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_announcements")),
    )
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.create_index("ix_announcements_guild_state", ["guild_id", "state"], unique=False)

    op.create_table(
        "personal_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.String(length=1000), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=True),
        sa.Column("local_time", sa.String(length=5), nullable=True),
        sa.Column("anchor", sa.Date(), nullable=True),
        sa.Column("next_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("place", sa.String(length=10), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("jump_url", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personal_reminders")),
    )
    with op.batch_alter_table("personal_reminders", schema=None) as batch_op:
        batch_op.create_index("ix_personal_reminders_owner_state", ["guild_id", "owner_id", "state"], unique=False)

    op.create_table(
        "announcement_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("announcement_id", sa.Integer(), nullable=False),
        sa.Column("due_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["announcement_id"],
            ["announcements.id"],
            name=op.f("fk_announcement_runs_announcement_id_announcements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_announcement_runs")),
        sa.UniqueConstraint("announcement_id", "due_at", name=op.f("uq_announcement_runs_announcement_id_due_at")),
    )


def downgrade() -> None:
    op.drop_table("announcement_runs")
    with op.batch_alter_table("personal_reminders", schema=None) as batch_op:
        batch_op.drop_index("ix_personal_reminders_owner_state")

    op.drop_table("personal_reminders")
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.drop_index("ix_announcements_guild_state")

    op.drop_table("announcements")
