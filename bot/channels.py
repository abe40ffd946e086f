"""Which channel a feature uses, by purpose key (``welcome``, ``qa_forum``, ``reports``, ...): one resolver for the
whole bot.

An id in config.toml (``[channels] <key>``) wins; else the channel server setup created or adopted for that key
(``setup_channels``, written by cogs/setup); else 0, "not configured", which each feature already explains. The
recorded ids are read from the database at start and refreshed whenever setup records new ones, so a lookup is a
dict read on the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from sqlalchemy import select

from models import SetupChannel

if TYPE_CHECKING:
    from bot.core import AtlasBot


class ChannelIds:
    def __init__(self, bot: AtlasBot) -> None:
        self.bot = bot
        self.recorded: dict[str, int] = {}

    def id(self, key: str) -> int:
        """The channel id for ``key``, 0 when neither config.toml nor setup gives one."""
        configured = int(getattr(self.bot.config.channels, key, 0) or 0)
        return configured or self.recorded.get(key, 0)

    def configured(self, key: str) -> bool:
        return bool(getattr(self.bot.config.channels, key, 0))

    async def load(self) -> None:
        async with self.bot.sessions() as session:
            rows = await session.execute(
                select(SetupChannel.key, SetupChannel.channel_id).where(SetupChannel.guild_id == self.bot.guild_id)
            )
            self.recorded = {key: channel_id for key, channel_id in rows.all()}

    def update(self, recorded: Mapping[str, int]) -> None:
        self.recorded.update(recorded)
