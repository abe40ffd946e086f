"""Making the resources, running the bot, and closing everything on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from bot import db
from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.core import AtlasBot
from bot.discord_seam import point_discord_at

log = logging.getLogger(__name__)


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    # discord.py's gateway chatter at INFO is noise for operators.
    logging.getLogger("discord.gateway").setLevel(max(logging.getLevelName(level), logging.WARNING))
    # APScheduler logs a line per job added, run and finished at INFO (every poll, every reminder wake-up):
    # detail for DEBUG. bot.scheduler logs one summary line at start instead.
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
    # Alembic says "Context impl SQLiteImpl." on every connection and a line per step; bot.db logs one line.
    logging.getLogger("alembic").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)


def make_bot(config: Config, *, clock: Clock | None = None, start_scheduler: bool = True) -> AtlasBot:
    point_discord_at(config.discord.api_base or None, config.discord.gateway or None)
    engine = db.create_engine(config.database.url, echo=config.database.echo)
    return AtlasBot(
        config,
        engine=engine,
        sessionmaker=db.create_sessionmaker(engine),
        clock=clock or SystemClock(),
        start_scheduler=start_scheduler,
    )


async def run_bot(config: Config, token: str) -> None:
    bot = make_bot(config)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    try:
        async with bot:
            runner = asyncio.create_task(bot.start(token))
            stopper = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stopper in done:
                log.info("shutting down")
                await bot.close()
            stopper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner  # re-raises a login or connection error
    finally:
        await bot.engine.dispose()
