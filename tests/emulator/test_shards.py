"""IDENTIFY with a shard: the emulator sends only the guilds on that shard, as Discord routes them
("(guild_id >> 22) % num_shards"), and READY echoes the shard; and the config refuses a guild on another shard."""

from __future__ import annotations

import asyncio
import time

import discord
import pytest

from bot.config import Config, ConfigError, parse_config
from bot.emulator import Emulator, Guild

TOKEN = "emulator-test-token"


def guilds_on_both_shards(emu: Emulator) -> dict[int, Guild]:
    found: dict[int, Guild] = {}
    while len(found) < 2:
        guild = emu.add_guild(f"g{len(emu.guilds)}")
        found.setdefault((guild.id >> 22) % 2, guild)
        time.sleep(0.001)  # the next id takes the next millisecond
    return found


async def test_a_shard_gets_only_its_guilds(emu: Emulator) -> None:
    by_shard = guilds_on_both_shards(emu)
    client = discord.Client(intents=discord.Intents.default(), shard_id=1, shard_count=2)
    ready = asyncio.Event()

    @client.event
    async def on_ready() -> None:
        ready.set()

    task = asyncio.create_task(client.start(TOKEN))
    try:
        await asyncio.wait_for(ready.wait(), 15)
        ids = {g.id for g in client.guilds}
        assert by_shard[1].id in ids and by_shard[0].id not in ids
        assert all((g >> 22) % 2 == 1 for g in ids)
        assert client.shard_id == 1 and client.shard_count == 2
    finally:
        await client.close()
        await asyncio.gather(task, return_exceptions=True)


def test_the_config_refuses_a_guild_on_another_shard() -> None:
    on_one = (123 << 22) | 5  # (id >> 22) % 2 == 1
    assert parse_config({"bot": {"guild_id": on_one, "shard_id": 1, "shard_count": 2}}).bot.shard_count == 2
    with pytest.raises(ConfigError) as refused:
        parse_config({"bot": {"guild_id": on_one, "shard_id": 0, "shard_count": 2}})
    assert f"guild {on_one} is on shard 1 of 2, not shard_id 0" in str(refused.value)
    with pytest.raises(ConfigError, match="shard_id 2 must be below shard_count 2"):
        parse_config({"bot": {"shard_id": 2, "shard_count": 2}})
    assert Config().bot.shard_count == 1
