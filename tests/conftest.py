"""Shared fixtures: a real database per test (a temporary SQLite file, and PostgreSQL when
ATLAS_TEST_POSTGRES_URL points at a server), migrated with Alembic, and a clock tests can move."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import db
from bot.clock import ManualClock
from bot.harness import create_pg_database, drop_pg_database

POSTGRES_ENV = "ATLAS_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database: SQLite file, or a fresh PostgreSQL database (skipped without the variable)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'atlas.db'}"
        return
    admin = os.environ.get(POSTGRES_ENV)
    if not admin and os.environ.get("ATLAS_REQUIRE_POSTGRES"):
        pytest.fail(f"ATLAS_REQUIRE_POSTGRES is set but {POSTGRES_ENV} is not: CI must test both backends")
    if not admin:
        pytest.skip(
            f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql+asyncpg://postgres@127.0.0.1:5433/postgres)"
        )
    url, name = await create_pg_database(admin)
    try:
        yield url
    finally:
        await drop_pg_database(admin, name)


@pytest.fixture
async def migrated_url(db_url: str) -> str:
    await db.upgrade(db_url)
    return db_url


@pytest.fixture
async def engine(migrated_url: str) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(migrated_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return db.create_sessionmaker(engine)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))  # a Monday


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """The PostgreSQL variants skipped without a server, in one line rather than one per test (`-rs` lists
    them)."""
    skipped = terminalreporter.stats.get("skipped", [])
    postgres = [r for r in skipped if POSTGRES_ENV in str(getattr(r, "longrepr", ""))]
    if postgres and "s" not in (config.option.reportchars or ""):
        terminalreporter.write_line(
            f"{len(postgres)} PostgreSQL test(s) skipped: set {POSTGRES_ENV}, or run them with "
            "scripts/with-postgres.sh (see README)"
        )
