"""/stewardship on Discord: four weeks of volunteer work per person, heaviest load first, with a note on who
carries most (``service`` reads the ledger, ``aggregate`` weighs it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.checks import Capability, require
from bot.timefmt import discord_ts
from cogs.stewardship import aggregate, service

if TYPE_CHECKING:
    from bot.core import AtlasBot

SHOWN = 20  # people listed; the rest are counted in one line (the embed stays well under 4,096 characters)


class StewardshipCog(commands.Cog):
    def __init__(self, bot: AtlasBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="stewardship", description="Who carried the volunteer work in the last 4 weeks (maintainers)"
    )
    @app_commands.guild_only()
    @require(Capability.MANAGE_COMMUNITY)
    async def stewardship(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        now = self.bot.clock.now()
        async with self.bot.sessions() as session:
            stewards, people = await service.stewardship(session, self.bot.guild_id, now)

        def name(member_id: int) -> str:
            person = people.get(member_id)
            if person is None or person.erased:
                return "a former member"
            return f"<@{person.discord_id}>"

        embed = discord.Embed(
            title="Stewardship: the last 4 weeks",
            colour=discord.Colour.blurple(),
            description=aggregate.carry_note(stewards, {s.member_id: name(s.member_id) for s in stewards}),
        )
        lines = []
        for rank, (steward, share) in enumerate(zip(stewards, aggregate.shares(stewards), strict=True), 1):
            if rank > SHOWN:
                lines.append(f"… and {len(stewards) - SHOWN} more people.")
                break
            lines.append(f"{rank}. {name(steward.member_id)}: {round(share * 100)}% ({steward.summary()})")
        if lines:
            embed.description = (embed.description or "") + "\n\n" + "\n".join(lines)
        embed.set_footer(
            text="Load weighs each piece by rough hours: office hour 3, cohort 4, review 2, mentoring 2, answer 1."
        )
        embed.add_field(name="Since", value=discord_ts(now - service.WINDOW, "D"))
        await interaction.followup.send(
            embed=embed, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )
