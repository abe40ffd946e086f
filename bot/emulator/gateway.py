"""The gateway websocket: HELLO, IDENTIFY, READY, GUILD_CREATE, heartbeats, event dispatch, and RESUME.

discord.py asks for ``compress=zlib-stream`` but also reads plain JSON text frames, so every frame is sent as text.
Events go through a per-session queue so that synchronous test helpers (``emu.join``) can dispatch and order is
kept.

Sessions outlive their connection, as Discord's do ("Gateway", "Resuming"): every dispatch gets the next sequence
number and is kept in a bounded buffer; when the connection drops without the session being invalidated, events
keep being numbered and buffered. A new connection that sends RESUME (op 6) with the session's ``session_id`` and
the last ``seq`` it received gets every later event replayed in order, then a RESUMED dispatch. An unknown or
expired session, a ``seq`` older than the buffer, or a session closed with a code that does not allow resuming
gets INVALID_SESSION with ``d: false`` ("Invalid Session": the client must identify again); a ``seq`` the session
never reached is closed with 4007 (Invalid seq). RESUMED is numbered but never replayed itself. The gateway may
also ask for a heartbeat at once (op 1) or tell the client to reconnect and resume (op 7 RECONNECT):
``emu.request_heartbeat()``, ``emu.request_reconnect()``.

Close codes ("Opcodes and Status Codes", "Gateway Close Event Codes"): a client closing with 1000 or 1001 ends its
session; of the server's codes only 4004 and 4010-4014 forbid reconnecting, and 4007 (invalid seq) and 4009
(session timed out) allow a new connection but not a resume. A connection lost without a close frame (the TCP
socket dies, a SIGKILLed bot) keeps its session resumable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from .api import Emulator

log = logging.getLogger("bot.emulator.gateway")

OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_PRESENCE, OP_VOICE, OP_RESUME = 0, 1, 2, 3, 4, 6
OP_RECONNECT, OP_REQUEST_MEMBERS, OP_INVALID_SESSION, OP_HELLO, OP_HEARTBEAT_ACK = 7, 8, 9, 10, 11

# Gateway intents (bits) and the events each one gates.
# Discord sends a member list request's answer in chunks of at most this many members.
MEMBERS_PER_CHUNK = 1000
INTENT_GUILDS = 1 << 0
INTENT_MEMBERS = 1 << 1
INTENT_VOICE_STATES = 1 << 7
INTENT_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_GUILD_MESSAGE_REACTIONS = 1 << 10
INTENT_DM_REACTIONS = 1 << 13
INTENT_DM_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15
INTENT_SCHEDULED_EVENTS = 1 << 16

_EVENT_INTENTS: dict[str, int] = {
    "GUILD_MEMBER_ADD": INTENT_MEMBERS,
    "GUILD_MEMBER_REMOVE": INTENT_MEMBERS,
    "GUILD_MEMBER_UPDATE": INTENT_MEMBERS,
    "GUILD_SCHEDULED_EVENT_CREATE": INTENT_SCHEDULED_EVENTS,
    "GUILD_SCHEDULED_EVENT_UPDATE": INTENT_SCHEDULED_EVENTS,
    "GUILD_SCHEDULED_EVENT_DELETE": INTENT_SCHEDULED_EVENTS,
    # "GUILD_SCHEDULED_EVENTS (1 << 16): ... GUILD_SCHEDULED_EVENT_USER_ADD, GUILD_SCHEDULED_EVENT_USER_REMOVE"
    # and "GUILD_VOICE_STATES (1 << 7): VOICE_STATE_UPDATE" (Gateway, "List of Intents").
    "GUILD_SCHEDULED_EVENT_USER_ADD": INTENT_SCHEDULED_EVENTS,
    "GUILD_SCHEDULED_EVENT_USER_REMOVE": INTENT_SCHEDULED_EVENTS,
    "VOICE_STATE_UPDATE": INTENT_VOICE_STATES,
    # Thread events come with GUILDS (Gateway, "List of Intents").
    "THREAD_CREATE": INTENT_GUILDS,
    "THREAD_UPDATE": INTENT_GUILDS,
    "THREAD_DELETE": INTENT_GUILDS,
    "THREAD_LIST_SYNC": INTENT_GUILDS,
    "THREAD_MEMBER_UPDATE": INTENT_GUILDS,
}

HEARTBEAT_INTERVAL_MS = 41250
# How many dispatched events a session keeps for replay, and how long a disconnected session may be resumed.
# Discord documents neither figure; a resume past them gets INVALID_SESSION(false), as on Discord.
RESUME_BUFFER = 1000
RESUME_WINDOW_S = 120.0

# "Gateway Close Event Codes": reconnect = false for these; 4007 and 4009 reconnect with a new session.
CLOSE_NO_RECONNECT = frozenset({4004, 4010, 4011, 4012, 4013, 4014})
CLOSE_NEW_SESSION = frozenset({4007, 4009})
CLIENT_CLOSE_ENDS_SESSION = frozenset({1000, 1001})


def close_code_resumable(code: int | None) -> bool:
    """Whether a session whose connection closed with ``code`` (None: no close frame) may be resumed."""
    return code is None or code not in CLOSE_NO_RECONNECT | CLOSE_NEW_SESSION | CLIENT_CLOSE_ENDS_SESSION


class GatewaySession:
    """One bot connection and the session it carries. ``ready`` is set once READY and every GUILD_CREATE have
    been sent (or RESUMED queued). After the connection closes (``closed``) the session stays resumable until
    ``invalid``: meanwhile dispatches are numbered and buffered for the RESUME."""

    def __init__(self, emu: Emulator, ws: web.WebSocketResponse, transport: Any = None) -> None:
        self.emu = emu
        self.ws = ws
        self.transport = transport  # the TCP transport, to drop the connection without a close frame
        self.session_id = secrets.token_hex(16)
        self.seq = 0
        self.intents = 0
        self.large_threshold = 50
        self.token: str | None = None
        self.ready = asyncio.Event()
        self.closed = False
        self.closed_at = 0.0
        self.close_code: int | None = None
        self.invalid = False  # no RESUME possible any more (clean close, non-resumable code, expired, resumed)
        self.zombie = False  # the network ate the link: nothing reaches the client, heartbeats are not ACKed
        self.resumed_from: str | None = None  # the session_id this connection resumed, if it did
        self.taken_over = False  # a RESUME on another connection carries this session on
        self.heartbeats = 0  # heartbeats received on this connection
        self.buffer: deque[tuple[int, str, dict[str, Any]]] = deque(maxlen=emu.resume_buffer)
        # (event, data, seq): seq is set for replayed events, which keep the number they were first given.
        self._queue: asyncio.Queue[tuple[str, dict[str, Any], int | None]] = asyncio.Queue()

    @property
    def resumable(self) -> bool:
        return (
            self.ready.is_set()
            and not self.invalid
            and (not self.closed or time.monotonic() - self.closed_at <= self.emu.resume_window)
        )

    def _number(self, event: str, data: dict[str, Any]) -> int:
        self.seq += 1
        if event != "RESUMED":  # numbered like every dispatch, but never replayed by a later RESUME
            self.buffer.append((self.seq, event, data))
        return self.seq

    async def _send(self, op: int, d: Any, t: str | None = None, *, seq: int | None = None) -> None:
        frame: dict[str, Any] = {"op": op, "d": d, "s": None, "t": t}
        if op == OP_DISPATCH:
            frame["s"] = seq if seq is not None else self._number(t or "", d)
        if self.zombie:
            return  # lost on the way: the client never sees it (a dispatch stays buffered for the RESUME)
        await self.ws.send_str(json.dumps(frame))

    def wants(self, event: str, data: dict[str, Any]) -> bool:
        if event == "MESSAGE_CREATE" or event == "MESSAGE_UPDATE":
            needed = INTENT_GUILD_MESSAGES if "guild_id" in data else INTENT_DM_MESSAGES
            return bool(self.intents & needed)
        if event.startswith("MESSAGE_REACTION_"):
            # "GUILD_MESSAGE_REACTIONS (1 << 10): MESSAGE_REACTION_ADD, MESSAGE_REACTION_REMOVE, ..._REMOVE_ALL,
            # ..._REMOVE_EMOJI", the same under "DIRECT_MESSAGE_REACTIONS (1 << 13)" (Gateway, "List of Intents").
            needed = INTENT_GUILD_MESSAGE_REACTIONS if "guild_id" in data else INTENT_DM_REACTIONS
            return bool(self.intents & needed)
        if event == "THREAD_MEMBERS_UPDATE":
            # "by default only includes if the current user was added to or removed from a thread. To receive
            # these updates for other users, request the GUILD_MEMBERS Gateway Intent" (Gateway, "Caveats").
            me = str(self.emu.bot_user.id)
            about_me = me in data.get("removed_member_ids", ()) or any(
                m.get("user_id") == me for m in data.get("added_members", ())
            )
            return bool(self.intents & INTENT_GUILDS) and (about_me or bool(self.intents & INTENT_MEMBERS))
        needed = _EVENT_INTENTS.get(event)
        return needed is None or bool(self.intents & needed)

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        if not self.resumable or not self.wants(event, data):
            return
        # Numbered now, in dispatch order: what is queued when the connection closes is already in the buffer.
        seq = self._number(event, data)
        if not self.closed:
            self._queue.put_nowait((event, data, seq))

    async def _pump(self) -> None:
        while True:
            event, data, seq = await self._queue.get()
            try:
                await self._send(OP_DISPATCH, data, event, seq=seq)
            except (ConnectionResetError, RuntimeError):
                log.debug("gateway closed while sending %s", event)
                return

    async def run(self) -> None:
        pump = asyncio.create_task(self._pump())
        try:
            await self._send(OP_HELLO, {"heartbeat_interval": self.emu.heartbeat_interval_ms})
            async for msg in self.ws:
                if msg.type is not WSMsgType.TEXT:
                    if msg.type is WSMsgType.ERROR:
                        break
                    continue
                await self._handle(json.loads(msg.data))
        finally:
            self.closed = True
            self.closed_at = time.monotonic()
            if self.close_code is None:
                self.close_code = self.ws.close_code
            if not close_code_resumable(self.close_code):
                self.invalid = True
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            # Events queued but never sent were numbered and buffered when dispatched: a RESUME replays them.
            self.emu._session_closed(self)

    async def request_heartbeat(self) -> None:
        """Op 1 from the gateway: "request an immediate heartbeat from the client" (Gateway, "Heartbeat")."""
        await self._send(OP_HEARTBEAT, None)

    async def request_reconnect(self) -> None:
        """Op 7 RECONNECT: the client should reconnect and resume (Discord sends it before moving a session)."""
        await self._send(OP_RECONNECT, None)

    async def drop(self, code: int | None) -> None:
        """Discord ends the connection: with close ``code``, or (None) the TCP connection just dies."""
        self.close_code = code
        if code is None:
            if self.transport is not None:
                self.transport.abort()
            return
        await self.ws.close(code=code, message=b"emulator: connection dropped")

    async def _handle(self, frame: dict[str, Any]) -> None:
        op, d = frame.get("op"), frame.get("d")
        if op == OP_HEARTBEAT:
            self.heartbeats += 1
            if not self.zombie:
                await self._send(OP_HEARTBEAT_ACK, None)
        elif op == OP_IDENTIFY:
            await self._identify(d or {})
        elif op == OP_RESUME:
            await self._resume(d or {})
        elif op == OP_REQUEST_MEMBERS:
            await self._members_chunk(d or {})
        elif op in (OP_PRESENCE, OP_VOICE):
            pass
        else:
            log.warning("gateway: unhandled op %s", op)

    async def _identify(self, d: dict[str, Any]) -> None:
        self.token = d.get("token")
        self.emu._new_session_identifying(self)
        self.intents = int(d.get("intents") or 0)
        # Discord's range is 50-250 (default 50): above it a guild is "large" and its offline members are not sent.
        self.large_threshold = min(250, max(50, int(d.get("large_threshold") or 50)))
        emu = self.emu
        if self.intents & ~allowed_intents(emu.app_flags):
            # Discord closes the connection with 4014 when a privileged intent is not enabled in the portal.
            await self.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        # A sharded IDENTIFY ("shard": [shard_id, num_shards]) gets the guilds on that shard only:
        # "(guild_id >> 22) % num_shards == shard_id" (Gateway, "Sharding"), and READY echoes the pair.
        shard_id, num_shards = (int(x) for x in (d.get("shard") or [0, 1]))
        if not 0 <= shard_id < num_shards:  # [0, 0], or shard_id >= num_shards: close code 4010
            await self.ws.close(code=4010, message=b"Invalid shard.")
            return
        self.shard = (shard_id, num_shards)  # the emulator routes this shard's guilds (and shard 0 DMs) here
        guilds = [g for g in emu.guilds.values() if (g.id >> 22) % num_shards == shard_id]
        await self._send(
            OP_DISPATCH,
            {
                "v": 10,
                "user": emu.bot_user.payload(),
                "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
                "session_id": self.session_id,
                "resume_gateway_url": emu.gateway_url,
                "shard": [shard_id, num_shards],
                "application": {"id": str(emu.application_id), "flags": emu.app_flags},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "user_settings": {},
            },
            "READY",
        )
        for guild in guilds:
            payload = emu._guild_create_payload(guild, self.intents, self.large_threshold)
            await self._send(OP_DISPATCH, payload, "GUILD_CREATE")
        self.ready.set()
        emu._session_ready(self)

    async def _resume(self, d: dict[str, Any]) -> None:
        """RESUME: replay what the session dispatched after ``seq``, then RESUMED ("Gateway", "Resuming")."""
        old = self.emu._session_by_id(str(d.get("session_id") or ""))
        if old is not None and old.token is not None and d.get("token") != old.token:
            await self.ws.close(code=4004, message=b"Authentication failed.")
            return
        try:
            seq = int(d.get("seq") or 0)
        except (TypeError, ValueError):
            seq = -1
        first = old.buffer[0][0] if old is not None and old.buffer else 1
        if old is None or not old.resumable or seq < first - 1:
            if old is not None:
                old.invalid = True
            log.info("gateway: RESUME of session %s at seq %s refused", d.get("session_id"), d.get("seq"))
            await self._send(OP_INVALID_SESSION, False)
            return
        if seq > old.seq or seq < 0:
            # "4007 Invalid seq: The sequence sent when resuming the session was invalid. Reconnect and start a
            # new session." (Gateway Close Event Codes)
            old.invalid = True
            self.close_code = 4007
            await self.ws.close(code=4007, message=b"Invalid seq.")
            return
        # Take the session over: same id, numbering and buffer; nothing awaited until the replay is queued and
        # this connection is the emulator's session, so an event dispatched meanwhile comes after it.
        old.invalid = True
        old.taken_over = True
        self.session_id, self.buffer = old.session_id, old.buffer
        self.token, self.intents, self.large_threshold = old.token, old.intents, old.large_threshold
        self.resumed_from = old.session_id
        # What the old connection had queued but not sent is in the buffer (numbered at dispatch): replayed.
        while not old._queue.empty():
            old._queue.get_nowait()
        self.seq = old.seq
        for number, event, data in list(self.buffer):
            if number > seq:
                self._queue.put_nowait((event, data, number))
        self._queue.put_nowait(("RESUMED", {}, self._number("RESUMED", {})))
        self.ready.set()
        self.emu._session_ready(self)
        if not old.closed:  # the client left a connection Discord still thinks is open (a zombie): close it
            old.close_code = 4000
            with contextlib.suppress(Exception):
                await old.ws.close(code=4000)

    async def _members_chunk(self, d: dict[str, Any]) -> None:
        """REQUEST_GUILD_MEMBERS: the matching members in GUILD_MEMBERS_CHUNK events of up to 1,000 each."""
        guild = self.emu.guilds.get(int(d.get("guild_id") or 0))
        if guild is None:
            return
        members = list(guild.members.values())
        query = d.get("query") or ""
        if query:
            members = [m for m in members if m.name.lower().startswith(query.lower())]
        if ids := d.get("user_ids"):
            wanted = {int(i) for i in (ids if isinstance(ids, list) else [ids])}
            members = [m for m in members if m.id in wanted]
        if limit := int(d.get("limit") or 0):
            members = members[:limit]
        count = max(1, -(-len(members) // MEMBERS_PER_CHUNK))
        for index in range(count):
            chunk = members[index * MEMBERS_PER_CHUNK : (index + 1) * MEMBERS_PER_CHUNK]
            payload: dict[str, Any] = {
                "guild_id": str(guild.id),
                "members": [m.payload() for m in chunk],
                "chunk_index": index,
                "chunk_count": count,
            }
            if index == 0:
                payload["not_found"] = []
            if d.get("nonce"):
                payload["nonce"] = d["nonce"]
            await self._send(OP_DISPATCH, payload, "GUILD_MEMBERS_CHUNK")


PRIVILEGED_INTENTS = {1 << 1: (1 << 14) | (1 << 15), 1 << 8: (1 << 12) | (1 << 13), 1 << 15: (1 << 18) | (1 << 19)}


def allowed_intents(app_flags: int) -> int:
    """Every intent, less the privileged ones the application's flags do not switch on."""
    allowed = (1 << 26) - 1
    for intent, flags in PRIVILEGED_INTENTS.items():
        if not app_flags & flags:
            allowed &= ~intent
    return allowed
