"""The Q&A knowledge base: questions are posts in the Q&A forum channel ([channels] qa_forum), answers the
messages in a question's thread, votes 👍/👎 reactions, the asker (or a maintainer) marks the solution, and
everything is searchable (/search, /qa unanswered, atlas-bot export-kb).

Layout: ``service`` holds the rules (votes, accepts, close/reopen, the once-only prompts, subscriptions; no
discord import), ``search`` the full-text index behind one interface over SQLite FTS5 and PostgreSQL, ``cog``
the Discord glue (commands, listeners, reminder handlers) and ``views`` the /ask modal and its confirm step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core import AtlasBot


async def setup(bot: AtlasBot) -> None:
    from cogs.qa import service
    from cogs.qa.cog import QaCog

    await bot.add_cog(QaCog(bot))
    # /privacy export and delete reach votes, subscriptions, questions and answers through this (bot/privacy.py).
    bot.member_data.register(service.member_data_handler())


async def teardown(bot: AtlasBot) -> None:
    bot.member_data.unregister("qa")
