"""Server setup: the community's roles, categories and channels made from a template, idempotently, their ids
recorded so features find them without ids in config.toml (plan.py the rules, builder.py the Discord side)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core import AtlasBot


async def setup(bot: AtlasBot) -> None:
    from cogs.setup.cog import SetupCog

    await bot.add_cog(SetupCog(bot))
