"""Reports' Discord pieces: the reason form, the moderators' Resolve button and its note form.

The button is a ``DynamicItem`` whose custom id carries the report's id, so it works after a restart. The forms
only carry what they act on; every decision (who may resolve, whether it was resolved already) is taken again
when a form is submitted.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import ui

from bot.errors import UserError, handle_interaction_error
from cogs.reports.service import NOTE_MAX, REASON_MAX

if TYPE_CHECKING:
    from bot.core import AtlasBot


def _cog(interaction: discord.Interaction) -> Any:
    bot: AtlasBot = interaction.client  # type: ignore[assignment]
    cog = bot.get_cog("ReportsCog")
    if cog is None:
        raise UserError("Reports are not running right now; try again shortly.")
    return cog


class ReasonModal(ui.Modal, title="Report to moderators"):
    reason: ui.TextInput[ReasonModal] = ui.TextInput(
        label="What is wrong with this message?",
        custom_id="report:reason:text",
        style=discord.TextStyle.paragraph,
        placeholder="Only the moderators see your report and your name.",
        min_length=1,
        max_length=REASON_MAX,
    )

    def __init__(self, message: discord.Message, nonce: int) -> None:
        # discord.py keeps open modals by custom id alone: ``nonce`` (the opening interaction's id) keeps two
        # forms open at once (two members, or one member twice) from replacing each other.
        super().__init__(custom_id=f"report:reason:{message.id}:{nonce}")
        self.message = message

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await _cog(interaction).file(interaction, self.message, self.reason.value)

    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:
        await handle_interaction_error(interaction, error, "report reason form")


class NoteModal(ui.Modal, title="Resolve the report"):
    note: ui.TextInput[NoteModal] = ui.TextInput(
        label="What was done (optional)",
        custom_id="report:note:text",
        style=discord.TextStyle.paragraph,
        placeholder="e.g. Message removed, member warned by DM.",
        required=False,
        max_length=NOTE_MAX,
    )

    def __init__(self, report_id: int, nonce: int) -> None:
        super().__init__(custom_id=f"report:note:{report_id}:{nonce}")  # nonce: as ReasonModal's
        self.report_id = report_id

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await _cog(interaction).resolve(interaction, self.report_id, self.note.value or "")

    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:
        await handle_interaction_error(interaction, error, "report resolve form")


class ResolveButton(discord.ui.DynamicItem[discord.ui.Button], template=r"report:resolve:(?P<id>\d{1,18})"):
    def __init__(self, report_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Resolve", style=discord.ButtonStyle.success, custom_id=f"report:resolve:{report_id}"
            )
        )
        self.report_id = report_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> ResolveButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await _cog(interaction).resolve_clicked(interaction, self.report_id)
        except Exception as exc:
            await handle_interaction_error(interaction, exc, "report resolve button")


def resolve_view(report_id: int) -> ui.View:
    view = ui.View(timeout=None)
    view.add_item(ResolveButton(report_id))
    return view
