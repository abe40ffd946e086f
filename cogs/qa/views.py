"""The /ask modal (title and body) and the confirm step that shows similar solved questions before posting."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.errors import handle_interaction_error
from bot.text import is_blank

Post = Callable[[discord.Interaction, str, str, list[str]], Awaitable[None]]
Check = Callable[[discord.Interaction, str, str, list[str]], Awaitable[None]]


class AskModal(discord.ui.Modal, title="Ask a question"):
    question_title: discord.ui.TextInput[AskModal] = discord.ui.TextInput(
        label="Title",
        placeholder="One line: what do you want to know?",
        min_length=5,
        max_length=100,
        custom_id="qa:ask:title",
    )
    body: discord.ui.TextInput[AskModal] = discord.ui.TextInput(
        label="Details",
        style=discord.TextStyle.paragraph,
        placeholder="What you tried, what happened, what you expected",
        min_length=10,
        # The post is one message (2,000 characters at most) that also names the asker.
        max_length=1800,
        custom_id="qa:ask:body",
    )

    def __init__(self, tags: list[str], then: Check) -> None:
        super().__init__()
        self.tags = tags
        self.then = then

    async def on_submit(self, interaction: discord.Interaction) -> None:
        title, body = self.question_title.value.strip(), self.body.value.strip()
        if is_blank(title) or is_blank(body):
            await interaction.response.send_message(
                "The title and the details need some visible text. Run /ask again.", ephemeral=True
            )
            return
        await self.then(interaction, title, body, self.tags)

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        # The one error rule (a UserError is the member's clear ephemeral reply), as for commands.
        await handle_interaction_error(interaction, error, "the /ask modal")


class ConfirmAsk(discord.ui.View):
    """Shown (ephemeral) with similar solved questions: post anyway, or stop here. Only the asker sees it."""

    def __init__(self, title: str, body: str, tags: list[str], post: Post) -> None:
        super().__init__(timeout=900)
        self.title, self.body, self.tags, self.post = title, body, tags, post
        self.done = False

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await handle_interaction_error(interaction, error, f"component {getattr(item, 'custom_id', '?')}")

    @discord.ui.button(label="Post my question", style=discord.ButtonStyle.primary, custom_id="qa:ask:post")
    async def post_anyway(self, interaction: discord.Interaction, _button: discord.ui.Button[ConfirmAsk]) -> None:
        if self.done:
            await interaction.response.send_message("This question was posted already.", ephemeral=True)
            return
        self.done = True
        self.stop()
        await self.post(interaction, self.title, self.body, self.tags)

    @discord.ui.button(
        label="One of these answers it", style=discord.ButtonStyle.secondary, custom_id="qa:ask:stop"
    )
    async def stop_here(self, interaction: discord.Interaction, _button: discord.ui.Button[ConfirmAsk]) -> None:
        self.done = True
        self.stop()
        await interaction.response.edit_message(
            content="Glad it is answered already. Nothing was posted.", view=None
        )
