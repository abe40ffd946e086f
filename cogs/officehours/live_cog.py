"""Office hours live: /officehours start and end (mixed into ``cog.OfficeHoursCog``), the /queue cog, and the
voice-state listener that expires queue entries and records attendance."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord import app_commands
from discord.ext import commands

if TYPE_CHECKING:
    from bot.config import OfficeHoursSection
    from bot.core import AtlasBot


class LiveCommands:
    bot: AtlasBot
    config: OfficeHoursSection

    async def live_load(self) -> None:
        """Registers the live side's jobs and reminder kinds."""

    async def live_unload(self) -> None:
        """Undoes ``live_load``."""


@app_commands.guild_only()
class QueueCog(commands.GroupCog, group_name="queue", group_description="The live office-hours queue"):
    def __init__(self, bot: AtlasBot) -> None:
        self.bot = bot
        self.config = bot.config.office_hours
        super().__init__()
