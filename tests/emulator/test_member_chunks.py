"""GUILD_CREATE and member chunking as Discord does them: without the presences intent GUILD_CREATE lists only the
bot, and the member list comes through op 8 in chunks of at most 1,000."""

from __future__ import annotations

from typing import Any

from bot.emulator import Emulator

from .conftest import World, start_bot, stop_bot
from .testbot import ProbeBot


async def test_a_large_guild_arrives_in_chunks_of_a_thousand(emu: Emulator, world: World) -> None:
    for i in range(2_500):
        emu.add_member(world.guild, f"member{i}")
    bot = ProbeBot(world.guild.id)
    creates: list[dict[str, Any]] = []
    chunks: list[tuple[int, int, int]] = []
    parsers = bot._connection.parsers
    parse_create, parse_chunk = parsers["GUILD_CREATE"], parsers["GUILD_MEMBERS_CHUNK"]

    def on_create(data: Any) -> None:
        creates.append({"members": len(data["members"]), "large": data["large"], "count": data["member_count"]})
        parse_create(data)

    def on_chunk(data: Any) -> None:
        chunks.append((data["chunk_index"], data["chunk_count"], len(data["members"])))
        parse_chunk(data)

    parsers["GUILD_CREATE"], parsers["GUILD_MEMBERS_CHUNK"] = on_create, on_chunk
    bot, task = await start_bot(emu, world.guild, sync=False, bot=bot)
    try:
        total = len(world.guild.members)
        # No presences intent: only the bot itself in GUILD_CREATE, the real count beside it.
        assert creates == [{"members": 1, "large": True, "count": total}]
        assert chunks == [(0, 3, 1000), (1, 3, 1000), (2, 3, total - 2000)]
        guild = bot.get_guild(world.guild.id)
        assert guild is not None and guild.chunked and len(guild.members) == total
    finally:
        await stop_bot(bot, task)
