"""Discord's automatic scheduled-event status changes ("Guild Scheduled Event Status Update Automation" in
discord-api-docs resources/guild-scheduled-event), seen by the real discord.py client as
GUILD_SCHEDULED_EVENT_UPDATE: external events start and end on time, an active voice or stage event completes
minutes after its channel empties, an event never started is cancelled hours after its start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import discord
import pytest

from bot.clock import ManualClock
from bot.discord_seam import point_discord_at
from bot.emulator import Emulator
from bot.emulator.events import AUTO_CANCEL_AFTER, EMPTY_END_AFTER

from .conftest import World
from .testbot import ProbeBot

NOW = datetime(2026, 10, 30, 12, 0, tzinfo=UTC)
START = NOW + timedelta(hours=1)
SCHEDULED, ACTIVE, COMPLETED, CANCELED = 1, 2, 3, 4


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
async def emu(clock: ManualClock) -> AsyncIterator[Emulator]:
    async with Emulator(now=clock.now, response_timeout=3.0) as emulator:
        point_discord_at(emulator.api_base, emulator.gateway_url)
        try:
            yield emulator
        finally:
            point_discord_at(None)


async def seen(emu: Emulator, bot: ProbeBot, event_id: int, status: discord.EventStatus) -> None:
    """The bot's cache follows the gateway's GUILD_SCHEDULED_EVENT_UPDATE."""
    guild = bot.get_guild(next(iter(emu.guilds)))
    assert guild is not None
    await emu.until(lambda: (e := guild.get_scheduled_event(event_id)) is not None and e.status is status)


async def test_an_external_event_starts_and_ends_on_time(
    emu: Emulator, world: World, bot: ProbeBot, clock: ManualClock
) -> None:
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    event = await guild.create_scheduled_event(
        name="Meetup",
        start_time=START,
        end_time=START + timedelta(hours=1),
        entity_type=discord.EntityType.external,
        location="https://meet.example/atlas",
        privacy_level=discord.PrivacyLevel.guild_only,
    )
    clock.advance(timedelta(minutes=59))
    assert emu.run_event_automation() == []
    clock.advance(timedelta(minutes=1))
    assert [e.status for e in emu.run_event_automation()] == [ACTIVE]
    await seen(emu, bot, event.id, discord.EventStatus.active)
    clock.advance(timedelta(hours=1))
    emu.run_event_automation()
    await seen(emu, bot, event.id, discord.EventStatus.completed)


async def test_an_active_voice_event_completes_minutes_after_the_last_member_leaves(
    emu: Emulator, world: World, bot: ProbeBot, clock: ManualClock
) -> None:
    room = emu.add_channel(world.guild, "office", type="voice")
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    await emu.until(lambda: guild.get_channel(room.id) is not None)
    event = await guild.create_scheduled_event(
        name="Office hours",
        start_time=START,
        channel=guild.get_channel(room.id),  # type: ignore[arg-type]
        entity_type=discord.EntityType.voice,
        privacy_level=discord.PrivacyLevel.guild_only,
    )
    clock.advance(timedelta(hours=1))
    emu.join_voice(world.alice, room)
    await event.start()
    clock.advance(EMPTY_END_AFTER * 3)
    assert emu.run_event_automation() == []  # someone is in the channel: it stays ACTIVE
    emu.leave_voice(world.alice)
    clock.advance(EMPTY_END_AFTER - timedelta(seconds=1))
    assert emu.run_event_automation() == []
    emu.join_voice(world.bob, room)  # back before the minutes passed: the count starts again when they leave
    emu.leave_voice(world.bob)
    clock.advance(EMPTY_END_AFTER - timedelta(seconds=1))
    assert emu.run_event_automation() == []
    clock.advance(timedelta(seconds=1))
    assert [e.status for e in emu.run_event_automation()] == [COMPLETED]
    await seen(emu, bot, event.id, discord.EventStatus.completed)


async def test_an_active_voice_event_nobody_left_since_it_started_stays_active(
    emu: Emulator, world: World, bot: ProbeBot, clock: ManualClock
) -> None:
    """The documentation completes an event "a few minutes after the last user leaves the channel"; it says
    nothing of a channel nobody joined since the start, so the emulator does not complete that one."""
    room = emu.add_channel(world.guild, "office", type="voice")
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    await emu.until(lambda: guild.get_channel(room.id) is not None)
    event = await guild.create_scheduled_event(
        name="Office hours",
        start_time=START,
        channel=guild.get_channel(room.id),  # type: ignore[arg-type]
        entity_type=discord.EntityType.voice,
        privacy_level=discord.PrivacyLevel.guild_only,
    )
    emu.join_voice(world.alice, room)
    emu.leave_voice(world.alice)  # the channel emptied long before the event started
    clock.advance(timedelta(hours=1))
    await event.start()
    clock.advance(EMPTY_END_AFTER * 10)
    assert emu.run_event_automation() == []
    emu.join_voice(world.bob, room)
    emu.leave_voice(world.bob)  # the last user leaves: now the minutes count
    clock.advance(EMPTY_END_AFTER - timedelta(seconds=1))
    assert emu.run_event_automation() == []
    clock.advance(timedelta(seconds=1))
    assert [e.status for e in emu.run_event_automation()] == [COMPLETED]


async def test_an_event_never_started_is_cancelled_hours_after_its_start(
    emu: Emulator, world: World, bot: ProbeBot, clock: ManualClock
) -> None:
    room = emu.add_channel(world.guild, "office", type="voice")
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    await emu.until(lambda: guild.get_channel(room.id) is not None)
    event = await guild.create_scheduled_event(
        name="Office hours",
        start_time=START,
        channel=guild.get_channel(room.id),  # type: ignore[arg-type]
        entity_type=discord.EntityType.voice,
        privacy_level=discord.PrivacyLevel.guild_only,
    )
    clock.advance(timedelta(hours=1) + AUTO_CANCEL_AFTER - timedelta(minutes=1))
    assert emu.run_event_automation() == []
    clock.advance(timedelta(minutes=1))
    # It runs by itself before any request too: the bot's next call finds it cancelled.
    fetched = await guild.fetch_scheduled_event(event.id)
    assert fetched.status is discord.EventStatus.cancelled
    await seen(emu, bot, event.id, discord.EventStatus.cancelled)
    assert [e.status for e in emu.scheduled_events(world.guild)] == [CANCELED]
