"""Reports to moderators: the "Report to moderators" message command, a private report in the moderators'
channel, resolved once with a button and a note."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core import AtlasBot


async def setup(bot: AtlasBot) -> None:
    from cogs.reports import service
    from cogs.reports.cog import ReportsCog

    await bot.add_cog(ReportsCog(bot))
    bot.member_data.register(service.member_data_handler())  # /privacy export and delete


async def teardown(bot: AtlasBot) -> None:
    bot.member_data.unregister("reports")
