"""The /cohort commands: joining the pool, forming cohorts (preview, confirm), status. The weekly life's commands,
buttons and listeners come in from ``weekly_cog.WeeklyCommands``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord import app_commands
from discord.ext import commands

from cogs.cohorts.weekly_cog import WeeklyCommands

if TYPE_CHECKING:
    from bot.core import AtlasBot


@app_commands.guild_only()
class CohortCog(
    WeeklyCommands,
    commands.GroupCog,
    group_name="cohort",
    group_description="Study groups matched by time zone, skill and commitment",
):
    def __init__(self, bot: AtlasBot) -> None:
        self.bot = bot
        self.config = bot.config.cohorts
        super().__init__()

    async def cog_load(self) -> None:
        await self.weekly_load()

    async def cog_unload(self) -> None:
        await self.weekly_unload()
