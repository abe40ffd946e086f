"""Messages, DMs, roles, channels, threads, forums, scheduled events, rules and failure injection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import discord
import pytest
from discord.http import Route

from bot.emulator import Emulator

from .conftest import World, start_bot, stop_bot
from .testbot import ProbeBot


def _button(i: int, **extra: Any) -> dict[str, Any]:
    return {"type": 2, "style": 1, "label": f"b{i}", "custom_id": f"b{i}", **extra}


def _row(*components: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(components)}


BAD_MESSAGES: dict[str, dict[str, Any]] = {
    "content-2001": {"content": "x" * 2001},
    "11-embeds": {"embeds": [{"title": "t"}] * 11},
    "embed-title-257": {"embeds": [{"title": "t" * 257}]},
    "embed-description-4097": {"embeds": [{"description": "d" * 4097}]},
    "embed-26-fields": {"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]},
    "field-name-257": {"embeds": [{"fields": [{"name": "n" * 257, "value": "v"}]}]},
    "field-value-1025": {"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]},
    "footer-2049": {"embeds": [{"footer": {"text": "f" * 2049}}]},
    "author-257": {"embeds": [{"author": {"name": "a" * 257}}]},
    "embeds-over-6000": {"embeds": [{"description": "d" * 4000}, {"description": "d" * 2001}]},
    "6-rows": {"components": [_row(_button(i)) for i in range(6)]},
    "6-buttons": {"components": [_row(*[_button(i) for i in range(6)])]},
    "custom-id-101": {"components": [_row(_button(0, custom_id="c" * 101))]},
    "label-81": {"components": [_row(_button(0, label="l" * 81))]},
    "26-select-options": {
        "components": [
            _row({"type": 3, "custom_id": "s", "options": [{"label": str(i), "value": str(i)} for i in range(26)]})
        ]
    },
}


@pytest.mark.parametrize("body", BAD_MESSAGES.values(), ids=BAD_MESSAGES.keys())
async def test_message_limits_are_invalid_form_body(
    emu: Emulator, world: World, bot: ProbeBot, body: dict[str, Any]
) -> None:
    route = Route("POST", "/channels/{channel_id}/messages", channel_id=world.general.id)
    with pytest.raises(discord.HTTPException) as info:
        await bot.http.request(route, json=body)
    assert (info.value.status, info.value.code) == (400, 50035)
    assert emu.messages(world.general) == []


async def test_empty_message_and_valid_limits(emu: Emulator, world: World, bot: ProbeBot) -> None:
    route = Route("POST", "/channels/{channel_id}/messages", channel_id=world.general.id)
    with pytest.raises(discord.HTTPException) as info:
        await bot.http.request(route, json={"content": ""})
    assert info.value.code == 50006
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    embed = discord.Embed(title="t" * 256, description="d" * 4096)
    msg = await channel.send("x" * 2000, embed=embed)
    assert msg.content == "x" * 2000 and msg.embeds[0].title == "t" * 256
    assert emu.messages(world.general)[0].content == "x" * 2000


async def test_modal_limits(emu: Emulator, world: World, bot: ProbeBot) -> None:
    errors: list[discord.HTTPException] = []

    @bot.tree.command(guild=bot.guild_obj, description="bad modal")
    async def badmodal(interaction: discord.Interaction) -> None:
        adapter = discord.webhook.async_.async_context.get()
        text = {"type": 4, "custom_id": "t", "label": "t", "style": 1}
        data = {"custom_id": "m", "title": "T" * 46, "components": [_row(text)]}
        params = discord.webhook.async_.interaction_response_params(9, data)
        try:
            await adapter.create_interaction_response(
                interaction.id, interaction.token, session=interaction._session, params=params
            )
        except discord.HTTPException as exc:
            errors.append(exc)
        await interaction.response.send_message("fallback", ephemeral=True)

    await bot.tree.sync(guild=bot.guild_obj)
    r = await emu.slash(world.alice, "badmodal")
    assert errors[0].code == 50035 and r.modal is None and r.content == "fallback"


async def test_no_send_permission_in_channel_is_forbidden(emu: Emulator, world: World, bot: ProbeBot) -> None:
    bot_role = emu.role(world.guild, "Atlas")
    locked = emu.add_channel(
        world.guild, "locked", overwrites={bot_role: (0, discord.Permissions(send_messages=True))}
    )
    await emu.until(lambda: bot.get_channel(locked.id) is not None)
    channel = bot.get_channel(locked.id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.Forbidden) as info:
        await channel.send("hi")
    assert info.value.code == 50013


async def test_dm_and_closed_dms(emu: Emulator, world: World, bot: ProbeBot) -> None:
    r = await emu.slash(world.alice, "dm", member=world.bob)
    assert r.content == "sent"
    assert [m.content for m in emu.dms(world.bob)] == ["hello from the bot"]
    emu.close_dms(world.alice)
    r = await emu.slash(world.bob, "dm", member=world.alice)
    assert r.content == "failed 50007" and isinstance(bot.errors[0], discord.Forbidden)
    assert emu.dms(world.alice) == []


async def test_roles_granted_and_refused(emu: Emulator, world: World, bot: ProbeBot) -> None:
    learner = emu.role(world.guild, "Learner")
    r = await emu.slash(world.alice, "grant", role=learner, member=world.bob)
    assert r.content == "granted Learner to bob"
    assert emu.roles_of(world.bob) == ["Learner"]
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    await emu.until(lambda: [x.name for x in guild.get_member(world.bob.id).roles] == ["@everyone", "Learner"])  # type: ignore[union-attr]

    admin = emu.add_role(world.guild, "Admin", above_bot=True)
    r = await emu.slash(world.alice, "grant", role=admin)
    assert r.content == "failed 50013" and "Admin" not in emu.roles_of(world.alice)

    emu.role(world.guild, "Atlas").permissions &= ~discord.Permissions(manage_roles=True).value
    r = await emu.slash(world.alice, "grant", role=learner)
    assert r.content == "failed 50013"


async def test_bot_creates_and_edits_roles(emu: Emulator, world: World, bot: ProbeBot) -> None:
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    role = await guild.create_role(name="Contributor", colour=discord.Colour(0x2ECC71), hoist=True)
    assert role.name == "Contributor" and role.colour.value == 0x2ECC71
    await emu.until(lambda: guild.get_role(role.id) is not None)
    await role.edit(name="Contributors")
    assert emu.role(world.guild, "Contributors").color == 0x2ECC71
    member = guild.get_member(world.bob.id)
    assert member is not None
    await member.add_roles(role)
    assert emu.roles_of(world.bob) == ["Contributors"]
    await member.remove_roles(role)
    assert emu.roles_of(world.bob) == []
    with pytest.raises(discord.Forbidden):
        await guild.create_role(name="Admin", permissions=discord.Permissions(administrator=True))
    await role.delete()
    assert "Contributors" not in [r.name for r in world.guild.roles.values()]


async def test_rate_limit_then_discord_py_retries(emu: Emulator, world: World, bot: ProbeBot) -> None:
    emu.fail_next("POST", "/channels/*/messages", status=429, count=2, retry_after=0.05)
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    msg = await channel.send("eventually")
    assert msg.content == "eventually"
    statuses = [r.status for r in emu.requests_to("POST", "/channels/*/messages")]
    assert statuses == [429, 429, 200]
    assert [m.content for m in emu.messages(world.general)] == ["eventually"]


async def test_rate_limit_on_followups_is_retried(emu: Emulator, world: World, bot: ProbeBot) -> None:
    emu.fail_next("POST", "/webhooks/*", status=429, count=1, retry_after=0.05)
    r = await emu.slash(world.alice, "slow", seconds=0.0)
    assert r.content == "done" and not r.errors


async def test_server_error_is_raised(emu: Emulator, world: World, bot: ProbeBot) -> None:
    emu.fail_next("*", "/channels/*/messages", status=503)
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.DiscordServerError):
        await channel.send("x")
    await channel.send("second try")
    assert [m.content for m in emu.messages(world.general)] == ["second try"]


async def test_member_join_and_leave_reach_the_bot(emu: Emulator, world: World, bot: ProbeBot) -> None:
    carol = emu.join(world.guild, "carol", roles=["Learner"])
    await emu.until(lambda: len(bot.joined) == 1)
    assert bot.joined[0].name == "carol" and [r.name for r in bot.joined[0].roles][1:] == ["Learner"]
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    emu.leave(carol)
    await emu.until(lambda: guild.get_member(carol.id) is None)
    r = await emu.slash(world.alice, "whois", member=world.bob, where=world.general)
    assert r.content.startswith("bob")  # type: ignore[union-attr]


async def test_restart_connects_again_with_state_kept(emu: Emulator, world: World) -> None:
    first, task = await start_bot(emu, world.guild)
    assert (await emu.slash(world.alice, "ping")).content == "pong"
    await stop_bot(first, task)
    await emu.until(lambda: not emu.connected)
    emu.join(world.guild, "dave")  # while the bot is down: no event, but the next GUILD_CREATE has dave
    second, task = await start_bot(emu, world.guild, sync=False)
    try:
        assert emu.sync_count(world.guild) == 1  # commands kept; no second sync needed
        guild = second.get_guild(world.guild.id)
        assert guild is not None and "dave" in {m.name for m in guild.members}
        assert (await emu.slash(world.alice, "ping")).content == "pong"
        assert [m.content for m in emu.messages(world.general)] == ["pong", "pong"]
        assert len(emu.sessions) == 2
    finally:
        await stop_bot(second, task)


async def test_channels_overwrites_and_threads(emu: Emulator, world: World, bot: ProbeBot) -> None:
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    maintainer = discord.utils.get(guild.roles, name="Maintainer")
    assert maintainer is not None
    cohort = await guild.create_text_channel(
        "cohort-1",
        topic="week 1",
        overwrites={
            guild.default_role: discord.PermissionOverwrite(view_channel=False),
            maintainer: discord.PermissionOverwrite(view_channel=True),
            guild.me: discord.PermissionOverwrite(view_channel=True),  # or the bot hides the channel from itself
        },
    )
    emu_cohort = emu.channel(world.guild, "cohort-1")
    assert emu_cohort.topic == "week 1" and emu_cohort.id == cohort.id
    assert (
        world.guild.channel_permissions(emu_cohort, world.bob) & discord.Permissions(view_channel=True).value == 0
    )
    await emu.until(lambda: guild.get_channel(cohort.id) is not None)
    await cohort.set_permissions(guild.get_member(world.bob.id), view_channel=True)  # type: ignore[arg-type]
    assert world.guild.channel_permissions(emu_cohort, world.bob) & discord.Permissions(view_channel=True).value
    await cohort.edit(name="cohort-one")
    hidden = await guild.create_text_channel(
        "hidden", overwrites={guild.default_role: discord.PermissionOverwrite(view_channel=False)}
    )
    with pytest.raises(discord.Forbidden) as info:
        await hidden.send("x")
    assert info.value.code == 50001
    assert emu_cohort.name == "cohort-one"
    assert "cohort-one" in {c.name for c in emu.channels(world.guild)}

    thread = await cohort.create_thread(name="intro", type=discord.ChannelType.public_thread)
    await thread.add_user(guild.get_member(world.bob.id))  # type: ignore[arg-type]
    msg = await cohort.send("starter")
    from_msg = await msg.create_thread(name="replies")
    assert from_msg.id == msg.id
    await from_msg.send("in thread")
    assert {t.name for t in emu.threads(emu_cohort)} == {"intro", "replies"}
    assert world.bob.id in emu.threads(emu_cohort)[0].thread_member_ids
    assert [m.content for m in emu.messages(emu.threads(emu_cohort)[1])] == ["in thread"]

    with pytest.raises(discord.Forbidden):
        emu.role(world.guild, "Atlas").permissions &= ~discord.Permissions(manage_channels=True).value
        await guild.create_text_channel("nope")


async def test_forum_posts_with_tags(emu: Emulator, world: World, bot: ProbeBot) -> None:
    forum_ch = emu.add_channel(world.guild, "questions", type="forum", tags=["raft", "paxos"], require_tag=True)
    await emu.until(lambda: bot.get_channel(forum_ch.id) is not None)
    forum = bot.get_channel(forum_ch.id)
    assert isinstance(forum, discord.ForumChannel)
    raft = discord.utils.get(forum.available_tags, name="raft")
    assert raft is not None
    post = await forum.create_thread(name="How do terms work?", content="Asking about Raft", applied_tags=[raft])
    assert post.thread.applied_tags[0].name == "raft" and post.message.content == "Asking about Raft"
    emu_post = emu.threads(forum_ch)[0]
    assert emu_post.applied_tags == [raft.id] and emu.messages(emu_post)[0].id == emu_post.id
    with pytest.raises(discord.HTTPException) as info:
        await forum.create_thread(name="untagged", content="x")
    assert info.value.code == 40067


async def test_scheduled_events(emu: Emulator, world: World, bot: ProbeBot) -> None:
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    start = datetime.now(UTC) + timedelta(days=1)
    event = await guild.create_scheduled_event(
        name="Office hours",
        start_time=start,
        end_time=start + timedelta(hours=1),
        entity_type=discord.EntityType.external,
        location="https://meet.example/atlas",
        privacy_level=discord.PrivacyLevel.guild_only,
    )
    assert event.name == "Office hours" and event.location == "https://meet.example/atlas"
    await emu.until(lambda: guild.get_scheduled_event(event.id) is not None)
    await event.edit(name="Office hours (Raft)")
    assert [e.name for e in emu.scheduled_events(world.guild)] == ["Office hours (Raft)"]
    fetched = await guild.fetch_scheduled_events()
    assert [e.id for e in fetched] == [event.id]
    event = await event.start()
    assert emu.scheduled_events(world.guild)[0].status == 2
    event = await event.end()
    await event.delete()
    assert emu.scheduled_events(world.guild) == []
    with pytest.raises(discord.HTTPException) as info:
        await guild.create_scheduled_event(
            name="Past",
            start_time=datetime.now(UTC) - timedelta(hours=1),
            end_time=datetime.now(UTC),
            entity_type=discord.EntityType.external,
            location="x",
            privacy_level=discord.PrivacyLevel.guild_only,
        )
    assert info.value.code == 50035


async def test_mentions_respect_allowed_mentions(emu: Emulator, world: World, bot: ProbeBot) -> None:
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    await channel.send(f"hi <@{world.bob.id}> @everyone")  # the bot's default is AllowedMentions.none()
    await channel.send(f"hi <@{world.bob.id}>", allowed_mentions=discord.AllowedMentions(users=True))
    quiet, loud = emu.messages(world.general)
    assert not quiet.pings and loud.mentioned_user_ids == [world.bob.id]


async def test_unknown_route_and_exact_content_type(emu: Emulator, world: World, bot: ProbeBot) -> None:
    with pytest.raises(discord.NotFound):
        await bot.http.request(Route("GET", "/guilds/{guild_id}/audit-logs", guild_id=world.guild.id))
    assert emu.unknown_routes == [("GET", f"/guilds/{world.guild.id}/audit-logs")]
    async with aiohttp.ClientSession() as session, session.get(emu.api_base + "/users/@me") as resp:
        assert resp.headers["Content-Type"] == "application/json"
    assert any(r.path == "/users/@me" for r in emu.requests)


async def test_member_messages_reach_the_bot(emu: Emulator, world: World, bot: ProbeBot) -> None:
    seen: list[discord.Message] = []

    async def on_message(message: discord.Message) -> None:
        seen.append(message)

    bot.add_listener(on_message)
    emu.post(world.bob, world.general, "hello everyone")
    await emu.until(lambda: len(seen) == 1)
    assert seen[0].content == "hello everyone" and seen[0].author.id == world.bob.id


async def test_members_manage_roles_under_discords_hierarchy(emu: Emulator, world: World, bot: ProbeBot) -> None:
    from bot.emulator import DiscordError

    manage = discord.Permissions(manage_roles=True)
    mods = emu.add_role(world.guild, "Mods", permissions=manage)  # below the bot, above Learner and Maintainer
    emu.set_roles(world.bob, [mods])
    fake = emu.member_create_role(world.bob, "Maintainer")
    assert fake.position == 1 and fake.position < emu.role(world.guild, "Learner").position  # at the bottom
    emu.member_add_role(world.bob, world.bob, fake)  # below his highest role: allowed
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    await emu.until(lambda: fake.id in [r.id for r in guild.get_member(world.bob.id).roles])  # type: ignore[union-attr]
    order = [r.name for r in sorted(world.guild.roles.values(), key=lambda r: r.position)]
    await emu.until(lambda: [r.name for r in guild.roles] == order)  # the bot's cache has the same order
    refusals = [
        lambda: emu.member_add_role(world.bob, world.bob, emu.bot_role(world.guild)),  # above his highest role
        lambda: emu.member_add_role(world.bob, world.bob, mods),  # his highest role itself
        lambda: emu.member_edit_role(world.bob, emu.bot_role(world.guild), name="mine"),
        lambda: emu.member_create_role(world.bob, "Boss", permissions=discord.Permissions(administrator=True)),
        lambda: emu.member_create_role(world.alice, "Nope"),  # Maintainer here has no Manage Roles
        lambda: emu.member_delete_role(world.bob, mods),
    ]
    for attempt in refusals:
        with pytest.raises(DiscordError) as info:
            attempt()
        assert (info.value.status, info.value.code) == (403, 50013)
    assert emu.member_edit_role(world.bob, fake, name="Maint").name == "Maint"
    emu.member_delete_role(world.bob, fake)
    assert fake.id not in world.bob.role_ids
    owner = emu.add_member(world.guild, "owner")
    world.guild.owner_id = owner.id
    emu.member_add_role(owner, owner, emu.role(world.guild, "Mods"))  # the owner is above the hierarchy
