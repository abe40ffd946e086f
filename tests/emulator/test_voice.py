"""Voice states as Discord has them, driven through the real discord.py client: joining, moving and leaving
(VOICE_STATE_UPDATE with its intent), who may connect, user limits, stage audiences, voice states in
GUILD_CREATE and the voice-state endpoint.

The rules and their sources are in bot/emulator/events.py (``VoiceRules``).
"""

from __future__ import annotations

from typing import Any

import discord
import pytest

from bot.emulator import DiscordError, Emulator

from .conftest import World, start_bot, stop_bot
from .testbot import ProbeBot

Changes = list[tuple[int, int | None, int | None]]


def record_voice(bot: ProbeBot) -> Changes:
    changes: Changes = []

    async def on_voice_state_update(
        member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        changes.append(
            (member.id, before.channel.id if before.channel else None, after.channel.id if after.channel else None)
        )

    bot.add_listener(on_voice_state_update)
    return changes


async def test_join_move_leave(emu: Emulator, world: World, bot: ProbeBot) -> None:
    changes = record_voice(bot)
    room = emu.add_channel(world.guild, "office", type="voice")
    lounge = emu.add_channel(world.guild, "lounge", type="voice")
    await emu.until(lambda: bot.get_channel(lounge.id) is not None)
    state = emu.join_voice(world.alice, room, self_mute=True)
    await emu.until(lambda: len(changes) == 1)
    assert changes == [(world.alice.id, None, room.id)]
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    member = guild.get_member(world.alice.id)
    assert member is not None and member.voice is not None
    assert member.voice.channel is not None and member.voice.channel.id == room.id
    assert member.voice.self_mute and not member.voice.suppress and member.voice.session_id == state.session_id
    channel = guild.get_channel(room.id)
    assert isinstance(channel, discord.VoiceChannel) and [m.id for m in channel.members] == [world.alice.id]
    assert emu.voice_members(room) == [world.alice]

    moved = emu.move_voice(world.alice, lounge)
    await emu.until(lambda: len(changes) == 2)
    assert changes[1] == (world.alice.id, room.id, lounge.id)
    assert moved.session_id == state.session_id and moved.self_mute  # the same connection, still muted
    assert emu.voice_members(room) == [] and emu.voice_members(lounge) == [world.alice]

    emu.leave_voice(world.alice)
    await emu.until(lambda: len(changes) == 3)
    assert changes[2] == (world.alice.id, lounge.id, None)
    assert member.voice is None and emu.voice_state(world.alice) is None
    with pytest.raises(DiscordError) as info:
        emu.move_voice(world.alice, room)
    assert info.value.code == 40032


async def test_payloads_as_documented(emu: Emulator, world: World, bot: ProbeBot) -> None:
    """VOICE_STATE_UPDATE carries a voice state object; on leaving its ``channel_id`` is null."""
    sent: list[tuple[str, dict[str, Any]]] = []
    dispatch = emu._dispatch

    def recording(event: str, data: dict[str, Any]) -> None:
        sent.append((event, data))
        dispatch(event, data)

    emu._dispatch = recording  # type: ignore[method-assign]
    room = emu.add_channel(world.guild, "office", type="voice")
    emu.join_voice(world.bob, room, self_mute=True)
    emu.leave_voice(world.bob)
    emu.leave_voice(world.bob)  # not connected: nothing
    joined, left = [d for e, d in sent if e == "VOICE_STATE_UPDATE"]
    fields = {
        "guild_id",
        "channel_id",
        "user_id",
        "member",
        "session_id",
        "deaf",
        "mute",
        "self_deaf",
        "self_mute",
    }
    assert fields | {"self_video", "suppress", "request_to_speak_timestamp"} <= joined.keys()
    assert joined["channel_id"] == str(room.id) and joined["self_mute"] is True
    assert left["channel_id"] is None and left["session_id"] == joined["session_id"]
    assert left["user_id"] == str(world.bob.id) and left["member"]["user"]["id"] == str(world.bob.id)


async def test_connect_needs_view_and_connect(emu: Emulator, world: World, bot: ProbeBot) -> None:
    learner = emu.role(world.guild, "Learner")
    emu.set_roles(world.bob, ["Learner"])
    no_connect = emu.add_channel(
        world.guild, "listen-only", type="voice", overwrites={learner: (0, discord.Permissions(connect=True))}
    )
    hidden = emu.add_channel(
        world.guild, "staff", type="voice", overwrites={learner: (0, discord.Permissions(view_channel=True))}
    )
    with pytest.raises(DiscordError) as info:
        emu.join_voice(world.bob, no_connect)
    assert (info.value.status, info.value.code) == (403, 50013)
    with pytest.raises(DiscordError) as seen:
        emu.join_voice(world.bob, hidden)
    assert (seen.value.status, seen.value.code) == (403, 50001)
    with pytest.raises(DiscordError) as wrong:
        emu.join_voice(world.bob, world.general)
    assert wrong.value.code == 50024
    assert world.guild.voice_states == {}
    emu.join_voice(world.alice, no_connect)  # alice is not a Learner
    assert emu.voice_members(no_connect) == [world.alice]


async def test_user_limit(emu: Emulator, world: World, bot: ProbeBot) -> None:
    small = emu.add_channel(world.guild, "pair", type="voice", user_limit=2)
    carol = emu.add_member(world.guild, "carol")
    dave = emu.add_member(
        world.guild, "dave", roles=[{"name": "Mod", "permissions": discord.Permissions(move_members=True).value}]
    )
    emu.join_voice(world.alice, small)
    emu.join_voice(world.bob, small)
    with pytest.raises(DiscordError) as info:
        emu.join_voice(carol, small)
    assert (info.value.status, info.value.code) == (403, 50013)
    emu.join_voice(world.bob, small, self_deaf=True)  # already inside: not counted against itself
    emu.join_voice(dave, small)  # Move Members passes a full channel
    assert emu.voice_members(small) == [world.alice, world.bob, dave]
    emu.leave_voice(world.alice)
    emu.leave_voice(dave)
    emu.join_voice(carol, small)
    await emu.until(lambda: (ch := bot.get_channel(small.id)) is not None and len(ch.members) == 2)  # type: ignore[union-attr]
    channel = bot.get_channel(small.id)
    assert isinstance(channel, discord.VoiceChannel) and channel.user_limit == 2


async def test_stage_joiners_are_suppressed_audience(emu: Emulator, world: World, bot: ProbeBot) -> None:
    changes = record_voice(bot)
    stage = emu.add_channel(world.guild, "town-hall", type="stage")
    emu.join_voice(world.alice, stage)
    await emu.until(lambda: len(changes) == 1)
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    member = guild.get_member(world.alice.id)
    assert member is not None and member.voice is not None and member.voice.suppress
    channel = guild.get_channel(stage.id)
    assert isinstance(channel, discord.StageChannel) and [m.id for m in channel.members] == [world.alice.id]


async def test_voice_events_need_their_intent(emu: Emulator, world: World) -> None:
    seen: list[str] = []
    probe = ProbeBot(world.guild.id)
    probe._connection._intents.voice_states = False

    async def on_socket_event_type(event_type: str) -> None:
        seen.append(event_type)

    probe.add_listener(on_socket_event_type)
    room = emu.add_channel(world.guild, "office", type="voice")
    emu.join_voice(world.bob, room)  # before the bot connects: GUILD_CREATE leaves voice_states out too
    probe_bot, task = await start_bot(emu, world.guild, sync=False, bot=probe)
    try:
        guild = probe_bot.get_guild(world.guild.id)
        assert guild is not None and guild._voice_states == {}
        emu.join_voice(world.alice, room)
        emu.leave_voice(world.alice)
        emu.post(world.bob, world.general, "after the voice changes")
        await emu.until(lambda: "MESSAGE_CREATE" in seen)
        assert "VOICE_STATE_UPDATE" not in seen
    finally:
        await stop_bot(probe_bot, task)


async def test_guild_create_carries_voice_states(emu: Emulator, world: World) -> None:
    """A bot connecting while members are in voice sees them (GUILD_CREATE ``voice_states`` and their members),
    even without the members intent."""
    room = emu.add_channel(world.guild, "office", type="voice")
    emu.join_voice(world.bob, room, self_video=True)
    probe_bot, task = await start_bot(
        emu, world.guild, sync=False, bot=ProbeBot(world.guild.id, members_intent=False)
    )
    try:
        guild = probe_bot.get_guild(world.guild.id)
        assert guild is not None
        channel = guild.get_channel(room.id)
        assert isinstance(channel, discord.VoiceChannel) and [m.id for m in channel.members] == [world.bob.id]
        bob = guild.get_member(world.bob.id)
        assert bob is not None and bob.voice is not None and bob.voice.self_video
    finally:
        await stop_bot(probe_bot, task)


async def test_voice_state_endpoint_and_member_leaving(emu: Emulator, world: World, bot: ProbeBot) -> None:
    changes = record_voice(bot)
    room = emu.add_channel(world.guild, "office", type="voice")
    emu.join_voice(world.bob, room)
    route = discord.http.Route("GET", f"/guilds/{world.guild.id}/voice-states/{world.bob.id}")
    state = await bot.http.request(route)
    assert state["channel_id"] == str(room.id) and state["guild_id"] == str(world.guild.id)
    assert state["session_id"] and state["member"]["user"]["id"] == str(world.bob.id)
    with pytest.raises(discord.NotFound) as info:
        await bot.http.request(discord.http.Route("GET", f"/guilds/{world.guild.id}/voice-states/@me"))
    assert info.value.code == 10065
    emu.remove_member(world.bob)  # leaving the guild disconnects from voice first
    await emu.until(lambda: (world.bob.id, room.id, None) in changes)
    assert emu.voice_members(room) == []
