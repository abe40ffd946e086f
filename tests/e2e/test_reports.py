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


async def test_a_report_of_many_short_lines_reaches_the_moderators(world: World) -> None:
    # Quoting puts "> " before every line, so a wall of blank lines (and a reason of many short lines) grows past
    # the embed description's 4,096 characters unless the quotes are cut after quoting.
    emu = world.emu
    wall = "CLEAR" + "\n" * 1990 + "lol"
    bad = emu.post(world.m("bob"), world.atlas.channel("general"), wall)
    done = await world.report("dave", bad, "\n".join(["spam"] * 200))
    assert "Received" in done.content
    [post] = await world.wait_posts(1)
    assert len(post.embeds[0]["description"]) <= 4096 and "CLEAR" in post.embeds[0]["description"]


async def test_a_post_discord_refuses_is_told_to_maintainers_once(world: World) -> None:
    emu = world.emu
    mod_log = world.atlas.channel("mod-log")
    body = {"code": 50013, "message": "Missing Permissions"}
    emu.fail_next("POST", f"/channels/{world.reports.id}/messages", status=403, count=2, body=body)
    for text in ("one", "two"):
        bad = emu.post(world.m("bob"), world.atlas.channel("general"), text)
        assert "Received" in (await world.report("dave", bad, "spam")).content
        await asyncio.sleep(0.3)
        await world.atlas.settle()
    told = [m for m in emu.messages(mod_log) if "could not be posted" in m.content]
    assert len(told) == 1 and "403" in told[0].content
    assert world.posts() == []
    # The daily job posts them once Discord takes them; each once.
    cog = world.atlas.bot.get_cog("ReportsCog")
    await cog.repost_job(world.atlas.bot.clock.now())  # type: ignore[union-attr]
    await world.wait_posts(2)
    await asyncio.sleep(0.3)
    assert len(world.posts()) == 2


async def _post_reminder(world: World) -> Any:
    from models import Reminder

    async with world.atlas.bot.sessions() as session:
        return await session.scalar(select(Reminder).where(Reminder.kind == "reports.post"))


async def test_two_attempts_at_once_post_a_report_once(world: World) -> None:
    emu = world.emu
    bad = emu.post(world.m("bob"), world.atlas.channel("general"), "spam")
    await world.report("dave", bad, "spam")
    await world.wait_posts(1)
    async with world.atlas.bot.sessions.begin() as session:  # as if the post had not happened yet
        row = await session.scalar(select(ModReport))
        assert row is not None
        row.posted_message_id = row.posted_channel_id = None
    before = len(world.posts())
    reminder = await _post_reminder(world)
    cog: Any = world.atlas.bot.get_cog("ReportsCog")
    # Two reminders of one report at once (the daily re-queue beside a retry): one sends.
    await asyncio.gather(cog._post(reminder), cog._post(reminder), return_exceptions=True)
    await world.atlas.settle()
    assert len(world.posts()) == before + 1


async def test_a_post_sent_before_a_crash_is_found_not_posted_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from cogs.reports import service

    emu = world.emu
    real = service.mark_posted
    calls = 0

    async def crash_once(*args: Any, **kwargs: Any) -> None:  # the process dies between send and record
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("crash")
        await real(*args, **kwargs)

    monkeypatch.setattr(service, "mark_posted", crash_once)
    bad = emu.post(world.m("bob"), world.atlas.channel("general"), "spam")
    await world.report("dave", bad, "spam")
    [post] = await world.wait_posts(1)
    world.atlas.clock.advance(timedelta(minutes=15))
    cog: Any = world.atlas.bot.get_cog("ReportsCog")
    await cog.repost_job(world.atlas.bot.clock.now())
    await emu.until(lambda: calls >= 2, timeout=5)
    await world.atlas.settle()
    assert [p.id for p in world.posts()] == [post.id]
    async with world.atlas.bot.sessions() as session:
        row = await session.scalar(select(ModReport))
    assert row is not None and row.posted_message_id == post.id


async def test_a_reporter_who_erases_their_data_leaves_the_report_without_them(world: World) -> None:
    from cogs.privacy import service as privacy

    emu = world.emu
    bot = world.atlas.bot
    bad = emu.post(world.m("bob"), world.atlas.channel("general"), "spam")
    await world.report("dave", bad, "my private reason")
    [post] = await world.wait_posts(1)
    async with bot.sessions.begin() as session:
        assert await privacy.erase_member(
            session, bot.member_data.handlers(), bot.guild_id, world.m("dave").id, bot.clock.now()
        )
    bot.scheduler.kick()
    dave = f"<@{world.m('dave').id}>"
    await emu.until(lambda: dave not in str(emu.messages_by_id[post.id].embeds), timeout=5)
    shown = str(emu.messages_by_id[post.id].embeds)
    assert "my private reason" not in shown and "spam" in shown and "former member" in shown
    # The moderators' record stays and the button still resolves it.
    form = await emu.click(world.m("alice"), emu.messages_by_id[post.id], "Resolve")
    done = await emu.submit_modal(world.m("alice"), form, {"report:note:text": "handled"})
    assert "resolved" in done.content
    async with bot.sessions() as session:
        row = await session.scalar(select(ModReport))
    assert row is not None and row.resolved_by == world.m("alice").id and row.reporter_id < 0


async def test_a_member_filing_many_reports_at_once_is_slowed(world: World) -> None:
    emu = world.emu
    for n in range(6):
        bad = emu.post(world.m("bob"), world.atlas.channel("general"), f"spam {n}")
        done = await world.report("dave", bad, "spam")
        assert ("Received" in done.content) == (n < 5), done.content
    assert done.ephemeral and "another in" in done.content
    assert await world.count() == 5


async def test_a_managed_role_members_hold_that_sees_the_channel_is_refused(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Any
) -> None:
    # An integration's subscriber role (or Server Booster) is managed but held by ordinary members; only bot roles
    # (the bot's own here) are left out of who else can see.
    emu = emulator
    guild = make_world(emu)
    subs = emu.add_role(guild, "Twitch Subscriber")
    subs.managed = True
    reports = emu.add_channel(
        guild,
        "reports",
        overwrites={
            guild.everyone: (0, NOT_VIEW),
            emu.role(guild, "Maintainer"): (VIEW, 0),
            subs: (VIEW, 0),
            emu.bot_role(guild): (VIEW, 0),
        },
    )
    config = config_for(emu, guild, cogs=COGS).with_overrides(channels={"reports": reports.id})
    atlas = AtlasHarness(emu, guild, e2e_clock, config, f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    atlas.members["bob"] = emu.add_member(guild, "bob")
    atlas.members["dave"] = emu.add_member(guild, "dave")
    atlas.members["erin"] = emu.add_member(guild, "erin", roles=[subs])
    await atlas.start()
    try:
        assert emu.can_view(atlas.members["erin"], reports)
        bad = emu.post(atlas.members["bob"], atlas.channel("general"), "spam")
        refused = await emu.message_command(atlas.members["dave"], "Report to moderators", bad)
        assert refused.modal is None and "cannot be filed" in (refused.content or "")
        await atlas.settle()
        assert any("Twitch Subscriber" in m.content for m in emu.messages(atlas.channel("mod-log")))
    finally:
        await atlas.stop()
