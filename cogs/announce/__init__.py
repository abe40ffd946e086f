"""Community announcements (/announce: one-off or recurring posts in a channel, in the community's time zone or
a named one, previewed before they are confirmed) and personal reminders (/remind: in the member's own zone, by
DM with the channel as fallback).

Layout: ``bot.when`` parses times and rrule recurrences (pure); ``service`` holds the rules and the occurrence
chain over the durable reminders (no discord import); ``cog`` is /announce, ``handlers`` posts a due occurrence
and keeps the native event in line, ``remind_cog`` is /remind, and ``views`` holds the modal and the preview's
buttons. Who may schedule is ``bot.checks``' SCHEDULE_ANNOUNCEMENTS capability.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core import AtlasBot


async def setup(bot: AtlasBot) -> None:
    from cogs.announce import service
    from cogs.announce.cog import AnnounceCog
    from cogs.announce.remind_cog import RemindCog

    await bot.add_cog(AnnounceCog(bot))
    await bot.add_cog(RemindCog(bot))
    # /privacy export and delete reach personal reminders and the announcements a member scheduled.
    bot.member_data.register(service.member_data_handler(bot.reminders))


async def teardown(bot: AtlasBot) -> None:
    bot.member_data.unregister("announce")
