"""On PostgreSQL a downgrade takes the migration lock too (bot/db.py ``_migration_lock``): it waits while another
process migrates, instead of changing the schema under it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from bot import db
from bot.harness import create_pg_database, drop_pg_database

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    admin = os.environ.get("ATLAS_TEST_POSTGRES_URL")
    if not admin:
        pytest.skip("the migration lock is PostgreSQL's: set ATLAS_TEST_POSTGRES_URL")
    url, name = await create_pg_database(admin)
    try:
        await db.upgrade(url)
        yield url
    finally:
        await drop_pg_database(admin, name)


async def test_a_downgrade_waits_for_the_migration_lock(pg_url: str) -> None:
    engine = db.create_engine(pg_url)
    try:
        async with engine.connect() as holder, engine.connect() as watcher:
            await holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": db._MIGRATION_LOCK})
            await holder.commit()
            head = await db.current_revision_at(pg_url)
            downgrade = asyncio.create_task(db.downgrade(pg_url, "-1"))

            async def waiting() -> bool:
                found = await watcher.scalar(
                    text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
                )
                await watcher.commit()
                return bool(found)

            for _ in range(1200):  # until the downgrade waits for the lock, or (without the lock) has run
                if downgrade.done() or await waiting():
                    break
                await asyncio.sleep(0.05)
            assert not downgrade.done(), "the downgrade ran beside another process's migration"
            assert await db.current_revision_at(pg_url) == head
            await holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": db._MIGRATION_LOCK})
            await holder.commit()
            await asyncio.wait_for(downgrade, 60)
        assert await db.current_revision_at(pg_url) != head
    finally:
        await engine.dispose()
