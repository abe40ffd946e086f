from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.onboarding.cog import OnboardingCog

if TYPE_CHECKING:
    from bot.core import AtlasBot


async def setup(bot: AtlasBot) -> None:
    await bot.add_cog(OnboardingCog(bot))
