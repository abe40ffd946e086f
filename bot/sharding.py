"""Sharding and DMs: Discord sends DMs, and interactions in DMs (a button on a welcome DM), to shard 0 only
(Gateway, "Sharding": "DMs will only be sent to shard 0"). An interaction in a DM carries no guild, so with
``[bot] shard_count > 1`` the shard-0 process gets DM clicks meant for every shard's guild, and its handlers,
which act on the bot's own guild (``bot.home_guild``), would act on the wrong one for a member of another shard's
guild. This guard answers such a click ephemerally instead (do it from the server) and hands nothing to the
handlers: a DM interaction reaches them only from a member of this process's guild (README "Running two
processes / sharding": with sharding, DM buttons work for the guild on shard 0 only; the others' members use the
commands in their server).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import discord
from sqlalchemy import select

from models import Member

if TYPE_CHECKING:
    from bot.core import AtlasBot

log = logging.getLogger(__name__)

ELSEWHERE = (
    "This button belongs to another server's part of Atlas, which can't answer it from a direct message. "
    "Please use the bot's commands in that server instead."
)


def guard_dm_interactions(bot: AtlasBot) -> None:
    """With ``shard_count > 1``: an interaction without a guild from a user who is not a member of this bot's
    guild is answered ephemerally, not dispatched. A no-op without sharding (DMs then come from this guild)."""
    if bot.config.bot.shard_count <= 1:
        return
    state = bot._connection
    parse = state.parsers["INTERACTION_CREATE"]
    tasks: set[asyncio.Task[None]] = set()

    def parse_interaction_create(data: dict[str, Any]) -> None:
        if data.get("guild_id"):
            parse(data)
            return
        task = asyncio.get_running_loop().create_task(_route(bot, parse, data))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    state.parsers["INTERACTION_CREATE"] = parse_interaction_create


async def _route(bot: AtlasBot, parse: Any, data: dict[str, Any]) -> None:
    user_id = int((data.get("user") or {}).get("id") or 0)
    try:
        if await _is_member(bot, user_id):
            parse(data)
            return
        log.info("a DM interaction from %s, not a member of this shard's guild: answered from the server", user_id)
        interaction = discord.Interaction(data=data, state=bot._connection)  # type: ignore[arg-type]
        await interaction.response.send_message(
            ELSEWHERE, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )
    except Exception:
        log.exception("a DM interaction could not be routed")


async def _is_member(bot: AtlasBot, user_id: int) -> bool:
    guild = bot.home_guild
    if guild is not None and guild.get_member(user_id) is not None:
        return True
    async with bot.sessions() as session:  # the member cache may be partial: the database knows who joined
        found = await session.scalar(
            select(Member.id).where(
                Member.guild_id == bot.guild_id, Member.discord_id == user_id, Member.left_at.is_(None)
            )
        )
    return found is not None
