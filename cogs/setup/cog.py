"""``/setup plan`` and ``/setup apply`` (maintainers): the server template against the live guild."""

from __future__ import annotations

import asyncio
import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.checks import Capability, require
from bot.errors import UserError
from cogs.setup import builder
from cogs.setup import template as templates
from cogs.setup.plan import Plan, Template

if TYPE_CHECKING:
    from bot.core import AtlasBot

MAX_TEXT = 3800  # an embed description holds 4,096 characters; a longer plan goes as a file


def _plan_text(plan: Plan) -> str:
    writes = len(plan.writes)
    head = "Nothing to do: the server matches the template." if not writes else f"{writes} change(s) to make."
    return "\n".join([head, "```diff", *plan.lines(), "```"])


def _clip(text: str) -> tuple[str, discord.File | None]:
    if len(text) <= MAX_TEXT:
        return text, None
    return text[:MAX_TEXT].rsplit("\n", 1)[0] + "\n…(the whole text is attached)", discord.File(
        io.BytesIO(text.encode()), filename="setup.txt"
    )


@app_commands.guild_only()
class SetupCog(commands.GroupCog, group_name="setup", group_description="Build the server from the template"):
    def __init__(self, bot: AtlasBot) -> None:
        self.bot = bot
        self._lock = asyncio.Lock()  # one apply at a time
        super().__init__()

    def _template(self) -> Template:
        try:
            return templates.load(self.bot.config)
        except templates.TemplateError as exc:
            raise UserError(f"The server template cannot be used:\n{str(exc)[:1500]}") from exc

    def _builder(self) -> builder.Builder:
        guild = self.bot.live_guild()
        return builder.Builder(guild, self.bot.sessions, self.bot.config, self._template(), self.bot.clock.now)

    @app_commands.command(name="plan", description="What setup would create, adopt or change (maintainers)")
    @require(Capability.MANAGE_COMMUNITY)
    async def plan(self, interaction: discord.Interaction) -> None:
        plan = await self._builder().plan()
        text, file = _clip(_plan_text(plan))
        embed = discord.Embed(title="Server setup: the plan", description=text)
        if file is not None:
            await interaction.response.send_message(embed=embed, file=file, ephemeral=True)
        else:
            await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(
        name="apply", description="Create and adopt the template's roles and channels (maintainers)"
    )
    @require(Capability.MANAGE_COMMUNITY)
    async def apply(self, interaction: discord.Interaction) -> None:
        build = self._builder()
        if self._lock.locked():
            raise UserError("Setup is already running; wait for it to finish.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self._lock:
            report = await build.apply(on_role=self.bot.community.remember)
        self.bot.channel_ids.update(report.recorded)
        lines = report.done or ["Nothing to do: the server already matches the template."]
        text = "\n".join(f"- {line}" for line in lines)
        if report.stopped:
            text = f"{report.stopped}\n\nDone before it stopped:\n{text}"
        if notes := report.notes():
            text = "\n".join(notes) + f"\n\nDone:\n{text}"
        text, file = _clip(text)
        title = "Server setup: stopped" if report.stopped else "Server setup: done"
        if report.failed:
            title = "Server setup: partly done"
        embed = discord.Embed(title=title, description=text)
        if file is not None:
            await interaction.followup.send(embed=embed, file=file, ephemeral=True)
        else:
            await interaction.followup.send(embed=embed, ephemeral=True)
