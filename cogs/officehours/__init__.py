"""Office hours: sessions in a host's own time zone mirrored by native Discord scheduled events, RSVPs with
capacity and a waitlist, questions sent ahead, reminders, a live queue driven by voice states, and follow-up
(/officehours, /queue).

Layout: ``when`` parses times and weekly recurrences (pure); ``service`` holds the scheduling, RSVP, question and
reminder rules, ``live`` the queue, attendance and follow-up rules (no discord import in any of them); ``cog``
is the /officehours glue (its live commands come in from ``live_cog.LiveCommands``), and ``live_cog`` also holds
the /queue cog and the voice-state listener.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core import AtlasBot


async def setup(bot: AtlasBot) -> None:
    from cogs.officehours import service
    from cogs.officehours.cog import OfficeHoursCog
    from cogs.officehours.live_cog import QueueCog

    await bot.add_cog(OfficeHoursCog(bot))
    await bot.add_cog(QueueCog(bot))
    # /privacy export and delete reach RSVPs, questions, the queue and attendance through this (bot/privacy.py).
    bot.member_data.register(service.member_data_handler(bot.reminders))


async def teardown(bot: AtlasBot) -> None:
    bot.member_data.unregister("officehours")
