"""/remind me, /remind list, /remind cancel: a member's own reminders, read in their profile's time zone (the
community's when they have none), sent by DM (the channel where it was set when their DMs are closed) or posted
in that channel. The reminder pings only its owner; its text never pings anyone.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import when as when_module
from bot.errors import UserError
from bot.members import get_member
from bot.reminders import PermanentSendError, ReminderKind, TransientSendError, classify_error
from bot.timefmt import discord_ts
from cogs.announce import service
from cogs.announce.views import NO_MENTIONS
from models import Reminder
from models.announcements import PersonalReminder

if TYPE_CHECKING:
    from bot.core import AtlasBot

log = logging.getLogger(__name__)

HISTORY_LIMIT = 50  # messages read after a reminder's time when a retry looks for an earlier attempt's


def owner_only(owner_id: int) -> discord.AllowedMentions:
    return discord.AllowedMentions(
        everyone=False, roles=False, users=[discord.Object(owner_id)], replied_user=False
    )


@app_commands.guild_only()
class RemindCog(commands.GroupCog, group_name="remind", group_description="Your own reminders, in your time zone"):
    def __init__(self, bot: AtlasBot) -> None:
        self.bot = bot
        super().__init__()

    async def cog_load(self) -> None:
        self.bot.reminders.register(
            ReminderKind(
                service.REMIND,
                self._send,
                grace=service.KIND_GRACE,  # the late policy is ours ([reminders] personal_grace_minutes)
                max_attempts=service.MAX_ATTEMPTS,
                max_backoff=service.MAX_BACKOFF,
            )
        )

    async def cog_unload(self) -> None:
        self.bot.reminders.unregister(service.REMIND)

    async def _zone_of(self, user: discord.abc.User) -> str:
        async with self.bot.sessions() as session:
            row = await get_member(session, self.bot.guild_id, user.id)
        return (row.timezone if row is not None and row.timezone else None) or self.bot.config.community.timezone

    async def when_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        zone = await self._zone_of(interaction.user)
        if not current.strip():
            return [
                app_commands.Choice(
                    name=f'e.g. "in 2 days", "tomorrow 9:00" ({when_module.city(zone)} time)', value=""
                )
            ]
        now = self.bot.clock.now()
        try:
            shown = when_module.describe_schedule(when_module.parse_schedule(current, zone, now), now)
        except when_module.WhenError as exc:
            shown = f"✗ {exc}"
        return [app_commands.Choice(name=shown[:100], value=current[:100])]

    @app_commands.command(name="me", description="Remind yourself of something, in your own time zone")
    @app_commands.describe(
        when='e.g. "in 2 days", "tomorrow 9:00", "2026-12-03 18:30", "every Monday 8:00" (your time zone)',
        text="What to remind you of",
        where="By DM (default) or in this channel",
    )
    @app_commands.choices(
        where=[
            app_commands.Choice(name="By DM", value="dm"),
            app_commands.Choice(name="In this channel", value="channel"),
        ]
    )
    @app_commands.autocomplete(when=when_autocomplete)
    async def me(
        self,
        interaction: discord.Interaction,
        when: app_commands.Range[str, 1, 100],
        text: app_commands.Range[str, 1, 1000],
        where: str = "dm",
    ) -> None:
        if not text.strip():
            raise UserError("Say what to remind you of.")
        zone = await self._zone_of(interaction.user)
        now = self.bot.clock.now()
        try:
            parsed = when_module.parse_schedule(when, zone, now)
        except when_module.WhenError as exc:
            raise UserError(f"{exc} (read in your time zone, {zone}; set it with your profile)") from exc
        channel = interaction.channel
        assert channel is not None and interaction.guild is not None
        if where == "channel":
            me = interaction.guild.me
            perms = channel.permissions_for(me)  # type: ignore[union-attr]
            in_thread = isinstance(channel, discord.Thread)
            if not (perms.send_messages_in_threads if in_thread else perms.send_messages):
                raise UserError("I cannot post in this channel: choose a DM instead.")
        # A slash command has no message of its own: the link goes to the last message where it was set (in a
        # thread, the thread's), or to the channel or thread itself when it has none.
        jump_url = f"https://discord.com/channels/{interaction.guild.id}/{channel.id}"
        last_id = getattr(channel, "last_message_id", None)
        if last_id:
            jump_url += f"/{last_id}"
        spec = service.ReminderSpec(
            guild_id=self.bot.guild_id,
            owner_id=interaction.user.id,
            text=text,
            place=where,
            channel_id=channel.id,
            jump_url=jump_url,
        )
        try:
            async with self.bot.sessions.begin() as session:
                row = await service.create_reminder(
                    session, self.bot.reminders, spec, parsed, now, self.bot.config.reminders.max_active_per_member
                )
        except service.RuleError as exc:
            raise UserError(str(exc)) from exc
        assert row.next_at is not None
        place = "by DM" if where == "dm" else "in this channel"
        await interaction.response.send_message(
            f"⏰ Reminder #{row.id} set {place}: {discord_ts(row.next_at, 'F')} ({discord_ts(row.next_at, 'R')}); "
            f"{service.describe_row(row)}.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command(name="list", description="Your active reminders")
    async def list_(self, interaction: discord.Interaction) -> None:
        async with self.bot.sessions() as session:
            rows = await service.active_reminders(session, self.bot.guild_id, interaction.user.id)
        if not rows:
            await interaction.response.send_message("You have no active reminders.", ephemeral=True)
            return
        lines = []
        for row in rows:
            assert row.next_at is not None
            short = discord.utils.escape_markdown(" ".join(row.text.split()))[:80]
            repeat = f" ({service.describe_row(row)})" if row.rule else ""
            lines.append(f"**#{row.id}** {discord_ts(row.next_at, 'F')}{repeat}: {short}")
        text = "\n".join(lines)
        await interaction.response.send_message(text[:2000], ephemeral=True, allowed_mentions=NO_MENTIONS)

    async def reminder_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        async with self.bot.sessions() as session:
            rows = await service.active_reminders(session, self.bot.guild_id, interaction.user.id)
        zone = await self._zone_of(interaction.user)
        choices = []
        for row in rows:
            assert row.next_at is not None
            name = f"#{row.id} {when_module.describe_instant(row.next_at, zone)} · {' '.join(row.text.split())}"
            if current.lower() in name.lower():
                choices.append(app_commands.Choice(name=name[:100], value=row.id))
        return choices[:25]

    @app_commands.command(name="cancel", description="Cancel one of your reminders")
    @app_commands.describe(reminder="The reminder")
    @app_commands.autocomplete(reminder=reminder_autocomplete)
    async def cancel(self, interaction: discord.Interaction, reminder: int) -> None:
        try:
            async with self.bot.sessions.begin() as session:
                row = await service.cancel_reminder(
                    session, self.bot.reminders, self.bot.guild_id, interaction.user.id, reminder
                )
                row_id = row.id
        except service.RuleError as exc:
            raise UserError(str(exc)) from exc
        await interaction.response.send_message(f"Reminder #{row_id} cancelled.", ephemeral=True)

    # -- sending ---------------------------------------------------------------------------------------------
    async def _send(self, reminder: Reminder) -> None:
        now = self.bot.clock.now()
        grace = timedelta(minutes=self.bot.config.reminders.personal_grace_minutes)
        async with self.bot.sessions.begin() as session:
            step = await service.begin_occurrence(
                session, self.bot.reminders, service.REMIND, reminder.payload, now, grace
            )
            if step.action != "send":
                return
            row = step.row
            assert isinstance(row, PersonalReminder) and step.due is not None
            owner, text, place, channel_id, jump, due = (
                row.owner_id,
                row.text,
                row.place,
                row.channel_id,
                row.jump_url,
                step.due,
            )
        late = now - due > timedelta(minutes=5)
        mark = f"⏰ Reminder: {text}\n(set in {jump}"
        body = mark + (f"; due {discord_ts(due, 'F')}, sent late)" if late else ")")
        # An attempt after the first may follow one that Discord carried out (its answer lost, or the process
        # died before recording it): look for that message first.
        check = reminder.attempts > 1
        nonce = f"r{reminder.payload['id']}.{int(due.timestamp())}"[:25]
        try:
            await self._deliver(owner, place, channel_id, body, mark, due, nonce, check)
        except Exception as exc:
            error = classify_error(exc)
            if isinstance(error, TransientSendError):
                raise error from exc
            if not isinstance(error, PermanentSendError):
                raise  # a bug: the dispatcher records it with its traceback, nothing is swallowed
            log.warning("personal reminder %s not delivered: %s", reminder.payload["id"], error)
        async with self.bot.sessions.begin() as session:
            await service.finish_occurrence(
                session,
                self.bot.reminders,
                service.REMIND,
                reminder.payload["id"],
                due,
                self.bot.clock.now(),
                ("", None, ""),
            )

    async def _deliver(
        self,
        owner_id: int,
        place: str,
        channel_id: int,
        body: str,
        mark: str,
        due: datetime,
        nonce: str,
        check: bool,
    ) -> None:
        if place == "dm":
            user = self.bot.get_user(owner_id) or await self.bot.fetch_user(owner_id)
            try:
                dm = user.dm_channel or await user.create_dm()
                if check and await self._already_sent(dm, mark, due):
                    return
                await dm.send(body, allowed_mentions=NO_MENTIONS, nonce=nonce)
                return
            except discord.Forbidden:
                pass  # DMs closed: the channel where it was set, pinging only the owner
        channel = self.bot.get_channel(channel_id) or await self.bot.fetch_channel(channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            raise PermanentSendError("DMs closed and the channel is gone")
        if check and await self._already_sent(channel, mark, due):
            return
        await channel.send(f"<@{owner_id}> {body}", allowed_mentions=owner_only(owner_id), nonce=nonce)

    async def _already_sent(self, channel: discord.abc.Messageable, mark: str, due: datetime) -> bool:
        """Whether the bot's reminder is in ``channel`` since just before it was due (the bot sees its own
        messages' content); False when the history cannot be read."""
        me = self.bot.user
        after = discord.Object(discord.utils.time_snowflake(due - timedelta(minutes=1)))
        try:
            async for message in channel.history(limit=HISTORY_LIMIT, after=after, oldest_first=True):
                if me is not None and message.author.id == me.id and mark in message.content:
                    return True
        except discord.Forbidden:
            return False
        return False
