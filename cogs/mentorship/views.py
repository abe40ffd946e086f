"""Mentorship's Discord pieces: the match preview's persistent buttons, the end-of-pairing feedback modal, and the
review exchange's Claim and Rate buttons.

The buttons are ``DynamicItem``s whose custom id carries what they act on (the run, the request, the rating), so
they work after a restart (as ``cogs/cohorts/views.py``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

import discord
from discord import ui

from bot.checks import Capability, ensure
from bot.errors import UserError, handle_interaction_error

if TYPE_CHECKING:
    from bot.core import AtlasBot


def _cog(interaction: discord.Interaction, name: str) -> Any:
    bot: AtlasBot = interaction.client  # type: ignore[assignment]
    cog = bot.get_cog(name)
    if cog is None:
        raise UserError("Mentorship is not running right now; try again shortly.")
    return cog


class MatchButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"mtr:(?P<action>confirm|discard):(?P<id>\d{1,18})"
):
    LABELS: ClassVar[dict[str, tuple[str, discord.ButtonStyle]]] = {
        "confirm": ("Confirm and open the pairs' threads", discord.ButtonStyle.success),
        "discard": ("Discard", discord.ButtonStyle.secondary),
    }

    def __init__(self, action: str, run_id: int) -> None:
        label, style = self.LABELS[action]
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=f"mtr:{action}:{run_id}"))
        self.action, self.run_id = action, run_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> MatchButton:
        return cls(match["action"], int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            bot: AtlasBot = interaction.client  # type: ignore[assignment]
            ensure(interaction.user, Capability.MANAGE_COMMUNITY, bot.community)
            await _cog(interaction, "MentorCog").match_button(interaction, self.action, self.run_id)
        except Exception as exc:
            await handle_interaction_error(interaction, exc, f"mentor match {self.action} button")


class EndModal(ui.Modal, title="End the mentorship"):
    rating: ui.TextInput[EndModal] = ui.TextInput(
        label="How was it? (1 poor - 5 great)", custom_id="rating", min_length=1, max_length=1, placeholder="5"
    )
    comment: ui.TextInput[EndModal] = ui.TextInput(
        label="What went well, what could be better",
        custom_id="comment",
        style=discord.TextStyle.paragraph,
        required=False,
        max_length=1000,
    )

    def __init__(self, pair_id: int) -> None:
        super().__init__(custom_id=f"mtr:end:{pair_id}")
        self.pair_id = pair_id

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await _cog(interaction, "MentorCog").end_submitted(
            interaction, self.pair_id, self.rating.value, self.comment.value
        )

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await handle_interaction_error(interaction, error, "mentorship end form")


class ClaimButton(discord.ui.DynamicItem[discord.ui.Button], template=r"rev:claim:(?P<id>\d{1,18})"):
    def __init__(self, request_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"Claim #{request_id}",
                style=discord.ButtonStyle.primary,
                custom_id=f"rev:claim:{request_id}",
            )
        )
        self.request_id = request_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> ClaimButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await _cog(interaction, "ReviewCog").claim(interaction, self.request_id)
        except Exception as exc:
            await handle_interaction_error(interaction, exc, "review claim button")


class RateButton(discord.ui.DynamicItem[discord.ui.Button], template=r"rev:rate:(?P<id>\d{1,18}):(?P<n>[1-5])"):
    def __init__(self, request_id: int, rating: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="★" * rating,
                style=discord.ButtonStyle.secondary,
                custom_id=f"rev:rate:{request_id}:{rating}",
            )
        )
        self.request_id, self.rating = request_id, rating

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> RateButton:
        return cls(int(match["id"]), int(match["n"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await _cog(interaction, "ReviewCog").rate(interaction, self.request_id, self.rating)
        except Exception as exc:
            await handle_interaction_error(interaction, exc, "review rating button")


def buttons(*items: discord.ui.Item[discord.ui.View]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)  # dynamic items only: never dropped
    for item in items:
        view.add_item(item)
    return view


DYNAMIC_ITEMS = (MatchButton, ClaimButton, RateButton)
