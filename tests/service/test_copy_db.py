"""``atlas-bot copy-db``: a SQLite database with rows in every table (enumerated from the models, so a table added
later is covered) copied into an empty database, PostgreSQL when the tests have one; counts verified, ids
continue after the copied ones, a failure half-way rolls back with a clear message, a used destination refused."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Table, func, insert, select, text, types
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import copydb, db
from bot.failures import SetupError
from bot.ledger import rebuild_ranks
from models import Base, BoardCount, Reminder

ROWS = 3


def _value(column: Column[Any], i: int) -> Any:
    """Row ``i``'s value for a column: distinct per row (unique keys hold), and for a foreign key the value the
    parent's row ``i`` has in the referenced column."""
    if column.name in ("deleted_at", "left_at"):
        return None  # live rows: questions indexed for search, members on the leaderboard
    fks = list(column.foreign_keys)
    if fks:
        return _value(fks[0].column, i)
    kind = column.type
    if isinstance(kind, types.Boolean):
        return i % 2 == 0
    if isinstance(kind, types.Integer):
        return i + 1
    if isinstance(kind, types.Float):
        return i + 0.5
    if isinstance(kind, types.JSON):
        return {"row": i, "text": "café ✓"}
    if isinstance(kind, types.Date):
        return date(2026, 1, 1) + timedelta(days=i)
    if isinstance(kind, types.TypeDecorator) and isinstance(kind.impl, types.DateTime):
        return datetime(2026, 1, 1, 9, 30, tzinfo=UTC) + timedelta(hours=i)
    if isinstance(kind, types.String):
        value = f"v{i} é “quoted” 'x'"
        return value[: kind.length] if kind.length else value
    raise AssertionError(f"no test value for {column.table.name}.{column.name} ({kind!r}): add one")


def _row(table: Table, i: int) -> dict[str, Any]:
    return {c.name: _value(c, i) for c in table.columns}


async def _fill(url: str) -> dict[str, int]:
    await db.upgrade(url)
    engine = db.create_engine(url)
    try:
        async with engine.begin() as conn:
            for table in copydb.tables():
                await conn.execute(insert(table), [_row(table, i) for i in range(ROWS)])
        # The leaderboard's derived columns as the bot keeps them (the rows above were written wholesale).
        async with db.create_sessionmaker(engine).begin() as session:
            await rebuild_ranks(session)
    finally:
        await engine.dispose()
    return {t.name: ROWS for t in copydb.tables()}


async def _counts(url: str) -> dict[str, int]:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            return {
                t.name: int((await conn.execute(select(func.count()).select_from(t))).scalar_one())
                for t in copydb.tables()
            }
    finally:
        await engine.dispose()


async def _rows(engine: AsyncEngine, table: Table) -> list[dict[str, Any]]:
    keys = list(table.primary_key.columns)
    async with engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(select(table).order_by(*keys))]


async def _board(engine: AsyncEngine) -> list[tuple[Any, ...]]:
    keys = [BoardCount.guild_id, BoardCount.period_kind, BoardCount.category, BoardCount.period_start]
    query = (
        select(*keys, BoardCount.points, func.sum(BoardCount.members))
        .group_by(*keys, BoardCount.points)
        .having(func.sum(BoardCount.members) != 0)
        .order_by(*keys, BoardCount.points)
    )
    async with engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(query)]


async def _cli(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "copy-db",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode()


async def test_copy_db_copies_every_table_and_verifies_counts(tmp_path: Path, db_url: str) -> None:
    src = f"sqlite+aiosqlite:///{tmp_path / 'source.db'}"
    filled = await _fill(src)
    assert all(filled.values()) and len(filled) == len(copydb.tables()) == len(Base.metadata.tables) - 1

    code, out = await _cli(src, db_url)
    assert code == 0, out
    total = ROWS * len(filled)
    assert f"copied {total:,} row(s) in {len(filled)} table(s)" in out
    assert f"row counts verified on both sides; {ROWS} question(s) indexed for search" in out
    assert await _counts(db_url) == filled

    # Every value arrives as the same Python value (times as aware UTC, JSON as objects, text byte for byte).
    source, dest = db.create_engine(src), db.create_engine(db_url)
    try:
        for table in copydb.tables():
            assert await _rows(dest, table) == await _rows(source, table), table.name
        # The derived leaderboard counts were recomputed, not copied: the same totals per board and value.
        assert await _board(dest) == await _board(source) != []
        # The sequences moved past the copied ids: the bot's next row gets a new id instead of colliding.
        async with db.create_sessionmaker(dest).begin() as session:
            reminder = Reminder(
                kind="k",
                guild_id=1,
                target_id=1,
                due_at=datetime(2026, 2, 1, tzinfo=UTC),
                created_at=datetime(2026, 2, 1, tzinfo=UTC),
                state="pending",
            )
            session.add(reminder)
            await session.flush()
            assert reminder.id == ROWS + 1
    finally:
        await source.dispose()
        await dest.dispose()

    # A used destination is refused, naming what it holds; nothing is written to it.
    code, out = await _cli(src, db_url)
    assert code == 2, out
    assert "the destination database is not empty: announcement_runs (3)" in out
    assert (await _counts(db_url))["reminders"] == ROWS + 1


async def test_a_failure_half_way_rolls_back_with_a_clear_message(tmp_path: Path, db_url: str) -> None:
    src = f"sqlite+aiosqlite:///{tmp_path / 'source.db'}"
    filled = await _fill(src)
    last = copydb.tables()[-1].name
    await db.upgrade(db_url)
    engine = db.create_engine(db_url)
    # The destination refuses the last table's rows, as a full disk or a lost connection would stop the copy.
    if engine.dialect.name == "postgresql":
        refuse = f"ALTER TABLE {last} ADD CONSTRAINT refuse_rows CHECK (false)"
        allow = f"ALTER TABLE {last} DROP CONSTRAINT refuse_rows"
    else:
        refuse = f"CREATE TRIGGER refuse_rows BEFORE INSERT ON {last} BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        allow = "DROP TRIGGER refuse_rows"
    try:
        async with engine.begin() as conn:
            await conn.execute(text(refuse))
        with pytest.raises(copydb.CopyError) as failed:
            await copydb.copy_database(src, db_url, batch_rows=2)
        assert str(failed.value).startswith(
            "the copy failed and was rolled back, the destination is empty again (the source is unchanged): "
            "IntegrityError"
        ), failed.value
        assert set((await _counts(db_url)).values()) == {0}
        assert await _counts(src) == filled

        # Fixed, the same command copies everything into the same destination.
        async with engine.begin() as conn:
            await conn.execute(text(allow))
        result = await copydb.copy_database(src, db_url, batch_rows=2)
        assert result.counts == filled
    finally:
        await engine.dispose()


async def test_copy_db_refuses_an_unmigrated_source_and_the_same_database(tmp_path: Path) -> None:
    missing = f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}"
    with pytest.raises(SetupError, match=r"the source database .*missing.db does not exist"):
        await copydb.copy_database(missing, f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    old = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await db.upgrade(old, db.revision_order()[-2])
    with pytest.raises(SetupError, match=r"not .*: run `atlas-bot migrate` with it first"):
        await copydb.copy_database(old, f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    with pytest.raises(SetupError, match="the source and destination are the same database"):
        await copydb.copy_database(old, f"sqlite+aiosqlite:///{tmp_path / 'x' / '..' / 'old.db'}")


async def test_copy_db_says_which_side_cannot_be_reached(tmp_path: Path) -> None:
    src = f"sqlite+aiosqlite:///{tmp_path / 'source.db'}"
    await db.upgrade(src)
    code, out = await _cli(src, "postgresql+asyncpg://atlas:secret@127.0.0.1:1/atlas")
    assert code == 1, out
    assert out.splitlines()[-1].startswith(
        "error: the destination database: cannot connect to the database server "
        "postgresql+asyncpg://atlas:***@127.0.0.1:1/atlas"
    ), out
    assert "secret" not in out and "Traceback" not in out


async def test_an_over_long_value_is_named_before_copying_to_postgresql(tmp_path: Path, db_url: str) -> None:
    """SQLite stores a value longer than its VARCHAR(n); PostgreSQL would refuse it mid-copy without naming it.
    The copy names the table, row and column first, and writes nothing."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL enforces column lengths; SQLite does not")
    src = f"sqlite+aiosqlite:///{tmp_path / 'source.db'}"
    await _fill(src)
    table = next(t for t in copydb.tables() if t.name == "members")
    column = next(c for c in table.columns if getattr(c.type, "length", None))
    engine = db.create_engine(src)
    try:
        async with engine.begin() as conn:
            row_id = await conn.scalar(select(func.min(table.c.id)))
            await conn.execute(
                table.update().where(table.c.id == row_id).values({column.name: "x" * (column.type.length + 7)})
            )
    finally:
        await engine.dispose()
    with pytest.raises(SetupError) as refused:
        await copydb.copy_database(src, db_url)
    message = str(refused.value)
    assert f"members row id={row_id}, column {column.name}: {column.type.length + 7} characters" in message
    assert set((await _counts(db_url)).values()) == {0}
