"""Rate limits as Discord sends them: per-route bucket headers, 429 with retry_after, the global limit, and
discord.py waiting on them (so an emulator-backed test sees the pacing a real bot would)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import discord

from bot.emulator import Emulator
from bot.emulator.ratelimits import RateLimiter, _route

from .conftest import World, start_bot, stop_bot


async def _post(session: aiohttp.ClientSession, emu: Emulator, path: str, body: Any) -> aiohttp.ClientResponse:
    async with session.post(emu.api_base + path, json=body, headers={"Authorization": "Bot x"}) as response:
        await response.read()
        return response


async def test_message_bucket_headers_and_429_like_discord(emu: Emulator, world: World) -> None:
    emu.rate_limiter = RateLimiter()
    other = emu.add_channel(world.guild, "other")
    path = f"/channels/{world.general.id}/messages"
    async with aiohttp.ClientSession() as session:
        answers = [await _post(session, emu, path, {"content": f"m{i}"}) for i in range(6)]
        elsewhere = await _post(session, emu, f"/channels/{other.id}/messages", {"content": "x"})
        bodies = []
        async with session.post(emu.api_base + path, json={"content": "again"}) as response:
            bodies.append(await response.json())
            again = response
    ok, limited = answers[:5], answers[5]
    assert [r.status for r in ok] == [200] * 5
    assert [r.headers["X-RateLimit-Limit"] for r in ok] == ["5"] * 5
    assert [r.headers["X-RateLimit-Remaining"] for r in ok] == ["4", "3", "2", "1", "0"]
    assert len({r.headers["X-RateLimit-Bucket"] for r in ok}) == 1
    reset_after = float(ok[-1].headers["X-RateLimit-Reset-After"])
    assert 4.0 < reset_after <= 5.0
    assert abs(float(ok[-1].headers["X-RateLimit-Reset"]) - (time.time() + reset_after)) < 1.0
    # The sixth in five seconds: a user-scope 429 that says how long to wait, with the route's headers.
    assert limited.status == 429
    assert limited.headers["X-RateLimit-Scope"] == "user"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert limited.headers["Via"]  # discord.py only retries a 429 that came through Discord's proxy
    assert int(limited.headers["Retry-After"]) == 5
    assert "X-RateLimit-Global" not in limited.headers
    assert again.status == 429 and bodies[0]["global"] is False and 4.0 < bodies[0]["retry_after"] <= 5.0
    # The same route in another channel is another bucket (channel_id is a top-level resource)...
    assert elsewhere.status == 200 and elsewhere.headers["X-RateLimit-Remaining"] == "4"
    # ...with the same bucket hash.
    assert elsewhere.headers["X-RateLimit-Bucket"] == ok[0].headers["X-RateLimit-Bucket"]
    # Only 5 messages exist; the retry sent without waiting is recorded as ignoring the 429.
    assert [m.content for m in emu.messages(world.general)] == [f"m{i}" for i in range(5)]
    assert [(r.scope, r.path) for r in emu.rate_limiter.rejected] == [("user", path), ("user", path)]
    assert [r.path for r in emu.rate_limiter.ignored] == [path]


async def test_global_limit_50_per_second_and_interactions_exempt(emu: Emulator, world: World) -> None:
    emu.rate_limiter = RateLimiter()
    async with aiohttp.ClientSession() as session:
        statuses = []
        for i in range(51):
            # Different routes and resources: only the global limit can refuse the 51st.
            async with session.get(f"{emu.api_base}/users/{emu.bot_user.id + i % 3}") as response:
                statuses.append(response.status)
                last_headers, last_body = response.headers, await response.read()
        async with session.post(f"{emu.api_base}/interactions/1/tok/callback", json={"type": 1}) as response:
            interaction_status = response.status
    assert 429 not in statuses[:50]
    assert statuses[50] == 429
    assert last_headers["X-RateLimit-Global"] == "true"
    assert last_headers["X-RateLimit-Scope"] == "global"
    assert last_headers["Via"]
    body = json.loads(last_body)
    assert body["global"] is True and 0 < body["retry_after"] <= 1.0
    assert interaction_status == 404  # answered (unknown interaction), not rate limited
    assert [r.scope for r in emu.rate_limiter.rejected] == ["global"]


async def test_discord_py_waits_on_the_bucket_and_never_ignores_a_429(emu: Emulator, world: World) -> None:
    # A one-second message window keeps the test short; the rules are the same as with Discord's five.
    emu.rate_limiter = RateLimiter(routes=(_route("POST", "/channels/{channel_id}/messages", 5, 1.0),))
    bot, task = await start_bot(emu, world.guild)
    try:
        channel = bot.get_channel(world.general.id)
        assert isinstance(channel, discord.TextChannel)
        started = time.monotonic()
        await asyncio.gather(*(channel.send(f"n{i}") for i in range(12)))
        elapsed = time.monotonic() - started
    finally:
        await stop_bot(bot, task)
    assert sorted(m.content for m in emu.messages(world.general)) == sorted(f"n{i}" for i in range(12))
    assert elapsed >= 2.0  # 12 messages at 5 per second need three windows
    assert emu.rate_limiter.ignored == []


async def test_discord_py_honours_a_global_429(emu: Emulator, world: World) -> None:
    # Route buckets larger than the global limit, so that the global limit is what 25 lookups at once meet.
    emu.rate_limiter = RateLimiter(global_limit=10, default_limit=1000)
    bot, task = await start_bot(emu, world.guild)
    try:
        await asyncio.sleep(1.1)  # start-up requests out of the window
        users = await asyncio.gather(*(bot.fetch_user(world.alice.id) for _ in range(25)))
    finally:
        await stop_bot(bot, task)
    assert {u.id for u in users} == {world.alice.id}
    assert any(r.scope == "global" for r in emu.rate_limiter.rejected)
