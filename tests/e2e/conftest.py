"""The real AtlasBot against the Discord emulator, with a temporary SQLite database and a clock tests move
(the wiring itself is ``bot.harness``, shared with the sandbox and the benchmark).

    async def test_something(atlas: Atlas) -> None:
        r = await atlas.emu.slash(atlas.alice, "atlas about")
        await atlas.advance(weeks=5)      # moves the clock and runs whatever became due
        await atlas.restart()             # a new bot process on the same database and emulator
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.config import Config
from bot.discord_seam import point_discord_at
from bot.emulator import Emulator, Guild
from bot.harness import AtlasHarness, make_world
from bot.harness import config_for as _config_for

Atlas = AtlasHarness
E2E_COGS = ["meta", "onboarding", "recognition"]

__all__ = ["Atlas", "config_for", "make_world"]


def config_for(emu: Emulator, guild: Guild, **overrides: dict[str, Any]) -> Config:
    return _config_for(emu, guild, cogs=E2E_COGS, **overrides)


@pytest.fixture
def e2e_clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))  # a Monday


@pytest.fixture
async def emulator(e2e_clock: ManualClock) -> AsyncIterator[Emulator]:
    async with Emulator(now=e2e_clock.now, response_timeout=5.0) as emu:
        point_discord_at(emu.api_base, emu.gateway_url)
        try:
            yield emu
        finally:
            point_discord_at(None)


async def start_world(
    emu: Emulator,
    clock: ManualClock,
    db: Path | str,
    *,
    cogs: list[str] | None = None,
    members: dict[str, list[str]] | None = None,
    **guild_options: Any,
) -> Atlas:
    """The demo world started: alice (a Maintainer), bob, and ``members`` (name -> role names) beside them, on
    the SQLite file ``db`` (a Path) or a database URL, with ``cogs`` (default: the e2e set)."""
    guild = make_world(emu, **guild_options)
    url = db if isinstance(db, str) else f"sqlite+aiosqlite:///{db}"
    harness = Atlas(emu, guild, clock, _config_for(emu, guild, cogs=cogs or E2E_COGS), url)
    harness.members["alice"] = emu.add_member(guild, "alice", roles=["Maintainer"])
    harness.members["bob"] = emu.add_member(guild, "bob")
    for name, roles in (members or {}).items():
        harness.members[name] = emu.add_member(guild, name, roles=roles)
    await harness.start()
    return harness


@pytest.fixture
async def atlas(emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path) -> AsyncIterator[Atlas]:
    harness = await start_world(emulator, e2e_clock, tmp_path / "atlas.db")
    try:
        yield harness
    finally:
        await harness.stop()
