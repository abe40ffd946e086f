"""Recognition: the ledger made visible (badges, leaderboards, reputation, spotlights, quarterly reviews)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core import AtlasBot


async def setup(bot: AtlasBot) -> None:
    # Imported here so the package's pure modules (spotlight, render) load without discord.py's cog machinery.
    from cogs.recognition.cog import RecognitionCog

    await bot.add_cog(RecognitionCog(bot))
