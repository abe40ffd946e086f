"""The core through the real bot and the emulator: sync, the error handler, defer, reminders under Discord errors,
and a restart with reminders pending."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from discord import app_commands

from bot.members import ensure_member, get_member
from bot.reminders import ReminderKind
from tests.e2e.conftest import Atlas


async def test_commands_sync_once_and_not_again_when_unchanged(atlas: Atlas) -> None:
    names = {c["name"] for c in atlas.emu.commands(atlas.guild)}
    assert {"atlas", "onboard", "profile", "journey"} <= names
    assert atlas.emu.sync_count(atlas.guild) == 1
    await atlas.restart()
    assert atlas.emu.sync_count(atlas.guild) == 1  # same command set: no sync, no rate limit
    assert atlas.bot.last_sync_happened is False


async def test_changed_command_set_syncs_again(atlas: Atlas) -> None:
    await atlas.restart(atlas.config.with_overrides(bot={"cogs": ["meta"]}))
    assert atlas.emu.sync_count(atlas.guild) == 2
    assert {c["name"] for c in atlas.emu.commands(atlas.guild)} == {"atlas"}


async def test_about_is_ephemeral_with_a_timestamp(atlas: Atlas) -> None:
    r = await atlas.emu.slash(atlas.bob, "atlas about")
    assert r.ephemeral and r.embeds and "<t:" in r.embeds[0]["fields"][0]["value"]


async def test_privileged_command_refused_with_a_clear_ephemeral_message(atlas: Atlas) -> None:
    r = await atlas.emu.slash(atlas.bob, "atlas status")
    assert r.ephemeral
    assert (
        r.content == "Only members with the Maintainer role can manage community settings and run admin commands."
    )
    ok = await atlas.emu.slash(atlas.alice, "atlas status")
    assert ok.ephemeral and ok.embeds[0]["title"] == "Atlas status"


async def test_mentioning_the_bot_is_no_command_and_still_counts_as_activity(
    atlas: Atlas, caplog: pytest.LogCaptureFixture
) -> None:
    # Atlas has no prefix commands: a mention used to be parsed as one and logged CommandNotFound at ERROR,
    # so any member could flood the error log.
    long_ago = atlas.clock.now() - timedelta(days=30)
    async with atlas.bot.sessions.begin() as session:
        row = await ensure_member(session, atlas.guild.id, atlas.bob.id, display_name="bob", joined_at=long_ago)
        row.last_active_at = long_ago
    caplog.set_level(logging.DEBUG)
    bot_id = atlas.emu.bot_user.id
    for text in (f"<@{bot_id}> hello", f"<@{bot_id}>help", f"<@{bot_id}> atlas sync", "@Atlas hi"):
        atlas.emu.post(atlas.bob, atlas.channel("general"), text)
    await atlas.settle()
    noisy = [f"{r.levelname} {r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]
    assert noisy == []
    assert not [r for r in caplog.records if r.name.startswith("discord.ext.commands")]
    async with atlas.bot.sessions() as session:
        row = await get_member(session, atlas.guild.id, atlas.bob.id)
    assert row is not None and row.last_active_at == atlas.clock.now()  # the cogs' listeners still see messages


async def test_a_bug_gets_an_apology_with_an_id_and_is_logged(atlas: Atlas, caplog) -> None:
    @app_commands.command(name="explode", description="raises")
    async def explode(interaction) -> None:
        raise RuntimeError("internal detail")

    atlas.bot.tree.add_command(explode, guild=atlas.bot.home_guild)
    await atlas.bot.sync_commands()
    r = await atlas.emu.slash(atlas.bob, "explode")
    assert r.ephemeral and r.content.startswith("Sorry, something went wrong on my side.")
    assert "internal detail" not in r.content
    error_id = r.content.split("`")[1]
    logged = [rec.getMessage() for rec in caplog.records if error_id in rec.getMessage()]
    assert logged and "Traceback" in logged[0] and "RuntimeError: internal detail" in logged[0]


async def test_slow_handler_defers_and_answers_after_the_deadline(atlas: Atlas) -> None:
    atlas.emu.interaction_deadline = 0.3
    r = await atlas.emu.slash(atlas.alice, "atlas sync")  # defers, then syncs (a REST round trip), then follows up
    assert r.deferred and r.ephemeral and r.error is None
    assert r.content == "Slash commands synced."


async def test_reminder_that_hits_429_then_succeeds(atlas: Atlas) -> None:
    sent: list[int] = []
    channel = atlas.channel("general")

    async def handler(reminder) -> None:
        await atlas.bot.get_channel(reminder.target_id).send(reminder.payload["text"])
        sent.append(reminder.id)

    atlas.bot.reminders.register(ReminderKind("test.post", handler))
    atlas.emu.fail_next("POST", f"/channels/{channel.id}/messages", status=429, count=2, retry_after=0.05)
    async with atlas.bot.sessions.begin() as session:
        await atlas.bot.reminders.schedule(
            session,
            kind="test.post",
            guild_id=atlas.guild.id,
            target_id=channel.id,
            due_at=atlas.clock.now() + timedelta(minutes=5),
            payload={"text": "study group starts soon @everyone"},
        )
    await atlas.advance(minutes=5)
    assert len(sent) == 1
    posted = [m for m in atlas.emu.messages(channel) if m.content.startswith("study group")]
    assert len(posted) == 1 and not posted[0].mention_everyone  # no live pings from stored text
    assert len(atlas.emu.requests_to("POST", f"/channels/{channel.id}/messages")) == 3  # two 429s, one success


async def test_restart_with_pending_reminders_loses_none_and_doubles_none(atlas: Atlas) -> None:
    channel = atlas.channel("general")

    def register(bot) -> None:
        async def handler(reminder) -> None:
            await bot.get_channel(reminder.target_id).send(f"reminder {reminder.payload['n']}")

        bot.reminders.register(ReminderKind("test.post", handler))

    register(atlas.bot)
    async with atlas.bot.sessions.begin() as session:
        for n, minutes in enumerate([10, 20, 30]):
            await atlas.bot.reminders.schedule(
                session,
                kind="test.post",
                guild_id=atlas.guild.id,
                target_id=channel.id,
                due_at=atlas.clock.now() + timedelta(minutes=minutes),
                payload={"n": n},
            )
    await atlas.advance(minutes=10)
    await atlas.stop()
    atlas.clock.advance(minutes=25)  # the bot is down while two more fall due
    await atlas.start()
    register(atlas.bot)
    await atlas.advance(minutes=1)
    await atlas.advance(minutes=30)
    texts = [m.content for m in atlas.emu.messages(channel) if m.content.startswith("reminder")]
    assert texts == ["reminder 0", "reminder 1", "reminder 2"]


async def test_production_start_sends_what_fell_due_while_down(atlas: Atlas) -> None:
    """With the live scheduler (as `atlas-bot run` has it), reminders missed during downtime go out after
    the gateway is ready, without anyone calling run_due."""
    channel = atlas.channel("general")

    def register(bot) -> None:
        async def handler(reminder) -> None:
            await bot.get_channel(reminder.target_id).send(f"late {reminder.payload['n']}")

        bot.reminders.register(ReminderKind("test.late", handler))

    register(atlas.bot)
    async with atlas.bot.sessions.begin() as session:
        await atlas.bot.reminders.schedule(
            session,
            kind="test.late",
            guild_id=atlas.guild.id,
            target_id=channel.id,
            due_at=atlas.clock.now() + timedelta(minutes=5),
            payload={"n": 1},
        )
    await atlas.stop()
    atlas.clock.advance(minutes=20)  # within the default grace of 60 minutes
    await atlas.start(live_scheduler=True)
    register(atlas.bot)  # a feature registering its kind after start: the poll or a wake still finds it
    await atlas.bot.scheduler.wake_for_pending()
    await atlas.emu.until(lambda: any(m.content == "late 1" for m in atlas.emu.messages(channel)), timeout=10)
    await atlas.settle()
    assert [m.content for m in atlas.emu.messages(channel)].count("late 1") == 1


async def test_ready_as_soon_as_the_guild_arrives_not_after_the_ready_timeout(atlas: Atlas) -> None:
    # discord.py fires on_ready only after guild_ready_timeout seconds without a GUILD_CREATE (2 s by default).
    # With it at 60 s, start() (which gives up after 15 s) only succeeds if READY's guild list ended the wait.
    await atlas.stop()
    bot = await atlas.start(guild_ready_timeout=60.0)
    guild = bot.home_guild
    assert guild is not None and not guild.unavailable
    assert guild.chunked  # members were still requested and received before on_ready
    assert guild.get_member(atlas.bob.id) is not None
