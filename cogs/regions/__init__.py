"""Regional and language channels: made from members' profiles once a region or language has enough members."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core import AtlasBot


async def setup(bot: AtlasBot) -> None:
    from cogs.regions.cog import RegionsCog

    await bot.add_cog(RegionsCog(bot))
