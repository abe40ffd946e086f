"""Pins as Discord has them: Pin Messages (Manage Messages alone no longer suffices), CHANNEL_PINS_UPDATE, the
"pinned a message" system message, 250 pins a channel (30003), Get Channel Pins with ``before``/``limit``/
``has_more``, archived threads; driven through discord.py 2.7's ``Message.pin()``/``unpin()``/``channel.pins()``.

Each test names the rule it checks; the rules and their sources are in bot/emulator/pins.py.
"""

from __future__ import annotations

from typing import Any

import discord
import pytest
from discord.http import Route

from bot.emulator import Channel, DiscordError, Emulator, Member

from .conftest import World
from .testbot import ProbeBot


def refused(info: pytest.ExceptionInfo[Any], status: int, code: int) -> None:
    assert (info.value.status, info.value.code) == (status, code)


def set_bot(emu: Emulator, world: World, **perms: bool) -> None:
    role = emu.bot_role(world.guild)
    for name, on in perms.items():
        bit = discord.Permissions(**{name: True}).value
        role.permissions = role.permissions | bit if on else role.permissions & ~bit
    emu.set_role_permissions(world.guild, role, role.permissions)


@pytest.fixture
def thread(emu: Emulator, world: World) -> Channel:
    forum = emu.add_channel(world.guild, "questions", type="forum", tags=["git"])
    return emu.member_create_post(world.alice, forum, "Rebase?", "How do I rebase?", tags=["git"])


async def bot_thread(emu: Emulator, bot: ProbeBot, thread: Channel) -> discord.Thread:
    await emu.until(lambda: bot.get_channel(thread.id) is not None)
    found = bot.get_channel(thread.id)
    assert isinstance(found, discord.Thread)
    return found


async def test_bot_pins_an_answer(emu: Emulator, world: World, bot: ProbeBot, thread: Channel) -> None:
    answer = emu.post(world.bob, thread, "git rebase -i main")
    channel = await bot_thread(emu, bot, thread)
    message = await channel.fetch_message(answer.id)
    await message.pin()
    assert emu.pinned(thread) == [answer] and answer.pinned and answer.pinned_at is not None
    # "Fires a Channel Pins Update Gateway event" with "last_pin_timestamp".
    await emu.until(lambda: bool(bot.received("CHANNEL_PINS_UPDATE")))
    assert bot.received("CHANNEL_PINS_UPDATE")[0] == {
        "channel_id": str(thread.id),
        "guild_id": str(world.guild.id),
        "last_pin_timestamp": answer.pinned_at.isoformat(),
    }
    # The automatic "type 6" message by the pinner, pointing at the pinned message.
    system = emu.messages(thread)[-1]
    assert system.type == 6 and system.author.id == bot.user.id and system.content == ""
    assert system.message_reference == {
        "message_id": str(answer.id),
        "channel_id": str(thread.id),
        "guild_id": str(world.guild.id),
    }
    await emu.until(lambda: any(d["type"] == 6 for d in bot.received("MESSAGE_CREATE")))
    pins = [m async for m in channel.pins()]
    assert [m.id for m in pins] == [answer.id] and pins[0].pinned and pins[0].content == "git rebase -i main"
    assert (await channel.fetch_message(answer.id)).pinned
    await message.pin()  # again: nothing changes
    assert len(bot.received("CHANNEL_PINS_UPDATE")) == 1 and len(emu.pinned(thread)) == 1
    await message.unpin()
    await emu.until(lambda: len(bot.received("CHANNEL_PINS_UPDATE")) == 2)
    assert bot.received("CHANNEL_PINS_UPDATE")[1]["last_pin_timestamp"] is None
    assert emu.pinned(thread) == [] and [m async for m in channel.pins()] == []


async def test_pinning_needs_pin_messages(emu: Emulator, world: World, bot: ProbeBot, thread: Channel) -> None:
    """ "Requires the PIN_MESSAGES permission"; since February 23, 2026 "MANAGE_MESSAGES alone will no longer be
    sufficient"."""
    answer = emu.post(world.bob, thread, "an answer")
    set_bot(emu, world, pin_messages=False, manage_messages=True)
    message = await (await bot_thread(emu, bot, thread)).fetch_message(answer.id)
    with pytest.raises(discord.Forbidden) as info:
        await message.pin()
    refused(info, 403, 50013)
    with pytest.raises(DiscordError) as member_info:  # the asker has no Pin Messages either
        emu.member_pin(world.alice, answer)
    refused(member_info, 403, 50013)
    pinner: Member = emu.add_member(world.guild, "pinner")
    emu.add_role(world.guild, "Pinner", permissions=discord.Permissions(pin_messages=True))
    emu.set_roles(pinner, ["Pinner"])
    emu.member_pin(pinner, answer)
    assert emu.pinned(thread) == [answer] and emu.messages(thread)[-1].author.id == pinner.id
    with pytest.raises(discord.Forbidden):
        await message.unpin()
    emu.member_unpin(pinner, answer)
    assert emu.pinned(thread) == []


async def test_archived_threads_and_deleted_pins(
    emu: Emulator, world: World, bot: ProbeBot, thread: Channel
) -> None:
    answer = emu.post(world.bob, thread, "an answer")
    message = await (await bot_thread(emu, bot, thread)).fetch_message(answer.id)
    emu.member_edit_thread(world.alice, thread, archived=True)
    with pytest.raises(discord.HTTPException) as info:  # archived threads are read-only: 50083
        await message.pin()
    refused(info, 400, 50083)
    emu.post(world.alice, thread, "reopening by writing")  # a message unarchives it
    await message.pin()
    await emu.until(lambda: len(bot.received("CHANNEL_PINS_UPDATE")) == 1)
    emu.delete_message(world.bob, answer)
    # "This is not sent when a pinned message is deleted"; a deleted message is no pin.
    assert emu.pinned(thread) == []
    marker = emu.post(world.alice, thread, "marker")
    await emu.until(lambda: any(d["id"] == str(marker.id) for d in bot.received("MESSAGE_CREATE")))
    assert len(bot.received("CHANNEL_PINS_UPDATE")) == 1


async def test_250_pins_and_pagination(emu: Emulator, world: World, bot: ProbeBot) -> None:
    """30003 "Maximum number of pins reached for the channel (250)"; Get Channel Pins pages of "1-50" with
    ``before`` a pinned_at and ``has_more``; without Read Message History "no pins will be returned"."""
    pinner = emu.add_member(world.guild, "pinner")
    emu.add_role(world.guild, "Pinner", permissions=discord.Permissions(pin_messages=True))
    emu.set_roles(pinner, ["Pinner"])
    posts = [emu.post(world.bob, world.general, f"note {i}") for i in range(251)]
    for post in posts[:250]:
        emu.member_pin(pinner, post)
    with pytest.raises(DiscordError) as info:
        emu.member_pin(pinner, posts[250])
    refused(info, 400, 30003)
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.HTTPException) as http_info:
        await (await channel.fetch_message(posts[250].id)).pin()
    refused(http_info, 400, 30003)
    every = [m.id async for m in channel.pins(limit=None)]
    assert every == [p.id for p in reversed(posts[:250])]  # the most recently pinned first
    path = f"/channels/{world.general.id}/messages/pins"
    first = await bot.http.request(Route("GET", path), params={"limit": 50})
    assert len(first["items"]) == 50 and first["has_more"] is True
    second = await bot.http.request(
        Route("GET", path), params={"limit": 50, "before": first["items"][-1]["pinned_at"]}
    )
    assert second["items"][0]["message"]["id"] == str(posts[199].id)
    with pytest.raises(discord.HTTPException) as http_info:
        await bot.http.request(Route("GET", path), params={"limit": 51})
    refused(http_info, 400, 50035)
    assert len(await bot.http.request(Route("GET", f"/channels/{world.general.id}/pins"))) == 50  # deprecated
    set_bot(emu, world, read_message_history=False)
    emu.set_role_permissions(
        world.guild,
        world.guild.everyone,
        world.guild.everyone.permissions & ~discord.Permissions(read_message_history=True).value,
    )
    assert await bot.http.request(Route("GET", path)) == {"items": [], "has_more": False}
