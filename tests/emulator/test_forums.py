"""Forum channels as Discord has them: posts (a thread and a starter message with the same id), available tags (at
most 20) and applied tags (at most 5, moderated tags, a required tag), members' posts, edits and deletions, and the
Message Content intent; driven through the real discord.py client.

Each test names the rule it checks; the rules and their sources are in bot/emulator/forums.py.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from discord.http import Route

from bot.discord_seam import point_discord_at
from bot.emulator import Channel, DiscordError, Emulator, Member

from .conftest import World, start_bot, stop_bot
from .testbot import ProbeBot

TAGS = ["raft", "paxos", "gossip", "crdt", "clocks", "storage"]


@pytest.fixture
def forum(emu: Emulator, world: World) -> Channel:
    return emu.add_channel(world.guild, "questions", type="forum", tags=TAGS)


@pytest.fixture
def mod(emu: Emulator, world: World) -> Member:
    """A moderator: Manage Messages and Manage Threads."""
    emu.add_role(
        world.guild, "Moderator", permissions=discord.Permissions(manage_messages=True, manage_threads=True)
    )
    return emu.add_member(world.guild, "carol", roles=["Moderator"])


async def bot_forum(emu: Emulator, bot: ProbeBot, forum: Channel) -> discord.ForumChannel:
    await emu.until(lambda: bot.get_channel(forum.id) is not None)
    found = bot.get_channel(forum.id)
    assert isinstance(found, discord.ForumChannel)
    return found


async def call(bot: ProbeBot, method: str, path: str, json: Any = None) -> Any:
    return await bot.http.request(Route(method, path), json=json)


def tag(forum: discord.ForumChannel, name: str) -> discord.ForumTag:
    found = discord.utils.get(forum.available_tags, name=name)
    assert found is not None
    return found


def refused(info: pytest.ExceptionInfo[Any], status: int, code: int) -> None:
    assert (info.value.status, info.value.code) == (status, code)


# ---------------------------------------------------------------------------------------------- the bot's posts
async def test_bot_post_is_a_thread_whose_starter_message_has_its_id(
    emu: Emulator, world: World, bot: ProbeBot, forum: Channel
) -> None:
    """ "a message is created that has the same ID as the thread"; "Fires a Thread Create and Message Create"."""
    channel = await bot_forum(emu, bot, forum)
    post = await channel.create_thread(
        name="How do terms work?", content="Asking about Raft", applied_tags=[tag(channel, "raft")]
    )
    assert post.thread.id == post.message.id
    assert [t.name for t in post.thread.applied_tags] == ["raft"]
    assert post.thread.type is discord.ChannelType.public_thread and post.thread.owner_id == bot.user.id
    thread = emu.threads(forum)[0]
    assert emu.applied_tags(thread) == ["raft"] and emu.messages(thread)[0].id == thread.id
    await emu.until(lambda: bool(bot.received("MESSAGE_CREATE")))
    events = [(t, d) for t, d in bot.gateway if t in ("THREAD_CREATE", "MESSAGE_CREATE")]
    assert [t for t, _ in events] == ["THREAD_CREATE", "MESSAGE_CREATE"]
    created = events[0][1]
    assert created["newly_created"] is True and created["applied_tags"] == [str(tag(channel, "raft").id)]
    assert events[1][1]["id"] == str(thread.id) and events[1][1]["content"] == "Asking about Raft"
    # "The last_message_id field is the ID of the most recently created thread in that channel".
    assert forum.payload()["last_message_id"] == str(thread.id)
    # A post with a file (multipart: the thread's JSON in payload_json, the file beside it).
    with_file = await channel.create_thread(
        name="Logs attached", content="see the log", file=discord.File(io.BytesIO(b"trace"), "log.txt")
    )
    assert [a.filename for a in with_file.message.attachments] == ["log.txt"]
    assert forum.payload()["last_message_id"] == str(with_file.thread.id)
    # "Messages cannot be sent directly in forum channels": 50008.
    with pytest.raises(discord.HTTPException) as info:
        await call(bot, "POST", f"/channels/{forum.id}/messages", {"content": "hello"})
    refused(info, 400, 50008)


async def test_bot_post_rules_refuse_and_create_nothing(
    emu: Emulator, world: World, bot: ProbeBot, forum: Channel
) -> None:
    channel = await bot_forum(emu, bot, forum)
    tag_ids = [str(t["id"]) for t in forum.available_tags]
    base = {"name": "A question", "message": {"content": "body"}}
    cases: list[tuple[dict[str, Any], int, int]] = [
        ({**base, "applied_tags": tag_ids}, 400, 50035),  # six tags: "limited to 5"
        ({**base, "applied_tags": ["123"]}, 400, 50035),  # not one of the forum's tags
        ({**base, "applied_tags": ["raft"]}, 400, 50035),  # "array of snowflakes"
        ({**base, "name": ""}, 400, 50035),  # "1-100 character channel name"
        ({**base, "name": "x" * 101}, 400, 50035),
        ({"name": "empty", "message": {}}, 400, 50006),  # "at least one of content, embeds, ..."
        ({**base, "message": {"content": "x" * 2001}}, 400, 50035),
    ]
    for body, status, code in cases:
        with pytest.raises(discord.HTTPException) as info:
            await call(bot, "POST", f"/channels/{forum.id}/threads", body)
        refused(info, status, code)
    with pytest.raises(discord.HTTPException) as info:
        await call(bot, "POST", f"/channels/{forum.id}/threads", {**base, "applied_tags": tag_ids})
    assert info.value.text and "Must be 5 or fewer in length." in str(info.value)
    # "The current user must have the SEND_MESSAGES permission (CREATE_PUBLIC_THREADS is ignored)".
    readonly = emu.add_channel(
        world.guild,
        "announcements",
        type="forum",
        overwrites={emu.bot_role(world.guild): (0, discord.Permissions(send_messages=True))},
    )
    with pytest.raises(discord.Forbidden) as forbidden:
        await (await bot_forum(emu, bot, readonly)).create_thread(name="q", content="body")
    refused(forbidden, 403, 50013)
    assert channel.threads == [] and emu.threads(readonly) == []
    assert emu.threads(forum) == []


async def test_required_tag(emu: Emulator, world: World, bot: ProbeBot) -> None:
    """REQUIRE_TAG: 40067 without a tag; 40066 when every tag is moderated and the poster lacks Manage Threads."""
    forum = emu.add_channel(world.guild, "help", type="forum", tags=["python"], require_tag=True)
    channel = await bot_forum(emu, bot, forum)
    with pytest.raises(discord.HTTPException) as info:
        await channel.create_thread(name="untagged", content="x")
    refused(info, 400, 40067)
    with pytest.raises(DiscordError) as member_info:
        emu.member_create_post(world.bob, forum, "untagged", "x")
    refused(member_info, 400, 40067)
    channel = await channel.edit(available_tags=[discord.ForumTag(name="staff", moderated=True)])
    with pytest.raises(DiscordError) as member_info:
        emu.member_create_post(world.bob, forum, "untagged", "x")
    refused(member_info, 400, 40066)
    # A moderated tag "can only be added to or removed from threads by a member with the MANAGE_THREADS" bit.
    with pytest.raises(DiscordError) as member_info:
        emu.member_create_post(world.bob, forum, "tagged", "x", tags=["staff"])
    refused(member_info, 403, 50013)
    post = await channel.create_thread(name="staff note", content="x", applied_tags=[tag(channel, "staff")])
    assert post.thread.applied_tags[0].name == "staff"
    assert [t.name for t in emu.threads(forum)] == ["staff note"]


# ---------------------------------------------------------------------------------------------- members' posts
async def test_member_post_reaches_the_bot(emu: Emulator, world: World, bot: ProbeBot, forum: Channel) -> None:
    thread = emu.member_create_post(
        world.bob, forum, "Why do logs diverge?", "Details here", tags=["raft", "clocks"]
    )
    starter = emu.messages(thread)[0]
    assert starter.id == thread.id and starter.author.id == world.bob.id and thread.owner_id == world.bob.id
    assert emu.applied_tags(thread) == ["raft", "clocks"]
    await emu.until(lambda: bot.get_channel(thread.id) is not None and bool(bot.received("MESSAGE_CREATE")))
    seen = bot.get_channel(thread.id)
    assert isinstance(seen, discord.Thread) and seen.owner_id == world.bob.id
    assert sorted(t.name for t in seen.applied_tags) == ["clocks", "raft"]
    message = bot.received("MESSAGE_CREATE")[-1]
    assert message["id"] == str(thread.id) and message["content"] == "Details here"
    assert message["member"]["roles"] == [] and message["author"]["id"] == str(world.bob.id)
    assert thread.message_count == 0  # "not including the initial message"
    reply = emu.post(world.alice, thread, "Check the term numbers")
    assert thread.message_count == 1 and thread.last_message_id == str(reply.id)
    # "Messages cannot be sent directly in forum channels".
    with pytest.raises(DiscordError) as info:
        emu.post(world.bob, forum, "hello")
    refused(info, 400, 50008)


async def test_post_tags_edited_by_owner_or_manage_threads(
    emu: Emulator, world: World, bot: ProbeBot, forum: Channel, mod: Member
) -> None:
    thread = emu.member_create_post(world.bob, forum, "Gossip fan-out", "?", tags=["gossip"])
    emu.member_edit_thread(world.bob, thread, applied_tags=["gossip", "crdt"])  # the owner
    assert emu.applied_tags(thread) == ["gossip", "crdt"]
    with pytest.raises(DiscordError) as info:  # another member without Manage Threads
        emu.member_edit_thread(world.alice, thread, applied_tags=["raft"])
    refused(info, 403, 50013)
    with pytest.raises(DiscordError) as info:  # "limited to 5"
        emu.member_edit_thread(world.bob, thread, applied_tags=TAGS)
    refused(info, 400, 50035)
    emu.member_edit_thread(mod, thread, applied_tags=["storage"])
    assert emu.applied_tags(thread) == ["storage"]
    # The bot (Manage Threads) through discord.py's Thread.edit; THREAD_UPDATE carries the tags.
    await emu.until(lambda: bot.get_channel(thread.id) is not None)
    seen = bot.get_channel(thread.id)
    assert isinstance(seen, discord.Thread)
    channel = await bot_forum(emu, bot, forum)
    edited = await seen.edit(applied_tags=[tag(channel, "raft"), tag(channel, "paxos")])
    assert sorted(t.name for t in edited.applied_tags) == ["paxos", "raft"]
    assert emu.applied_tags(thread) == ["raft", "paxos"]
    wanted = [str(tag(channel, "raft").id), str(tag(channel, "paxos").id)]
    await emu.until(lambda: any(d["applied_tags"] == wanted for d in bot.received("THREAD_UPDATE")))
    # A locked post: "users without MANAGE_THREADS" cannot update "its title or tags".
    emu.member_edit_thread(mod, thread, locked=True)
    with pytest.raises(DiscordError) as info:
        emu.member_edit_thread(world.bob, thread, applied_tags=["raft"])
    refused(info, 403, 50013)
    # Archived: "Requires the thread to have archived set to false or be set to false in the request" (50083).
    await seen.edit(archived=True)
    with pytest.raises(discord.HTTPException) as http_info:
        await call(bot, "PATCH", f"/channels/{thread.id}", {"applied_tags": []})
    refused(http_info, 400, 50083)
    await seen.edit(archived=False, applied_tags=[])
    assert emu.applied_tags(thread) == [] and not thread.archived


async def test_forum_available_tags(emu: Emulator, world: World, bot: ProbeBot, forum: Channel) -> None:
    """The bot adds a missing "Solved" tag; "available_tags ... limited to 20"; unique names; names of 0-20."""
    channel = await bot_forum(emu, bot, forum)
    before = {t["name"]: t["id"] for t in forum.available_tags}
    solved = await channel.create_tag(name="Solved")
    after = {t["name"]: t["id"] for t in forum.available_tags}
    assert after == {**before, "Solved": str(solved.id)}  # existing tags keep their ids
    await emu.until(lambda: any(t.name == "Solved" for t in channel.available_tags))
    assert bot.received("CHANNEL_UPDATE")
    thread = emu.member_create_post(world.bob, forum, "Solved one", "?", tags=["raft"])
    emu.member_edit_thread(world.bob, thread, applied_tags=["raft", "Solved"])
    assert emu.applied_tags(thread) == ["raft", "Solved"]

    many = [discord.ForumTag(name=f"t{i}") for i in range(21)]
    with pytest.raises(discord.HTTPException) as info:
        await channel.edit(available_tags=many)
    refused(info, 400, 50035)
    assert "Must be 20 or fewer in length." in str(info.value)
    with pytest.raises(discord.HTTPException) as info:
        await channel.edit(available_tags=[discord.ForumTag(name="dup"), discord.ForumTag(name="dup")])
    refused(info, 400, 40061)
    with pytest.raises(discord.HTTPException) as info:
        await channel.edit(available_tags=[discord.ForumTag(name="x" * 21)])
    refused(info, 400, 50035)
    assert {t["name"]: t["id"] for t in forum.available_tags} == after  # nothing changed
    await channel.edit(available_tags=[discord.ForumTag(name=f"t{i}") for i in range(20)])
    assert len(forum.available_tags) == 20

    bot_role = emu.bot_role(world.guild)
    emu.set_role_permissions(
        world.guild, bot_role, bot_role.permissions & ~discord.Permissions(manage_channels=True).value
    )
    with pytest.raises(discord.Forbidden) as forbidden:
        await channel.create_tag(name="Nope")
    refused(forbidden, 403, 50013)


# ------------------------------------------------------------------------------------------ edits and deletions
async def test_member_edits_and_deletes(
    emu: Emulator, world: World, bot: ProbeBot, forum: Channel, mod: Member
) -> None:
    thread = emu.member_create_post(world.bob, forum, "CRDT merge", "first", tags=["crdt"])
    answer = emu.post(world.alice, thread, "an answer")
    emu.edit_message(world.alice, answer, f"a better answer <@{world.bob.id}>")
    assert answer.content.startswith("a better answer") and answer.edited_timestamp is not None
    await emu.until(lambda: bool(bot.received("MESSAGE_UPDATE")))
    update = bot.received("MESSAGE_UPDATE")[-1]
    assert update["id"] == str(answer.id) and update["content"].startswith("a better answer")
    assert [m["id"] for m in update["mentions"]] == [str(world.bob.id)]  # "reconstructed from scratch"
    # "can be edited by the original message author": 50005 for anybody else, moderators included.
    for other in (world.bob, mod):
        with pytest.raises(DiscordError) as info:
            emu.edit_message(other, answer, "hijacked")
        refused(info, 403, 50005)
    # Deleting another's message "requires the MANAGE_MESSAGES permission".
    with pytest.raises(DiscordError) as info:
        emu.delete_message(world.bob, answer)
    refused(info, 403, 50013)
    emu.delete_message(mod, answer)
    own = emu.post(world.bob, thread, "thanks")
    emu.delete_message(world.bob, own)
    await emu.until(lambda: len(bot.received("MESSAGE_DELETE")) == 2)
    assert [d["id"] for d in bot.received("MESSAGE_DELETE")] == [str(answer.id), str(own.id)]
    assert bot.received("MESSAGE_DELETE")[0] == {
        "id": str(answer.id),
        "channel_id": str(thread.id),
        "guild_id": str(world.guild.id),
    }
    assert [m.id for m in emu.messages(thread)] == [thread.id] and thread.message_count == 0
    with pytest.raises(DiscordError) as info:
        emu.delete_message(mod, answer)
    refused(info, 404, 10008)
    # Archived: "Users cannot edit messages"; "The only operation that should happen within an archived thread is
    # messages being deleted".
    late = emu.post(world.alice, thread, "late")
    emu.member_edit_thread(world.bob, thread, archived=True)
    with pytest.raises(DiscordError) as info:
        emu.edit_message(world.alice, late, "edited")
    refused(info, 400, 50083)
    emu.delete_message(world.alice, late)
    assert late.deleted


async def test_delete_post_needs_manage_threads(
    emu: Emulator, world: World, bot: ProbeBot, forum: Channel, mod: Member
) -> None:
    thread = emu.member_create_post(world.bob, forum, "To delete", "body", tags=["raft"])
    emu.post(world.alice, thread, "reply")
    await emu.until(lambda: bot.get_channel(thread.id) is not None)
    with pytest.raises(DiscordError) as info:  # "Deleting a thread requires the MANAGE_THREADS permission"
        emu.delete_thread(world.bob, thread)
    refused(info, 403, 50013)
    emu.delete_thread(mod, thread)
    await emu.until(lambda: bot.get_channel(thread.id) is None)
    assert bot.received("THREAD_DELETE")[-1] == {
        "id": str(thread.id),
        "guild_id": str(world.guild.id),
        "parent_id": str(forum.id),
        "type": 11,
    }
    assert emu.threads(forum) == [] and emu.messages(thread) == []


# ---------------------------------------------------------------------------------------------- Message Content
@pytest.fixture
async def no_content() -> AsyncIterator[Emulator]:
    """An application whose Message Content toggle is off in the Developer Portal."""
    async with Emulator(response_timeout=3.0, message_content=False) as emulator:
        point_discord_at(emulator.api_base, emulator.gateway_url)
        try:
            yield emulator
        finally:
            point_discord_at(None)


async def test_without_the_message_content_intent(no_content: Emulator) -> None:
    """ "Apps without the intent will receive empty values in fields that contain user-inputted content", except
    the app's own messages, DMs and messages that mention it; REST reads follow the application's flags."""
    emu = no_content
    guild = emu.add_guild("Atlas")
    bob = emu.add_member(guild, "bob")
    forum = emu.add_channel(guild, "questions", type="forum", tags=["raft"])
    general = emu.channel(guild, "general")
    # Asking for the intent while the portal switch is off: 4014, as Discord closes the connection.
    with pytest.raises(discord.PrivilegedIntentsRequired):
        await start_bot(emu, guild, bot=ProbeBot(guild.id, message_content=True))
    bot, task = await start_bot(emu, guild, bot=ProbeBot(guild.id, message_content=False))
    try:
        app = await bot.application_info()
        assert not app.flags.gateway_message_content and not app.flags.gateway_message_content_limited
        thread = emu.member_create_post(bob, forum, "Why?", "secret body", tags=["raft"])
        plain = emu.post(bob, general, "plain text", embeds=[{"title": "an embed"}])
        mention = emu.post(bob, general, f"<@{bot.user.id}> help me")
        await emu.until(lambda: len(bot.received("MESSAGE_CREATE")) == 3)
        starter, plain_seen, mention_seen = bot.received("MESSAGE_CREATE")
        assert (
            starter["id"] == str(thread.id) and starter["content"] == "" and starter["author"]["id"] == str(bob.id)
        )
        assert plain_seen["content"] == "" and plain_seen["embeds"] == []
        assert mention_seen["content"] == f"<@{bot.user.id}> help me"
        emu.edit_message(bob, plain, "edited text")
        await emu.until(lambda: bool(bot.received("MESSAGE_UPDATE")))
        assert bot.received("MESSAGE_UPDATE")[-1]["content"] == ""
        # The bot's own message keeps its content, by gateway and by REST.
        channel = bot.get_channel(general.id)
        assert isinstance(channel, discord.TextChannel)
        own = await channel.send("from the bot")
        await emu.until(lambda: len(bot.received("MESSAGE_CREATE")) == 4)
        assert bot.received("MESSAGE_CREATE")[-1]["content"] == "from the bot"
        history = {m.id: m.content for m in [m async for m in channel.history(limit=10)]}
        assert history == {own.id: "from the bot", mention.id: f"<@{bot.user.id}> help me", plain.id: ""}
        fetched = await channel.fetch_message(plain.id)
        assert fetched.content == "" and fetched.embeds == []
    finally:
        await stop_bot(bot, task)


async def test_with_the_intent_content_arrives(emu: Emulator, world: World, bot: ProbeBot, forum: Channel) -> None:
    thread = emu.member_create_post(world.bob, forum, "Why?", "visible body", tags=["raft"])
    await emu.until(lambda: bool(bot.received("MESSAGE_CREATE")))
    assert bot.received("MESSAGE_CREATE")[-1]["content"] == "visible body"
    seen = bot.get_channel(thread.id)
    assert isinstance(seen, discord.Thread)
    assert (await seen.fetch_message(thread.id)).content == "visible body"
    app = await bot.application_info()
    assert app.flags.gateway_message_content_limited
