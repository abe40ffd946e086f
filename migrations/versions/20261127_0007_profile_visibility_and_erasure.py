"""privacy: profile visibility and data erasure on members

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 17:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        # Existing members get the default audience: members of the community.
        batch_op.add_column(
            sa.Column("profile_visibility", sa.String(length=12), server_default="community", nullable=False)
        )
        batch_op.add_column(sa.Column("erased_at", models.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
        batch_op.drop_column("profile_visibility")
