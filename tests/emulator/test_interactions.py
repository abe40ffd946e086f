"""Slash commands, autocomplete, components and modals through the real discord.py client."""

from __future__ import annotations

import discord
import pytest

from bot.emulator import Emulator, InteractionRefused
from bot.emulator.interactions import NO_RESPONSE

from .conftest import World
from .testbot import ProbeBot


async def test_ready_guild_state_reaches_the_bot(emu: Emulator, world: World, bot: ProbeBot) -> None:
    guild = bot.get_guild(world.guild.id)
    assert guild is not None and emu.connected
    assert {m.name for m in guild.members} == {"Atlas", "alice", "bob"}
    maintainer = discord.utils.get(guild.roles, name="Maintainer")
    assert maintainer is not None and maintainer.colour.value == 0x3498DB
    assert guild.me.top_role.name == "Atlas" and not guild.me.guild_permissions.administrator
    assert guild.get_channel(world.general.id) is not None


async def test_sync_stores_the_schema_and_counts_calls(emu: Emulator, world: World, bot: ProbeBot) -> None:
    names = {c["name"] for c in emu.commands(world.guild)}
    assert {"ping", "pick", "profile", "city"} <= names
    assert emu.sync_count(world.guild) == 1 and emu.sync_count() == 0
    pick = next(c for c in emu.commands(world.guild) if c["name"] == "pick")
    count = next(o for o in pick["options"] if o["name"] == "count")
    assert (count["min_value"], count["max_value"]) == (1, 3)
    await bot.tree.sync(guild=bot.guild_obj)
    assert emu.sync_count(world.guild) == 2
    fetched = await bot.tree.fetch_commands(guild=bot.guild_obj)
    assert {c.name for c in fetched} == names


@pytest.mark.parametrize(
    "commands",
    [
        [{"name": "Bad Name", "description": "x", "type": 1}],
        [{"name": "x" * 33, "description": "x", "type": 1}],
        [{"name": "ok", "description": "", "type": 1}],
        [{"name": "ok", "description": "d" * 101, "type": 1}],
        [
            {
                "name": "ok",
                "description": "x",
                "options": [
                    {"name": "a", "description": "a", "type": 3},
                    {"name": "b", "description": "b", "type": 3, "required": True},
                ],
            }
        ],
        [
            {
                "name": "ok",
                "description": "x",
                "options": [{"name": f"o{i}", "description": "o", "type": 3} for i in range(26)],
            }
        ],
        [
            {
                "name": "ok",
                "description": "x",
                "options": [
                    {
                        "name": "c",
                        "description": "c",
                        "type": 3,
                        "choices": [{"name": str(i), "value": str(i)} for i in range(26)],
                    }
                ],
            }
        ],
        [{"name": f"c{i}", "description": "x", "type": 1} for i in range(101)],
        [{"name": "dup", "description": "x"}, {"name": "dup", "description": "y"}],
    ],
    ids=[
        "uppercase",
        "long-name",
        "no-description",
        "long-description",
        "optional-first",
        "26-options",
        "26-choices",
        "101-commands",
        "duplicate",
    ],
)
async def test_sync_rejects_invalid_schemas(
    emu: Emulator, world: World, bot: ProbeBot, commands: list[dict[str, object]]
) -> None:
    with pytest.raises(discord.HTTPException) as info:
        await bot.http.bulk_upsert_guild_commands(emu.application_id, world.guild.id, commands)
    assert info.value.status == 400 and info.value.code == 50035
    assert {c["name"] for c in emu.commands(world.guild)} >= {"ping"}  # the old schema is kept


async def test_reply_is_a_channel_message(emu: Emulator, world: World, bot: ProbeBot) -> None:
    r = await emu.slash(world.alice, "ping")
    assert (r.content, r.ephemeral, r.deferred, r.error) == ("pong", False, False, None)
    assert [m.content for m in emu.messages(world.general)] == ["pong"]
    assert r.message is not None and r.message.type == 20


async def test_ephemeral_reply_is_not_in_the_channel(emu: Emulator, world: World, bot: ProbeBot) -> None:
    r = await emu.slash(world.bob, "secret")
    assert r.content == "shh" and r.ephemeral
    assert emu.messages(world.general) == []


async def test_subcommand_and_user_options(emu: Emulator, world: World, bot: ProbeBot) -> None:
    r = await emu.slash(world.alice, "profile view", note="hi")
    assert r.content == "profile of alice: hi"
    r = await emu.slash(world.bob, "whois", member=world.alice, where=world.general)
    assert r.content == "alice [Maintainer] in #general"


@pytest.mark.parametrize("private", [False, True])
async def test_defer_then_followups(emu: Emulator, world: World, bot: ProbeBot, private: bool) -> None:
    r = await emu.slash(world.alice, "slow", seconds=0.2, private=private)
    assert r.deferred and r.content == "done" and r.ephemeral is private
    await emu.until(lambda: len(r.followups) == 2)
    assert [m.content for m in r.followups] == ["done", "and more"]
    assert r.followups[0] is r.message  # the first follow-up fills the deferred response
    visible = [m.content for m in emu.messages(world.general)]
    # Only the deferred response inherits ephemerality; a later follow-up is public unless it asks otherwise.
    assert visible == (["and more"] if private else ["done", "and more"])


async def test_late_answer_gets_unknown_interaction(emu: Emulator, world: World, bot: ProbeBot) -> None:
    emu.interaction_deadline = 0.2
    r = await emu.slash(world.alice, "late", delay=0.4)
    assert r.error == NO_RESPONSE and r.response_type is None
    await emu.until(lambda: bool(bot.errors))
    assert isinstance(bot.errors[0], discord.NotFound) and bot.errors[0].code == 10062


async def test_second_answer_is_already_acknowledged(emu: Emulator, world: World, bot: ProbeBot) -> None:
    r = await emu.slash(world.alice, "twice")
    await emu.until(lambda: bool(bot.errors))
    assert r.content == "first"
    assert bot.errors[0].status == 400 and bot.errors[0].code == 40060
    assert r.errors[0]["code"] == 40060


async def test_too_long_reply_is_invalid_form_body(emu: Emulator, world: World, bot: ProbeBot) -> None:
    emu.interaction_deadline = 0.3
    r = await emu.slash(world.alice, "say", text="x" * 2001)
    assert r.errors[0]["code"] == 50035 and "content" in r.errors[0]["errors"]["data"]
    assert isinstance(bot.errors[0], discord.HTTPException) and bot.errors[0].code == 50035


async def test_options_are_checked_against_the_synced_schema(emu: Emulator, world: World, bot: ProbeBot) -> None:
    r = await emu.slash(world.alice, "pick", color="red", count=3, label="ab")
    assert r.content == "red x3 ab"
    r = await emu.slash(world.alice, "pick", color="Green", count=1)  # a choice's name works too
    assert r.content == "green x1 None"
    refused = [
        {"color": "blue", "count": 1},
        {"color": "red", "count": 4},
        {"color": "red", "count": 0},
        {"color": "red", "count": "2"},
        {"color": "red", "count": 2, "label": "x"},
        {"color": "red", "count": 2, "label": "x" * 11},
        {"count": 2},
        {"color": "red", "count": 2, "nope": 1},
    ]
    for options in refused:
        with pytest.raises(InteractionRefused):
            await emu.slash(world.alice, "pick", **options)
    with pytest.raises(InteractionRefused):
        await emu.slash(world.alice, "unsynced")
    with pytest.raises(InteractionRefused):
        await emu.slash(world.alice, "profile")  # a group is not invocable


async def test_autocomplete(emu: Emulator, world: World, bot: ProbeBot) -> None:
    choices = await emu.autocomplete(world.alice, "city", "name", "Ber")
    assert [c["value"] for c in choices] == ["Berlin", "Bern", "Bergen"]
    choices = await emu.autocomplete(world.alice, "many", "name", "x")
    assert choices == []
    assert choices.interaction.errors[0]["code"] == 50035
    assert bot.errors[0].code == 50035


async def test_button_modal_and_select(emu: Emulator, world: World, bot: ProbeBot) -> None:
    r = await emu.slash(world.alice, "panel")
    assert [b["label"] for b in r.message.buttons] == ["Open", "Bump", "Off"]  # type: ignore[union-attr]

    bumped = await emu.click(world.bob, r, "Bump")
    assert bumped.updated and bumped.message is r.message and r.content == "bumped 1"

    with pytest.raises(InteractionRefused):
        await emu.click(world.bob, r, "panel:off")

    opened = await emu.click(world.alice, r, "panel:open")
    assert opened.modal is not None and opened.modal.title == "Feedback"
    with pytest.raises(InteractionRefused):
        await emu.submit_modal(world.alice, opened, {"feedback:text": "no"})  # min_length 3
    with pytest.raises(InteractionRefused):
        await emu.submit_modal(world.bob, opened, {"feedback:text": "great"})  # not bob's modal
    submitted = await emu.submit_modal(world.alice, opened, {"feedback:text": "great"})
    assert submitted.content == "thanks: great (ok)" and submitted.ephemeral

    picked = await emu.select(world.bob, r, "panel:pick", ["b"])
    assert picked.content == "picked b"
    with pytest.raises(InteractionRefused):
        await emu.select(world.bob, r, "panel:pick", ["z"])
