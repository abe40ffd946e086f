"""Office hours live: /officehours start and end (mixed into ``cog.OfficeHoursCog``), the /queue cog, and the
voice-state listener that expires queue entries and records attendance. The rules are in ``live``.

Telling people: "started" is one post in the office-hours channel that pings the seated members (once, when
the session goes live); "your turn" is a DM with a link to the voice channel, falling back to a post in the
office-hours channel that pings only that member; the host is DMed when someone joins an empty queue; an
expired entry's member is DMed; the host no-show notice is a DM to the host and each seated member (once,
``no_show_notified_at``), falling back to one post pinging those whose DMs failed. Ending schedules, in the
same transaction (durable), each attendee's feedback DM (1-5 buttons and a comment modal, ``live_views``) and
the host's summary DM; each goes once (``feedback_asked_at``, ``summary_sent_at``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import ledger
from bot.checks import Capability, member_has, require
from bot.errors import UserError
from bot.members import ensure_member, get_member
from bot.reminders import PermanentSendError, ReminderKind, TransientSendError
from bot.scheduler import Job
from bot.text import is_blank
from bot.timefmt import discord_ts
from cogs.officehours import live
from cogs.officehours.live_views import DYNAMIC_ITEMS, CommentModal, feedback_view
from models import Reminder
from models.officehours import OfficeHour

if TYPE_CHECKING:
    from bot.config import OfficeHoursSection
    from bot.core import AtlasBot

log = logging.getLogger(__name__)

NONE = discord.AllowedMentions.none()
NO_SHOW_SWEEP = "officehours.no_show_sweep"
# How far ahead the sweep places the durable no-show reminders. It runs daily, at start, and whenever a
# scheduled event is created or updated (a session made or rescheduled), never every few minutes: tests and the
# sandbox live through weeks by stopping at every job's fire time.
NO_SHOW_HORIZON = timedelta(days=2)
# A "the host has not started" notice later than this helps nobody (the bot was down): dropped.
NO_SHOW_GRACE = timedelta(hours=2)


def safe_inline(text: str) -> str:
    """Member or host text shown inside a message (mentions are never allowed by the messages it goes in)."""
    return discord.utils.escape_markdown(" ".join(text.split()))


def _ping(user_ids: list[int]) -> discord.AllowedMentions:
    return discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(i) for i in user_ids])


# Mentions per post: a session may seat 500, and 500 mentions pass Discord's 2,000 characters in one message.
PINGS_PER_POST = 50


async def _post_with_pings(channel: discord.abc.Messageable, text: str, user_ids: list[int]) -> None:
    """``text`` pinging exactly ``user_ids``, in as many posts as Discord's message length needs."""
    chunks = [user_ids[k : k + PINGS_PER_POST] for k in range(0, len(user_ids), PINGS_PER_POST)] or [[]]
    for n, chunk in enumerate(chunks):
        pings = " ".join(f"<@{i}>" for i in chunk)
        body = f"{text} {pings}".strip() if n == 0 else pings
        await channel.send(body, allowed_mentions=_ping(chunk))


class LiveCommands:
    bot: AtlasBot
    config: OfficeHoursSection

    async def top_up_series(self, series_id: int | None) -> None:
        """Makes the series' next session (``cog.OfficeHoursCog`` has it)."""
        raise NotImplementedError

    async def live_load(self) -> None:
        """Registers the live side's jobs and reminder kinds."""
        self.policy = ledger.policy_for(self.bot.config)
        r = self.bot.reminders
        r.register(ReminderKind(live.EXPIRE_KIND, self._expire, grace=timedelta(days=1)))
        r.register(ReminderKind(live.NO_SHOW_KIND, self._no_show, grace=NO_SHOW_GRACE))
        r.register(ReminderKind(live.FEEDBACK_KIND, self._ask_feedback, grace=timedelta(days=2)))
        r.register(ReminderKind(live.SUMMARY_KIND, self._send_summary, grace=timedelta(days=7)))
        r.register(ReminderKind(live.DISCORD_ENDED_KIND, self._tell_discord_ended, grace=timedelta(days=1)))
        self._comment_modal = CommentModal()
        self.bot.add_view(self._comment_modal)
        self.bot.add_dynamic_items(*DYNAMIC_ITEMS)
        self.bot.scheduler.add_job(Job(NO_SHOW_SWEEP, {"hour": 0, "minute": 20}, self.schedule_no_shows))
        await self.schedule_no_shows(self.bot.clock.now())

    async def live_unload(self) -> None:
        """Undoes ``live_load``."""
        self.bot.scheduler.remove_job(NO_SHOW_SWEEP)
        self.bot.reminders.unregister(live.EXPIRE_KIND)
        self.bot.reminders.unregister(live.NO_SHOW_KIND)
        self.bot.reminders.unregister(live.FEEDBACK_KIND)
        self.bot.reminders.unregister(live.SUMMARY_KIND)
        self.bot.reminders.unregister(live.DISCORD_ENDED_KIND)
        self.bot.remove_dynamic_items(*DYNAMIC_ITEMS)

    # -- helpers ------------------------------------------------------------------------------------------------
    def _announce_channel(self) -> discord.abc.Messageable | None:
        channel = self.bot.get_channel(self.bot.channel_ids.id("office_hours"))
        return channel if isinstance(channel, discord.TextChannel) else None

    async def _session_for_host(self, interaction: discord.Interaction, session_id: int | None) -> OfficeHour:
        """The session named (by id), else the caller's live or next scheduled one; only its host or a
        maintainer may run it."""
        maintainer = member_has(interaction.user, Capability.MANAGE_COMMUNITY, self.bot.community)
        async with self.bot.sessions() as session:
            me = await get_member(session, self.bot.guild_id, interaction.user.id)
            if session_id is not None:
                oh = await session.get(OfficeHour, session_id)
                if oh is None or oh.guild_id != self.bot.guild_id:
                    raise UserError(f"There is no office hour #{session_id}.")
            else:
                oh = await live.current_for_host(session, self.bot.guild_id, me.id if me else -1)
                if oh is None:
                    raise UserError("You have no live or scheduled office hour; name one with `session`.")
        if not maintainer and (me is None or oh.host_id != me.id):
            raise UserError("Only the host of this office hour (or a maintainer) can run it.")
        return oh

    # -- /officehours start | end --------------------------------------------------------------------------------
    @app_commands.command(
        name="start",
        description="Start your office hour: the event goes live, queue opens (mentors, teachers, maintainers)",
    )
    @app_commands.describe(session="The office hour's number (default: your live or next one)")
    @require(Capability.HOST_OFFICE_HOURS)
    async def start(self, interaction: discord.Interaction, session: int | None = None) -> None:
        oh = await self._session_for_host(interaction, session)
        await interaction.response.defer(ephemeral=True)
        now = self.bot.clock.now()
        try:
            async with self.bot.sessions.begin() as db:
                oh, newly = await live.start(db, oh.id, now)
                seated = await live.seated_discord_ids(db, oh.id)
        except live.LiveRefused as exc:
            await interaction.followup.send(str(exc), ephemeral=True)
            return
        occupied = await self._went_live(oh, newly, seated, now)
        said = "started" if newly else "was already live"
        event_note = (
            ""
            if occupied or not oh.event_id
            else f" Its Discord event goes live when someone joins <#{oh.channel_id}> (Discord ends an event "
            "whose channel stays empty)."
        )
        await interaction.followup.send(
            f"Office hour #{oh.id} {said}; the queue is open.{event_note}", ephemeral=True
        )

    async def _went_live(self, oh: OfficeHour, newly: bool, seated: list[int], now: datetime) -> bool:
        """After a session went live (the host's /officehours start, or its event started in the Discord client):
        whoever is already in the voice channel attends, the native event starts when someone is there (Discord
        completes an active voice event whose channel stays empty), the seated are told once. Whether anyone
        was in the channel."""
        guild = self.bot.live_guild()
        voice = guild.get_channel(oh.channel_id)
        present = (
            [m for m in voice.members if not m.bot]
            if isinstance(voice, (discord.VoiceChannel, discord.StageChannel))
            else []
        )
        if present:
            async with self.bot.sessions.begin() as db:
                for m in present:
                    row = await ensure_member(
                        db, guild.id, m.id, display_name=m.display_name, joined_at=m.joined_at or now
                    )
                    await live.seen_in_voice(db, oh.id, row.id, now)
            await self._start_event(oh)
        if newly:
            channel = self._announce_channel()
            if channel is not None:
                await _post_with_pings(
                    channel,
                    f"🟢 **{safe_inline(oh.topic)}** has started in <#{oh.channel_id}>. Join the queue with "
                    "`/queue join`.",
                    seated,
                )
        return bool(present)

    async def _start_event(self, oh: OfficeHour) -> None:
        """Starts the live session's native event if it is still scheduled."""
        if not oh.event_id:
            return
        try:
            guild = self.bot.live_guild()
            event = guild.get_scheduled_event(oh.event_id) or await guild.fetch_scheduled_event(oh.event_id)
            if event.status is discord.EventStatus.scheduled:
                await event.start()
        except discord.HTTPException:
            log.warning("could not start the native event of office hour %s", oh.id, exc_info=True)

    @app_commands.command(
        name="end",
        description="End your office hour: the queue closes, the event ends (mentors, teachers, maintainers)",
    )
    @app_commands.describe(session="The office hour's number (default: your live one)")
    @require(Capability.HOST_OFFICE_HOURS)
    async def end(self, interaction: discord.Interaction, session: int | None = None) -> None:
        oh = await self._session_for_host(interaction, session)
        await interaction.response.defer(ephemeral=True)
        try:
            ended = await self.end_session(oh.id)
        except live.LiveRefused as exc:
            await interaction.followup.send(str(exc), ephemeral=True)
            return
        said = "ended" if ended.newly else "had already ended"
        await interaction.followup.send(
            f"Office hour #{oh.id} {said}: {len(ended.attendees)} attended.", ephemeral=True
        )

    async def end_session(self, office_hour_id: int, *, by_discord: bool = False) -> live.Ended:
        """Ends a live session (the host's /officehours end, or Discord completing its event): the queue closes,
        the follow-up is scheduled in the same transaction, the ledger credited; ending again does none twice.
        When Discord ended it, the host and the members still waiting are told why (durably, same transaction)."""
        now = self.bot.clock.now()
        async with self.bot.sessions.begin() as db:
            ended = await live.end(db, self.policy, office_hour_id, now)
            await self._schedule_follow_up(db, ended.office_hour, now)
            if by_discord and ended.newly:
                await self._schedule_discord_ended(db, ended, now)
        for member_id in [*ended.attendees, *([ended.office_hour.host_id] if ended.office_hour.host_id else [])]:
            self.bot.ledger_recorded(member_id)
        if ended.office_hour.event_id:
            try:
                event = await self.bot.live_guild().fetch_scheduled_event(ended.office_hour.event_id)
                if event.status is discord.EventStatus.active:
                    await event.end()
            except discord.HTTPException:
                log.warning("could not end the native event of office hour %s", office_hour_id, exc_info=True)
        if ended.newly:
            try:
                await self.top_up_series(ended.office_hour.series_id)
            except Exception:
                log.exception("the next session after office hour %s failed; the daily job will", office_hour_id)
        return ended

    # -- Discord changing the event by itself ---------------------------------------------------------------------
    @commands.Cog.listener("on_scheduled_event_update")
    async def _follow_event_status(self, _before: discord.ScheduledEvent, after: discord.ScheduledEvent) -> None:
        """Discord completes an active voice/stage event minutes after its channel empties, and cancels an event
        not started hours after its start ("Guild Scheduled Event Status Update Automation"); a member may end or
        cancel it in the client too. The session follows: a live one ends as /officehours end does, a scheduled
        one is cancelled as /officehours cancel does (everyone told once). The bot's own end or cancel arrives
        here too and finds the session already so: nothing happens twice."""
        if after.guild_id != self.bot.guild_id or after.status is discord.EventStatus.scheduled:
            return
        async with self.bot.sessions() as db:
            oh = await db.scalar(select(OfficeHour).where(OfficeHour.event_id == after.id))
        if oh is None:
            return
        try:
            if after.status is discord.EventStatus.active and oh.state == "scheduled":
                await self.open_for_discord(oh.id)
            elif after.status is discord.EventStatus.completed and oh.state == "live":
                await self.end_session(oh.id, by_discord=True)
            elif after.status is discord.EventStatus.cancelled and oh.state == "scheduled":
                await self.cancel_for_discord(oh.id)
        except (live.LiveRefused, ValueError):
            return  # changed meanwhile (ended or cancelled by the host): nothing to follow
        except Exception:
            log.exception("following Discord's status change of event %s (office hour %s) failed", after.id, oh.id)

    @commands.Cog.listener("on_ready")
    async def _catch_up_on_ready(self) -> None:
        await self.catch_up_events()

    async def catch_up_events(self) -> None:
        """At ready (after downtime or a lost connection): the status changes missed while away are applied as if
        they had arrived. A live session whose event completed, was cancelled or deleted ends; a scheduled one
        whose event was cancelled is cancelled, one whose event was started goes live."""
        try:
            guild = self.bot.live_guild()
            listed = {e.id: e for e in await guild.fetch_scheduled_events()}
        except (discord.HTTPException, TransientSendError):
            log.warning("office hours: could not list the scheduled events to catch up", exc_info=True)
            return
        async with self.bot.sessions() as db:
            rows = list(
                await db.scalars(
                    select(OfficeHour).where(
                        OfficeHour.guild_id == self.bot.guild_id,
                        OfficeHour.state.in_(("scheduled", "live")),
                        OfficeHour.event_id.is_not(None),
                    )
                )
            )
        for oh in rows:
            assert oh.event_id is not None
            event = listed.get(oh.event_id)
            status: discord.EventStatus | None = event.status if event is not None else None
            if event is None:  # a finished event may be missing from the list: asked by id (404: deleted)
                try:
                    status = (await guild.fetch_scheduled_event(oh.event_id)).status
                except discord.NotFound:
                    status = None
                except discord.HTTPException:
                    continue
            try:
                if oh.state == "live" and status is not discord.EventStatus.active:
                    if status is not discord.EventStatus.scheduled:
                        await self.end_session(oh.id, by_discord=True)
                elif status is discord.EventStatus.cancelled:
                    await self.cancel_for_discord(oh.id)
                elif status is discord.EventStatus.active:
                    await self.open_for_discord(oh.id)
            except (live.LiveRefused, ValueError):
                continue
            except Exception:
                log.exception("office hours: catching up with the event of office hour %s failed", oh.id)

    async def open_for_discord(self, office_hour_id: int) -> None:
        """The event was started in the Discord client while the session was scheduled: the session goes live as
        with /officehours start (queue open, seated told once, no host no-show notice); its completion then ends
        it like any live session's."""
        now = self.bot.clock.now()
        async with self.bot.sessions.begin() as db:
            oh, newly = await live.start(db, office_hour_id, now)
            seated = await live.seated_discord_ids(db, oh.id)
        await self._went_live(oh, newly, seated, now)

    async def _schedule_discord_ended(self, db: AsyncSession, ended: live.Ended, now: datetime) -> None:
        oh = ended.office_hour
        targets = [(await live.discord_id_of(db, oh.host_id), "host")]
        targets += [(await live.discord_id_of(db, m), "waiting") for m in ended.waiting_closed]
        for discord_id, role in targets:
            if discord_id is None:
                continue
            await self.bot.reminders.schedule(
                db,
                kind=live.DISCORD_ENDED_KIND,
                guild_id=oh.guild_id,
                target_id=discord_id,
                due_at=now,
                payload={"office_hour_id": oh.id, "role": role, "waiting": len(ended.waiting_closed)},
                dedupe_key=f"oh-discord-ended:{oh.id}:{discord_id}",
            )

    async def _tell_discord_ended(self, reminder: Reminder) -> None:
        async with self.bot.sessions() as db:
            oh = await db.get(OfficeHour, int(reminder.payload["office_hour_id"]))
        if oh is None:
            return
        topic = safe_inline(oh.topic)
        if reminder.payload["role"] == "host":
            waiting = int(reminder.payload["waiting"])
            text = (
                f"⏹️ Discord ended the event of your office hour **{topic}** (it does so by itself a few minutes "
                f"after the voice channel <#{oh.channel_id}> empties; it may also have been ended or deleted in "
                f"Discord). The session ended with it: the queue is closed ({waiting} still waiting, each told) "
                "and the follow-up goes out."
            )
        else:
            text = (
                f"⏹️ The queue of **{topic}** is closed and your place in it ended: Discord ended the session's "
                "event (the voice channel had emptied, or it was ended in Discord)."
            )
        if not await _dm_or_ping(self.bot, reminder.target_id, text):
            raise PermanentSendError("the member cannot be reached")

    async def cancel_for_discord(self, office_hour_id: int) -> None:
        """Cancels a scheduled session whose event Discord cancelled (``cog.OfficeHoursCog`` has it)."""
        raise NotImplementedError

    # -- follow-up ------------------------------------------------------------------------------------------------
    async def _schedule_follow_up(self, db: AsyncSession, oh: OfficeHour, now: datetime) -> None:
        """In the ending transaction (durable): the attendees' feedback prompts and the host's summary. Ending
        again schedules nothing twice (the dedupe keys)."""
        for discord_id in await live.attendee_discord_ids(db, oh.id):
            await self.bot.reminders.schedule(
                db,
                kind=live.FEEDBACK_KIND,
                guild_id=oh.guild_id,
                target_id=discord_id,
                due_at=now,
                payload={"office_hour_id": oh.id},
                dedupe_key=f"oh-feedback:{oh.id}:{discord_id}",
            )
        host = await live.discord_id_of(db, oh.host_id)
        if host is not None:
            await self.bot.reminders.schedule(
                db,
                kind=live.SUMMARY_KIND,
                guild_id=oh.guild_id,
                target_id=host,
                due_at=now,
                payload={"office_hour_id": oh.id},
                dedupe_key=f"oh-summary:{oh.id}",
            )

    async def _ask_feedback(self, reminder: Reminder) -> None:
        oh_id = int(reminder.payload["office_hour_id"])
        async with self.bot.sessions() as db:
            oh = await live.feedback_to_ask(db, oh_id, reminder.target_id)
        if oh is None:
            return
        member = await self.bot.live_member(reminder.target_id)
        await member.send(
            f"Thanks for coming to **{safe_inline(oh.topic)}** ({discord_ts(oh.starts_at, 'f')}). How useful was "
            "it, from 1 (not at all) to 5 (very)? You can change your answer and add a comment.",
            view=feedback_view(oh.id),
            allowed_mentions=NONE,
        )
        async with self.bot.sessions.begin() as db:
            await live.mark_asked(db, oh_id, reminder.target_id, self.bot.clock.now())

    async def rate(self, interaction: discord.Interaction, office_hour_id: int, rating: int) -> None:
        try:
            async with self.bot.sessions.begin() as db:
                await live.record_feedback(
                    db, office_hour_id, interaction.user.id, self.bot.clock.now(), rating=rating
                )
        except live.LiveRefused as exc:
            raise UserError(str(exc)) from None
        await interaction.response.send_message(
            f"Thanks: you rated it {rating}/5. Click another number to change it.", ephemeral=True
        )

    async def open_comment(self, interaction: discord.Interaction, office_hour_id: int) -> None:
        async with self.bot.sessions() as db:
            attendees = await live.attendee_discord_ids(db, office_hour_id)
        if interaction.user.id not in attendees:
            raise UserError("Only members who attended this office hour can give feedback on it.")
        await interaction.response.send_modal(CommentModal(office_hour_id))
        self.bot.add_view(
            self._comment_modal
        )  # send_modal registered the per-click copy: the shared one goes back

    async def save_comment(self, interaction: discord.Interaction, office_hour_id: int, comment: str) -> None:
        if is_blank(comment):
            raise UserError("The comment is empty; nothing was saved.")
        try:
            async with self.bot.sessions.begin() as db:
                await live.record_feedback(
                    db, office_hour_id, interaction.user.id, self.bot.clock.now(), comment=comment
                )
        except live.LiveRefused as exc:
            raise UserError(str(exc)) from None
        await interaction.response.send_message("Thanks, your comment is saved.", ephemeral=True)

    async def _send_summary(self, reminder: Reminder) -> None:
        oh_id = int(reminder.payload["office_hour_id"])
        async with self.bot.sessions() as db:
            summary = await live.summary_to_send(db, oh_id)
        if summary is None:
            return
        oh = summary.office_hour
        who = ", ".join(f"<@{i}>" for i in summary.attendees[:40]) or "nobody"
        if len(summary.attendees) > 40:
            who += f" and {len(summary.attendees) - 40} more"
        lines = [
            f"📋 Summary of **{safe_inline(oh.topic)}** ({discord_ts(oh.starts_at, 'f')})",
            f"Attended: {len(summary.attendees)} ({who})",
            f"Helped from the queue: {summary.done}",
            f"Questions sent ahead: {summary.asked}, answered: {summary.answered}, "
            f"carried over to the next session: {summary.carried}",
        ]
        member = await self.bot.live_member(reminder.target_id)
        await member.send("\n".join(lines), allowed_mentions=NONE)
        async with self.bot.sessions.begin() as db:
            await live.mark_summary_sent(db, oh_id, self.bot.clock.now())

    # -- voice states -------------------------------------------------------------------------------------------
    @commands.Cog.listener()
    async def on_voice_state_update(
        self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        if member.bot or member.guild.id != self.bot.guild_id:
            return
        was = before.channel.id if before.channel else None
        now_in = after.channel.id if after.channel else None
        if was == now_in:
            return
        now = self.bot.clock.now()
        async with self.bot.sessions.begin() as db:
            sessions = [
                oh for oh in await live.live_sessions(db, member.guild.id) if oh.channel_id in (was, now_in)
            ]
            if not sessions:
                return
            row = await ensure_member(
                db, member.guild.id, member.id, display_name=member.display_name, joined_at=member.joined_at or now
            )
            for oh in sessions:
                if oh.channel_id == now_in:
                    await live.seen_in_voice(db, oh.id, row.id, now)
                elif oh.channel_id == was:
                    entry = await live.left_voice(db, oh.id, row.id, now)
                    if entry is not None:
                        await self.bot.reminders.schedule(
                            db,
                            kind=live.EXPIRE_KIND,
                            guild_id=oh.guild_id,
                            target_id=member.id,
                            due_at=now + timedelta(minutes=self.config.queue_expiry_minutes),
                            payload={"entry_id": entry.id, "left_at": now.isoformat(), "office_hour_id": oh.id},
                            dedupe_key=f"oh-expire:{entry.id}:{now.isoformat()}",
                        )
        for oh in sessions:
            if oh.channel_id == now_in:
                await self._start_event(oh)  # someone is in the channel now: the event may go live

    async def _expire(self, reminder: Reminder) -> None:
        now = self.bot.clock.now()
        async with self.bot.sessions.begin() as db:
            entry = await live.expire(
                db,
                int(reminder.payload["entry_id"]),
                datetime.fromisoformat(reminder.payload["left_at"]),
                now,
                timedelta(minutes=self.config.queue_expiry_minutes),
            )
            topic = (await db.get(OfficeHour, entry.office_hour_id)).topic if entry else ""  # type: ignore[union-attr]
        if entry is None:
            return
        member = await self.bot.live_member(reminder.target_id)
        await member.send(
            f"Your place in the queue of **{safe_inline(topic)}** expired: you were out of the voice channel for "
            f"{self.config.queue_expiry_minutes} minutes. `/queue join` again when you are back.",
            allowed_mentions=NONE,
        )

    # -- host no-show ---------------------------------------------------------------------------------------------
    async def schedule_no_shows(self, now: datetime) -> None:
        """Places the durable no-show reminder of each scheduled session starting within a day (once per start
        time: a rescheduled session gets a new one, the old one finds the start moved and does nothing)."""
        after = timedelta(minutes=self.config.no_show_minutes)
        async with self.bot.sessions.begin() as db:
            # Sessions that started up to a day ago too (the bot was down); the reminder's grace drops a notice
            # that would come hours late.
            since = now - NO_SHOW_HORIZON
            for oh in await live.no_show_candidates(db, self.bot.guild_id, since, now + NO_SHOW_HORIZON):
                await self.bot.reminders.schedule(
                    db,
                    kind=live.NO_SHOW_KIND,
                    guild_id=oh.guild_id,
                    target_id=oh.id,
                    due_at=oh.starts_at + after,
                    payload={"office_hour_id": oh.id},
                    dedupe_key=f"oh-noshow:{oh.id}:{oh.starts_at.isoformat()}",
                )

    @commands.Cog.listener("on_scheduled_event_create")
    async def _no_show_on_event_create(self, event: discord.ScheduledEvent) -> None:
        await self._no_show_sweep_for(event)

    @commands.Cog.listener("on_scheduled_event_update")
    async def _no_show_on_event_update(
        self, _before: discord.ScheduledEvent, after: discord.ScheduledEvent
    ) -> None:
        await self._no_show_sweep_for(after)

    async def _no_show_sweep_for(self, event: discord.ScheduledEvent) -> None:
        """A session's native event appeared or moved: its session row is committed by then (the row comes
        first), so the sweep places (or moves) its no-show reminder."""
        if event.guild_id != self.bot.guild_id or event.status is not discord.EventStatus.scheduled:
            return
        try:
            await self.schedule_no_shows(self.bot.clock.now())
        except Exception:
            log.exception("placing the office hours' no-show reminders failed; the daily sweep will")

    async def _no_show(self, reminder: Reminder) -> None:
        now = self.bot.clock.now()
        after = timedelta(minutes=self.config.no_show_minutes)
        async with self.bot.sessions.begin() as db:
            if not await live.claim_no_show(db, reminder.target_id, now, after):
                return
            oh = await db.get(OfficeHour, reminder.target_id)
            assert oh is not None
            host = await live.discord_id_of(db, oh.host_id)
            seated = await live.seated_discord_ids(db, oh.id)
        topic = safe_inline(oh.topic)
        unreached: list[int] = []
        for user_id, text in [
            *(
                [(host, f"⏰ Your office hour **{topic}** was due to start {self.config.no_show_minutes} minutes "
                 "ago and has not been started. `/officehours start` opens it, or cancel it.")]
                if host else []
            ),
            *[
                (uid, f"⏰ The host of **{topic}** has not started it yet, {self.config.no_show_minutes} minutes "
                 "after the scheduled time. You will hear from me when it starts.")
                for uid in seated if uid != host
            ],
        ]:  # fmt: skip
            try:
                member = await self.bot.live_member(user_id)
                await member.send(text, allowed_mentions=NONE)
            except (discord.Forbidden, discord.NotFound):
                unreached.append(user_id)
        channel = self._announce_channel()
        if unreached and channel is not None:
            await _post_with_pings(
                channel,
                f"⏰ **{topic}** has not been started, {self.config.no_show_minutes} minutes after its time.",
                unreached,
            )


SESSION_HELP = "Which live office hour (needed only when several are live)"


@app_commands.guild_only()
class QueueCog(commands.GroupCog, group_name="queue", group_description="The live office-hours queue"):
    def __init__(self, bot: AtlasBot) -> None:
        self.bot = bot
        self.config = bot.config.office_hours
        super().__init__()

    async def _live_session(
        self, user: discord.abc.User, session_id: int | None, *, queued_in: bool = False
    ) -> OfficeHour:
        """The live session the member means: the one named; else the only live one; else the one whose voice
        channel they are in (or, with ``queued_in``, the only one whose queue they are in). Several live and
        none of these: the member is asked to name one, nothing is changed."""
        async with self.bot.sessions() as db:
            sessions = await live.live_sessions(db, self.bot.guild_id)
            if queued_in and len(sessions) > 1:
                me = await get_member(db, self.bot.guild_id, user.id)
                mine = [
                    oh for oh in sessions if me is not None and await live.open_entry(db, oh.id, me.id) is not None
                ]
                if len(mine) == 1 and session_id is None:
                    return mine[0]
        if session_id is not None:
            for oh in sessions:
                if oh.id == session_id:
                    return oh
            raise UserError(f"Office hour #{session_id} is not live; pick a live one from the `session` list.")
        if not sessions:
            raise UserError("No office hour is live right now.")
        if len(sessions) == 1:
            return sessions[0]
        voice = getattr(user, "voice", None)
        channel_id = voice.channel.id if voice and voice.channel else None
        here = [oh for oh in sessions if oh.channel_id == channel_id]
        if len(here) == 1:
            return here[0]
        raise UserError(
            f"{len(sessions)} office hours are live right now: choose one with the `session` option "
            f"({', '.join(f'#{oh.id} {safe_inline(oh.topic)}' for oh in sessions[:5])})."
        )

    async def live_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        async with self.bot.sessions() as db:
            sessions = await live.live_sessions(db, self.bot.guild_id)
        choices = []
        for oh in sessions:
            name = f"#{oh.id} {' '.join(oh.topic.split())} (live in #{_channel_name(self.bot, oh.channel_id)})"
            if current.lower() in name.lower():
                choices.append(app_commands.Choice(name=name[:100], value=oh.id))
        return choices[:25]

    async def _member_row_id(self, user: discord.abc.User) -> int:
        now = self.bot.clock.now()
        async with self.bot.sessions.begin() as db:
            joined = getattr(user, "joined_at", None) or now
            row = await ensure_member(
                db, self.bot.guild_id, user.id, display_name=user.display_name, joined_at=joined
            )
            return row.id

    @app_commands.command(name="join", description="Join the live office hour's queue")
    @app_commands.describe(question="What you would like to ask (optional)", session=SESSION_HELP)
    @app_commands.autocomplete(session=live_autocomplete)
    async def join(
        self,
        interaction: discord.Interaction,
        question: app_commands.Range[str, 0, 300] = "",
        session: int | None = None,
    ) -> None:
        oh = await self._live_session(interaction.user, session)
        member_id = await self._member_row_id(interaction.user)
        try:
            async with self.bot.sessions.begin() as db:
                joined = await live.join(db, oh.id, member_id, question.strip(), self.bot.clock.now())
                host = await live.discord_id_of(db, oh.host_id)
        except live.LiveRefused as exc:
            raise UserError(str(exc)) from None
        if joined.entry.state == "called":
            said = "It is your turn now."
        else:
            said = f"You are #{joined.position} in the queue for **{safe_inline(oh.topic)}**."
            if not joined.new:
                said = "You are already in the queue: " + said
        await interaction.response.send_message(said, ephemeral=True, allowed_mentions=NONE)
        if joined.was_empty and host is not None and host != interaction.user.id:
            try:
                member = await self.bot.live_member(host)
                await member.send(
                    f"🙋 <@{interaction.user.id}> joined the empty queue of **{safe_inline(oh.topic)}**. "
                    "`/queue next` calls them.",
                    allowed_mentions=NONE,
                )
            except discord.HTTPException:
                log.info("could not tell the host of office hour %s about a join", oh.id)

    @app_commands.command(name="leave", description="Leave the live office hour's queue")
    @app_commands.describe(session=SESSION_HELP)
    @app_commands.autocomplete(session=live_autocomplete)
    async def leave(self, interaction: discord.Interaction, session: int | None = None) -> None:
        oh = await self._live_session(interaction.user, session, queued_in=True)
        member_id = await self._member_row_id(interaction.user)
        async with self.bot.sessions.begin() as db:
            left = await live.leave(db, oh.id, member_id, self.bot.clock.now())
        if not left:
            raise UserError("You are not in the queue.")
        await interaction.response.send_message("You left the queue.", ephemeral=True)

    @app_commands.command(name="list", description="Who is in the live office hour's queue")
    @app_commands.describe(session=SESSION_HELP)
    @app_commands.autocomplete(session=live_autocomplete)
    async def list_(self, interaction: discord.Interaction, session: int | None = None) -> None:
        oh = await self._live_session(interaction.user, session, queued_in=True)
        async with self.bot.sessions() as db:
            rows = await live.queue_listing(db, oh.id)
        if not rows:
            text = "The queue is empty."
        else:
            lines, n = [], 0
            for state, discord_id, question in rows:
                if state == "called":
                    head = "▶️ now"
                else:
                    n += 1
                    head = f"#{n}"
                q = f": {safe_inline(question)}" if question else ""
                lines.append(f"{head} <@{discord_id}>{q}")
            text = "\n".join(lines)
        await interaction.response.send_message(
            f"**{safe_inline(oh.topic)}** queue\n{text}", ephemeral=True, allowed_mentions=NONE
        )

    @app_commands.command(
        name="next",
        description="Call the next member in your office hour's queue (mentors, teachers, maintainers)",
    )
    @app_commands.describe(session=SESSION_HELP)
    @app_commands.autocomplete(session=live_autocomplete)
    @require(Capability.HOST_OFFICE_HOURS)
    async def next_(self, interaction: discord.Interaction, session: int | None = None) -> None:
        maintainer = member_has(interaction.user, Capability.MANAGE_COMMUNITY, self.bot.community)
        async with self.bot.sessions() as db:
            me = await get_member(db, self.bot.guild_id, interaction.user.id)
            mine = [
                oh
                for oh in await live.live_sessions(db, self.bot.guild_id)
                if me is not None and oh.host_id == me.id
            ]
        if session is None and len(mine) == 1:
            oh = mine[0]
        elif session is not None or mine or maintainer:
            oh = await self._live_session(interaction.user, session)
            if not maintainer and oh.id not in {own.id for own in mine}:
                raise UserError("Only the host of this office hour (or a maintainer) can call its queue.")
        else:
            raise UserError("You are not hosting a live office hour.")
        await interaction.response.defer(ephemeral=True)
        try:
            async with self.bot.sessions.begin() as db:
                called = await live.call_next(db, oh.id, self.bot.clock.now())
        except live.LiveRefused as exc:
            await interaction.followup.send(str(exc), ephemeral=True)
            return
        if called is None:
            await interaction.followup.send("Nobody is waiting.", ephemeral=True)
            return
        link = f"https://discord.com/channels/{oh.guild_id}/{oh.channel_id}"
        question = f" Your question: {safe_inline(called.entry.question)}" if called.entry.question else ""
        turn = f"🎙️ It is your turn in **{safe_inline(oh.topic)}**: join <#{oh.channel_id}> ({link}).{question}"
        reached = False
        try:
            reached = await _dm_or_ping(self.bot, called.discord_id, turn)
        except discord.HTTPException:
            log.warning("could not tell member %s it is their turn", called.discord_id, exc_info=True)
        said = f"Called <@{called.discord_id}>."
        if not reached:
            said += " They have left the server or cannot be reached, so they were not told; `/queue next` again."
        await interaction.followup.send(said, ephemeral=True, allowed_mentions=NONE)


def _channel_name(bot: AtlasBot, channel_id: int) -> str:
    channel = bot.get_channel(channel_id)
    return getattr(channel, "name", None) or str(channel_id)


async def _dm_or_ping(bot: AtlasBot, user_id: int, text: str) -> bool:
    """A DM; when DMs are closed, a post in the office-hours channel pinging only that member. Whether they were
    reached: a member no longer in the server (or a deleted account) is not, and nobody is pinged for them."""
    try:
        member = await bot.live_member(user_id)
    except (PermanentSendError, discord.NotFound):
        return False
    try:
        await member.send(text, allowed_mentions=NONE)
        return True
    except (discord.Forbidden, discord.NotFound):
        pass
    channel = bot.get_channel(bot.channel_ids.id("office_hours"))
    if isinstance(channel, discord.TextChannel):
        await channel.send(f"<@{user_id}> {text}", allowed_mentions=_ping([user_id]))
        return True
    return False
