"""The announcement's buttons (persistent: ``DynamicItem``s whose custom id carries the session id, so they work
after a restart) and the question modal."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

import discord
from discord import ui

from bot import text
from bot.errors import UserError, handle_interaction_error

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


class AnsweredSelect(ui.DynamicItem[ui.Select], template=r"oh:answered:(?P<id>\d{1,18})"):
    """The host's "mark answered" menu under /officehours questions (persistent: the session is in its id)."""

    def __init__(self, office_hour_id: int, options: list[discord.SelectOption] | None = None) -> None:
        options = options or [discord.SelectOption(label="-", value="0")]
        super().__init__(
            ui.Select(
                custom_id=f"oh:answered:{office_hour_id}",
                placeholder="Mark questions answered (not carried over)",
                min_values=1,
                max_values=len(options),
                options=options,
            )
        )
        self.office_hour_id = office_hour_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Select, match: re.Match[str], /
    ) -> AnsweredSelect:
        return cls(int(match["id"]), list(item.options) or None)

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            values = (interaction.data or {}).get("values") or []  # type: ignore[union-attr]
            ids = [int(v) for v in values if str(v).isascii() and str(v).isdigit()]  # not "³": int() refuses it
            await _cog(interaction).mark_answered(interaction, self.office_hour_id, ids)
        except Exception as exc:
            await handle_interaction_error(interaction, exc, "office hours mark answered")


def answered_view(office_hour_id: int, questions: list[tuple[int, str]]) -> ui.View:
    """``questions``: (id, label) of up to 25 unanswered questions."""
    view = ui.View(timeout=None)
    options = [discord.SelectOption(label=label[:100] or "-", value=str(qid)) for qid, label in questions[:25]]
    view.add_item(AnsweredSelect(office_hour_id, options))
    return view


def announcement_view(office_hour_id: int, *, closed: bool = False) -> ui.View:
    view = ui.View(timeout=None)
    for action in ("rsvp", "unrsvp", "ask"):
        view.add_item(SessionButton(action, office_hour_id, disabled=closed))
    return view


QUESTION_MODAL_ID = "oh:question"
QUESTION_INPUT = re.compile(r"^oh:q(?P<field>topic|body):(?P<id>\d{1,18})$")


class QuestionModal(ui.Modal, title="A question for the session"):
    """One registered instance (static custom_id, added at load) answers every question form, opened before or
    after a restart and by any number of members at once: the session is in the text inputs' custom_ids of the
    submission itself. (A per-session modal id is dropped from discord.py's store by the first submit, and is
    unknown after a restart.)"""

    def __init__(self, office_hour_id: int = 0) -> None:
        super().__init__(custom_id=QUESTION_MODAL_ID, timeout=None)
        self.add_item(
            ui.TextInput(
                label="Topic",
                custom_id=f"oh:qtopic:{office_hour_id}",
                max_length=60,
                placeholder="e.g. async, tests",
            )
        )
        self.add_item(
            ui.TextInput(
                label="Your question",
                custom_id=f"oh:qbody:{office_hour_id}",
                style=discord.TextStyle.paragraph,
                max_length=1000,
            )
        )

    def stop(self) -> None:
        """Stay registered: one custom_id serves every question form (discord.py drops a modal after a submit)."""

    async def on_submit(self, interaction: discord.Interaction) -> None:
        fields: dict[str, str] = {}
        office_hour_ids = set()
        for custom_id, value in text.modal_values(interaction.data).items():  # type: ignore[arg-type]
            if match := QUESTION_INPUT.match(custom_id):
                fields[match["field"]] = value
                office_hour_ids.add(int(match["id"]))
        if len(office_hour_ids) != 1 or set(fields) != {"topic", "body"}:
            raise UserError("That form is out of date; click “Ask a question” again.")
        await _cog(interaction).question_submitted(
            interaction, office_hour_ids.pop(), text.clean(fields["topic"]), text.clean(fields["body"])
        )

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await handle_interaction_error(interaction, error, "office hours question")
