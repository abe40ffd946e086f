"""The follow-up's components: the 1-5 rating buttons and the comment button on an attendee's DM, and the comment
modal. Every custom_id carries the session's id, so the buttons work after a restart; the work is the cog's
(``live_cog.LiveCommands``)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import discord
from discord import ui

from bot import text
from bot.errors import UserError, handle_interaction_error

if TYPE_CHECKING:
    from cogs.officehours.live_cog import LiveCommands

COMMENT_MODAL_ID = "oh:comment"
COMMENT_INPUT = re.compile(r"^oh:comment:(\d+)$")


def _cog(interaction: discord.Interaction) -> LiveCommands:
    from cogs.officehours.live_cog import LiveCommands

    cog = interaction.client.get_cog("OfficeHoursCog")  # type: ignore[attr-defined]
    if not isinstance(cog, LiveCommands):
        raise UserError("Office hours are not running right now; try again shortly.")
    return cog


class RatingButton(ui.DynamicItem[ui.Button], template=r"oh:rate:(?P<o>\d{1,18}):(?P<r>[1-5])"):
    def __init__(self, office_hour_id: int, rating: int) -> None:
        super().__init__(
            ui.Button(
                label=str(rating),
                style=discord.ButtonStyle.secondary,
                custom_id=f"oh:rate:{office_hour_id}:{rating}",
            )
        )
        self.office_hour_id, self.rating = office_hour_id, rating

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Button, match: re.Match[str], /
    ) -> RatingButton:
        return cls(int(match["o"]), int(match["r"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await _cog(interaction).rate(interaction, self.office_hour_id, self.rating)
        except Exception as exc:
            await handle_interaction_error(interaction, exc, "office hour rating")


class CommentButton(ui.DynamicItem[ui.Button], template=r"oh:cmt:(?P<o>\d{1,18})"):
    def __init__(self, office_hour_id: int) -> None:
        super().__init__(
            ui.Button(
                label="Add a comment", style=discord.ButtonStyle.primary, custom_id=f"oh:cmt:{office_hour_id}"
            )
        )
        self.office_hour_id = office_hour_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Button, match: re.Match[str], /
    ) -> CommentButton:
        return cls(int(match["o"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await _cog(interaction).open_comment(interaction, self.office_hour_id)
        except Exception as exc:
            await handle_interaction_error(interaction, exc, "office hour comment")


DYNAMIC_ITEMS = (RatingButton, CommentButton)


def feedback_view(office_hour_id: int) -> ui.View:
    view = ui.View(timeout=None)
    for rating in range(1, 6):
        view.add_item(RatingButton(office_hour_id, rating))
    view.add_item(CommentButton(office_hour_id))
    return view


class CommentModal(ui.Modal, title="Your feedback on the office hour"):
    """One registered instance (static custom_id) answers every comment, before and after a restart: the session
    is in the text input's custom_id of the submission itself."""

    def __init__(self, office_hour_id: int = 0) -> None:
        super().__init__(custom_id=COMMENT_MODAL_ID, timeout=None)
        self.add_item(
            ui.TextInput(
                label="Comment (what helped, what could be better)",
                style=discord.TextStyle.paragraph,
                required=True,
                max_length=1000,
                custom_id=f"oh:comment:{office_hour_id}",
            )
        )

    def stop(self) -> None:
        """Stay registered: one custom_id serves every comment (discord.py drops a modal after a submit)."""

    async def on_submit(self, interaction: discord.Interaction) -> None:
        for custom_id, value in text.modal_values(interaction.data).items():  # type: ignore[arg-type]
            match = COMMENT_INPUT.match(custom_id)
            if match:
                await _cog(interaction).save_comment(interaction, int(match[1]), text.clean(value).strip())
                return
        raise UserError("That form is out of date; click the comment button again.")

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await handle_interaction_error(interaction, error, "office hour comment")
