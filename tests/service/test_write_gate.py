"""SQLite's write gate (bot/db.py WriteGate) on a real database file: which statements take it, and that the
next writer goes only once the previous transaction has really committed."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.util.concurrency import await_only

from bot.clock import ManualClock
from bot.reminders import Reminders
from models import Reminder


@pytest.fixture
def sqlite_only(sessions: async_sessionmaker[AsyncSession]) -> None:
    if sessions.kw["bind"].dialect.name != "sqlite":
        pytest.skip("the write gate exists only on SQLite")


async def test_a_batch_claim_holds_the_write_gate(sessions, clock: ManualClock, sqlite_only) -> None:
    reminders = Reminders(sessions, clock)
    async with sessions.begin() as session:
        await reminders.schedule(session, kind="note", guild_id=1, target_id=2, due_at=clock.now())
    engine = sessions.kw["bind"].sync_engine
    seen: list[tuple[str, bool]] = []

    def record(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # Registered after the gate's own listener: by now a write has taken the gate.
        seen.append((statement.lstrip()[:4].upper(), bool(conn.connection.info.get("atlas_write_gate"))))

    event.listen(engine, "before_cursor_execute", record)
    try:
        claimed = await reminders._claim_due(clock.now(), 10)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(claimed) == 1
    assert seen == [("WITH", True)]  # WITH picked AS MATERIALIZED (...) UPDATE reminders ...


async def test_the_next_writer_starts_only_after_the_commit_returned(sessions, clock: ManualClock, sqlite_only):
    reminders = Reminders(sessions, clock)
    ids = []
    for _ in range(2):
        async with sessions.begin() as session:
            ids.append(
                await reminders.schedule(
                    session, kind="note", guild_id=1, target_id=2, due_at=clock.now() + timedelta(hours=1)
                )
            )
    engine = sessions.kw["bind"].sync_engine
    dialect = engine.dialect
    real_commit = dialect.do_commit
    log: list[str] = []

    def slow_commit(dbapi_connection: Any) -> None:
        # A COMMIT that takes a while (an fsync): the loop runs other tasks meanwhile.
        log.append("commit starts")
        await_only(asyncio.sleep(0.05))
        real_commit(dbapi_connection)
        log.append("commit done")

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            log.append("write")

    async def writer(reminder_id: int) -> None:
        async with sessions.begin() as session:
            await session.execute(update(Reminder).where(Reminder.id == reminder_id).values(attempts=1))

    dialect.do_commit = slow_commit  # type: ignore[method-assign]
    event.listen(engine, "before_cursor_execute", record)
    try:
        await asyncio.gather(*(writer(i) for i in ids))
    finally:
        event.remove(engine, "before_cursor_execute", record)
        del dialect.do_commit
    assert log == ["write", "commit starts", "commit done"] * 2
