"""Stewardship: who carried how much volunteer work in the last four weeks (/stewardship, maintainers)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core import AtlasBot


async def setup(bot: AtlasBot) -> None:
    from cogs.stewardship.cog import StewardshipCog

    await bot.add_cog(StewardshipCog(bot))
