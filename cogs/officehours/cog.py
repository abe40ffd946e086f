"""The /officehours commands: scheduling (one-off or weekly, in the host's own time zone), the native event and
the announcement with RSVP buttons, cancelling and rescheduling, questions ahead. The live commands (start, end)
come in from ``live_cog.LiveCommands``.

Every session is written to the database first; its native event and announcement follow, each recorded the
moment it exists (``_publish``), so a Discord error or a restart half-way resumes rather than duplicates: the
daily job (and each new schedule) publishes whatever is still missing and tops weekly series up to
``[office_hours] series_ahead`` upcoming sessions.

RSVPs, cancels and Interested changes of a session go through one queue per session and are taken in snowflake
order (``_in_click_order``), each only after its interaction was deferred; unloading takes what is queued before
stopping. The queue lives in this process: were two bot processes to share the database, each would order its own
clicks, and between the two the seats go by the order they take the session's row lock (never over capacity).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands
from sqlalchemy.ext.asyncio import AsyncSession

from bot import when as when_module
from bot.checks import Capability, member_has, require
from bot.earlier_sends import own_messages_since
from bot.errors import UserError
from bot.members import ensure_member, get_member
from bot.reminders import PermanentSendError, ReminderKind, TransientSendError
from bot.scheduler import Job
from bot.timefmt import discord_ts
from cogs.officehours import service
from cogs.officehours.live_cog import LiveCommands
from cogs.officehours.views import AnsweredSelect, QuestionModal, SessionButton, announcement_view, answered_view
from models import Reminder
from models.officehours import OfficeHour, OfficeHourRsvp

if TYPE_CHECKING:
    from bot.core import AtlasBot

log = logging.getLogger(__name__)

SERIES_JOB = "officehours-series"
# Discord: "Maximum number of uncompleted guild scheduled events reached (100)".
MAX_EVENTS_CODE = 30038
NO_MENTIONS = discord.AllowedMentions.none()
# Seconds of quiet before a session's queued RSVP clicks are taken in click order (well inside the 3 s Discord
# gives an interaction: the click is deferred at once).
CLICK_SETTLE = 0.15
CLICK_ROUNDS = 5
# The reason told to everyone who RSVP'd when the session's event is cancelled outside the bot. After the start it
# is Discord's own (an event not started is cancelled "after a few hours", "Guild Scheduled Event Status Update
# Automation"); before the start it can only have been someone cancelling it in Discord.
DISCORD_CANCELLED_LATE = "its Discord event was cancelled (it had not been started in time)."
DISCORD_CANCELLED_EARLY = "its Discord event was cancelled in Discord."


RSVP, CANCEL = "rsvp", "cancel"
# How long unloading waits for the queued clicks to be taken (each is answered) before giving up on the rest.
CLICK_DRAIN = 5.0


@dataclass
class _Click:
    click_id: int  # the interaction's snowflake (or the moment an Interested change arrived, as one)
    user: discord.abc.User
    via: str  # "button" | "interested"
    future: asyncio.Future[Any]
    action: str = RSVP  # RSVP, or CANCEL (an Interested removal cancels only an RSVP made by Interested)


def _when_text(row: OfficeHour) -> str:
    return (
        f"{discord_ts(row.starts_at, 'F')} ({discord_ts(row.starts_at, 'R')}), "
        f"{row.duration_minutes} minutes; the host's time: {when_module.describe_instant(row.starts_at, row.zone)}"
    )


@app_commands.guild_only()
class OfficeHoursCog(
    LiveCommands,
    commands.GroupCog,
    group_name="officehours",
    group_description="Office hours: scheduled sessions with RSVPs, a live queue and follow-up",
):
    def __init__(self, bot: AtlasBot) -> None:
        self.bot = bot
        self.config = bot.config.office_hours
        self._refreshing: dict[int, bool] = {}
        self._publishing = asyncio.Lock()
        self._clicks: dict[int, list[_Click]] = {}
        self._click_workers: dict[int, asyncio.Task[None]] = {}
        super().__init__()

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(SessionButton, AnsweredSelect)
        # The question form's submit works after a restart: one shared modal, the session in its inputs' ids.
        self._question_modal = QuestionModal()
        self.bot.add_view(self._question_modal)
        self.bot.scheduler.add_job(Job(SERIES_JOB, {"hour": 3, "minute": 15}, self.series_job))
        # The session reminders' own late policy is their expiry (the start); the grace only bounds a backlog.
        grace = timedelta(days=7)
        self.bot.reminders.register(ReminderKind(service.REMIND, self._fan_out, grace=grace))
        self.bot.reminders.register(ReminderKind(service.REMIND_ONE, self._remind_one, grace=grace))
        self.bot.reminders.register(ReminderKind(service.CANCELLED_ONE, self._tell_cancelled, grace=grace))
        self.bot.reminders.register(ReminderKind(service.PROMOTED_ONE, self._tell_promoted, grace=grace))
        self.bot.reminders.register(ReminderKind(service.MOVED_ONE, self._tell_moved, grace=grace))
        await self.live_load()

    async def cog_unload(self) -> None:
        # The clicks already queued are taken (and answered) rather than dropped; only a stuck worker is cancelled.
        workers = list(self._click_workers.values())
        if workers:
            _done, stuck = await asyncio.wait(workers, timeout=CLICK_DRAIN)
            for worker in stuck:
                worker.cancel()
        self.bot.remove_dynamic_items(SessionButton, AnsweredSelect)
        self.bot.scheduler.remove_job(SERIES_JOB)
        for kind in (
            service.REMIND,
            service.REMIND_ONE,
            service.CANCELLED_ONE,
            service.PROMOTED_ONE,
            service.MOVED_ONE,
        ):
            self.bot.reminders.unregister(kind)
        await self.live_unload()

    # -- helpers ---------------------------------------------------------------------------------------------
    @property
    def _offsets(self) -> list[int]:
        return list(self.bot.config.reminders.office_hours_offsets_minutes)

    async def _zone_of(self, user: discord.abc.User) -> str:
        async with self.bot.sessions() as session:
            row = await get_member(session, self.bot.guild_id, user.id)
        return (row.timezone if row is not None and row.timezone else None) or self.bot.config.community.timezone

    async def _member_id(self, user: discord.abc.User) -> int:
        joined = getattr(user, "joined_at", None) or self.bot.clock.now()
        async with self.bot.sessions.begin() as session:
            row = await ensure_member(
                session,
                self.bot.guild_id,
                user.id,
                display_name=getattr(user, "display_name", ""),
                joined_at=joined,
            )
            return row.id

    # -- /officehours schedule -------------------------------------------------------------------------------
    @app_commands.command(
        name="schedule", description="Schedule office hours in your own time zone (mentors, teachers, maintainers)"
    )
    @app_commands.describe(
        when='e.g. "Wed 4 Nov 18:00", "tomorrow 18:00" or "every Tuesday 18:00" (your profile\'s time zone)',
        duration="Minutes",
        topic="What the session is about",
        channel="The voice or stage channel it takes place in",
        capacity="Seats (default from the server's settings)",
        recorded="Whether the session is recorded (shown to everyone before they join)",
    )
    @require(Capability.HOST_OFFICE_HOURS)
    async def schedule(
        self,
        interaction: discord.Interaction,
        when: str,
        duration: app_commands.Range[int, 15, 1440],
        topic: app_commands.Range[str, 1, 100],
        channel: discord.VoiceChannel | discord.StageChannel,
        capacity: app_commands.Range[int, 1, 500] | None = None,
        recorded: bool = False,
    ) -> None:
        if duration > self.config.max_duration_minutes:
            raise UserError(f"A session lasts at most {self.config.max_duration_minutes} minutes.")
        if " ".join(topic.split()) == "":
            raise UserError("Give the session a topic.")
        now = self.bot.clock.now()
        zone = await self._zone_of(interaction.user)
        try:
            parsed = _parse(when, zone, now)
        except when_module.WhenError as exc:
            raise UserError(str(exc)) from None
        await interaction.response.defer(ephemeral=True, thinking=True)
        host_id = await self._member_id(interaction.user)
        spec = service.SessionSpec(
            guild_id=self.bot.guild_id,
            host_id=host_id,
            topic=" ".join(topic.split()),
            zone=zone,
            duration_minutes=duration,
            capacity=capacity or self.config.default_capacity,
            channel_id=channel.id,
            recorded=recorded,
        )
        async with self.bot.sessions.begin() as session:
            if isinstance(parsed, when_module.Once):
                row = await service.create_once(session, spec, parsed.starts_at, now)
                ids = [row.id]
            else:
                _series, ids = await service.create_series(session, spec, parsed, self.config.series_ahead, now)
            for office_hour_id in ids:
                made = await session.get(OfficeHour, office_hour_id)
                assert made is not None
                await service.plan_reminders(session, self.bot.reminders, made, self._offsets, now)
        problems = [p for p in [await self._publish(i) for i in ids] if p]
        lines = [
            f"Scheduled **{discord.utils.escape_markdown(spec.topic)}**: {when_module.describe(parsed, now)}."
        ]
        if len(ids) > 1:
            lines.append(f"The next {len(ids)} sessions exist now; each following one is made as these pass.")
        lines += problems
        await interaction.followup.send("\n".join(lines), ephemeral=True, allowed_mentions=NO_MENTIONS)

    @schedule.autocomplete("when")
    async def when_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        zone = await self._zone_of(interaction.user)
        if not current.strip():
            return [app_commands.Choice(name=f"Type a day and time ({when_module.city(zone)} time)", value="")]
        try:
            shown = when_module.describe(_parse(current, zone, self.bot.clock.now()), self.bot.clock.now())
        except when_module.WhenError as exc:
            shown = f"✗ {exc}"
        return [app_commands.Choice(name=shown[:100], value=current[:100])]

    # -- Discord's view of a session -------------------------------------------------------------------------
    async def _publish(self, office_hour_id: int, *, again: bool = False) -> str | None:
        """Creates what is missing of the session's native event and announcement, recording each at once; the
        problems in words, or None. The announcement goes out even when the event cannot (yet) be made.
        ``again``: an earlier attempt may have made them without recording it (the process died in between):
        an event or announcement of ours for this session is adopted instead of made a second time."""
        async with self._publishing:
            guild = self.bot.get_guild(self.bot.guild_id)
            async with self.bot.sessions() as session:
                row = await session.get(OfficeHour, office_hour_id)
                if row is None or row.state != "scheduled":
                    return None
                left = (await service.seats(session, office_hour_id)).left
            if guild is None:
                return "The server is not available right now; the event will be created later."
            problems = []
            if row.event_id is None:
                problem = await self._create_event(guild, row, again=again)
                if problem:
                    problems.append(problem)
            if row.announcement_message_id is None:
                problem = await self._announce(guild, row, left, again=again)
                if problem:
                    problems.append(problem)
            return "\n".join(problems) or None

    async def _create_event(self, guild: discord.Guild, row: OfficeHour, *, again: bool = False) -> str | None:
        channel = guild.get_channel(row.channel_id)
        if not isinstance(channel, discord.VoiceChannel | discord.StageChannel):
            return "The session's voice channel no longer exists: reschedule it in another channel."
        earlier = None
        if again:
            async with self.bot.sessions() as session:
                # Another session's event (a cancelled one in the same slot, say) is never this one's.
                taken = await service.event_ids_taken(session, row.id)
            earlier = next(
                (e for e in guild.scheduled_events if e.id not in taken and _made_for(e, row, self.bot.user)), None
            )
        try:
            event = earlier or await guild.create_scheduled_event(
                name=row.topic,
                start_time=row.starts_at,
                end_time=service.ends_at(row),
                channel=channel,
                privacy_level=discord.PrivacyLevel.guild_only,
                description=_event_description(row),
                reason="office hours scheduled",
            )
        except discord.HTTPException as exc:
            if exc.code == MAX_EVENTS_CODE:
                return (
                    "Discord allows at most 100 upcoming events on a server and that many exist: the session is "
                    "saved and announced; its event is created once an older one ends or is cancelled."
                )
            if isinstance(exc, discord.Forbidden):
                needs = (
                    "Manage Channels, Mute Members and Move Members"
                    if isinstance(channel, discord.StageChannel)
                    else "View Channel and Connect"
                )
                return (
                    f"I may not create events in {channel.mention} (I need Create Events, and {needs} there): "
                    "the session is saved and announced; its event is created once I can."
                )
            log.warning("office hours %s: creating the event failed: %s", row.id, exc)
            return "Discord refused the event for now; it will be created later."
        # Recorded at once: a crash after this never makes a second event.
        async with self.bot.sessions.begin() as session:
            fresh = await session.get(OfficeHour, row.id)
            assert fresh is not None
            fresh.event_id = event.id
        row.event_id = event.id
        return None

    async def _announce(
        self, guild: discord.Guild, row: OfficeHour, left: int, *, again: bool = False
    ) -> str | None:
        target = guild.get_channel(self.bot.channel_ids.id("office_hours"))
        if not isinstance(target, discord.TextChannel):
            return "The office-hours channel is not set up, so there is no announcement with RSVP buttons."
        rsvp = f"oh:rsvp:{row.id}"
        earlier = (
            await own_messages_since(
                self.bot.user,
                target,
                row.created_at,
                lambda m: any(getattr(c, "custom_id", None) == rsvp for r in m.components for c in r.children),
            )
            if again
            else []
        )
        try:
            message = (
                earlier[0]
                if earlier
                else await target.send(
                    _announcement(row, left), view=announcement_view(row.id), allowed_mentions=NO_MENTIONS
                )
            )
        except discord.HTTPException as exc:
            log.warning("office hours %s: the announcement failed: %s", row.id, exc)
            return "The announcement could not be posted yet; it will be posted later."
        async with self.bot.sessions.begin() as session:
            fresh = await session.get(OfficeHour, row.id)
            assert fresh is not None
            fresh.announcement_channel_id, fresh.announcement_message_id = target.id, message.id
        row.announcement_channel_id, row.announcement_message_id = target.id, message.id
        return None

    async def refresh_announcement(self, office_hour_id: int) -> None:
        """Edits the announcement to the current seats (coalesced: many clicks, few edits)."""
        if office_hour_id in self._refreshing:
            self._refreshing[office_hour_id] = True
            return
        self._refreshing[office_hour_id] = False
        try:
            while True:
                async with self.bot.sessions() as session:
                    row = await session.get(OfficeHour, office_hour_id)
                    if row is None or row.announcement_message_id is None or row.announcement_channel_id is None:
                        return
                    left = (await service.seats(session, office_hour_id)).left
                channel = self.bot.get_channel(row.announcement_channel_id)
                if isinstance(channel, discord.TextChannel):
                    try:
                        await channel.get_partial_message(row.announcement_message_id).edit(
                            content=_announcement(row, left),
                            view=announcement_view(row.id, closed=row.state in ("ended", "cancelled")),
                            allowed_mentions=NO_MENTIONS,
                        )
                    except discord.HTTPException as exc:
                        log.warning("office hours %s: editing the announcement failed: %s", office_hour_id, exc)
                if not self._refreshing.get(office_hour_id):
                    return
                self._refreshing[office_hour_id] = False
        finally:
            self._refreshing.pop(office_hour_id, None)

    async def cancel_for_discord(self, office_hour_id: int) -> None:
        """Discord cancelled the session's event (not started hours after its start, or cancelled in the client):
        the session is cancelled with it, everyone who RSVP'd told once, the announcement closed."""
        now = self.bot.clock.now()
        async with self.bot.sessions.begin() as db:
            current = await db.get(OfficeHour, office_hour_id)
            late = current is not None and now >= current.starts_at
            reason = DISCORD_CANCELLED_LATE if late else DISCORD_CANCELLED_EARLY
            row = await service.cancel_session(db, self.bot.reminders, office_hour_id, reason, self._offsets, now)
            series_id = row.series_id
        await self.refresh_announcement(office_hour_id)
        await self.top_up_series(series_id)

    async def top_up_series(self, series_id: int | None) -> None:
        """Makes a series' next session(s) right after one of its sessions ended or was cancelled (the daily job
        does the same; UNIQUE(series_id, starts_at) keeps the two from making one twice)."""
        if series_id is None:
            return
        now = self.bot.clock.now()
        async with self.bot.sessions.begin() as session:
            made = await service.extend_series(session, series_id, self.config.series_ahead, now)
            for office_hour_id in made:
                row = await session.get(OfficeHour, office_hour_id)
                assert row is not None
                await service.plan_reminders(session, self.bot.reminders, row, self._offsets, now)
        for office_hour_id in made:
            await self._publish(office_hour_id)

    async def series_job(self, now: datetime) -> None:
        """Tops every weekly series up to ``series_ahead`` upcoming sessions and publishes what is missing."""
        async with self.bot.sessions.begin() as session:
            for series_id in await service.active_series(session, self.bot.guild_id):
                for office_hour_id in await service.extend_series(
                    session, series_id, self.config.series_ahead, now
                ):
                    made = await session.get(OfficeHour, office_hour_id)
                    assert made is not None
                    await service.plan_reminders(session, self.bot.reminders, made, self._offsets, now)
        async with self.bot.sessions() as session:
            ids = await service.needing_discord(session, self.bot.guild_id, now)
        for office_hour_id in ids:
            await self._publish(office_hour_id, again=True)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Sessions a stopped process left without their event or announcement are finished at once, not at
        the next series job (a member would meanwhile see no RSVP button)."""
        async with self.bot.sessions() as session:
            ids = await service.needing_discord(session, self.bot.guild_id, self.bot.clock.now())
        for office_hour_id in ids:
            try:
                await self._publish(office_hour_id, again=True)
            except Exception:
                log.exception("office hours %s: publishing after the restart failed", office_hour_id)

    # -- reminders -------------------------------------------------------------------------------------------
    async def _fan_out(self, reminder: Reminder) -> None:
        async with self.bot.sessions.begin() as session:
            await service.fan_out(session, self.bot.reminders, reminder, self.bot.clock.now())

    async def _reader_zone_line(self, discord_id: int, starts_at: datetime) -> str:
        async with self.bot.sessions() as session:
            member = await get_member(session, self.bot.guild_id, discord_id)
        zone = member.timezone if member is not None and member.timezone else None
        if zone is None:
            return ""
        local = starts_at.astimezone(when_module.zone_info(zone))
        return f" ({local:%a} {local.day} {local:%b} {local:%H:%M} in your time zone, {zone})"

    async def _dm_or_channel(self, discord_id: int, text: str, reminder: Reminder | None = None) -> None:
        """A DM; when the member's DMs are closed, the office-hours channel with that one member pinged. A member
        no longer in the server, or a deleted account, is permanent: the reminder fails once, is not retried,
        pings nobody. A retry (an attempt before a crash may have sent it) first looks for the same text among
        the bot's messages there; the nonce covers a retry within Discord's few minutes."""
        # The member as the server knows them: one who left (or a deleted account) fails the reminder for good.
        user = await self.bot.live_member(discord_id)
        nonce = f"o{reminder.id}"[:25] if reminder is not None else None
        retried = reminder.created_at if reminder is not None and reminder.attempts > 1 else None
        try:
            dm = await user.create_dm()
            if retried and await own_messages_since(self.bot.user, dm, retried, lambda m: m.content == text):
                return
            await dm.send(text, allowed_mentions=NO_MENTIONS, nonce=nonce)
            return
        except discord.Forbidden:
            pass
        channel = self.bot.get_channel(self.bot.channel_ids.id("office_hours"))
        if not isinstance(channel, discord.TextChannel):
            raise PermanentSendError("DMs closed and no office-hours channel")
        public = f"<@{discord_id}> {text}"
        if retried and await own_messages_since(self.bot.user, channel, retried, lambda m: m.content == public):
            return
        await channel.send(public, allowed_mentions=discord.AllowedMentions(users=[user]), nonce=nonce)

    async def _remind_one(self, reminder: Reminder) -> None:
        now = self.bot.clock.now()
        async with self.bot.sessions() as session:
            row = await session.get(OfficeHour, reminder.payload["session"])
            seated = {r.member_id for r in await service.rsvps(session, reminder.payload["session"], service.SEAT)}
        if not service.still_due(row, reminder.payload["starts_at"], now):
            return
        assert row is not None
        if not reminder.payload.get("host") and reminder.payload["member"] not in seated:
            return  # the RSVP was cancelled since
        topic = discord.utils.escape_markdown(row.topic)
        role = "you are hosting" if reminder.payload.get("host") else "you have a seat at"
        zone_line = await self._reader_zone_line(reminder.target_id, row.starts_at)
        recorded = "It is recorded." if row.recorded else "It is not recorded."
        text = (
            f"⏰ Reminder: {role} **{topic}**, {discord_ts(row.starts_at, 'F')}{zone_line}, "
            f"{discord_ts(row.starts_at, 'R')}, in <#{row.channel_id}>. {recorded}"
        )
        await self._dm_or_channel(reminder.target_id, text, reminder)

    async def _tell_cancelled(self, reminder: Reminder) -> None:
        async with self.bot.sessions() as session:
            row = await session.get(OfficeHour, reminder.payload["session"])
            mine = await session.get(OfficeHourRsvp, (reminder.payload["session"], reminder.payload["member"]))
        if row is None or row.state != "cancelled" or mine is None:
            return  # not cancelled, or the member's data was erased since
        reason = f" Reason: {discord.utils.escape_markdown(row.cancel_reason)}" if row.cancel_reason else ""
        zone_line = await self._reader_zone_line(reminder.target_id, row.starts_at)
        await self._dm_or_channel(
            reminder.target_id,
            f"❌ **{discord.utils.escape_markdown(row.topic)}** on {discord_ts(row.starts_at, 'F')}{zone_line} is "
            f"cancelled.{reason}",
            reminder,
        )

    async def _tell_moved(self, reminder: Reminder) -> None:
        async with self.bot.sessions() as session:
            row = await session.get(OfficeHour, reminder.payload["session"])
        if not service.still_due(row, reminder.payload["starts_at"], self.bot.clock.now()):
            return  # cancelled, started or moved again since (that move tells them)
        assert row is not None
        zone_line = await self._reader_zone_line(reminder.target_id, row.starts_at)
        await self._dm_or_channel(
            reminder.target_id,
            f"🔁 **{discord.utils.escape_markdown(row.topic)}** has moved to {discord_ts(row.starts_at, 'F')}"
            f"{zone_line}, {discord_ts(row.starts_at, 'R')}. Your RSVP stands.",
            reminder,
        )

    # -- /officehours cancel, reschedule ---------------------------------------------------------------------
    async def _may_manage(self, interaction: discord.Interaction, office_hour_id: int) -> OfficeHour:
        async with self.bot.sessions() as session:
            row = await session.get(OfficeHour, office_hour_id)
            me = await get_member(session, self.bot.guild_id, interaction.user.id)
        if row is None or row.guild_id != self.bot.guild_id:
            raise UserError("There is no such session.")
        is_host = me is not None and row.host_id == me.id
        if not is_host and not member_has(interaction.user, Capability.MANAGE_COMMUNITY, self.bot.community):
            raise UserError("Only the session's host or a maintainer can do that.")
        return row

    async def session_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        now = self.bot.clock.now()
        async with self.bot.sessions() as session:
            me = await get_member(session, self.bot.guild_id, interaction.user.id)
            everyone = member_has(interaction.user, Capability.MANAGE_COMMUNITY, self.bot.community)
            rows = await service.upcoming_for(
                session, self.bot.guild_id, None if everyone else (me.id if me else -1), now
            )
        zone = await self._zone_of(interaction.user)
        choices = []
        for row in rows:
            name = f"#{row.id} {row.topic} · {when_module.describe_instant(row.starts_at, zone)}"
            if current.lower() in name.lower():
                choices.append(app_commands.Choice(name=name[:100], value=row.id))
        return choices[:25]

    @app_commands.command(
        name="cancel", description="Cancel a scheduled session you host (mentors, teachers, maintainers)"
    )
    @app_commands.describe(
        session="The session",
        reason="Told to everyone who RSVP'd (optional)",
        whole_series="Also end its weekly series: no more sessions, and every scheduled one cancelled",
    )
    @app_commands.autocomplete(session=session_autocomplete)
    @require(Capability.HOST_OFFICE_HOURS)
    async def cancel(
        self,
        interaction: discord.Interaction,
        session: int,
        reason: app_commands.Range[str, 0, 300] = "",
        whole_series: bool = False,
    ) -> None:
        await self._may_manage(interaction, session)
        await interaction.response.defer(ephemeral=True, thinking=True)
        now = self.bot.clock.now()
        try:
            async with self.bot.sessions.begin() as db:
                if whole_series:
                    rows = await service.end_series(db, self.bot.reminders, session, reason, self._offsets, now)
                else:
                    rows = [
                        await service.cancel_session(db, self.bot.reminders, session, reason, self._offsets, now)
                    ]
                cancelled = [(row.id, row.event_id) for row in rows]
                series_id = rows[0].series_id if rows and not whole_series else None
        except service.ScheduleError as exc:
            await interaction.followup.send(str(exc), ephemeral=True)
            return
        problems = []
        for office_hour_id, event_id in cancelled:
            problem = await self._set_event(event_id, cancel=True)
            if problem:
                problems.append(problem)
            await self.refresh_announcement(office_hour_id)
        try:
            await self.top_up_series(series_id)
        except Exception:
            log.exception("making the next session of series %s failed; the daily job will", series_id)
        done = (
            f"The series is ended and its {len(cancelled)} scheduled session(s) cancelled."
            if whole_series
            else "Cancelled."
        )
        await interaction.followup.send(
            f"{done} Everyone who RSVP'd (seated or waiting) is told once."
            + ("\n" + "\n".join(problems[:3]) if problems else ""),
            ephemeral=True,
        )

    @app_commands.command(
        name="reschedule", description="Move a scheduled session you host (mentors, teachers, maintainers)"
    )
    @app_commands.describe(session="The session", when="The new day and time, in your time zone")
    @app_commands.autocomplete(session=session_autocomplete)
    @require(Capability.HOST_OFFICE_HOURS)
    async def reschedule(self, interaction: discord.Interaction, session: int, when: str) -> None:
        current = await self._may_manage(interaction, session)
        now = self.bot.clock.now()
        # Read in the caller's own zone (a maintainer may move another host's session from elsewhere).
        zone = await self._zone_of(interaction.user)
        try:
            parsed = _parse(when, zone, now)
        except when_module.WhenError as exc:
            raise UserError(str(exc)) from None
        if not isinstance(parsed, when_module.Once):
            raise UserError("Move a session to one day and time (a weekly series is scheduled anew).")
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            async with self.bot.sessions.begin() as db:
                row, _before = await service.reschedule_session(
                    db, self.bot.reminders, session, parsed.starts_at, self._offsets, now
                )
                event_id, ends = row.event_id, service.ends_at(row)
        except service.ScheduleError as exc:
            await interaction.followup.send(str(exc), ephemeral=True)
            return
        problem = await self._set_event(event_id, start=parsed.starts_at, end=ends)
        await self.refresh_announcement(session)
        await interaction.followup.send(
            f"Moved to {_both_zones(parsed.starts_at, zone, current.zone)}; the reminders move with it."
            + (f"\n{problem}" if problem else ""),
            ephemeral=True,
        )

    @reschedule.autocomplete("when")
    async def reschedule_when_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        zone = await self._zone_of(interaction.user)
        if not current.strip():
            return [app_commands.Choice(name=f"Type a day and time ({when_module.city(zone)} time)", value="")]
        host_zone = zone
        chosen = getattr(interaction.namespace, "session", None)
        if isinstance(chosen, int):
            async with self.bot.sessions() as session:
                row = await session.get(OfficeHour, chosen)
            if row is not None and row.guild_id == self.bot.guild_id:
                host_zone = row.zone
        try:
            parsed = _parse(current, zone, self.bot.clock.now())
            if not isinstance(parsed, when_module.Once):
                raise when_module.WhenError("Move a session to one day and time.")
            shown = _both_zones(parsed.starts_at, zone, host_zone)
        except when_module.WhenError as exc:
            shown = f"✗ {exc}"
        return [app_commands.Choice(name=shown[:100], value=current[:100])]

    async def _set_event(
        self,
        event_id: int | None,
        *,
        cancel: bool = False,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> str | None:
        guild = self.bot.get_guild(self.bot.guild_id)
        if event_id is None or guild is None:
            return None
        try:
            event = guild.get_scheduled_event(event_id) or await guild.fetch_scheduled_event(event_id)
            if cancel:
                await event.cancel(reason="office hours cancelled")
            else:
                await event.edit(start_time=start, end_time=end, reason="office hours rescheduled")
        except discord.NotFound:
            return None
        except discord.HTTPException as exc:
            log.warning("office hours: updating event %s failed: %s", event_id, exc)
            return "Discord refused to update the native event; the session itself is updated."
        return None

    # -- RSVP ------------------------------------------------------------------------------------------------
    async def rsvp_clicked(self, interaction: discord.Interaction, office_hour_id: int) -> None:
        # Deferred first: a click Discord no longer accepts (the deadline passed) is never queued, so nobody holds
        # a seat they were not told about. Its snowflake (Discord's time of the click) still decides its turn.
        await interaction.response.defer(ephemeral=True, thinking=True)
        taken = self._in_click_order(office_hour_id, interaction.id, interaction.user, "button")
        try:
            result, recorded, _topic = await taken
        except service.ScheduleError as exc:
            await interaction.followup.send(str(exc), ephemeral=True)
            return
        policy = "This session **is recorded**." if recorded else "This session is not recorded."
        if result.state == service.SEAT:
            text = f"You have seat {result.seat}. {policy}" if not result.already else "You already have a seat."
        else:
            text = (
                f"The session is full: you are number {result.position} on the waitlist, and will get a DM if a "
                f"seat frees up. {policy}"
            )
        await interaction.followup.send(text, ephemeral=True)
        if not result.already:
            await self.refresh_announcement(office_hour_id)

    def _in_click_order(
        self, office_hour_id: int, click_id: int, user: discord.abc.User, via: str, action: str = RSVP
    ) -> asyncio.Future[Any]:
        """Queues an RSVP or a cancel; the session's clicks are taken in snowflake order once they stop arriving
        for ``CLICK_SETTLE`` seconds (many members clicking at once reach the handlers in any order, and a
        member's cancel never overtakes their own earlier RSVP).

        The queue is per process: two bot processes on one database would each take their own clicks in order,
        and between them seats go by the order they take the session's row lock (still never over capacity)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._clicks.setdefault(office_hour_id, []).append(_Click(click_id, user, via, future, action))
        if office_hour_id not in self._click_workers:
            self._click_workers[office_hour_id] = asyncio.create_task(self._serve_clicks(office_hour_id))
        return future

    async def _serve_clicks(self, office_hour_id: int) -> None:
        batch: list[_Click] = []
        try:
            rounds = 0
            while True:
                waiting = len(self._clicks.get(office_hour_id, []))
                await asyncio.sleep(CLICK_SETTLE)
                rounds += 1
                if len(self._clicks.get(office_hour_id, [])) != waiting and rounds < CLICK_ROUNDS:
                    continue  # still arriving (a steady stream is still served every CLICK_ROUNDS rounds)
                rounds = 0
                batch = sorted(self._clicks.pop(office_hour_id, []), key=lambda c: c.click_id)
                if not batch:
                    return
                for click in batch:
                    try:
                        taker = self._take_rsvp if click.action == RSVP else self._take_cancel
                        click.future.set_result(await taker(office_hour_id, click))
                    except Exception as exc:
                        click.future.set_exception(exc)
                batch = []
        finally:
            self._click_workers.pop(office_hour_id, None)
            for click in [*batch, *self._clicks.pop(office_hour_id, [])]:
                if not click.future.done():
                    click.future.set_exception(service.ScheduleError("Office hours are restarting; click again."))

    async def _locked_member(self, session: AsyncSession, office_hour_id: int, user: discord.abc.User) -> int:
        # The session's lock first, then the member row: every RSVP path locks in this order.
        await service.lock_session(session, office_hour_id)
        member = await ensure_member(
            session,
            self.bot.guild_id,
            user.id,
            display_name=getattr(user, "display_name", ""),
            joined_at=getattr(user, "joined_at", None) or self.bot.clock.now(),
        )
        return member.id

    async def _take_rsvp(self, office_hour_id: int, click: _Click) -> tuple[service.RsvpResult, bool, str]:
        now = self.bot.clock.now()
        async with self.bot.sessions.begin() as session:
            member_id = await self._locked_member(session, office_hour_id, click.user)
            result = await service.rsvp(
                session, office_hour_id, member_id, now, via=click.via, click=click.click_id
            )
            row = await session.get(OfficeHour, office_hour_id)
            assert row is not None
            return result, row.recorded, row.topic

    async def _take_cancel(self, office_hour_id: int, click: _Click) -> tuple[service.CancelResult, str]:
        now = self.bot.clock.now()
        only_via = "interested" if click.via == "interested" else None
        async with self.bot.sessions.begin() as session:
            member_id = await self._locked_member(session, office_hour_id, click.user)
            result = await service.cancel_rsvp(session, office_hour_id, member_id, now, only_via=only_via)
            # The promoted members' "a seat freed up" goes as durable reminders committed with the seat change:
            # a DM, or the office-hours channel when DMs are closed (``_tell_promoted``).
            await service.tell_promoted(
                session, self.bot.reminders, self.bot.guild_id, {office_hour_id: result.promoted}, now
            )
            row = await session.get(OfficeHour, office_hour_id)
            return result, row.topic if row is not None else ""

    async def unrsvp_clicked(self, interaction: discord.Interaction, office_hour_id: int) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            result, _topic = await self._in_click_order(
                office_hour_id, interaction.id, interaction.user, "button", CANCEL
            )
        except service.ScheduleError as exc:
            await interaction.followup.send(str(exc), ephemeral=True)
            return
        if result.was is None:
            await interaction.followup.send("You had no RSVP for this session.", ephemeral=True)
            return
        await interaction.followup.send("Your RSVP is cancelled.", ephemeral=True)
        await self.refresh_announcement(office_hour_id)

    async def ask_clicked(self, interaction: discord.Interaction, office_hour_id: int) -> None:
        async with self.bot.sessions() as session:
            me = await get_member(session, self.bot.guild_id, interaction.user.id)
            mine = await session.get(OfficeHourRsvp, (office_hour_id, me.id)) if me is not None else None
            row = await session.get(OfficeHour, office_hour_id)
        if row is None or row.state not in ("scheduled", "live"):
            raise UserError("This session is not taking questions any more.")
        if mine is None or mine.state == service.CANCELLED:
            raise UserError("RSVP to the session first, then send your question.")
        await interaction.response.send_modal(QuestionModal(office_hour_id))
        self.bot.add_view(self._question_modal)  # send_modal stored the per-click copy: the shared one goes back

    async def question_submitted(
        self, interaction: discord.Interaction, office_hour_id: int, topic: str, body: str
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        member_id = await self._member_id(interaction.user)
        try:
            async with self.bot.sessions.begin() as session:
                await service.add_question(session, office_hour_id, member_id, topic, body, self.bot.clock.now())
        except service.ScheduleError as exc:
            await interaction.followup.send(str(exc), ephemeral=True)
            return
        await interaction.followup.send("Your question is sent to the host.", ephemeral=True)

    @app_commands.command(
        name="questions",
        description="Questions sent ahead for your session, by topic (mentors, teachers, maintainers)",
    )
    @app_commands.describe(session="The session")
    @app_commands.autocomplete(session=session_autocomplete)
    @require(Capability.HOST_OFFICE_HOURS)
    async def questions(self, interaction: discord.Interaction, session: int) -> None:
        row = await self._may_manage(interaction, session)
        async with self.bot.sessions() as db:
            groups = await service.questions_by_topic(db, session)
            open_ = await service.unanswered(db, session)
        title = f"**Questions for {discord.utils.escape_markdown(row.topic)}** ({discord_ts(row.starts_at, 'f')})"
        if not groups:
            await interaction.response.send_message(f"{title}\nNo questions yet.", ephemeral=True)
            return
        # Select labels are plain text (no markdown, no pings): shown as written, whitespace folded.
        marker = answered_view(session, [(q.id, " ".join(f"{q.topic}: {q.text}".split())) for q in open_])
        lines = [title]
        for group in groups:
            lines.append(f"\n__{_safe(group.topic)}__ ({len(group.questions)})")
            lines += [f"• {_safe(text_)} — {_safe(name)}" for name, text_ in group.questions]
        pages, page = [], ""
        for line in lines:
            if len(page) + len(line) + 1 > 1900:
                pages.append(page)
                page = ""
            page += line[:1900] + "\n"
        pages.append(page)
        if len(pages) == 1:
            await interaction.response.send_message(
                pages[0], view=marker, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        await interaction.response.send_message(pages[0], ephemeral=True, allowed_mentions=NO_MENTIONS)
        for extra in pages[1:-1]:
            await interaction.followup.send(extra, ephemeral=True, allowed_mentions=NO_MENTIONS)
        await interaction.followup.send(pages[-1], view=marker, ephemeral=True, allowed_mentions=NO_MENTIONS)

    async def mark_answered(self, interaction: discord.Interaction, office_hour_id: int, ids: list[int]) -> None:
        """The "mark answered" menu: only the session's host or a maintainer; those marked are not carried over."""
        await self._may_manage(interaction, office_hour_id)
        async with self.bot.sessions.begin() as db:
            marked = await service.mark_answered(db, office_hour_id, ids, self.bot.clock.now())
        said = "1 question marked answered" if marked == 1 else f"{marked} questions marked answered"
        await interaction.response.send_message(
            f"{said}; answered questions are not carried over to the next session.", ephemeral=True
        )

    async def _tell_promoted(self, reminder: Reminder) -> None:
        async with self.bot.sessions() as session:
            row = await session.get(OfficeHour, reminder.payload["session"])
            mine = await session.get(OfficeHourRsvp, (reminder.payload["session"], reminder.payload["member"]))
        if row is None or row.state != "scheduled" or mine is None or mine.state != service.SEAT:
            return
        await self._dm_or_channel(
            reminder.target_id,
            f"A seat freed up: you now have a seat at **{discord.utils.escape_markdown(row.topic)}**, "
            f"{_when_text(row)}. {'It is recorded.' if row.recorded else 'It is not recorded.'}",
            reminder,
        )

    # -- "Interested" on the native event counts as an RSVP --------------------------------------------------
    async def _session_for_event(self, event_id: int) -> int | None:
        from sqlalchemy import select

        async with self.bot.sessions() as session:
            return await session.scalar(select(OfficeHour.id).where(OfficeHour.event_id == event_id))

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        """A member who left the server gives up their seats and waitlist places in upcoming sessions: the first
        waiting gets the seat (told as for a cancelled RSVP). Through the click queue, after their own clicks."""
        if payload.guild_id != self.bot.guild_id or payload.user.bot:
            return
        async with self.bot.sessions() as session:
            me = await get_member(session, self.bot.guild_id, payload.user.id)
            if me is None:
                return
            held = await service.held_by(session, me.id)
        now = self.bot.clock.now()
        for office_hour_id in held:
            try:
                await self._in_click_order(
                    office_hour_id, service.snowflake_at(now), payload.user, "button", CANCEL
                )
            except service.ScheduleError:
                continue
            await self.refresh_announcement(office_hour_id)

    @commands.Cog.listener()
    async def on_scheduled_event_user_add(self, event: discord.ScheduledEvent, user: discord.User) -> None:
        await self._interested(event, user, True)

    @commands.Cog.listener()
    async def on_scheduled_event_user_remove(self, event: discord.ScheduledEvent, user: discord.User) -> None:
        await self._interested(event, user, False)

    async def _interested(self, event: discord.ScheduledEvent, user: discord.abc.User, added: bool) -> None:
        if event.guild_id != self.bot.guild_id or user.bot:
            return
        office_hour_id = await self._session_for_event(event.id)
        if office_hour_id is None:
            return
        now = self.bot.clock.now()
        result: service.RsvpResult | service.CancelResult
        if added:
            # No interaction: the moment it arrived is its click, in line with the buttons' clicks.
            try:
                result, _recorded, topic = await self._in_click_order(
                    office_hour_id, service.snowflake_at(now), user, "interested"
                )
            except service.ScheduleError:
                return
        else:
            # Through the same queue as the clicks: it never overtakes the member's own earlier RSVP.
            try:
                result, topic = await self._in_click_order(
                    office_hour_id, service.snowflake_at(now), user, "interested", CANCEL
                )
            except service.ScheduleError:
                return
        if isinstance(result, service.RsvpResult):
            if result.already:
                return
            text = (
                f"You marked **{discord.utils.escape_markdown(topic)}** as Interested: that holds seat "
                f"{result.seat} for you."
                if result.state == service.SEAT
                else f"You marked **{discord.utils.escape_markdown(topic)}** as Interested, but it is full: you "
                f"are number {result.position} on the waitlist and will get a DM if a seat frees up."
            )
            # Interested gives no interaction to answer: a DM, or the office-hours channel when DMs are closed.
            with contextlib.suppress(discord.HTTPException, PermanentSendError, TransientSendError):
                await self._dm_or_channel(user.id, text)
        await self.refresh_announcement(office_hour_id)


def _parse(text: str, zone: str, now: datetime) -> when_module.Once | when_module.Weekly:
    return when_module.parse(text, zone, now)


def _both_zones(moment: datetime, zone: str, host_zone: str) -> str:
    """The instant in the caller's zone, and in the session's (host's) zone when that differs."""
    mine = when_module.describe_instant(moment, zone)
    if host_zone == zone:
        return mine
    theirs = when_module.describe_instant(moment, host_zone).split(" = ")[0]
    return f"{mine} (the host's time: {theirs})"


def _safe(value: str) -> str:
    """Member text shown as written: markdown and mentions neutralised (and sent with no pings anyway)."""
    # Every "@" gets a zero-width space after it: no mention syntax (@everyone, <@id>, <@&id>) survives.
    return discord.utils.escape_markdown(" ".join(value.split())).replace("@", "@\u200b")


def _event_description(row: OfficeHour) -> str:
    recorded = "This session is recorded." if row.recorded else "This session is not recorded."
    return f"Office hours: {row.topic}. {recorded} RSVP in the office-hours channel (seats: {row.capacity})."[
        :1000
    ]


def _announcement(row: OfficeHour, seats_left: int) -> str:
    topic = discord.utils.escape_markdown(discord.utils.escape_mentions(row.topic))
    recorded = "🔴 **Recorded**" if row.recorded else "Not recorded"
    lines = [
        f"**Office hours: {topic}**",
        f"🕒 {_when_text(row)}",
        f"🔊 <#{row.channel_id}> · {recorded}",
    ]
    if row.state == "cancelled":
        lines.append("❌ **Cancelled**")
    else:
        lines.append(f"🪑 {seats_left} of {row.capacity} seats left" + ("" if seats_left else " (waitlist open)"))
    return "\n".join(lines)


def _made_for(event: discord.ScheduledEvent, row: OfficeHour, me: discord.abc.Snowflake | None) -> bool:
    """Whether ``event`` is the bot's native event for the session ``row`` (made before the process died)."""
    return (
        me is not None
        # A cancelled or ended event is not adopted: the session needs one members can still attend.
        and event.status in (discord.EventStatus.scheduled, discord.EventStatus.active)
        and event.creator_id == me.id
        and event.name == row.topic
        and event.channel_id == row.channel_id
        and abs((event.start_time - row.starts_at).total_seconds()) < 1
    )
