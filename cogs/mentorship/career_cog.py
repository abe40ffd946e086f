"""/career: the configured career resources ([mentorship] career_resources), and with ``ask`` a request for a
career conversation, matched at once to a willing mentor with the mentorship optimiser; the pair gets a private
thread and a kickoff like a mentorship pair (its Discord steps are the MentorCog's)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import UserError
from bot.members import get_member
from cogs.mentorship import career
from cogs.mentorship.service import MentorError

if TYPE_CHECKING:
    from bot.core import AtlasBot
    from cogs.mentorship.cog import MentorCog


class CareerCog(commands.Cog):
    def __init__(self, bot: AtlasBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="career", description="Career resources, and ask for a career conversation")
    @app_commands.describe(ask="What you would like to talk about with a mentor (asks for a career conversation)")
    @app_commands.guild_only()
    async def career(self, interaction: discord.Interaction, ask: app_commands.Range[str, 0, 300] = "") -> None:
        resources = self.bot.config.mentorship.career_resources
        embed = discord.Embed(title="Career guidance", colour=discord.Colour.blurple())
        for name, value in list(resources.items())[:25]:
            embed.add_field(name=name[:256], value=value[:1024] or "—", inline=False)
        if not ask.strip():
            embed.set_footer(text="Want to talk it through? /career ask: … matches you with a willing mentor.")
            await interaction.response.send_message(embed=embed, ephemeral=True)
            return
        mentors: MentorCog | None = self.bot.get_cog("MentorCog")  # type: ignore[assignment]
        if mentors is None:
            raise UserError("Mentorship is not running right now; try again shortly.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            async with self.bot.sessions.begin() as session:
                result = await career.request_talk(
                    session,
                    self.bot.guild_id,
                    await get_member(session, self.bot.guild_id, interaction.user.id),
                    ask,
                    self.bot.clock.now(),
                    self.bot.config.onboarding.skill_levels,
                    mentors.pair_channel_id,
                )
        except MentorError as exc:
            raise UserError(exc.message) from None
        if result.pair_id is None:
            await interaction.followup.send(
                f"No mentor could take a career conversation now ({result.reason}). Try again later; meanwhile "
                "the resources above are a start.",
                embed=embed,
                ephemeral=True,
            )
            return
        try:
            await mentors.form_pair(result.pair_id)
        except discord.HTTPException:
            await interaction.followup.send(
                "You are matched with a mentor, but Discord refused the thread for now; it is retried in 10 "
                "minutes.",
                ephemeral=True,
            )
            return
        async with self.bot.sessions() as session:
            from cogs.mentorship.service import pair_view

            pair = await pair_view(session, result.pair_id)
        where = f" <#{pair.thread_id}>" if pair is not None and pair.thread_id else ""
        await interaction.followup.send(
            f"You are matched for a career conversation: see your private thread{where}.",
            embed=embed,
            ephemeral=True,
        )
