"""/atlas about, status and sync: what the bot is, and whether its machinery is healthy."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.checks import Capability, require
from bot.cooldowns import cooldown
from bot.timefmt import discord_ts
from cogs.meta import service

if TYPE_CHECKING:
    from bot.core import AtlasBot


class MetaCog(commands.Cog):
    atlas = app_commands.Group(name="atlas", description="About the Atlas bot itself", guild_only=True)

    def __init__(self, bot: AtlasBot) -> None:
        self.bot = bot
        self.started_at = bot.clock.now()

    @atlas.command(name="about", description="What this bot does and how to get started")
    async def about(self, interaction: discord.Interaction) -> None:
        embed = discord.Embed(
            title=f"{self.bot.config.bot.name}: learn, contribute, teach",
            description=(
                "I organise this community's learning journey: onboarding, study groups, office hours, "
                "Q&A, mentorship and recognition. Start with `/onboard` if you have not yet."
            ),
            colour=discord.Colour.blurple(),
        )
        embed.add_field(name="Running since", value=discord_ts(self.started_at, "R"))
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @atlas.command(name="status", description="Reminders and scheduled jobs (maintainers)")
    @require(Capability.MANAGE_COMMUNITY)
    async def status(self, interaction: discord.Interaction) -> None:
        async with self.bot.sessions() as session:
            report = await service.status(session, self.bot.guild_id)
        embed = discord.Embed(title="Atlas status", colour=discord.Colour.dark_teal())
        embed.add_field(name="Members known", value=str(report.members))
        counts = ", ".join(f"{state}: {n}" for state, n in sorted(report.reminders_by_state.items())) or "none"
        embed.add_field(name="Reminders", value=counts)
        if report.next_reminder_at:
            embed.add_field(name="Next reminder", value=discord_ts(report.next_reminder_at, "R"))
        jobs = "\n".join(
            f"`{name}` last {discord_ts(at, 'R')}" + (" ⚠️ failed" if err else "") for name, at, err in report.jobs
        )
        embed.add_field(name="Recurring jobs", value=jobs[:1024] or "none yet", inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @atlas.command(name="sync", description="Sync slash commands now, even if unchanged (maintainers)")
    @cooldown(1, 60)  # Discord rate-limits syncs: a second one within the minute would only be slowed
    @require(Capability.MANAGE_COMMUNITY)
    async def sync(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.bot.sync_commands(force=True)
        await interaction.followup.send("Slash commands synced.", ephemeral=True)
