"""Durable one-shot reminders: the ``reminders`` table is the truth, the scheduler only wakes us up.

Life of a reminder: ``pending`` -> claimed with one atomic UPDATE (so two processes, or a restart, never send
it twice) -> ``sent``, or back to ``pending`` with a later due time after a transient Discord error (429/5xx),
or ``failed`` with the reason after a permanent one (403/404) or too many attempts, or ``dropped`` when it is
found after its kind's grace period or its own expiry (an office-hour reminder after the session started).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db import dialect_insert
from models import Reminder

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class ReminderKind:
    name: str
    handler: Handler
    # How late a reminder of this kind may still go out; None means use the configured default.
    grace: timedelta | None = None


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
    ) -> None:
        self._sessions = sessionmaker
        self._clock = clock
        self._kinds: dict[str, ReminderKind] = {}
        self.default_grace = default_grace
        self.max_attempts = max_attempts
        self.base_backoff = base_backoff
        # Called with the due time of each newly scheduled reminder, so a live scheduler can wake then.
        self.on_scheduled: Callable[[datetime], None] | None = None

    def register(self, kind: ReminderKind) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"reminder kind {kind.name!r} is registered twice")
        self._kinds[kind.name] = kind

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
                if wakes and self.on_scheduled is not None:
                    self.on_scheduled(min(wakes))

            def after_rollback(_sync_session: Any) -> None:
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
                .where(Reminder.state == CLAIMED, Reminder.claimed_at < now - STALE_CLAIM)
                .values(state=PENDING, claim_token=None)
            )
        return result.rowcount or 0

    async def next_due(self) -> datetime | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(Reminder.due_at).where(Reminder.state == PENDING).order_by(Reminder.due_at).limit(1)
            )

    async def run_due(self, now: datetime | None = None) -> list[Outcome]:
        """Send every reminder due at ``now``; returns what happened to each, in due order."""
        now = now or self._clock.now()
        async with self._sessions() as session:
            ids = list(
                await session.scalars(
                    select(Reminder.id)
                    .where(Reminder.state == PENDING, Reminder.due_at <= now)
                    .order_by(Reminder.due_at, Reminder.id)
                )
            )
        outcomes = []
        for reminder_id in ids:
            outcome = await self._process(reminder_id, now)
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    async def _claim(self, reminder_id: int, now: datetime) -> Reminder | None:
        token = str(uuid.uuid4())
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

    async def _process(self, reminder_id: int, now: datetime) -> Outcome | None:
        reminder = await self._claim(reminder_id, now)
        if reminder is None:
            return None
        kind = self._kinds.get(reminder.kind)
        if kind is None:
            # The feature that owns it is not loaded: leave it for when it is, instead of losing it.
            await self._finish(reminder, state=PENDING, claim_token=None, attempts=reminder.attempts - 1)
            if reminder.kind in self._kinds:
                # Registered while we held the claim: a run kicked for it meanwhile skipped it as claimed.
                return await self._process(reminder_id, now)
            log.warning("no handler for reminder kind %r (id %s); left pending", reminder.kind, reminder.id)
            return Outcome(reminder.id, reminder.kind, PENDING, "no handler loaded")
        grace = kind.grace if kind.grace is not None else self.default_grace
        too_late = now > reminder.due_at + grace
        expired = reminder.expires_at is not None and now >= reminder.expires_at
        if too_late or expired:
            why = "expired" if expired else f"missed by more than {grace}"
            await self._finish(reminder, state=DROPPED, finished_at=now, last_error=why)
            log.info("dropped reminder %s (%s): %s", reminder.id, reminder.kind, why)
            return Outcome(reminder.id, reminder.kind, DROPPED, why)
        try:
            await kind.handler(reminder)
        except asyncio.CancelledError:
            # Shutting down mid-send: hand it back rather than leave it claimed until the stale-claim timeout.
            await asyncio.shield(
                self._finish(reminder, state=PENDING, claim_token=None, attempts=reminder.attempts - 1)
            )
            raise
        except Exception as exc:
            return await self._failed(reminder, now, exc)
        await self._finish(reminder, state=SENT, finished_at=now, last_error=None)
        return Outcome(reminder.id, reminder.kind, SENT)

    async def _failed(self, reminder: Reminder, now: datetime, exc: Exception) -> Outcome:
        error = classify_error(exc)
        if isinstance(error, TransientSendError) and reminder.attempts < self.max_attempts:
            backoff = self.base_backoff * (2 ** (reminder.attempts - 1))
            if error.retry_after:
                backoff = max(backoff, timedelta(seconds=error.retry_after))
            retry_at = now + backoff
            await self._finish(reminder, state=PENDING, claim_token=None, due_at=retry_at, last_error=str(error))
            log.info("reminder %s: %s; retrying at %s", reminder.id, error, retry_at.isoformat())
            if self.on_scheduled is not None:
                self.on_scheduled(retry_at)
            return Outcome(reminder.id, reminder.kind, PENDING, f"retry: {error}")
        if isinstance(error, TransientSendError | PermanentSendError):
            why = (
                str(error)
                if isinstance(error, PermanentSendError)
                else f"gave up after {reminder.attempts}: {error}"
            )
            log.warning("reminder %s (%s) failed: %s", reminder.id, reminder.kind, why)
        else:
            why = f"bug: {exc!r}"
            log.exception("reminder %s (%s) handler raised", reminder.id, reminder.kind, exc_info=exc)
        await self._finish(reminder, state=FAILED, finished_at=now, last_error=why[:2000])
        return Outcome(reminder.id, reminder.kind, FAILED, why)
