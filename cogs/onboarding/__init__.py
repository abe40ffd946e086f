from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.onboarding import service
from cogs.onboarding.cog import OnboardingCog

if TYPE_CHECKING:
    from bot.core import AtlasBot


async def setup(bot: AtlasBot) -> None:
    await bot.add_cog(OnboardingCog(bot))
    # /privacy export and delete reach the profile and journey through this (bot/privacy.py).
    bot.member_data.register(service.DATA_HANDLER)


async def teardown(bot: AtlasBot) -> None:
    bot.member_data.unregister(service.DATA_HANDLER.name)
