"""Every private seam of discord.py the project touches, in one module.

discord.py is pinned to 2.7.*; if a minor release moves one of these attributes, this is the only file to fix.
"""

from __future__ import annotations

import yarl
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


def silence_voice_warnings() -> None:
    """The bot never joins voice: drop discord.py's start-up warnings that PyNaCl and davey are missing.

    ``discord.Client.__init__`` logs each once per process, guarded by these class flags.
    """
    VoiceClient.warn_nacl = False
    VoiceClient.warn_dave = False
