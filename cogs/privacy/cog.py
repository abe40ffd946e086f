"""/privacy export and /privacy delete on Discord: the glue around ``service`` and the ``bot.privacy`` registry.

Who sees a profile is chosen with ``/profile edit visibility:`` (the onboarding cog, which shows profiles).
The delete confirmation is a dynamic button carrying the member's id and the time it was offered, so it still
works after a restart, only for the member who asked, and only for a few minutes.
"""

from __future__ import annotations

import io
import logging
import re
from datetime import timedelta
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cooldowns import cooldown
from bot.errors import UserError, handle_interaction_error
from cogs.privacy import service

if TYPE_CHECKING:
    from bot.core import AtlasBot

log = logging.getLogger(__name__)

# A confirmation left open longer than this must be asked for again.
CONFIRM_WINDOW = timedelta(minutes=10)


class DeleteButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"privacy:del:(?P<action>yes|no):(?P<user>\d{1,20}):(?P<at>\d{1,12})",
):
    def __init__(self, action: str, user_id: int, at: int) -> None:
        yes = action == "yes"
        super().__init__(
            discord.ui.Button(
                label="Delete my data" if yes else "Keep it",
                style=discord.ButtonStyle.danger if yes else discord.ButtonStyle.secondary,
                custom_id=f"privacy:del:{action}:{user_id}:{at}",
            )
        )
        self.action, self.user_id, self.at = action, user_id, at

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> DeleteButton:
        return cls(match["action"], int(match["user"]), int(match["at"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            bot: AtlasBot = interaction.client  # type: ignore[assignment]
            cog = bot.get_cog("PrivacyCog")
            if not isinstance(cog, PrivacyCog):
                raise UserError("Privacy commands are not running right now; try again shortly.")
            await cog.confirm_delete(interaction, self.action == "yes", self.user_id, self.at)
        except Exception as exc:
            await handle_interaction_error(interaction, exc, "privacy delete button")


class PrivacyCog(commands.Cog):
    privacy = app_commands.Group(name="privacy", description="What Atlas stores about you", guild_only=True)

    def __init__(self, bot: AtlasBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(DeleteButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(DeleteButton)

    @privacy.command(name="export", description="Get everything Atlas stores about you, as a file only you see")
    @cooldown(2, 600)  # reads the member's whole ledger: not something to repeat
    async def export(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        now = self.bot.clock.now()
        async with self.bot.sessions() as session:
            data = await service.export_member(
                session, self.bot.member_data.handlers(), self.bot.guild_id, interaction.user.id, now
            )
        if data is None:
            raise UserError("Atlas stores nothing about you.")
        encoded = service.encode_export(data, interaction.filesize_limit)
        if encoded is None:
            log.warning("export of member %s exceeds the upload limit even compressed", interaction.user.id)
            raise UserError("Your data is larger than Discord lets me attach; please ask a maintainer for it.")
        blob, filename = encoded
        note = " (compressed: it was too large for Discord as plain JSON)" if filename.endswith(".gz") else ""
        await interaction.followup.send(
            f"Here is everything Atlas stores about you{note}. Only you can see this message.",
            file=discord.File(io.BytesIO(blob), filename=filename),
            ephemeral=True,
        )

    @privacy.command(name="delete", description="Delete your profile and personal data (asks you to confirm)")
    @cooldown(3, 60)
    async def delete(self, interaction: discord.Interaction) -> None:
        at = int(self.bot.clock.now().timestamp())
        view = discord.ui.View(timeout=None)
        view.add_item(DeleteButton("yes", interaction.user.id, at))
        view.add_item(DeleteButton("no", interaction.user.id, at))
        await interaction.response.send_message(
            "This deletes your profile (time zone, goals, hours, language, skill, style), your journey and its "
            "history, your badges and your recognition settings, and cancels messages Atlas still had to send "
            "you. Your points stay in the community's totals without your name, so the leaderboards stay "
            "consistent. Your roles in the server are not changed. This cannot be undone.",
            view=view,
            ephemeral=True,
        )

    async def confirm_delete(self, interaction: discord.Interaction, yes: bool, user_id: int, at: int) -> None:
        if interaction.user.id != user_id:
            raise UserError("This confirmation belongs to someone else.")
        if not yes:
            await interaction.response.edit_message(content="Nothing was deleted.", view=None)
            return
        now = self.bot.clock.now()
        if now.timestamp() - at > CONFIRM_WINDOW.total_seconds():
            raise UserError("This confirmation has expired; run `/privacy delete` again.")
        async with self.bot.sessions.begin() as session:
            erased = await service.erase_member(
                session, self.bot.member_data.handlers(), self.bot.guild_id, user_id, now
            )
        if erased is None:
            text = "Atlas stores nothing about you any more."
        else:
            log.info(
                "member data erased for members.id %s (%d reminders cancelled)",
                erased.member_id,
                erased.reminders_cancelled,
            )
            text = "Your profile and personal data are deleted. Thank you for having been part of the community."
        await interaction.response.edit_message(content=text, view=None)
