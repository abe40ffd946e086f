"""Every private seam of discord.py the project touches, in one module.

discord.py is pinned to 2.7.*; if a minor release moves one of these attributes, this is the only file to fix.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import yarl
from discord import Client
from discord.app_commands import Command
from discord.gateway import DiscordWebSocket
from discord.http import Route
from discord.voice_client import VoiceClient

DISCORD_API_BASE = "https://discord.com/api/v10"
DISCORD_GATEWAY = "wss://gateway.discord.gg/"


def point_discord_at(api_base: str | None, gateway: str | None = None) -> None:
    """Point discord.py's REST base and gateway at another server (the emulator or a self-hosted proxy).

    ``api_base`` like ``http://127.0.0.1:8123/api/v10``; the gateway defaults to the same host with ``ws://``
    and path ``/gateway``. ``None`` restores Discord. A non-sharded client never asks ``GET /gateway/bot``, so
    both seams must move together.
    """
    if not api_base:
        Route.BASE = DISCORD_API_BASE
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(DISCORD_GATEWAY)
        return
    base = api_base.rstrip("/")
    if gateway is None:
        url = yarl.URL(base)
        scheme = "wss" if url.scheme == "https" else "ws"
        gateway = str(url.with_scheme(scheme).with_path("/gateway"))
    Route.BASE = base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)


def drop_intent(client: Client, name: str) -> None:
    """Stop asking for one intent before the gateway connects (IDENTIFY reads ``state._intents``; the public
    ``client.intents`` is a copy)."""
    setattr(client._connection._intents, name, False)


def filter_interactions(client: Client, func: Callable[[dict[str, Any]], None]) -> None:
    """Run ``func`` on every raw INTERACTION_CREATE payload before discord.py parses it: the one place every
    slash-command option, autocomplete input, modal field and component value passes through, whichever cog,
    view or modal then handles it. (discord.py has no public hook ahead of its own parsing; the gateway reads
    its handlers from this dict at each event.)"""
    parsers: dict[str, Callable[[Any], None]] = client._connection.parsers
    parse = parsers["INTERACTION_CREATE"]

    def filtered(data: Any) -> None:
        func(data)
        parse(data)

    parsers["INTERACTION_CREATE"] = filtered


def set_option_range(
    command: Command[Any, ..., Any], name: str, *, min_value: float | None, max_value: float | None
) -> None:
    """Change the synced range of one of ``command``'s options (``Range[...]`` is fixed when the class is defined,
    before the config is known). ``command`` is a cog instance's own copy, whose parameter dict is its own, so the
    class-level command and other bot instances are untouched."""
    params = command._params
    params[name] = dataclasses.replace(params[name], min_value=min_value, max_value=max_value)


def silence_voice_warnings() -> None:
    """The bot never joins voice: drop discord.py's start-up warnings that PyNaCl and davey are missing.

    ``discord.Client.__init__`` logs each once per process, guarded by these class flags.
    """
    VoiceClient.warn_nacl = False
    VoiceClient.warn_dave = False


class _ReadyGuilds(asyncio.Queue[Any]):
    """discord.py's queue of guilds arriving after READY, which also knows which guilds READY listed.

    discord.py (``ConnectionState._delay_ready``) takes guilds from this queue until a ``get`` waits longer than
    ``guild_ready_timeout`` (2 s by default) and only then chunks members and fires ``on_ready``: every start
    paid the full 2 s even though READY says exactly which guilds will follow. Once each of them has arrived and
    been taken, ``get`` ends the wait at once the way the timeout would (``TimeoutError``)."""

    def __init__(self, expected: set[int]) -> None:
        super().__init__()
        self._waiting_for = set(expected)

    def put_nowait(self, item: Any) -> None:
        self._waiting_for.discard(getattr(item, "id", None))
        super().put_nowait(item)

    async def get(self) -> Any:
        if self.empty() and not self._waiting_for:
            raise TimeoutError  # what discord.py catches (asyncio.TimeoutError is this since 3.11)
        return await super().get()


def ready_when_guilds_arrive(client: Client) -> None:
    """Fire ``on_ready`` as soon as every guild READY listed has arrived (its GUILD_CREATE parsed), instead of
    after discord.py's fixed ``guild_ready_timeout`` of quiet. A guild that never arrives (an outage) still ends
    the wait by that timeout, as before. Non-sharded clients only (sharded ones keep one queue per shard)."""
    state = client._connection
    parse_ready = state.parsers["READY"]

    def ready(data: Any) -> None:
        parse_ready(data)  # makes a fresh queue and schedules _delay_ready, which has not run yet
        if isinstance(getattr(state, "_ready_state", None), asyncio.Queue):
            state._ready_state = _ReadyGuilds({int(g["id"]) for g in data.get("guilds", ())})

    state.parsers["READY"] = ready
