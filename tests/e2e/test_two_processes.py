"""Two bot processes on one PostgreSQL database: an active one and a standby that takes over, and two shards.

The takeover and the shards run the real ``atlas-bot run`` program in separate processes (as an operator would):
the leader lease is a PostgreSQL session lock that only a real process death (SIGKILL) releases the way it
happens in production, and each process has its own engine, pool, scheduler and event loop, as it would. The
emulator routes every event to the last session that identified (one bot at a time), so each shard gets an
emulator of its own standing in for Discord's connection to that shard; the database is the one shared thing,
which is what these tests are about. The database-level races (two dispatchers claiming the same reminders, two
schedulers claiming the same job period, two writers recording ledger events for the same members) run as two
engines in one event loop, so that they can be made to collide on every round.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import db, ledger
from bot.clock import ManualClock
from bot.emulator import Emulator
from bot.emulator.state import Guild
from bot.harness import create_pg_database, drop_pg_database, make_world
from bot.lease import Lease, lease_key
from bot.members import ensure_member
from bot.reminders import PENDING, SENT, ReminderKind, Reminders, add
from bot.scheduler import Job, Scheduler
from models import JobRun, LedgerEvent, MemberPoints, Reminder

pytestmark = pytest.mark.postgres

POSTGRES_ENV = "ATLAS_TEST_POSTGRES_URL"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    admin = os.environ.get(POSTGRES_ENV)
    if not admin:
        if os.environ.get("ATLAS_REQUIRE_POSTGRES"):
            pytest.fail(f"ATLAS_REQUIRE_POSTGRES is set but {POSTGRES_ENV} is not: CI must test both backends")
        pytest.skip(f"two processes on one database need PostgreSQL: set {POSTGRES_ENV}")
    url, name = await create_pg_database(admin)
    try:
        await db.upgrade(url)
        yield url
    finally:
        await drop_pg_database(admin, name)


@contextlib.asynccontextmanager
async def two_engines(url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two engines (two pools of connections): what two processes have."""
    a, b = db.create_engine(url), db.create_engine(url)
    try:
        yield a, b
    finally:
        await a.dispose()
        await b.dispose()


# -- the database-level races ------------------------------------------------------------------------------------


async def test_two_dispatchers_send_each_reminder_once(pg_url: str) -> None:
    clock = ManualClock(START)
    sent: Counter[int] = Counter()
    async with two_engines(pg_url) as (ea, eb):
        dispatchers = []
        for engine in (ea, eb):
            r = Reminders(db.create_sessionmaker(engine), clock, max_in_flight=20)

            async def handle(reminder: Reminder) -> None:
                await asyncio.sleep(0)  # a send: the other process claims meanwhile
                sent[reminder.id] += 1

            r.register(ReminderKind("ping", handle))
            dispatchers.append(r)
        async with db.create_sessionmaker(ea).begin() as session:
            ids = [
                await add(
                    session,
                    kind="ping",
                    guild_id=1,
                    target_id=i,
                    due_at=START - timedelta(seconds=i % 7),
                    created_at=START,
                )
                for i in range(400)
            ]
        for _ in range(3):  # both race over the same due rows, then find nothing left
            await asyncio.gather(*(d.run_due(START) for d in dispatchers))
        async with db.create_sessionmaker(ea)() as session:
            states = Counter(await session.scalars(select(Reminder.state)))
    assert states == {SENT: 400}
    assert sorted(sent) == sorted(ids) and set(sent.values()) == {1}, "a reminder was sent twice or not at all"
    assert all(d.claim_statements for d in dispatchers)  # both took part


async def test_shards_claim_only_their_own_guilds_reminders(pg_url: str) -> None:
    clock = ManualClock(START)
    handled: dict[int, list[int]] = {101: [], 202: []}
    async with two_engines(pg_url) as (ea, eb):
        dispatchers = []
        for guild_id, engine in ((101, ea), (202, eb)):
            r = Reminders(db.create_sessionmaker(engine), clock)
            r.guild_ids = frozenset({guild_id})

            async def handle(reminder: Reminder, mine: int = guild_id) -> None:
                handled[mine].append(reminder.guild_id)

            r.register(ReminderKind("ping", handle))
            dispatchers.append(r)
        async with db.create_sessionmaker(ea).begin() as session:
            for i in range(60):
                await add(
                    session, kind="ping", guild_id=(101, 202)[i % 2], target_id=i, due_at=START, created_at=START
                )
        assert await dispatchers[0].next_due() == START
        await asyncio.gather(*(d.run_due(START) for d in dispatchers))
    assert handled == {101: [101] * 30, 202: [202] * 30}


async def test_a_recurring_job_runs_once_per_period_across_processes(pg_url: str) -> None:
    clock = ManualClock(START)
    runs: Counter[tuple[str, datetime]] = Counter()
    async with two_engines(pg_url) as (ea, eb):

        def scheduler(engine: AsyncEngine, scope: str = "") -> Scheduler:
            sessions = db.create_sessionmaker(engine)
            s = Scheduler(sessions, clock, Reminders(sessions, clock))
            s.scope = scope

            async def job(now: datetime) -> None:
                await asyncio.sleep(0.01)  # the other process's claim arrives while this runs
                runs[(scope, now)] += 1

            s.add_job(Job("daily", {"hour": 6, "minute": 0}, job))
            return s

        # An active process and its standby (one guild: one scope) and another guild's process (another scope).
        active, standby, other = scheduler(ea, "101"), scheduler(eb, "101"), scheduler(eb, "202")
        every = (active, standby, other)
        await asyncio.gather(*(s.run_due() for s in every))  # first sight: armed, nothing fires
        days = 8
        for _ in range(days):
            clock.advance(timedelta(days=1))
            await asyncio.gather(*(s.run_due() for s in every), *(s.run_due() for s in every))
        async with db.create_sessionmaker(ea)() as session:
            keys = set(await session.scalars(select(JobRun.name)))
    assert keys == {"daily@101", "daily@202"}
    per_scope = Counter(scope for scope, _ in runs)
    assert set(runs.values()) == {1}, "a period ran twice"
    assert per_scope == {"101": days, "202": days}, "a period was skipped"


async def test_ledger_events_from_two_processes_are_all_recorded(pg_url: str) -> None:
    policy = ledger.default_policy()
    per_writer, members = 30, 4
    async with two_engines(pg_url) as (ea, eb):
        async with db.create_sessionmaker(ea).begin() as session:
            ids = [
                (await ensure_member(session, 7, 1000 + i, display_name=f"m{i}", joined_at=START)).id
                for i in range(members)
            ]

        async def writer(engine: AsyncEngine, name: str) -> None:
            sessions = db.create_sessionmaker(engine)
            for n in range(per_writer):
                async with sessions.begin() as session:
                    await ledger.record_event(
                        session,
                        policy,
                        guild_id=7,
                        member_id=ids[n % members],
                        kind="answer_posted",
                        reference=f"{name}-{n}",
                        at=START + timedelta(minutes=n),
                    )

        await asyncio.gather(writer(ea, "a"), writer(eb, "b"))
        async with db.create_sessionmaker(ea)() as session:
            events = await session.scalar(select(func.count()).select_from(LedgerEvent))
            for member_id in ids:
                total = await session.scalar(
                    select(MemberPoints.points).where(
                        MemberPoints.member_id == member_id,
                        MemberPoints.category == "overall",
                        MemberPoints.period_kind == "all",
                    )
                )
                assert total == await ledger.points_of(session, member_id) > 0, member_id
    assert events == 2 * per_writer


# -- real processes ------------------------------------------------------------------------------------------


def write_config(path: Path, emu: Emulator, guild: Guild, url: str, **bot: int) -> Path:
    extra = "".join(f"{k} = {v}\n" for k, v in bot.items())
    path.write_text(
        f'[bot]\nguild_id = {guild.id}\ncogs = ["meta", "onboarding"]\n{extra}'
        f'[discord]\napi_base = "{emu.api_base}"\n'
        f'[database]\nurl = "{url}"\n'
        f"[channels]\nwelcome = {emu.channel(guild, 'welcome').id}\n"
        "[reminders]\npoll_seconds = 1\n"  # the first poll arms the recurring jobs soon
    )
    return path


class Bot:
    """An ``atlas-bot run`` process, its output in a file (read while it runs)."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc, self.log = proc, log

    @classmethod
    async def start(cls, config: Path, log: Path) -> Bot:
        env = {**os.environ, "DISCORD_TOKEN": "two-processes"}
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                "-c",
                str(config),
                cwd=config.parent,
                env=env,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        return cls(proc, log)

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait_for(self, text: str, timeout: float = 30) -> None:  # noqa: ASYNC109 - a test helper
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert self.proc.returncode is None, f"the bot exited:\n{self.output}"
            assert time.monotonic() < deadline, f"no {text!r} in:\n{self.output}"
            await asyncio.sleep(0.1)

    async def stop(self) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        return self.proc.returncode or 0


def live_sessions(emu: Emulator) -> int:
    return sum(1 for s in emu.sessions if not s.closed and s.ready.is_set())


@contextlib.asynccontextmanager
async def sampling_live_sessions(emu: Emulator) -> AsyncIterator[list[int]]:
    """Count the live Discord sessions every 20 ms while the block runs (through a takeover): the list of
    counts, which must never exceed one (two actives would both answer every interaction)."""
    counts: list[int] = []
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            counts.append(live_sessions(emu))
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    try:
        yield counts
    finally:
        done.set()
        await sampler


async def test_the_standby_takes_over_when_the_active_process_is_killed(tmp_path: Path, pg_url: str) -> None:
    async with Emulator() as emu:
        guild = make_world(emu)
        config = write_config(tmp_path / "config.toml", emu, guild, pg_url)
        active = await Bot.start(config, tmp_path / "active.log")
        standby: Bot | None = None
        try:
            await emu.wait_ready(timeout=60)
            await active.wait_for("leader lease taken")
            standby = await Bot.start(config, tmp_path / "standby.log")
            async with sampling_live_sessions(emu) as counts:
                # It waits as the standby, or (the rule broken) connects beside the active one.
                await emu.until(
                    lambda: "standby: another process" in standby.output or live_sessions(emu) > 1, timeout=30
                )
                assert live_sessions(emu) == 1, "the standby connected to Discord beside the active process"
                early = [emu.add_member(guild, f"early{i}") for i in range(3)]
                await emu.until(lambda: all(len(emu.dms(m)) == 1 for m in early), timeout=20)

                active.proc.kill()  # SIGKILL: no clean shutdown, the lease goes with the dead process's connection
                await active.proc.wait()
                # Joins while no process is connected: Discord delivers them to nobody.
                gap = [emu.add_member(guild, f"gap{i}") for i in range(3)]
                await standby.wait_for("this standby takes over")
                await emu.until(lambda: live_sessions(emu) == 1, timeout=60)
            assert max(counts) == 1, "two processes were connected to Discord at once"
            late = [emu.add_member(guild, f"late{i}") for i in range(3)]
            everyone = early + gap + late
            # The new active greets who joined during the gap (its member sync) and after, and nobody twice.
            await emu.until(lambda: all(len(emu.dms(m)) >= 1 for m in everyone), timeout=30)
            await asyncio.sleep(2)  # a repeat, if any, would arrive meanwhile
            assert {m.name: len(emu.dms(m)) for m in everyone} == {m.name: 1 for m in everyone}
            assert await standby.stop() == 0
        finally:
            await active.stop()
            if standby is not None:
                await standby.stop()
    assert "Traceback" not in standby.output, standby.output


async def test_the_active_stops_when_its_lease_connection_is_cut(tmp_path: Path, pg_url: str) -> None:
    async with Emulator() as emu:
        guild = make_world(emu)
        config = write_config(tmp_path / "config.toml", emu, guild, pg_url)
        active = await Bot.start(config, tmp_path / "active.log")
        standby: Bot | None = None
        try:
            await emu.wait_ready(timeout=60)
            await active.wait_for("leader lease taken")
            standby = await Bot.start(config, tmp_path / "standby.log")
            await standby.wait_for("standby: another process is active")
            async with sampling_live_sessions(emu) as counts:
                # The database ends the active's lease session (a restart): its lock is gone with it, at once,
                # while the active has not noticed yet. The standby takes the lock at its next try, but must not
                # connect to Discord before the old active has left (Lease.settle).
                # The active is frozen meanwhile (a long GC pause, an overloaded host): it cannot notice for 3 s,
                # while the standby takes the lock at once; its Discord session still looks alive.
                active.proc.send_signal(signal.SIGSTOP)
                engine = db.create_engine(pg_url)
                try:
                    async with engine.begin() as conn:
                        cut = await conn.scalar(
                            text(
                                "SELECT count(pg_terminate_backend(pid)) FROM pg_locks "
                                "WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()"
                            )
                        )
                    await asyncio.sleep(3)
                finally:
                    active.proc.send_signal(signal.SIGCONT)
                    await engine.dispose()
                assert cut == 1
                # The active stops (status 1: its supervisor restarts it as a standby); the standby takes over.
                assert await asyncio.wait_for(active.proc.wait(), 30) == 1
                assert "lost the leader lease" in active.output
                await standby.wait_for("this standby takes over")
                await emu.until(lambda: live_sessions(emu) == 1, timeout=60)
                await asyncio.sleep(1)
            assert max(counts) == 1, "two processes were connected to Discord at once"
            member = emu.add_member(guild, "after")
            await emu.until(lambda: len(emu.dms(member)) == 1, timeout=30)
            assert await standby.stop() == 0
        finally:
            await active.stop()
            if standby is not None:
                await standby.stop()


async def test_a_silent_lease_connection_is_noticed(pg_url: str) -> None:
    """A network cut that drops packets without a reset: the lease check times out and the active steps down
    (without the timeout it waits forever, and the server keeps the lock as long as the socket looks alive)."""
    real = make_url(pg_url)
    flowing = asyncio.Event()
    flowing.set()
    pipes: list[asyncio.Task[None]] = []

    async def pump(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while data := await r.read(65536):
            await flowing.wait()  # partitioned: hold everything, close nothing
            w.write(data)
            await w.drain()

    async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        sr, sw = await asyncio.open_connection(real.host, real.port)
        pipes.extend([asyncio.create_task(pump(cr, sw)), asyncio.create_task(pump(sr, cw))])

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    proxied = real.set(host="127.0.0.1", port=server.sockets[0].getsockname()[1])
    engine = db.create_engine(proxied.render_as_string(hide_password=False))
    lease = Lease(engine, lease_key(1), check=0.5, timeout=1, close=0)
    try:
        assert await lease.acquire(asyncio.Event())
        flowing.clear()
        await asyncio.wait_for(lease.lost(), 60)  # before the fix: hangs, and this fails after 60 s
        assert not lease.held
    finally:
        flowing.set()
        for p in pipes:
            p.cancel()
        server.close()
        await engine.dispose()


def world_on_shard(emu: Emulator, shard_id: int, shard_count: int = 2) -> Guild:
    """A guild whose id puts it on ``shard_id``, as Discord routes guilds: (guild_id >> 22) % shard_count."""
    while True:
        guild = make_world(emu)
        if (guild.id >> 22) % shard_count == shard_id:
            return guild
        time.sleep(0.001)  # the next id takes the next millisecond


@pytest.mark.parametrize("shard_count", [2, 1], ids=["two-shards", "two-communities"])
async def test_two_shards_share_one_database(tmp_path: Path, pg_url: str, shard_count: int) -> None:
    """Two shards of one application, or (shard_count 1) two communities' bots on one database: each process
    claims its own guild's reminders and job periods only."""
    async with Emulator() as emu0, Emulator() as emu1:
        g0 = world_on_shard(emu0, 0, shard_count)
        await asyncio.sleep(0.002)  # two emulators: another millisecond, so another guild id (another community)
        g1 = world_on_shard(emu1, 1 % shard_count, shard_count)
        assert g0.id != g1.id
        (tmp_path / "0").mkdir()
        (tmp_path / "1").mkdir()
        c0 = write_config(tmp_path / "0" / "config.toml", emu0, g0, pg_url, shard_id=0, shard_count=shard_count)
        c1 = write_config(
            tmp_path / "1" / "config.toml", emu1, g1, pg_url, shard_id=1 % shard_count, shard_count=shard_count
        )
        bots = [await Bot.start(c0, tmp_path / "shard0.log"), await Bot.start(c1, tmp_path / "shard1.log")]
        try:
            # Both start at once: the migrations run once (the second waits for the first), both take a lease.
            await asyncio.gather(emu0.wait_ready(timeout=60), emu1.wait_ready(timeout=60))
            for bot in bots:
                await bot.wait_for("leader lease taken")
                # Joins from here: a join that arrives while the bot is still taking in its guild (before READY)
                # is not greeted, a start-up gap the onboarding owner is told of; not what this test is about.
                await bot.wait_for("member list reconciled")
            assert emu0.session is not None and emu1.session is not None
            joined = []
            for emu, guild in ((emu0, g0), (emu1, g1)):
                joined += [(emu, emu.add_member(guild, f"{guild.id % 1000}-{i}")) for i in range(8)]
                # Two emulators: another millisecond, so other user ids (not one user joining both at once).
                await asyncio.sleep(0.002)
            # Each greeting (a reminder of its own guild) is sent once, by its guild's shard.
            await emu0.until(lambda: all(len(emu.dms(m)) >= 1 for emu, m in joined), timeout=30)
            await asyncio.sleep(2)  # a repeat, if any, and the first poll (arming the jobs) meanwhile
            assert [len(emu.dms(m)) for emu, m in joined] == [1] * len(joined)
            engine = db.create_engine(pg_url)
            try:
                async with db.create_sessionmaker(engine)() as session:
                    keys = set(await session.scalars(select(JobRun.name)))
                    states = Counter(await session.scalars(select(Reminder.state)))
            finally:
                await engine.dispose()
            # Each shard claims its own guild's job periods.
            assert {f"journey.evaluate@{g0.id}", f"journey.evaluate@{g1.id}"} <= keys, keys
            # None failed (a shard claiming the other guild's reminder would fail it: no such member here);
            # the pending ones are follow-ups due later.
            assert states[SENT] >= len(joined) and set(states) <= {SENT, PENDING}, states
            for bot in bots:
                assert await bot.stop() == 0
        finally:
            for bot in bots:
                await bot.stop()
    for bot in bots:
        assert "Traceback" not in bot.output and " ERROR " not in bot.output, bot.output
