from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from bot import db
from models import Base
from models.base import is_unmapped_table


def _diff(conn: Connection) -> list:
    opts = {
        "compare_type": True,
        "compare_server_default": True,
        "include_name": lambda name, type_, _parent: not (type_ == "table" and is_unmapped_table(name)),
    }
    context = MigrationContext.configure(conn, opts=opts)
    return compare_metadata(context, Base.metadata)


def _tables(conn: Connection) -> set[str]:
    return {t for t in inspect(conn).get_table_names() if not is_unmapped_table(t)} - {"alembic_version"}


async def test_models_and_newest_migration_agree(migrated_url: str) -> None:
    engine = db.create_engine(migrated_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_upgrade_then_downgrade_to_base_and_back(db_url: str) -> None:
    engine = db.create_engine(db_url)
    try:
        await db.upgrade(db_url)
        assert await db.current_revision(engine) == db.head_revision()
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set(Base.metadata.tables)
        await db.downgrade(db_url, "base")
        assert await db.current_revision(engine) is None
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set()
        await db.upgrade(db_url)
        assert await db.current_revision(engine) == db.head_revision()
    finally:
        await engine.dispose()


async def test_sqlite_pragmas_are_set(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            from sqlalchemy import text

            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 5000
    finally:
        await engine.dispose()


async def test_fast_reads_are_read_only_and_see_committed_writes(engine, sessions) -> None:
    import pytest
    from sqlalchemy import insert, select
    from sqlalchemy.exc import OperationalError

    from models import BotState

    reads = db.Reads(engine)
    try:
        async with sessions.begin() as session:
            session.add(BotState(key="k", value="v1"))
        assert [tuple(r) for r in await reads.all(select(BotState.value), {})] == [("v1",)]
        if engine.dialect.name == "sqlite":
            with pytest.raises(OperationalError, match="readonly"):
                await reads.all(insert(BotState).values(key="x", value="y").returning(BotState.key), {})
    finally:
        reads.dispose()


async def test_duplicate_active_grants_are_closed_before_the_unique_index(db_url: str) -> None:
    """Rows written by the race that 0008 closes: the oldest active grant stays, the others are revoked."""
    engine = db.create_engine(db_url)
    try:
        await db.upgrade(db_url, "0007")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO members (id, guild_id, discord_id, display_name, joined_at, stage_manual) "
                    "VALUES (1, 1, 7, 'dora', :t, false)"
                ),
                {"t": datetime(2026, 1, 5, 9, tzinfo=UTC)},
            )
            for grant_id, by in ((1, 101), (2, 102), (3, 103)):
                await conn.execute(
                    text(
                        "INSERT INTO role_grants (id, member_id, role, granted_by, granted_at, reason) "
                        "VALUES (:id, 1, 'ambassador', :by, :t, '')"
                    ),
                    {"id": grant_id, "by": by, "t": datetime(2026, 1, 5, 9, tzinfo=UTC)},
                )
        await db.upgrade(db_url)
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id, revoked_by FROM role_grants ORDER BY id"))).all()
        assert [tuple(r) for r in rows] == [(1, None), (2, 102), (3, 103)]
    finally:
        await engine.dispose()
