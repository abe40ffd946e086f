"""Guild scheduled events as Discord has them, driven through the real discord.py client: the 100 uncompleted
events limit, the status transitions, who may create and manage which entity type, the subscribed-users list and
the user add/remove events with their intent.

Each test names the rule it checks; the rules and their sources are in bot/emulator/events.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import discord
import pytest
from discord.http import Route

from bot.clock import ManualClock
from bot.discord_seam import point_discord_at
from bot.emulator import Channel, DiscordError, Emulator, Guild, ScheduledEvent
from bot.emulator.state import Overwrite

from .conftest import World, start_bot, stop_bot
from .testbot import ProbeBot

NOW = datetime(2026, 10, 30, 12, 0, tzinfo=UTC)
START = NOW + timedelta(days=5)


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(now=ManualClock(NOW).now, response_timeout=3.0) as emulator:
        point_discord_at(emulator.api_base, emulator.gateway_url)
        try:
            yield emulator
        finally:
            point_discord_at(None)


def set_bot_permissions(
    emu: Emulator, guild: Guild, *, grant: tuple[str, ...] = (), take: tuple[str, ...] = ()
) -> None:
    role = emu.bot_role(guild)
    plus = discord.Permissions(**dict.fromkeys(grant, True)).value
    minus = discord.Permissions(**dict.fromkeys(take, True)).value
    emu.set_role_permissions(guild, role, (role.permissions | plus) & ~minus)


async def call(bot: ProbeBot, method: str, path: str, json: Any = None, **params: Any) -> Any:
    return await bot.http.request(Route(method, path), json=json, params=params or None)


async def external(guild: discord.Guild, name: str = "Office hours") -> discord.ScheduledEvent:
    return await guild.create_scheduled_event(
        name=name,
        start_time=START,
        end_time=START + timedelta(hours=1),
        entity_type=discord.EntityType.external,
        location="https://meet.example/atlas",
        privacy_level=discord.PrivacyLevel.guild_only,
    )


def in_voice(emu: Emulator, guild: Guild, name: str = "office") -> Channel:
    return emu.add_channel(guild, name, type="voice")


async def test_at_most_100_scheduled_or_active_events(emu: Emulator, world: World, bot: ProbeBot) -> None:
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    made = [await external(guild, f"session {i}") for i in range(100)]
    with pytest.raises(discord.HTTPException) as info:
        await external(guild, "one too many")
    assert (info.value.status, info.value.code) == (400, 30038)
    # An ACTIVE event still counts; a COMPLETED or CANCELED one does not.
    started = await made[0].start()
    with pytest.raises(discord.HTTPException):
        await external(guild, "still too many")
    await made[1].cancel()
    await external(guild, "fits after a cancel")
    await started.end()
    await external(guild, "fits after an end")
    assert sum(1 for e in emu.scheduled_events(world.guild) if e.status in (1, 2)) == 100


async def test_status_transitions_follow_the_table(emu: Emulator, world: World, bot: ProbeBot) -> None:
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    path = f"/guilds/{guild.id}/scheduled-events/{{}}"

    async def set_status(event: discord.ScheduledEvent, status: int) -> int:
        try:
            await call(bot, "PATCH", path.format(event.id), {"status": status})
        except discord.HTTPException as exc:
            return exc.code
        return 0

    first = await external(guild)
    assert await set_status(first, 3) == 50035  # SCHEDULED -> COMPLETED is not a transition
    first = await first.start()  # SCHEDULED -> ACTIVE
    assert first.status is discord.EventStatus.active
    assert await set_status(first, 4) == 50035  # ACTIVE -> CANCELED
    assert await set_status(first, 1) == 50035  # ACTIVE -> SCHEDULED
    first = await first.end()  # ACTIVE -> COMPLETED
    assert first.status is discord.EventStatus.completed
    assert await set_status(first, 2) == 50035  # COMPLETED is final
    second = await external(guild, "second")
    second = await second.cancel()  # SCHEDULED -> CANCELED
    assert second.status is discord.EventStatus.cancelled
    assert await set_status(second, 1) == 50035  # CANCELED is final
    assert await set_status(second, 2) == 50035
    assert [e.status for e in emu.scheduled_events(world.guild)] == [3, 4]


async def test_creating_needs_create_events(emu: Emulator, world: World, bot: ProbeBot) -> None:
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    set_bot_permissions(emu, world.guild, take=("create_events",))  # Manage Events alone does not create
    with pytest.raises(discord.Forbidden) as info:
        await external(guild)
    assert info.value.code == 50013
    assert emu.scheduled_events(world.guild) == []
    set_bot_permissions(emu, world.guild, grant=("create_events",), take=("manage_events",))
    own = await external(guild)
    await own.edit(name="renamed by its creator")  # its own event: Create Events is enough
    # Someone else's event needs Manage Events.
    other = ScheduledEvent(
        id=emu.snowflakes.next(),
        guild=world.guild,
        name="alice's",
        scheduled_start_time=START.isoformat(),
        scheduled_end_time=(START + timedelta(hours=1)).isoformat(),
        entity_type=3,
        creator=world.alice.user,
        location="library",
    )
    world.guild.scheduled_events[other.id] = other
    path = f"/guilds/{guild.id}/scheduled-events/{other.id}"
    with pytest.raises(discord.Forbidden):
        await call(bot, "PATCH", path, {"name": "taken over"})
    with pytest.raises(discord.Forbidden):
        await call(bot, "DELETE", path)
    set_bot_permissions(emu, world.guild, grant=("manage_events",))
    await call(bot, "PATCH", path, {"name": "edited by a manager"})
    assert other.name == "edited by a manager"


async def test_voice_and_stage_events_need_the_channel_permissions(
    emu: Emulator, world: World, bot: ProbeBot
) -> None:
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    bot_role = emu.bot_role(world.guild)
    no_connect = emu.add_channel(
        world.guild,
        "locked",
        type="voice",
        overwrites={bot_role: (discord.Permissions.none(), discord.Permissions(connect=True))},
    )
    open_voice = in_voice(emu, world.guild)
    stage = emu.add_channel(world.guild, "stage", type="stage")
    await emu.until(lambda: guild.get_channel(stage.id) is not None)

    async def create(channel_id: int, entity_type: discord.EntityType) -> discord.ScheduledEvent:
        channel = guild.get_channel(channel_id)
        assert channel is not None
        return await guild.create_scheduled_event(
            name="session",
            start_time=START,
            channel=channel,  # type: ignore[arg-type]
            entity_type=entity_type,
            privacy_level=discord.PrivacyLevel.guild_only,
        )

    with pytest.raises(discord.Forbidden) as info:  # VOICE: View Channel and Connect on the channel
        await create(no_connect.id, discord.EntityType.voice)
    assert info.value.code == 50013
    event = await create(open_voice.id, discord.EntityType.voice)
    assert event.channel_id == open_voice.id and event.location is None
    with pytest.raises(discord.HTTPException) as wrong:  # a voice event in a stage channel
        await create(stage.id, discord.EntityType.voice)
    assert wrong.value.code == 50035
    with pytest.raises(discord.Forbidden):  # STAGE_INSTANCE: Manage Channels, Mute Members, Move Members
        await create(stage.id, discord.EntityType.stage_instance)
    set_bot_permissions(emu, world.guild, grant=("mute_members", "move_members"))
    staged = await create(stage.id, discord.EntityType.stage_instance)
    assert staged.entity_type is discord.EntityType.stage_instance
    # Editing an event in a channel the bot may no longer connect to is refused too.
    open_voice.overwrites[bot_role.id] = Overwrite(bot_role.id, 0, deny=discord.Permissions(connect=True).value)
    with pytest.raises(discord.Forbidden):
        await event.edit(name="renamed")


async def test_interest_events_user_count_and_users(emu: Emulator, world: World, bot: ProbeBot) -> None:
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    added: list[tuple[int, int]] = []
    removed: list[tuple[int, int]] = []

    async def on_add(event: discord.ScheduledEvent, user: discord.User) -> None:
        added.append((event.id, user.id))

    async def on_remove(event: discord.ScheduledEvent, user: discord.User) -> None:
        removed.append((event.id, user.id))

    bot.add_listener(on_add, "on_scheduled_event_user_add")
    bot.add_listener(on_remove, "on_scheduled_event_user_remove")
    event = await external(guild)
    emu_event = emu.scheduled_events(world.guild)[0]
    carol = emu.add_member(world.guild, "carol")
    for member in (world.alice, world.bob, carol):
        emu.interested(member, emu_event)
    emu.interested(world.alice, emu_event)  # twice: nothing new
    await emu.until(lambda: len(added) == 3)
    assert added == [(event.id, m.id) for m in (world.alice, world.bob, carol)]
    assert len(emu_event.user_ids) == 3
    emu.not_interested(world.bob, emu_event)
    await emu.until(lambda: removed == [(event.id, world.bob.id)])

    # user_count only with_user_count (and it follows the interest).
    (counted,) = await guild.fetch_scheduled_events(with_counts=True)
    assert counted.user_count == 2
    raw = await call(bot, "GET", f"/guilds/{guild.id}/scheduled-events", with_user_count="false")
    assert "user_count" not in raw[0]
    single = await guild.fetch_scheduled_event(event.id, with_counts=True)
    assert single.user_count == 2

    # discord.py's users(): ascending by user id.
    users = [u.id async for u in counted.users()]
    assert sorted(users) == sorted([world.alice.id, carol.id])

    # The endpoint itself: limit, after/before (before wins), with_member.
    path = f"/guilds/{guild.id}/scheduled-events/{event.id}/users"
    ids = sorted([world.alice.id, carol.id])
    page = await call(bot, "GET", path, limit=1)
    assert [u["user"]["id"] for u in page] == [str(ids[0])] and "member" not in page[0]
    page = await call(bot, "GET", path, after=ids[0])
    assert [u["user"]["id"] for u in page] == [str(ids[1])]
    page = await call(bot, "GET", path, before=ids[1], after=ids[0])
    assert [u["user"]["id"] for u in page] == [str(ids[0])]
    page = await call(bot, "GET", path, with_member="true")
    assert all("member" in u and u["guild_scheduled_event_id"] == str(event.id) for u in page)
    with pytest.raises(discord.HTTPException) as info:
        await call(bot, "GET", path, limit=101)
    assert info.value.code == 50035


async def test_no_interest_in_a_finished_or_hidden_event(emu: Emulator, world: World, bot: ProbeBot) -> None:
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    event = await external(guild)
    emu_event = emu.scheduled_events(world.guild)[0]
    emu.interested(world.alice, emu_event)
    await event.cancel()
    with pytest.raises(DiscordError) as info:
        emu.interested(world.bob, emu_event)
    assert (info.value.status, info.value.code) == (404, 10070)
    with pytest.raises(DiscordError):
        emu.not_interested(world.alice, emu_event)
    assert emu_event.user_ids == {world.alice.id}
    # A voice event in a channel bob cannot see: Get Permissions need View Channel.
    maintainer = emu.role(world.guild, "Maintainer")
    secret = emu.add_channel(
        world.guild,
        "staff-voice",
        type="voice",
        overwrites={
            world.guild.everyone: (discord.Permissions.none(), discord.Permissions(view_channel=True)),
            maintainer: (discord.Permissions(view_channel=True), discord.Permissions.none()),
            emu.bot_role(world.guild): (discord.Permissions(view_channel=True), discord.Permissions.none()),
        },
    )
    await emu.until(lambda: guild.get_channel(secret.id) is not None)
    channel = guild.get_channel(secret.id)
    await guild.create_scheduled_event(
        name="staff",
        start_time=START,
        channel=channel,  # type: ignore[arg-type]
        entity_type=discord.EntityType.voice,
        privacy_level=discord.PrivacyLevel.guild_only,
    )
    staff = emu.scheduled_events(world.guild)[-1]
    with pytest.raises(DiscordError) as hidden:
        emu.interested(world.bob, staff)
    assert hidden.value.code == 50001
    emu.interested(world.alice, staff)
    assert staff.user_ids == {world.alice.id}


async def test_scheduled_event_events_need_their_intent(emu: Emulator, world: World) -> None:
    """GUILD_SCHEDULED_EVENT_* (USER_ADD/REMOVE included) come only with GUILD_SCHEDULED_EVENTS."""
    seen: list[str] = []
    probe = ProbeBot(world.guild.id)
    probe._connection._intents.guild_scheduled_events = False

    async def on_socket_event_type(event_type: str) -> None:
        seen.append(event_type)

    probe.add_listener(on_socket_event_type)
    probe_bot, task = await start_bot(emu, world.guild, sync=False, bot=probe)
    try:
        guild = probe_bot.get_guild(world.guild.id)
        assert guild is not None
        await external(guild)
        emu.interested(world.alice, emu.scheduled_events(world.guild)[0])
        emu.post(world.bob, world.general, "after the events")  # a later event: everything before it arrived
        await emu.until(lambda: "MESSAGE_CREATE" in seen)
        assert not [t for t in seen if t.startswith("GUILD_SCHEDULED_EVENT")]
    finally:
        await stop_bot(probe_bot, task)


async def test_entity_type_field_rules(emu: Emulator, world: World, bot: ProbeBot) -> None:
    """EXTERNAL needs a location and an end time and no channel; switching to EXTERNAL must null the channel."""
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    room = in_voice(emu, world.guild)
    base = {"name": "s", "privacy_level": 2, "scheduled_start_time": START.isoformat()}
    path = f"/guilds/{guild.id}/scheduled-events"
    for body in (
        {**base, "entity_type": 3, "entity_metadata": {"location": "x"}},  # no end time
        {**base, "entity_type": 3, "scheduled_end_time": START.isoformat()},  # no location
        {
            **base,
            "entity_type": 3,
            "entity_metadata": {"location": "x"},
            "scheduled_end_time": (START + timedelta(hours=1)).isoformat(),
            "channel_id": str(room.id),
        },
        {**base, "entity_type": 2},  # a voice event without its channel
    ):
        with pytest.raises(discord.HTTPException) as info:
            await call(bot, "POST", path, body)
        assert info.value.code == 50035, body
    event = await call(bot, "POST", path, {**base, "entity_type": 2, "channel_id": str(room.id)})
    assert event["channel_id"] == str(room.id) and event["entity_metadata"] is None
    end = (START + timedelta(hours=1)).isoformat()
    switch = {"entity_type": 3, "entity_metadata": {"location": "library"}, "scheduled_end_time": end}
    with pytest.raises(discord.HTTPException):
        await call(bot, "PATCH", f"{path}/{event['id']}", switch)  # channel_id not nulled
    edited = await call(bot, "PATCH", f"{path}/{event['id']}", {**switch, "channel_id": None})
    assert edited["channel_id"] is None and edited["entity_metadata"] == {"location": "library"}


async def test_members_create_and_run_events_under_the_same_rules(
    emu: Emulator, world: World, bot: ProbeBot
) -> None:
    """Events made, started and deleted in Discord's client reach the bot; the rules are the bot's."""
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    updates: list[discord.EventStatus] = []

    async def on_scheduled_event_update(before: discord.ScheduledEvent, after: discord.ScheduledEvent) -> None:
        updates.append(before.status)  # ``after`` is discord.py's live object: later updates show in it

    bot.add_listener(on_scheduled_event_update)
    room = in_voice(emu, world.guild)
    with pytest.raises(DiscordError) as info:  # bob: no Create Events
        emu.member_create_event(world.bob, "bob's", START, channel=room)
    assert info.value.code == 50013
    host = emu.add_role(world.guild, "Host", permissions=discord.Permissions(create_events=True))
    emu.set_roles(world.alice, [host])
    event = emu.member_create_event(world.alice, "alice's", START, channel=room)
    await emu.until(lambda: guild.get_scheduled_event(event.id) is not None)
    seen = guild.get_scheduled_event(event.id)
    assert seen is not None and seen.creator_id == world.alice.id and seen.channel_id == room.id
    with pytest.raises(DiscordError):  # bob may not start alice's event
        emu.member_set_event_status(world.bob, event, 2)
    emu.member_set_event_status(world.alice, event, 2)
    with pytest.raises(DiscordError) as transition:
        emu.member_set_event_status(world.alice, event, 4)  # ACTIVE -> CANCELED
    assert transition.value.code == 50035
    emu.member_set_event_status(world.alice, event, 3)
    await emu.until(lambda: len(updates) >= 2, timeout=2)
    assert updates == [discord.EventStatus.scheduled, discord.EventStatus.active]
    assert event.status == 3
    emu.member_delete_event(world.alice, event)
    await emu.until(lambda: guild.get_scheduled_event(event.id) is None)
