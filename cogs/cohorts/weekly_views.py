"""The weekly life's components: check-in buttons (on track / behind / blocked) with the optional note modal, the
move offer's button, and the health overview's page buttons. Every custom_id carries what it acts on (cohort,
week, status, page), so the buttons work on any message and after a restart; the work is the cog's."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import ui

from bot import text
from bot.errors import UserError, handle_interaction_error

if TYPE_CHECKING:
    from cogs.cohorts.weekly_cog import WeeklyCommands

STATUS_LABELS = {"on_track": ("On track", "✅"), "behind": ("Behind", "🐢"), "blocked": ("Blocked", "🧱")}
NOTE_MODAL_ID = "cohort:note"
NOTE_INPUT = re.compile(r"^cohort:note:(\d+):(\d+):(on_track|behind|blocked)$")


def _cog(interaction: discord.Interaction) -> WeeklyCommands:
    from cogs.cohorts.weekly_cog import WeeklyCommands

    cog = interaction.client.get_cog("CohortCog")  # type: ignore[attr-defined]
    if not isinstance(cog, WeeklyCommands):
        raise UserError("Study groups are not running right now; try again shortly.")
    return cog


class CheckinButton(
    ui.DynamicItem[ui.Button], template=r"cohort:ci:(?P<c>\d{1,18}):(?P<w>\d{1,4}):(?P<s>on_track|behind|blocked)"
):
    def __init__(self, cohort_id: int, week: int, status: str) -> None:
        label, emoji = STATUS_LABELS[status]
        style = discord.ButtonStyle.success if status == "on_track" else discord.ButtonStyle.secondary
        super().__init__(
            ui.Button(label=label, emoji=emoji, style=style, custom_id=f"cohort:ci:{cohort_id}:{week}:{status}")
        )
        self.cohort_id, self.week, self.status = cohort_id, week, status

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Button, match: re.Match[str], /
    ) -> CheckinButton:
        return cls(int(match["c"]), int(match["w"]), match["s"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await _cog(interaction).check_in(interaction, self.cohort_id, self.week, self.status)
        except Exception as exc:
            await handle_interaction_error(interaction, exc, "check-in button")


def checkin_view(cohort_id: int, week: int) -> ui.View:
    view = ui.View(timeout=None)
    for status in STATUS_LABELS:
        view.add_item(CheckinButton(cohort_id, week, status))
    return view


class NoteModal(ui.Modal, title="Checked in. Add a note?"):
    """One registered instance (static custom_id) answers every member's note, before and after a restart: which
    cohort, week and answer it belongs to is in the text input's custom_id of the submission itself."""

    def __init__(self, cohort_id: int = 0, week: int = 0, status: str = "on_track") -> None:
        super().__init__(custom_id=NOTE_MODAL_ID, timeout=None)
        label = STATUS_LABELS[status][0]
        self.title = f"Checked in: {label.lower()}. Add a note?"
        self.add_item(
            ui.TextInput(
                label="Note for your group (optional)",
                style=discord.TextStyle.paragraph,
                required=False,
                max_length=500,
                placeholder="What you did, where you are stuck, what would help",
                custom_id=f"cohort:note:{cohort_id}:{week}:{status}",
            )
        )

    def stop(self) -> None:
        """Stay registered: one custom_id serves every member's note (discord.py drops a modal after a submit)."""

    async def on_submit(self, interaction: discord.Interaction) -> None:
        for custom_id, value in text.modal_values(interaction.data).items():  # type: ignore[arg-type]
            match = NOTE_INPUT.match(custom_id)
            if match:
                await _cog(interaction).save_note(
                    interaction, int(match[1]), int(match[2]), match[3], text.clean(value).strip()
                )
                return
        raise UserError("That note form is out of date; click your check-in button again.")

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await handle_interaction_error(interaction, error, "check-in note")


class MoveButton(ui.DynamicItem[ui.Button], template=r"cohort:move:(?P<c>\d{1,18})"):
    def __init__(self, cohort_id: int) -> None:
        super().__init__(
            ui.Button(
                label="Move me to the next cohort",
                style=discord.ButtonStyle.primary,
                custom_id=f"cohort:move:{cohort_id}",
            )
        )
        self.cohort_id = cohort_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Button, match: re.Match[str], /
    ) -> MoveButton:
        return cls(int(match["c"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await _cog(interaction).take_move(interaction, self.cohort_id)
        except Exception as exc:
            await handle_interaction_error(interaction, exc, "move button")


class HealthPageButton(ui.DynamicItem[ui.Button], template=r"cohort:health:(?P<p>\d{1,4}):(?P<d>[pn])"):
    def __init__(self, page: int, direction: str, *, disabled: bool = False) -> None:
        label = "◀ Previous" if direction == "p" else "Next ▶"
        super().__init__(
            ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"cohort:health:{page}:{direction}",
                disabled=disabled,
            )
        )
        self.page = page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Button, match: re.Match[str], /
    ) -> HealthPageButton:
        return cls(int(match["p"]), match["d"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await _cog(interaction).health_page(interaction, self.page)
        except Exception as exc:
            await handle_interaction_error(interaction, exc, "cohort health page")


def health_view(page: int, pages: int) -> ui.View:
    view = ui.View(timeout=None)
    view.add_item(HealthPageButton(max(0, page - 1), "p", disabled=page <= 0))
    view.add_item(HealthPageButton(min(pages - 1, page + 1), "n", disabled=page + 1 >= pages))
    return view


def move_view(cohort_id: int) -> ui.View:
    view = ui.View(timeout=None)
    view.add_item(MoveButton(cohort_id))
    return view


DYNAMIC_ITEMS: tuple[type[ui.DynamicItem[Any]], ...] = (CheckinButton, MoveButton, HealthPageButton)
