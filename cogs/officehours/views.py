"""The announcement's buttons (persistent: ``DynamicItem``s whose custom id carries the session id, so they work
after a restart) and the question modal."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

import discord
from discord import ui

from bot.errors import handle_interaction_error

if TYPE_CHECKING:
    from cogs.officehours.cog import OfficeHoursCog


def _cog(interaction: discord.Interaction) -> OfficeHoursCog:
    cog: Any = interaction.client.get_cog("OfficeHoursCog")  # type: ignore[attr-defined]
    if cog is None:
        raise RuntimeError("office hours are not loaded")
    return cog  # type: ignore[no-any-return]


class SessionButton(ui.DynamicItem[ui.Button], template=r"oh:(?P<action>rsvp|unrsvp|ask):(?P<id>\d{1,18})"):
    LABELS: ClassVar[dict[str, str]] = {"rsvp": "RSVP", "unrsvp": "Cancel RSVP", "ask": "Ask a question"}
    STYLES: ClassVar[dict[str, discord.ButtonStyle]] = {
        "rsvp": discord.ButtonStyle.success,
        "unrsvp": discord.ButtonStyle.secondary,
        "ask": discord.ButtonStyle.primary,
    }

    def __init__(self, action: str, office_hour_id: int, *, disabled: bool = False) -> None:
        super().__init__(
            ui.Button(
                label=self.LABELS[action],
                style=self.STYLES[action],
                custom_id=f"oh:{action}:{office_hour_id}",
                disabled=disabled,
            )
        )
        self.action = action
        self.office_hour_id = office_hour_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Button, match: re.Match[str], /
    ) -> SessionButton:
        return cls(match["action"], int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            cog = _cog(interaction)
            if self.action == "rsvp":
                await cog.rsvp_clicked(interaction, self.office_hour_id)
            elif self.action == "unrsvp":
                await cog.unrsvp_clicked(interaction, self.office_hour_id)
            else:
                await cog.ask_clicked(interaction, self.office_hour_id)
        except Exception as exc:
            await handle_interaction_error(interaction, exc, f"office hours {self.action} button")


def announcement_view(office_hour_id: int, *, closed: bool = False) -> ui.View:
    view = ui.View(timeout=None)
    for action in ("rsvp", "unrsvp", "ask"):
        view.add_item(SessionButton(action, office_hour_id, disabled=closed))
    return view


class QuestionModal(ui.Modal, title="A question for the session"):
    topic: ui.TextInput[QuestionModal] = ui.TextInput(
        label="Topic", custom_id="topic", max_length=60, placeholder="e.g. async, tests"
    )
    body: ui.TextInput[QuestionModal] = ui.TextInput(
        label="Your question", custom_id="body", style=discord.TextStyle.paragraph, max_length=1000
    )

    def __init__(self, office_hour_id: int) -> None:
        super().__init__(custom_id=f"oh:question:{office_hour_id}")
        self.office_hour_id = office_hour_id

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await _cog(interaction).question_submitted(
            interaction, self.office_hour_id, self.topic.value, self.body.value
        )

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await handle_interaction_error(interaction, error, "office hours question")
