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


async def test_invalid_requests_are_counted_and_past_the_limit_the_ip_is_banned(
    emu: Emulator, world: World
) -> None:
    # Discord: 10,000 responses with 401, 403 or 429 (not a shared-scope 429) in 10 minutes ban the IP; a
    # limit of 8 keeps the test short, the rules are the same.
    emu.rate_limiter = limits = RateLimiter(invalid_limit=8)
    path = f"/channels/{world.general.id}/messages"
    emu.fail_next("GET", f"/channels/{world.general.id}", status=403, count=2)
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            async with session.get(f"{emu.api_base}/channels/{world.general.id}") as response:
                assert response.status == 403
        async with session.get(f"{emu.api_base}/channels/999") as response:
            assert response.status == 404  # not an invalid request in Discord's sense
        limits.record(429, "shared")  # a shared-resource 429 is not held against the bot
        assert limits.invalid_requests == 2
        statuses = [(await _post(session, emu, path, {"content": f"m{i}"})).status for i in range(10)]
        assert statuses == [200] * 5 + [429] * 5
        assert limits.invalid_requests == 7 and not limits.banned
        assert (await _post(session, emu, path, {"content": "one more"})).status == 429
        assert limits.invalid_requests == 8 and limits.banned
        # Banned: every route is refused, interaction endpoints too, with Cloudflare's page, not Discord's JSON.
        for url in (f"{emu.api_base}/users/@me", f"{emu.api_base}/interactions/1/tok/callback"):
            async with session.post(url, json={"type": 1}) as response:
                text = await response.text()
                assert response.status == 429
                assert text == "error code: 1015"
                assert "Via" not in response.headers  # how discord.py tells a ban from a rate limit
                assert int(response.headers["Retry-After"]) > 3000
    assert limits.banned_refusals == 2
    assert [m.content for m in emu.messages(world.general)] == [f"m{i}" for i in range(5)]


async def test_invalid_requests_fall_out_of_the_ten_minute_window() -> None:
    clock = [0.0]
    limits = RateLimiter(invalid_limit=3, monotonic=lambda: clock[0])
    limits.record(403)
    clock[0] = 300.0
    limits.record(401)
    assert limits.invalid_requests == 2
    clock[0] = 600.5  # the first one is more than 10 minutes old
    assert limits.invalid_requests == 1
    limits.record(429, "user")
    assert limits.invalid_requests == 2 and not limits.banned
    limits.record(429, "global")
    assert limits.banned
    assert limits.refuse_if_banned() is not None
    clock[0] = 600.5 + limits.ban_seconds
    assert not limits.banned and limits.refuse_if_banned() is None


async def test_feature_routes_have_discords_buckets(emu: Emulator, world: World) -> None:
    # Reactions: 1 per 0.25 s a channel, adding and removing sharing the bucket; member edits and member role
    # changes: 10 per 10 s a guild (role add and remove share one bucket); thread creation: 5 per 5 s a channel.
    emu.rate_limiter = limits = RateLimiter()
    message = emu.post(world.alice, world.general, "react to me")
    role = next(r for r in world.guild.roles.values() if r.name == "Learner")
    g, c, m = world.guild.id, world.general.id, message.id
    async with aiohttp.ClientSession() as session:

        async def call(method: str, path: str, body: Any = None) -> aiohttp.ClientResponse:
            async with session.request(method, emu.api_base + path, json=body) as response:
                await response.read()
                return response

        react = f"/channels/{c}/messages/{m}/reactions/%F0%9F%91%8D/@me"
        first, second = await call("PUT", react), await call("DELETE", react)
        assert (first.status, second.status) == (204, 429)
        assert first.headers["X-RateLimit-Limit"] == "1"
        assert float(first.headers["X-RateLimit-Reset-After"]) <= 0.25
        await asyncio.sleep(0.26)
        assert (await call("DELETE", react)).status == 204

        role_path = f"/guilds/{g}/members/{world.bob.id}/roles/{role.id}"
        answers = [await call("PUT" if i % 2 == 0 else "DELETE", role_path) for i in range(11)]
        assert [a.status for a in answers] == [204] * 10 + [429]
        assert {a.headers["X-RateLimit-Limit"] for a in answers[:10]} == {"10"}
        assert len({a.headers["X-RateLimit-Bucket"] for a in answers[:10]}) == 1  # one bucket for both
        edits = [await call("PATCH", f"/guilds/{g}/members/{world.bob.id}", {"nick": f"b{i}"}) for i in range(11)]
        assert [e.status for e in edits] == [200] * 10 + [429]
        assert edits[0].headers["X-RateLimit-Bucket"] != answers[0].headers["X-RateLimit-Bucket"]

        threads = [await call("POST", f"/channels/{c}/threads", {"name": f"t{i}", "type": 12}) for i in range(6)]
        assert [t.status < 300 for t in threads] == [True] * 5 + [False] and threads[5].status == 429
        assert threads[0].headers["X-RateLimit-Limit"] == "5"
    member_edit = "PATCH /guilds/{guild_id}/members/{user_id}"
    assert {r.bucket for r in limits.rejected} == {"reactions", "member roles", member_edit, "thread create"}
