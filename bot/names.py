"""A member's name as the bot writes it into a message or an embed: shown literally, never as formatting or a
mention. Display names are chosen by members, so ``**x** _y_`` would otherwise turn bold and italic, and a name
like ``<@123…>`` or ``@everyone`` would render as a mention of someone else."""

from __future__ import annotations

import discord
from discord.utils import escape_markdown, escape_mentions


def shown(name: str) -> str:
    """``name`` for message text or an embed: markdown escaped, ``@everyone``/``@here``/``<@…>`` defused, and any
    other ``<…>`` syntax (channel links, custom emoji, timestamps) escaped so it shows as typed."""
    return escape_mentions(escape_markdown(name)).replace("<", "\\<")


def name_of(user: discord.abc.User) -> str:
    """The user's display name (server nickname first), ready to write into a message."""
    return shown(user.display_name)
