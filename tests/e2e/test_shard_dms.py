"""Sharding and DMs, the bot's side: Discord sends DM interactions to shard 0 only, with no guild. Two bots (shard
0 and shard 1, each with its own guild and database) on one emulator: a member of shard 1's guild pressing the
button of the welcome DM that shard 1's bot sent reaches shard 0's bot, which must not act on its own guild for
them: it answers ephemerally to use the server (bot/sharding.py). Shard 0's own members' DM buttons still work.
Two bots in one event loop (not processes): what is tested is Discord's routing and the bot's answer."""

from __future__ import annotations

from pathlib import Path

from bot.clock import ManualClock
from bot.emulator import Emulator, Guild
from bot.harness import AtlasHarness, make_world
from bot.sharding import ELSEWHERE
from tests.e2e.conftest import config_for


def world_on_shard(emu: Emulator, clock: ManualClock, shard_id: int) -> Guild:
    while True:
        guild = make_world(emu)
        if (guild.id >> 22) % 2 == shard_id:
            return guild
        clock.advance(milliseconds=1)  # the next id takes the next millisecond (ids follow the emulator's clock)


async def test_a_dm_click_for_another_shards_guild_is_not_acted_on(
    emulator: Emulator, e2e_clock: ManualClock, tmp_path: Path
) -> None:
    emu = emulator
    harnesses = []
    for shard in (0, 1):
        guild = world_on_shard(emu, e2e_clock, shard)
        config = config_for(emu, guild, bot={"shard_id": shard, "shard_count": 2})
        harnesses.append(AtlasHarness(emu, guild, e2e_clock, config, f"sqlite+aiosqlite:///{tmp_path}/{shard}.db"))
    h0, h1 = harnesses
    try:
        for h in harnesses:
            await h.start()
        carol = emu.add_member(h1.guild, "carol")  # shard 1's guild only
        dave = emu.add_member(h0.guild, "dave")  # shard 0's guild
        await emu.until(lambda: len(emu.dms(carol)) == 1 and len(emu.dms(dave)) == 1, timeout=15)
        await h0.settle()
        await h1.settle()

        answer = await emu.click(carol, emu.dms(carol)[-1], "onb:start")
        assert answer.ephemeral and answer.content == ELSEWHERE and answer.modal is None
        assert "server" in answer.content

        form = await emu.click(dave, emu.dms(dave)[-1], "onb:start")  # shard 0's own member: as without shards
        assert form.modal is not None and form.modal.title == "Your Atlas profile"
    finally:
        for h in harnesses:
            await h.stop()
