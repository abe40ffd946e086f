"""One engine per process, sessions per unit of work, and Alembic migrations run from code."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError as AlembicCommandError
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy import event
from sqlalchemy import text as sql_text
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.sql.base import Executable
from sqlalchemy.util.concurrency import await_only, in_greenlet

import migrations
from bot.failures import SetupError, sqlite_file, sqlite_problem

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(migrations.__file__).parent


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the writer; foreign keys are off by default in SQLite; the busy timeout turns
    # a brief write lock into a wait instead of "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    # Parameters are what members typed: kept out of error messages and echo logs.
    kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
    if url.startswith("postgresql"):
        kwargs["pool_pre_ping"] = True
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        WriteGate().install(engine)
    return engine


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class WriteGate:
    """SQLite's writers take turns in this process's event loop instead of in SQLite's busy handler.

    SQLite has one write lock. A writer that finds it taken waits in the busy handler, which sleeps and polls
    (1, 2, 5 ... up to 100 ms between tries, in no order), so with dozens of writers at once (a join burst: each
    join, claim, finish and follow-up is a write) the lock sits free while the next writer sleeps, throughput
    collapses and some writer waits past ``busy_timeout``: "database is locked". Here a transaction's first
    INSERT/UPDATE/DELETE waits for an asyncio lock instead (first come first served, woken the moment it is
    free), held until the transaction has ended. Reads never wait (WAL). One process only: another process's
    writers still meet SQLite's busy handler, as before.

    The gate opens when the connection goes back to the pool (a session returns it after each commit or
    rollback) or begins its next transaction, never on the ``commit``/``rollback`` events: SQLAlchemy fires those
    before it sends COMMIT, so the next writer would be woken while SQLite still holds its lock.
    """

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._lock: asyncio.Lock | None = None

    def install(self, engine: AsyncEngine) -> None:
        sync = engine.sync_engine
        event.listen(sync, "before_cursor_execute", self._before_execute)
        event.listen(sync, "begin", self._begin)
        event.listen(sync.pool, "checkin", self._checkin)
        event.listen(sync.pool, "invalidate", self._invalidate)

    def _before_execute(
        self, conn: Connection, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        info = conn.connection.info
        if info.get("atlas_write_gate") or not _is_write(statement, context):
            return
        if not in_greenlet():
            return  # a synchronous caller (none in the bot): SQLite's own locking applies
        if self._lock is None:
            self._lock = asyncio.Lock()
        try:
            await_only(asyncio.wait_for(self._lock.acquire(), self.timeout))
        except TimeoutError:
            raise OperationalError(statement, None, Exception("database is locked (write gate)")) from None
        info["atlas_write_gate"] = True

    def _release(self, info: dict[Any, Any]) -> None:
        if info.pop("atlas_write_gate", False) and self._lock is not None:
            self._lock.release()

    def _begin(self, conn: Connection) -> None:
        # A connection kept checked out across transactions: the previous one has committed by now.
        self._release(conn.connection.info)

    def _checkin(self, _dbapi_connection: Any, record: Any) -> None:
        self._release(record.info)

    def _invalidate(self, _dbapi_connection: Any, record: Any, _exc: Any) -> None:
        self._release(record.info)


def _is_write(statement: str, context: Any) -> bool:
    """A compiled INSERT/UPDATE/DELETE whatever its text starts with (``WITH picked AS (...) UPDATE``); raw SQL
    by its first word."""
    if context is not None and (context.isinsert or context.isupdate or context.isdelete):
        return True
    return statement.lstrip()[:7].upper().startswith(_WRITES)


class Reads:
    """Point lookups on the hot path (a member's profile on a slash command), cheaper than an async session.

    On SQLite each step through the async driver is a hand-off to its worker thread, and one short read costs
    five of them: about seven times the query itself (bench/README.md). In WAL mode a reader never waits for a
    writer, so those reads run on a read-only synchronous connection in the event-loop thread instead, with a
    short busy timeout as the bound on how long the loop could ever be held. Only indexed lookups of a few rows
    belong here: anything that scans goes through the async engine. PostgreSQL reads use the async engine.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sync: Engine | None = None
        if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            self._sync = sa_create_engine(engine.url.set(drivername="sqlite"))
            event.listen(self._sync, "connect", _read_only_pragmas)

    async def all(self, statement: Executable, params: dict[str, Any]) -> list[Row[Any]]:
        if self._sync is not None:
            with self._sync.connect() as conn:
                return list(conn.execute(statement, params).all())
        async with self.engine.connect() as conn:
            return list((await conn.execute(statement, params)).all())

    def dispose(self) -> None:
        if self._sync is not None:
            self._sync.dispose()


def _read_only_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.execute("PRAGMA busy_timeout=100")
    cursor.close()


def dialect_insert(session: AsyncSession, target: Any) -> Any:
    """``insert(target)`` with ``on_conflict_do_nothing``/``do_update``: both backends have INSERT ... ON
    CONFLICT, each through its own construct."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(target)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would eat a '%' in a password.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _run_upgrade(url: str, revision: str) -> None:
    command.upgrade(alembic_config(url), revision)


def _run_downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


async def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations. Alembic's async env runs its own event loop, so it goes to a worker thread."""
    async with _migration_lock(url):
        before = await known_revision_at(url)
        await asyncio.to_thread(_run_upgrade, url, revision)
        await _log_migrated(url, before)


# pg_advisory_lock key: processes starting together on one PostgreSQL database (shards) migrate one at a time.
_MIGRATION_LOCK = 0x41544C41534D4947  # "ATLASMIG"


@contextlib.asynccontextmanager
async def _migration_lock(url: str) -> AsyncIterator[None]:
    """On PostgreSQL, hold an advisory lock while migrating: the second process waits, then finds the schema
    current (two concurrent upgrades would both try to create the same tables)."""
    if not url.startswith("postgresql"):
        yield
        return
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(sql_text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
            await conn.commit()
            try:
                yield
            finally:
                await conn.execute(sql_text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK})
                await conn.commit()
    finally:
        await engine.dispose()


async def downgrade(url: str, revision: str) -> None:
    async with _migration_lock(url):  # as upgrade: never beside another process's migration
        before = await known_revision_at(url)
        await asyncio.to_thread(_run_downgrade, url, revision)
        await _log_migrated(url, before)


async def _log_migrated(url: str, before: str | None) -> None:
    # One line at INFO; Alembic's own lines (a step each, and its context chatter) are DEBUG detail.
    after = await current_revision_at(url)
    if after != before:
        log.info("database migrated from revision %s to %s", before or "none (empty)", after or "none (empty)")


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def revision_order() -> list[str]:
    """Every revision id, oldest first (the history is linear)."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def resolve_revision(revision: str) -> str | None:
    """``head``, ``base`` (None), a revision id or a unique prefix of one, as the full id; an unknown one is a
    SetupError naming the known ones."""
    if revision == "base":
        return None
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    try:
        found = script.get_revision(revision)
    except AlembicCommandError:
        found = None
    if found is None:
        known = ", ".join(revision_order())
        raise SetupError(f"unknown revision {revision!r}: this version of Atlas knows {known} (and head, base)")
    return found.revision


async def current_revision(engine: AsyncEngine) -> str | None:
    def _current(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(_current)


def check_sqlite_path(url: str) -> None:
    """Say plainly what is wrong with a SQLite path, rather than SQLite's "unable to open database file"
    (after which aiosqlite 0.22's worker thread may also print a traceback of its own)."""
    path = sqlite_file(url)
    if path is not None and (problem := sqlite_problem(path)) is not None:
        raise SetupError(problem)


async def current_revision_at(url: str) -> str | None:
    """The revision of the database at ``url``; None when it is empty or, for SQLite, when the file does not
    exist yet (without creating it, as connecting would)."""
    check_sqlite_path(url)
    path = sqlite_file(url)
    if path is not None and not path.exists():
        return None
    engine = create_engine(url)
    try:
        return await current_revision(engine)
    finally:
        await engine.dispose()


async def known_revision_at(url: str) -> str | None:
    """``current_revision_at``, refusing a revision this code does not know (a newer version migrated it):
    Alembic would fail on it with "Can't locate revision"."""
    current = await current_revision_at(url)
    if current is not None and current not in revision_order():
        raise SetupError(
            f"the database is at revision {current}, which this version of Atlas does not know (a newer version "
            "migrated it): run that version, or restore a backup"
        )
    return current
