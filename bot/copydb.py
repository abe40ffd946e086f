"""``atlas-bot copy-db SRC_URL DST_URL``: every table of one database into another (SQLite to PostgreSQL, say).

The copy goes through the models' own column types, so what SQLite stores as text (times, JSON) arrives in
PostgreSQL as ``timestamptz`` and ``jsonb`` values, not as strings. Rules:

- The source must be at the newest revision (``atlas-bot migrate`` first): both sides then have the same tables.
- The destination is migrated here when it is empty, and must hold no rows at all: copying into a database the
  bot already uses would mix two communities' data or collide on ids, so a non-empty one is refused.
- Tables go in foreign-key order (parents first), each in batches ordered by primary key, all in **one
  transaction** on the destination: a failure half-way (a lost connection, a full disk) rolls everything back
  and the destination is empty again, ready for another try. The source is only read.
- PostgreSQL's sequences are moved past the copied ids (otherwise the next insert collides with id 1), what is
  derived is rebuilt from the copied rows (the Q&A search index, a different shape per backend, and the
  leaderboard's ``board_counts``, which triggers keep), and each table's row count is compared on both sides.

Stop the bot before copying: rows written to the source meanwhile would be missed by tables copied earlier.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot import db
from bot.failures import SetupError, sqlite_file

BATCH_ROWS = 1000

# Kept by triggers as other tables are written (migration 0010): not copied but recomputed from the copied rows
# (copying them too would count every member twice, once copied and once by the trigger on the insert).
DERIVED_TABLES = frozenset({"board_counts"})

Progress = Callable[[str, int, int], None]  # table, rows copied so far, rows in the table


@dataclass(frozen=True)
class CopyResult:
    counts: dict[str, int]  # rows per table, equal on both sides
    search_documents: int

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class CopyError(Exception):
    """The copy failed or did not verify; the message says what happened and what state each side is in."""


class Unreachable(Exception):
    """One side could not be opened; ``side`` says which (the cause says why)."""

    def __init__(self, side: str, url: str) -> None:
        super().__init__(f"the {side} database cannot be opened")
        self.side, self.url = side, url


async def _probe(url: str, side: str) -> None:
    path = sqlite_file(url)
    if path is not None and not path.exists():
        if side == "source":
            raise SetupError(f"the source database {path} does not exist")
        return  # a new SQLite destination file is created by the migration
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise Unreachable(side, url) from exc
    finally:
        await engine.dispose()


def tables() -> list[Table]:
    """Every mapped table that holds facts (not ``DERIVED_TABLES``), parents before children."""
    import models

    return [t for t in models.Base.metadata.sorted_tables if t.name not in DERIVED_TABLES]


def label(url: str) -> str:
    """A URL fit for a message: the password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


async def _counts(conn: AsyncConnection, names: list[Table]) -> dict[str, int]:
    return {t.name: int((await conn.execute(select(func.count()).select_from(t))).scalar_one()) for t in names}


async def _check_revisions(src_url: str, dst_url: str) -> None:
    head = db.head_revision()
    await _probe(src_url, "source")
    await _probe(dst_url, "destination")
    src = await db.known_revision_at(src_url)
    if src != head:
        raise SetupError(
            f"the source database is at revision {src or 'none (empty)'}, not {head}: run `atlas-bot migrate` "
            "with it first (stop the bot while copying)"
        )
    dst = await db.known_revision_at(dst_url)
    if dst is None:
        await db.upgrade(dst_url)
    elif dst != head:
        raise SetupError(
            f"the destination database is at revision {dst}, not {head}: copy into an empty database (or one "
            "migrated by this version of Atlas and never used)"
        )


async def copy_database(
    src_url: str, dst_url: str, *, batch_rows: int = BATCH_ROWS, progress: Progress | None = None
) -> CopyResult:
    if _same(src_url, dst_url):
        raise SetupError("the source and destination are the same database")
    await _check_revisions(src_url, dst_url)
    order = tables()
    src = db.create_engine(src_url)
    dst = db.create_engine(dst_url)
    try:
        async with src.connect() as source:
            expected = await _counts(source, order)
            async with dst.connect() as target:
                present = {name: n for name, n in (await _counts(target, order)).items() if n}
                await target.rollback()  # end the reads' transaction: the copy's own begins below
                if present:
                    names = [f"{name} ({n:,})" for name, n in sorted(present.items())]
                    more = f" and {len(names) - 5} more table(s)" if len(names) > 5 else ""
                    listed = ", ".join(names[:5]) + more
                    raise SetupError(
                        f"the destination database is not empty: {listed}; copy-db only fills an empty database "
                        "(create a new one, or drop and recreate it)"
                    )
                if target.dialect.name == "postgresql":
                    # SQLite ignores VARCHAR(n); PostgreSQL refuses a longer value, and would roll the whole copy
                    # back with an error naming neither the row nor the column. Found first, named here.
                    long = await _over_long(source, order)
                    if long:
                        more = f" and {len(long) - 5} more" if len(long) > 5 else ""
                        raise SetupError(
                            "values too long for their columns in PostgreSQL (SQLite does not enforce the sizes): "
                            + "; ".join(long[:5])
                            + more
                            + ". Shorten them in the source, then copy again; nothing was written"
                        )
                try:
                    async with target.begin():
                        await _copy_tables(source, target, order, expected, batch_rows, progress)
                        await _reset_sequences(target, order)
                        documents = await _rebuild_derived(target)
                except Exception as exc:
                    raise CopyError(
                        f"the copy failed and was rolled back, the destination is empty again (the source is "
                        f"unchanged): {type(exc).__name__}: {_short(exc)}"
                    ) from exc
        async with src.connect() as source, dst.connect() as target:
            before, after = await _counts(source, order), await _counts(target, order)
        wrong = [
            f"{name}: {expected[name]:,} read, {after[name]:,} in the destination, {before[name]:,} in the "
            "source now"
            for name in expected
            if not (expected[name] == after[name] == before[name])
        ]
        if wrong:
            raise CopyError(
                "the row counts differ after the copy (was the bot running on the source?): " + "; ".join(wrong)
            )
        return CopyResult(after, documents)
    finally:
        await src.dispose()
        await dst.dispose()


async def _over_long(source: AsyncConnection, order: list[Table]) -> list[str]:
    """Each value longer than its column's declared length: table, row (primary key), column, length."""
    found: list[str] = []
    for table in order:
        keys = list(table.primary_key.columns)
        for column in table.columns:
            limit = getattr(column.type, "length", None)
            if not limit:
                continue
            rows = await source.execute(
                select(*keys, func.length(column)).where(func.length(column) > limit).order_by(*keys).limit(10)
            )
            for row in rows:
                row_id = ", ".join(f"{k.name}={v}" for k, v in zip(keys, row[:-1], strict=True))
                found.append(
                    f"{table.name} row {row_id}, column {column.name}: {row[-1]} characters, at most {limit}"
                )
    return found


def _same(a: str, b: str) -> bool:
    from sqlalchemy.engine import make_url

    pa, pb = sqlite_file(a), sqlite_file(b)
    if pa is not None and pb is not None:
        return pa.resolve() == pb.resolve()
    return make_url(a) == make_url(b)


def _short(exc: BaseException) -> str:
    message = str(exc).splitlines()[0] if str(exc) else ""
    return message[:300]


async def _copy_tables(
    source: AsyncConnection,
    target: AsyncConnection,
    order: list[Table],
    expected: dict[str, int],
    batch_rows: int,
    progress: Progress | None,
) -> None:
    for table in order:
        keys = list(table.primary_key.columns) or list(table.columns)
        done = 0
        # Keyset pagination on the primary key's first column would skip rows of a composite key that share it;
        # a server-side cursor streams the table in key order instead, a batch in memory at a time.
        result = await source.stream(select(table).order_by(*keys))
        async for rows in result.partitions(batch_rows):
            await target.execute(table.insert(), [dict(row._mapping) for row in rows])
            done += len(rows)
            if progress is not None:
                progress(table.name, done, expected[table.name])
        if progress is not None and done == 0:
            progress(table.name, 0, 0)


async def _reset_sequences(target: AsyncConnection, order: list[Table]) -> None:
    """PostgreSQL: each serial/identity column's sequence to its table's largest id, so new rows get new ids."""
    if target.dialect.name != "postgresql":
        return  # SQLite's INTEGER PRIMARY KEY takes max(rowid) + 1 by itself
    for table in order:
        for column in table.primary_key.columns:
            sequence = (
                await target.execute(
                    text("SELECT pg_get_serial_sequence(:table, :column)"),
                    {"table": table.name, "column": column.name},
                )
            ).scalar_one()
            if sequence is None:
                continue
            await target.execute(
                text(
                    f'SELECT setval(:seq, coalesce((SELECT max("{column.name}") FROM "{table.name}"), 1), '
                    f'(SELECT max("{column.name}") FROM "{table.name}") IS NOT NULL)'
                ),
                {"seq": sequence},
            )


async def _rebuild_derived(target: AsyncConnection) -> int:
    """The search index and the leaderboard counts from the copied rows; returns the questions indexed."""
    from bot.ledger import rebuild_ranks
    from cogs.qa import search

    # Joins the copy's transaction: committed (or rolled back) with the rows.
    session = AsyncSession(bind=target)
    try:
        await rebuild_ranks(session)
        return await search.rebuild(session)
    finally:
        await session.close()
