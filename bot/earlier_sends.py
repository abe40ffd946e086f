"""Finding what an earlier attempt already sent, before sending again.

A reminder claimed by a process that died mid-send is retried (``bot.reminders``: at-least-once across a crash).
If Discord had carried the send out before the process died, the retry would post it a second time; Discord's
``enforce_nonce`` only deduplicates within a few minutes, and a stale claim is retried later than that. So a
handler retrying (``reminder.attempts > 1``) first looks for its own earlier message, as the announcement
handler does for its posts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import discord

log = logging.getLogger(__name__)


async def own_messages_since(
    me: discord.abc.Snowflake | None,
    channel: discord.abc.Messageable,
    since: datetime,
    match: Callable[[discord.Message], bool] = lambda m: True,
    *,
    limit: int = 200,
) -> list[discord.Message]:
    """``me``'s messages in ``channel`` since shortly before ``since`` that ``match`` (a bot always sees its own
    messages' content). Empty when the history cannot be read: then the caller sends again, as a missed
    message is worse than a rare double."""
    if me is None:
        return []
    after = discord.Object(discord.utils.time_snowflake(since - timedelta(minutes=1)))
    try:
        return [m async for m in channel.history(limit=limit, after=after) if m.author.id == me.id and match(m)]
    except discord.HTTPException as exc:
        log.warning("could not read %s to look for an earlier send: %s", channel, exc)
        return []
