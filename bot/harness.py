"""The real AtlasBot running against the local Discord emulator: shared by the e2e tests, the sandbox and the
benchmark, so all three exercise exactly the same wiring.

    async with Emulator(now=clock.now) as emu:
        guild = make_world(emu)
        atlas = AtlasHarness(emu, guild, clock, config_for(emu, guild), "sqlite+aiosqlite:///tmp/x.db")
        await atlas.start()
        await atlas.advance(weeks=5)   # moves the clock day by day and runs whatever became due
        await atlas.restart()          # a new bot process on the same database and emulator
        await atlas.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot import db
from bot.clock import ManualClock
from bot.config import Config
from bot.core import AtlasBot
from bot.emulator import Channel, Emulator, Guild, Member
from bot.reminders import Outcome
from bot.scheduler import JobOutcome

TOKEN = "emulator-token"
COMMUNITY_ROLES = ["Learner", "Contributor", "Teacher", "Mentor", "Ambassador", "Maintainer"]
CHANNELS = {
    "welcome": "welcome",
    "announcements": "announcements",
    "mod_log": "mod-log",
    "study_groups": "study-groups",
    "office_hours": "office-hours",
}


def make_world(emu: Emulator, name: str = "Atlas Community", **guild_options: Any) -> Guild:
    """A guild laid out as README asks: the community roles below the bot's, and a channel per purpose."""
    guild_options.setdefault("community", True)
    guild = emu.add_guild(name, roles=COMMUNITY_ROLES, channels=("general",), **guild_options)
    for channel in CHANNELS.values():
        emu.add_channel(guild, channel)
    return guild


def config_for(
    emu: Emulator,
    guild: Guild,
    *,
    cogs: list[str] | None = None,
    base: Config | None = None,
    **overrides: dict[str, Any],
) -> Config:
    """``base`` (default: the defaults) pointed at the emulator and the world's channels."""
    bot: dict[str, Any] = {"guild_id": guild.id, "auto_migrate": True}
    if cogs is not None:
        bot["cogs"] = cogs
    config = (base or Config()).with_overrides(
        bot=bot,
        discord={"api_base": emu.api_base, "gateway": emu.gateway_url},
        channels={key: emu.channel(guild, name).id for key, name in CHANNELS.items()},
    )
    return config.with_overrides(**overrides) if overrides else config


@dataclass
class AtlasHarness:
    emu: Emulator
    guild: Guild
    clock: ManualClock
    config: Config
    db_url: str
    bot: AtlasBot = field(init=False)
    task: asyncio.Task[None] | None = None
    members: dict[str, Member] = field(default_factory=dict)

    @property
    def alice(self) -> Member:  # the demo worlds' maintainer
        return self.members["alice"]

    @property
    def bob(self) -> Member:
        return self.members["bob"]

    def channel(self, name: str) -> Channel:
        return self.emu.channel(self.guild, name)

    async def start(
        self, config: Config | None = None, *, live_scheduler: bool = False, **client_options: Any
    ) -> AtlasBot:
        """Start a bot process. ``live_scheduler`` runs APScheduler as production does (wall-clock wake-ups
        and polls); by default time-based work fires only through advance(). ``client_options`` go to
        discord.py's client."""
        if config is not None:
            self.config = config
        engine = db.create_engine(self.db_url)
        self.bot = AtlasBot(
            self.config,
            engine=engine,
            sessionmaker=db.create_sessionmaker(engine),
            clock=self.clock,
            # Without the live scheduler, due-now reminders are still kicked at once after their commit.
            start_scheduler=live_scheduler,
            **client_options,
        )
        self.task = asyncio.create_task(self.bot.start(TOKEN))
        ready = asyncio.create_task(self.bot.wait_until_ready())
        done, _ = await asyncio.wait({self.task, ready}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
        if self.task in done:
            ready.cancel()
            self.task.result()  # raises the start-up error
        if ready not in done:
            raise TimeoutError("AtlasBot did not become ready against the emulator")
        await self.emu.wait_ready()
        await asyncio.wait_for(self.bot.community.resolved.wait(), 15)  # on_ready has read the community roles
        # The start-up member reconcile runs in the background; tests and the sandbox begin once it is done.
        if self.bot.home_guild is not None:
            await asyncio.wait_for(self.bot.member_sync.wait(), 15)
        return self.bot

    async def stop(self) -> None:
        if self.task is None:
            return
        with contextlib.suppress(Exception):
            await self.settle()  # let listeners still holding a session finish before the engine goes
        await self.bot.close()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(self.task, 5)
        await self.bot.engine.dispose()
        self.task = None

    async def restart(self, config: Config | None = None) -> AtlasBot:
        await self.stop()
        return await self.start(config)

    async def settle(self) -> None:
        """Let the bot finish what the last event started (kicked reminder dispatches included)."""
        for _ in range(3):
            await asyncio.sleep(0.02)
            await self.bot.scheduler.idle()

    async def advance(
        self, delta: timedelta | None = None, **kwargs: float
    ) -> tuple[list[JobOutcome], list[Outcome]]:
        """Move the clock as a running bot would live through the time: stopping at every moment something
        falls due (a reminder, a job's fire time), at least once a day, and running what is due there."""
        end = self.clock.now() + (delta if delta is not None else timedelta(**kwargs))
        jobs: list[JobOutcome] = []
        sent: list[Outcome] = []
        while self.clock.now() < end:
            now = self.clock.now()
            wake = await self.bot.scheduler.next_wake()
            step_to = min(end, now + timedelta(days=1))
            if wake is not None and now < wake < step_to:
                step_to = wake
            self.clock.set(step_to)
            fired, out = await self.bot.scheduler.run_due()
            jobs += fired
            sent += out
            await self.settle()
        return jobs, sent


async def create_pg_database(admin_url: str, prefix: str = "atlas_test") -> tuple[str, str]:
    """A fresh database on the PostgreSQL server of ``admin_url`` (a user that may create databases), for one
    test or benchmark run: its URL and name (``drop_pg_database`` removes it)."""
    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}", name


async def drop_pg_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
