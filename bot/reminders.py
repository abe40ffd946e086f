"""Durable one-shot reminders: the ``reminders`` table is the truth, the scheduler only wakes us up.

Life of a reminder: ``pending`` -> claimed with one atomic UPDATE (so two processes, or a restart, never send
it twice) -> ``sent``, or back to ``pending`` with a later due time after a transient Discord error (429/5xx),
or ``failed`` with the reason after a permanent one (403/404) or too many attempts, or ``dropped`` when it is
found after its kind's grace period or its own expiry (an office-hour reminder after the session started).

Dispatch is shaped by bursts (a raid or an event brings hundreds of joins at once, each a greeting reminder):

- Due reminders are claimed **in batches with one statement** (``UPDATE ... WHERE id IN (SELECT ... LIMIT n
  [FOR UPDATE SKIP LOCKED]) RETURNING``), never row by row: one write per batch is all the SQLite write lock
  sees, and two processes never block on (or double-claim) the same rows.
- Claimed reminders are **sent concurrently**, up to ``max_in_flight`` at once: a send mostly waits on Discord
  (rate limits), so one slow send must not hold up the others. ``run_due`` keeps claiming while there is room
  and wakes on ``notify()`` (a new reminder committed), so what falls due during a burst goes out in the same
  pass instead of waiting for the next one.
- A kind may be **coalesced** (``ReminderKind(batch_handler=..., batch_size=n)``): up to ``n`` due reminders of
  it go to one call (one channel post welcoming many members), and only one call per kind runs at a time in a
  process, so what falls due while a post is on its way waits and joins the next one. Each reminder still has
  its own row and state: nobody is announced twice, and nobody is missed after a restart. A coalesced kind with
  a ``digest_window`` posts at most once per window (by the clock): the first award after a quiet spell goes
  out at once, the rest of the hour gathers into a few digests.

Sending is paced by Discord's rate limits before anything is claimed (``bot.pacing``):

- A kind that posts into one channel (or edits members of one guild) names its ``lane``: the dispatcher claims
  that lane's reminders no faster than the lane's bucket lets them out (5 messages per 5 s in a channel), so a
  busy channel's backlog waits in the table, not in the dispatcher's slots, and never holds up the DMs.
- The other one-by-one kinds (DMs) start at most ``send_rate`` sends per second, under the global limit that
  the HTTP pacer enforces, so the HTTP queue stays short for everything else the bot does meanwhile.
- **One claim per reminder**: each claim statement takes a whole batch (a coalesced kind's batch, a lane's free
  room, or half the in-flight slots for the rest), and a claimed row is written again only with its outcome.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import event, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db import dialect_insert
from bot.pacing import GlobalPacer, Lane, SendWindow
from models import Reminder

log = logging.getLogger(__name__)

_T = TypeVar("_T")

PENDING, CLAIMED, SENT, FAILED, DROPPED = "pending", "claimed", "sent", "failed", "dropped"

# A claim older than this belongs to a process that died mid-send; the reminder goes back to pending. That
# makes delivery at-least-once across a crash, and exactly-once otherwise.
STALE_CLAIM = timedelta(minutes=10)


class TransientSendError(Exception):
    """Sending failed for now (rate limit, Discord 5xx, network); try again later."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentSendError(Exception):
    """Sending can never succeed (no permission, unknown channel or user, DMs closed)."""


Handler = Callable[[Reminder], Awaitable[None]]
# Sends several reminders of one kind at once; returns the ones that failed on their own (by id), if any.
BatchHandler = Callable[[list[Reminder]], Awaitable[dict[int, Exception] | None]]


@dataclass(frozen=True)
class ReminderKind:
    name: str
    handler: Handler | None = None
    # How late a reminder of this kind may still go out; None means use the configured default.
    grace: timedelta | None = None
    # Coalesced kinds: up to batch_size due reminders go to batch_handler in one call (instead of handler).
    batch_handler: BatchHandler | None = None
    batch_size: int = 1
    # Paced: a batch starts at most this often (in a process), gathering whatever fell due meanwhile.
    batch_interval: timedelta = timedelta(0)
    # The Discord bucket its sends go through (a channel's messages): claimed no faster than it lets them out.
    lane: Lane | None = None
    # Coalesced kinds: after a batch, the next waits this long by the clock, gathering a digest (in a process).
    digest_window: timedelta = timedelta(0)
    # Transient failures: attempts before giving up (None: the dispatcher's ``max_attempts``) and the longest
    # wait between two (None: no cap). A kind whose handler has its own late policy keeps retrying, capped,
    # instead of failing for good after a few minutes of Discord trouble.
    max_attempts: int | None = None
    max_backoff: timedelta | None = None

    def __post_init__(self) -> None:
        if (self.handler is None) == (self.batch_handler is None):
            raise ValueError(f"reminder kind {self.name!r} needs exactly one of handler and batch_handler")


@dataclass(frozen=True)
class Outcome:
    reminder_id: int
    kind: str
    state: str
    detail: str = ""


def classify_error(exc: BaseException) -> Exception:
    """Map an exception from a handler to transient or permanent, in one place.

    discord.py already retries 429s and some 5xx itself; what reaches us has outlasted those retries.
    """
    if isinstance(exc, TransientSendError | PermanentSendError):
        return exc
    import discord  # the core may know discord; kept local so this module's rules stay importable without it

    if isinstance(exc, discord.RateLimited):
        return TransientSendError(f"rate limited for {exc.retry_after:.1f}s", exc.retry_after)
    if isinstance(exc, discord.Forbidden | discord.NotFound):
        return PermanentSendError(f"{exc.status} {exc.text or exc.__class__.__name__} (code {exc.code})")
    if isinstance(exc, discord.HTTPException):
        if exc.status == 429 or exc.status >= 500:
            return TransientSendError(f"Discord answered {exc.status}")
        return PermanentSendError(f"{exc.status} {exc.text} (code {exc.code})")
    if isinstance(exc, OSError | TimeoutError):
        return TransientSendError(f"network: {exc!r}")
    return exc  # a bug: the caller logs it with its traceback


async def add(
    session: AsyncSession,
    *,
    kind: str,
    guild_id: int,
    target_id: int,
    due_at: datetime,
    created_at: datetime,
    payload: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
    expires_at: datetime | None = None,
) -> int | None:
    """Add the reminder row in the caller's transaction; its id, or None when (kind, dedupe_key) exists.

    ``Reminders.schedule`` is the usual way in; this is for code that has only a session (the ledger): its
    caller wakes the dispatcher (``bot.scheduler.kick()``) or the next poll finds the row. One statement (INSERT
    ... ON CONFLICT DO NOTHING), since it sits inside hot write transactions."""
    if due_at.tzinfo is None:
        raise ValueError("due_at must be timezone-aware")
    statement = (
        dialect_insert(session, Reminder)
        .values(
            kind=kind,
            guild_id=guild_id,
            target_id=target_id,
            payload=payload or {},
            dedupe_key=dedupe_key,
            due_at=due_at,
            expires_at=expires_at,
            state=PENDING,
            attempts=0,
            created_at=created_at,
        )
        .on_conflict_do_nothing(index_elements=["kind", "dedupe_key"])
        .returning(Reminder.id)
    )
    return await session.scalar(statement)


async def add_many(
    session: AsyncSession,
    *,
    kind: str,
    guild_id: int,
    due_at: datetime,
    created_at: datetime,
    targets: Sequence[tuple[int, str | None, dict[str, Any]]],
) -> int:
    """``add`` for many (target id, dedupe key, payload) of one kind: INSERT ... ON CONFLICT DO
    NOTHING, so a key that exists is skipped as ``add`` skips it. Returns how many were added; the caller wakes
    the dispatcher (``bot.scheduler.kick()``) after the commit, or the next poll finds them.

    The rows go as parameters of one prebuilt statement (SQLAlchemy sends them as multi-row INSERTs of up to
    1,000), not as a ``values(rows)`` construct: compiling that on the event loop costs 150 ms for 500 rows."""
    if not targets:
        return 0
    if due_at.tzinfo is None:
        raise ValueError("due_at must be timezone-aware")
    rows = [
        {
            "kind": kind,
            "guild_id": guild_id,
            "target_id": target,
            "payload": payload,
            "dedupe_key": key,
            "due_at": due_at,
            "expires_at": None,
            "state": PENDING,
            "attempts": 0,
            "created_at": created_at,
        }
        for target, key, payload in targets
    ]
    statement = (
        dialect_insert(session, Reminder)
        .on_conflict_do_nothing(index_elements=["kind", "dedupe_key"])
        .returning(Reminder.id)
    )
    return len((await session.execute(statement, rows)).all())


async def on_the_way(session: AsyncSession, kind: str, target_ids: Collection[int]) -> set[int]:
    """Which of ``target_ids`` already have a reminder of ``kind`` waiting or being sent (a daily check that
    would schedule the same work again finds them here)."""
    if not target_ids:
        return set()
    rows = await session.scalars(
        select(Reminder.target_id).where(
            Reminder.kind == kind, Reminder.state.in_((PENDING, CLAIMED)), Reminder.target_id.in_(target_ids)
        )
    )
    return set(rows)


async def drop_pending(session: AsyncSession, *, kind: str, dedupe_key: str, at: datetime, why: str) -> int:
    """Drop a reminder that has not gone out yet (the thing it announces was cancelled)."""
    result = await session.execute(
        update(Reminder)
        .where(Reminder.kind == kind, Reminder.dedupe_key == dedupe_key, Reminder.state == PENDING)
        .values(state=DROPPED, finished_at=at, last_error=why)
    )
    return result.rowcount or 0


class Reminders:
    """Schedules reminders and sends the due ones through the handler registered for their kind."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        default_grace: timedelta = timedelta(hours=1),
        max_attempts: int = 5,
        base_backoff: timedelta = timedelta(seconds=30),
        max_in_flight: int = 50,
        send_rate: float | None = None,
        stale_claim: timedelta = STALE_CLAIM,
    ) -> None:
        self._sessions = sessionmaker
        self.stale_claim = stale_claim
        self._clock = clock
        self._kinds: dict[str, ReminderKind] = {}
        self.default_grace = default_grace
        self.max_attempts = max_attempts
        self.base_backoff = base_backoff
        self.max_in_flight = max_in_flight
        # Coalesced kinds with a call in flight in this process: their due rows wait for the next batch.
        self._busy_kinds: set[str] = set()
        self._new_work = asyncio.Event()
        self._generation = 0
        self._last_batch: dict[str, float] = {}  # loop time each coalesced kind last started sending
        # Called with the due time of each newly scheduled reminder, so a live scheduler can wake then.
        self.on_scheduled: Callable[[datetime], None] | None = None
        # Sends per second for one-by-one kinds without a lane (DMs); None: as fast as the HTTP pacer allows.
        self._send_pacer = GlobalPacer(send_rate, headroom=1.0) if send_rate else None
        self._windows: dict[str, SendWindow] = {}  # by lane name: the sends started in it
        # Reminder id -> the unfinished rows of the batch that claimed it (``sent`` takes rows out of it).
        self._open_batches: dict[int, dict[int, Reminder]] = {}
        self._last_digest: dict[str, datetime] = {}  # clock time each digest kind last claimed a batch
        self.claim_statements = 0  # claim UPDATEs issued, for tests and benchmarks
        self._stopped = False
        # Sharded (several processes on one database, each connected to its own guilds): only these guilds'
        # reminders are this process's to claim; the others' handlers would not find the guild. None: all.
        self.guild_ids: frozenset[int] | None = None

    def _mine(self) -> list[Any]:
        return [] if self.guild_ids is None else [Reminder.guild_id.in_(sorted(self.guild_ids))]

    def register(self, kind: ReminderKind) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"reminder kind {kind.name!r} is registered twice")
        self._kinds[kind.name] = kind
        if kind.lane is not None and kind.lane.name not in self._windows:
            self._windows[kind.lane.name] = SendWindow(kind.lane.limit, kind.lane.period)

    def unregister(self, name: str) -> None:
        self._kinds.pop(name, None)

    async def schedule(
        self,
        session: AsyncSession,
        *,
        kind: str,
        guild_id: int,
        target_id: int,
        due_at: datetime,
        payload: dict[str, Any] | None = None,
        dedupe_key: str | None = None,
        expires_at: datetime | None = None,
    ) -> int | None:
        """Add a reminder in the caller's transaction, and wake the dispatcher once it commits; its id, or
        None when one with this (kind, dedupe_key) exists."""
        reminder_id = await add(
            session,
            kind=kind,
            guild_id=guild_id,
            target_id=target_id,
            due_at=due_at,
            created_at=self._clock.now(),
            payload=payload,
            dedupe_key=dedupe_key,
            expires_at=expires_at,
        )
        if reminder_id is not None:
            self._wake_after_commit(session, due_at)
        return reminder_id

    def _wake_after_commit(self, session: AsyncSession, due_at: datetime) -> None:
        """Tell the scheduler about the new due time once the caller's transaction commits (before that, a
        dispatcher on another connection could not see the row)."""
        pending: list[datetime] | None = session.info.get("atlas_reminder_wakes")
        if pending is None:
            pending = session.info["atlas_reminder_wakes"] = []

            def after_commit(_sync_session: Any) -> None:
                wakes = list(pending)
                pending.clear()
                if not wakes:
                    return
                if self.on_scheduled is not None:
                    self.on_scheduled(min(wakes))  # the scheduler kicks (and so notifies) for what is due now
                else:
                    self.notify()

            def after_rollback(_sync_session: Any, _previous_transaction: Any) -> None:
                pending.clear()

            event.listen(session.sync_session, "after_commit", after_commit)
            event.listen(session.sync_session, "after_soft_rollback", after_rollback)
        pending.append(due_at)

    async def cancel(self, session: AsyncSession, *, kind: str, dedupe_key: str) -> int:
        return await drop_pending(session, kind=kind, dedupe_key=dedupe_key, at=self._clock.now(), why="cancelled")

    async def recover_stale_claims(self) -> int:
        now = self._clock.now()
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Reminder)
                .where(Reminder.state == CLAIMED, Reminder.claimed_at < now - self.stale_claim)
                .values(state=PENDING, claim_token=None)
            )
        return result.rowcount or 0

    async def next_due(self) -> datetime | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(Reminder.due_at)
                .where(Reminder.state == PENDING, *self._mine())
                .order_by(Reminder.due_at)
                .limit(1)
            )

    def stop(self) -> None:
        """Shutting down: claim nothing more; a pass in progress lets its sends finish, records them and returns
        (what is still pending is the next process's), instead of being cancelled mid-send."""
        self._stopped = True
        self._new_work.set()

    def notify(self) -> None:
        """Something new may be due: a running ``run_due`` claims it now rather than after its in-flight sends."""
        self._generation += 1
        self._new_work.set()

    @property
    def generation(self) -> int:
        """How many times ``notify`` was called: a dispatcher compares it to know whether work arrived."""
        return self._generation

    async def run_due(self, now: datetime | None = None) -> list[Outcome]:
        """Send every reminder due at ``now`` (default: the clock's time, re-read as the pass goes on, so that
        what falls due meanwhile joins it); returns what happened to each, in due order."""
        outcomes: list[tuple[tuple[datetime, int], Outcome]] = []
        running: dict[asyncio.Task[list[tuple[tuple[datetime, int], Outcome]]], str | None] = {}
        batch_since: dict[asyncio.Task[Any], int] = {}  # a coalesced kind's batch task: the generation it began in
        unhandled: set[str] = set()  # kinds nobody handles go back to pending once per pass, not in a loop
        # Claimed nothing since the last notify: coalesced kinds by name, lanes as "lane:<name>", None for the
        # other one-by-one kinds. ``waiting``: full lanes known to have due rows (looked at once, not per wake).
        idle: set[str | None] = set()
        waiting: set[str] = set()
        seen = -1
        loop = asyncio.get_running_loop()
        refill = max(1, self.max_in_flight // 2)
        try:
            while True:
                if seen != self._generation:
                    seen, _ = self._generation, idle.clear()
                    waiting.clear()
                self._new_work.clear()
                at = now or self._clock.now()
                started = False
                resume = math.inf  # loop time at which a full lane with due rows has room again

                async def full(key: str, lane: Lane, kinds: list[str], at: datetime) -> bool:
                    """The lane has no room now: wait for it if something is due, else rest until notified."""
                    nonlocal resume
                    window = self._windows[lane.name]
                    if window.free(loop.time()) > 0:
                        return False
                    if key not in waiting:
                        if not await self._has_due(at, kinds):
                            idle.add(key)
                            return True
                        waiting.add(key)
                    resume = min(resume, window.next_free(loop.time()))
                    return True

                if self._stopped:
                    idle.update([None, *self._kinds], *(f"lane:{lane.name}" for lane in self._lane_kinds()))
                for kind in list(self._kinds.values()):
                    if kind.batch_handler is None or kind.name in self._busy_kinds or kind.name in idle:
                        continue
                    if await self._digest_pending(kind, at):
                        idle.add(kind.name)
                        continue
                    if kind.lane is not None and await full(kind.name, kind.lane, [kind.name], at):
                        continue
                    self._busy_kinds.add(kind.name)  # reserved before the claim awaits: one batch per kind
                    reserved = None
                    if kind.lane is not None:
                        reserved = loop.time()
                        self._windows[kind.lane.name].take(reserved)
                        waiting.discard(kind.name)
                    task = asyncio.create_task(self._run_batch(kind, at, reserved))
                    task.add_done_callback(lambda _t, name=kind.name: self._busy_kinds.discard(name))
                    running[task] = kind.name
                    batch_since[task] = self._generation
                    started = True
                for lane, names in self._lane_kinds().items():
                    key = f"lane:{lane.name}"
                    if key in idle or await full(key, lane, names, at):
                        continue
                    if key not in waiting and not await self._has_due(at, names):
                        idle.add(key)
                        continue
                    window = self._windows[lane.name]
                    # The room is taken before the claim awaits, so a pass running beside this one (a poll and a
                    # kick) sees the lane full instead of claiming the same room; what was not claimed goes back.
                    reserved = loop.time()
                    room = window.free(reserved)
                    for _ in range(room):
                        window.take(reserved)
                    try:
                        claimed = await self._claim_due(at, room, kinds=names)
                    finally:
                        for _ in range(room):
                            window.give_back(reserved)
                    waiting.discard(key)
                    if len(claimed) < room:
                        idle.add(key)
                    for reminder in claimed:
                        window.take(loop.time())  # each send counted from when it starts
                        running[asyncio.create_task(self._process(reminder, at))] = key
                        started = True
                # The rest (DMs): claimed in batches, when half the slots are free (or none is busy), so a claim
                # takes many rows rather than one per finished send.
                solo = sum(1 for key in running.values() if key is None)
                room = self.max_in_flight - solo
                if None not in idle and room > 0 and (solo == 0 or room >= refill):
                    skip = unhandled | {k.name for k in self._kinds.values() if k.batch_handler or k.lane}
                    # Looked and found nothing: no claim (a notify looks again).
                    nothing = solo == 0 and not await self._has_due(at, skip=skip)
                    claimed = [] if nothing else await self._claim_due(at, room, skip=skip)
                    if len(claimed) < room:
                        idle.add(None)
                    for reminder in claimed:
                        if reminder.kind not in self._kinds:
                            unhandled.add(reminder.kind)
                        running[asyncio.create_task(self._process(reminder, at))] = None
                        started = True
                if started:
                    continue
                if self._stopped:
                    resume = math.inf
                if not running and resume == math.inf:
                    if seen == self._generation or self._stopped:
                        break
                    continue  # notified while the last claim ran: it may have missed the new row
                timeout = None if resume == math.inf else max(0.0, resume - loop.time())
                wake = asyncio.create_task(self._new_work.wait())
                done, _ = await asyncio.wait(
                    {*running, wake}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                wake.cancel()
                for task in done:
                    if task is wake:
                        continue
                    kind_name = running.pop(task)  # type: ignore[call-overload]
                    since = batch_since.pop(task, None)  # type: ignore[call-overload]
                    results = task.result()
                    outcomes.extend(results)
                    # A coalesced kind that sent something may have more waiting: claim again; one that found
                    # nothing rests until notified, unless a notify came while it looked (its look may predate
                    # that commit, and the notify was taken in while the kind was busy). A finished one-by-one
                    # send frees a slot, which is filled unless the last claim already took everything due.
                    if since == self._generation and not results:
                        idle.add(kind_name)
        except asyncio.CancelledError:
            # Shutting down: in-flight sends hand their reminders back to pending.
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            raise
        except Exception:
            await asyncio.gather(*running, return_exceptions=True)  # let what is on its way finish
            raise
        return [o for _key, o in sorted(outcomes, key=lambda pair: pair[0])]

    def _lane_kinds(self) -> dict[Lane, list[str]]:
        """The one-by-one kinds that send through a lane, by lane."""
        lanes: dict[Lane, list[str]] = {}
        for kind in self._kinds.values():
            if kind.lane is not None and kind.batch_handler is None:
                lanes.setdefault(kind.lane, []).append(kind.name)
        return lanes

    async def _has_due(self, at: datetime, kinds: Collection[str] = (), skip: Collection[str] = ()) -> bool:
        """Whether a reminder is due (of ``kinds`` if given, not of ``skip``): a read, so that a pass that finds
        nothing due issues no claim (on SQLite an UPDATE takes the write lock even when it matches nothing)."""
        look = select(Reminder.id).where(Reminder.state == PENDING, Reminder.due_at <= at, *self._mine())
        if kinds:
            look = look.where(Reminder.kind.in_(kinds))
        if skip:
            look = look.where(Reminder.kind.not_in(skip))
        async with self._sessions() as session:
            found = await session.scalar(look.limit(1))
        return found is not None

    async def _digest_pending(self, kind: ReminderKind, at: datetime) -> bool:
        """A digest kind inside its window: its due rows wait for the window's end (the scheduler is asked to
        wake then), so that what falls due meanwhile goes out in one post; unless a full batch is already due
        (a burst), which has nothing to wait for."""
        last = self._last_digest.get(kind.name)
        if not kind.digest_window or last is None or at >= last + kind.digest_window:
            return False
        due = (
            select(Reminder.id)
            .where(Reminder.state == PENDING, Reminder.due_at <= at, Reminder.kind == kind.name, *self._mine())
            .limit(kind.batch_size)
            .subquery()
        )
        async with self._sessions() as session:
            count = await session.scalar(select(func.count()).select_from(due)) or 0
        if count >= kind.batch_size:
            return False
        if count and self.on_scheduled is not None:
            self.on_scheduled(last + kind.digest_window)
        return True

    async def _claim_due(
        self, at: datetime, limit: int, *, kinds: Collection[str] = (), skip: Collection[str] = ()
    ) -> list[Reminder]:
        """Claim up to ``limit`` due reminders with one statement (of ``kinds`` if given, not of ``skip``)."""
        pick = select(Reminder.id).where(Reminder.state == PENDING, Reminder.due_at <= at, *self._mine())
        if kinds:
            pick = pick.where(Reminder.kind.in_(kinds))
        if skip:
            pick = pick.where(Reminder.kind.not_in(skip))
        # SKIP LOCKED: on PostgreSQL another process's claim in progress is passed over, not waited for. A
        # MATERIALIZED CTE, because PostgreSQL may run a plain ``IN (SELECT ... LIMIT n)`` more than once and
        # so claim more than n rows.
        picked = (
            pick.order_by(Reminder.due_at, Reminder.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("picked")
            .prefix_with("MATERIALIZED")
        )
        token = str(uuid.uuid4())
        self.claim_statements += 1
        async with self._sessions.begin() as session:
            rows = list(
                await session.scalars(
                    update(Reminder)
                    .where(Reminder.id.in_(select(picked.c.id)), Reminder.state == PENDING)
                    # Stamped now, not with the pass's ``at``: a pass paced by its lanes lives for minutes, and a
                    # claim dated at its start would look stale (STALE_CLAIM) to recovery while it is being sent.
                    .values(
                        state=CLAIMED,
                        claimed_at=self._clock.now(),
                        claim_token=token,
                        attempts=Reminder.attempts + 1,
                    )
                    .returning(Reminder)
                    .execution_options(synchronize_session=False)
                )
            )
        return sorted(rows, key=lambda r: (r.due_at, r.id))

    async def _claim(self, reminder_id: int, now: datetime) -> Reminder | None:
        token = str(uuid.uuid4())
        self.claim_statements += 1
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Reminder)
                .where(Reminder.id == reminder_id, Reminder.state == PENDING)
                .values(state=CLAIMED, claimed_at=now, claim_token=token, attempts=Reminder.attempts + 1)
            )
            if result.rowcount != 1:
                return None  # someone else claimed it
            return await session.scalar(select(Reminder).where(Reminder.id == reminder_id))

    async def _finish(self, reminder: Reminder, **values: Any) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(Reminder)
                .where(Reminder.id == reminder.id, Reminder.claim_token == reminder.claim_token)
                .values(**values)
            )

    async def _finish_many(self, reminders: list[Reminder], **values: Any) -> None:
        if not reminders:
            return
        async with self._sessions.begin() as session:
            await session.execute(
                update(Reminder)
                .where(
                    Reminder.id.in_([r.id for r in reminders]),
                    Reminder.claim_token == reminders[0].claim_token,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    def _too_late(self, kind: ReminderKind, reminder: Reminder, now: datetime) -> str | None:
        grace = kind.grace if kind.grace is not None else self.default_grace
        if reminder.expires_at is not None and now >= reminder.expires_at:
            return "expired"
        if now > reminder.due_at + grace:
            return f"missed by more than {grace}"
        return None

    async def _process(self, reminder: Reminder, now: datetime) -> list[tuple[tuple[datetime, int], Outcome]]:
        key = (reminder.due_at, reminder.id)
        kind = self._kinds.get(reminder.kind)
        if kind is None or kind.handler is None:
            # The feature that owns it is not loaded: leave it for when it is, instead of losing it.
            await _settle(self._finish(reminder, state=PENDING, claim_token=None, attempts=reminder.attempts - 1))
            registered = self._kinds.get(reminder.kind)
            if registered is not None and registered.handler is not None:
                # Registered while we held the claim: a run kicked for it meanwhile skipped it as claimed.
                again = await self._claim(reminder.id, now)
                return [] if again is None else await self._process(again, now)
            log.warning("no handler for reminder kind %r (id %s); left pending", reminder.kind, reminder.id)
            return [(key, Outcome(reminder.id, reminder.kind, PENDING, "no handler loaded"))]
        why = self._too_late(kind, reminder, now)
        if why is not None:
            await _settle(self._finish(reminder, state=DROPPED, finished_at=now, last_error=why))
            log.info("dropped reminder %s (%s): %s", reminder.id, reminder.kind, why)
            return [(key, Outcome(reminder.id, reminder.kind, DROPPED, why))]
        try:
            if kind.lane is None and self._send_pacer is not None:
                await self._send_pacer.wait()  # DMs: spread under the global limit (lanes pace the rest)
            await kind.handler(reminder)
        except asyncio.CancelledError:
            # Shutting down mid-send: hand it back rather than leave it claimed until the stale-claim timeout.
            await _settle(self._finish(reminder, state=PENDING, claim_token=None, attempts=reminder.attempts - 1))
            raise
        except Exception as exc:
            # Discord answered: record it even if cancelled meanwhile (as the sent case below).
            return [(key, await _settle(self._failed(reminder, now, exc)))]
        # Sent: a cancel while this is written must not leave the row claimed, or a restart would send it again.
        await _settle(self._finish(reminder, state=SENT, finished_at=now, last_error=None))
        return [(key, Outcome(reminder.id, reminder.kind, SENT))]

    async def _run_batch(
        self, kind: ReminderKind, at: datetime, reserved: float | None = None
    ) -> list[tuple[tuple[datetime, int], Outcome]]:
        """Claim and send one batch of a coalesced kind (the caller reserved the kind in ``_busy_kinds``, and
        a send in its lane at loop time ``reserved``, given back here if nothing is posted)."""
        assert kind.batch_handler is not None
        posted = False
        try:
            results = await self._batch(kind, at)
            posted = any(o.state != DROPPED for _key, o in results)
            return results
        finally:
            if reserved is not None and kind.lane is not None and not posted:
                self._windows[kind.lane.name].give_back(reserved)

    async def _batch(self, kind: ReminderKind, at: datetime) -> list[tuple[tuple[datetime, int], Outcome]]:
        assert kind.batch_handler is not None
        loop = asyncio.get_running_loop()
        # Look (a read, no claim) first: nothing due, no claim; paced, nothing due, no rest holding the kind.
        if not await self._has_due(at, [kind.name]):
            return []
        rest = self._last_batch.get(kind.name, -math.inf) + kind.batch_interval.total_seconds() - loop.time()
        if rest > 0:
            await asyncio.sleep(rest)
        claimed = await self._claim_due(at, kind.batch_size, kinds=[kind.name])
        if not claimed:
            return []
        # The kind stays in _busy_kinds until the caller's done callback: freeing it here too would let another
        # pass start a batch, whose own callback would then be freed by ours (two batches at once).
        self._last_batch[kind.name] = loop.time()
        # Claimed rows no terminal write has taken yet: on cancel they go back to pending, and only they.
        unfinished = {r.id: r for r in claimed}
        for r in claimed:
            self._open_batches[r.id] = unfinished  # ``sent`` takes rows out as their message goes out

        def take(rows: list[Reminder]) -> list[Reminder]:
            for r in rows:
                unfinished.pop(r.id, None)
            return rows

        try:
            results: list[tuple[tuple[datetime, int], Outcome]] = []
            live: list[Reminder] = []
            late: dict[str, list[Reminder]] = {}
            for reminder in claimed:
                why = self._too_late(kind, reminder, at)
                if why is None:
                    live.append(reminder)
                else:
                    late.setdefault(why, []).append(reminder)
            for why, rows in late.items():
                await _settle(self._finish_many(take(rows), state=DROPPED, finished_at=at, last_error=why))
                for reminder in rows:
                    results.append(((reminder.due_at, reminder.id), Outcome(reminder.id, kind.name, DROPPED, why)))
            if not live:
                return results
            try:
                failures = await kind.batch_handler(live) or {}
            except Exception as exc:
                failures = {r.id: exc for r in live}
            # Sent (or refused) by Discord: record it all, even if cancelled meanwhile, or a restart sends again.
            concluded = await _settle(self._conclude_batch(kind, take(list(live)), failures, at))
            if kind.digest_window and any(o.state == SENT for _key, o in concluded):
                self._last_digest[kind.name] = at  # a post went out: the next gathers for a window
            results.extend(concluded)
            return results
        except asyncio.CancelledError:
            # Shutting down: hand back what is not sent rather than leave it claimed until the stale-claim timeout.
            if unfinished:
                back = list(unfinished.values())
                await _settle(
                    self._finish_many(back, state=PENDING, claim_token=None, attempts=Reminder.attempts - 1)
                )
            raise
        finally:
            for r in claimed:
                self._open_batches.pop(r.id, None)

    async def sent(self, reminder_ids: Collection[int]) -> None:
        """For a batch handler that posts in several messages: record these reminders as sent as soon as their
        message is out, so that a shutdown or a crash before the next message never posts them again."""
        rows = []
        for reminder_id in reminder_ids:
            batch = self._open_batches.get(reminder_id)
            if batch is not None and reminder_id in batch:
                rows.append(batch.pop(reminder_id))
        if rows:
            await _settle(self._finish_many(rows, state=SENT, finished_at=self._clock.now(), last_error=None))

    async def _conclude_batch(
        self, kind: ReminderKind, live: list[Reminder], failures: dict[int, Exception], at: datetime
    ) -> list[tuple[tuple[datetime, int], Outcome]]:
        sent = [r for r in live if r.id not in failures]
        await self._finish_many(sent, state=SENT, finished_at=at, last_error=None)
        failed = await self._failed_many([(r, failures[r.id]) for r in live if r.id in failures], at)
        results = [((r.due_at, r.id), Outcome(r.id, kind.name, SENT)) for r in sent]
        results.extend(((r.due_at, r.id), failed[r.id]) for r in live if r.id in failures)
        return results

    async def _failed(self, reminder: Reminder, now: datetime, exc: Exception) -> Outcome:
        return (await self._failed_many([(reminder, exc)], now))[reminder.id]

    async def _failed_many(self, failures: list[tuple[Reminder, Exception]], now: datetime) -> dict[int, Outcome]:
        """Record failed sends: each distinct exception classified once, and one write per set of rows that end
        up with the same values (a whole batch refused with one error: one write)."""
        errors: dict[int, Exception] = {}
        groups: dict[tuple[tuple[str, Any], ...], list[Reminder]] = {}
        outcomes: dict[int, Outcome] = {}
        for reminder, exc in failures:
            error = errors.get(id(exc))
            if error is None:
                error = errors[id(exc)] = classify_error(exc)
            values: dict[str, Any]
            own = self._kinds.get(reminder.kind)
            limit = own.max_attempts if own is not None and own.max_attempts is not None else self.max_attempts
            if isinstance(error, TransientSendError) and reminder.attempts < limit:
                backoff = self.base_backoff * (2 ** min(reminder.attempts - 1, 20))  # bounded: no overflow
                if own is not None and own.max_backoff is not None:
                    backoff = min(backoff, own.max_backoff)
                if error.retry_after:
                    backoff = max(backoff, timedelta(seconds=error.retry_after))
                values = {"state": PENDING, "claim_token": None, "due_at": now + backoff, "last_error": str(error)}
                outcome = Outcome(reminder.id, reminder.kind, PENDING, f"retry: {error}")
            else:
                if isinstance(error, PermanentSendError):
                    why = str(error)
                elif isinstance(error, TransientSendError):
                    why = f"gave up after {reminder.attempts}: {error}"
                else:
                    why = f"bug: {exc!r}"
                values = {"state": FAILED, "finished_at": now, "last_error": why[:2000]}
                outcome = Outcome(reminder.id, reminder.kind, FAILED, why)
            # Rows of one claim (the token) that end up alike share one write.
            groups.setdefault((("_token", reminder.claim_token), *values.items()), []).append(reminder)
            outcomes[reminder.id] = outcome
        for key, rows in groups.items():
            values = {name: value for name, value in key if name != "_token"}
            exc = next(e for r, e in failures if r is rows[0])  # alike rows: alike errors, logged once
            error = errors[id(exc)]
            await self._finish_many(rows, **values)
            ids = ", ".join(str(r.id) for r in rows)
            kind = rows[0].kind
            if values["state"] == PENDING:
                log.info("reminder %s: %s; retrying at %s", ids, error, values["due_at"].isoformat())
                if self.on_scheduled is not None:
                    self.on_scheduled(values["due_at"])
            elif isinstance(error, TransientSendError | PermanentSendError):
                log.warning("reminder %s (%s) failed: %s", ids, kind, values["last_error"])
            else:
                log.exception("reminder %s (%s) handler raised", ids, kind, exc_info=exc)
        return outcomes


async def _settle(write: Awaitable[_T]) -> _T:
    """Run a state write to its end even if the caller is cancelled meanwhile (then re-raise the cancel): a send
    that happened must be recorded, or stale-claim recovery would send it again."""
    task = asyncio.ensure_future(write)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait({task})  # a second cancel leaves the write running on its own
        raise
