"""Fixtures: an emulator with a small guild, and the bare test bot connected to it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.discord_seam import point_discord_at
from bot.emulator import Channel, Emulator, Guild, Member

from .testbot import ProbeBot

TOKEN = "emulator-test-token"


@dataclass
class World:
    guild: Guild
    alice: Member
    bob: Member
    general: Channel


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(response_timeout=3.0) as emulator:
        point_discord_at(emulator.api_base, emulator.gateway_url)
        try:
            yield emulator
        finally:
            point_discord_at(None)


@pytest.fixture
def world(emu: Emulator) -> World:
    guild = emu.add_guild("Atlas", roles=["Learner", {"name": "Maintainer", "color": 0x3498DB}], community=True)
    alice = emu.add_member(guild, "alice", roles=["Maintainer"])
    bob = emu.add_member(guild, "bob")
    return World(guild, alice, bob, emu.channel(guild, "general"))


async def start_bot(
    emu: Emulator, guild: Guild, *, sync: bool = True, bot: ProbeBot | None = None
) -> tuple[ProbeBot, asyncio.Task[None]]:
    bot = bot or ProbeBot(guild.id)
    task = asyncio.create_task(bot.start(TOKEN))
    ready = asyncio.create_task(bot.ready_event.wait())
    done, _ = await asyncio.wait({task, ready}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        ready.cancel()
        task.result()  # raises the start-up error
    assert ready in done, "bot did not become ready"
    if sync:
        await bot.tree.sync(guild=bot.guild_obj)
    return bot, task


async def stop_bot(bot: ProbeBot, task: asyncio.Task[None]) -> None:
    await bot.close()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.wait_for(task, 5)


@pytest.fixture
async def bot(emu: Emulator, world: World) -> AsyncIterator[ProbeBot]:
    test_bot, task = await start_bot(emu, world.guild)
    try:
        yield test_bot
    finally:
        await stop_bot(test_bot, task)
