"""Study groups: cohorts matched by an optimiser (time zone, skill, commitment), each a private thread in the
study-groups channel, with a weekly curriculum, check-ins, accountability and group projects (/cohort).

Layout: ``grouping`` and ``meeting`` are pure algorithms; ``service`` holds the pool and forming rules,
``weekly`` and ``curriculum`` the weeks' rules (no discord import in any of them); ``cog`` assembles the Discord
glue: the forming commands live there, the weekly life's commands, buttons and listeners in ``weekly_cog``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core import AtlasBot


async def setup(bot: AtlasBot) -> None:
    # Imported here so the pure modules (grouping, meeting, plan) load without discord.py's cog machinery.
    from cogs.cohorts import service
    from cogs.cohorts.cog import CohortCog

    await bot.add_cog(CohortCog(bot))
    # /privacy export and delete reach the pool, memberships, check-ins and projects through this (bot/privacy.py).
    bot.member_data.register(service.member_data_handler(bot.reminders))


async def teardown(bot: AtlasBot) -> None:
    bot.member_data.unregister("cohorts")
