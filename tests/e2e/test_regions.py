"""Regional and language channels end to end: made once a region or language reaches [regions] min_members,
after onboarding and by the daily job, never twice, under the regions category or as threads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import discord
import pytest
from sqlalchemy import select

from bot.clock import ManualClock
from bot.emulator import Channel, Emulator
from bot.harness import AtlasHarness, config_for, make_world
from models import Member as MemberRow
from models import RegionalChannel
from tests.e2e.test_onboarding import PROFILE, join, onboard

COGS = ["meta", "onboarding", "recognition", "regions"]


async def seed(atlas: AtlasHarness, name: str, zone: str, language: str) -> None:
    """A member already onboarded (as if months ago) with this profile."""
    member = atlas.emu.add_member(atlas.guild, name)
    atlas.members[name] = member
    now = atlas.clock.now()
    row = None
    for _ in range(100):  # the bot records the join itself (GUILD_MEMBER_ADD): wait for its row
        await atlas.settle()
        async with atlas.bot.sessions() as session:
            row = await session.scalar(
                select(MemberRow.id).where(MemberRow.guild_id == atlas.guild.id, MemberRow.discord_id == member.id)
            )
        if row is not None:
            break
    assert row is not None
    async with atlas.bot.sessions.begin() as session:
        row = await session.get(MemberRow, row)
        assert row is not None
        row.onboarded_at = row.coc_accepted_at = now - timedelta(days=30)
        row.timezone, row.language, row.stage = zone, language, "learner"


def named(emu: Emulator, atlas: AtlasHarness, prefix: str) -> list[Channel]:
    found = [c for c in emu.channels(atlas.guild) if c.name.startswith(prefix)]
    for parent in emu.channels(atlas.guild):
        found += [t for t in emu.threads(parent) if t.name.startswith(prefix)]
    return found


async def rows(atlas: AtlasHarness) -> list[RegionalChannel]:
    async with atlas.bot.sessions() as session:
        return list((await session.scalars(select(RegionalChannel).order_by(RegionalChannel.id))).all())


async def start(
    emu: Emulator, clock: ManualClock, db: str, *, category: bool, maintainers: int = 0, **guild: Any
) -> AtlasHarness:
    g = make_world(emu, **guild)
    # The category says how its channels behave (here: no files from members); its channels follow it.
    no_files: dict[Any, Any] = {g.everyone: (0, discord.Permissions(attach_files=True))}
    if maintainers:
        no_files[emu.role(g, "Maintainer")] = (discord.Permissions(maintainers), 0)
    regions = emu.add_channel(g, "Regions", type="category", overwrites=no_files) if category else None
    config = config_for(emu, g, cogs=COGS).with_overrides(
        channels={"regions": regions.id if regions else 0},
        regions={"min_members": 3, "thread_channel": emu.channel(g, "general").id},
    )
    atlas = AtlasHarness(emu, g, clock, config, db)
    atlas.members["alice"] = emu.add_member(g, "alice", roles=["Maintainer"])
    atlas.members["bob"] = emu.add_member(g, "bob")
    await atlas.start()
    await atlas.bot.scheduler.run_due()  # a job is armed when first seen; its first run is a day later
    return atlas


@pytest.fixture
async def atlas(emulator: Emulator, e2e_clock: ManualClock, db_url: str) -> AsyncIterator[AtlasHarness]:
    atlas = await start(emulator, e2e_clock, db_url, category=True)
    try:
        yield atlas
    finally:
        await atlas.stop()


async def test_onboarding_the_third_member_of_a_region_makes_its_channel_once(atlas: AtlasHarness) -> None:
    emu = atlas.emu
    await seed(atlas, "anna", "Europe/Paris", "German")
    await seed(atlas, "ben", "Europe/Lisbon", "english")
    await seed(atlas, "chen", "Asia/Shanghai", "Mandarin")
    await atlas.advance(days=1)  # the daily job: two in Europe, below 3: nothing yet
    assert named(emu, atlas, "region-") == [] and named(emu, atlas, "lang-") == []
    carol = await join(atlas, "carol")
    await onboard(atlas, carol, {**PROFILE, "onb:f:language": "Deutsch, GERMAN and English"})
    await emu.until(lambda: named(emu, atlas, "region-"), timeout=5)
    await atlas.settle()
    [europe] = named(emu, atlas, "region-")
    category = emu.channel(atlas.guild, "Regions")
    assert europe.name == "region-europe" and europe.parent_id == category.id and europe.type == 0
    assert "Europe" in (europe.topic or "")
    assert (
        {k: (o.allow, o.deny) for k, o in europe.overwrites.items()}
        == {k: (o.allow, o.deny) for k, o in category.overwrites.items()}
        != {}
    )
    # German (typed "German", and "Deutsch, GERMAN" by one member) is short of 3; English is the community's own.
    assert named(emu, atlas, "lang-") == []
    # Free text that names no human language makes nothing, and English never gets a channel of its own.
    await seed(atlas, "dora", "America/New_York", "english, N/A, C++")
    await seed(atlas, "dean", "America/Chicago", "none")
    await seed(atlas, "dirk", "America/Denver", "English")
    await atlas.advance(days=1)
    assert named(emu, atlas, "lang-") == []
    status = await emu.slash(atlas.alice, "regions status")
    assert status.ephemeral and f"**region-europe**: 3 <#{europe.id}>" in status.content
    assert "**lang-german**: 2" in status.content and "english" not in status.content
    assert not any(f"**lang-{k}**" in status.content for k in ("n-a", "none", "c", "english"))
    await seed(atlas, "dana", "America/New_York", "Deutsch")
    await atlas.advance(days=1)
    assert [c.name for c in named(emu, atlas, "lang-")] == ["lang-german"]
    # Every later run, a restart, another onboarding: nothing is made twice.
    await atlas.restart()
    await atlas.advance(days=2)
    erin = await join(atlas, "erin")
    await onboard(atlas, erin)
    await atlas.settle()
    assert len(named(emu, atlas, "region-europe")) == 1 and len(named(emu, atlas, "lang-german")) == 1
    recorded = await rows(atlas)
    assert {(r.kind, r.key) for r in recorded} == {
        ("region", "europe"),
        ("region", "americas"),
        ("language", "german"),
    }
    assert all(r.channel_id and not r.is_thread for r in recorded)


async def test_a_channel_made_before_a_crash_is_adopted_not_made_again(atlas: AtlasHarness) -> None:
    emu = atlas.emu
    # A channel of that name already there (the bot made it and crashed before recording it, or a human did).
    existing = emu.add_channel(atlas.guild, "region-asia", category=emu.channel(atlas.guild, "Regions"))
    for name in ("a1", "a2", "a3"):
        await seed(atlas, name, "Asia/Tokyo", "Japanese")
    await atlas.advance(days=1)
    assert [c.id for c in named(emu, atlas, "region-asia")] == [existing.id]
    [lang, asia] = sorted(await rows(atlas), key=lambda r: r.kind)
    assert asia.channel_id == existing.id and lang.key == "japanese"


async def test_without_a_category_it_makes_public_threads_and_names_are_sanitised(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Any
) -> None:
    atlas = await start(emulator, e2e_clock, f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", category=False)
    try:
        for name in ("p1", "p2", "p3"):
            await seed(atlas, name, "America/Sao_Paulo", "Português (BR) @everyone")
        await atlas.advance(days=1)
        general = atlas.channel("general")
        threads = {t.name: t for t in emulator.threads(general)}
        assert set(threads) == {"region-americas", "lang-portuguese"}
        assert all(t.type == 11 for t in threads.values())  # public threads
        # The greeting carries the member-typed language without pinging anyone.
        for thread in threads.values():
            assert all(not m.pings for m in emulator.messages(thread))
        await atlas.advance(days=1)
        assert len(emulator.threads(general)) == 2
    finally:
        await atlas.stop()


async def test_a_missing_permission_is_explained_and_a_later_run_makes_it(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Any
) -> None:
    emu = emulator
    atlas = await start(
        emu, e2e_clock, f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", category=True, deny_bot=["manage_channels"]
    )
    try:
        for name in ("z1", "z2", "z3"):
            await seed(atlas, name, "Africa/Lagos", "Yoruba")
        await atlas.advance(days=1)
        assert named(emu, atlas, "region-") == []
        notes = [m.content for m in emu.messages(atlas.channel("mod-log"))]
        assert any("Manage Channels" in n and "region-africa" in n for n in notes)
        assert all(r.channel_id is None for r in await rows(atlas))
        bot_role = emu.bot_role(atlas.guild)
        emu.set_role_permissions(
            atlas.guild,
            bot_role,
            discord.Permissions(bot_role.permissions) | discord.Permissions(manage_channels=True),
        )
        await atlas.advance(days=1)
        assert [c.name for c in named(emu, atlas, "region-")] == ["region-africa"]
        assert len(named(emu, atlas, "lang-yoruba")) == 1
    finally:
        await atlas.stop()


async def test_category_overwrites_the_bot_may_not_set_are_left_out(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Any
) -> None:
    # Discord (Create Guild Channel): "only permissions your bot has in the guild can be allowed/denied. Setting
    # MANAGE_ROLES permission in channels is only possible for guild administrators." The category lets
    # maintainers manage messages and permissions; the bot (no Manage Messages, not admin) may not set them.
    emu = emulator
    atlas = await start(
        emu,
        e2e_clock,
        f"sqlite+aiosqlite:///{tmp_path / 'a.db'}",
        category=True,
        deny_bot=["manage_messages"],
        maintainers=discord.Permissions(manage_messages=True, manage_roles=True).value,
    )
    try:
        for name in ("e1", "e2", "e3"):
            await seed(atlas, name, "Europe/Rome", "Italiano")
        await atlas.advance(days=1)
        [europe] = named(emu, atlas, "region-europe")
        bot_perms = emu.bot_role(atlas.guild).permissions
        [sent] = [r for r in emu.requests_to("POST", f"/guilds/{atlas.guild.id}/channels") if r.status < 300][:1]
        for item in sent.json["permission_overwrites"]:
            for bits in (int(item["allow"]), int(item["deny"])):
                assert bits & ~bot_perms == 0 and not discord.Permissions(bits).manage_roles
        # What the bot may set is kept: members still cannot attach files there, as in the category.
        assert europe.overwrites[atlas.guild.everyone.id].deny & discord.Permissions(attach_files=True).value
    finally:
        await atlas.stop()


async def test_without_manage_roles_the_notice_names_it(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Any
) -> None:
    emu = emulator
    atlas = await start(
        emu, e2e_clock, f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", category=True, deny_bot=["manage_roles"]
    )
    try:
        for name in ("z1", "z2", "z3"):
            await seed(atlas, name, "Africa/Lagos", "Yoruba")
        await atlas.advance(days=1)
        assert named(emu, atlas, "region-") == []
        notes = [m.content for m in emu.messages(atlas.channel("mod-log"))]
        assert any("Manage Roles" in n and "region-africa" in n for n in notes), notes
    finally:
        await atlas.stop()


async def test_a_failure_is_told_once_even_when_another_channel_was_made_in_that_run(atlas: AtlasHarness) -> None:
    emu = atlas.emu
    # region-europe is already there (adopted, made in this run); making lang-german is refused two days running.
    emu.add_channel(atlas.guild, "region-europe", category=emu.channel(atlas.guild, "Regions"))
    for name in ("g1", "g2", "g3"):
        await seed(atlas, name, "Europe/Berlin", "Deutsch")
    body = {"code": 50013, "message": "Missing Permissions"}
    emu.fail_next("POST", f"/guilds/{atlas.guild.id}/channels", status=403, count=2, body=body)
    await atlas.advance(days=2)
    notes = [m.content for m in emu.messages(atlas.channel("mod-log")) if "lang-german" in m.content]
    assert len(notes) == 1, notes
    await atlas.advance(days=1)
    assert len(named(emu, atlas, "lang-german")) == 1


async def test_an_onboarding_during_the_daily_run_gets_a_run_of_its_own(
    atlas: AtlasHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = atlas.emu
    await seed(atlas, "k1", "Asia/Tokyo", "")
    await seed(atlas, "k2", "Asia/Seoul", "")
    cog: Any = atlas.bot.get_cog("RegionsCog")
    real = cog._groups
    calls = 0

    async def counted_meanwhile(session: Any) -> Any:
        nonlocal calls
        calls += 1
        found = await real(session)
        if calls == 1:  # a third member finishes onboarding while the daily run holds the lock
            await seed(atlas, "k3", "Asia/Manila", "")
            await cog.on_atlas_onboarded(atlas.members["k3"].id)
        return found

    monkeypatch.setattr(cog, "_groups", counted_meanwhile)
    await cog.daily_job(atlas.clock.now())
    await atlas.settle()
    assert calls == 2 and [c.name for c in named(emu, atlas, "region-asia")] == ["region-asia"]
