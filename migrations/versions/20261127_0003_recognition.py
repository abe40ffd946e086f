"""recognition: member points and kind stats, adjustments, badges and revocations, prefs, spotlights

An existing ledger is not summed here: the recognition cog rebuilds ``member_points`` and ``member_kind_stats``
(and evaluates badges) on its first start, and ``atlas-bot ledger-rebuild`` does the same by hand.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 02:01:33.520709
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "spotlights",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("month_start", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("posted_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spotlights")),
        sa.UniqueConstraint("guild_id", "month_start", name=op.f("uq_spotlights_guild_id_month_start")),
    )
    op.create_table(
        "member_kind_stats",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("last_week", sa.Integer(), nullable=False),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("best_streak", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_kind_stats_member_id_members"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("member_id", "kind", name=op.f("pk_member_kind_stats")),
    )
    op.create_table(
        "member_points",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("period_kind", sa.String(length=8), nullable=False),
        sa.Column("period_start", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_points_member_id_members"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint(
            "member_id", "category", "period_kind", "period_start", name=op.f("pk_member_points")
        ),
    )
    with op.batch_alter_table("member_points", schema=None) as batch_op:
        batch_op.create_index(
            "ix_member_points_board",
            ["guild_id", "period_kind", "category", "period_start", "points", "member_id"],
            unique=False,
        )

    op.create_table(
        "recognition_prefs",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("leaderboard_opt_out", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_recognition_prefs_member_id_members"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_recognition_prefs")),
    )
    op.create_table(
        "spotlight_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("spotlight_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_spotlight_entries_member_id_members"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["spotlight_id"],
            ["spotlights.id"],
            name=op.f("fk_spotlight_entries_spotlight_id_spotlights"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spotlight_entries")),
        sa.UniqueConstraint("spotlight_id", "member_id", name=op.f("uq_spotlight_entries_spotlight_id_member_id")),
    )
    op.create_table(
        "badge_awards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("badge_key", sa.String(length=60), nullable=False),
        sa.Column("awarded_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("awarded_by", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["ledger_events.id"],
            name=op.f("fk_badge_awards_event_id_ledger_events"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_badge_awards_member_id_members"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_badge_awards")),
        sa.UniqueConstraint("member_id", "badge_key", name=op.f("uq_badge_awards_member_id_badge_key")),
    )
    op.create_table(
        "badge_revocations",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("badge_key", sa.String(length=60), nullable=False),
        sa.Column("revoked_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_by", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_badge_revocations_member_id_members"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("member_id", "badge_key", name=op.f("pk_badge_revocations")),
    )
    op.create_table(
        "ledger_adjustments",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("requested_points", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("subject_member_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["ledger_events.id"],
            name=op.f("fk_ledger_adjustments_event_id_ledger_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_ledger_adjustments")),
    )


def downgrade() -> None:
    op.drop_table("ledger_adjustments")
    op.drop_table("badge_revocations")
    op.drop_table("badge_awards")
    op.drop_table("spotlight_entries")
    op.drop_table("recognition_prefs")
    with op.batch_alter_table("member_points", schema=None) as batch_op:
        batch_op.drop_index("ix_member_points_board")

    op.drop_table("member_points")
    op.drop_table("member_kind_stats")
    op.drop_table("spotlights")
