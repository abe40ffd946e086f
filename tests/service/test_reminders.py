"""The reminder dispatcher against a real database: due now/later, missed within and beyond grace, expiry,
concurrent claims from two dispatchers, and each kind of Discord error."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import discord
import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import ManualClock
from bot.reminders import (
    DROPPED,
    FAILED,
    PENDING,
    SENT,
    Outcome,
    PermanentSendError,
    ReminderKind,
    Reminders,
    classify_error,
)
from models import Reminder


@dataclass
class HttpResponse:
    """The two attributes discord.HTTPException reads from aiohttp's response."""

    status: int
    reason: str


def discord_error(status: int, code: int = 0) -> discord.HTTPException:
    cls = {403: discord.Forbidden, 404: discord.NotFound}.get(status, discord.HTTPException)
    if status >= 500:
        cls = discord.DiscordServerError
    return cls(HttpResponse(status, "x"), {"code": code, "message": f"status {status}"})  # type: ignore[arg-type]


class Outbox:
    def __init__(self) -> None:
        self.sent: list[int] = []
        self.fail_with: list[BaseException] = []
        self.delay = 0.0

    async def handler(self, reminder: Reminder) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_with:
            raise self.fail_with.pop(0)
        self.sent.append(reminder.id)


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def reminders(sessions: async_sessionmaker[AsyncSession], clock: ManualClock, outbox: Outbox) -> Reminders:
    r = Reminders(sessions, clock, default_grace=timedelta(hours=1), max_attempts=3)
    r.register(ReminderKind("note", outbox.handler))
    r.register(ReminderKind("strict", outbox.handler, grace=timedelta(0)))
    return r


async def add(
    reminders: Reminders, sessions, clock: ManualClock, *, kind: str = "note", in_: timedelta, **kw
) -> int:
    async with sessions.begin() as session:
        r = await reminders.schedule(
            session, kind=kind, guild_id=1, target_id=2, due_at=clock.now() + in_, payload={"text": "hi"}, **kw
        )
        assert r is not None
        return r


async def state_of(sessions, reminder_id: int) -> Reminder:
    async with sessions() as session:
        return await session.scalar(select(Reminder).where(Reminder.id == reminder_id))


async def test_due_now_is_sent_once_and_later_is_not(reminders, sessions, clock, outbox) -> None:
    now_id = await add(reminders, sessions, clock, in_=timedelta(0))
    later_id = await add(reminders, sessions, clock, in_=timedelta(minutes=30))
    outcomes = await reminders.run_due()
    assert [(o.reminder_id, o.state) for o in outcomes] == [(now_id, SENT)]
    assert outbox.sent == [now_id]
    assert (await reminders.run_due()) == []  # nothing twice
    clock.advance(minutes=30)
    outcomes = await reminders.run_due()
    assert [(o.reminder_id, o.state) for o in outcomes] == [(later_id, SENT)]
    assert outbox.sent == [now_id, later_id]
    stored = await state_of(sessions, later_id)
    assert stored.state == SENT and stored.finished_at == clock.now() and stored.attempts == 1


async def test_missed_while_down_within_grace_is_sent_late(reminders, sessions, clock, outbox) -> None:
    rid = await add(reminders, sessions, clock, in_=timedelta(minutes=5))
    clock.advance(minutes=50)  # the bot was down; 45 minutes late, grace is 60
    outcomes = await reminders.run_due()
    assert [o.state for o in outcomes] == [SENT]
    assert outbox.sent == [rid]


async def test_missed_beyond_grace_is_dropped_with_reason(reminders, sessions, clock, outbox) -> None:
    rid = await add(reminders, sessions, clock, in_=timedelta(minutes=5))
    strict = await add(reminders, sessions, clock, kind="strict", in_=timedelta(minutes=5))
    clock.advance(hours=2)
    outcomes = await reminders.run_due()
    assert {o.reminder_id: o.state for o in outcomes} == {rid: DROPPED, strict: DROPPED}
    assert outbox.sent == []
    assert "missed by more than" in (await state_of(sessions, rid)).last_error


async def test_kind_with_zero_grace_is_sent_on_time_but_not_late(reminders, sessions, clock, outbox) -> None:
    on_time = await add(reminders, sessions, clock, kind="strict", in_=timedelta(minutes=1))
    clock.advance(minutes=1)
    assert [o.state for o in await reminders.run_due()] == [SENT]
    late = await add(reminders, sessions, clock, kind="strict", in_=timedelta(minutes=1))
    clock.advance(minutes=2)
    assert [(o.reminder_id, o.state) for o in await reminders.run_due()] == [(late, DROPPED)]
    assert outbox.sent == [on_time]


async def test_expired_reminder_is_dropped(reminders, sessions, clock, outbox) -> None:
    rid = await add(
        reminders, sessions, clock, in_=timedelta(minutes=10), expires_at=clock.now() + timedelta(minutes=15)
    )
    clock.advance(minutes=20)  # within grace, but the session it announces has started
    outcomes = await reminders.run_due()
    assert [(o.reminder_id, o.state, o.detail) for o in outcomes] == [(rid, DROPPED, "expired")]


async def test_dedupe_key_schedules_once(reminders, sessions, clock) -> None:
    await add(reminders, sessions, clock, in_=timedelta(minutes=1), dedupe_key="session-1:60")
    async with sessions.begin() as session:
        again = await reminders.schedule(
            session, kind="note", guild_id=1, target_id=2, due_at=clock.now(), dedupe_key="session-1:60"
        )
    assert again is None
    async with sessions.begin() as session:
        assert await reminders.cancel(session, kind="note", dedupe_key="session-1:60") == 1
    clock.advance(minutes=5)
    assert await reminders.run_due() == []


async def test_two_dispatchers_claiming_concurrently_send_once(sessions, clock, outbox, reminders) -> None:
    ids = [await add(reminders, sessions, clock, in_=timedelta(0)) for _ in range(5)]
    outbox.delay = 0.01  # keep both dispatchers inside the window
    # A second process: its own dispatcher and its own sessions on the same database.
    other = Reminders(sessions, clock, max_attempts=3)
    other.register(ReminderKind("note", outbox.handler))
    a, b = await asyncio.gather(reminders.run_due(), other.run_due())
    assert sorted(o.reminder_id for o in a + b if o.state == SENT) == ids
    assert sorted(outbox.sent) == ids  # each exactly once


@pytest.mark.parametrize("status", [429, 500, 502, 503])
async def test_transient_discord_errors_retry_with_backoff_then_send(reminders, sessions, clock, outbox, status):
    rid = await add(reminders, sessions, clock, in_=timedelta(0))
    outbox.fail_with = [discord_error(status), discord_error(status)]
    first = await reminders.run_due()
    assert [o.state for o in first] == [PENDING] and "retry" in first[0].detail
    stored = await state_of(sessions, rid)
    assert stored.due_at == clock.now() + timedelta(seconds=30) and stored.attempts == 1
    clock.advance(seconds=30)
    assert [o.state for o in await reminders.run_due()] == [PENDING]
    assert (await state_of(sessions, rid)).due_at == clock.now() + timedelta(seconds=60)  # doubled
    clock.advance(seconds=60)
    assert [o.state for o in await reminders.run_due()] == [SENT]
    assert outbox.sent == [rid]


async def test_transient_errors_give_up_after_max_attempts(reminders, sessions, clock, outbox) -> None:
    rid = await add(reminders, sessions, clock, in_=timedelta(0))
    outbox.fail_with = [discord_error(503)] * 5
    for _ in range(3):
        await reminders.run_due()
        clock.advance(minutes=5)
    stored = await state_of(sessions, rid)
    assert stored.state == FAILED and stored.attempts == 3
    assert stored.last_error.startswith("gave up after 3")


async def test_a_kind_may_keep_retrying_with_a_capped_backoff(reminders, sessions, clock, outbox) -> None:
    """A kind with its own attempts and backoff cap outlasts the default's few minutes of retries."""
    reminders.register(
        ReminderKind("patient", outbox.handler, max_attempts=100, max_backoff=timedelta(minutes=30))
    )
    rid = await add(reminders, sessions, clock, kind="patient", in_=timedelta(0))
    outbox.fail_with = [discord_error(503)] * 12
    for _ in range(12):
        await reminders.run_due()
        stored = await state_of(sessions, rid)
        assert stored.state == PENDING and stored.due_at - clock.now() <= timedelta(minutes=30)
        clock.set(stored.due_at)
    assert [o.state for o in await reminders.run_due()] == [SENT]
    assert outbox.sent == [rid] and (await state_of(sessions, rid)).attempts == 13


@pytest.mark.parametrize(("status", "code"), [(403, 50007), (403, 50013), (404, 10003)])
async def test_permanent_discord_errors_fail_and_record_why(reminders, sessions, clock, outbox, status, code):
    rid = await add(reminders, sessions, clock, in_=timedelta(0))
    outbox.fail_with = [discord_error(status, code)]
    outcomes = await reminders.run_due()
    assert [o.state for o in outcomes] == [FAILED]
    stored = await state_of(sessions, rid)
    assert stored.state == FAILED and f"code {code}" in stored.last_error
    clock.advance(hours=1)
    assert await reminders.run_due() == []  # never retried


async def test_a_bug_in_a_handler_fails_the_reminder_and_is_logged(reminders, sessions, clock, outbox, caplog):
    rid = await add(reminders, sessions, clock, in_=timedelta(0))
    outbox.fail_with = [KeyError("oops")]
    outcomes = await reminders.run_due()
    assert [o.state for o in outcomes] == [FAILED]
    assert "bug: KeyError" in (await state_of(sessions, rid)).last_error
    assert any("handler raised" in r.message for r in caplog.records)


async def test_unknown_kind_stays_pending_until_its_feature_loads(reminders, sessions, clock, outbox) -> None:
    rid = await add(reminders, sessions, clock, in_=timedelta(0))
    reminders.unregister("note")
    assert [o.state for o in await reminders.run_due()] == [PENDING]
    reminders.register(ReminderKind("note", outbox.handler))
    assert [o.state for o in await reminders.run_due()] == [SENT]
    assert (await state_of(sessions, rid)).attempts == 1


async def test_stale_claim_from_a_dead_process_is_recovered(reminders, sessions, clock, outbox) -> None:
    rid = await add(reminders, sessions, clock, in_=timedelta(0))
    assert await reminders._claim(rid, clock.now()) is not None  # a process claims it, then dies
    assert await reminders.run_due() == []
    clock.advance(minutes=11)
    assert await reminders.recover_stale_claims() == 1
    assert [o.state for o in await reminders.run_due()] == [SENT]


def test_classify_error() -> None:
    from bot.reminders import TransientSendError

    assert isinstance(classify_error(discord_error(429)), TransientSendError)
    assert isinstance(classify_error(discord_error(500)), TransientSendError)
    assert isinstance(classify_error(discord_error(403, 50007)), PermanentSendError)
    assert isinstance(classify_error(discord_error(400, 50035)), PermanentSendError)
    assert isinstance(classify_error(ConnectionResetError()), TransientSendError)
    bug = ValueError("x")
    assert classify_error(bug) is bug


async def test_naive_times_are_refused(reminders, sessions) -> None:
    from datetime import datetime

    async with sessions.begin() as session:
        with pytest.raises(ValueError):
            await reminders.schedule(session, kind="note", guild_id=1, target_id=2, due_at=datetime(2026, 1, 1))


class Poster:
    """A coalesced kind's handler: records each batch; can fail one member, or block until released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.fail_ids: set[int] = set()
        self.gate: asyncio.Event | None = None

    async def handler(self, batch: list[Reminder]) -> dict[int, Exception]:
        if self.gate is not None:
            await self.gate.wait()
        self.batches.append([r.id for r in batch])
        return {r.id: PermanentSendError("member left") for r in batch if r.id in self.fail_ids}


async def test_coalesced_kind_sends_due_reminders_together_and_fails_only_its_own(
    sessions, clock, reminders
) -> None:
    poster = Poster()
    reminders.register(ReminderKind("welcome", batch_handler=poster.handler, batch_size=3))
    ids = [await add(reminders, sessions, clock, kind="welcome", in_=timedelta(0)) for _ in range(5)]
    poster.fail_ids = {ids[1]}
    outcomes = await reminders.run_due()
    assert poster.batches == [ids[:3], ids[3:]]  # in due order, at most batch_size at a time
    assert [(o.reminder_id, o.state) for o in outcomes] == [(i, FAILED if i == ids[1] else SENT) for i in ids]
    assert await reminders.run_due() == []  # nothing twice


async def test_what_falls_due_while_a_batch_is_on_its_way_joins_the_next_one(sessions, clock, reminders) -> None:
    poster = Poster()
    poster.gate = asyncio.Event()
    reminders.register(ReminderKind("welcome", batch_handler=poster.handler, batch_size=10))
    first = await add(reminders, sessions, clock, kind="welcome", in_=timedelta(0))
    run = asyncio.create_task(reminders.run_due())
    await asyncio.sleep(0.1)  # the first batch (one reminder) is claimed and waiting on "Discord"
    later = [await add(reminders, sessions, clock, kind="welcome", in_=timedelta(0)) for _ in range(4)]
    poster.gate.set()
    outcomes = await asyncio.wait_for(run, 10)
    assert poster.batches == [[first], later]  # one call at a time; the rest coalesced, in the same pass
    assert {o.state for o in outcomes} == {SENT}


async def test_cancelled_batch_hands_its_reminders_back(sessions, clock, reminders) -> None:
    poster = Poster()
    poster.gate = asyncio.Event()
    reminders.register(ReminderKind("welcome", batch_handler=poster.handler, batch_size=10))
    ids = [await add(reminders, sessions, clock, kind="welcome", in_=timedelta(0)) for _ in range(3)]
    run = asyncio.create_task(reminders.run_due())
    await asyncio.sleep(0.1)
    run.cancel()  # shutting down while the post is on its way
    with pytest.raises(asyncio.CancelledError):
        await run
    stored = [await state_of(sessions, i) for i in ids]
    assert {(r.state, r.attempts, r.claim_token) for r in stored} == {(PENDING, 0, None)}
    poster.gate.set()
    assert [o.state for o in await reminders.run_due()] == [SENT] * 3


async def test_many_due_reminders_are_claimed_in_a_few_statements(sessions, clock, outbox, reminders) -> None:
    from sqlalchemy import event

    ids = [await add(reminders, sessions, clock, in_=timedelta(0)) for _ in range(120)]
    reminders.max_in_flight = 50
    claims: list[str] = []
    engine = sessions.kw["bind"].sync_engine

    def count(_conn, _cursor, statement: str, *_args) -> None:
        # A claim is an UPDATE of reminders to "claimed" (behind the WITH of the rows it picks).
        if "UPDATE REMINDERS SET STATE" in statement.upper() and "claimed" in str(_args[0]):
            claims.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        outcomes = await reminders.run_due()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert sorted(outbox.sent) == ids and [o.reminder_id for o in outcomes] == ids
    # One claim per batch, never one per reminder: 50 at once, then 25 each time half the slots are free
    # (50 + 25 + 25 + 20), and each reminder is claimed exactly once.
    assert len(claims) == reminders.claim_statements == 4
    assert {(await state_of(sessions, i)).attempts for i in ids} == {1}


class CancelOnWrite:
    """Cancels a dispatch task the moment it writes a given state to ``reminders`` (shutdown at the worst time)."""

    def __init__(self, sessions, state: str) -> None:
        self.engine = sessions.kw["bind"].sync_engine
        self.state = state
        self.task: asyncio.Task | None = None

    def __call__(self, _conn, _cursor, statement: str, _params, context, _many) -> None:
        if statement.lstrip().upper().startswith("UPDATE REMINDERS SET"):
            state = context.compiled_parameters[0].get("state")
            if state == self.state and self.task is not None:
                self.task.cancel()
                self.task = None

    async def run(self, coro) -> None:
        self.task = asyncio.create_task(coro)
        event.listen(self.engine, "before_cursor_execute", self)
        try:
            with pytest.raises(asyncio.CancelledError):
                await self.task
        finally:
            event.remove(self.engine, "before_cursor_execute", self)


async def sends_after_a_crash(reminders: Reminders, clock: ManualClock) -> list[Outcome]:
    """What a restart ten minutes later would send again (stale-claim recovery, then a pass)."""
    clock.advance(minutes=11)
    await reminders.recover_stale_claims()
    return [o for o in await reminders.run_due() if o.state == SENT]


async def test_a_send_cancelled_while_recording_it_is_not_sent_again(sessions, clock, outbox, reminders) -> None:
    rid = await add(reminders, sessions, clock, in_=timedelta(0))
    await CancelOnWrite(sessions, SENT).run(reminders.run_due())
    assert outbox.sent == [rid]
    assert (await state_of(sessions, rid)).state == SENT  # recorded although cancelled meanwhile
    assert await sends_after_a_crash(reminders, clock) == [] and outbox.sent == [rid]


async def test_a_failure_cancelled_while_recording_it_is_recorded(sessions, clock, outbox, reminders) -> None:
    rid = await add(reminders, sessions, clock, in_=timedelta(0))
    outbox.fail_with = [PermanentSendError("DMs closed")]
    await CancelOnWrite(sessions, FAILED).run(reminders.run_due())
    stored = await state_of(sessions, rid)
    assert (stored.state, stored.last_error) == (FAILED, "DMs closed")


async def test_a_batch_cancelled_while_recording_its_post_is_not_posted_again(sessions, clock, reminders) -> None:
    poster = Poster()
    reminders.register(ReminderKind("welcome", batch_handler=poster.handler, batch_size=10))
    ids = [await add(reminders, sessions, clock, kind="welcome", in_=timedelta(0)) for _ in range(3)]
    await CancelOnWrite(sessions, SENT).run(reminders.run_due())
    assert poster.batches == [ids]
    assert {(await state_of(sessions, i)).state for i in ids} == {SENT}
    assert await sends_after_a_crash(reminders, clock) == [] and poster.batches == [ids]


async def test_a_batch_cancelled_while_dropping_late_ones_hands_back_the_rest(sessions, clock, reminders) -> None:
    poster = Poster()
    reminders.register(
        ReminderKind("welcome", batch_handler=poster.handler, batch_size=10, grace=timedelta(minutes=5))
    )
    late = await add(reminders, sessions, clock, kind="welcome", in_=timedelta(0))
    clock.advance(minutes=10)
    live = await add(reminders, sessions, clock, kind="welcome", in_=timedelta(0))
    await CancelOnWrite(sessions, DROPPED).run(reminders.run_due())
    assert poster.batches == []
    assert (await state_of(sessions, late)).state == DROPPED
    stored = await state_of(sessions, live)  # not left claimed until the stale-claim timeout
    assert (stored.state, stored.attempts, stored.claim_token) == (PENDING, 0, None)


async def test_a_finished_batch_leaves_its_kind_reserved_for_its_caller(sessions, clock, reminders) -> None:
    # run_due reserves the kind and frees it in the task's done callback. Freeing it in the batch as well let a
    # second pass start a batch in between, which the first callback then freed: two posts of one kind at once.
    poster = Poster()
    kind = ReminderKind("welcome", batch_handler=poster.handler, batch_size=10)
    reminders.register(kind)
    await add(reminders, sessions, clock, kind="welcome", in_=timedelta(0))
    reminders._busy_kinds.add("welcome")
    outcomes = await reminders._run_batch(kind, clock.now())
    assert [o.state for _key, o in outcomes] == [SENT]
    assert "welcome" in reminders._busy_kinds


class Statements:
    """Counts the UPDATEs of reminders' state, by the state written."""

    def __init__(self, sessions) -> None:
        self.engine = sessions.kw["bind"].sync_engine
        self.states: list[str] = []

    def __call__(self, _conn, _cursor, statement: str, _params, context, _many) -> None:
        if statement.lstrip().upper().startswith("UPDATE REMINDERS SET"):
            self.states.append(context.compiled_parameters[0].get("state"))

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *_exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self)


async def test_a_batch_refused_as_a_whole_is_recorded_in_one_write(sessions, clock, reminders) -> None:
    async def refused(_batch: list[Reminder]) -> None:
        raise discord_error(403, 50013)

    reminders.register(ReminderKind("welcome", batch_handler=refused, batch_size=10))
    ids = [await add(reminders, sessions, clock, kind="welcome", in_=timedelta(0)) for _ in range(5)]
    with Statements(sessions) as writes:
        outcomes = await reminders.run_due()
    assert [(o.reminder_id, o.state) for o in outcomes] == [(i, FAILED) for i in ids]
    assert writes.states == [FAILED]
    stored = [await state_of(sessions, i) for i in ids]
    assert {r.last_error for r in stored} == {outcomes[0].detail} and "50013" in outcomes[0].detail


async def test_a_batch_failing_for_now_is_retried_in_one_write(sessions, clock, reminders) -> None:
    async def down(_batch: list[Reminder]) -> None:
        raise discord_error(503)

    reminders.register(ReminderKind("welcome", batch_handler=down, batch_size=10))
    ids = [await add(reminders, sessions, clock, kind="welcome", in_=timedelta(0)) for _ in range(4)]
    with Statements(sessions) as writes:
        outcomes = await reminders.run_due()
    assert [o.state for o in outcomes] == [PENDING] * 4 and writes.states == [PENDING]
    retry = {(await state_of(sessions, i)).due_at for i in ids}
    assert retry == {clock.now() + reminders.base_backoff}


async def test_late_reminders_of_a_batch_are_dropped_in_one_write(sessions, clock, reminders) -> None:
    poster = Poster()
    reminders.register(
        ReminderKind("welcome", batch_handler=poster.handler, batch_size=10, grace=timedelta(minutes=5))
    )
    late = [await add(reminders, sessions, clock, kind="welcome", in_=timedelta(0)) for _ in range(4)]
    clock.advance(minutes=10)
    with Statements(sessions) as writes:
        outcomes = await reminders.run_due()
    assert [(o.reminder_id, o.state) for o in outcomes] == [(i, DROPPED) for i in late]
    assert writes.states == [DROPPED]


async def test_one_commit_wakes_the_dispatcher_once(sessions, clock, reminders) -> None:
    from bot.scheduler import Scheduler

    Scheduler(sessions, clock, reminders)  # a live bot: the scheduler hears of each new due time
    before = reminders.generation
    await add(reminders, sessions, clock, in_=timedelta(0))
    assert reminders.generation == before + 1


async def test_kicks_during_a_pass_are_sent_by_it_without_a_second_pass(sessions, clock, outbox) -> None:
    from bot.scheduler import Scheduler

    class Counting(Reminders):
        passes = 0

        async def run_due(self, now=None):
            self.passes += 1
            return await super().run_due(now)

    reminders = Counting(sessions, clock)
    reminders.register(ReminderKind("note", outbox.handler))
    scheduler = Scheduler(sessions, clock, reminders)
    scheduler.open_gate()
    outbox.delay = 0.2
    first = await add(reminders, sessions, clock, in_=timedelta(0))  # commits, kicks: a pass starts
    await asyncio.sleep(0.05)  # its send is on its way
    more = [await add(reminders, sessions, clock, in_=timedelta(0)) for _ in range(3)]  # three more kicks
    await asyncio.wait_for(scheduler.idle(), 10)
    assert sorted(outbox.sent) == [first, *more]
    assert reminders.passes == 1


async def test_work_arriving_during_the_last_claim_is_sent_by_the_same_pass(sessions, clock, outbox, reminders):
    # With no second pass after each kicked one, the pass itself must not end on a claim that began before the
    # latest notify: that claim could not see what the notify announced.
    rid = await add(reminders, sessions, clock, in_=timedelta(minutes=1))
    engine = sessions.kw["bind"].sync_engine
    claims = 0

    def arrives_meanwhile(_conn, _cursor, statement: str, *_args) -> None:
        nonlocal claims
        # The first look for due rows (the read before a claim, or the claim): the row falls due meanwhile.
        if statement.lstrip().upper().startswith(("WITH PICKED", "SELECT REMINDERS.ID")):
            claims += 1
            if claims == 1:
                clock.advance(minutes=1)  # it falls due (as if committed) while the claim runs
                reminders.notify()

    event.listen(engine, "before_cursor_execute", arrives_meanwhile)
    try:
        outcomes = await reminders.run_due()
    finally:
        event.remove(engine, "before_cursor_execute", arrives_meanwhile)
    assert [(o.reminder_id, o.state) for o in outcomes] == [(rid, SENT)] and outbox.sent == [rid]


async def test_a_full_channel_lane_waits_in_the_table_and_never_holds_up_the_dms(sessions, clock, outbox) -> None:
    from bot.pacing import Lane

    reminders = Reminders(sessions, clock, max_in_flight=10)
    posted: list[tuple[float, int]] = []
    loop = asyncio.get_running_loop()

    async def post(reminder: Reminder) -> None:
        posted.append((loop.time(), reminder.id))

    # A channel taking 3 posts per 0.5 s (Discord's 5 per 5 s, shortened), and DMs that each take 10 ms.
    reminders.register(ReminderKind("post", post, lane=Lane("channel:1", 3, 0.5)))
    reminders.register(ReminderKind("note", outbox.handler))
    outbox.delay = 0.01
    posts = [await add(reminders, sessions, clock, kind="post", in_=timedelta(0)) for _ in range(9)]
    dms = [await add(reminders, sessions, clock, in_=timedelta(0)) for _ in range(30)]
    claims = reminders.claim_statements
    started = loop.time()
    outcomes = await reminders.run_due()
    assert {o.state for o in outcomes} == {SENT} and len(outcomes) == 39
    assert sorted(i for _t, i in posted) == posts and sorted(outbox.sent) == dms
    # Never more than 3 posts in any 0.5 s, however many were due...
    times = [t for t, _i in posted]
    assert all(times[k + 3] - times[k] >= 0.5 for k in range(len(times) - 3))
    # ...while the 30 DMs went out meanwhile: the channel's backlog took none of the ten slots.
    assert loop.time() - started >= 1.0
    assert outbox.sent and max(t for t, _i in posted) > started + 1.0
    # Claims: one per batch (the lane's room, or half the DM slots), each reminder claimed once.
    assert reminders.claim_statements - claims <= 3 + 1 + 30 // 5 + 1
    assert {(await state_of(sessions, i)).attempts for i in posts + dms} == {1}


async def test_dms_are_spread_at_the_send_rate(sessions, clock, outbox) -> None:
    reminders = Reminders(sessions, clock, send_rate=50)
    loop = asyncio.get_running_loop()
    times: list[float] = []

    async def dm(reminder: Reminder) -> None:
        times.append(loop.time())

    reminders.register(ReminderKind("note", dm))
    for _ in range(26):
        await add(reminders, sessions, clock, in_=timedelta(0))
    await reminders.run_due()
    assert len(times) == 26
    assert times[-1] - times[0] >= 25 / 50 - 0.02  # 50 per second, not all at once


async def test_a_digest_kind_posts_once_per_window_gathering_what_fell_due(sessions, clock, reminders) -> None:
    poster = Poster()
    wakes: list = []
    reminders.on_scheduled = wakes.append
    reminders.register(
        ReminderKind("badge", batch_handler=poster.handler, batch_size=50, digest_window=timedelta(minutes=15))
    )
    first = await add(reminders, sessions, clock, kind="badge", in_=timedelta(0))
    window_end = clock.now() + timedelta(minutes=15)
    await reminders.run_due()
    assert poster.batches == [[first]]  # the first after a quiet spell goes out at once
    wakes.clear()
    later = []
    for _ in range(3):
        clock.advance(minutes=4)
        later.append(await add(reminders, sessions, clock, kind="badge", in_=timedelta(0)))
        assert await reminders.run_due() == []  # within the window: they wait, nothing is claimed
    assert window_end in wakes  # the scheduler is asked to wake at the window's end
    clock.advance(minutes=3)
    outcomes = await reminders.run_due()
    assert poster.batches == [[first], later]  # one digest for the three
    assert [o.state for o in outcomes] == [SENT] * 3
    async with sessions() as session:
        rows = list(await session.scalars(select(Reminder).where(Reminder.kind == "badge")))
    assert {(r.state, r.attempts) for r in rows} == {(SENT, 1)}


async def test_a_full_digest_does_not_wait_for_the_window(sessions, clock, reminders) -> None:
    # A burst larger than a batch: the window gathers nothing more, so the next full batch goes at once.
    poster = Poster()
    reminders.register(
        ReminderKind("badge", batch_handler=poster.handler, batch_size=3, digest_window=timedelta(minutes=15))
    )
    ids = [await add(reminders, sessions, clock, kind="badge", in_=timedelta(0)) for _ in range(8)]
    await reminders.run_due()
    assert poster.batches == [ids[:3], ids[3:6]]  # two full batches; the last two wait for the window
    clock.advance(minutes=15)
    await reminders.run_due()
    assert poster.batches[2:] == [ids[6:]]


async def test_the_global_pacer_keeps_a_burst_after_a_loop_stall_under_the_limit() -> None:
    import time

    from bot.pacing import GlobalPacer

    pacer = GlobalPacer(20, headroom=1.0)
    loop = asyncio.get_running_loop()
    sent: list[float] = []

    async def request() -> None:
        await pacer.wait()
        sent.append(loop.time())

    tasks = [asyncio.create_task(request()) for _ in range(50)]
    await asyncio.sleep(0.2)
    time.sleep(0.6)  # noqa: ASYNC251 - the loop stalls on purpose: a dozen slots pass while nothing runs
    await asyncio.gather(*tasks)
    # However the wake-ups bunch, no second ever lets out more than the limit.
    assert max(sum(1 for t in sent if s <= t < s + 1.0) for s in sent) <= 20


async def test_two_passes_at_once_never_overfill_a_lane(sessions, clock) -> None:
    """A poll and a kick run passes side by side: the lane's room is taken before either claim awaits."""
    from bot.pacing import Lane

    reminders = Reminders(sessions, clock, max_in_flight=10)
    posted: list[float] = []
    loop = asyncio.get_running_loop()

    async def post(reminder: Reminder) -> None:
        posted.append(loop.time())

    reminders.register(ReminderKind("post", post, lane=Lane("channel:1", 3, 0.5)))
    for _ in range(9):
        await add(reminders, sessions, clock, kind="post", in_=timedelta(0))
    first, second = await asyncio.gather(reminders.run_due(), reminders.run_due())
    assert len(first) + len(second) == 9 and len(posted) == 9
    posted.sort()
    assert all(posted[k + 3] - posted[k] >= 0.5 for k in range(len(posted) - 3))


async def test_a_claim_is_dated_when_it_is_made_not_when_its_pass_began(sessions, clock, reminders) -> None:
    """A pass paced by its lanes can last minutes: its claims must not look stale to recovery meanwhile."""
    reminder_id = await add(reminders, sessions, clock, in_=timedelta(0))
    began = clock.now()
    clock.advance(minutes=30)  # the pass was given the time it began
    await reminders.run_due(began)
    assert (await state_of(sessions, reminder_id)).claimed_at == clock.now()


async def test_a_batch_cut_off_between_its_posts_never_posts_the_first_again(sessions, clock, reminders) -> None:
    """A digest in two posts: the first is out and recorded at once (``sent``); a shutdown before the second
    hands back only the second's reminders, so after the restart nobody is named twice."""
    posts: list[list[int]] = []
    second = asyncio.Event()

    async def two_posts(rows: list[Reminder]) -> dict[int, Exception]:
        first, rest = [r.id for r in rows[:2]], [r.id for r in rows[2:]]
        posts.append(first)
        await reminders.sent(first)
        await second.wait()  # the second post is on its way when the bot stops
        posts.append(rest)
        return {}

    reminders.register(ReminderKind("digest", batch_handler=two_posts, batch_size=10))
    ids = [await add(reminders, sessions, clock, kind="digest", in_=timedelta(0)) for _ in range(4)]
    run = asyncio.create_task(reminders.run_due())
    await asyncio.sleep(0.2)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert [(await state_of(sessions, i)).state for i in ids] == [SENT, SENT, PENDING, PENDING]
    second.set()
    outcomes = await reminders.run_due()
    assert sorted(o.reminder_id for o in outcomes) == ids[2:]
    assert sorted(i for post in posts for i in post) == ids  # everyone named once, across the restart


async def test_a_reminder_committed_while_its_kinds_look_is_on_its_way_goes_out_in_the_same_pass(
    sessions, clock, reminders
) -> None:
    """The welcome DM schedules the channel post when it succeeds. If the post kind's look for due rows read
    before that commit but returned after the pass had handled the commit's notify, the pass once marked the
    kind idle and ended with the post still pending, until the next poll (a minute later on a live bot)."""
    poster = Poster()
    reminders.register(ReminderKind("welcome", batch_handler=poster.handler, batch_size=10))
    committed, looked_again = asyncio.Event(), asyncio.Event()
    real_has_due = reminders._has_due
    slowed = False

    async def has_due_slowly(at, kinds=(), skip=()) -> bool:  # type: ignore[no-untyped-def]
        nonlocal slowed
        found = await real_has_due(at, kinds, skip)
        if list(kinds) == ["welcome"] and not slowed:
            slowed = True
            await committed.wait()  # it saw nothing; the row is committed and notified before the look returns
            await looked_again.wait()  # and the pass has taken that notify in meanwhile
        return found

    class Watched(asyncio.Event):
        def clear(self) -> None:  # the pass clears it when it takes a notify in, before looking again
            super().clear()
            if committed.is_set():
                looked_again.set()

    reminders._has_due = has_due_slowly  # type: ignore[method-assign]
    reminders._new_work = Watched()

    async def greet(reminder: Reminder) -> None:
        async with sessions.begin() as session:
            await reminders.schedule(
                session, kind="welcome", guild_id=1, target_id=2, due_at=clock.now(), payload={}
            )
        committed.set()

    reminders.register(ReminderKind("dm", greet))
    await add(reminders, sessions, clock, kind="dm", in_=timedelta(0))
    outcomes = await asyncio.wait_for(reminders.run_due(), 10)
    assert slowed and len(poster.batches) == 1
    assert [(o.kind, o.state) for o in outcomes] == [("dm", SENT), ("welcome", SENT)]
