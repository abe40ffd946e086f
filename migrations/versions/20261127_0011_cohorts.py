"""Study groups: the cohort pool, formation runs, cohorts, their members, weeks, check-ins and projects

One active cohort per member is a partial unique index (``state = 'active'``), so no race or retry while forming
can place a member twice.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 22:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cohort_formations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("pool_key", sa.String(length=64), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("random_cost", sa.Float(), nullable=False),
        sa.Column("greedy_cost", sa.Float(), nullable=False),
        sa.Column("confirmed_by", sa.BigInteger(), nullable=True),
        sa.Column("confirmed_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohort_formations")),
    )
    with op.batch_alter_table("cohort_formations", schema=None) as batch_op:
        batch_op.create_index("ix_cohort_formations_guild_created", ["guild_id", "created_at"], unique=False)

    op.create_table(
        "cohort_signups",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("joined_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("days", sa.JSON(), nullable=True),
        sa.Column("facilitate", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_cohort_signups_member_id_members"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_cohort_signups")),
    )
    with op.batch_alter_table("cohort_signups", schema=None) as batch_op:
        batch_op.create_index("ix_cohort_signups_guild_joined", ["guild_id", "joined_at"], unique=False)

    op.create_table(
        "cohorts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("formation_id", sa.Integer(), nullable=True),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("parent_channel_id", sa.BigInteger(), nullable=False),
        sa.Column("thread_id", sa.BigInteger(), nullable=True),
        sa.Column("welcome_message_id", sa.BigInteger(), nullable=True),
        sa.Column("facilitator_id", sa.Integer(), nullable=True),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("meeting_weekday", sa.Integer(), nullable=False),
        sa.Column("meeting_time", sa.String(length=5), nullable=False),
        sa.Column("starts_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("weeks", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("activated_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["facilitator_id"], ["members.id"], name=op.f("fk_cohorts_facilitator_id_members"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["formation_id"],
            ["cohort_formations.id"],
            name=op.f("fk_cohorts_formation_id_cohort_formations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohorts")),
        sa.UniqueConstraint("guild_id", "number", name=op.f("uq_cohorts_guild_id_number")),
    )
    with op.batch_alter_table("cohorts", schema=None) as batch_op:
        batch_op.create_index("ix_cohorts_guild_state", ["guild_id", "state"], unique=False)
        batch_op.create_index("ix_cohorts_thread", ["thread_id"], unique=False)

    op.create_table(
        "cohort_checkins",
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("week", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("messages", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["cohort_id"], ["cohorts.id"], name=op.f("fk_cohort_checkins_cohort_id_cohorts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_cohort_checkins_member_id_members"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("cohort_id", "member_id", "week", name=op.f("pk_cohort_checkins")),
    )
    op.create_table(
        "cohort_members",
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("joined_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("added_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("told_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("left_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("streak", sa.Integer(), server_default="0", nullable=False),
        sa.Column("best_streak", sa.Integer(), server_default="0", nullable=False),
        sa.Column("missed_in_a_row", sa.Integer(), server_default="0", nullable=False),
        sa.Column("missed_total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("move_offered_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["cohort_id"], ["cohorts.id"], name=op.f("fk_cohort_members_cohort_id_cohorts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_cohort_members_member_id_members"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("cohort_id", "member_id", name=op.f("pk_cohort_members")),
    )
    with op.batch_alter_table("cohort_members", schema=None) as batch_op:
        batch_op.create_index("ix_cohort_members_member", ["member_id"], unique=False)
        batch_op.create_index(
            "uq_cohort_members_active",
            ["member_id"],
            unique=True,
            sqlite_where=sa.text("state = 'active'"),
            postgresql_where=sa.text("state = 'active'"),
        )

    op.create_table(
        "cohort_projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["cohort_id"], ["cohorts.id"], name=op.f("fk_cohort_projects_cohort_id_cohorts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["members.id"], name=op.f("fk_cohort_projects_created_by_members"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohort_projects")),
    )
    with op.batch_alter_table("cohort_projects", schema=None) as batch_op:
        batch_op.create_index("ix_cohort_projects_cohort", ["cohort_id"], unique=False)

    op.create_table(
        "cohort_weeks",
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("week", sa.Integer(), nullable=False),
        sa.Column("posted_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("post_message_id", sa.BigInteger(), nullable=True),
        sa.Column("skipped", sa.String(length=200), nullable=True),
        sa.Column("nudged_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("synthesis_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("messages", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["cohort_id"], ["cohorts.id"], name=op.f("fk_cohort_weeks_cohort_id_cohorts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("cohort_id", "week", name=op.f("pk_cohort_weeks")),
    )
    op.create_table(
        "cohort_milestones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("due_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["done_by"], ["members.id"], name=op.f("fk_cohort_milestones_done_by_members"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["members.id"], name=op.f("fk_cohort_milestones_owner_id_members"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["cohort_projects.id"],
            name=op.f("fk_cohort_milestones_project_id_cohort_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohort_milestones")),
    )
    with op.batch_alter_table("cohort_milestones", schema=None) as batch_op:
        batch_op.create_index("ix_cohort_milestones_project", ["project_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cohort_milestones", schema=None) as batch_op:
        batch_op.drop_index("ix_cohort_milestones_project")

    op.drop_table("cohort_milestones")
    op.drop_table("cohort_weeks")
    with op.batch_alter_table("cohort_projects", schema=None) as batch_op:
        batch_op.drop_index("ix_cohort_projects_cohort")

    op.drop_table("cohort_projects")
    with op.batch_alter_table("cohort_members", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_cohort_members_active",
            sqlite_where=sa.text("state = 'active'"),
            postgresql_where=sa.text("state = 'active'"),
        )
        batch_op.drop_index("ix_cohort_members_member")

    op.drop_table("cohort_members")
    op.drop_table("cohort_checkins")
    with op.batch_alter_table("cohorts", schema=None) as batch_op:
        batch_op.drop_index("ix_cohorts_thread")
        batch_op.drop_index("ix_cohorts_guild_state")

    op.drop_table("cohorts")
    with op.batch_alter_table("cohort_signups", schema=None) as batch_op:
        batch_op.drop_index("ix_cohort_signups_guild_joined")

    op.drop_table("cohort_signups")
    with op.batch_alter_table("cohort_formations", schema=None) as batch_op:
        batch_op.drop_index("ix_cohort_formations_guild_created")

    op.drop_table("cohort_formations")
