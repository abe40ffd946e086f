"""Member text shown inside the bot's embeds (search results, similar questions, the unanswered list): one line,
markdown escaped, and no ``[`` ``]`` ``(`` ``)`` left, so a title or snippet can neither make its own masked link
nor break out of the bot's ``[title](link)``."""

from __future__ import annotations

import discord

_BRACKETS = str.maketrans("", "", "[]()")


def plain(text: str, limit: int) -> str:
    """``text`` on one line, at most ``limit`` characters before escaping, safe to put in an embed."""
    text = " ".join(text.translate(_BRACKETS).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return discord.utils.escape_markdown(text)


def link(text: str, url: str, limit: int) -> str:
    """A masked link to ``url`` whose visible text is member text."""
    return f"[{plain(text, limit) or 'untitled'}]({url})"
