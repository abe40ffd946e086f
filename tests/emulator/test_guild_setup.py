"""Discord's rules for building a server in the emulator (bot/emulator/guildsetup.py): roles below the bot's, the
250-role, 500-channel and 50-per-category limits, overwrites only with permissions the bot has, and the
permission each call needs."""

from __future__ import annotations

import discord
import pytest

from bot.emulator import Emulator
from bot.emulator.state import TEXT, Channel

from .conftest import World, start_bot, stop_bot
from .testbot import ProbeBot


def _guild(bot: ProbeBot, world: World) -> discord.Guild:
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    return guild


async def test_a_role_is_created_below_the_bot_with_its_colour(emu: Emulator, world: World, bot: ProbeBot) -> None:
    role = await _guild(bot, world).create_role(name="Mentor", colour=discord.Colour(0xEB459E), hoist=True)
    made = world.guild.roles[role.id]
    assert (made.name, made.color, made.hoist, made.position) == ("Mentor", 0xEB459E, True, 1)
    assert made.position < emu.bot_role(world.guild).position


async def test_the_bot_cannot_move_a_role_to_or_above_its_own(emu: Emulator, world: World, bot: ProbeBot) -> None:
    guild = _guild(bot, world)
    learner = guild.get_role(emu.role(world.guild, "Learner").id)
    assert learner is not None
    top = emu.bot_role(world.guild).position
    with pytest.raises(discord.Forbidden) as info:
        await guild.edit_role_positions({learner: top})
    assert info.value.code == 50013
    assert world.guild.roles[learner.id].position < top


async def test_the_bot_cannot_edit_a_role_above_its_own(emu: Emulator, world: World) -> None:
    emu.add_role(world.guild, "Owner", position=len(world.guild.roles))  # above the bot's role
    bot, task = await start_bot(emu, world.guild)
    try:
        role = _guild(bot, world).get_role(emu.role(world.guild, "Owner").id)
        assert role is not None
        with pytest.raises(discord.Forbidden):
            await role.edit(colour=discord.Colour.red())
    finally:
        await stop_bot(bot, task)


async def test_250_roles_at_most(emu: Emulator, world: World, bot: ProbeBot) -> None:
    while len(world.guild.roles) < 250:
        emu.add_role(world.guild, f"r{len(world.guild.roles)}")
    with pytest.raises(discord.HTTPException) as info:
        await _guild(bot, world).create_role(name="one too many")
    assert (info.value.status, info.value.code) == (400, 30005)
    assert len(world.guild.roles) == 250


async def test_creating_roles_needs_manage_roles(emu: Emulator) -> None:
    guild = emu.add_guild("No roles", deny_bot=["manage_roles"])
    bot, task = await start_bot(emu, guild, sync=False, bot=ProbeBot(guild.id))
    try:
        live = bot.get_guild(guild.id)
        assert live is not None
        with pytest.raises(discord.Forbidden) as info:
            await live.create_role(name="Learner")
        assert info.value.code == 50013
    finally:
        await stop_bot(bot, task)


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        ("create_category", 4),
        ("create_text_channel", 0),
        ("create_voice_channel", 2),
        ("create_stage_channel", 13),
        ("create_forum", 15),
    ],
)
async def test_each_channel_type_is_created(world: World, bot: ProbeBot, make: str, kind: int) -> None:
    channel = await getattr(_guild(bot, world), make)("made")
    assert world.guild.channels[channel.id].type == kind


async def test_a_channel_in_a_category_with_overwrites(emu: Emulator, world: World, bot: ProbeBot) -> None:
    guild = _guild(bot, world)
    category = await guild.create_category("Staff")
    everyone = guild.default_role
    maintainer = guild.get_role(emu.role(world.guild, "Maintainer").id)
    assert maintainer is not None
    channel = await guild.create_text_channel(
        "mod-log",
        category=category,
        topic="for maintainers",
        overwrites={
            everyone: discord.PermissionOverwrite(view_channel=False),
            maintainer: discord.PermissionOverwrite(view_channel=True),
            guild.me: discord.PermissionOverwrite(view_channel=True, send_messages=True),
        },
    )
    made = world.guild.channels[channel.id]
    assert made.parent_id == category.id and made.topic == "for maintainers"
    assert not emu.can_view(world.bob, made) and emu.can_view(world.alice, made)


async def test_overwrites_only_with_permissions_the_bot_has(emu: Emulator, world: World, bot: ProbeBot) -> None:
    guild = _guild(bot, world)
    before = len(world.guild.channels)
    for overwrite in (
        discord.PermissionOverwrite(ban_members=True),  # the bot does not have Ban Members
        discord.PermissionOverwrite(manage_roles=True),  # Manage Permissions in a channel: administrators only
    ):
        with pytest.raises(discord.Forbidden) as info:
            await guild.create_text_channel("x", overwrites={guild.default_role: overwrite})
        assert info.value.code == 50013
    assert len(world.guild.channels) == before


async def test_creating_channels_needs_manage_channels(emu: Emulator) -> None:
    guild = emu.add_guild("No channels", deny_bot=["manage_channels"])
    bot, task = await start_bot(emu, guild, sync=False, bot=ProbeBot(guild.id))
    try:
        live = bot.get_guild(guild.id)
        assert live is not None
        with pytest.raises(discord.Forbidden) as info:
            await live.create_text_channel("welcome")
        assert info.value.code == 50013
    finally:
        await stop_bot(bot, task)


async def test_50_channels_per_category(emu: Emulator, world: World, bot: ProbeBot) -> None:
    guild = _guild(bot, world)
    category = emu.add_channel(world.guild, "Full", type="category")
    for i in range(50):
        emu.add_channel(world.guild, f"c{i}", category=category)
    with pytest.raises(discord.HTTPException) as info:
        await guild.create_text_channel("one-more", category=discord.Object(category.id))  # type: ignore[arg-type]
    assert (info.value.status, info.value.code) == (400, 50035)
    assert "Maximum number of channels in category reached (50)" in str(info.value)
    other = await guild.create_text_channel("elsewhere")
    with pytest.raises(discord.HTTPException) as moved:
        await other.edit(category=discord.Object(category.id))  # type: ignore[arg-type]
    assert moved.value.code == 50035


async def test_a_channel_parent_must_be_a_category(world: World, bot: ProbeBot) -> None:
    with pytest.raises(discord.HTTPException) as info:
        await _guild(bot, world).create_text_channel("x", category=discord.Object(world.general.id))  # type: ignore[arg-type]
    assert info.value.code == 50035


async def test_500_channels_at_most(emu: Emulator, world: World, bot: ProbeBot) -> None:
    while len(world.guild.channels) < 500:
        channel = Channel(emu.snowflakes.next(), TEXT, f"c{len(world.guild.channels)}", guild=world.guild)
        emu._add_channel(world.guild, channel, dispatch=False)
    with pytest.raises(discord.HTTPException) as info:
        await _guild(bot, world).create_text_channel("one-too-many")
    assert (info.value.status, info.value.code) == (400, 30013)


async def test_stage_and_announcement_channels_need_a_community_server(emu: Emulator) -> None:
    guild = emu.add_guild("New server")  # as Discord makes one: not Community
    bot, task = await start_bot(emu, guild, sync=False, bot=ProbeBot(guild.id))
    try:
        live = bot.get_guild(guild.id)
        assert live is not None and "COMMUNITY" not in live.features
        for make in (lambda: live.create_stage_channel("stage"), lambda: live.create_text_channel("n", news=True)):
            with pytest.raises(discord.HTTPException) as info:
                await make()
            assert (info.value.status, info.value.code) == (400, 50024)
        await live.create_voice_channel("voice")  # other types are fine
    finally:
        await stop_bot(bot, task)


async def test_community_server_makes_stage_and_announcement_channels(world: World, bot: ProbeBot) -> None:
    guild = _guild(bot, world)
    assert "COMMUNITY" in guild.features
    await guild.create_stage_channel("stage")
    await guild.create_text_channel("news", news=True)


async def test_setting_manage_roles_in_a_channel_is_for_administrators(world: World, bot: ProbeBot) -> None:
    guild = _guild(bot, world)
    channel = guild.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    manage = discord.PermissionOverwrite(manage_roles=True)
    with pytest.raises(discord.Forbidden) as info:
        await channel.set_permissions(guild.default_role, overwrite=manage)
    assert info.value.code == 50013
    await channel.set_permissions(guild.default_role, overwrite=discord.PermissionOverwrite(send_messages=False))
