"""community roles: each config role key resolved once to a Discord role id

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 17:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "community_roles",
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=20), nullable=False),
        sa.Column("role_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("how", sa.String(length=12), nullable=False),
        sa.Column("resolved_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("guild_id", "key", name=op.f("pk_community_roles")),
    )


def downgrade() -> None:
    op.drop_table("community_roles")
