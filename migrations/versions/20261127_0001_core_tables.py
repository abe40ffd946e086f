"""core tables

Revision ID: 0001
Revises:
Create Date: 2026-11-27 01:43:14.917267
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "bot_state",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_bot_state")),
    )
    op.create_table(
        "job_runs",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("last_fire_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_finished_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_runs")),
    )
    op.create_table(
        "members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("discord_id", sa.BigInteger(), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("joined_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("onboarded_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("coc_accepted_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("skill", sa.String(length=20), nullable=True),
        sa.Column("goals", sa.String(length=500), nullable=True),
        sa.Column("weekly_hours", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.Column("communication_style", sa.String(length=40), nullable=True),
        sa.Column("last_active_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("left_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
        sa.UniqueConstraint("guild_id", "discord_id", name=op.f("uq_members_guild_id_discord_id")),
    )
    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=120), nullable=True),
        sa.Column("due_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claim_token", sa.String(length=36), nullable=True),
        sa.Column("finished_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
        sa.UniqueConstraint("kind", "dedupe_key", name=op.f("uq_reminders_kind_dedupe_key")),
    )
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.create_index("ix_reminders_state_due", ["state", "due_at"], unique=False)

    op.create_table(
        "ledger_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_ledger_events_member_id_members"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_events")),
        sa.UniqueConstraint(
            "member_id", "kind", "reference", name=op.f("uq_ledger_events_member_id_kind_reference")
        ),
    )
    with op.batch_alter_table("ledger_events", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_events_guild_created", ["guild_id", "created_at"], unique=False)
        batch_op.create_index("ix_ledger_events_member_created", ["member_id", "created_at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("ledger_events", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_events_member_created")
        batch_op.drop_index("ix_ledger_events_guild_created")

    op.drop_table("ledger_events")
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.drop_index("ix_reminders_state_due")

    op.drop_table("reminders")
    op.drop_table("members")
    op.drop_table("job_runs")
    op.drop_table("bot_state")
