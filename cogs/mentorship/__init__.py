"""Mentorship (issue 13): mentor and mentee sign-ups, optimal matching, the pair's lifecycle, a code review
exchange and career conversations.

Layout: ``matching`` is the pure optimiser (no Discord, no database); ``service`` holds sign-up, match-run,
pair, session and quiet-pair rules, ``reviews`` the review exchange's and ``career`` the career requests' (no
discord import in any of them); ``cog`` is /mentor and /mentee with the pairs' Discord steps, ``reviews_cog``
/review, ``career_cog`` /career, ``views`` the persistent buttons and the feedback modal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core import AtlasBot


async def setup(bot: AtlasBot) -> None:
    from cogs.mentorship import service
    from cogs.mentorship.career_cog import CareerCog
    from cogs.mentorship.cog import MenteeCog, MentorCog
    from cogs.mentorship.reviews_cog import ReviewCog
    from cogs.mentorship.views import DYNAMIC_ITEMS

    bot.add_dynamic_items(*DYNAMIC_ITEMS)
    await bot.add_cog(MentorCog(bot))
    await bot.add_cog(MenteeCog(bot))
    await bot.add_cog(ReviewCog(bot))
    await bot.add_cog(CareerCog(bot))
    # /privacy export and delete reach sign-ups, pairs, sessions, feedback and reviews through this.
    bot.member_data.register(service.member_data_handler())


async def teardown(bot: AtlasBot) -> None:
    from cogs.mentorship.views import DYNAMIC_ITEMS

    bot.remove_dynamic_items(*DYNAMIC_ITEMS)
    bot.member_data.unregister("mentorship")
