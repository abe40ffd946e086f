"""office_hour_rsvps.click_id: seats and the waitlist in click order (the click's interaction snowflake), not in
the order handlers reached the database. Existing rows get the snowflake of their ``created_at`` (the order they
had).

Revision ID: 0017
Revises: 0014
Create Date: 2026-11-28 01:10:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DISCORD_EPOCH_MS = 1420070400000


def _snowflake(value: datetime | str) -> int:
    if isinstance(value, str):  # SQLite hands the stored text back
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (int(value.timestamp() * 1000) - DISCORD_EPOCH_MS) << 22


def upgrade() -> None:
    with op.batch_alter_table("office_hour_rsvps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("click_id", sa.BigInteger(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT office_hour_id, member_id, created_at FROM office_hour_rsvps ORDER BY created_at")
    ).all()
    for n, (office_hour_id, member_id, created_at) in enumerate(rows):
        # The low bits keep the old order among rows stamped in the same millisecond.
        bind.execute(
            sa.text("UPDATE office_hour_rsvps SET click_id = :c WHERE office_hour_id = :o AND member_id = :m"),
            {"c": _snowflake(created_at) + n % (1 << 22), "o": office_hour_id, "m": member_id},
        )
    with op.batch_alter_table("office_hour_rsvps", schema=None) as batch_op:
        batch_op.alter_column("click_id", existing_type=sa.BigInteger(), nullable=False)
        batch_op.create_index("ix_office_hour_rsvps_click", ["office_hour_id", "state", "click_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("office_hour_rsvps", schema=None) as batch_op:
        batch_op.drop_index("ix_office_hour_rsvps_click")
        batch_op.drop_column("click_id")
