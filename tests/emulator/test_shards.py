"""IDENTIFY with a shard: the emulator sends only the guilds on that shard, as Discord routes them
("(guild_id >> 22) % num_shards"), and READY echoes the shard; and the config refuses a guild on another shard."""

from __future__ import annotations

import asyncio
import time

import aiohttp
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


async def _client(shard_id: int, events: dict[int, list[str]]) -> tuple[discord.Client, asyncio.Task[None]]:
    intents = discord.Intents.default()
    intents.members = True
    client = discord.Client(intents=intents, shard_id=shard_id, shard_count=2)
    ready = asyncio.Event()

    @client.event
    async def on_ready() -> None:
        ready.set()

    @client.event
    async def on_message(message: discord.Message) -> None:
        events[shard_id].append(f"message:{message.guild.id if message.guild else None}")

    @client.event
    async def on_interaction(interaction: discord.Interaction) -> None:
        events[shard_id].append(f"interaction:{interaction.guild_id}")
        await interaction.response.send_message("ok", ephemeral=True)

    task = asyncio.create_task(client.start(TOKEN))
    await asyncio.wait_for(ready.wait(), 15)
    return client, task


async def test_events_go_to_the_shard_of_their_guild_and_dms_to_shard_0(emu: Emulator) -> None:
    """One emulator, two shard sessions: a guild's events reach its own shard only; a click on a button in a DM
    (no guild) reaches shard 0 only, as Discord sends DMs (Gateway, "Sharding")."""
    by_shard = guilds_on_both_shards(emu)
    for guild in by_shard.values():
        emu.add_channel(guild, "general")
    events: dict[int, list[str]] = {0: [], 1: []}
    clients = [await _client(0, events), await _client(1, events)]
    try:
        await emu.until(lambda: sum(1 for s in emu.sessions if s.ready.is_set() and not s.closed) == 2)
        members = {shard: emu.add_member(guild, f"m{shard}") for shard, guild in by_shard.items()}
        for shard, guild in by_shard.items():
            emu.post(members[shard], emu.channel(guild, "general"), f"hello {shard}")
        await emu.until(lambda: len(events[0]) >= 1 and len(events[1]) >= 1)
        # Shard 1's process sends a member of its guild a DM with a button; the member presses it.
        client1 = clients[1][0]
        view = discord.ui.View()
        view.add_item(discord.ui.Button(label="Go", custom_id="dm:go"))
        user = await client1.fetch_user(members[1].user.id)
        await user.send("a button", view=view)
        dm = emu.dms(members[1])[-1]
        answer = await emu.click(members[1], dm, "dm:go")
        assert answer.ephemeral and answer.content == "ok"
        # Shard 0: its guild's message, the DM sent by shard 1 (a DM's MESSAGE_CREATE), the DM click (no guild).
        assert events[0] == [f"message:{by_shard[0].id}", "message:None", "interaction:None"]
        assert events[1] == [f"message:{by_shard[1].id}"]
    finally:
        for client, task in clients:
            await client.close()
            await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize("shard", [[0, 0], [2, 2], [-1, 2]])
async def test_an_invalid_shard_is_closed_with_4010(emu: Emulator, shard: list[int]) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(emu.gateway_url) as ws:
        hello = await ws.receive_json()
        assert hello["op"] == 10
        await ws.send_json({"op": 2, "d": {"token": TOKEN, "intents": 0, "properties": {}, "shard": shard}})
        msg = await ws.receive()
        assert msg.type is aiohttp.WSMsgType.CLOSE and ws.close_code == 4010
