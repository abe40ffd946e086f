"""AtlasBot: the discord.py client that wires config, database, clock, reminders, scheduler and cogs together.

Resources (engine, sessionmaker, clock) are made by the caller and injected, so tests, the sandbox and the
launcher each decide where the data lives and what time it is.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta
from typing import Any

import discord
from discord.ext import commands
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import db, heap, ledger, pacing, text
from bot.channels import ChannelIds
from bot.clock import Clock
from bot.community_roles import CommunityRoles
from bot.config import Config
from bot.cooldowns import Cooldowns
from bot.discord_seam import drop_intent, filter_interactions, ready_when_guilds_arrive, silence_voice_warnings
from bot.errors import AtlasTree
from bot.failures import SetupError
from bot.ledger_rebuild import LedgerUpgrade
from bot.member_sync import MemberSync
from bot.privacy import MemberDataRegistry
from bot.reminders import PermanentSendError, Reminders, TransientSendError
from bot.scheduler import Scheduler
from bot.sharding import guard_dm_interactions
from bot.state import set_state
from models import BotState

log = logging.getLogger(__name__)


def required_intents(config: Config | None = None) -> discord.Intents:
    """Only what the features use. ``members`` is privileged: turn on "Server Members Intent" in the portal;
    so is ``message_content``, asked for only when the Q&A cog stores answers' text ([qa] message_content)."""
    intents = discord.Intents.none()
    intents.guilds = True  # guild, channels, roles and threads in the cache
    intents.members = True  # joins and leaves (onboarding), member lookups for roles
    intents.guild_scheduled_events = True  # office hours as Discord events
    intents.voice_states = True  # who is in an office hour's voice channel (the live queue; not privileged)
    intents.guild_messages = True  # that someone wrote (not what: no message content) counts as activity
    intents.guild_reactions = True  # Q&A votes are 👍/👎 reactions (not privileged)
    if config is not None and "qa" in config.bot.cogs and config.qa.message_content:
        intents.message_content = True  # the Q&A cog stores the text of messages in Q&A threads only
    return intents


def command_set_hash(payload: list[dict[str, Any]]) -> str:
    ordered = sorted(payload, key=lambda c: (c.get("type", 1), c["name"]))
    return hashlib.sha256(json.dumps(ordered, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class AtlasBot(commands.Bot):
    def __init__(
        self,
        config: Config,
        *,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        start_scheduler: bool = True,
        **client_options: Any,
    ) -> None:
        silence_voice_warnings()
        # Discord's global rate limit is the application's, shared by its shards: each process paces to its part.
        global_rate = config.discord.global_rate_limit / config.bot.shard_count
        if config.bot.shard_count > 1:  # IDENTIFY with [shard_id, shard_count]: Discord sends this shard's guilds
            shard = {"shard_id": config.bot.shard_id, "shard_count": config.bot.shard_count}
            client_options = {**shard, **client_options}
        super().__init__(
            # No prefix commands: everything is a slash command (on_message below never parses messages).
            command_prefix=(),
            intents=required_intents(config),
            tree_cls=AtlasTree,
            help_command=None,
            # Nothing a member wrote is ever sent with live pings; a cog opts in per message when it must ping.
            allowed_mentions=discord.AllowedMentions.none(),
            # Requests wait for a slot under Discord's global limit instead of drawing 429s (bot/pacing.py).
            **{**pacing.client_options(global_rate), **client_options},
        )
        # Every member-typed text is cleaned in this one place, before any command, view or modal sees it.
        filter_interactions(self, text.clean_interaction)
        # on_ready as soon as the home guild has arrived, not after discord.py's fixed 2 s of quiet.
        ready_when_guilds_arrive(self)
        self.config = config
        self.engine = engine
        self.sessions = sessionmaker
        self.reads = db.Reads(engine)
        self.clock = clock
        self.start_scheduler = start_scheduler
        self.reminders = Reminders(
            sessionmaker,
            clock,
            default_grace=timedelta(minutes=config.reminders.default_grace_minutes),
            max_attempts=config.reminders.max_attempts,
            send_rate=pacing.dm_rate(global_rate),  # DMs spread under the global limit
            stale_claim=timedelta(seconds=config.reminders.stale_claim_seconds),
        )
        self.scheduler = Scheduler(sessionmaker, clock, self.reminders, poll_seconds=config.reminders.poll_seconds)
        # Other processes (another community, another shard) may share the database: this guild's work only.
        self.reminders.guild_ids = frozenset({config.bot.guild_id})
        self.scheduler.scope = str(config.bot.guild_id)
        guard_dm_interactions(self)  # sharded: DM clicks reach shard 0 only (bot/sharding.py)
        self.member_sync = MemberSync(self)
        self.cooldowns = Cooldowns(clock)
        self.last_sync_happened: bool | None = None
        # Each feature registers how to export and erase one member's data (bot/privacy.py).
        self.member_data = MemberDataRegistry()
        # Community roles by id (resolved once, stored); capability checks and role changes ask it, never names.
        self.community = CommunityRoles(self)
        # Channels by purpose key: config.toml's id, else the one server setup made or adopted (bot/channels.py).
        self.channel_ids = ChannelIds(self)
        # The first start after an upgrade rebuilds the ledger's aggregates in the background while the bot serves;
        # features that read them check ``ledger_ready`` (bot/ledger_rebuild.py).
        self.ledger_upgrade = LedgerUpgrade(engine, clock, config.bot.guild_id)
        self.ledger_ready = self.ledger_upgrade.ready

    @property
    def guild_id(self) -> int:
        return self.config.bot.guild_id

    @property
    def home_guild(self) -> discord.Guild | None:
        return self.get_guild(self.guild_id)

    async def setup_hook(self) -> None:
        if self.intents.message_content:
            await self.drop_message_content_unless_enabled()
        await self.prepare_database()
        await self.ledger_upgrade.start(ledger.policy_for(self.config))
        await self.community.load()
        await self.channel_ids.load()
        recovered = await self.reminders.recover_stale_claims()
        if recovered:
            log.warning("%d reminder(s) were claimed by a process that stopped mid-send; retrying them", recovered)
        for name in self.config.bot.cogs:
            await self.load_extension(f"cogs.{name}")
        if self.start_scheduler:
            self.scheduler.start()
            await self.scheduler.wake_for_pending()
        await self.sync_commands()

    async def drop_message_content_unless_enabled(self) -> None:
        """Message Content is privileged: asking without the portal's toggle gets the connection closed (4014).
        Without it the bot connects without the intent and the Q&A stores answers from "Mark as solution" only;
        ``atlas-bot check`` reports it."""
        try:
            flags = (await self.application_info()).flags
        except discord.HTTPException as exc:
            log.warning("could not read the application's intents (%s); asking for Message Content anyway", exc)
            return
        if not (flags.gateway_message_content or flags.gateway_message_content_limited):
            log.warning(
                "the Message Content intent is off in the Developer Portal: connecting without it, so Q&A answers "
                "are stored from \"Mark as solution\" only (turn it on, or set [qa] message_content = false)"
            )
            drop_intent(self, "message_content")

    async def prepare_database(self) -> None:
        url = self.engine.url.render_as_string(hide_password=False)
        if self.config.bot.auto_migrate:
            await db.upgrade(url)
            return
        current, head = await db.current_revision(self.engine), db.head_revision()
        if current != head:
            raise SetupError(
                f"the database is at revision {current or 'none (empty)'}, the code needs {head}: run "
                "`atlas-bot migrate` first (or set [bot] auto_migrate = true)"
            )

    async def sync_commands(self, *, force: bool = False) -> bool:
        """Sync slash commands to the home guild if the command set changed since the last sync (or forced).

        Discord rate-limits syncs, so the hash of what was last synced is kept in the database.
        """
        if not self.guild_id:
            log.warning("no [bot] guild_id configured; slash commands were not synced")
            self.last_sync_happened = False
            return False
        guild = discord.Object(self.guild_id)
        self.tree.copy_global_to(guild=guild)
        payload = [cmd.to_dict(self.tree) for cmd in self.tree.get_commands(guild=guild)]
        digest = command_set_hash(payload)
        key = f"command_hash:{self.guild_id}"
        async with self.sessions.begin() as session:
            state = await session.get(BotState, key)
            if not force and state is not None and state.value == digest:
                log.info("slash commands unchanged (%d); not syncing", len(payload))
                self.last_sync_happened = False
                return False
            await self.tree.sync(guild=guild)
            await set_state(session, key, digest)
        log.info("synced %d slash command(s) to guild %s", len(payload), self.guild_id)
        self.last_sync_happened = True
        return True

    def live_guild(self) -> discord.Guild:
        """The home guild for a reminder handler. Missing while the gateway reconnects, which is worth a retry
        (raising TransientSendError lets the dispatcher back off instead of failing the reminder)."""
        guild = self.home_guild
        if guild is None or guild.unavailable:
            raise TransientSendError("the guild is not available right now")
        return guild

    async def live_member(self, user_id: int) -> discord.Member:
        """A member of the home guild for a reminder handler; one who left fails the reminder for good."""
        guild = self.live_guild()
        member = guild.get_member(user_id)
        if member is None:
            try:
                member = await guild.fetch_member(user_id)
            except discord.NotFound:
                raise PermanentSendError("the member is no longer in the server") from None
        return member

    def ledger_recorded(self, member_id: int, *, badges_awarded: bool = False) -> None:
        """Call after the transaction that recorded a ledger event committed: the journey re-evaluates the
        member (``on_atlas_ledger_event``). With ``badges_awarded`` (the result's ``awarded`` was not empty) the
        announcement reminders the ledger scheduled with the awards are sent now rather than at the next poll.
        Features talk to each other through the ledger and these events, never by importing each other."""
        self.dispatch("atlas_ledger_event", self.guild_id, member_id)
        if badges_awarded:
            self.scheduler.kick()

    async def notify_maintainers_once(self, key: str, text: str) -> bool:
        """Tell maintainers about a setup problem once (not on every retry); ``clear_notice`` re-arms it.

        Goes to the mod-log channel, or the guild owner by DM when none is configured. Returns whether sent.
        """
        state_key = self._notice_key(key)
        async with self.sessions.begin() as session:
            # Claimed with one INSERT ... ON CONFLICT DO NOTHING: two callers at once tell maintainers once.
            claimed = await session.scalar(
                db.dialect_insert(session, BotState)
                .values(key=state_key, value=self.clock.now().isoformat())
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(BotState.key)
            )
        if claimed is None:
            return False
        log.warning("maintainer notice %s: %s", key, text)
        guild = self.home_guild
        channel = self.get_channel(mod_log) if (mod_log := self.channel_ids.id("mod_log")) else None
        try:
            if isinstance(channel, discord.abc.Messageable):
                await channel.send(f"⚠️ {text}")
            elif guild is not None and guild.owner_id:
                owner = guild.get_member(guild.owner_id) or await self.fetch_user(guild.owner_id)
                await owner.send(f"⚠️ {guild.name}: {text}")
        except discord.HTTPException as exc:
            log.warning("could not deliver maintainer notice %s: %s", key, exc)
        return True

    def _notice_key(self, key: str) -> str:
        # Per guild: another community's bot on the same database tells its own maintainers of its own problems.
        return f"notice:{self.config.bot.guild_id}:{key}"

    async def clear_notice(self, key: str) -> None:
        async with self.sessions.begin() as session:
            state = await session.get(BotState, self._notice_key(key))
            if state is not None:
                await session.delete(state)

    async def on_message(self, message: discord.Message, /) -> None:
        """Messages are never commands. commands.Bot would parse a mention of the bot as one and log
        CommandNotFound at ERROR, so any member could flood the error log. Cogs' own ``on_message`` listeners
        (activity) are dispatched separately and still run."""

    async def on_ready(self) -> None:
        assert self.user is not None
        log.info("connected as %s (%s)", self.user, self.user.id)
        if self.guild_id and self.home_guild is None:
            log.error("the bot is not in the configured guild %s; invite it first (see README)", self.guild_id)
        try:
            await self.community.resolve()
        except Exception:
            log.exception("could not resolve the community roles; retried on the next connect")
        # The guild cache is complete: reminders that fell due while the bot was down can go out now.
        self.scheduler.open_gate()
        # Every READY (a start, or a reconnect that could not RESUME): catch up on joins and leaves not seen.
        if self.home_guild is not None:
            heap.settle(len(self.home_guild.members))
            self.member_sync.start()

    async def on_resumed(self) -> None:
        self.scheduler.open_gate()

    async def on_disconnect(self) -> None:
        self.scheduler.close_gate()

    async def close(self) -> None:
        await self.ledger_upgrade.aclose()
        await self.member_sync.aclose()
        await self.scheduler.aclose()
        await super().close()
        self.reads.dispose()
