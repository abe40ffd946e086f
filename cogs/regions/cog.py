"""Regional and language channels on Discord: checked by a daily job and after a member finishes onboarding.

A group that reached ``[regions] min_members`` gets a text channel under the ``[channels] regions`` category, or,
without one, a public thread in ``[regions] thread_channel``. Before making one the bot looks for a channel (or
an active thread) of that name there and adopts it, so a crash between Discord's answer and the database write
never leaves two. A refusal from Discord (no Manage Channels, a full category) is told to maintainers once and
tried again by the next run.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands
from sqlalchemy.ext.asyncio import AsyncSession

from bot.checks import Capability, require
from bot.scheduler import Job
from cogs.regions import groups, service

if TYPE_CHECKING:
    from bot.core import AtlasBot

log = logging.getLogger(__name__)

DAILY_JOB = "regions.make_channels"
NOTICE = "regions_channels"
THREAD_ARCHIVE_MINUTES = 10080  # a week: the longest Discord allows


def region_targets(bot: AtlasBot) -> tuple[int, int]:
    """(category id, thread channel id): the category from config or the one server setup made."""
    return bot.channel_ids.id("regions"), int(bot.config.regions.thread_channel)


def _topic(group: groups.Group) -> str:
    if group.kind == groups.REGION:
        return f"For members in {group.display}: meet people in your time zones."
    return f"For members who speak {group.display}."


class RegionsCog(commands.Cog):
    regions = app_commands.Group(name="regions", description="Regional and language channels", guild_only=True)

    def __init__(self, bot: AtlasBot) -> None:
        self.bot = bot
        self._lock = asyncio.Lock()  # one check at a time in this process (the claims cover other processes)
        self._again = False

    async def cog_load(self) -> None:
        self.bot.scheduler.add_job(Job(DAILY_JOB, {"hour": 5, "minute": 30}, self.daily_job))

    async def cog_unload(self) -> None:
        self.bot.scheduler.remove_job(DAILY_JOB)

    async def daily_job(self, now: datetime) -> None:
        await self.check(now)

    @commands.Cog.listener()
    async def on_atlas_onboarded(self, discord_id: int) -> None:
        # A burst of onboardings is coalesced: while a check runs, later ones only ask for one more run after it
        # (each check counts everyone, so one run after the last onboarding sees them all).
        if self._lock.locked():
            self._again = True
            return
        try:
            await self.check(self.bot.clock.now())  # runs again itself while ``_again`` is set
        except Exception:
            log.exception("regional channels: the check after %s's onboarding failed", discord_id)

    @regions.command(
        name="status", description="Members per region and language, and the channels made (maintainers)"
    )
    @require(Capability.MANAGE_COMMUNITY)
    async def status(self, interaction: discord.Interaction) -> None:
        async with self.bot.sessions() as session:
            found = await self._groups(session)
            done = await service.made_channels(session, self.bot.guild_id)
        minimum = self.bot.config.regions.min_members
        where = self._where()
        lines = [
            f"A channel is made at {minimum} members, "
            + (
                f"in <#{where.id}>."
                if where is not None
                else "but no place is set up ([channels] regions, or [regions] thread_channel): nothing is made."
            )
        ]
        for group in sorted(found.values(), key=lambda g: (-g.members, g.kind, g.key))[:25]:
            channel = done.get((group.kind, group.key))
            state = f"<#{channel}>" if channel else ("due" if group.members >= minimum else "")
            lines.append(f"{group.kind} **{group.name}**: {group.members} {state}".rstrip())
        await interaction.response.send_message(
            "\n".join(lines)[:2000], ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    async def _groups(self, session: AsyncSession) -> dict[tuple[str, str], groups.Group]:
        settings = self.bot.config.regions
        return await service.member_groups(
            session, self.bot.guild_id, languages=settings.languages, main_language=settings.main_language
        )

    def _where(self) -> discord.CategoryChannel | discord.TextChannel | None:
        category_id, thread_channel_id = region_targets(self.bot)
        category = self.bot.get_channel(category_id) if category_id else None
        if isinstance(category, discord.CategoryChannel):
            return category
        channel = self.bot.get_channel(thread_channel_id) if thread_channel_id else None
        return channel if isinstance(channel, discord.TextChannel) else None

    async def check(self, now: datetime) -> list[str]:
        """Make the channels that are due; the names made (or adopted). An onboarding that arrived while a run
        held the lock (``_again``) gets one more run here, whoever started this one (the daily job too)."""
        made = await self._check_once(now)
        while self._again:
            self._again = False
            made += await self._check_once(self.bot.clock.now())
        return made

    async def _check_once(self, now: datetime) -> list[str]:
        where = self._where()
        if where is None:
            return []  # nowhere configured: nothing is made (README says so)
        async with self._lock:
            async with self.bot.sessions() as session:
                found = await self._groups(session)
                done = await service.made(session, self.bot.guild_id)
            made: list[str] = []
            failed = False
            for group in groups.due(found, self.bot.config.regions.min_members, done):
                async with self.bot.sessions.begin() as session:
                    row_id = await service.claim(session, self.bot.guild_id, group, now)
                if row_id is None:
                    continue
                try:
                    channel_id, is_thread = await self._make(where, group)
                except discord.HTTPException as exc:
                    async with self.bot.sessions.begin() as session:
                        await service.release(session, row_id)
                    failed = True
                    await self.bot.notify_maintainers_once(
                        NOTICE,
                        f"Could not make the channel #{group.name} for {group.members} members "
                        f"({exc.status} {exc.text or 'refused'}): {self._cause(where)} "
                        "It tries again every day.",
                    )
                    break
                async with self.bot.sessions.begin() as session:
                    await service.record_made(
                        session, row_id, channel_id=channel_id, is_thread=is_thread, members=group.members, now=now
                    )
                made.append(group.name)
            if made and not failed:  # a failure in this run keeps its notice armed (told once, not daily)
                await self.bot.clear_notice(NOTICE)
            return made

    def _cause(self, where: discord.CategoryChannel | discord.TextChannel) -> str:
        """What the bot lacks, in words for maintainers."""
        me = where.guild.me
        here = where.permissions_for(me)
        if isinstance(where, discord.TextChannel):
            if not (here.create_public_threads and here.send_messages_in_threads):
                return f"the bot needs Create Public Threads and Send Messages in Threads in <#{where.id}>."
            return f"the bot may need room for more threads in <#{where.id}>."
        if not here.manage_channels:
            return f"the bot needs Manage Channels in <#{where.id}>."
        if where.overwrites and not me.guild_permissions.manage_roles:
            return (
                f"the bot needs Manage Roles to give a new channel the permission settings of <#{where.id}> "
                "(or the category needs none)."
            )
        return f"the bot needs Manage Channels in <#{where.id}> and room in it (50 channels at most)."

    async def _make(
        self, where: discord.CategoryChannel | discord.TextChannel, group: groups.Group
    ) -> tuple[int, bool]:
        if isinstance(where, discord.CategoryChannel):
            for channel in where.text_channels:
                if channel.name == group.name:
                    return channel.id, False  # made before a crash, or by hand: adopted
            # A channel made through the API gets only the overwrites it is given: the category's are passed so it
            # matches its category as one made in Discord's client does (synced), as far as the bot may set them.
            overwrites = self._settable(where)
            extra: dict[str, Any] = {"overwrites": overwrites} if overwrites else {}
            created = await where.create_text_channel(
                group.name,
                topic=_topic(group),
                reason=f"Atlas: {group.members} members in {group.display}",
                **extra,
            )
            await self._welcome(created, group)
            return created.id, False
        for thread in where.threads:
            if thread.name == group.name:
                return thread.id, True
        thread = await where.create_thread(
            name=group.name,
            type=discord.ChannelType.public_thread,
            auto_archive_duration=THREAD_ARCHIVE_MINUTES,
            reason=f"Atlas: {group.members} members in {group.display}",
        )
        await self._welcome(thread, group)
        return thread.id, True

    def _settable(
        self, category: discord.CategoryChannel
    ) -> dict[discord.Role | discord.Member | discord.Object, discord.PermissionOverwrite]:
        """The category's overwrites cut to what the bot may set. Discord (Create Guild Channel): "If setting
        permission overwrites, only permissions your bot has in the guild can be allowed/denied. Setting
        MANAGE_ROLES permission in channels is only possible for guild administrators." Anything else is refused
        whole (403, 50013), so one Manage Messages for moderators would stop every channel."""
        mine = category.guild.me.guild_permissions
        may = discord.Permissions(mine.value)
        if not mine.administrator:
            may.manage_roles = False
        out: dict[discord.Role | discord.Member | discord.Object, discord.PermissionOverwrite] = {}
        dropped = discord.Permissions.none()
        for target, overwrite in category.overwrites.items():
            allow, deny = overwrite.pair()
            dropped.value |= (allow.value | deny.value) & ~may.value
            kept = discord.PermissionOverwrite.from_pair(
                discord.Permissions(allow.value & may.value), discord.Permissions(deny.value & may.value)
            )
            if not kept.is_empty():
                out[target] = kept
        if dropped.value:
            names = ", ".join(sorted(name for name, on in dropped if on))
            log.warning("regional channels in %s: left out overwrites the bot may not set: %s", category.id, names)
        return out

    async def _welcome(self, channel: discord.TextChannel | discord.Thread, group: groups.Group) -> None:
        try:
            await channel.send(
                f"Welcome! {_topic(group)} {group.members} members share this so far.",
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.HTTPException as exc:  # the channel exists and is recorded all the same
            log.warning("could not greet in #%s: %s", group.name, exc)
