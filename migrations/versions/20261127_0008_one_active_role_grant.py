"""role_grants: one active grant per member and role (a partial unique index)

Two maintainers granting the same role at the same moment each saw "not held yet" and wrote a row. Duplicates
already stored are closed first: the oldest active grant stays, the others are marked revoked at their own
grant time by their own granter, so the audit trail still shows them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 18:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("revoked_at IS NULL")


def upgrade() -> None:
    op.execute(
        """
        UPDATE role_grants SET revoked_at = granted_at, revoked_by = granted_by
        WHERE revoked_at IS NULL AND id NOT IN (
            SELECT keep FROM (
                SELECT MIN(id) AS keep FROM role_grants WHERE revoked_at IS NULL GROUP BY member_id, role
            ) AS oldest
        )
        """
    )
    op.create_index(
        "uq_role_grants_active",
        "role_grants",
        ["member_id", "role"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )


def downgrade() -> None:
    op.drop_index("uq_role_grants_active", table_name="role_grants")
