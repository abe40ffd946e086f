"""member_points.visible and board_counts: a leaderboard page and the viewer's rank without joins or long counts

``member_points.visible`` (present and not opted out) joins the board index, so a page and the viewer's ties
are index-only scans. ``board_counts`` holds, per board and points value, how many visible members have it
(as +1/-1 rows folded now and then), so the viewer's rank is a sum over the distinct values above theirs.

Triggers keep ``visible`` and ``board_counts`` exact whatever changes visibility: a member leaving or coming
back (``members.left_at`` set or cleared, by any code path, one row or a bulk UPDATE), an opt-out or opt-in
(``recognition_prefs`` inserted, updated or deleted, as on erasure), or a members row deleted. On PostgreSQL
they first take ``member_points`` in ROW EXCLUSIVE mode and then the ledger's per-member advisory lock
(``bot.ledger.LOCK_CLASS``), the order ``bot.ledger.lock_members`` takes them in, so a recording for the same
member never inserts a new aggregate row with the visibility it read before a concurrent change committed, and
a rebuild batch holding the member's rows is waited for before they are read. Existing rows are backfilled here
(``bot.ledger.rebuild_ranks`` recomputes the same from scratch; a rebuild keeps the counts batch by batch).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 19:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOCK_CLASS = 0x4C444752  # bot.ledger.LOCK_CLASS ("LDGR")
OLD_BOARD = ["guild_id", "period_kind", "category", "period_start", "points", "member_id"]
NEW_BOARD = ["guild_id", "period_kind", "category", "period_start", "visible", "points", "member_id"]
BOARD = "guild_id, period_kind, category, period_start"


def _target(m: str) -> str:
    """Whether member ``m`` is shown on boards now: present and not opted out."""
    return (
        f"(EXISTS (SELECT 1 FROM members WHERE id = {m} AND left_at IS NULL) AND NOT EXISTS "
        f"(SELECT 1 FROM recognition_prefs WHERE member_id = {m} AND leaderboard_opt_out))"
    )


def _refresh(m: str, target: str) -> str:
    """Set member ``m``'s rows to ``target``, with a +1/-1 board_counts row for each positive row that flips."""
    return f"""
        INSERT INTO board_counts ({BOARD}, points, members)
            SELECT {BOARD}, points, CASE WHEN visible THEN -1 ELSE 1 END FROM member_points
            WHERE member_id = {m} AND points > 0 AND visible <> {target};
        UPDATE member_points SET visible = {target} WHERE member_id = {m} AND visible <> {target};
    """


# The new column starts true: only the rows of members gone or opted out change (a small set, not every row).
BACKFILL = f"""
    UPDATE member_points SET visible = false WHERE member_id IN (
        SELECT id FROM members WHERE left_at IS NOT NULL
        UNION SELECT member_id FROM recognition_prefs WHERE leaderboard_opt_out
    );
    DELETE FROM board_counts;
    INSERT INTO board_counts ({BOARD}, points, members)
        SELECT {BOARD}, points, COUNT(*) FROM member_points WHERE visible AND points > 0
        GROUP BY {BOARD}, points;
"""

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER trg_members_left_board AFTER UPDATE OF left_at ON members
        WHEN (OLD.left_at IS NULL) <> (NEW.left_at IS NULL)
        BEGIN {_refresh("NEW.id", _target("NEW.id"))} END""",
    f"""CREATE TRIGGER trg_members_delete_board BEFORE DELETE ON members
        BEGIN {_refresh("OLD.id", "0")} END""",
    f"""CREATE TRIGGER trg_prefs_insert_board AFTER INSERT ON recognition_prefs
        WHEN NEW.leaderboard_opt_out
        BEGIN {_refresh("NEW.member_id", _target("NEW.member_id"))} END""",
    f"""CREATE TRIGGER trg_prefs_update_board AFTER UPDATE OF leaderboard_opt_out ON recognition_prefs
        WHEN OLD.leaderboard_opt_out <> NEW.leaderboard_opt_out
        BEGIN {_refresh("NEW.member_id", _target("NEW.member_id"))} END""",
    f"""CREATE TRIGGER trg_prefs_delete_board AFTER DELETE ON recognition_prefs
        WHEN OLD.leaderboard_opt_out
        BEGIN {_refresh("OLD.member_id", _target("OLD.member_id"))} END""",
]
SQLITE_TRIGGER_NAMES = [
    "trg_members_left_board",
    "trg_members_delete_board",
    "trg_prefs_insert_board",
    "trg_prefs_update_board",
    "trg_prefs_delete_board",
]

POSTGRES_FUNCTIONS = [
    # The locks first, in the ledger's global order (bot.ledger.lock_members: member_points in ROW EXCLUSIVE mode,
    # then the member), then the target and rows read by later statements: they see whatever a concurrent
    # recording, visibility change or rebuild batch (SHARE ROW EXCLUSIVE) of this member committed meanwhile.
    f"""CREATE FUNCTION atlas_board_visibility(m integer, gone boolean) RETURNS void LANGUAGE plpgsql AS $$
        DECLARE target boolean;
        BEGIN
            LOCK TABLE member_points IN ROW EXCLUSIVE MODE;
            PERFORM pg_advisory_xact_lock({LOCK_CLASS}, m);
            target := NOT gone AND {_target("m")};
            {_refresh("m", "target")}
        END $$""",
    """CREATE FUNCTION atlas_members_board() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                PERFORM atlas_board_visibility(OLD.id, true);
                RETURN OLD;
            END IF;
            PERFORM atlas_board_visibility(NEW.id, false);
            RETURN NULL;
        END $$""",
    """CREATE FUNCTION atlas_prefs_board() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                PERFORM atlas_board_visibility(OLD.member_id, false);
            ELSE
                PERFORM atlas_board_visibility(NEW.member_id, false);
            END IF;
            RETURN NULL;
        END $$""",
]
POSTGRES_TRIGGERS = [
    """CREATE TRIGGER trg_members_left_board AFTER UPDATE OF left_at ON members FOR EACH ROW
        WHEN ((OLD.left_at IS NULL) IS DISTINCT FROM (NEW.left_at IS NULL))
        EXECUTE FUNCTION atlas_members_board()""",
    """CREATE TRIGGER trg_members_delete_board BEFORE DELETE ON members FOR EACH ROW
        EXECUTE FUNCTION atlas_members_board()""",
    """CREATE TRIGGER trg_prefs_insert_board AFTER INSERT ON recognition_prefs FOR EACH ROW
        WHEN (NEW.leaderboard_opt_out) EXECUTE FUNCTION atlas_prefs_board()""",
    """CREATE TRIGGER trg_prefs_update_board AFTER UPDATE OF leaderboard_opt_out ON recognition_prefs
        FOR EACH ROW WHEN (OLD.leaderboard_opt_out IS DISTINCT FROM NEW.leaderboard_opt_out)
        EXECUTE FUNCTION atlas_prefs_board()""",
    """CREATE TRIGGER trg_prefs_delete_board AFTER DELETE ON recognition_prefs FOR EACH ROW
        WHEN (OLD.leaderboard_opt_out) EXECUTE FUNCTION atlas_prefs_board()""",
]


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]


def upgrade() -> None:
    op.add_column("member_points", sa.Column("visible", sa.Boolean(), server_default=sa.true(), nullable=False))
    op.drop_index("ix_member_points_board", table_name="member_points")
    op.create_index("ix_member_points_board", "member_points", NEW_BOARD, unique=False)
    op.create_table(
        "board_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("period_kind", sa.String(length=8), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("period_start", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_board_counts")),
    )
    op.create_index(
        "ix_board_counts_board",
        "board_counts",
        ["guild_id", "period_kind", "category", "period_start", "points", "members"],
        unique=False,
    )
    for statement in _statements(BACKFILL):
        op.execute(statement)
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_FUNCTIONS + POSTGRES_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in SQLITE_TRIGGER_NAMES:
        table = "members" if name.startswith("trg_members") else "recognition_prefs"
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}" if postgres else f"DROP TRIGGER IF EXISTS {name}")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS atlas_members_board()")
        op.execute("DROP FUNCTION IF EXISTS atlas_prefs_board()")
        op.execute("DROP FUNCTION IF EXISTS atlas_board_visibility(integer, boolean)")
    op.drop_index("ix_board_counts_board", table_name="board_counts")
    op.drop_table("board_counts")
    op.drop_index("ix_member_points_board", table_name="member_points")
    with op.batch_alter_table("member_points", schema=None) as batch_op:
        batch_op.drop_column("visible")
    op.create_index("ix_member_points_board", "member_points", OLD_BOARD, unique=False)
