"""The /officehours commands: scheduling (one-off or weekly, in the host's own time zone), the native event and
the announcement with RSVP buttons, cancelling and rescheduling, questions ahead. The live commands (start, end)
come in from ``live_cog.LiveCommands``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord import app_commands
from discord.ext import commands

from cogs.officehours.live_cog import LiveCommands

if TYPE_CHECKING:
    from bot.core import AtlasBot


@app_commands.guild_only()
class OfficeHoursCog(
    LiveCommands,
    commands.GroupCog,
    group_name="officehours",
    group_description="Office hours: scheduled sessions with RSVPs, a live queue and follow-up",
):
    def __init__(self, bot: AtlasBot) -> None:
        self.bot = bot
        self.config = bot.config.office_hours
        super().__init__()

    async def cog_load(self) -> None:
        await self.live_load()

    async def cog_unload(self) -> None:
        await self.live_unload()
