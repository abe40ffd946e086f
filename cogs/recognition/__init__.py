"""Recognition: the ledger made visible (badges, leaderboards, reputation, spotlights, quarterly reviews)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core import AtlasBot


async def setup(bot: AtlasBot) -> None:
    # Imported here so the package's pure modules (spotlight, render) load without discord.py's cog machinery.
    from cogs.recognition import service
    from cogs.recognition.cog import RecognitionCog

    cog = RecognitionCog(bot)
    await bot.add_cog(cog)
    # /privacy export and delete reach recognition's data through this (bot/privacy.py).
    bot.member_data.register(service.member_data_handler(cog.policy))


async def teardown(bot: AtlasBot) -> None:
    bot.member_data.unregister("recognition")
