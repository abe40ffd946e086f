"""Server setup from the template, end to end: /setup plan and /setup apply against the emulator's guild."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.config import Config
from bot.emulator import Emulator, Guild
from bot.emulator.state import Overwrite, perm
from cogs.setup import service
from cogs.setup import template as templates
from cogs.setup.plan import CHANNEL_TYPES
from tests.e2e.conftest import Atlas

SETUP_COGS = ["meta", "onboarding", "recognition", "setup"]
WRITES = ("POST", "PATCH", "PUT", "DELETE")


def guild_writes(emu: Emulator, since: int = 0) -> list[Any]:
    """REST requests that change the guild (interaction answers and follow-ups excluded)."""
    return [
        r
        for r in emu.requests[since:]
        if r.method in WRITES and r.path.startswith(("/guilds", "/channels")) and "/messages" not in r.path
    ]


async def start_bare(
    emu: Emulator, clock: ManualClock, db: Path, guild: Guild, *, cogs: list[str] | None = None, **config: Any
) -> Atlas:
    """The bot on ``guild`` with NO channel or role id in its config."""
    base = Config().with_overrides(
        bot={"guild_id": guild.id, "auto_migrate": True, "cogs": cogs or SETUP_COGS},
        discord={"api_base": emu.api_base, "gateway": emu.gateway_url},
        **config,
    )
    harness = Atlas(emu, guild, clock, base, f"sqlite+aiosqlite:///{db}")
    await harness.start()
    return harness


@pytest.fixture
async def bare(emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path) -> AsyncIterator[Atlas]:
    # A new server (#general and nothing else) with Community enabled, as office hours' stage needs.
    guild = emulator.add_guild("Atlas Community", community=True)
    harness = await start_bare(emulator, e2e_clock, tmp_path / "atlas.db", guild)
    harness.members["alice"] = emulator.add_member(guild, "alice", roles=["Maintainer"])
    harness.members["bob"] = emulator.add_member(guild, "bob")
    try:
        yield harness
    finally:
        await harness.stop()


def assert_matches_template(atlas: Atlas) -> None:
    emu, guild = atlas.emu, atlas.guild
    tpl = templates.load(atlas.config)
    channels = {c.name: c for c in emu.channels(guild) if not c.is_thread}
    keys = {}
    for spec in tpl.channels:
        assert spec.name in channels, f"#{spec.name} missing"
        channel = channels[spec.name]
        keys[spec.key] = channel
        assert channel.type == CHANNEL_TYPES[spec.type], spec.key
        if spec.parent:
            assert channel.parent_id == keys[spec.parent].id, spec.key
        if spec.type in ("text", "forum"):
            assert (channel.topic or "") == spec.topic
        if spec.type == "forum":
            assert {t["name"] for t in channel.available_tags} == set(spec.tags)
    assert len([c for c in emu.channels(guild) if not c.is_thread]) == len(tpl.channels) + 1  # and #general
    # Roles: colours, and the template's order (lowest first), all below the bot's role.
    roles = sorted(
        (r for r in guild.roles.values() if r.name in {s.name for s in tpl.roles}), key=lambda r: r.position
    )
    assert [r.name for r in roles] == [s.name for s in tpl.roles]
    assert [r.color for r in roles] == [s.color for s in tpl.roles]
    assert max(r.position for r in roles) < emu.bot_role(guild).position
    # The private staff channels: members cannot see them, maintainers and the bot can.
    alice, bob = atlas.alice, atlas.bob
    for key in ("mod_log", "reports"):
        assert not emu.can_view(bob, keys[key]) and emu.can_view(alice, keys[key])
        assert guild.can_view(keys[key], guild.members[emu.bot_user.id])
    # Announcements are read-only for members.
    assert not guild.channel_permissions(keys["announcements"], bob) & perm("send_messages")
    assert guild.channel_permissions(keys["announcements"], alice) & perm("send_messages")


async def test_setup_on_an_empty_guild_matches_the_template_and_a_second_run_writes_nothing(bare: Atlas) -> None:
    emu = bare.emu
    since = len(emu.requests)
    plan = await emu.slash(bare.alice, "setup plan")
    assert plan.ephemeral and "create channel welcome [welcome]" in plan.embeds[0]["description"]
    assert not guild_writes(emu, since)  # planning changes nothing
    r = await emu.slash(bare.alice, "setup apply")
    assert r.ephemeral and r.followups[-1].embeds[0]["title"] == "Server setup: done", r.followups
    await bare.settle()
    assert_matches_template(bare)

    since = len(emu.requests)
    again = await emu.slash(bare.alice, "setup apply")
    assert "Nothing to do" in again.followups[-1].embeds[0]["description"]
    assert guild_writes(emu, since) == []
    plan = await emu.slash(bare.alice, "setup plan")
    assert plan.embeds[0]["description"].startswith("Nothing to do")

    # After a restart too: the ids are in the database.
    await bare.restart()
    since = len(emu.requests)
    await emu.slash(bare.alice, "setup apply")
    assert guild_writes(emu, since) == []


async def test_only_maintainers_run_setup(bare: Atlas) -> None:
    since = len(bare.emu.requests)
    r = await bare.emu.slash(bare.bob, "setup apply")
    assert r.ephemeral and "Maintainer" in r.content
    assert not guild_writes(bare.emu, since)


async def test_existing_roles_and_channels_are_adopted_not_duplicated_nor_changed(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path
) -> None:
    emu = emulator
    guild = emu.add_guild("Grown by hand", roles=[{"name": "Maintainer", "color": 0x123456}, "Learner", "Friends"])
    welcome = emu.add_channel(guild, "welcome", topic="hand-made welcome")
    info = emu.add_channel(guild, "Start here", type="category")
    forum = emu.add_channel(guild, "q-and-a", type="forum", tags=["raft"])
    voice_named_like_text = emu.add_channel(guild, "reviews", type="voice")  # same name, other type: not it
    before = {c.id: (c.name, c.topic, dict(c.overwrites), c.parent_id) for c in emu.channels(guild)}
    atlas = await start_bare(emu, e2e_clock, tmp_path / "a.db", guild)
    try:
        alice = emu.add_member(guild, "alice", roles=["Maintainer"])
        plan = (await emu.slash(alice, "setup plan")).embeds[0]["description"]
        assert "adopt channel welcome [welcome]" in plan and "adopt channel q-and-a [qa_forum]" in plan
        r = await emu.slash(alice, "setup apply")
        assert r.followups[-1].embeds[0]["title"] == "Server setup: done"
        await atlas.settle()
        names = [c.name for c in emu.channels(guild) if not c.is_thread]
        assert names.count("welcome") == 1 and names.count("q-and-a") == 1 and names.count("Start here") == 1
        assert [c.type for c in emu.channels(guild) if c.name == "reviews"] == [2, 0]  # a text #reviews was made
        for cid, was in before.items():  # adopted: left exactly as they were
            c = guild.channels[cid]
            assert (c.name, c.topic, dict(c.overwrites), c.parent_id) == was
        assert [t["name"] for t in forum.available_tags] == ["raft"]
        assert [r.name for r in guild.roles.values()].count("Maintainer") == 1
        assert emu.role(guild, "Maintainer").color == 0x123456  # adopted roles keep their colour
        # The features use what was adopted, with no id in config.toml.
        assert atlas.bot.channel_ids.id("welcome") == welcome.id
        assert atlas.bot.channel_ids.id("qa_forum") == forum.id
        assert atlas.bot.channel_ids.id("start") == info.id
        assert atlas.bot.community.ids["maintainer"] == emu.role(guild, "Maintainer").id
        assert voice_named_like_text.id not in atlas.bot.channel_ids.recorded.values()
        since = len(emu.requests)
        await emu.slash(alice, "setup apply")
        assert guild_writes(emu, since) == []
    finally:
        await atlas.stop()


async def test_manage_channels_removed_half_way_is_explained_and_a_rerun_finishes(bare: Atlas) -> None:
    emu, guild = bare.emu, bare.guild
    bot_role = emu.bot_role(guild)
    full = bot_role.permissions
    without = full & ~perm("manage_channels")
    # Someone takes Manage Channels away from the bot after its fourth new channel.
    emu.when("POST", "/guilds/*/channels", after=4, do=lambda: emu.set_role_permissions(guild, bot_role, without))
    r = await emu.slash(bare.alice, "setup apply")
    embed = r.followups[-1].embeds[0]
    assert embed["title"] == "Server setup: stopped"
    assert "Manage Channels" in embed["description"] and "run setup again" in embed["description"]
    made = [c for c in emu.channels(guild) if c.name != "general"]
    assert len(made) == 4
    # Still without it: explained again, nothing else made or made twice.
    again = await emu.slash(bare.alice, "setup apply")
    assert "Manage Channels" in again.followups[-1].embeds[0]["description"]
    assert len([c for c in emu.channels(guild) if c.name != "general"]) == 4
    # Granted again: the rerun finishes what is left, without duplicates.
    emu.set_role_permissions(guild, bot_role, full)
    await bare.settle()
    done = await emu.slash(bare.alice, "setup apply")
    assert done.followups[-1].embeds[0]["title"] == "Server setup: done"
    await bare.settle()
    assert_matches_template(bare)


async def test_features_work_with_no_channel_or_role_id_in_the_config(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path
) -> None:
    emu = emulator
    guild = emu.add_guild("Atlas Community")
    cogs = ["meta", "onboarding", "recognition", "qa", "setup"]
    atlas = await start_bare(emu, e2e_clock, tmp_path / "f.db", guild, cogs=cogs)
    try:
        assert atlas.config.channels.model_dump() == dict.fromkeys(atlas.config.channels.model_dump(), 0)
        assert all(atlas.config.roles.id_of(k) == 0 for k in ("learner", "maintainer"))
        alice = emu.add_member(guild, "alice", roles=["Maintainer"])
        bob = emu.add_member(guild, "bob")
        r = await emu.slash(alice, "setup apply")
        assert r.followups[-1].embeds[0]["title"] == "Server setup: done"
        await atlas.restart()  # a new process finds the channels in the database
        welcome, announcements = emu.channel(guild, "welcome"), emu.channel(guild, "announcements")
        # The welcome post for a new member.
        carol = emu.join(guild, "carol")
        await emu.until(lambda: any(str(carol.id) in m.content for m in emu.messages(welcome)), timeout=10)
        # An announcement: a badge award is announced in #announcements.
        award = await emu.slash(alice, "badge award", member=bob, badge="helping-hand", reason="ran a study group")
        assert award.error is None, award.error
        await atlas.advance(minutes=20)
        await emu.until(lambda: emu.messages(announcements), timeout=10)
        # The Q&A: /ask opens a post in the forum setup made, with its tags.
        forum = emu.channel(guild, "q-and-a")
        opened = await emu.slash(bob, "ask", tag="consensus")
        assert opened.modal is not None, opened.content
        posted = await emu.submit_modal(
            bob, opened, {"qa:ask:title": "Raft or Paxos?", "qa:ask:body": "Which one should I learn first?"}
        )
        assert posted.error is None, posted.error
        (thread,) = emu.threads(forum)
        assert thread.name == "Raft or Paxos?" and emu.applied_tags(thread) == ["consensus"]
        # The mod log (private to maintainers) gets the bot's notices.
        await atlas.bot.notify_maintainers_once("test", "a notice for maintainers")
        assert any("a notice for maintainers" in m.content for m in emu.messages(emu.channel(guild, "mod-log")))
    finally:
        await atlas.stop()


async def test_a_server_without_community_gets_everything_but_the_stage_and_is_told_why(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path
) -> None:
    """Discord makes stage channels only in a Community server (400/50024): setup says so and builds the rest."""
    emu = emulator
    guild = emu.add_guild("New server")
    atlas = await start_bare(emu, e2e_clock, tmp_path / "c.db", guild)
    try:
        alice = emu.add_member(guild, "alice", roles=["Maintainer"])
        plan = (await emu.slash(alice, "setup plan")).embeds[0]["description"]
        assert "skip channel Office Hours Stage [office_hours_stage]: skipped: needs a Community server" in plan
        r = await emu.slash(alice, "setup apply")
        embed = r.followups[-1].embeds[0]
        assert embed["title"] == "Server setup: done"
        assert "Server Settings > Enable Community" in embed["description"]
        names = {c.name for c in emu.channels(guild)}
        assert {"mod-log", "reports", "Office Hours", "q-and-a"} <= names and "Office Hours Stage" not in names
        # Community enabled later: the next run makes the stage.
        guild.community = True
        await atlas.restart()
        await emu.slash(alice, "setup apply")
        assert "Office Hours Stage" in {c.name for c in emu.channels(guild)}
    finally:
        await atlas.stop()


async def test_one_refused_item_is_reported_and_the_rest_is_built(bare: Atlas) -> None:
    """A 4xx for one channel (here Discord's 50024, as if the server lost Community) does not stop the others;
    the report names it, and a rerun retries it."""
    emu, guild = bare.emu, bare.guild
    emu.fail_next(
        "POST",
        "/guilds/*/channels",
        status=400,
        body={"code": 50024, "message": "Cannot execute action on this channel type"},
    )
    r = await emu.slash(bare.alice, "setup apply")
    embed = r.followups[-1].embeds[0]
    assert embed["title"] == "Server setup: partly done"
    assert "Not done: I could not create the channel Start here" in embed["description"]
    assert "Community server" in embed["description"] and "limit" not in embed["description"]
    names = {c.name for c in emu.channels(guild)}
    assert "Start here" not in names and {"mod-log", "reports", "q-and-a"} <= names
    assert "welcome" not in names  # in the category that could not be made
    done = await emu.slash(bare.alice, "setup apply")
    assert done.followups[-1].embeds[0]["title"] == "Server setup: done"
    await bare.settle()
    assert_matches_template(bare)


async def test_an_overwrite_the_bot_cannot_set_names_the_permission_and_the_rest_is_built(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path
) -> None:
    emu = emulator
    guild = emu.add_guild("Fresh", deny_bot=["pin_messages"], community=True)
    atlas = await start_bare(emu, e2e_clock, tmp_path / "o.db", guild)
    try:
        alice = emu.add_member(guild, "alice", roles=["Maintainer"])
        r = await emu.slash(alice, "setup apply")
        embed = r.followups[-1].embeds[0]
        assert embed["title"] == "Server setup: partly done"
        text = embed["description"]
        assert "forum channel q-and-a" in text and "grant my role Pin Messages" in text
        names = {c.name for c in emu.channels(guild)}
        assert "q-and-a" not in names and {"mod-log", "reports", "Office Hours Stage"} <= names
    finally:
        await atlas.stop()


async def test_adopting_everything_needs_no_permission(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path
) -> None:
    emu = emulator
    roles = ["Learner", "Contributor", "Teacher", "Mentor", "Ambassador", "Maintainer"]
    guild = emu.add_guild("Hand made", roles=roles, deny_bot=["manage_channels", "manage_roles"], community=True)
    made: dict[str, Any] = {}
    for spec in templates.load(Config()).channels:
        extra: dict[str, Any] = {"tags": list(spec.tags)} if spec.type == "forum" else {}
        channel = emu.add_channel(guild, spec.name, type=spec.type, **extra)
        if spec.parent:
            channel.parent_id = made[spec.parent].id
        if spec.key in ("staff", "mod_log", "reports"):
            channel.overwrites[guild.id] = Overwrite(guild.id, 0, 0, perm("view_channel"))
        made[spec.key] = channel
    atlas = await start_bare(emu, e2e_clock, tmp_path / "h.db", guild)
    try:
        alice = emu.add_member(guild, "alice", roles=["Maintainer"])
        since = len(emu.requests)
        r = await emu.slash(alice, "setup apply")
        assert r.followups[-1].embeds[0]["title"] == "Server setup: done", r.followups[-1].embeds[0]
        assert guild_writes(emu, since) == []
        assert atlas.bot.channel_ids.id("reports") == made["reports"].id
    finally:
        await atlas.stop()


async def test_a_lost_answer_to_a_create_is_reported_not_silently_duplicated(bare: Atlas) -> None:
    """Discord makes the channel but the answer is a 502; discord.py sends the POST again."""
    emu, guild = bare.emu, bare.guild
    emu.fail_next("POST", "/guilds/*/channels", status=502, after=True)
    r = await emu.slash(bare.alice, "setup apply")
    embed = r.followups[-1].embeds[0]
    categories = [c for c in emu.channels(guild) if c.name == "Start here"]
    assert len(categories) == 2  # Discord made it twice; setup cannot prevent that, only see it
    used = bare.bot.channel_ids.id("start")
    extra = next(c for c in categories if c.id != used)
    assert f"An extra category channel Start here ({extra.id})" in embed["description"]
    assert "Delete the extra one by hand" in embed["description"]
    names = [c.name for c in emu.channels(guild) if c.name != "Start here"]
    assert len(names) == len(set(names))
    since = len(emu.requests)
    await emu.slash(bare.alice, "setup apply")
    assert guild_writes(emu, since) == []


async def test_an_announcement_channel_is_adopted_as_the_announcements_channel(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path
) -> None:
    emu = emulator
    guild = emu.add_guild("Community", roles=["Maintainer"], community=True)
    news = emu.add_channel(guild, "announcements", type="news")
    atlas = await start_bare(emu, e2e_clock, tmp_path / "e.db", guild)
    try:
        alice = emu.add_member(guild, "alice", roles=["Maintainer"])
        plan = (await emu.slash(alice, "setup plan")).embeds[0]["description"]
        assert "adopt channel announcements [announcements]" in plan
        await emu.slash(alice, "setup apply")
        assert [c.name for c in emu.channels(guild)].count("announcements") == 1
        assert atlas.bot.channel_ids.id("announcements") == news.id
    finally:
        await atlas.stop()


async def test_a_public_reports_channel_is_not_adopted_as_the_private_one(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path
) -> None:
    emu = emulator
    guild = emu.add_guild("Community", roles=["Maintainer"], community=True)
    public = emu.add_channel(guild, "reports")  # a public "bug reports" channel everyone reads
    atlas = await start_bare(emu, e2e_clock, tmp_path / "g.db", guild)
    try:
        alice = emu.add_member(guild, "alice", roles=["Maintainer"])
        bob = emu.add_member(guild, "bob")
        plan = (await emu.slash(alice, "setup plan")).embeds[0]["description"]
        assert "create channel reports-private [reports]: not adopted: #reports is visible to everyone" in plan
        await emu.slash(alice, "setup apply")
        private = guild.channels[atlas.bot.channel_ids.id("reports")]
        assert private.id != public.id and private.name == "reports-private"
        assert not emu.can_view(bob, private) and emu.can_view(alice, private)
        assert emu.can_view(bob, public) and public.name == "reports"  # left alone
    finally:
        await atlas.stop()


async def test_a_setup_running_elsewhere_is_waited_for_not_run_twice(bare: Atlas) -> None:
    """Another process (``atlas-bot setup``) holds the database lock of this guild: /setup apply writes nothing."""
    emu = bare.emu
    assert await service.take_run_lock(bare.bot.sessions, bare.guild.id, "cli", bare.bot.clock.now()) is None
    since = len(emu.requests)
    r = await emu.slash(bare.alice, "setup apply")
    embed = r.followups[-1].embeds[0]
    assert embed["title"] == "Server setup: stopped"
    assert "Another setup of this server is running" in embed["description"]
    assert guild_writes(emu, since) == []
    await service.release_run_lock(bare.bot.sessions, bare.guild.id, "cli")
    done = await emu.slash(bare.alice, "setup apply")
    assert done.followups[-1].embeds[0]["title"] == "Server setup: done"
