"""Office hours: series, sessions, RSVPs (seats and waitlist), questions ahead, the live queue, attendance

Seats: a partial unique index on (office_hour_id, seat) where state = 'seat' makes a double-booked seat number
impossible; the live queue holds one open entry per member and session (a partial unique index as well).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 23:35:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "office_hour_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=True),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("local_time", sa.String(length=5), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("recorded", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["host_id"], ["members.id"], name=op.f("fk_office_hour_series_host_id_members"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_office_hour_series")),
    )
    with op.batch_alter_table("office_hour_series", schema=None) as batch_op:
        batch_op.create_index("ix_office_hour_series_guild", ["guild_id", "ended_at"], unique=False)

    op.create_table(
        "office_hours",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=True),
        sa.Column("host_id", sa.Integer(), nullable=True),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("starts_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("recorded", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("announcement_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("announcement_message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.String(length=300), nullable=True),
        sa.Column("no_show_notified_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("summary_sent_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["host_id"], ["members.id"], name=op.f("fk_office_hours_host_id_members"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["office_hour_series.id"],
            name=op.f("fk_office_hours_series_id_office_hour_series"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_office_hours")),
        sa.UniqueConstraint("series_id", "starts_at", name=op.f("uq_office_hours_series_id_starts_at")),
    )
    with op.batch_alter_table("office_hours", schema=None) as batch_op:
        batch_op.create_index("ix_office_hours_event", ["event_id"], unique=False)
        batch_op.create_index(
            "ix_office_hours_guild_state_start", ["guild_id", "state", "starts_at"], unique=False
        )

    op.create_table(
        "office_hour_attendance",
        sa.Column("office_hour_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("feedback_asked_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("comment", sa.String(length=1000), nullable=True),
        sa.Column("feedback_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_office_hour_attendance_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["office_hour_id"],
            ["office_hours.id"],
            name=op.f("fk_office_hour_attendance_office_hour_id_office_hours"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("office_hour_id", "member_id", name=op.f("pk_office_hour_attendance")),
    )
    op.create_table(
        "office_hour_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("office_hour_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("topic", sa.String(length=60), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("carried_to_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["carried_to_id"],
            ["office_hours.id"],
            name=op.f("fk_office_hour_questions_carried_to_id_office_hours"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_office_hour_questions_member_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["office_hour_id"],
            ["office_hours.id"],
            name=op.f("fk_office_hour_questions_office_hour_id_office_hours"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_office_hour_questions")),
    )
    with op.batch_alter_table("office_hour_questions", schema=None) as batch_op:
        batch_op.create_index("ix_office_hour_questions_session", ["office_hour_id", "topic"], unique=False)

    op.create_table(
        "office_hour_queue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("office_hour_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("question", sa.String(length=300), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("joined_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("called_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("left_voice_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_office_hour_queue_member_id_members"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["office_hour_id"],
            ["office_hours.id"],
            name=op.f("fk_office_hour_queue_office_hour_id_office_hours"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_office_hour_queue")),
    )
    with op.batch_alter_table("office_hour_queue", schema=None) as batch_op:
        batch_op.create_index(
            "ix_office_hour_queue_order", ["office_hour_id", "state", "joined_at", "id"], unique=False
        )
        batch_op.create_index(
            "uq_office_hour_queue_open",
            ["office_hour_id", "member_id"],
            unique=True,
            sqlite_where=sa.text("state IN ('waiting', 'called')"),
            postgresql_where=sa.text("state IN ('waiting', 'called')"),
        )

    op.create_table(
        "office_hour_rsvps",
        sa.Column("office_hour_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("seat", sa.Integer(), nullable=True),
        sa.Column("via", sa.String(length=12), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_office_hour_rsvps_member_id_members"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["office_hour_id"],
            ["office_hours.id"],
            name=op.f("fk_office_hour_rsvps_office_hour_id_office_hours"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("office_hour_id", "member_id", name=op.f("pk_office_hour_rsvps")),
    )
    with op.batch_alter_table("office_hour_rsvps", schema=None) as batch_op:
        batch_op.create_index(
            "ix_office_hour_rsvps_order", ["office_hour_id", "state", "created_at"], unique=False
        )
        batch_op.create_index(
            "uq_office_hour_rsvps_seat",
            ["office_hour_id", "seat"],
            unique=True,
            sqlite_where=sa.text("state = 'seat'"),
            postgresql_where=sa.text("state = 'seat'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("office_hour_rsvps", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_office_hour_rsvps_seat",
            sqlite_where=sa.text("state = 'seat'"),
            postgresql_where=sa.text("state = 'seat'"),
        )
        batch_op.drop_index("ix_office_hour_rsvps_order")

    op.drop_table("office_hour_rsvps")
    with op.batch_alter_table("office_hour_queue", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_office_hour_queue_open",
            sqlite_where=sa.text("state IN ('waiting', 'called')"),
            postgresql_where=sa.text("state IN ('waiting', 'called')"),
        )
        batch_op.drop_index("ix_office_hour_queue_order")

    op.drop_table("office_hour_queue")
    with op.batch_alter_table("office_hour_questions", schema=None) as batch_op:
        batch_op.drop_index("ix_office_hour_questions_session")

    op.drop_table("office_hour_questions")
    op.drop_table("office_hour_attendance")
    with op.batch_alter_table("office_hours", schema=None) as batch_op:
        batch_op.drop_index("ix_office_hours_guild_state_start")
        batch_op.drop_index("ix_office_hours_event")

    op.drop_table("office_hours")
    with op.batch_alter_table("office_hour_series", schema=None) as batch_op:
        batch_op.drop_index("ix_office_hour_series_guild")

    op.drop_table("office_hour_series")
