"""Q&A knowledge base: questions (forum posts), their tags, answers, votes and tag subscriptions

One accepted answer per question: a partial unique index on qa_answers (question_id) where accepted. The
full-text index is a later migration (cogs/qa/search.py owns it).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 01:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "qa_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("forum_id", sa.BigInteger(), nullable=False),
        sa.Column("thread_id", sa.BigInteger(), nullable=False),
        sa.Column("asker_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("score", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("answer_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_activity_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("solved_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("thanks_prompted_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("idle_reminded_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("subscribers_notified_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["asker_id"], ["members.id"], name=op.f("fk_qa_questions_asker_id_members"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_questions")),
        sa.UniqueConstraint("thread_id", name=op.f("uq_qa_questions_thread_id")),
    )
    with op.batch_alter_table("qa_questions", schema=None) as batch_op:
        batch_op.create_index("ix_qa_questions_asker", ["asker_id"], unique=False)
        batch_op.create_index(
            "ix_qa_questions_guild_state_activity", ["guild_id", "state", "last_activity_at"], unique=False
        )

    op.create_table(
        "qa_subscriptions",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("tag", sa.String(length=20), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_qa_subscriptions_member_id_members"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("member_id", "tag", name=op.f("pk_qa_subscriptions")),
    )
    with op.batch_alter_table("qa_subscriptions", schema=None) as batch_op:
        batch_op.create_index("ix_qa_subscriptions_tag", ["guild_id", "tag"], unique=False)

    op.create_table(
        "qa_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("score", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("accepted", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("edited_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"], ["members.id"], name=op.f("fk_qa_answers_author_id_members"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["qa_questions.id"],
            name=op.f("fk_qa_answers_question_id_qa_questions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_answers")),
        sa.UniqueConstraint("message_id", name=op.f("uq_qa_answers_message_id")),
    )
    with op.batch_alter_table("qa_answers", schema=None) as batch_op:
        batch_op.create_index("ix_qa_answers_author", ["author_id"], unique=False)
        batch_op.create_index("ix_qa_answers_question", ["question_id", "created_at"], unique=False)
        batch_op.create_index(
            "uq_qa_answers_accepted",
            ["question_id"],
            unique=True,
            sqlite_where=sa.text("accepted"),
            postgresql_where=sa.text("accepted"),
        )

    op.create_table(
        "qa_question_tags",
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["qa_questions.id"],
            name=op.f("fk_qa_question_tags_question_id_qa_questions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("question_id", "tag", name=op.f("pk_qa_question_tags")),
    )
    with op.batch_alter_table("qa_question_tags", schema=None) as batch_op:
        batch_op.create_index("ix_qa_question_tags_tag", ["tag", "question_id"], unique=False)

    op.create_table(
        "qa_votes",
        sa.Column("voter_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("answer_id", sa.Integer(), nullable=True),
        sa.Column("value", sa.SmallInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["answer_id"], ["qa_answers.id"], name=op.f("fk_qa_votes_answer_id_qa_answers"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["qa_questions.id"],
            name=op.f("fk_qa_votes_question_id_qa_questions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["voter_id"], ["members.id"], name=op.f("fk_qa_votes_voter_id_members"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("voter_id", "message_id", name=op.f("pk_qa_votes")),
    )
    with op.batch_alter_table("qa_votes", schema=None) as batch_op:
        batch_op.create_index("ix_qa_votes_question", ["question_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("qa_votes", schema=None) as batch_op:
        batch_op.drop_index("ix_qa_votes_question")

    op.drop_table("qa_votes")
    with op.batch_alter_table("qa_question_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_qa_question_tags_tag")

    op.drop_table("qa_question_tags")
    with op.batch_alter_table("qa_answers", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_qa_answers_accepted", sqlite_where=sa.text("accepted"), postgresql_where=sa.text("accepted")
        )
        batch_op.drop_index("ix_qa_answers_question")
        batch_op.drop_index("ix_qa_answers_author")

    op.drop_table("qa_answers")
    with op.batch_alter_table("qa_subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_qa_subscriptions_tag")

    op.drop_table("qa_subscriptions")
    with op.batch_alter_table("qa_questions", schema=None) as batch_op:
        batch_op.drop_index("ix_qa_questions_guild_state_activity")
        batch_op.drop_index("ix_qa_questions_asker")

    op.drop_table("qa_questions")
