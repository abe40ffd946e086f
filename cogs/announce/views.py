"""The /announce schedule components: the modal that takes the message, and the preview's Confirm / Cancel
buttons. They hold the draft in memory only until the maintainer confirms (an unconfirmed preview is not worth
keeping across a restart: Discord's interaction tokens do not outlive it for long either)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import ui

from bot.errors import handle_interaction_error

Submit = Callable[[discord.Interaction, str], Awaitable[None]]
Decide = Callable[[discord.Interaction], Awaitable[None]]

# Replies and posts echo member text: nothing in them pings unless a send names its one deliberate mention.
NO_MENTIONS = discord.AllowedMentions.none()
BODY_MAX = 1800  # a post is the role mention (about 25 characters) plus this, under Discord's 2,000


class MessageModal(ui.Modal, title="Announcement"):
    body: ui.TextInput[MessageModal] = ui.TextInput(
        label="Message", custom_id="announce:body", style=discord.TextStyle.paragraph, max_length=BODY_MAX
    )

    def __init__(self, submit: Submit, default: str | None = None) -> None:
        super().__init__(timeout=900)
        self._submit = submit
        if default is not None:
            self.body.default = default

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self._submit(interaction, self.body.value)

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await handle_interaction_error(interaction, error, "modal announce:body")


class ConfirmView(ui.View):
    """Confirm / Cancel under a preview, for the one member who asked for it."""

    def __init__(self, owner_id: int, confirm: Decide) -> None:
        super().__init__(timeout=900)
        self._owner_id = owner_id
        self._confirm = confirm
        self._done = False

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return interaction.user.id == self._owner_id

    @ui.button(label="Confirm", style=discord.ButtonStyle.success, custom_id="announce:confirm")
    async def confirm(self, interaction: discord.Interaction, _button: ui.Button[Any]) -> None:
        if self._done:  # a second click while the first is being written
            await interaction.response.send_message("Already done.", ephemeral=True)
            return
        self._done = True
        self.stop()
        await self._confirm(interaction)

    @ui.button(label="Cancel", style=discord.ButtonStyle.secondary, custom_id="announce:discard")
    async def discard(self, interaction: discord.Interaction, _button: ui.Button[Any]) -> None:
        self._done = True
        self.stop()
        await interaction.response.edit_message(content="Not scheduled.", embed=None, view=None)

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: ui.Item[Any]) -> None:
        await handle_interaction_error(interaction, error, f"component {getattr(item, 'custom_id', '?')}")
