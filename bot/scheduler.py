"""Recurring jobs, declared in one place, and the one ``run_due(now)`` that fires whatever is due.

Each job is an idempotent async function of ``now``. The ``job_runs`` table remembers the last fire time, so a
restart neither repeats a period nor skips one (a missed period runs once, late). APScheduler only wakes us:
tests move a ManualClock and call ``run_due()`` to see exactly what fires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db import dialect_insert
from bot.reminders import Outcome, Reminders
from models import JobRun

log = logging.getLogger(__name__)


class NotYet(Exception):
    """Raised by a job that cannot run yet (the ledger is still being rebuilt, say): its period is given back and
    the next run (a poll, within a minute) tries again, without a traceback in the log."""

JobFunc = Callable[[datetime], Awaitable[None]]


@dataclass(frozen=True)
class Job:
    name: str
    # Cron fields, e.g. {"hour": 6, "minute": 0} daily, {"day": 1, "hour": 9} monthly.
    cron: dict[str, int | str]
    func: JobFunc
    # The IANA zone the cron fields are read in (DST included), e.g. the community's for its monthly posts.
    timezone: str = "UTC"

    def trigger(self) -> CronTrigger:
        return CronTrigger(timezone=ZoneInfo(self.timezone), **self.cron)  # type: ignore[arg-type]

    def latest_fire_at_or_before(self, after: datetime, now: datetime) -> datetime | None:
        """The newest fire time in (after, now], or None; missed periods coalesce into one run."""
        trigger = self.trigger()
        fire = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
        latest = None
        while fire is not None and fire <= now:
            latest = fire
            fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
        return latest


@dataclass(frozen=True)
class JobOutcome:
    name: str
    fire_at: datetime
    ok: bool
    error: str = ""


class Scheduler:
    """Owns the recurring-job registry, the reminders' dispatch, and the APScheduler that wakes them."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        reminders: Reminders,
        *,
        poll_seconds: int = 30,
    ) -> None:
        self._sessions = sessionmaker
        self._clock = clock
        self.reminders = reminders
        self.jobs: dict[str, Job] = {}
        self.poll_seconds = poll_seconds
        self._aps: AsyncIOScheduler | None = None
        self._kicks: set[asyncio.Task[None]] = set()
        self._dispatcher: asyncio.Task[None] | None = None
        self._gate = asyncio.Event()
        reminders.on_scheduled = self._wake_at
        # Each process runs its own guild's jobs (two communities, or two shards, may share one database), so the
        # bot claims a job's period per scope (its guild id) in ``job_runs``: "name@guild". "" keeps plain names.
        self.scope = ""

    def add_job(self, job: Job) -> None:
        if job.name in self.jobs:
            raise ValueError(f"job {job.name!r} is declared twice")
        job.trigger()  # fail at declaration, not at the first fire, if the cron fields are wrong
        self.jobs[job.name] = job
        if self._aps is not None:
            self._aps.add_job(self._live_run, job.trigger(), id=f"job:{job.name}", replace_existing=True)

    def remove_job(self, name: str) -> None:
        self.jobs.pop(name, None)
        if self._aps is not None and self._aps.get_job(f"job:{name}"):
            self._aps.remove_job(f"job:{name}")

    async def run_due(self, now: datetime | None = None) -> tuple[list[JobOutcome], list[Outcome]]:
        """Fire every recurring job and reminder due at ``now``; return what fired."""
        now = now or self._clock.now()
        fired = [o for job in list(self.jobs.values()) if (o := await self._run_job_if_due(job, now))]
        sent = await self.reminders.run_due(now)
        return fired, sent

    def run_key(self, name: str) -> str:
        """The job's row in ``job_runs``."""
        return f"{name}@{self.scope}" if self.scope else name

    async def _run_job_if_due(self, job: Job, now: datetime) -> JobOutcome | None:
        key = self.run_key(job.name)
        async with self._sessions.begin() as session:
            run = await session.get(JobRun, key)
            if run is None:
                # First sight of a job: arm it from now rather than firing for all of history, or, upgrading
                # from plain names, carry the plain row's history over once (taken with a DELETE: of two
                # processes upgrading at once, one gets it), so no period repeats or is skipped.
                carried = None
                if key != job.name:
                    carried = await session.scalar(
                        delete(JobRun).where(JobRun.name == job.name).returning(JobRun.last_fire_at)
                    )
                # (INSERT ... ON CONFLICT DO NOTHING: two processes starting together both arm it, once.)
                stmt = dialect_insert(session, JobRun).values(name=key, last_fire_at=carried or now)
                await session.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
                if carried is None:
                    return None
                run = await session.get(JobRun, key, populate_existing=True)
                if run is None:
                    return None
            previous = run.last_fire_at
            fire_at = job.latest_fire_at_or_before(previous, now)
            if fire_at is None:
                return None
            # Compare-and-set, recorded before running: of two processes (or a poll racing a cron wake-up)
            # only one fires the period, and a crash mid-job does not make the next start repeat it.
            claimed = await session.execute(
                update(JobRun)
                .where(JobRun.name == key, JobRun.last_fire_at == previous)
                .values(last_fire_at=fire_at)
            )
            if claimed.rowcount != 1:
                return None
        try:
            await job.func(now)
        except NotYet as exc:
            log.info("recurring job %s waits: %s; the next run retries it", job.name, exc)
            await self._record(key, now, repr(exc), rewind_to=previous)
            return JobOutcome(job.name, fire_at, ok=False, error=repr(exc))
        except Exception as exc:
            log.exception("recurring job %s failed at %s; the next run retries it", job.name, fire_at.isoformat())
            # Give the period back: jobs are idempotent, so a retry on the next poll beats a skipped period.
            await self._record(key, now, repr(exc), rewind_to=previous)
            return JobOutcome(job.name, fire_at, ok=False, error=repr(exc))
        await self._record(key, now, None)
        return JobOutcome(job.name, fire_at, ok=True)

    async def _record(
        self, name: str, finished: datetime, error: str | None, rewind_to: datetime | None = None
    ) -> None:
        async with self._sessions.begin() as session:
            run = await session.get(JobRun, name)
            if run is not None:
                run.last_finished_at = finished
                run.last_error = error
                if rewind_to is not None:
                    run.last_fire_at = rewind_to

    async def next_wake(self) -> datetime | None:
        """The earliest moment something is due: a pending reminder or a job's next fire time."""
        runs = await self.job_runs()
        times = [t for t in [await self.reminders.next_due()] if t is not None]
        for job in self.jobs.values():
            run = runs.get(self.run_key(job.name))
            if run is not None:
                fire = job.trigger().get_next_fire_time(None, run.last_fire_at + timedelta(microseconds=1))
                if fire is not None:
                    times.append(fire)
        return min(times, default=None)

    async def job_runs(self) -> dict[str, JobRun]:
        async with self._sessions() as session:
            return {r.name: r for r in await session.scalars(select(JobRun))}

    # -- live wake-ups ---------------------------------------------------------------------------------------
    # Work triggered by time (APScheduler) or by a commit (kick) waits for the gate: the bot opens it once it
    # is connected and its guild cache is complete, and closes it while the gateway is down, so a handler never
    # runs against an empty cache and fails a reminder that would have gone out a second later.

    def open_gate(self) -> None:
        self._gate.set()

    def close_gate(self) -> None:
        self._gate.clear()

    async def _live_run(self) -> None:
        # Tracked like a kick, so that ``aclose`` lets a run in progress finish (or cancels it) before the engine
        # goes, instead of the loop's end cancelling it and APScheduler logging that as a failed job.
        task = asyncio.current_task()
        try:
            await self._gate.wait()
            if task is not None:
                self._kicks.add(task)
            await self.reminders.recover_stale_claims()
            await self.run_due()
        except asyncio.CancelledError:
            log.debug("a scheduled run was cancelled by the shutdown; the next start picks up what is due")
        except Exception:
            log.exception("scheduled run failed; the next poll retries")
        finally:
            if task is not None:
                self._kicks.discard(task)

    def start(self) -> None:
        """Start APScheduler: cron triggers for jobs, a poll as a safety net, and a wake per reminder."""
        if self._aps is not None:
            return
        self._aps = AsyncIOScheduler(timezone=UTC)
        for job in self.jobs.values():
            self._aps.add_job(self._live_run, job.trigger(), id=f"job:{job.name}", replace_existing=True)
            log.debug("recurring job %s: %s", job.name, job.trigger())
        self._aps.add_job(
            self._live_run, "interval", seconds=self.poll_seconds, id="poll", coalesce=True, max_instances=1
        )
        self._aps.start()
        log.info("scheduler started: %d recurring job(s), polling every %d s", len(self.jobs), self.poll_seconds)

    def _wake_at(self, when: datetime) -> None:
        if when <= self._clock.now():
            self.kick()
            return
        if self._aps is None or not self._aps.running:
            return
        # Wall-clock scheduling: with a ManualClock the poll and explicit run_due() calls do the work instead.
        # One job per instant: a pass that asks again for the same moment (each pass in a digest window does)
        # replaces it instead of stacking wake-ups that would all run together.
        self._aps.add_job(
            self._live_run,
            DateTrigger(run_date=when, timezone=UTC),
            id=f"wake:{when.isoformat()}",
            replace_existing=True,
            coalesce=True,
            misfire_grace_time=None,
        )

    def kick(self) -> None:
        """Send what is due now, soon, without waiting for the next poll.

        Kicks coalesce: one dispatcher task runs at a time (a burst of a thousand joins is a thousand kicks), and
        a kick while it runs only tells the running pass to claim again (``Reminders.notify``), which it does
        before it ends: no second pass after it."""
        self.reminders.notify()
        if self._dispatcher is not None and not self._dispatcher.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous caller): the poll will find it
        task = loop.create_task(self._kicked())
        self._dispatcher = task
        self._kicks.add(task)
        task.add_done_callback(self._kicks.discard)

    async def _kicked(self) -> None:
        await self._gate.wait()
        while True:
            before = self.reminders.generation
            try:
                await self.reminders.run_due()
                return
            except Exception:
                log.exception("sending due reminders failed; the next poll retries")
            if self.reminders.generation == before:
                return  # a failed pass is tried again at once only for work that arrived while it ran

    async def idle(self) -> None:
        """Wait until every kicked dispatch has finished (tests and the sandbox use it to settle)."""
        while self._kicks:
            await asyncio.gather(*list(self._kicks), return_exceptions=True)

    async def wake_for_pending(self) -> None:
        nxt = await self.reminders.next_due()
        if nxt is not None:
            self._wake_at(nxt)

    async def aclose(self, grace: float = 5.0) -> None:
        """Stop waking up, let in-flight sends finish (briefly), then cancel the rest; a cancelled send puts
        its reminder back to pending, so nothing is lost."""
        if self._aps is not None and self._aps.running:
            self._aps.shutdown(wait=False)
        self._aps = None
        self.reminders.stop()  # claim nothing more: what is on its way finishes within the grace, not cut off
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.idle(), grace)
        for task in list(self._kicks):
            task.cancel()
        await asyncio.gather(*list(self._kicks), return_exceptions=True)
