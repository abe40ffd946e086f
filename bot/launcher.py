"""Making the resources, running the bot, and closing everything on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

import discord

from bot import db
from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.core import AtlasBot
from bot.discord_seam import point_discord_at
from bot.lease import Lease, lease_key

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


async def run_bot(config: Config, token: str) -> int:
    """Run until SIGINT/SIGTERM (0), or until the leader lease is lost (1: restart as a standby)."""
    bot = make_bot(config)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    # PostgreSQL: one active process per guild and shard, the others wait as standbys (bot/lease.py).
    lease = None
    if bot.engine.dialect.name == "postgresql":
        lease = Lease(bot.engine, lease_key(config.bot.guild_id, config.bot.shard_id))
    status = 0
    try:
        if lease is not None and not await lease.acquire(stop):
            log.info("shutting down")
            return 0
        async with bot:
            runner = asyncio.create_task(bot.start(token))
            stopper = asyncio.create_task(stop.wait())
            lost = asyncio.create_task(lease.lost() if lease is not None else asyncio.Event().wait())
            done, _ = await asyncio.wait({runner, stopper, lost}, return_when=asyncio.FIRST_COMPLETED)
            if lost in done and lease is not None:
                status = 1
                await _leave_discord(bot, lease.close)
            if stopper in done or lost in done:
                status = 1 if lost in done else 0
                log.info("shutting down")
                await bot.close()
            stopper.cancel()
            lost.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner  # re-raises a login or connection error
    finally:
        if lease is not None:
            await lease.release()
        await bot.engine.dispose()
    return status


async def _leave_discord(bot: AtlasBot, seconds: float) -> None:
    """After the lease is lost, close the Discord connection first (the rest of the shutdown may wait on the
    database) and within ``seconds``: the new active connects ``Lease.settle`` seconds after taking the lock.
    If it cannot be closed in time, exit at once: the kernel closes the socket, and two actives never overlap."""
    try:
        await asyncio.wait_for(discord.Client.close(bot), seconds)
    except Exception:
        log.critical("could not leave Discord within %g s of losing the leader lease: exiting now", seconds)
        logging.shutdown()
        os._exit(1)
