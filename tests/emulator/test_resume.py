"""Gateway drops and RESUME against the real discord.py client: the emulator keeps the session (id, sequence
numbers, a buffer of dispatched events) across connections, replays what the bot missed, then RESUMED; an
unknown or expired session, or a close code that forbids resuming, gets INVALID_SESSION(false) and a fresh
IDENTIFY (Discord's "Gateway" documentation, "Resuming" and "Gateway Close Event Codes")."""

from __future__ import annotations

import aiohttp
import pytest

from bot.emulator import Emulator
from bot.emulator.gateway import close_code_resumable

from .conftest import World, start_bot, stop_bot
from .testbot import ProbeBot


def _seqs(bot: ProbeBot) -> list[str]:
    return [t for t, _ in bot.gateway]


@pytest.mark.parametrize("code", [4000, 4008, None], ids=["4000", "4008-rate-limited", "tcp-reset"])
async def test_drop_resumes_and_replays_missed_events(
    emu: Emulator, world: World, bot: ProbeBot, code: int | None
) -> None:
    assert emu.session is not None
    first = emu.session
    await emu.drop_gateway(code)
    carol = emu.join(world.guild, "carol")  # while the bot is disconnected
    dave = emu.join(world.guild, "dave")
    await emu.until(lambda: [m.name for m in bot.joined] == ["carol", "dave"], timeout=10)
    session = emu.session
    assert session is not first and session.resumed_from == first.session_id
    assert session.session_id == first.session_id and emu.connected
    assert len(emu.sessions) == 2
    # Replayed in order after the resume, then RESUMED; no second READY (no IDENTIFY happened).
    assert _seqs(bot).count("READY") == 1
    tail = _seqs(bot)[-3:]
    assert tail == ["GUILD_MEMBER_ADD", "GUILD_MEMBER_ADD", "RESUMED"]
    guild = bot.get_guild(world.guild.id)
    assert guild is not None and guild.get_member(carol.id) and guild.get_member(dave.id)
    assert (await emu.slash(world.alice, "ping")).content == "pong"


async def test_sequence_numbers_continue_across_the_resume(emu: Emulator, world: World, bot: ProbeBot) -> None:
    assert emu.session is not None
    before = emu.session.seq
    await emu.drop_gateway(4000)
    emu.join(world.guild, "carol")
    await emu.until(lambda: len(bot.joined) == 1, timeout=10)
    assert emu.session.seq == before + 2  # the member add, then RESUMED: no event numbered twice or skipped
    assert bot.ws is not None and bot.ws.sequence == emu.session.seq


@pytest.mark.parametrize("code", [4007, 4009])
async def test_codes_that_forbid_resuming_lead_to_a_new_session(
    emu: Emulator, world: World, bot: ProbeBot, code: int
) -> None:
    assert emu.session is not None
    first = emu.session.session_id
    await emu.drop_gateway(code)
    emu.join(world.guild, "carol")  # lost with the session, as on Discord: the next GUILD_CREATE brings the guild
    await emu.until(lambda: emu.connected and emu.session is not None and emu.session.session_id != first, 15)
    assert emu.session.resumed_from is None
    await emu.until(lambda: _seqs(bot).count("READY") == 2)
    assert "RESUMED" not in _seqs(bot)
    assert (await emu.slash(world.alice, "ping")).content == "pong"


async def test_expired_session_gets_invalid_session_and_identifies_again(
    emu: Emulator, world: World, bot: ProbeBot
) -> None:
    assert emu.session is not None
    first = emu.session.session_id
    emu.refuse_gateway(0.5)  # hold the bot off while the session expires
    await emu.drop_gateway(4000)
    emu.invalidate_sessions()
    await emu.until(lambda: emu.connected and emu.session is not None and emu.session.session_id != first, 15)
    # discord.py tried to RESUME, got op 9 with d false, and identified afresh.
    await emu.until(lambda: _seqs(bot).count("READY") == 2)
    assert "RESUMED" not in _seqs(bot)
    assert (await emu.slash(world.alice, "ping")).content == "pong"


async def test_resume_with_a_seq_older_than_the_buffer_is_refused(emu: Emulator, world: World) -> None:
    emu.resume_buffer = 3  # a tiny replay buffer: four missed events cannot all be replayed
    bot, task = await start_bot(emu, world.guild)
    try:
        assert emu.session is not None
        first = emu.session.session_id
        emu.refuse_gateway(0.5)
        await emu.drop_gateway(4000)
        for name in ("carol", "dave", "erin", "frank"):
            emu.join(world.guild, name)
        await emu.until(lambda: emu.connected and emu.session is not None and emu.session.session_id != first, 15)
        await emu.until(lambda: _seqs(bot).count("READY") == 2)
        assert "RESUMED" not in _seqs(bot)
    finally:
        await stop_bot(bot, task)


async def test_zombie_connection_is_noticed_by_heartbeat_and_resumed(emu: Emulator, world: World) -> None:
    emu.heartbeat_interval_ms = 200
    bot = ProbeBot(world.guild.id)
    # Client(heartbeat_timeout=...) is a constructor option; ProbeBot does not take it, so set it before start.
    bot._connection.heartbeat_timeout = 1.0
    bot, task = await start_bot(emu, world.guild, bot=bot)
    try:
        assert emu.session is not None
        first = emu.session
        await emu.drop_gateway(zombie=True)  # the socket stays open; nothing gets through, no HEARTBEAT_ACK
        emu.join(world.guild, "carol")
        await emu.until(lambda: len(bot.joined) == 1, timeout=15)
        assert emu.session is not first and emu.session.resumed_from == first.session_id
        assert _seqs(bot)[-2:] == ["GUILD_MEMBER_ADD", "RESUMED"]
    finally:
        await stop_bot(bot, task)


async def test_interaction_while_disconnected_is_replayed_and_answered(
    emu: Emulator, world: World, bot: ProbeBot
) -> None:
    await emu.drop_gateway(None)
    r = await emu.slash(world.alice, "ping")  # created while the bot is away; it resumes within the deadline
    assert r.content == "pong" and not r.expired


async def test_interaction_created_during_a_long_outage_expires(
    emu: Emulator, world: World, bot: ProbeBot
) -> None:
    emu.refuse_gateway(emu.interaction_deadline + 0.5)
    await emu.drop_gateway(None)
    r = await emu.slash(world.alice, "ping")
    assert r.expired and r.content is None  # nobody answered within 3 s: the member sees the failure
    # After the outage the bot resumes, receives the replayed interaction and answers it too late: 10062.
    await emu.until(lambda: any(e.get("code") == 10062 for e in r.errors), timeout=15)
    assert "pong" not in [m.content for m in emu.messages(world.general)]
    assert emu.session is not None and emu.session.resumed_from is not None


@pytest.mark.parametrize("code", [1000, 1001, 4000])
async def test_a_client_closing_with_1000_or_1001_ends_its_session(emu: Emulator, world: World, code: int) -> None:
    """A raw client: IDENTIFY, close with ``code``, then RESUME on a new connection."""
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(emu.gateway_url) as ws:
            assert (await ws.receive_json())["op"] == 10
            await ws.send_json({"op": 2, "d": {"token": "t", "intents": 1, "properties": {}}})
            ready = await ws.receive_json()
            assert ready["t"] == "READY"
            session_id, seq = ready["d"]["session_id"], ready["s"]
            await ws.close(code=code)
        await emu.until(lambda: emu.sessions[0].closed)
        async with http.ws_connect(emu.gateway_url) as ws:
            assert (await ws.receive_json())["op"] == 10
            await ws.send_json({"op": 6, "d": {"token": "t", "session_id": session_id, "seq": seq}})
            frames = [await ws.receive_json()]
            while frames[-1]["t"] not in ("RESUMED", None):
                frames.append(await ws.receive_json())
    if code == 4000:
        assert frames[-1]["t"] == "RESUMED"  # a GUILD_CREATE may be replayed first
    else:
        assert frames == [{"op": 9, "d": False, "s": None, "t": None}]


def test_close_codes_per_the_documentation() -> None:
    for code in (4000, 4001, 4002, 4003, 4005, 4008, None, 1006):
        assert close_code_resumable(code), code
    for code in (1000, 1001, 4004, 4007, 4009, 4010, 4011, 4012, 4013, 4014):
        assert not close_code_resumable(code), code


async def _identified(ws: aiohttp.ClientWebSocketResponse) -> tuple[str, int]:
    assert (await ws.receive_json())["op"] == 10
    await ws.send_json({"op": 2, "d": {"token": "t", "intents": 1, "properties": {}}})
    ready = await ws.receive_json()
    assert ready["t"] == "READY"
    seq = ready["s"]
    while True:  # the GUILD_CREATEs that follow READY
        try:
            frame = await ws.receive_json(timeout=0.3)
        except TimeoutError:
            return ready["d"]["session_id"], seq
        seq = frame["s"]


async def _resume(ws: aiohttp.ClientWebSocketResponse, session_id: str, seq: int) -> list[dict]:
    assert (await ws.receive_json())["op"] == 10
    await ws.send_json({"op": 6, "d": {"token": "t", "session_id": session_id, "seq": seq}})
    frames = []
    while True:  # everything sent, up to a quiet moment
        try:
            frames.append(await ws.receive_json(timeout=0.5))
        except TimeoutError:
            return frames


async def test_a_resume_with_a_seq_the_session_never_reached_is_closed_with_4007(emu: Emulator) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(emu.gateway_url) as ws:
            session_id, seq = await _identified(ws)
            await emu.drop_gateway(4000)
        async with http.ws_connect(emu.gateway_url) as ws:
            assert (await ws.receive_json())["op"] == 10
            await ws.send_json({"op": 6, "d": {"token": "t", "session_id": session_id, "seq": seq + 50}})
            msg = await ws.receive()
            assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 4007, msg


async def test_resumed_is_never_replayed_by_a_later_resume(emu: Emulator) -> None:
    """Two drops in a row, each resumed from the same last seq: the replay holds no earlier RESUMED."""
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(emu.gateway_url) as ws:
            session_id, seq = await _identified(ws)
            await emu.drop_gateway(4000)
        for _ in range(2):
            async with http.ws_connect(emu.gateway_url) as ws:
                frames = await _resume(ws, session_id, seq)
                assert [f["t"] for f in frames] == ["RESUMED"], frames
                await emu.drop_gateway(4000)


async def test_the_gateway_asks_for_a_heartbeat_and_gets_one(emu: Emulator, world: World) -> None:
    emu.heartbeat_interval_ms = 60_000  # none due on its own during the test
    bot, task = await start_bot(emu, world.guild)
    try:
        assert emu.session is not None
        before = emu.session.heartbeats
        await emu.request_heartbeat()
        await emu.until(lambda: emu.session is not None and emu.session.heartbeats > before, timeout=5)
    finally:
        await stop_bot(bot, task)


async def test_op_7_reconnect_resumes_and_misses_nothing(emu: Emulator, world: World, bot: ProbeBot) -> None:
    assert emu.session is not None
    first = emu.session
    await emu.request_reconnect()
    emu.join(world.guild, "carol")
    await emu.until(lambda: len(bot.joined) == 1, timeout=10)
    await emu.until(lambda: emu.session is not first and emu.session.resumed_from == first.session_id, timeout=10)
    assert _seqs(bot).count("READY") == 1 and "RESUMED" in _seqs(bot)
    assert (await emu.slash(world.alice, "ping")).content == "pong"
