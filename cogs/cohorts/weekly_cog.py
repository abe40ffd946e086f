"""The cohorts' weekly life on Discord: the week's post, nudges and synthesis in each cohort's thread, check-in
buttons, participation from thread messages, milestones and group projects. Mixed into ``cog.CohortCog``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import CohortsSection
    from bot.core import AtlasBot


class WeeklyCommands:
    bot: AtlasBot
    config: CohortsSection

    async def weekly_load(self) -> None:
        """Registers the weekly jobs, reminder kinds and persistent check-in buttons."""

    async def weekly_unload(self) -> None:
        """Undoes ``weekly_load``."""
