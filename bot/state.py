"""Small named values the bot keeps between runs (the ``bot_state`` table), written idempotently."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import dialect_insert
from models import BotState


async def get_state(session: AsyncSession, key: str) -> str | None:
    return await session.scalar(select(BotState.value).where(BotState.key == key))


async def set_state(session: AsyncSession, key: str, value: str) -> None:
    """Create or replace in one statement (INSERT ... ON CONFLICT DO UPDATE): two writers never collide."""
    stmt = dialect_insert(session, BotState).values(key=key, value=value)
    await session.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value}))
