"""Server setup from the template, end to end: /setup plan and /setup apply against the emulator's guild."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.config import Config
from bot.emulator import Emulator, Guild
from bot.emulator.state import perm
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
    guild = emulator.add_guild("Atlas Community")  # as Discord makes a new server: #general and nothing else
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
