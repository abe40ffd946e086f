"""The gateway websocket: HELLO, IDENTIFY, READY, GUILD_CREATE, heartbeats, and event dispatch.

discord.py asks for ``compress=zlib-stream`` but also reads plain JSON text frames, so every frame is sent as text.
Events go through a per-session queue so that synchronous test helpers (``emu.join``) can dispatch and order is
kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from .api import Emulator

log = logging.getLogger("bot.emulator.gateway")

OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_PRESENCE, OP_VOICE, OP_RESUME = 0, 1, 2, 3, 4, 6
OP_REQUEST_MEMBERS, OP_INVALID_SESSION, OP_HELLO, OP_HEARTBEAT_ACK = 8, 9, 10, 11

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


class GatewaySession:
    """One bot connection. ``ready`` is set once READY and every GUILD_CREATE have been sent."""

    def __init__(self, emu: Emulator, ws: web.WebSocketResponse) -> None:
        self.emu = emu
        self.ws = ws
        self.session_id = secrets.token_hex(16)
        self.seq = 0
        self.intents = 0
        self.large_threshold = 50
        self.token: str | None = None
        self.ready = asyncio.Event()
        self.closed = False
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    async def _send(self, op: int, d: Any, t: str | None = None) -> None:
        frame: dict[str, Any] = {"op": op, "d": d, "s": None, "t": t}
        if op == OP_DISPATCH:
            self.seq += 1
            frame["s"] = self.seq
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
        if self.closed or not self.ready.is_set() or not self.wants(event, data):
            return
        self._queue.put_nowait((event, data))

    async def _pump(self) -> None:
        while True:
            event, data = await self._queue.get()
            try:
                await self._send(OP_DISPATCH, data, event)
            except (ConnectionResetError, RuntimeError):
                log.debug("gateway closed while sending %s", event)
                return

    async def run(self) -> None:
        pump = asyncio.create_task(self._pump())
        try:
            await self._send(OP_HELLO, {"heartbeat_interval": HEARTBEAT_INTERVAL_MS})
            async for msg in self.ws:
                if msg.type is not WSMsgType.TEXT:
                    if msg.type is WSMsgType.ERROR:
                        break
                    continue
                await self._handle(json.loads(msg.data))
        finally:
            self.closed = True
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            self.emu._session_closed(self)

    async def _handle(self, frame: dict[str, Any]) -> None:
        op, d = frame.get("op"), frame.get("d")
        if op == OP_HEARTBEAT:
            await self._send(OP_HEARTBEAT_ACK, None)
        elif op == OP_IDENTIFY:
            await self._identify(d or {})
        elif op == OP_RESUME:
            # Sessions are not kept across connections; discord.py then identifies afresh.
            await self._send(OP_INVALID_SESSION, False)
        elif op == OP_REQUEST_MEMBERS:
            await self._members_chunk(d or {})
        elif op in (OP_PRESENCE, OP_VOICE):
            pass
        else:
            log.warning("gateway: unhandled op %s", op)

    async def _identify(self, d: dict[str, Any]) -> None:
        self.token = d.get("token")
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
