"""Reactions as Discord has them: members' reactions and their gateway events (only with the reactions intent), the
bot's REST (own reactions, others' with Manage Messages, the users list with pagination, clearing), and the rules
(Read Message History, Add Reactions for a new emoji, 20 different emoji, unknown emoji, archived threads).

Each test names the rule it checks; the rules and their sources are in bot/emulator/reactions.py.
"""

from __future__ import annotations

from typing import Any

import discord
import pytest
from discord.http import Route

from bot.emulator import DiscordError, Emulator, Message

from .conftest import World, start_bot, stop_bot
from .testbot import ProbeBot

UP, DOWN = "👍", "👎"
# Twenty-one different Unicode emoji.
MANY = [
    "😀",
    "😁",
    "😂",
    "🤣",
    "😃",
    "😄",
    "😅",
    "😆",
    "😉",
    "😊",
    "😋",
    "😎",
    "😍",
    "😘",
    "🥰",
    "😗",
    "😙",
    "🥲",
    "😚",
    "🙂",
    "🤗",
]


def refused(info: pytest.ExceptionInfo[Any], status: int, code: int) -> None:
    assert (info.value.status, info.value.code) == (status, code)


async def call(bot: ProbeBot, method: str, path: str, **params: Any) -> Any:
    return await bot.http.request(Route(method, path), params=params or None)


def deny_everyone(emu: Emulator, world: World, **perms: bool) -> None:
    """The owner takes permissions from @everyone in #general."""
    emu.set_role_permissions(
        world.guild, world.guild.everyone, world.guild.everyone.permissions & ~discord.Permissions(**perms).value
    )


async def bot_message(bot: ProbeBot, emu: Emulator, msg: Message) -> discord.Message:
    channel = bot.get_channel(msg.channel.id)
    assert isinstance(channel, discord.TextChannel | discord.Thread)
    return await channel.fetch_message(msg.id)


async def test_member_reactions_reach_the_bot_as_discord_sends_them(
    emu: Emulator, world: World, bot: ProbeBot
) -> None:
    question = emu.post(world.alice, world.general, "How do I rebase?")
    raw: list[discord.RawReactionActionEvent] = []

    async def on_raw_reaction_add(event: discord.RawReactionActionEvent) -> None:
        raw.append(event)

    bot.add_listener(on_raw_reaction_add)
    emu.react(world.bob, question, UP)
    emu.react(world.bob, question, UP)  # again: nothing changes, nothing is sent
    await emu.until(lambda: bool(bot.received("MESSAGE_REACTION_ADD")) and bool(raw))
    assert bot.received("MESSAGE_REACTION_ADD") == [
        {
            "user_id": str(world.bob.id),
            "channel_id": str(world.general.id),
            "message_id": str(question.id),
            "emoji": {"id": None, "name": UP},
            "burst": False,
            "type": 0,
            "guild_id": str(world.guild.id),
            "member": world.bob.payload(),
            "message_author_id": str(world.alice.id),
            "burst_colors": [],
        }
    ]
    assert raw[0].member is not None and raw[0].member.id == world.bob.id and str(raw[0].emoji) == UP
    emu.react(world.alice, question, UP)
    emu.react(world.alice, question, DOWN)
    assert emu.reaction_counts(question) == {UP: 2, DOWN: 1}
    assert emu.reactors(question, UP) == sorted([world.alice.id, world.bob.id])
    emu.unreact(world.bob, question, UP)
    emu.unreact(world.bob, question, UP)  # not there any more: nothing
    await emu.until(lambda: len(bot.received("MESSAGE_REACTION_REMOVE")) == 1)
    assert bot.received("MESSAGE_REACTION_REMOVE") == [
        {
            "user_id": str(world.bob.id),
            "channel_id": str(world.general.id),
            "message_id": str(question.id),
            "emoji": {"id": None, "name": UP},
            "burst": False,
            "type": 0,
            "guild_id": str(world.guild.id),
        }
    ]
    # The message's reaction objects: count, count_details, me.
    seen = await bot_message(bot, emu, question)
    assert {str(r.emoji): (r.count, r.me) for r in seen.reactions} == {UP: (1, False), DOWN: (1, False)}
    await seen.add_reaction(UP)
    seen = await bot_message(bot, emu, question)
    assert {str(r.emoji): (r.count, r.me) for r in seen.reactions} == {UP: (2, True), DOWN: (1, False)}
    assert seen.reactions[0].normal_count == 2 and seen.reactions[0].burst_count == 0
    # The bot's own reaction fires MESSAGE_REACTION_ADD too.
    await emu.until(lambda: any(d["user_id"] == str(bot.user.id) for d in bot.received("MESSAGE_REACTION_ADD")))


async def test_no_reaction_events_without_the_intent(emu: Emulator, world: World) -> None:
    """MESSAGE_REACTION_* belong to GUILD_MESSAGE_REACTIONS (1 << 10) (Gateway, "List of Intents")."""
    bot, task = await start_bot(emu, world.guild, bot=ProbeBot(world.guild.id, reactions=False))
    try:
        question = emu.post(world.alice, world.general, "Anyone?")
        emu.react(world.bob, question, UP)
        emu.unreact(world.bob, question, UP)
        marker = emu.post(world.alice, world.general, "after")
        await emu.until(lambda: any(d["id"] == str(marker.id) for d in bot.received("MESSAGE_CREATE")))
        assert not [t for t, _ in bot.gateway if t.startswith("MESSAGE_REACTION")]
    finally:
        await stop_bot(bot, task)


async def test_permissions_and_limits(emu: Emulator, world: World, bot: ProbeBot) -> None:
    question = emu.post(world.alice, world.general, "Pick one")
    emu.react(world.alice, question, UP)
    deny_everyone(emu, world, add_reactions=True)
    # "if nobody else has reacted to the message using this emoji, this endpoint requires the ADD_REACTIONS
    # permission"; "This permission does not apply to reacting with an existing reaction".
    with pytest.raises(DiscordError) as info:
        emu.react(world.bob, question, DOWN)
    refused(info, 403, 50013)
    emu.react(world.bob, question, UP)
    assert emu.reaction_counts(question) == {UP: 2}
    # "requires the READ_MESSAGE_HISTORY permission".
    deny_everyone(emu, world, read_message_history=True)
    emu.unreact(world.bob, question, UP)
    with pytest.raises(DiscordError) as info:
        emu.react(world.bob, question, UP)
    refused(info, 403, 50013)
    emu.set_role_permissions(
        world.guild, world.guild.everyone, discord.Permissions.general() | discord.Permissions.text()
    )
    # 30010 "Maximum number of reactions reached (20)": twenty different emoji, then no new one; old ones still go.
    board = emu.post(world.alice, world.general, "emoji board")
    for emoji in MANY[:20]:
        emu.react(world.alice, board, emoji)
    with pytest.raises(DiscordError) as info:
        emu.react(world.bob, board, MANY[20])
    refused(info, 400, 30010)
    emu.react(world.bob, board, MANY[0])
    seen = await bot_message(bot, emu, board)
    with pytest.raises(discord.HTTPException) as http_info:
        await seen.add_reaction(MANY[20])
    refused(http_info, 400, 30010)
    # "The emoji must be URL Encoded or the request will fail with 10014: Unknown Emoji"; no custom emoji here.
    for bad in ("notanemoji", "thinking:123456789012345678", ":"):
        with pytest.raises(discord.HTTPException) as http_info:
            await seen.add_reaction(bad)
        refused(http_info, 400, 10014)
    with pytest.raises(DiscordError) as info:
        emu.react(world.bob, board, "x")
    refused(info, 400, 10014)
    for ok in ("❤️", "1️⃣", "🇫🇷", "👍🏽", "👨‍👩‍👧"):
        emu.react(world.bob, question, ok)


async def test_archived_thread_refuses_reactions(emu: Emulator, world: World, bot: ProbeBot) -> None:
    """ "Users cannot edit messages, add reactions ... in archived threads" (Threads topic): 50083."""
    forum = emu.add_channel(world.guild, "questions", type="forum", tags=["git"])
    thread = emu.member_create_post(world.bob, forum, "Rebase or merge?", "body", tags=["git"])
    emu.react(world.alice, emu.messages(thread)[0], UP)
    emu.member_edit_thread(world.bob, thread, archived=True)
    with pytest.raises(DiscordError) as info:
        emu.react(world.alice, emu.messages(thread)[0], DOWN)
    refused(info, 400, 50083)
    with pytest.raises(DiscordError) as info:
        emu.unreact(world.alice, emu.messages(thread)[0], UP)
    refused(info, 400, 50083)
    assert emu.reaction_counts(emu.messages(thread)[0]) == {UP: 1}


async def test_bot_rest_reactions(emu: Emulator, world: World, bot: ProbeBot) -> None:
    question = emu.post(world.alice, world.general, "Vote")
    members = [emu.add_member(world.guild, f"voter{i}") for i in range(30)]
    for m in members:
        emu.react(m, question, UP)
    seen = await bot_message(bot, emu, question)
    reaction = seen.reactions[0]
    users = sorted([u.id async for u in reaction.users()])  # discord.py yields each page reversed
    assert users == sorted(m.id for m in members)
    # Get Reactions: "limit ... (1-100)", default 25; "after": users after this user id.
    path = f"/channels/{world.general.id}/messages/{question.id}/reactions/{UP}"
    first = await call(bot, "GET", path)
    assert [int(u["id"]) for u in first] == users[:25]
    page = await call(bot, "GET", path, limit=10, after=users[9])
    assert [int(u["id"]) for u in page] == users[10:20]
    assert await call(bot, "GET", path, type=1) == []  # no super reactions
    with pytest.raises(discord.HTTPException) as info:
        await call(bot, "GET", path, limit=101)
    refused(info, 400, 50035)
    # Delete User Reaction "requires the MANAGE_MESSAGES permission".
    await seen.remove_reaction(UP, discord.Object(members[0].id))
    assert members[0].id not in emu.reactors(question, UP)
    await emu.until(
        lambda: any(d["user_id"] == str(members[0].id) for d in bot.received("MESSAGE_REACTION_REMOVE"))
    )
    await seen.add_reaction(DOWN)
    await seen.remove_reaction(DOWN, bot.user)  # Delete Own Reaction
    assert DOWN not in emu.reaction_counts(question)
    await seen.add_reaction(DOWN)
    await seen.clear_reaction(DOWN)
    await emu.until(lambda: bool(bot.received("MESSAGE_REACTION_REMOVE_EMOJI")))
    assert bot.received("MESSAGE_REACTION_REMOVE_EMOJI")[0]["emoji"] == {"id": None, "name": DOWN}
    await seen.clear_reactions()
    await emu.until(lambda: bool(bot.received("MESSAGE_REACTION_REMOVE_ALL")))
    assert emu.reaction_counts(question) == {}
    emu.react(world.bob, question, UP)
    role = emu.bot_role(world.guild)
    emu.set_role_permissions(
        world.guild, role, role.permissions & ~discord.Permissions(manage_messages=True).value
    )
    for attempt in (
        seen.remove_reaction(UP, discord.Object(world.bob.id)),
        seen.clear_reaction(UP),
        seen.clear_reactions(),
    ):
        with pytest.raises(discord.Forbidden) as forbidden:
            await attempt
        refused(forbidden, 403, 50013)
    assert emu.reaction_counts(question) == {UP: 1}


async def test_no_events_from_a_private_thread_the_bot_cannot_see(
    emu: Emulator, world: World, bot: ProbeBot
) -> None:
    """ "Clients will not be informed of a thread through the gateway if they do not have permission to view that
    thread" (Threads topic): no reaction events from it either."""
    emu.set_role_permissions(world.guild, "Maintainer", discord.Permissions(create_private_threads=True))
    role = emu.bot_role(world.guild)
    emu.set_role_permissions(world.guild, role, role.permissions & ~discord.Permissions(manage_threads=True).value)
    secret = emu.member_create_thread(world.alice, world.general, "secret")
    emu.member_add_to_thread(world.alice, secret, world.bob)
    note = emu.post(world.alice, secret, "hidden")
    emu.react(world.bob, note, UP)
    marker = emu.post(world.alice, world.general, "after")
    emu.react(world.bob, marker, UP)
    await emu.until(lambda: bool(bot.received("MESSAGE_REACTION_ADD")))
    assert [d["message_id"] for d in bot.received("MESSAGE_REACTION_ADD")] == [str(marker.id)]
