"""members: an index on (guild_id, id) for the daily jobs' keyset batches

The journey's daily jobs read members a batch at a time (``guild_id = ? AND id > ? ORDER BY id LIMIT n``). The
only index starting with guild_id was (guild_id, discord_id), so each batch scanned and sorted every member of
the guild: 99 batches of the 100,000-member reconcile took 5.6 s. With this index a batch is a range scan.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 19:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_members_guild_id_id", "members", ["guild_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_members_guild_id_id", table_name="members")
