"""Recurring jobs: declared once, fired by run_due(now) exactly when due, never twice for one period."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import ManualClock
from bot.reminders import Reminders
from bot.scheduler import Job, Scheduler


class Calls:
    def __init__(self) -> None:
        self.at: list[datetime] = []

    async def __call__(self, now: datetime) -> None:
        self.at.append(now)


@pytest.fixture
def scheduler(sessions, clock: ManualClock) -> Scheduler:
    return Scheduler(sessions, clock, Reminders(sessions, clock))


async def test_daily_job_fires_at_its_time_once_per_day(scheduler: Scheduler, clock: ManualClock) -> None:
    calls = Calls()
    scheduler.add_job(Job("daily", {"hour": 6, "minute": 0}, calls))
    assert (await scheduler.run_due())[0] == []  # first sight arms the job, does not fire for the past
    clock.set(datetime(2026, 3, 3, 5, 59, tzinfo=UTC))
    assert (await scheduler.run_due())[0] == []
    clock.advance(minutes=1)
    fired, _ = await scheduler.run_due()
    assert [(o.name, o.fire_at, o.ok) for o in fired] == [("daily", datetime(2026, 3, 3, 6, 0, tzinfo=UTC), True)]
    assert (await scheduler.run_due())[0] == []  # same period: nothing
    assert calls.at == [datetime(2026, 3, 3, 6, 0, tzinfo=UTC)]


async def test_missed_periods_coalesce_into_one_late_run(scheduler: Scheduler, clock: ManualClock) -> None:
    calls = Calls()
    scheduler.add_job(Job("daily", {"hour": 6}, calls))
    await scheduler.run_due()
    clock.advance(days=5)  # down for five days
    fired, _ = await scheduler.run_due()
    assert len(fired) == 1 and fired[0].fire_at == datetime(2026, 3, 7, 6, 0, tzinfo=UTC)
    assert len(calls.at) == 1


async def test_restart_neither_repeats_nor_skips(sessions, clock: ManualClock) -> None:
    calls = Calls()
    first = Scheduler(sessions, clock, Reminders(sessions, clock))
    first.add_job(Job("weekly", {"day_of_week": "mon", "hour": 9}, calls))
    await first.run_due()
    clock.advance(weeks=1)
    await first.run_due()
    assert len(calls.at) == 1
    # A new process with the same database.
    second = Scheduler(sessions, clock, Reminders(sessions, clock))
    second.add_job(Job("weekly", {"day_of_week": "mon", "hour": 9}, calls))
    await second.run_due()
    assert len(calls.at) == 1
    clock.advance(weeks=1)
    await second.run_due()
    assert len(calls.at) == 2


async def test_two_processes_fire_a_period_once(sessions, clock: ManualClock) -> None:
    calls = Calls()
    a = Scheduler(sessions, clock, Reminders(sessions, clock))
    b = Scheduler(sessions, clock, Reminders(sessions, clock))
    for s in (a, b):
        s.add_job(Job("hourly", {"minute": 0}, calls))
    await a.run_due()
    clock.advance(hours=1)
    await asyncio.gather(a.run_due(), b.run_due())
    assert len(calls.at) == 1


async def test_two_guilds_each_fire_their_own_period(sessions, clock: ManualClock) -> None:
    """Two communities' bots on one database: a job's period is claimed per guild (scope), not shared."""
    calls = {1: Calls(), 2: Calls()}
    schedulers = []
    for guild_id in (1, 2):
        s = Scheduler(sessions, clock, Reminders(sessions, clock))
        s.scope = str(guild_id)
        s.add_job(Job("hourly", {"minute": 0}, calls[guild_id]))
        schedulers.append(s)
    await asyncio.gather(*(s.run_due() for s in schedulers))
    clock.advance(hours=1)
    await asyncio.gather(*(s.run_due() for s in schedulers))
    assert [len(calls[g].at) for g in (1, 2)] == [1, 1]


async def test_upgrading_to_scoped_names_carries_the_history_over_once(sessions, clock: ManualClock) -> None:
    """An unscoped row (before jobs were scoped by guild) is taken over by the scoped name: the period it had
    already fired is not repeated, the next one is not skipped, and only one guild inherits it."""
    plain_calls = Calls()
    plain = Scheduler(sessions, clock, Reminders(sessions, clock))
    plain.add_job(Job("hourly", {"minute": 0}, plain_calls))
    await plain.run_due()  # armed
    clock.advance(hours=1, minutes=10)
    await plain.run_due()
    assert len(plain_calls.at) == 1  # the 10:00 period fired under the plain name

    # The upgrade happens while the next period is due (the bot was down at its time): the guild that inherits
    # the history fires it, nobody skips it; the other guild arms from now; nobody repeats the period fired.
    clock.advance(hours=1)
    calls = {1: Calls(), 2: Calls()}
    scoped = []
    for guild_id in (1, 2):
        s = Scheduler(sessions, clock, Reminders(sessions, clock))
        s.scope = str(guild_id)
        s.add_job(Job("hourly", {"minute": 0}, calls[guild_id]))
        scoped.append(s)
    before = clock.now()
    await asyncio.gather(*(s.run_due() for s in scoped))
    assert sum(len(calls[g].at) for g in (1, 2)) == 1
    runs = await scoped[0].job_runs()
    assert "hourly" not in runs and {"hourly@1", "hourly@2"} <= set(runs)
    await asyncio.gather(*(s.run_due() for s in scoped))  # the same period again: nobody repeats it
    assert sum(len(calls[g].at) for g in (1, 2)) == 1
    clock.advance(hours=1)  # the next period fires once per guild
    await asyncio.gather(*(s.run_due() for s in scoped))
    assert [len([t for t in calls[g].at if t > before]) for g in (1, 2)] == [1, 1]


async def test_failing_job_is_recorded_and_does_not_stop_others(scheduler, clock: ManualClock) -> None:
    async def broken(now: datetime) -> None:
        raise RuntimeError("boom")

    calls = Calls()
    scheduler.add_job(Job("broken", {"minute": 0}, broken))
    scheduler.add_job(Job("fine", {"minute": 0}, calls))
    await scheduler.run_due()
    clock.advance(hours=1)
    fired, _ = await scheduler.run_due()
    assert {o.name: o.ok for o in fired} == {"broken": False, "fine": True}
    runs = await scheduler.job_runs()
    assert "boom" in (runs["broken"].last_error or "") and runs["fine"].last_error is None
    # The failed period is retried on the next run instead of being skipped until the next hour.
    clock.advance(minutes=1)
    fired, _ = await scheduler.run_due()
    assert {o.name: o.ok for o in fired} == {"broken": False}
    assert len(calls.at) == 1


def test_bad_cron_fails_at_declaration(scheduler: Scheduler) -> None:
    with pytest.raises(ValueError):
        scheduler.add_job(Job("bad", {"hour": 25}, Calls()))
    with pytest.raises(ValueError):
        scheduler.add_job(Job("x", {"hour": 1}, Calls()))
        scheduler.add_job(Job("x", {"hour": 2}, Calls()))


def test_latest_fire_time() -> None:
    job = Job("monthly", {"day": 1, "hour": 9}, Calls())
    start = datetime(2026, 1, 15, tzinfo=UTC)
    assert job.latest_fire_at_or_before(start, start + timedelta(days=10)) is None
    assert job.latest_fire_at_or_before(start, datetime(2026, 3, 20, tzinfo=UTC)) == datetime(
        2026, 3, 1, 9, tzinfo=UTC
    )


async def test_asking_again_to_wake_at_one_moment_books_one_wake_up(
    scheduler: Scheduler, clock: ManualClock
) -> None:
    # Each pass in a digest window asks to be woken when the window ends: one wake-up, not one per pass.
    scheduler.start()
    try:
        when = clock.now() + timedelta(minutes=15)
        for _ in range(30):
            scheduler._wake_at(when)
        scheduler._wake_at(when + timedelta(seconds=1))
        assert scheduler._aps is not None
        wakes = [job for job in scheduler._aps.get_jobs() if job.id.startswith("wake:")]
        assert len(wakes) == 2
    finally:
        await scheduler.aclose()


async def test_a_job_that_cannot_run_yet_gives_its_period_back(scheduler: Scheduler, clock: ManualClock) -> None:
    from bot.scheduler import NotYet

    ready = False
    calls = Calls()

    async def job(now: datetime) -> None:
        if not ready:
            raise NotYet("not yet")
        await calls(now)

    scheduler.add_job(Job("daily", {"hour": 6, "minute": 0}, job))
    assert (await scheduler.run_due())[0] == []  # armed
    clock.set(datetime(2026, 3, 3, 6, 0, tzinfo=UTC))
    fired, _ = await scheduler.run_due()
    assert [o.ok for o in fired] == [False] and calls.at == []
    ready = True
    clock.advance(minutes=1)
    fired, _ = await scheduler.run_due()
    assert [o.ok for o in fired] == [True] and calls.at == [datetime(2026, 3, 3, 6, 1, tzinfo=UTC)]
