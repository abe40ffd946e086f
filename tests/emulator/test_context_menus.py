"""Context-menu commands as Discord has them: message commands (data.type 3, target_id, resolved.messages with the
whole message, even for an app without the Message Content intent), user commands (data.type 2), and the sync
rules for them (1-32 characters, spaces and capitals allowed, no description or options, at most 15 of a type).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.http import Route

from bot.discord_seam import point_discord_at
from bot.emulator import Emulator, InteractionRefused

from .conftest import World, start_bot, stop_bot
from .testbot import ProbeBot


def add_menus(bot: ProbeBot) -> None:
    async def mark(interaction: discord.Interaction, message: discord.Message) -> None:
        await interaction.response.send_message(
            f"solution by {message.author.name}: {message.content}", ephemeral=True
        )

    async def whois(interaction: discord.Interaction, member: discord.Member) -> None:
        await interaction.response.send_message(
            f"{member.name} has {len(member.roles) - 1} role(s)", ephemeral=True
        )

    async def remove(interaction: discord.Interaction, message: discord.Message) -> None:
        await interaction.response.send_message("removed", ephemeral=True)

    hidden = app_commands.ContextMenu(name="Remove answer", callback=remove)
    hidden.default_permissions = discord.Permissions(manage_messages=True)
    for menu in (app_commands.ContextMenu(name="Mark as solution", callback=mark), hidden):
        bot.tree.add_command(menu, guild=bot.guild_obj)
    bot.tree.add_command(app_commands.ContextMenu(name="Who is", callback=whois), guild=bot.guild_obj)


@pytest.fixture
async def no_content() -> AsyncIterator[Emulator]:
    async with Emulator(response_timeout=3.0, message_content=False) as emulator:
        point_discord_at(emulator.api_base, emulator.gateway_url)
        try:
            yield emulator
        finally:
            point_discord_at(None)


async def test_message_command_carries_the_whole_message_without_the_intent(no_content: Emulator) -> None:
    """The intent's exceptions include "Content of the message a message context menu command is used on"."""
    emu = no_content
    guild = emu.add_guild("Atlas")
    alice, bob = emu.add_member(guild, "alice"), emu.add_member(guild, "bob")
    forum = emu.add_channel(guild, "questions", type="forum", tags=["git"])
    bot = ProbeBot(guild.id, message_content=False)
    add_menus(bot)
    bot, task = await start_bot(emu, guild, bot=bot)
    try:
        thread = emu.member_create_post(alice, forum, "Rebase?", "How do I rebase?", tags=["git"])
        answer = emu.post(bob, thread, "git rebase -i main")
        await emu.until(lambda: len(bot.received("MESSAGE_CREATE")) == 2)
        assert bot.received("MESSAGE_CREATE")[-1]["content"] == ""  # the event itself is empty
        result = await emu.message_command(alice, "Mark as solution", answer)
        assert result.error is None and result.ephemeral
        assert result.content == "solution by bob: git rebase -i main"
        sent = bot.received("INTERACTION_CREATE")[-1]
        assert sent["type"] == 2 and sent["channel_id"] == str(thread.id)
        data = sent["data"]
        assert (data["type"], data["name"], data["target_id"]) == (3, "Mark as solution", str(answer.id))
        target = data["resolved"]["messages"][str(answer.id)]
        assert target["content"] == "git rebase -i main" and target["author"]["id"] == str(bob.id)
        assert target["channel_id"] == str(thread.id)
    finally:
        await stop_bot(bot, task)


async def test_what_the_client_would_not_offer(emu: Emulator, world: World) -> None:
    bot = ProbeBot(world.guild.id)
    add_menus(bot)
    bot, task = await start_bot(emu, world.guild, bot=bot)
    try:
        answer = emu.post(world.bob, world.general, "an answer")
        with pytest.raises(InteractionRefused):  # not synced
            await emu.message_command(world.alice, "Bookmark", answer)
        with pytest.raises(InteractionRefused):  # a user command is not a message command
            await emu.message_command(world.alice, "Who is", answer)
        with pytest.raises(InteractionRefused):  # default_member_permissions: Manage Messages
            await emu.message_command(world.bob, "Remove answer", answer)
        emu.set_role_permissions(world.guild, "Maintainer", discord.Permissions(manage_messages=True))
        assert (await emu.message_command(world.alice, "Remove answer", answer)).content == "removed"
        emu.delete_message(world.bob, answer)
        with pytest.raises(InteractionRefused):
            await emu.message_command(world.alice, "Mark as solution", answer)
        result = await emu.user_command(world.bob, "Who is", world.alice)
        assert result.content == "alice has 1 role(s)"
        data = bot.received("INTERACTION_CREATE")[-1]["data"]
        assert data["type"] == 2 and data["target_id"] == str(world.alice.id)
        assert (
            str(world.alice.id) in data["resolved"]["users"] and str(world.alice.id) in data["resolved"]["members"]
        )
    finally:
        await stop_bot(bot, task)


async def test_sync_rules_for_context_menus(emu: Emulator, world: World, bot: ProbeBot) -> None:
    path = f"/applications/{bot.application_id}/guilds/{world.guild.id}/commands"

    async def put(commands: list[dict[str, Any]]) -> Any:
        return await bot.http.request(Route("PUT", path), json=commands)

    ok = await put([{"name": "Mark as Solution", "type": 3}, {"name": "Who Is", "type": 2}])
    assert [(c["name"], c["type"], c["description"]) for c in ok] == [
        ("Mark as Solution", 3, ""),
        ("Who Is", 2, ""),
    ]
    assert len(await put([{"name": f"Menu {i}", "type": 3} for i in range(15)])) == 15
    bad: list[list[dict[str, Any]]] = [
        [{"name": "x" * 33, "type": 3}],  # "1-32 character name"
        [{"name": "", "type": 3}],
        [{"name": "Mark", "type": 3, "description": "not allowed"}],
        [{"name": "Mark", "type": 3, "options": [{"name": "a", "description": "b", "type": 3}]}],
        [{"name": f"Menu {i}", "type": 3} for i in range(16)],  # "15 ... MESSAGE commands"
        [{"name": "Same", "type": 3}, {"name": "Same", "type": 3}],
    ]
    for commands in bad:
        with pytest.raises(discord.HTTPException) as info:
            await put(commands)
        assert (info.value.status, info.value.code) == (400, 50035)
    # A USER and a MESSAGE command may share a name (names are unique "per type").
    assert len(await put([{"name": "Same", "type": 3}, {"name": "Same", "type": 2}])) == 2
