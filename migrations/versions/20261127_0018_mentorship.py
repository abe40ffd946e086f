"""Mentorship: sign-ups and topics, match runs, pairs (one open pairing of two people: a partial unique index),
sessions (once per pair and day), feedback, review requests, career requests

Revision ID: 0018
Revises: 0014
Create Date: 2026-11-28 01:21:06.702331
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mentor_match_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("greedy_total", sa.Float(), nullable=False),
        sa.Column("confirmed_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mentor_match_runs")),
    )
    with op.batch_alter_table("mentor_match_runs", schema=None) as batch_op:
        batch_op.create_index("ix_mentor_match_runs_guild_created", ["guild_id", "created_at"], unique=False)

    op.create_table(
        "mentee_profiles",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("goals", sa.String(length=500), nullable=False),
        sa.Column("style", sa.String(length=40), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paused_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_mentee_profiles_member_id_members"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_mentee_profiles")),
    )
    op.create_table(
        "mentor_pairs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("mentor_id", sa.Integer(), nullable=False),
        sa.Column("mentee_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reasons", sa.String(length=500), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("parent_channel_id", sa.BigInteger(), nullable=False),
        sa.Column("thread_id", sa.BigInteger(), nullable=True),
        sa.Column("kickoff_message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_activity_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("flagged_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["mentee_id"], ["members.id"], name=op.f("fk_mentor_pairs_mentee_id_members"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["mentor_id"], ["members.id"], name=op.f("fk_mentor_pairs_mentor_id_members"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["mentor_match_runs.id"],
            name=op.f("fk_mentor_pairs_run_id_mentor_match_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mentor_pairs")),
    )
    with op.batch_alter_table("mentor_pairs", schema=None) as batch_op:
        batch_op.create_index("ix_mentor_pairs_mentee", ["mentee_id", "state"], unique=False)
        batch_op.create_index("ix_mentor_pairs_mentor", ["mentor_id", "state"], unique=False)
        batch_op.create_index("ix_mentor_pairs_thread", ["thread_id"], unique=False)
        batch_op.create_index(
            "uq_mentor_pairs_open",
            ["mentor_id", "mentee_id"],
            unique=True,
            sqlite_where=sa.text("state != 'ended'"),
            postgresql_where=sa.text("state != 'ended'"),
        )
        batch_op.create_index(
            "uq_mentor_pairs_open_mentee",
            ["mentee_id"],
            unique=True,
            sqlite_where=sa.text("state != 'ended' AND kind = 'mentorship'"),
            postgresql_where=sa.text("state != 'ended' AND kind = 'mentorship'"),
        )

    op.create_table(
        "mentor_profiles",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("hours", sa.Integer(), nullable=False),
        sa.Column("style", sa.String(length=40), nullable=False),
        sa.Column("career", sa.Boolean(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paused_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_mentor_profiles_member_id_members"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_mentor_profiles")),
    )
    op.create_table(
        "mentor_topics",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("topic", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_mentor_topics_member_id_members"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("member_id", "role", "topic", name=op.f("pk_mentor_topics")),
    )
    with op.batch_alter_table("mentor_topics", schema=None) as batch_op:
        batch_op.create_index("ix_mentor_topics_topic", ["role", "topic"], unique=False)

    op.create_table(
        "review_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=False),
        sa.Column("area", sa.String(length=40), nullable=False),
        sa.Column("wanted", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=True),
        sa.Column("thread_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reoffered_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("feedback_message_id", sa.BigInteger(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rated_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["members.id"],
            name=op.f("fk_review_requests_requester_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["members.id"],
            name=op.f("fk_review_requests_reviewer_id_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_requests")),
    )
    with op.batch_alter_table("review_requests", schema=None) as batch_op:
        batch_op.create_index("ix_review_requests_guild_state", ["guild_id", "state", "created_at"], unique=False)

    op.create_table(
        "career_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=300), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_career_requests_member_id_members"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["pair_id"],
            ["mentor_pairs.id"],
            name=op.f("fk_career_requests_pair_id_mentor_pairs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_career_requests")),
    )
    with op.batch_alter_table("career_requests", schema=None) as batch_op:
        batch_op.create_index("ix_career_requests_guild_state", ["guild_id", "state"], unique=False)

    op.create_table(
        "mentor_feedback",
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.String(length=1000), nullable=False),
        sa.Column("at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_mentor_feedback_member_id_members"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["pair_id"],
            ["mentor_pairs.id"],
            name=op.f("fk_mentor_feedback_pair_id_mentor_pairs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pair_id", "member_id", name=op.f("pk_mentor_feedback")),
    )
    op.create_table(
        "mentor_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("logged_by", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.Column("at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["logged_by"], ["members.id"], name=op.f("fk_mentor_sessions_logged_by_members"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["pair_id"],
            ["mentor_pairs.id"],
            name=op.f("fk_mentor_sessions_pair_id_mentor_pairs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mentor_sessions")),
        sa.UniqueConstraint("pair_id", "day", name=op.f("uq_mentor_sessions_pair_id_day")),
    )


def downgrade() -> None:
    op.drop_table("mentor_sessions")
    op.drop_table("mentor_feedback")
    with op.batch_alter_table("career_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_career_requests_guild_state")

    op.drop_table("career_requests")
    with op.batch_alter_table("review_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_review_requests_guild_state")

    op.drop_table("review_requests")
    with op.batch_alter_table("mentor_topics", schema=None) as batch_op:
        batch_op.drop_index("ix_mentor_topics_topic")

    op.drop_table("mentor_topics")
    op.drop_table("mentor_profiles")
    with op.batch_alter_table("mentor_pairs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_mentor_pairs_open_mentee",
            sqlite_where=sa.text("state != 'ended' AND kind = 'mentorship'"),
            postgresql_where=sa.text("state != 'ended' AND kind = 'mentorship'"),
        )
        batch_op.drop_index(
            "uq_mentor_pairs_open",
            sqlite_where=sa.text("state != 'ended'"),
            postgresql_where=sa.text("state != 'ended'"),
        )
        batch_op.drop_index("ix_mentor_pairs_thread")
        batch_op.drop_index("ix_mentor_pairs_mentor")
        batch_op.drop_index("ix_mentor_pairs_mentee")

    op.drop_table("mentor_pairs")
    op.drop_table("mentee_profiles")
    with op.batch_alter_table("mentor_match_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_mentor_match_runs_guild_created")

    op.drop_table("mentor_match_runs")
