"""Threads as Discord has them: private-thread visibility, thread members and their events, archive and
auto-archive on the emulator's clock, the active-thread limit; driven through the real discord.py client.

Each test names the rule it checks; the rules and their sources are in bot/emulator/threads.py.
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
from bot.emulator import Channel, DiscordError, Emulator, Guild, InteractionRefused

from .conftest import World, start_bot, stop_bot
from .testbot import ProbeBot

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SEND_IN_THREADS = discord.Permissions(send_messages_in_threads=True).value


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture(autouse=True)
def maintainers_make_private_threads(emu: Emulator, world: World) -> None:
    """Alice's role may start private threads (the emulator's @everyone may not)."""
    emu.set_role_permissions(world.guild, "Maintainer", discord.Permissions(create_private_threads=True))


@pytest.fixture
async def emu(clock: ManualClock) -> AsyncIterator[Emulator]:
    """The emulator on a clock the tests move (auto-archive follows it)."""
    async with Emulator(now=clock.now, response_timeout=3.0) as emulator:
        point_discord_at(emulator.api_base, emulator.gateway_url)
        try:
            yield emulator
        finally:
            point_discord_at(None)


def take_from_bot(emu: Emulator, guild: Guild, *names: str) -> None:
    """The owner removes permissions from the bot's role."""
    role = emu.bot_role(guild)
    bits = discord.Permissions(**dict.fromkeys(names, True)).value
    emu.set_role_permissions(guild, role, role.permissions & ~bits)


async def call(bot: ProbeBot, method: str, path: str, json: Any = None, **params: Any) -> Any:
    route = Route(method, path)
    return await bot.http.request(route, json=json, params=params or None)


def text_channel(bot: ProbeBot, channel: Channel) -> discord.TextChannel:
    found = bot.get_channel(channel.id)
    assert isinstance(found, discord.TextChannel)
    return found


async def private_thread(
    bot: ProbeBot, world: World, name: str = "cohort-1", **kwargs: Any
) -> tuple[discord.Thread, Channel]:
    thread = await text_channel(bot, world.general).create_thread(
        name=name, type=discord.ChannelType.private_thread, **kwargs
    )
    return thread, next(t for t in world.guild.channels.values() if t.id == thread.id)


def expect(info: pytest.ExceptionInfo[Any], status: int, code: int) -> None:
    assert (info.value.status, info.value.code) == (status, code)


# ---------------------------------------------------------------------- who sees a private thread
async def test_private_thread_is_seen_by_members_and_moderators_only(
    emu: Emulator, world: World, bot: ProbeBot
) -> None:
    thread, emu_thread = await private_thread(bot, world)
    assert thread.type is discord.ChannelType.private_thread and emu_thread.owner_id == bot.user.id  # type: ignore
    await thread.add_user(discord.Object(world.alice.id))
    mods = emu.add_role(world.guild, "Mods", permissions=discord.Permissions(manage_threads=True))
    moderator = emu.add_member(world.guild, "mod", roles=[mods])
    assert emu.can_view(world.alice, emu_thread)
    assert not emu.can_view(world.bob, emu_thread)
    assert emu.can_view(moderator, emu_thread)  # Manage Threads sees every private thread
    assert emu.can_view(world.bob, world.general)
    # Membership does not help without view on the parent.
    second, emu_second = await private_thread(bot, world, "cohort-2")
    await second.add_user(discord.Object(world.bob.id))
    assert emu.can_view(world.bob, emu_second)
    world.general.overwrites[world.bob.id] = _deny_view(world.bob.id)
    assert world.bob.id in emu_second.thread_member_ids and not emu.can_view(world.bob, emu_second)


def _deny_view(uid: int) -> Any:
    from bot.emulator.state import Overwrite

    return Overwrite(uid, 1, 0, discord.Permissions(view_channel=True).value)


async def test_member_posting_in_a_private_thread(emu: Emulator, world: World, bot: ProbeBot) -> None:
    seen: list[discord.Message] = []

    async def on_msg(message: discord.Message) -> None:
        seen.append(message)

    bot.add_listener(on_msg, "on_message")
    thread, emu_thread = await private_thread(bot, world)
    await thread.add_user(discord.Object(world.alice.id))
    with pytest.raises(DiscordError) as info:
        emu.post(world.bob, emu_thread, "let me in")
    assert (info.value.status, info.value.code) == (403, 50001)
    assert emu.messages(emu_thread) == []
    msg = emu.post(world.alice, emu_thread, "hello cohort")
    await emu.until(lambda: any(m.id == msg.id for m in seen))
    assert seen[-1].channel.id == thread.id and seen[-1].content == "hello cohort"
    payload = emu.thread_rules.payload(emu_thread)
    assert payload["last_message_id"] == str(msg.id) and payload["message_count"] == 1
    assert emu_thread.last_activity == emu.now()
    # Send Messages in Threads, not Send Messages, is what counts in a thread.
    everyone = world.guild.everyone
    emu.set_role_permissions(world.guild, everyone, everyone.permissions & ~SEND_IN_THREADS)
    with pytest.raises(DiscordError) as info:
        emu.post(world.alice, emu_thread, "again")
    assert (info.value.status, info.value.code) == (403, 50013)


async def test_message_events_from_a_private_thread_reach_the_bot_only_if_it_sees_it(
    emu: Emulator, world: World, bot: ProbeBot
) -> None:
    take_from_bot(emu, world.guild, "manage_threads")
    seen: list[str] = []

    async def on_msg(message: discord.Message) -> None:
        seen.append(message.content)

    bot.add_listener(on_msg, "on_message")
    hidden = emu.member_create_thread(world.alice, world.general, "alice's corner")
    emu.post(world.alice, hidden, "not for bots")
    emu.post(world.alice, world.general, "sync point")
    await emu.until(lambda: "sync point" in seen)
    assert "not for bots" not in seen
    guild = bot.get_guild(world.guild.id)
    assert guild is not None and guild.get_thread(hidden.id) is None  # no THREAD_CREATE either
    events: list[str] = []

    async def on_event(event: str) -> None:
        events.append(event)

    bot.add_listener(on_event, "on_socket_event_type")
    emu.member_add_to_thread(world.alice, hidden, world.guild.members[bot.user.id])  # type: ignore[union-attr]
    await emu.until(lambda: "THREAD_MEMBER_UPDATE" in events)
    joined = guild.get_thread(hidden.id)
    assert joined is not None and joined.me is not None  # THREAD_CREATE with its member object
    assert events == ["THREAD_CREATE", "THREAD_MEMBERS_UPDATE", "THREAD_MEMBER_UPDATE"]
    emu.post(world.alice, hidden, "now you see me")
    await emu.until(lambda: "now you see me" in seen)


async def test_creating_a_private_thread_needs_create_private_threads(
    emu: Emulator, world: World, bot: ProbeBot
) -> None:
    take_from_bot(emu, world.guild, "create_private_threads")
    with pytest.raises(discord.Forbidden) as info:
        await private_thread(bot, world)
    expect(info, 403, 50013)
    public = await text_channel(bot, world.general).create_thread(
        name="open", type=discord.ChannelType.public_thread
    )
    assert public.type is discord.ChannelType.public_thread


async def test_thread_create_reaches_the_bot_only_for_threads_it_sees(
    emu: Emulator, world: World, bot: ProbeBot
) -> None:
    created: list[int] = []

    async def on_create(thread: discord.Thread) -> None:
        created.append(thread.id)

    bot.add_listener(on_create, "on_thread_create")
    take_from_bot(emu, world.guild, "manage_threads")
    private = emu.member_create_thread(world.alice, world.general, "private")
    public = emu.member_create_thread(world.alice, world.general, "public", private=False)
    await emu.until(lambda: public.id in created)
    assert private.id not in created
    # With Manage Threads the bot sees (and is told about) every private thread.
    emu.set_role_permissions(world.guild, emu.bot_role(world.guild), discord.Permissions.all())
    moderated = emu.member_create_thread(world.alice, world.general, "moderated")
    await emu.until(lambda: moderated.id in created)


async def test_guild_create_lists_only_active_threads_the_bot_sees(emu: Emulator, world: World) -> None:
    take_from_bot(emu, world.guild, "manage_threads")
    hidden = emu.member_create_thread(world.alice, world.general, "hidden")
    public = emu.member_create_thread(world.alice, world.general, "public", private=False)
    old = emu.member_create_thread(world.alice, world.general, "old", private=False)
    emu.member_edit_thread(world.alice, old, archived=True)
    bot, task = await start_bot(emu, world.guild, sync=False)
    try:
        guild = bot.get_guild(world.guild.id)
        assert guild is not None
        assert {t.id for t in guild.threads} == {public.id}
        assert hidden.id not in {t.id for t in guild.threads}
    finally:
        await stop_bot(bot, task)


# ---------------------------------------------------------------------- adding and removing members
async def test_add_user_rules(emu: Emulator, world: World, bot: ProbeBot) -> None:
    thread, emu_thread = await private_thread(bot, world)
    # The added user must see the parent channel.
    world.general.overwrites[world.bob.id] = _deny_view(world.bob.id)
    with pytest.raises(discord.Forbidden) as info:
        await thread.add_user(discord.Object(world.bob.id))
    expect(info, 403, 50001)
    del world.general.overwrites[world.bob.id]
    # Unknown user.
    with pytest.raises(discord.NotFound) as nf:
        await thread.add_user(discord.Object(12345))
    assert nf.value.code == 10007
    # Adding twice is a 204 without a second event.
    await thread.add_user(discord.Object(world.bob.id))
    await thread.add_user(discord.Object(world.bob.id))
    assert emu_thread.thread_member_ids == {bot.user.id, world.bob.id}  # type: ignore[union-attr]
    # "Requires the ability to send messages in the thread".
    take_from_bot(emu, world.guild, "send_messages_in_threads")
    everyone = world.guild.everyone
    emu.set_role_permissions(world.guild, everyone, everyone.permissions & ~SEND_IN_THREADS)
    with pytest.raises(discord.Forbidden) as info:
        await thread.add_user(discord.Object(world.alice.id))
    expect(info, 403, 50013)
    emu.set_role_permissions(world.guild, emu.bot_role(world.guild), discord.Permissions.all())
    # "Also requires the thread is not archived."
    await thread.edit(archived=True)
    with pytest.raises(discord.HTTPException) as info:
        await thread.add_user(discord.Object(world.alice.id))
    expect(info, 400, 50083)
    assert world.alice.id not in emu_thread.thread_member_ids


async def test_invitable_false_lets_only_moderators_add_others(emu: Emulator, world: World, bot: ProbeBot) -> None:
    closed, emu_closed = await private_thread(bot, world, "closed", invitable=False)
    opened, emu_open = await private_thread(bot, world, "open", invitable=True)
    assert closed.invitable is False and opened.invitable is True
    for thread in (closed, opened):
        await thread.add_user(discord.Object(world.alice.id))
    # A non-moderator member: may add to an invitable thread, not to the other.
    emu.member_add_to_thread(world.alice, emu_open, world.bob)
    with pytest.raises(DiscordError) as info:
        emu.member_add_to_thread(world.alice, emu_closed, world.bob)
    assert info.value.code == 50013 and world.bob.id not in emu_closed.thread_member_ids
    # The bot with Manage Threads may; without it, not.
    await closed.add_user(discord.Object(world.bob.id))
    carol = emu.add_member(world.guild, "carol")
    take_from_bot(emu, world.guild, "manage_threads")
    with pytest.raises(discord.Forbidden) as forbidden:
        await closed.add_user(discord.Object(carol.id))
    expect(forbidden, 403, 50013)


async def test_remove_user_needs_manage_threads_or_own_private_thread(
    emu: Emulator, world: World, bot: ProbeBot
) -> None:
    take_from_bot(emu, world.guild, "manage_threads")
    own, emu_own = await private_thread(bot, world)
    await own.add_user(discord.Object(world.bob.id))
    await own.remove_user(discord.Object(world.bob.id))  # the creator of a private thread may
    assert world.bob.id not in emu_own.thread_member_ids
    theirs = emu.member_create_thread(world.alice, world.general, "alice's", private=False)
    emu.member_add_to_thread(world.bob, theirs, world.bob)  # bob joins a public thread
    await emu.until(lambda: bot.get_guild(world.guild.id).get_thread(theirs.id) is not None)  # type: ignore[union-attr]
    with pytest.raises(discord.Forbidden) as info:
        await call(bot, "DELETE", f"/channels/{theirs.id}/thread-members/{world.bob.id}")
    expect(info, 403, 50013)
    # Archived: refused even for its creator.
    await own.add_user(discord.Object(world.bob.id))
    await own.edit(archived=True)
    with pytest.raises(discord.HTTPException) as archived:
        await own.remove_user(discord.Object(world.bob.id))
    expect(archived, 400, 50083)


# ---------------------------------------------------------------------- thread members and their events
async def test_thread_members_endpoints_and_discord_py(emu: Emulator, world: World, bot: ProbeBot) -> None:
    thread, emu_thread = await private_thread(bot, world)
    await thread.add_user(discord.Object(world.alice.id))
    await thread.add_user(discord.Object(world.bob.id))
    members = await thread.fetch_members()
    assert {m.id for m in members} == {bot.user.id, world.alice.id, world.bob.id}  # type: ignore[union-attr]
    assert all(m.thread_id == thread.id for m in members)
    one = await thread.fetch_member(world.alice.id)
    assert one.id == world.alice.id and one.joined_at == START
    with pytest.raises(discord.NotFound) as info:
        await thread.fetch_member(emu.add_member(world.guild, "dave").id)
    assert info.value.code == 10007
    paged = await call(bot, "GET", f"/channels/{thread.id}/thread-members", with_member="true", limit=2)
    assert len(paged) == 2 and "member" in paged[0] and paged[0]["member"]["user"]["id"]
    # THREAD_MEMBERS_UPDATE (GUILD_MEMBERS intent) keeps discord.py's cached Thread.members.
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    cached = guild.get_thread(thread.id)
    assert cached is not None
    await emu.until(lambda: {m.id for m in cached.members} >= {world.alice.id, world.bob.id})
    await thread.remove_user(discord.Object(world.bob.id))
    await emu.until(lambda: world.bob.id not in {m.id for m in cached.members})
    assert emu.thread_rules.payload(emu_thread)["member_count"] == 2


async def test_thread_members_update_without_the_members_intent_is_only_about_the_bot(
    emu: Emulator, world: World
) -> None:
    bot, task = await start_bot(emu, world.guild, sync=False, bot=ProbeBot(world.guild.id, members_intent=False))
    try:
        thread, emu_thread = await private_thread(bot, world)
        await thread.add_user(discord.Object(world.alice.id))
        public = emu.member_create_thread(world.alice, world.general, "public", private=False)
        guild = bot.get_guild(world.guild.id)
        assert guild is not None
        await emu.until(lambda: guild.get_thread(public.id) is not None)
        cached = guild.get_thread(thread.id)
        assert cached is not None and cached.members == []  # alice's addition was not sent
        emu.member_add_to_thread(world.alice, public, world.guild.members[bot.user.id])  # type: ignore[union-attr]
        await emu.until(lambda: guild.get_thread(public.id).me is not None)  # type: ignore[union-attr]
        assert world.alice.id in emu_thread.thread_member_ids
    finally:
        await stop_bot(bot, task)


# ---------------------------------------------------------------------- archive and auto-archive
async def test_auto_archive_after_inactivity_on_the_emulators_clock(
    emu: Emulator, world: World, bot: ProbeBot, clock: ManualClock
) -> None:
    updates: list[tuple[int, bool]] = []

    async def on_update(before: discord.Thread, after: discord.Thread) -> None:
        updates.append((after.id, after.archived))

    bot.add_listener(on_update, "on_thread_update")
    thread, emu_thread = await private_thread(bot, world, auto_archive_duration=60)
    await thread.add_user(discord.Object(world.alice.id))
    clock.advance(minutes=40)
    emu.post(world.alice, emu_thread, "still here")  # activity restarts the hour
    clock.advance(minutes=59)
    assert emu.archive_idle_threads() == [] and not emu_thread.archived
    clock.advance(minutes=2)
    assert emu.archive_idle_threads() == [emu_thread]
    assert emu_thread.archived
    assert emu_thread.archive_timestamp == START + timedelta(minutes=100)
    await emu.until(lambda: (thread.id, True) in updates)
    data = await call(bot, "GET", f"/channels/{thread.id}")
    assert data["thread_metadata"]["archived"] is True
    assert datetime.fromisoformat(data["thread_metadata"]["archive_timestamp"]) == START + timedelta(minutes=100)


async def test_auto_archive_duration_must_be_one_of_four(emu: Emulator, world: World, bot: ProbeBot) -> None:
    with pytest.raises(discord.HTTPException) as info:
        await call(
            bot, "POST", f"/channels/{world.general.id}/threads", {"name": "x", "auto_archive_duration": 90}
        )
    expect(info, 400, 50035)
    thread, emu_thread = await private_thread(bot, world, auto_archive_duration=10080)
    with pytest.raises(discord.HTTPException) as info:
        await call(bot, "PATCH", f"/channels/{thread.id}", {"auto_archive_duration": 30})
    expect(info, 400, 50035)
    await thread.edit(auto_archive_duration=4320)
    assert emu_thread.auto_archive_duration == 4320


async def test_bot_sending_in_an_archived_thread_unarchives_it(
    emu: Emulator, world: World, bot: ProbeBot, clock: ManualClock
) -> None:
    thread, emu_thread = await private_thread(bot, world, auto_archive_duration=1440)
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    await emu.until(lambda: guild.get_thread(thread.id) is not None)
    clock.advance(days=2)
    await emu.until(lambda: emu_thread.archived)
    await emu.until(lambda: guild.get_thread(thread.id) is None)  # discord.py drops archived threads
    events: list[str] = []

    async def on_event(event: str) -> None:
        events.append(event)

    bot.add_listener(on_event, "on_socket_event_type")
    await thread.send("week 2 is here")
    await emu.until(lambda: "MESSAGE_CREATE" in events)
    # "A Thread Update event ... [then] A Thread Member Update event" (Threads topic, "Unarchiving a Thread").
    assert events == ["THREAD_UPDATE", "THREAD_MEMBER_UPDATE", "MESSAGE_CREATE"], events
    assert not emu_thread.archived and [m.content for m in emu.messages(emu_thread)] == ["week 2 is here"]
    await emu.until(lambda: guild.get_thread(thread.id) is not None)  # THREAD_UPDATE came first
    assert emu_thread.archive_timestamp == clock.now()


async def test_locked_threads(emu: Emulator, world: World, bot: ProbeBot) -> None:
    thread, emu_thread = await private_thread(bot, world)
    await thread.add_user(discord.Object(world.alice.id))
    await thread.edit(locked=True)
    with pytest.raises(DiscordError) as info:
        emu.post(world.alice, emu_thread, "hi")
    assert (info.value.status, info.value.code) == (400, 160005)
    await thread.edit(archived=True)
    with pytest.raises(DiscordError) as info:
        emu.post(world.alice, emu_thread, "hi")
    assert info.value.code == 50083 and emu_thread.archived
    take_from_bot(emu, world.guild, "manage_threads")
    with pytest.raises(discord.HTTPException) as archived:
        await thread.send("locked and archived")
    expect(archived, 400, 50083)
    with pytest.raises(discord.Forbidden):
        await thread.edit(archived=False)  # only Manage Threads unarchives a locked thread
    emu.set_role_permissions(world.guild, emu.bot_role(world.guild), discord.Permissions.all())
    await thread.send("moderator speaking")
    assert not emu_thread.archived


async def test_member_post_unarchives_an_unlocked_thread(emu: Emulator, world: World, bot: ProbeBot) -> None:
    thread, emu_thread = await private_thread(bot, world)
    await thread.add_user(discord.Object(world.alice.id))
    await thread.edit(archived=True)
    emu.post(world.alice, emu_thread, "back again")
    assert not emu_thread.archived and emu.messages(emu_thread)[-1].content == "back again"


async def test_editing_an_archived_thread(emu: Emulator, world: World, bot: ProbeBot) -> None:
    thread, emu_thread = await private_thread(bot, world)
    await thread.edit(archived=True)
    with pytest.raises(discord.HTTPException) as info:
        await thread.edit(name="renamed")
    expect(info, 400, 50083)
    with pytest.raises(discord.HTTPException) as info:
        await thread.edit(locked=True)
    expect(info, 400, 50083)
    await thread.edit(name="renamed", archived=False)  # an edit that unarchives is allowed
    assert emu_thread.name == "renamed" and not emu_thread.archived


async def test_bot_messages_in_archived_threads_cannot_be_edited(
    emu: Emulator, world: World, bot: ProbeBot
) -> None:
    thread, _ = await private_thread(bot, world)
    msg = await thread.send("draft")
    await thread.edit(archived=True)
    with pytest.raises(discord.HTTPException) as info:
        await msg.edit(content="edited")
    expect(info, 400, 50083)


async def test_listing_archived_and_active_threads(
    emu: Emulator, world: World, bot: ProbeBot, clock: ManualClock
) -> None:
    general = text_channel(bot, world.general)
    privates = []
    for i in range(3):
        thread, emu_thread = await private_thread(bot, world, f"p{i}")
        clock.advance(minutes=1)
        await thread.edit(archived=True)
        privates.append(emu_thread)
    public = await general.create_thread(name="pub", type=discord.ChannelType.public_thread)
    await public.edit(archived=True)
    hidden = emu.member_create_thread(world.alice, world.general, "alice only")
    emu.member_edit_thread(world.alice, hidden, archived=True)
    active, _ = await private_thread(bot, world, "active")

    names = [t.name async for t in general.archived_threads(private=True)]
    assert names == ["alice only", "p2", "p1", "p0"]  # archive_timestamp, newest first
    joined = [t.name async for t in general.archived_threads(private=True, joined=True)]
    assert joined == ["p2", "p1", "p0"]  # the bot's own, by id descending
    assert [t.name async for t in general.archived_threads()] == ["pub"]
    page = await call(bot, "GET", f"/channels/{world.general.id}/threads/archived/private", limit=2)
    assert [t["name"] for t in page["threads"]] == ["alice only", "p2"] and page["has_more"] is True
    assert {m["id"] for m in page["members"]} == {str(privates[2].id)}  # only threads the bot joined
    before = privates[1].archive_timestamp.isoformat()
    page = await call(bot, "GET", f"/channels/{world.general.id}/threads/archived/private", before=before)
    assert [t["name"] for t in page["threads"]] == ["p0"] and page["has_more"] is False

    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    listed = await guild.active_threads()
    assert [t.id for t in listed] == [active.id]
    assert listed[0].members and listed[0].members[0].id == bot.user.id  # type: ignore[union-attr]

    take_from_bot(emu, world.guild, "manage_threads")
    with pytest.raises(discord.Forbidden) as info:
        await call(bot, "GET", f"/channels/{world.general.id}/threads/archived/private")
    expect(info, 403, 50013)
    live = emu.member_create_thread(world.alice, world.general, "alice live")
    assert live.id not in {t.id for t in await guild.active_threads()}


# ---------------------------------------------------------------------- the active-thread limit
async def test_active_thread_limit(emu: Emulator, world: World, bot: ProbeBot) -> None:
    assert emu.max_active_threads == 1000
    emu.max_active_threads = 2
    first, emu_first = await private_thread(bot, world, "a")
    second, _ = await private_thread(bot, world, "b")
    with pytest.raises(discord.HTTPException) as info:
        await private_thread(bot, world, "c")
    expect(info, 400, 160006)
    with pytest.raises(DiscordError) as member_info:
        emu.member_create_thread(world.alice, world.general, "mine", private=False)
    assert member_info.value.code == 160006
    await first.edit(archived=True)  # archived threads do not count
    third, _ = await private_thread(bot, world, "c")
    with pytest.raises(discord.HTTPException) as info:
        await first.edit(archived=False)
    expect(info, 400, 160006)
    with pytest.raises(discord.HTTPException) as info:
        await first.send("unarchive me")
    expect(info, 400, 160006)
    assert emu_first.archived and emu.messages(emu_first) == []
    assert len(emu.active_threads(world.guild)) == 2
    del second, third


async def test_deleting_a_thread_sends_the_short_thread_delete(emu: Emulator, world: World, bot: ProbeBot) -> None:
    deleted: list[discord.RawThreadDeleteEvent] = []

    async def on_delete(event: discord.RawThreadDeleteEvent) -> None:
        deleted.append(event)

    bot.add_listener(on_delete, "on_raw_thread_delete")
    thread, _ = await private_thread(bot, world)
    await thread.delete()
    await emu.until(lambda: bool(deleted))
    assert deleted[0].thread_id == thread.id and deleted[0].parent_id == world.general.id
    assert emu.threads(world.general) == []


async def test_thread_member_cap_and_joining_by_posting(emu: Emulator, world: World, bot: ProbeBot) -> None:
    thread, emu_thread = await private_thread(bot, world)
    emu.max_thread_members = 2
    await thread.add_user(discord.Object(world.alice.id))
    with pytest.raises(discord.HTTPException) as info:
        await thread.add_user(discord.Object(world.bob.id))
    expect(info, 400, 30033)
    # Sending a message in a thread one can see makes one a member ("The API will helpfully automatically add
    # users to a thread when sending a message in that thread").
    public = emu.member_create_thread(world.alice, world.general, "open", private=False)
    emu.post(world.bob, public, "joining by talking")
    assert world.bob.id in public.thread_member_ids and emu_thread.owner_id == bot.user.id  # type: ignore[union-attr]


async def test_bot_removed_from_a_private_thread_is_told(emu: Emulator, world: World, bot: ProbeBot) -> None:
    removed: list[int] = []

    async def on_remove(thread: discord.Thread) -> None:
        removed.append(thread.id)

    bot.add_listener(on_remove, "on_thread_remove")
    take_from_bot(emu, world.guild, "manage_threads")
    theirs = emu.member_create_thread(world.alice, world.general, "alice's")
    me = world.guild.members[bot.user.id]  # type: ignore[union-attr]
    emu.member_add_to_thread(world.alice, theirs, me)
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    await emu.until(lambda: guild.get_thread(theirs.id) is not None)
    emu.member_remove_from_thread(world.alice, theirs, me)  # the creator of a private thread may remove
    await emu.until(lambda: theirs.id in removed)  # THREAD_MEMBERS_UPDATE although it no longer sees the thread
    assert not emu.can_view(me, theirs)
    with pytest.raises(discord.Forbidden) as info:
        await call(bot, "GET", f"/channels/{theirs.id}")
    expect(info, 403, 50001)


async def test_no_interactions_from_a_private_thread_one_cannot_see(
    emu: Emulator, world: World, bot: ProbeBot
) -> None:
    thread, emu_thread = await private_thread(bot, world)
    await thread.add_user(discord.Object(world.alice.id))
    assert (await emu.slash(world.alice, "ping", in_channel=emu_thread)).content == "pong"
    with pytest.raises(InteractionRefused):
        await emu.slash(world.bob, "ping", in_channel=emu_thread)
