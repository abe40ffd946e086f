"""The real AtlasBot against the Discord emulator, with a temporary SQLite database and a clock tests move.

async def test_something(atlas: Atlas) -> None:
    r = await atlas.emu.slash(atlas.alice, "atlas about")
    await atlas.advance(weeks=5)      # moves the clock and runs whatever became due
    await atlas.restart()             # a new bot process on the same database and emulator
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import db
from bot.clock import ManualClock
from bot.config import Config
from bot.core import AtlasBot
from bot.discord_seam import point_discord_at
from bot.emulator import Channel, Emulator, Guild, Member
from bot.reminders import Outcome
from bot.scheduler import JobOutcome

TOKEN = "e2e-token"
E2E_COGS = ["meta", "onboarding"]
COMMUNITY_ROLES = ["Learner", "Contributor", "Teacher", "Mentor", "Ambassador", "Maintainer"]


@dataclass
class Atlas:
    emu: Emulator
    guild: Guild
    clock: ManualClock
    config: Config
    db_url: str
    bot: AtlasBot = field(init=False)
    task: asyncio.Task[None] | None = None
    members: dict[str, Member] = field(default_factory=dict)

    @property
    def alice(self) -> Member:  # a maintainer
        return self.members["alice"]

    @property
    def bob(self) -> Member:
        return self.members["bob"]

    def channel(self, name: str) -> Channel:
        return self.emu.channel(self.guild, name)

    async def start(self, config: Config | None = None) -> AtlasBot:
        if config is not None:
            self.config = config
        engine = db.create_engine(self.db_url)
        self.bot = AtlasBot(
            self.config,
            engine=engine,
            sessionmaker=db.create_sessionmaker(engine),
            clock=self.clock,
            start_scheduler=False,  # tests fire time-based work with advance(); due-now work is kicked at once
            guild_ready_timeout=0.05,
        )
        self.task = asyncio.create_task(self.bot.start(TOKEN))
        ready = asyncio.create_task(self.bot.wait_until_ready())
        done, _ = await asyncio.wait({self.task, ready}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
        if self.task in done:
            ready.cancel()
            self.task.result()
        assert ready in done, "AtlasBot did not become ready"
        await self.emu.wait_ready()
        return self.bot

    async def stop(self) -> None:
        if self.task is None:
            return
        with contextlib.suppress(Exception):
            await self.bot.scheduler.idle()
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
        """Move the clock (day by day, as a running bot would live through it) and run what became due."""
        total = delta if delta is not None else timedelta(**kwargs)
        jobs: list[JobOutcome] = []
        sent: list[Outcome] = []
        step = timedelta(days=1)
        while total > timedelta(0):
            move = min(step, total)
            self.clock.advance(move)
            total -= move
            fired, out = await self.bot.scheduler.run_due()
            jobs += fired
            sent += out
        await self.settle()
        return jobs, sent


def make_world(emu: Emulator, **guild_options: Any) -> Guild:
    guild = emu.add_guild("Atlas Community", roles=COMMUNITY_ROLES, channels=("general",), **guild_options)
    for name in ("welcome", "announcements", "mod-log", "study-groups", "office-hours"):
        emu.add_channel(guild, name)
    return guild


def config_for(emu: Emulator, guild: Guild, **overrides: dict[str, Any]) -> Config:
    channels = {
        "welcome": emu.channel(guild, "welcome").id,
        "announcements": emu.channel(guild, "announcements").id,
        "mod_log": emu.channel(guild, "mod-log").id,
        "study_groups": emu.channel(guild, "study-groups").id,
        "office_hours": emu.channel(guild, "office-hours").id,
    }
    config = Config().with_overrides(
        bot={"guild_id": guild.id, "auto_migrate": True, "cogs": E2E_COGS},
        discord={"api_base": emu.api_base, "gateway": emu.gateway_url},
        channels=channels,
    )
    return config.with_overrides(**overrides) if overrides else config


@pytest.fixture
def e2e_clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
async def emulator(e2e_clock: ManualClock) -> AsyncIterator[Emulator]:
    async with Emulator(now=e2e_clock.now, response_timeout=5.0) as emu:
        point_discord_at(emu.api_base, emu.gateway_url)
        try:
            yield emu
        finally:
            point_discord_at(None)


@pytest.fixture
async def atlas(emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path) -> AsyncIterator[Atlas]:
    guild = make_world(emulator)
    harness = Atlas(
        emulator, guild, e2e_clock, config_for(emulator, guild), f"sqlite+aiosqlite:///{tmp_path / 'atlas.db'}"
    )
    harness.members["alice"] = emulator.add_member(guild, "alice", roles=["Maintainer"])
    harness.members["bob"] = emulator.add_member(guild, "bob")
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
