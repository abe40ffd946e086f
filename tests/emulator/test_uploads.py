"""File uploads: Discord's per-request size limit (API reference, "Uploading Files": 25 MiB by default, for all
files of a request together), on messages and interaction follow-ups alike."""

from __future__ import annotations

import io

import discord
import pytest

from bot.emulator import Emulator
from bot.emulator.rules import ATTACHMENT_SIZE_LIMIT, REQUEST_ENTITY_TOO_LARGE

from .conftest import World
from .testbot import ProbeBot


def _file(size: int, name: str) -> discord.File:
    return discord.File(io.BytesIO(b"x" * size), filename=name)


async def test_uploads_up_to_the_limit_pass_and_over_it_are_refused(emu: Emulator, world: World, bot: ProbeBot):
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    half = ATTACHMENT_SIZE_LIMIT // 2
    msg = await channel.send(files=[_file(half, "a.bin"), _file(ATTACHMENT_SIZE_LIMIT - half, "b.bin")])
    assert [a.size for a in msg.attachments] == [half, ATTACHMENT_SIZE_LIMIT - half]
    with pytest.raises(discord.HTTPException) as refused:
        # The limit is for the request: two files that each fit but not together are refused.
        await channel.send(files=[_file(half + 1, "a.bin"), _file(half + 1, "b.bin")])
    assert refused.value.status == 413 and refused.value.code == REQUEST_ENTITY_TOO_LARGE
    assert len(emu.messages(world.general)) == 1


async def test_interactions_announce_the_limit(emu: Emulator, world: World, bot: ProbeBot) -> None:
    seen: list[int] = []

    @bot.tree.command(name="limit", description="the upload limit", guild=bot.guild_obj)
    async def limit(interaction: discord.Interaction) -> None:
        seen.append(interaction.filesize_limit)
        await interaction.response.send_message("ok", ephemeral=True)

    await bot.tree.sync(guild=bot.guild_obj)
    r = await emu.slash(world.alice, "limit")
    assert r.content == "ok" and seen == [ATTACHMENT_SIZE_LIMIT]
