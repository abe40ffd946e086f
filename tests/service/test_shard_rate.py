"""Discord's global rate limit (``[discord] global_rate_limit``) is per application, so shards share it: each
shard's process paces its requests and DMs to its part (bot/core.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import db, pacing
from bot.clock import ManualClock
from bot.config import Config
from bot.core import AtlasBot


@pytest.mark.parametrize("shards", [1, 2, 5])
async def test_each_shard_paces_to_its_part_of_the_global_limit(tmp_path: Path, shards: int) -> None:
    config = Config().with_overrides(bot={"shard_count": shards}, discord={"global_rate_limit": 50})
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'atlas.db'}")
    try:
        bot = AtlasBot(
            config,
            engine=engine,
            sessionmaker=db.create_sessionmaker(engine),
            clock=ManualClock(datetime(2026, 3, 2, tzinfo=UTC)),
            start_scheduler=False,
        )
        pacer = bot.reminders._send_pacer
        assert pacer is not None
        assert pacer.interval == pytest.approx(1 / pacing.dm_rate(50 / shards))
        await bot.close()
    finally:
        await engine.dispose()
