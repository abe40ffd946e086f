"""ledger: the event's counterpart (for per-pair caps) and 64-bit point sums

``ledger_events.subject_member_id`` keeps who else was involved (the voter, the accepter, the reviewed author),
with a partial index for the per-pair caps' budget; existing events have none, which caps nothing.
``member_points.points`` holds sums: BIGINT, so PostgreSQL cannot overflow at 2**31 (SQLite's integers are
64-bit already; there the table is copied with the new declared type).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 17:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAIR_COLUMNS = ["member_id", "subject_member_id", "kind", "created_at"]
HAS_COUNTERPART = "subject_member_id IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("ledger_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject_member_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            "ix_ledger_events_pair",
            PAIR_COLUMNS,
            unique=False,
            sqlite_where=sa.text(HAS_COUNTERPART),
            postgresql_where=sa.text(HAS_COUNTERPART),
        )
    with op.batch_alter_table("member_points", schema=None) as batch_op:
        batch_op.alter_column("points", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("member_points", schema=None) as batch_op:
        batch_op.alter_column("points", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False)
    with op.batch_alter_table("ledger_events", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_events_pair")
        batch_op.drop_column("subject_member_id")
