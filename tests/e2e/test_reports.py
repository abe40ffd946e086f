"""Reports to moderators end to end: the "Report to moderators" message command, the private report, resolving
it once, one report per member and message, and the bot's refusal to post where others can see."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.emulator import Channel, Emulator, InteractionRefused, Message
from bot.harness import AtlasHarness, config_for, make_world
from models import ModReport

COGS = ["meta", "onboarding", "recognition", "reports"]
VIEW = discord.Permissions(view_channel=True, send_messages=True, read_message_history=True, embed_links=True)
NOT_VIEW = discord.Permissions(view_channel=True)


class World:
    def __init__(self, atlas: AtlasHarness, reports: Channel) -> None:
        self.atlas, self.reports, self.emu = atlas, reports, atlas.emu

    def m(self, name: str) -> Any:
        return self.atlas.members[name]

    def posts(self) -> list[Message]:
        return [m for m in self.emu.messages(self.reports) if m.author.id != self.m("alice").id]

    async def wait_posts(self, count: int) -> list[Message]:
        await self.emu.until(lambda: len(self.posts()) >= count, timeout=5)
        await self.atlas.settle()
        return self.posts()

    async def report(self, who: str, message: Message, reason: str) -> Any:
        opened = await self.emu.message_command(self.m(who), "Report to moderators", message)
        assert opened.modal is not None, opened.content or opened.error
        return await self.emu.submit_modal(self.m(who), opened, {"report:reason:text": reason})

    async def count(self) -> int:
        async with self.atlas.bot.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(ModReport)) or 0)


@pytest.fixture
async def world(emulator: Emulator, e2e_clock: ManualClock, db_url: str) -> AsyncIterator[World]:
    emu = emulator
    guild = make_world(emu)
    # The moderators' channel as a server owner makes it private: hidden from @everyone, open to the
    # Ambassador and Maintainer roles (moderators) and to the bot.
    reports = emu.add_channel(
        guild,
        "reports",
        overwrites={
            guild.everyone: (0, NOT_VIEW),
            emu.role(guild, "Maintainer"): (VIEW, 0),
            emu.role(guild, "Ambassador"): (VIEW, 0),
            emu.bot_role(guild): (VIEW, 0),
        },
    )
    config = config_for(emu, guild, cogs=COGS).with_overrides(channels={"reports": reports.id})
    atlas = AtlasHarness(emu, guild, e2e_clock, config, db_url)
    for name, roles in {"alice": ["Maintainer"], "bob": [], "carol": ["Ambassador"], "dave": ["Learner"]}.items():
        atlas.members[name] = emu.add_member(guild, name, roles=roles)
    await atlas.start()
    try:
        yield World(atlas, reports)
    finally:
        await atlas.stop()


async def test_report_is_posted_privately_and_the_reporter_told(world: World) -> None:
    emu = world.emu
    general = world.atlas.channel("general")
    bad = emu.post(world.m("bob"), general, "buy cheap coins @everyone <@" + str(world.m("alice").id) + ">")
    done = await world.report("dave", bad, "Spam with a mass ping @everyone")
    assert done.ephemeral and "Received" in done.content
    [post] = await world.wait_posts(1)
    embed = post.embeds[0]
    text = str(embed)
    assert "buy cheap coins" in text and "Spam with a mass ping" in text
    assert f"<@{world.m('dave').id}>" in text and f"<@{world.m('bob').id}>" in text
    assert f"https://discord.com/channels/{world.atlas.guild.id}/{general.id}/{bad.id}" in text
    # Nothing the report carries pings anyone: the post's request said so explicitly.
    [sent] = [r for r in emu.requests_to("POST", f"/channels/{world.reports.id}/messages")]
    assert sent.json["allowed_mentions"]["parse"] == []
    assert not post.pings
    # Only moderators (and the bot) can see the report; the reporter, the author and other members cannot.
    for name in ("alice", "carol"):
        assert emu.can_view(world.m(name), world.reports)
    for name in ("bob", "dave"):
        assert not emu.can_view(world.m(name), world.reports)
    # Nothing went anywhere else: no other channel got a post and nobody a DM about it.
    for channel in emu.channels(world.atlas.guild):
        if channel.id != world.reports.id and channel.id != general.id:
            assert not [m for m in emu.messages(channel) if "cheap coins" in str(m.embeds) + m.content]
    assert not emu.dms(world.m("bob"))


async def test_a_member_reporting_twice_files_one_report(world: World) -> None:
    emu = world.emu
    bad = emu.post(world.m("bob"), world.atlas.channel("general"), "rude words")
    await world.report("dave", bad, "rude")
    await world.wait_posts(1)
    again = await emu.message_command(world.m("dave"), "Report to moderators", bad)
    assert again.modal is None and again.ephemeral and "already reported" in again.content
    assert await world.count() == 1
    # Two forms opened before either was sent (two clicks at once): still one report.
    other = emu.post(world.m("bob"), world.atlas.channel("general"), "more rude words")
    first = await emu.message_command(world.m("dave"), "Report to moderators", other)
    second = await emu.message_command(world.m("dave"), "Report to moderators", other)
    results = await asyncio.gather(
        emu.submit_modal(world.m("dave"), first, {"report:reason:text": "one"}),
        emu.submit_modal(world.m("dave"), second, {"report:reason:text": "two"}),
    )
    assert sorted("Received" in r.content for r in results) == [False, True]
    assert any("already reported" in r.content for r in results)
    assert await world.count() == 2
    posts = await world.wait_posts(2)
    await asyncio.sleep(0.2)
    assert len(world.posts()) == len(posts) == 2
    # Another member reporting the same message files their own report, and the post says it is the second.
    await world.report("carol", other, "agree")
    posts = await world.wait_posts(3)
    assert "Reports of this message" in str(posts[-1].embeds[0])


async def test_a_report_is_resolved_once_by_a_moderator(world: World) -> None:
    emu = world.emu
    bad = emu.post(world.m("bob"), world.atlas.channel("general"), "offensive")
    await world.report("dave", bad, "offensive")
    [post] = await world.wait_posts(1)
    # Members who are not moderators cannot even see the report (Discord's client shows them nothing).
    with pytest.raises(InteractionRefused, match="cannot see"):
        await emu.click(world.m("dave"), post, "Resolve")
    listed = await emu.slash(world.m("carol"), "reports open")
    assert (
        listed.ephemeral
        and "1 open report" in listed.content
        and f"/{world.reports.id}/{post.id}" in listed.content
    )
    refused = await emu.slash(world.m("dave"), "reports open")
    assert refused.ephemeral and "open report" not in refused.content
    # Two moderators open the note form at once; the first to send resolves it, the second is told by whom.
    alice_form = await emu.click(world.m("alice"), post, "Resolve")
    carol_form = await emu.click(world.m("carol"), post, "Resolve")
    assert alice_form.modal is not None and carol_form.modal is not None
    done = await emu.submit_modal(world.m("alice"), alice_form, {"report:note:text": "Removed <@&1> @here"})
    assert done.ephemeral and "Report #1 resolved" in done.content
    late = await emu.submit_modal(world.m("carol"), carol_form, {"report:note:text": "me too"})
    assert late.ephemeral and f"already resolved by <@{world.m('alice').id}>" in late.content
    assert "No open reports" in (await emu.slash(world.m("alice"), "reports open")).content
    # The post shows who resolved it and the note, and has no button left.
    post = emu.messages_by_id[post.id]
    assert "(resolved)" in post.embeds[0]["title"] and "Removed" in str(post.embeds[0])
    assert not post.components
    async with world.atlas.bot.sessions() as session:
        row = await session.scalar(select(ModReport))
    assert (
        row is not None and row.resolved_by == world.m("alice").id and row.resolution_note == "Removed <@&1> @here"
    )


async def test_bad_input_is_an_ephemeral_error_and_files_nothing(world: World) -> None:
    emu = world.emu
    mine = emu.post(world.m("dave"), world.atlas.channel("general"), "my own words")
    own = await emu.message_command(world.m("dave"), "Report to moderators", mine)
    assert own.ephemeral and own.modal is None and "your own message" in own.content
    bad = emu.post(world.m("bob"), world.atlas.channel("general"), "something")
    blank = await world.report("dave", bad, "   \u200b ")
    assert blank.ephemeral and "cannot be empty" in blank.content
    assert await world.count() == 0
    assert world.posts() == []


async def test_the_bot_refuses_a_reports_channel_others_can_see(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Any
) -> None:
    emu = emulator
    guild = make_world(emu)
    # mod-log is the fallback; in this world it is an ordinary channel every member sees.
    config = config_for(emu, guild, cogs=COGS)
    atlas = AtlasHarness(emu, guild, e2e_clock, config, f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    atlas.members["bob"] = emu.add_member(guild, "bob")
    atlas.members["dave"] = emu.add_member(guild, "dave")
    await atlas.start()
    try:
        bad = emu.post(atlas.members["bob"], atlas.channel("general"), "spam")
        refused = await emu.message_command(atlas.members["dave"], "Report to moderators", bad)
        assert refused.ephemeral and refused.modal is None and "cannot be filed" in refused.content
        await atlas.settle()
        posted = [m.content for m in emu.messages(atlas.channel("mod-log"))]
        # Maintainers are told what is wrong (in mod-log, which is where they look), and the report is not there.
        assert any("not private" in text and "@everyone" in text for text in posted)
        assert not any("spam" in text for text in posted)
        # A role that may see the channel is as bad as @everyone.
        learner = emu.role(guild, "Learner")
        hidden = emu.add_channel(
            guild,
            "mods",
            overwrites={guild.everyone: (0, NOT_VIEW), learner: (VIEW, 0), emu.bot_role(guild): (VIEW, 0)},
        )
        await atlas.restart(atlas.config.with_overrides(channels={"reports": hidden.id}))
        refused = await emu.message_command(atlas.members["dave"], "Report to moderators", bad)
        assert "cannot be filed" in refused.content
        async with atlas.bot.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(ModReport)) == 0
        # With no channel at all: the same clear refusal.
        await atlas.restart(atlas.config.with_overrides(channels={"reports": 0, "mod_log": 0}))
        refused = await emu.message_command(atlas.members["dave"], "Report to moderators", bad)
        assert refused.ephemeral and "cannot be filed" in refused.content
    finally:
        await atlas.stop()
