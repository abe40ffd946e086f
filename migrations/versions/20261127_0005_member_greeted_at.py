"""members: greeted_at, so a member who leaves and rejoins is greeted again only after a quiet period

Existing members get the time of their last welcome that went out, from the reminders table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 17:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("greeted_at", models.base.UTCDateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE members SET greeted_at = (SELECT MAX(r.created_at) FROM reminders r "
        "WHERE r.kind = 'onboarding.greet' AND r.state = 'sent' "
        "AND r.guild_id = members.guild_id AND r.target_id = members.discord_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("greeted_at")
