"""The cohorts' weekly life on Discord: the week's post, nudges and synthesis in each cohort's thread, check-in
buttons, participation from thread messages, milestones and group projects. Mixed into ``cog.CohortCog``.

Every step is a durable reminder (``weekly`` explains why, and how a retry after a crash finds what an
interrupted attempt posted instead of posting twice). Before posting, the thread is unarchived (Discord refuses
messages in an archived thread with 50083; a thread auto-archives after a quiet spell).
"""

from __future__ import annotations

import csv
import io
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import discord
from discord import app_commands
from discord.ext import commands

from bot import ledger
from bot.checks import Capability, ensure, member_has
from bot.errors import UserError
from bot.names import name_of
from bot.reminders import PermanentSendError, ReminderKind
from bot.scheduler import Job
from bot.timefmt import discord_ts
from cogs.cohorts import curriculum, projects, weekly
from cogs.cohorts.weekly_views import (
    DYNAMIC_ITEMS,
    STATUS_LABELS,
    NoteModal,
    checkin_view,
    health_view,
    move_view,
)
from models import Reminder

if TYPE_CHECKING:
    from bot.config import CohortsSection
    from bot.core import AtlasBot

log = logging.getLogger(__name__)

NONE = discord.AllowedMentions.none()
SWEEP_JOB = "cohorts.schedule_steps"
# Step reminders are kept by the reminders module however late: the late policy is ours (weekly.begin_step),
# which notes a skip in cohort_weeks instead of dropping the row silently.
STEP_GRACE = timedelta(days=366)
DM_GRACE = timedelta(days=3)
HEALTH_PAGE = 15
ARCHIVED = 50083


class WeeklyCommands:
    bot: AtlasBot
    config: CohortsSection

    project = app_commands.Group(name="project", description="Your cohort's group projects and milestones")

    # -- lifecycle ---------------------------------------------------------------------------------------------
    async def weekly_load(self) -> None:
        """Registers the weekly jobs, reminder kinds and persistent check-in buttons."""
        # A broken curriculum file stops the start with one line per problem (CurriculumError is a SetupError).
        self.curriculum = curriculum.for_config(self.config.curriculum, self.config.weeks)
        self.policy = ledger.policy_for(self.bot.config)
        self.late_grace = timedelta(hours=self.config.late_grace_hours)
        self._note_modal = NoteModal()
        self.bot.add_view(self._note_modal)
        self.bot.add_dynamic_items(*DYNAMIC_ITEMS)
        r = self.bot.reminders
        for step in (weekly.POST, weekly.NUDGE, weekly.SYNTHESIS):
            r.register(ReminderKind(weekly.STEP_KINDS[step], self._step_handler(step), grace=STEP_GRACE))
        r.register(ReminderKind(weekly.STEP_KINDS[weekly.CLOSE], self._close_week, grace=STEP_GRACE))
        r.register(ReminderKind(weekly.CELEBRATE, self._celebrate, grace=timedelta(days=7)))
        r.register(ReminderKind(weekly.FINISH, self._finish, grace=STEP_GRACE))
        r.register(ReminderKind(weekly.THREAD_REMOVE, self._remove_from_thread, grace=STEP_GRACE))
        r.register(ReminderKind(weekly.MISS_DM, self._miss_dm, grace=DM_GRACE))
        r.register(ReminderKind(weekly.FACILITATOR_DM, self._facilitator_dm, grace=DM_GRACE))
        r.register(ReminderKind(weekly.MOVE_OFFER, self._move_offer, grace=timedelta(days=7)))
        r.register(ReminderKind(projects.MILESTONE_DUE, self._milestone_due, grace=timedelta(hours=12)))
        # Every 6 hours: forming starts week 1 at least 6 hours after confirming, so a cohort activated without
        # the atlas_cohort_active event still gets its first post on time or within minutes (then late-posted).
        self.bot.scheduler.add_job(Job(SWEEP_JOB, {"hour": "*/6", "minute": 5}, self.schedule_steps))
        await self.schedule_steps(self.bot.clock.now())  # at start: whatever became due while the bot was down

    async def weekly_unload(self) -> None:
        """Undoes ``weekly_load``."""
        self.bot.remove_dynamic_items(*DYNAMIC_ITEMS)
        self.bot.scheduler.remove_job(SWEEP_JOB)
        kinds = [*weekly.STEP_KINDS.values(), weekly.CELEBRATE, weekly.FINISH, weekly.THREAD_REMOVE]
        for kind in (*kinds, weekly.MISS_DM, weekly.FACILITATOR_DM, weekly.MOVE_OFFER, projects.MILESTONE_DUE):
            self.bot.reminders.unregister(kind)

    async def schedule_steps(self, now: datetime, cohort_ids: list[int] | None = None) -> int:
        """The daily sweep (and at start, and when a cohort becomes active): every active cohort's steps due
        within ``weekly.HORIZON`` get their reminder, in one read and one insert."""
        async with self.bot.sessions.begin() as session:
            added = await weekly.schedule_steps(session, now, guild_id=self.bot.guild_id, cohort_ids=cohort_ids)
        if added:
            self.bot.scheduler.kick()
            await self.bot.scheduler.wake_for_pending()
        return added

    @commands.Cog.listener()
    async def on_atlas_cohort_active(self, cohort_id: int) -> None:
        """Forming dispatches this once a cohort is active (``bot.dispatch("atlas_cohort_active", id)``): its
        first steps are scheduled at once instead of at the next sweep."""
        await self.schedule_steps(self.bot.clock.now(), [cohort_id])

    # -- the thread ----------------------------------------------------------------------------------------------
    async def _thread(self, thread_id: int) -> discord.Thread:
        """The cohort's thread, unarchived (Discord refuses posts in an archived thread)."""
        guild = self.bot.live_guild()
        thread = guild.get_thread(thread_id)
        if thread is None:
            channel = await self.bot.fetch_channel(thread_id)  # archived threads are not in the cache
            if not isinstance(channel, discord.Thread):
                raise PermanentSendError(f"channel {thread_id} is not a thread")
            thread = channel
        if thread.archived:
            # A lock a moderator set stays: the bot (Manage Threads) may post in a locked thread, members not.
            thread = await thread.edit(archived=False)
        return thread

    async def _send(self, thread_id: int, **kwargs: Any) -> discord.Message:
        thread = await self._thread(thread_id)
        try:
            return await thread.send(**kwargs)
        except discord.HTTPException as exc:
            if exc.code != ARCHIVED:
                raise
            # Archived between our look and the post (auto-archive): unarchive and post once more.
            thread = await thread.edit(archived=False)
            return await thread.send(**kwargs)

    async def _already_posted(self, thread_id: int, mark: str, since: datetime) -> discord.Message | None:
        """An earlier attempt's message (crash between sending and recording): the bot's own message with the
        step's marker, posted since the step fell due. The bot always sees its own messages' content."""
        thread = await self._thread(thread_id)
        me = self.bot.user
        after = discord.Object(discord.utils.time_snowflake(since - timedelta(minutes=1)))
        async for message in thread.history(limit=200, after=after, oldest_first=True):
            if me is not None and message.author.id == me.id and mark in message.content:
                return message
        return None

    async def _post_once(
        self, reminder: Reminder, thread_id: int, mark: str, since: datetime, **kwargs: Any
    ) -> discord.Message:
        """Post a step's message, or find it if an interrupted earlier attempt of this reminder posted it."""
        if reminder.attempts > 1:
            found = await self._already_posted(thread_id, mark, since)
            if found is not None:
                log.info("cohort step %s was posted by an interrupted attempt; recorded, not posted again", mark)
                return found
        return await self._send(thread_id, allowed_mentions=NONE, **kwargs)

    # -- the week's steps -----------------------------------------------------------------------------------------
    def _step_handler(self, step: str) -> Any:
        async def handle(reminder: Reminder) -> None:
            await self._run_step(reminder, step)

        return handle

    async def _run_step(self, reminder: Reminder, step: str) -> None:
        cohort_id, week = reminder.target_id, int(reminder.payload["week"])
        now = self.bot.clock.now()
        async with self.bot.sessions.begin() as session:
            ctx = await weekly.begin_step(session, cohort_id, week, step, now, self.late_grace)
        if ctx.action != "go":
            if ctx.action == "skip":
                log.warning("cohort %s week %s: %s skipped (%s)", cohort_id, week, step, ctx.reason)
            return
        assert ctx.thread_id is not None
        mark = weekly.marker(cohort_id, week, step)
        if step == weekly.NUDGE and ctx.messages > 0:
            async with self.bot.sessions.begin() as session:  # not quiet: nothing to say, recorded as looked at
                await weekly.finish_step(session, cohort_id, week, step, now, None)
            return
        kwargs = self._step_message(ctx, mark)
        message = await self._post_once(reminder, ctx.thread_id, mark, ctx.due_at, **kwargs)
        async with self.bot.sessions.begin() as session:
            await weekly.finish_step(session, cohort_id, week, step, now, message.id)

    def _step_message(self, ctx: weekly.StepContext, mark: str) -> dict[str, Any]:
        topic = self.curriculum.week(ctx.week)
        meeting = (
            f"{discord_ts(ctx.next_meeting, 'F')} ({discord_ts(ctx.next_meeting, 'R')})"
            if ctx.next_meeting
            else "—"
        )
        if ctx.step == weekly.POST:
            prompts = "\n".join(f"{i}. {p}" for i, p in enumerate(topic.prompts, start=1))
            readings = "\n".join(f"• {r.markdown()}" for r in topic.readings)
            embed = discord.Embed(
                title=f"Week {ctx.week} of {ctx.weeks}: {topic.topic}"[:256],
                description=f"{topic.summary}\n\n**Discuss**\n{prompts}\n\n**Read**\n{readings}"[:4096],
                colour=discord.Colour.blurple(),
            )
            embed.add_field(name="Next meeting", value=meeting, inline=False)
            embed.add_field(
                name="Check in",
                value="How is your week going? Pick one below; you can change it, and add a note.",
                inline=False,
            )
            content = f"📚 **{ctx.name}: week {ctx.week}** is here.\n{mark}"
            return {"content": content, "embed": embed, "view": checkin_view(ctx.cohort_id, ctx.week)}
        if ctx.step == weekly.NUDGE:
            content = (
                f"💬 It has been quiet here this week. Pick one prompt and share a thought, even a rough one:\n"
                f"> {topic.prompts[0]}\nOr just check in below. Next meeting: {meeting}.\n{mark}"
            )
            return {"content": content[:2000], "view": checkin_view(ctx.cohort_id, ctx.week)}
        content = (
            f"🧩 **Week {ctx.week} wrap-up: {topic.topic}**\nCopy this into a reply and fill it in together:\n\n"
            f"{topic.synthesis}\n\n{mark}"
        )
        return {"content": content[:2000]}

    async def _close_week(self, reminder: Reminder) -> None:
        cohort_id, week = reminder.target_id, int(reminder.payload["week"])
        now = self.bot.clock.now()
        async with self.bot.sessions.begin() as session:
            closed = await weekly.close_week(
                session,
                self.policy,
                cohort_id=cohort_id,
                week=week,
                now=now,
                misses_before_nudge=self.config.misses_before_nudge,
                misses_before_move=self.config.misses_before_move,
            )
        if closed.already:
            return
        for member_id in closed.ledger_members:
            self.bot.ledger_recorded(member_id)
        log.info(
            "cohort %s week %s closed: %d missed, %d nudged, %d offered a move%s",
            cohort_id,
            week,
            len(closed.missed),
            len(closed.nudged),
            len(closed.offered),
            "; the cohort ended" if closed.ended else "",
        )
        self.bot.scheduler.kick()  # the DMs, the celebration or the finish just scheduled

    async def _cohort(self, cohort_id: int) -> Any:
        from models.cohorts import Cohort

        async with self.bot.sessions() as session:
            return await session.get(Cohort, cohort_id)

    async def _celebrate(self, reminder: Reminder) -> None:
        cohort = await self._cohort(reminder.target_id)
        if cohort is None or cohort.thread_id is None:
            return
        week = int(reminder.payload["week"])
        mark = weekly.marker(cohort.id, week, f"milestone {week}")
        content = (
            f"🎉 **{week} weeks done!** {cohort.name} has worked through {week} of {cohort.weeks} weeks together. "
            f"Everyone still here gets the milestone in the ledger. Keep going!\n{mark}"
        )
        await self._post_once(reminder, cohort.thread_id, mark, reminder.due_at, content=content)

    async def _finish(self, reminder: Reminder) -> None:
        """After the last week: the completion post, then the thread archived and locked (kept, read-only)."""
        cohort = await self._cohort(reminder.target_id)
        if cohort is None or cohort.thread_id is None:
            return
        mark = weekly.marker(cohort.id, cohort.weeks, "completed")
        content = (
            f"🎓 **{cohort.name} is complete!** {cohort.weeks} weeks of distributed systems, together. "
            f"Thank you all; this thread is archived now and stays here to read.\n{mark}"
        )
        await self._post_once(reminder, cohort.thread_id, mark, reminder.due_at, content=content)
        thread = await self._thread(cohort.thread_id)
        await thread.edit(archived=True, locked=True)

    async def _remove_from_thread(self, reminder: Reminder) -> None:
        thread = await self._thread(reminder.target_id)
        await thread.remove_user(discord.Object(int(reminder.payload["user_id"])))

    async def _miss_dm(self, reminder: Reminder) -> None:
        cohort = await self._cohort(int(reminder.payload["cohort_id"]))
        if cohort is None or cohort.state != "active":
            return
        member = await self.bot.live_member(reminder.target_id)
        missed = int(reminder.payload.get("missed", 2))
        await member.send(
            f"👋 Hi {name_of(member)}, we have missed you in **{cohort.name}** for the last {missed} weeks. No "
            f"pressure, life happens. When you have a moment, a quick check-in or a line in <#{cohort.thread_id}> "
            "helps your group know how you are doing.",
            allowed_mentions=NONE,
        )

    async def _facilitator_dm(self, reminder: Reminder) -> None:
        cohort = await self._cohort(int(reminder.payload["cohort_id"]))
        if cohort is None or cohort.state != "active":
            return
        facilitator = await self.bot.live_member(reminder.target_id)
        who = int(reminder.payload["member_discord_id"])
        await facilitator.send(
            f"Heads-up from **{cohort.name}**: <@{who}> has not checked in or replied for "
            f"{reminder.payload.get('missed', 2)} weeks in a row. I sent them a friendly note; a personal word "
            "from you may help more.",
            allowed_mentions=NONE,
        )

    async def _move_offer(self, reminder: Reminder) -> None:
        cohort = await self._cohort(int(reminder.payload["cohort_id"]))
        if cohort is None or cohort.state != "active":
            return
        member = await self.bot.live_member(reminder.target_id)
        await member.send(
            f"Hi {name_of(member)}, **{cohort.name}** has moved on without you for a few weeks. If the "
            "timing does not work right now, you can move to the next cohort instead: you leave this one and go "
            "back in the pool for the next formation. Or stay: any check-in resets the count.",
            view=move_view(cohort.id),
            allowed_mentions=NONE,
        )

    async def _milestone_due(self, reminder: Reminder) -> None:
        async with self.bot.sessions() as session:
            due = await projects.milestone_for_reminder(session, int(reminder.payload["milestone_id"]))
        if due is None or due.done:
            return
        when = "is due " + discord_ts(due.due_at, "R") if reminder.payload.get("which") == "day" else "is due now"
        text = (
            f"⏰ Milestone **{discord.utils.escape_markdown(due.title)}** of "
            f"**{discord.utils.escape_markdown(due.project_title)}** {when} ({discord_ts(due.due_at, 'F')}). "
            "Mark it with `/cohort project done` when it is finished."
        )
        try:
            member = await self.bot.live_member(reminder.target_id)
            await member.send(text, allowed_mentions=NONE)
        except (discord.Forbidden, PermanentSendError):
            if due.thread_id is None:
                raise
            # DMs closed (or the member unreachable): said in the cohort's thread instead, pinging the owner only.
            await self._send(
                due.thread_id,
                content=f"<@{reminder.target_id}> {text}",
                allowed_mentions=discord.AllowedMentions(users=[discord.Object(reminder.target_id)]),
            )

    # -- check-ins, notes, moves (components) ---------------------------------------------------------------------
    async def check_in(self, interaction: discord.Interaction, cohort_id: int, week: int, status: str) -> None:
        now = self.bot.clock.now()
        try:
            async with self.bot.sessions.begin() as session:
                result = await weekly.record_checkin(
                    session,
                    self.policy,
                    guild_id=self.bot.guild_id,
                    cohort_id=cohort_id,
                    week=week,
                    discord_id=interaction.user.id,
                    status=status,
                    now=now,
                )
        except weekly.CheckinRefused as exc:
            raise UserError(str(exc)) from None
        if result.ledger_member_id is not None:
            self.bot.ledger_recorded(result.ledger_member_id, badges_awarded=result.badges)
        await interaction.response.send_modal(NoteModal(cohort_id, week, status))
        self.bot.add_view(self._note_modal)  # send_modal registered the per-click copy: the shared one goes back

    async def save_note(
        self, interaction: discord.Interaction, cohort_id: int, week: int, status: str, note: str
    ) -> None:
        label, emoji = STATUS_LABELS[status]
        if note:
            try:
                async with self.bot.sessions.begin() as session:
                    await weekly.record_note(
                        session,
                        guild_id=self.bot.guild_id,
                        cohort_id=cohort_id,
                        week=week,
                        discord_id=interaction.user.id,
                        note=note,
                    )
            except weekly.CheckinRefused as exc:
                raise UserError(str(exc)) from None
        said = " with your note" if note else ""
        await interaction.response.send_message(
            f"{emoji} Checked in for week {week}: **{label.lower()}**{said}. Click another answer to change it.",
            ephemeral=True,
            allowed_mentions=NONE,
        )

    async def take_move(self, interaction: discord.Interaction, cohort_id: int) -> None:
        try:
            async with self.bot.sessions.begin() as session:
                await weekly.move_member(
                    session,
                    guild_id=self.bot.guild_id,
                    cohort_id=cohort_id,
                    discord_id=interaction.user.id,
                    now=self.bot.clock.now(),
                )
        except weekly.MoveRefused as exc:
            raise UserError(str(exc)) from None
        self.bot.scheduler.kick()  # the removal from the thread
        await interaction.response.send_message(
            "Done: you have left this cohort and are back in the pool for the next one. See you there!",
            allowed_mentions=NONE,
        )

    # -- participation: message events in cohort threads (count only, never content) ------------------------------
    @commands.Cog.listener("on_message")
    async def count_cohort_message(self, message: discord.Message) -> None:
        channel = message.channel
        if (
            not isinstance(channel, discord.Thread)
            or message.guild is None
            or message.guild.id != self.bot.guild_id
        ):
            return
        if message.author.bot or message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return
        async with self.bot.sessions.begin() as session:
            cohort = await weekly.cohort_for_thread(session, channel.id)
            if cohort is None:
                return
            counted = await weekly.count_message(
                session, self.policy, cohort=cohort, discord_id=message.author.id, now=self.bot.clock.now()
            )
        if counted is not None and counted.ledger_member_id is not None:
            self.bot.ledger_recorded(counted.ledger_member_id, badges_awarded=counted.badges)

    # -- /cohort status -------------------------------------------------------------------------------------------
    @app_commands.command(name="status", description="Your cohort, week, next meeting and check-in streak")
    @app_commands.describe(all_cohorts="Maintainers: every cohort's health instead of your own cohort")
    async def status(self, interaction: discord.Interaction, all_cohorts: bool = False) -> None:
        await self.bot.community.wait_known()
        is_maintainer = member_has(interaction.user, Capability.MANAGE_COMMUNITY, self.bot.community)
        if all_cohorts:
            ensure(interaction.user, Capability.MANAGE_COMMUNITY, self.bot.community)
            await self._send_health(interaction, 0, first=True)
            return
        now = self.bot.clock.now()
        async with self.bot.sessions() as session:
            st = await weekly.member_status(session, self.bot.guild_id, interaction.user.id, now)
        if st is None:
            if is_maintainer:
                await self._send_health(interaction, 0, first=True)
                return
            raise UserError("You are not in a cohort yet. `/cohort join` puts you in the pool for the next one.")
        await interaction.response.send_message(embed=self._status_embed(st, now), ephemeral=True)

    def _status_embed(self, st: weekly.MemberStatus, now: datetime) -> discord.Embed:
        embed = discord.Embed(title=st.name, colour=discord.Colour.blurple())
        thread = f"<#{st.thread_id}>" if st.thread_id else "—"
        embed.add_field(name="Thread", value=thread)
        if st.state != "active":
            embed.description = {
                "completed": "Completed: well done!",
                "moved": "You moved on to the next cohort's pool.",
                "left": "You left this cohort.",
            }.get(st.state, st.state)
        topic = self.curriculum.week(st.topic_week).topic
        if st.week == 0:
            embed.add_field(
                name="Week", value=f"Starts soon ({st.weeks} weeks). First topic: {topic}", inline=False
            )
        elif st.week > st.weeks:
            embed.add_field(name="Week", value=f"All {st.weeks} weeks done", inline=False)
        else:
            embed.add_field(name="Week", value=f"Week {st.week} of {st.weeks}: **{topic}**", inline=False)
        if st.next_meeting is not None:
            shown = f"{discord_ts(st.next_meeting, 'F')} ({discord_ts(st.next_meeting, 'R')})"
            if st.member_zone:
                local = st.next_meeting.astimezone(ZoneInfo(st.member_zone))
                shown += f"\n{local:%a %H:%M} in your time zone ({st.member_zone})"
            embed.add_field(name="Next meeting", value=shown, inline=False)
        streak = f"{st.streak} week(s) in a row (best {st.best_streak})"
        if st.missed_in_a_row:
            streak += f"; missed the last {st.missed_in_a_row}"
        embed.add_field(name="Check-in streak", value=streak, inline=False)
        if st.this_week:
            embed.add_field(name="This week", value=st.this_week.replace("_", " "))
        return embed

    async def _send_health(self, interaction: discord.Interaction, page: int, *, first: bool) -> None:
        now = self.bot.clock.now()
        async with self.bot.sessions() as session:
            rows = await weekly.health(session, self.bot.guild_id, now)
        pages = max(1, -(-len(rows) // HEALTH_PAGE))
        page = min(max(page, 0), pages - 1)
        chunk = rows[page * HEALTH_PAGE : (page + 1) * HEALTH_PAGE]
        lines = [self._health_line(h) for h in chunk] or ["No active cohorts."]
        total_members = sum(h.active_members for h in rows)
        at_risk = sum(h.at_risk for h in rows)
        embed = discord.Embed(
            title=f"Cohort health: {len(rows)} active cohort(s), {total_members} members, {at_risk} at risk",
            description="\n".join(lines)[:4096],
            colour=discord.Colour.dark_teal(),
        )
        embed.set_footer(
            text=f"Page {page + 1}/{pages} · check-ins = last closed week · at risk = missed last week"
        )
        view = health_view(page, pages)
        if first:
            file = discord.File(io.BytesIO(self._health_csv(rows).encode()), filename="cohort-health.csv")
            await interaction.response.send_message(embed=embed, view=view, file=file, ephemeral=True)
        else:
            await interaction.response.edit_message(embed=embed, view=view)

    async def health_page(self, interaction: discord.Interaction, page: int) -> None:
        await self.bot.community.wait_known()
        ensure(interaction.user, Capability.MANAGE_COMMUNITY, self.bot.community)
        await self._send_health(interaction, page, first=False)

    @staticmethod
    def _health_line(h: weekly.Health) -> str:
        rate = f"{h.checkin_rate:.0%}" if h.checkin_rate is not None else "—"
        thread = f"<#{h.thread_id}>" if h.thread_id else h.name
        week = f"wk {min(h.week, h.weeks)}/{h.weeks}" if h.week else "starting"
        extra = f" · skipped {h.skipped_weeks}" if h.skipped_weeks else ""
        return (
            f"**#{h.number}** {thread} · {week} · {h.active_members} active · check-ins {rate} · "
            f"quiet {h.quiet_weeks} · at risk {h.at_risk}{extra}"
        )

    @staticmethod
    def _health_csv(rows: list[weekly.Health]) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            [
                "number",
                "name",
                "thread_id",
                "week",
                "weeks",
                "active_members",
                "last_closed_week",
                "checkin_rate",
                "quiet_weeks",
                "at_risk",
                "skipped_weeks",
            ]
        )
        for h in rows:
            rate = "" if h.checkin_rate is None else f"{h.checkin_rate:.3f}"
            writer.writerow(
                [
                    h.number,
                    h.name,
                    h.thread_id or "",
                    h.week,
                    h.weeks,
                    h.active_members,
                    h.last_closed_week or "",
                    rate,
                    h.quiet_weeks,
                    h.at_risk,
                    h.skipped_weeks,
                ]
            )
        return out.getvalue()

    # -- /cohort project ------------------------------------------------------------------------------------------
    async def _project_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        async with self.bot.sessions() as session:
            try:
                _cohort, found = await projects.list_projects(
                    session, guild_id=self.bot.guild_id, discord_id=interaction.user.id
                )
            except projects.ProjectError:
                return []
        typed = current.lower()
        return [
            app_commands.Choice(name=p.title[:100], value=str(p.id))
            for p in found
            if typed in p.title.lower() and p.completed_at is None
        ][:25]

    async def _milestone_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        async with self.bot.sessions() as session:
            try:
                _cohort, found = await projects.list_projects(
                    session, guild_id=self.bot.guild_id, discord_id=interaction.user.id
                )
            except projects.ProjectError:
                return []
        typed = current.lower()
        return [
            app_commands.Choice(name=f"{p.title[:40]}: {m.title}"[:100], value=str(m.id))
            for p in found
            for m in p.milestones
            if m.done_at is None and typed in m.title.lower()
        ][:25]

    @staticmethod
    def _id(value: str, what: str) -> int:
        if not value.isdigit():
            raise UserError(f"Pick the {what} from the list.")
        return int(value)

    @project.command(name="create", description="Register a group project for your cohort")
    @app_commands.describe(title="A short title", description="What you will build or study together")
    async def project_create(
        self,
        interaction: discord.Interaction,
        title: app_commands.Range[str, 1, 100],
        description: app_commands.Range[str, 0, 1000] = "",
    ) -> None:
        try:
            async with self.bot.sessions.begin() as session:
                project, _cohort = await projects.create_project(
                    session,
                    guild_id=self.bot.guild_id,
                    discord_id=interaction.user.id,
                    title=title,
                    description=description,
                    now=self.bot.clock.now(),
                )
                shown = discord.utils.escape_markdown(project.title)
        except projects.ProjectError as exc:
            raise UserError(str(exc)) from None
        await interaction.response.send_message(
            f"🛠️ Project **{shown}** registered. Add milestones with `/cohort project milestone`.",
            ephemeral=True,
            allowed_mentions=NONE,
        )

    @project.command(name="milestone", description="Add a milestone with an owner and a due time")
    @app_commands.describe(
        project="The project",
        title="What is done when this milestone is reached",
        owner="Who owns it (a member of your cohort)",
        due="Due time in your profile's time zone: YYYY-MM-DD HH:MM, or YYYY-MM-DD for the end of that day",
    )
    @app_commands.autocomplete(project=_project_choices)
    async def project_milestone(
        self,
        interaction: discord.Interaction,
        project: str,
        title: app_commands.Range[str, 1, 100],
        owner: discord.Member,
        due: app_commands.Range[str, 1, 40],
    ) -> None:
        try:
            async with self.bot.sessions.begin() as session:
                added = await projects.add_milestone(
                    session,
                    guild_id=self.bot.guild_id,
                    discord_id=interaction.user.id,
                    project_id=self._id(project, "project"),
                    title=title,
                    owner_discord_id=owner.id,
                    due=due,
                    now=self.bot.clock.now(),
                )
                shown_title = discord.utils.escape_markdown(added.milestone.title)
                due_at = added.milestone.due_at
        except projects.ProjectError as exc:
            raise UserError(str(exc)) from None
        self.bot.scheduler.kick()
        await self.bot.scheduler.wake_for_pending()
        await interaction.response.send_message(
            f"📌 Milestone **{shown_title}** for {owner.mention}, due {discord_ts(due_at, 'F')} "
            f"(read as {added.shown}). {owner.mention} gets a reminder a day before and at the due time.",
            ephemeral=True,
            allowed_mentions=NONE,
        )

    @project.command(name="done", description="Mark a milestone, or a whole project, as done")
    @app_commands.describe(
        project="The project (alone: the whole project is complete)", milestone="The milestone that is done"
    )
    @app_commands.autocomplete(project=_project_choices, milestone=_milestone_choices)
    async def project_done(
        self, interaction: discord.Interaction, project: str | None = None, milestone: str | None = None
    ) -> None:
        if not project and not milestone:
            raise UserError("Pick a milestone, or a project to mark it complete.")
        policy = self.policy
        try:
            async with self.bot.sessions.begin() as session:
                if milestone:
                    done = await projects.complete_milestone(
                        session,
                        policy,
                        guild_id=self.bot.guild_id,
                        discord_id=interaction.user.id,
                        milestone_id=self._id(milestone, "milestone"),
                        now=self.bot.clock.now(),
                    )
                else:
                    assert project is not None
                    done = await projects.complete_project(
                        session,
                        policy,
                        guild_id=self.bot.guild_id,
                        discord_id=interaction.user.id,
                        project_id=self._id(project, "project"),
                        now=self.bot.clock.now(),
                    )
        except projects.ProjectError as exc:
            raise UserError(str(exc)) from None
        for member_id in done.credited:
            self.bot.ledger_recorded(member_id, badges_awarded=done.badges)
        title = discord.utils.escape_markdown(done.title)
        if milestone:
            left = (
                f" {done.open_left} milestone(s) left."
                if done.open_left
                else " Every milestone is done: mark the project complete with `/cohort project done project:`."
            )
            text = f"✅ Milestone **{title}** done.{left}"
        else:
            text = f"🏁 Project **{title}** complete! Everyone in the cohort gets it in the ledger."
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NONE)

    @project.command(name="list", description="Your cohort's projects and milestones")
    async def project_list(self, interaction: discord.Interaction) -> None:
        try:
            async with self.bot.sessions() as session:
                cohort, found = await projects.list_projects(
                    session, guild_id=self.bot.guild_id, discord_id=interaction.user.id
                )
        except projects.ProjectError as exc:
            raise UserError(str(exc)) from None
        if not found:
            raise UserError("Your cohort has no projects yet: `/cohort project create` registers one.")
        embed = discord.Embed(title=f"{cohort.name}: projects", colour=discord.Colour.green())
        for p in found[:25]:
            lines = [discord.utils.escape_markdown(p.description)[:200]] if p.description else []
            for m in p.milestones[:10]:
                mark = "✅" if m.done_at else "⬜"
                owner = f"<@{m.owner_discord_id}>" if m.owner_discord_id else "—"
                lines.append(
                    f"{mark} {discord.utils.escape_markdown(m.title)} · {owner} · {discord_ts(m.due_at, 'f')}"
                )
            state = " (complete)" if p.completed_at else ""
            embed.add_field(
                name=f"{p.title}{state}"[:256], value="\n".join(lines)[:1024] or "No milestones yet.", inline=False
            )
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NONE)
