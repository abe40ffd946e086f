"""Privacy: a member's export of what Atlas stores about them, and its deletion (/privacy)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core import AtlasBot


async def setup(bot: AtlasBot) -> None:
    from cogs.privacy.cog import PrivacyCog

    await bot.add_cog(PrivacyCog(bot))
