"""Rebuilding the ledger's aggregates from the ledger itself: set-based SQL, batch by batch of members.

``member_points`` and ``member_kind_stats`` are maintained by ``ledger.record_event``; a rebuild recomputes them
from ``ledger_events`` after an upgrade (empty aggregates), a change of ``[community] timezone`` or a repair, and
awards the automatic badges already earned (quietly). At 10M events loading the ledger into Python is out of the
question (879 MiB and a 10.8 s loop stall at 1M), so the database does the work:

- the members are cut into batches of about ``batch_events`` events, by keyset on ``member_id`` (the index
  ``ix_ledger_events_member_created``); a member is never split, so each batch is complete in itself;
- per batch, one ``INSERT ... SELECT ... GROUP BY`` sums the batch's events per (member, kind, local day) into a
  small temporary table, from which ``member_points`` (week, month, all per category), ``member_kind_stats``
  (events, last week, streaks: "gaps and islands" with a window function) and the badge awards are inserted
  set-based. Python sees a handful of scalars per batch: memory is flat and the event loop is free while the
  database works (aiosqlite runs it in its thread; asyncpg awaits the server);
- periods are the community's, DST-aware, exactly as recording cuts them: a temporary table of the local days
  covering the ledger (the UTC instant each local date begins -> its week number, week start and month start,
  computed here with the same ``ledger`` functions; a few thousand rows) is looked up per event with an indexed
  ``max(utc_start) <= created_at``. Neither backend's own time-zone rules are used, so SQLite and PostgreSQL
  agree with recording to the microsecond.

Two ways to run it:

- ``rebuild(session, ...)`` (in ``bot.ledger``): every batch in the caller's one transaction (tests, repairs of
  one guild, tools);
- ``rebuild_in_batches(engine, ...)``: one short transaction per batch, so the bot keeps serving while it
  upgrades (``LedgerUpgrade``, started by the bot at start-up) and ``atlas-bot ledger-rebuild`` can run beside a
  running bot. A ``bot_state`` marker holds the last member rebuilt, so a stopped rebuild resumes where it was.

Recording during a batched rebuild stays exact because each batch replaces its members' aggregates atomically
with respect to recording: on SQLite the batch transaction starts with a write (the database's one write lock,
and the in-process ``WriteGate``), so no event commits inside it and its reads see every event committed before;
on PostgreSQL it starts with ``LOCK TABLE member_points, member_kind_stats IN SHARE ROW EXCLUSIVE MODE``, which
waits for recording transactions that already touched the aggregates (their events are then visible to the
batch's statements, READ COMMITTED) and makes later ones wait for the batch's commit (their events are then not
in the batch's sums, and their upserts add onto the rebuilt rows). Either way an event is counted exactly once:
by the rebuild if it committed before the batch, by its own upsert otherwise. A member whose batch is not rebuilt
yet gets upserts on stale rows, which the batch then replaces from the ledger. Recording waits at most one
batch (about ``BATCH_EVENTS`` events' work: a fraction of a second on a quiet machine, a few seconds under
load) rather than the whole rebuild.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot import ledger
from bot.db import dialect_insert
from bot.errors import UserError
from models import (
    BadgeAward,
    BoardCount,
    BotState,
    LedgerAdjustment,
    LedgerEvent,
    Member,
    MemberKindStats,
    MemberPoints,
)
from models.base import UTCDateTime
from models.recognition import BadgeRevocation

log = logging.getLogger(__name__)

# About this many ledger events per batch: a batch's transaction is short (recording waits at most that long)
# and its temporary table small, whatever the ledger's size.
BATCH_EVENTS = 20_000
# The resumable rebuild's marker: {"timezone": ..., "after": the last member_id rebuilt, or null}.
PENDING_KEY = "ledger.rebuild_pending"

ProgressCallback = Callable[[int, int], None]  # (events done, events in all), after each batch

# Temporary tables (per connection, dropped at the end): not in the models' metadata, so no migration.
_temp = MetaData()
DAYS = Table(
    "ledger_rebuild_days",
    _temp,
    # The UTC instant from which events are on this local date (until the next row's).
    Column("utc_start", UTCDateTime(), primary_key=True),
    Column("week_no", Integer, nullable=False),  # ledger._week_number of the date
    Column("week_start", UTCDateTime(), nullable=False),  # ledger.week_start, as recording stores it
    Column("month_start", UTCDateTime(), nullable=False),
    prefixes=["TEMPORARY"],
)
KINDS = Table(
    "ledger_rebuild_kinds",
    _temp,
    # kind -> its category other than "overall" (policy.categories_of), for the kinds that have one.
    Column("kind", String(40), primary_key=True),
    Column("category", String(20), nullable=False),
    prefixes=["TEMPORARY"],
)
BATCH = Table(
    "ledger_rebuild_batch",
    _temp,
    # One batch's counted events summed per (member, kind, local day).
    Column("member_id", Integer, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("day", UTCDateTime(), nullable=False),
    Column("guild_id", BigInteger, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("events", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)


@dataclass
class Totals:
    aggregates: int = 0  # member_points rows written
    members: int = 0  # members with counted events
    awarded: int = 0  # badges newly awarded


# -- the local days --------------------------------------------------------------------------------------------
def local_days(first: date, last: date, tz: tzinfo) -> list[tuple[datetime, date]]:
    """(UTC instant, local date) for each instant from which the local date is that date, first..last.

    Mostly each date's midnight (``ledger._local_midnight``: a midnight skipped by DST is the transition). Where
    a DST change turns the clock back across midnight, the date goes back to the day before for the repeated
    hour and forward again at the second midnight: three rows, so every instant maps to the date
    ``at.astimezone(tz).date()`` gives, as recording uses."""
    rows: list[tuple[datetime, date]] = []
    day = first
    while day <= last:
        start = ledger._local_midnight(day, tz)
        rows.append((start, day))
        again = datetime(day.year, day.month, day.day, fold=1, tzinfo=tz).astimezone(UTC)
        if again > start:  # midnight happens twice: the clock goes back to the previous date in between
            back = _offset_change(start, again, tz)
            rows.append((back, day - timedelta(days=1)))
            rows.append((again, day))
        day += timedelta(days=1)
    # Equal instants (the clock goes back exactly at midnight): the later row says what holds from then on.
    by_instant = {at: d for at, d in rows}
    return sorted(by_instant.items())


def _offset_change(lo: datetime, hi: datetime, tz: tzinfo) -> datetime:
    """The first instant in (lo, hi] with hi's UTC offset (transitions fall on whole seconds)."""
    target = hi.astimezone(tz).utcoffset()
    if lo.astimezone(tz).utcoffset() == target:
        return lo
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid.astimezone(tz).utcoffset() == target:
            hi = mid
        else:
            lo = mid
    return hi


# -- set-up ----------------------------------------------------------------------------------------------------
def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def _ledger_span(session: AsyncSession, guild_id: int | None) -> tuple[datetime, datetime] | None:
    """The first and last event time, through ``ix_ledger_events_guild_created`` (a few index probes per guild,
    not a scan of the ledger)."""
    guilds = [guild_id] if guild_id is not None else []
    if guild_id is None:
        # Each guild in turn by the index (a "skip scan"): there are few guilds, and many events.
        after: int | None = None
        while True:
            query = select(func.min(LedgerEvent.guild_id))
            if after is not None:
                query = query.where(LedgerEvent.guild_id > after)
            after = await session.scalar(query)
            if after is None:
                break
            guilds.append(after)
    first: datetime | None = None
    last: datetime | None = None
    for g in guilds:
        where = LedgerEvent.guild_id == g
        low = await session.scalar(select(func.min(LedgerEvent.created_at)).where(where))
        high = await session.scalar(select(func.max(LedgerEvent.created_at)).where(where))
        if low is None or high is None:
            continue
        first = low if first is None else min(first, low)
        last = high if last is None else max(last, high)
    return (first, last) if first is not None and last is not None else None


def _day_rows(first: date, last: date, tz: tzinfo) -> list[dict[str, Any]]:
    return [
        {
            "utc_start": at,
            "week_no": (d - date(1970, 1, 5)).days // 7,
            "week_start": ledger._local_midnight(d - timedelta(days=d.weekday()), tz),
            "month_start": ledger._local_midnight(d.replace(day=1), tz),
        }
        for at, d in local_days(first, last, tz)
    ]


async def _prepare(session: AsyncSession, policy: ledger.LedgerPolicy, guild_id: int | None) -> int:
    """Create and fill the temporary tables; returns how many events the rebuild will read."""
    await _drop_temp(session)
    conn = await session.connection()
    await conn.run_sync(_temp.create_all)
    tz = policy.tz
    span = await _ledger_span(session, guild_id)
    if span is not None:
        # A day of margin each side: the local date of an instant can be the UTC date's neighbour.
        first = span[0].astimezone(tz).date() - timedelta(days=1)
        last = span[1].astimezone(tz).date() + timedelta(days=1)
        # Built in a worker thread: years of days in a zone are tens of milliseconds of Python, off the loop.
        rows = await asyncio.to_thread(_day_rows, first, last, tz)
        for i in range(0, len(rows), 1000):  # small steps: a century of days is still only ~37,000 rows
            await session.execute(insert(DAYS), rows[i : i + 1000])
    kinds = [{"kind": k, "category": c} for k, c in policy.categories.items()]
    if kinds:
        await session.execute(insert(KINDS), kinds)
    if _dialect(session) == "postgresql":
        # Temporary tables get no statistics by themselves: without them the planner would not use the days'
        # index for the per-event lookup.
        await session.execute(text(f"ANALYZE {DAYS.name}, {KINDS.name}"))
    query = select(func.count()).select_from(LedgerEvent)
    if guild_id is not None:
        query = query.where(LedgerEvent.guild_id == guild_id)
    return int(await session.scalar(query) or 0)


async def _drop_temp(session: AsyncSession) -> None:
    for table in (BATCH, KINDS, DAYS):
        await session.execute(text(f"DROP TABLE IF EXISTS {table.name}"))


# -- one batch -------------------------------------------------------------------------------------------------
def _range(column: Any, lo: int | None, hi: int | None) -> list[Any]:
    where = []
    if lo is not None:
        where.append(column > lo)
    if hi is not None:
        where.append(column <= hi)
    return where


async def _next_bound(
    session: AsyncSession, lo: int | None, guild_id: int | None, batch_events: int
) -> int | None:
    """The member_id that closes a batch of about ``batch_events`` events after ``lo``; None: the rest fits."""
    query = select(LedgerEvent.member_id).where(*_range(LedgerEvent.member_id, lo, None))
    if guild_id is not None:
        query = query.where(LedgerEvent.guild_id == guild_id)
    return await session.scalar(query.order_by(LedgerEvent.member_id).offset(batch_events - 1).limit(1))


async def _rebuild_batch(
    session: AsyncSession,
    policy: ledger.LedgerPolicy,
    guild_id: int | None,
    lo: int | None,
    hi: int | None,
    *,
    at: datetime,
    badges: bool,
) -> Totals:
    """Replace the aggregates of the members in (lo, hi] (None: unbounded) from their events, in the caller's
    transaction; with ``badges``, award the automatic badges they earned (no announcement)."""
    if _dialect(session) == "postgresql":
        # See the module docstring: recording waits for this batch, or this batch for it. Recording and the
        # board-visibility trigger take member_points (ROW EXCLUSIVE) before any member's lock and this batch
        # takes no member lock, so the table lock is the first lock of every party: no cycle.
        await session.execute(text("LOCK TABLE member_points, member_kind_stats IN SHARE ROW EXCLUSIVE MODE"))
    # On SQLite the first statement below (an INSERT ... SELECT) is the transaction's first write: it takes the
    # write lock before anything is read, so the sums see every committed event and no writer runs until commit.
    mine = [*_range(MemberPoints.member_id, lo, hi)]
    stats = delete(MemberKindStats).where(*_range(MemberKindStats.member_id, lo, hi))
    if guild_id is not None:
        mine.append(MemberPoints.guild_id == guild_id)
        guild_members = select(Member.id).where(Member.guild_id == guild_id)
        stats = stats.where(MemberKindStats.member_id.in_(guild_members))
    # The leaderboards' counts follow the rows replaced here (-1 now, +1 for the new rows below), so ranks stay
    # exact batch by batch, even beside a running bot.
    counted_from = int(await session.scalar(select(func.coalesce(func.max(BoardCount.id), 0))) or 0)
    await ledger.count_board_rows(session, mine, -1)
    await session.execute(delete(MemberPoints).where(*mine))
    await session.execute(stats)
    await session.execute(delete(BATCH))

    # The batch's counted events (those on one's own content are not) per member, kind and local day.
    day = select(func.max(DAYS.c.utc_start)).where(DAYS.c.utc_start <= LedgerEvent.created_at).scalar_subquery()
    not_self = ~exists().where(LedgerAdjustment.event_id == LedgerEvent.id, LedgerAdjustment.reason == ledger.SELF)
    events = (
        select(
            LedgerEvent.member_id.label("member_id"),
            LedgerEvent.kind.label("kind"),
            day.label("day"),
            LedgerEvent.guild_id.label("guild_id"),
            LedgerEvent.points.label("points"),
        )
        .where(*_range(LedgerEvent.member_id, lo, hi), not_self)
        .where(*([LedgerEvent.guild_id == guild_id] if guild_id is not None else []))
        .subquery()
    )
    summed = select(
        events.c.member_id,
        events.c.kind,
        events.c.day,
        func.min(events.c.guild_id),
        func.sum(events.c.points),
        func.count(),
    ).group_by(events.c.member_id, events.c.kind, events.c.day)
    await session.execute(
        insert(BATCH).from_select(["member_id", "kind", "day", "guild_id", "points", "events"], summed)
    )
    totals = Totals()
    totals.members = int(await session.scalar(select(func.count(func.distinct(BATCH.c.member_id)))) or 0)
    if not totals.members:
        return totals

    # member_points: week, month and all time, for "overall" (every kind) and the kind's own category.
    days = BATCH.join(DAYS, DAYS.c.utc_start == BATCH.c.day)
    parts = []
    for window, period in (("week", DAYS.c.week_start), ("month", DAYS.c.month_start), ("all", None)):
        for by_category in (False, True):
            source = days.join(KINDS, KINDS.c.kind == BATCH.c.kind) if by_category else days
            category = KINDS.c.category if by_category else literal("overall", String(20))
            start = period if period is not None else literal(ledger.ALL_TIME, UTCDateTime())
            group = [BATCH.c.member_id] + ([KINDS.c.category] if by_category else [])
            group += [period] if period is not None else []
            parts.append(
                select(
                    BATCH.c.member_id,
                    category,
                    literal(window, String(8)),
                    start,
                    func.min(BATCH.c.guild_id),
                    func.sum(BATCH.c.points),
                    func.sum(BATCH.c.events),
                )
                .select_from(source)
                .group_by(*group)
            )
    columns = ["member_id", "category", "period_kind", "period_start", "guild_id", "points", "events"]
    for part in parts:
        result = await session.execute(insert(MemberPoints).from_select(columns, part))
        totals.aggregates += max(0, result.rowcount or 0)
    await session.execute(
        update(MemberPoints)
        .where(*mine, MemberPoints.member_id.in_(ledger.hidden_members()))
        .values(visible=False)
        .execution_options(synchronize_session=False)
    )
    await ledger.count_board_rows(session, mine, +1)
    # Folded at once: left as +1/-1 rows, a few hundred batches would leave about a row per member per value and
    # the rank's sum over the values above would cost what counting everyone ahead did.
    counted_to = await session.scalar(select(func.max(BoardCount.id)))
    if counted_to is not None and counted_to > counted_from:
        await ledger.fold_board_counts(session, counted_to, after=counted_from)

    # member_kind_stats: a run of consecutive weeks is an "island" whose week_no - row_number is constant.
    islands = _islands(BATCH.c.kind)
    kind_stats = select(
        islands.c.member_id,
        islands.c.key,
        func.sum(islands.c.events),
        func.max(islands.c.last_week),
        func.max(islands.c.current),
        func.max(islands.c.length),
    ).group_by(islands.c.member_id, islands.c.key)
    await session.execute(
        insert(MemberKindStats).from_select(
            ["member_id", "kind", "events", "last_week", "streak", "best_streak"], kind_stats
        )
    )
    if badges:
        totals.awarded = await _award_badges(session, policy, at)
    return totals


def _islands(key: Any, *where: Any) -> Any:
    """The batch's weekly runs per (member_id, key): each run of consecutive week numbers as (member_id, key,
    length, last_week, current, events, guild_id), where ``current`` is the length of the latest run (0 on the
    others: the streak ending at the last week) and ``events`` the run's events. One pipeline of GROUP BYs and
    window functions over the small batch table, no join of derived tables (SQLite would loop over them)."""
    weeks = (
        select(
            BATCH.c.member_id,
            key.label("key"),
            DAYS.c.week_no,
            func.sum(BATCH.c.events).label("events"),
            func.min(BATCH.c.guild_id).label("guild_id"),
        )
        .select_from(BATCH.join(DAYS, DAYS.c.utc_start == BATCH.c.day))
        .where(*where)
        .group_by(BATCH.c.member_id, key, DAYS.c.week_no)
        .subquery()
    )
    by_member = [weeks.c.member_id, weeks.c.key]
    numbered = select(
        weeks,
        (weeks.c.week_no - func.row_number().over(partition_by=by_member, order_by=weeks.c.week_no)).label(
            "island"
        ),
    ).subquery()
    runs = (
        select(
            numbered.c.member_id,
            numbered.c.key,
            numbered.c.island,
            func.count().label("length"),
            func.max(numbered.c.week_no).label("last_week"),
            func.sum(numbered.c.events).label("events"),
            func.min(numbered.c.guild_id).label("guild_id"),
        )
        .group_by(numbered.c.member_id, numbered.c.key, numbered.c.island)
        .subquery()
    )
    # Islands are numbered in time order (the gaps only grow), so the latest is the one with the largest number.
    latest = func.max(runs.c.island).over(partition_by=[runs.c.member_id, runs.c.key])
    return select(
        runs.c.member_id,
        runs.c.key,
        runs.c.length,
        runs.c.last_week,
        case((runs.c.island == latest, runs.c.length), else_=0).label("current"),
        runs.c.events,
        runs.c.guild_id,
    ).subquery()


async def _award_badges(session: AsyncSession, policy: ledger.LedgerPolicy, at: datetime) -> int:
    """Award the batch's members every automatic badge whose rule holds, set-based, one INSERT per rule. Held
    badges are left alone (ON CONFLICT) and revoked ones stay revoked. Count and points rules sum the batch's
    counted events (what member_kind_stats and member_points 'all' now hold); a streak rule takes the longest
    weekly run over the union of its kinds."""
    awarded = 0
    for badge in policy.badges:
        rule = badge.rule
        if isinstance(rule, ledger.CountRule):
            earned = (
                select(BATCH.c.member_id, func.min(BATCH.c.guild_id).label("guild_id"))
                .where(BATCH.c.kind.in_(sorted(rule.kinds)))
                .group_by(BATCH.c.member_id)
                .having(func.sum(BATCH.c.events) >= rule.at_least)
            )
        elif isinstance(rule, ledger.PointsRule):
            earned = select(BATCH.c.member_id, func.min(BATCH.c.guild_id).label("guild_id"))
            if rule.category != "overall":
                earned = earned.join(KINDS, KINDS.c.kind == BATCH.c.kind).where(KINDS.c.category == rule.category)
            earned = earned.group_by(BATCH.c.member_id).having(func.sum(BATCH.c.points) >= rule.at_least)
        elif isinstance(rule, ledger.StreakRule):
            runs = _islands(literal(0), BATCH.c.kind.in_(sorted(rule.kinds)))
            earned = (
                select(runs.c.member_id, func.min(runs.c.guild_id).label("guild_id"))
                .group_by(runs.c.member_id)
                .having(func.max(runs.c.length) >= rule.weeks)
            )
        else:
            continue
        found = earned.subquery()
        revoked = exists().where(
            BadgeRevocation.member_id == found.c.member_id, BadgeRevocation.badge_key == badge.key
        )
        rows = select(
            found.c.guild_id,
            found.c.member_id,
            literal(badge.key, String(60)),
            literal(at, UTCDateTime()),
            literal("", String(200)),
        ).where(~revoked)
        stmt = dialect_insert(session, BadgeAward).from_select(
            ["guild_id", "member_id", "badge_key", "awarded_at", "reason"], rows
        )
        result = await session.execute(stmt.on_conflict_do_nothing(index_elements=["member_id", "badge_key"]))
        awarded += max(0, result.rowcount or 0)
    return awarded


# -- driving the batches ---------------------------------------------------------------------------------------
async def _events_in(session: AsyncSession, lo: int | None, hi: int | None, guild_id: int | None) -> int:
    query = select(func.count()).select_from(LedgerEvent).where(*_range(LedgerEvent.member_id, lo, hi))
    if guild_id is not None:
        query = query.where(LedgerEvent.guild_id == guild_id)
    return int(await session.scalar(query) or 0)


async def _batches(
    session: AsyncSession,
    policy: ledger.LedgerPolicy,
    guild_id: int | None,
    *,
    at: datetime,
    badges: bool,
    total: int,
    progress: ProgressCallback | None,
    batch_events: int,
    lo: int | None = None,
    done: int = 0,
    after_batch: Callable[[int | None], Awaitable[None]] | None = None,
) -> Totals:
    """Every batch of members after ``lo``, in member order; ``after_batch(hi)`` ends each (commits it)."""
    if batch_events < 1:
        raise ValueError("batch_events must be at least 1")
    totals = Totals()
    while True:
        hi = await _next_bound(session, lo, guild_id, batch_events)
        batch = await _rebuild_batch(session, policy, guild_id, lo, hi, at=at, badges=badges)
        count = await _events_in(session, lo, hi, guild_id)
        if after_batch is not None:
            await after_batch(hi)
        totals.aggregates += batch.aggregates
        totals.members += batch.members
        totals.awarded += batch.awarded
        done += count
        if progress is not None:
            progress(min(done, total), total)
        if hi is None:
            return totals
        lo = hi


async def _finish(
    session: AsyncSession, policy: ledger.LedgerPolicy, guild_id: int | None, *, marker: bool = False
) -> None:
    """After the last batch, in its transaction's successor (or the same one). ``marker``: the zone marker is
    the guild's own (the bot's start-up rebuild of its guild); otherwise only a rebuild of every guild sets it."""
    if guild_id is None or marker:
        await ledger._remember_timezone(session, policy, guild_id)
        await session.execute(delete(BotState).where(BotState.key == _pending_key(guild_id)))
    # The board counts were kept batch by batch (_rebuild_batch); ledger.rebuild_ranks is the full recompute.
    await _drop_temp(session)


async def rebuild_in_session(
    session: AsyncSession,
    policy: ledger.LedgerPolicy,
    *,
    at: datetime,
    guild_id: int | None = None,
    badges: bool = True,
    progress: ProgressCallback | None = None,
    batch_events: int = BATCH_EVENTS,
) -> Totals:
    """Every batch in the session's current transaction (``ledger.rebuild`` and ``rebuild_aggregates``)."""
    await session.flush()
    total = await _prepare(session, policy, guild_id)
    if progress is not None:
        progress(0, total)
    totals = await _batches(
        session, policy, guild_id, at=at, badges=badges, total=total, progress=progress, batch_events=batch_events
    )
    await _finish(session, policy, guild_id)
    return totals


def _pending_key(guild_id: int | None) -> str:
    return PENDING_KEY if guild_id is None else f"{PENDING_KEY}:{guild_id}"


async def pending(session: AsyncSession, guild_id: int | None = None) -> dict[str, Any] | None:
    """The marker of a batched rebuild that has not finished (the bot stopped during it), if any: of every
    guild's, or (given) of that guild's own."""
    keys = [_pending_key(guild_id), PENDING_KEY]
    rows = dict((await session.execute(select(BotState.key, BotState.value).where(BotState.key.in_(keys)))).all())
    raw = next((rows[k] for k in keys if k in rows), None)
    return json.loads(raw) if raw else None


async def _set_pending(session: AsyncSession, timezone: str, after: int | None, guild_id: int | None) -> None:
    value = json.dumps({"timezone": timezone, "after": after})
    stmt = dialect_insert(session, BotState).values(key=_pending_key(guild_id), value=value)
    await session.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value}))


async def rebuild_in_batches(
    engine: AsyncEngine,
    policy: ledger.LedgerPolicy,
    *,
    at: datetime,
    progress: ProgressCallback | None = None,
    force: bool = False,
    batch_events: int = BATCH_EVENTS,
    guild_id: int | None = None,
) -> ledger.RebuildResult | None:
    """Rebuild every guild's aggregates (or ``guild_id``'s only: the bot's, whose ``[community] timezone`` is its
    own) and award the badges earned, committing batch by batch, so recording and reading go on meanwhile (see
    the module docstring); None when not needed (``force``: rebuild anyway).

    Resumes a rebuild that stopped half-way in the same zone. On PostgreSQL a session advisory lock (the key
    ``ledger.rebuild_if_needed`` takes too) makes a second process wait and then find the work done, so two
    processes starting together rebuild once. (Two processes on one SQLite file may both rebuild: each batch is
    atomic and idempotent, so the result is the same, only done twice.)"""
    async with engine.connect() as conn:
        # One connection throughout: the temporary tables live in it. The session owns each transaction on it.
        session = AsyncSession(bind=conn, expire_on_commit=False)
        postgres = conn.dialect.name == "postgresql"
        try:
            if postgres:
                await session.execute(text("SELECT pg_advisory_lock(:cls, 0)"), {"cls": ledger.LOCK_CLASS})
                await session.commit()  # the lock is the session's (the connection's), not the transaction's
            if guild_id is not None and await pending(session) is not None:
                guild_id = None  # a rebuild of every guild stopped half-way (`atlas-bot ledger-rebuild`): end it
            if not force and not await ledger.needs_rebuild(session, policy, guild_id):
                # An empty ledger: its aggregates use this zone.
                await ledger._remember_timezone(session, policy, guild_id)
                await session.commit()
                return None
            marker = None if force else await pending(session, guild_id)
            lo = marker["after"] if marker is not None and marker.get("timezone") == policy.timezone else None
            # The marker first: on SQLite a transaction's first write must come before its reads of the database,
            # or another process's commit in between makes the write fail at once ("database is locked").
            await _set_pending(session, policy.timezone, lo, guild_id)
            total = await _prepare(session, policy, guild_id)
            done = await _events_in(session, None, lo, guild_id) if lo is not None else 0
            await session.commit()
            if progress is not None:
                progress(done, total)
            if lo is not None:
                log.warning("ledger: resuming the rebuild after member %d (%d of %d events done)", lo, done, total)

            async def commit_batch(hi: int | None) -> None:
                await _set_pending(session, policy.timezone, hi, guild_id)
                await session.commit()

            totals = await _batches(
                session,
                policy,
                guild_id,
                at=at,
                badges=True,
                total=total,
                progress=progress,
                batch_events=batch_events,
                lo=lo,
                done=done,
                after_batch=commit_batch,
            )
            await _finish(session, policy, guild_id, marker=True)
            await session.commit()
            return ledger.RebuildResult(totals.aggregates, totals.members, totals.awarded)
        finally:
            await session.rollback()
            if postgres:
                await session.execute(text("SELECT pg_advisory_unlock_all()"))
                await session.commit()
            await session.close()


# -- the bot's first-start rebuild -----------------------------------------------------------------------------
class LedgerUpgrade:
    """The first start after an upgrade (or a change of ``[community] timezone``) rebuilds the aggregates in the
    background while the bot serves; ``ready`` is set once they are current. Features that read the aggregates
    (leaderboards, badges, reputation, the journey's points) check ``ready`` and say "upgrading (N% done)"
    meanwhile; recording needs no check (see the module docstring). It belongs to the bot, not to one cog: every
    feature reads the same aggregates."""

    RETRY_SECONDS = 30.0
    MAX_RETRY_SECONDS = 1800.0

    def __init__(self, engine: AsyncEngine, clock: Any, guild_id: int | None = None) -> None:
        self.engine = engine
        self.clock = clock
        # The bot's guild: another community's bot on the same database has its own zone and boards.
        self.guild_id = guild_id
        self.ready = asyncio.Event()
        self.done = 0
        self.total = 0
        self.batch_events = BATCH_EVENTS
        self._task: asyncio.Task[None] | None = None

    @property
    def percent(self) -> int | None:
        """How far the rebuild is, 0-100; None before it knows its size."""
        if not self.total:
            return None
        return min(99, self.done * 100 // self.total)  # 100 is "ready", after the last commit

    def _progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    async def start(self, policy: ledger.LedgerPolicy) -> None:
        """Set ``ready`` now when nothing is to rebuild (the usual start: one quick query), else start the
        rebuild as a background task."""
        async with AsyncSession(self.engine) as session:
            needed = await ledger.needs_rebuild(session, policy, self.guild_id)
        if not needed:
            async with AsyncSession(self.engine) as session, session.begin():
                await ledger._remember_timezone(session, policy, self.guild_id)
            self.ready.set()
            return
        log.warning(
            "ledger: the aggregates must be rebuilt from the ledger; serving meanwhile (reads say upgrading)"
        )
        self._task = asyncio.create_task(self._run(policy), name="atlas-ledger-upgrade")

    async def _run(self, policy: ledger.LedgerPolicy) -> None:
        delay = self.RETRY_SECONDS
        while True:
            try:
                result = await rebuild_in_batches(
                    self.engine,
                    policy,
                    at=self.clock.now(),
                    progress=self._progress,
                    batch_events=self.batch_events,
                    guild_id=self.guild_id,
                )
                break
            except asyncio.CancelledError:
                raise
            except Exception:
                # A locked database, a lost connection: the batches done are kept (the marker), so retry later,
                # less and less often (a failure that repeats is a bug for a maintainer, not for the retries).
                log.exception(
                    "ledger: the rebuild failed; retrying in %.0f s (or run `atlas-bot ledger-rebuild` to see it)",
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.MAX_RETRY_SECONDS)
        if result is not None:
            log.warning(
                "ledger: built the aggregates from the ledger (%d members, %d rows) and awarded %d badge(s) "
                "already earned, without announcements",
                result.members,
                result.aggregates,
                result.awarded,
            )
        self.ready.set()

    async def wait(self) -> None:
        await self.ready.wait()

    def ensure_ready(self) -> None:
        """For a command that reads the aggregates: while they are being rebuilt they would be partial, so say
        so (an ephemeral ``UserError``) instead of showing wrong boards, badges or journey points."""
        if self.ready.is_set():
            return
        done = f" ({self.percent}% done)" if self.percent is not None else ""
        raise UserError(f"Atlas is upgrading its contribution ledger{done}; try again in a minute.")

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
