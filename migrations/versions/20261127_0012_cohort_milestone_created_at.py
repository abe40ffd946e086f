"""cohort_milestones.created_at: a milestone credits its owner only when it was set at least a day before it
was marked done (no points for a milestone made and ticked off in a minute). Existing rows keep NULL (made
before this rule: treated as old enough).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 23:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cohort_milestones", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cohort_milestones", schema=None) as batch_op:
        batch_op.drop_column("created_at")
