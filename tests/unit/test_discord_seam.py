"""The ready-wait seam: the wait ends once READY's guilds have arrived, and only then."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from bot.discord_seam import _ReadyGuilds


async def test_the_wait_ends_when_every_listed_guild_has_arrived_and_been_taken() -> None:
    queue = _ReadyGuilds({1, 2})
    queue.put_nowait(SimpleNamespace(id=1))
    assert (await asyncio.wait_for(queue.get(), 1)).id == 1
    # Guild 2 has not arrived: get waits (discord.py's own timeout is what ends it then).
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(queue.get(), 0.05)
    queue.put_nowait(SimpleNamespace(id=2))
    assert (await asyncio.wait_for(queue.get(), 1)).id == 2
    with pytest.raises(TimeoutError):
        await queue.get()  # at once, without waiting for any timeout


async def test_a_guild_not_listed_in_ready_is_still_handed_over() -> None:
    queue = _ReadyGuilds(set())
    queue.put_nowait(SimpleNamespace(id=9))
    assert (await queue.get()).id == 9
    with pytest.raises(TimeoutError):
        await queue.get()
