"""The cohorts' weekly life on Discord, mixed into ``cog.CohortCog``: ``weekly_load`` registers the weekly steps
(their handlers are in ``weekly_steps``), the check-in buttons and note modal (``weekly_views``); here are the
component callbacks (check-ins, notes, the move), the message listener that counts participation (never the
content), ``/cohort status`` for members and maintainers, and ``/cohort project``.
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
from bot.reminders import ReminderKind
from bot.scheduler import Job
from bot.timefmt import discord_ts
from cogs.cohorts import curriculum, projects, weekly
from cogs.cohorts.weekly_steps import WeeklySteps
from cogs.cohorts.weekly_views import (
    DYNAMIC_ITEMS,
    STATUS_LABELS,
    NoteModal,
    health_view,
)

if TYPE_CHECKING:
    from bot.config import CohortsSection
    from bot.core import AtlasBot

log = logging.getLogger(__name__)

NONE = discord.AllowedMentions.none()
SWEEP_JOB = "cohorts.schedule_steps"
# Step reminders are kept by the reminders module however late: the late policy is ours (weekly.begin_step),
# which notes a skip in cohort_weeks instead of dropping the row silently.
STEP_GRACE = timedelta(days=366)
# ...and retried through Discord trouble (5xx, the active-thread limit) until that late policy skips the step:
# the default five attempts (about 7.5 minutes) would leave a week's post failed for good.
STEP_RETRY: dict[str, Any] = {"max_attempts": 1_000_000, "max_backoff": timedelta(minutes=30)}
DM_GRACE = timedelta(days=3)
HEALTH_PAGE = 15


class WeeklyCommands(WeeklySteps):
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
            r.register(
                ReminderKind(weekly.STEP_KINDS[step], self._step_handler(step), grace=STEP_GRACE, **STEP_RETRY)
            )
        r.register(ReminderKind(weekly.STEP_KINDS[weekly.CLOSE], self._close_week, grace=STEP_GRACE, **STEP_RETRY))
        r.register(ReminderKind(weekly.CELEBRATE, self._celebrate, grace=timedelta(days=7), **STEP_RETRY))
        r.register(ReminderKind(weekly.FINISH, self._finish, grace=STEP_GRACE, **STEP_RETRY))
        r.register(ReminderKind(weekly.THREAD_REMOVE, self._remove_from_thread, grace=STEP_GRACE))
        r.register(ReminderKind(weekly.FACILITATOR_CHANGED, self._facilitator_changed, grace=timedelta(days=7)))
        r.register(ReminderKind(weekly.MISS_DM, self._miss_dm, grace=DM_GRACE))
        r.register(ReminderKind(weekly.FACILITATOR_DM, self._facilitator_dm, grace=DM_GRACE))
        r.register(ReminderKind(weekly.MOVE_OFFER, self._move_offer, grace=timedelta(days=7)))
        r.register(ReminderKind(projects.MILESTONE_DUE, self._milestone_due, grace=timedelta(hours=12)))
        # Daily: each sweep schedules the steps due within weekly.HORIZON (8 days), so a week's steps are in
        # place days ahead; forming schedules a new cohort's first steps itself when it becomes active.
        self.bot.scheduler.add_job(Job(SWEEP_JOB, {"hour": 0, "minute": 5}, self.schedule_steps))
        await self.schedule_steps(self.bot.clock.now())  # at start: whatever became due while the bot was down

    async def weekly_unload(self) -> None:
        """Undoes ``weekly_load``."""
        self.bot.remove_dynamic_items(*DYNAMIC_ITEMS)
        self.bot.scheduler.remove_job(SWEEP_JOB)
        kinds = [*weekly.STEP_KINDS.values(), weekly.CELEBRATE, weekly.FINISH, weekly.THREAD_REMOVE]
        kinds.append(weekly.FACILITATOR_CHANGED)
        for kind in (*kinds, weekly.MISS_DM, weekly.FACILITATOR_DM, weekly.MOVE_OFFER, projects.MILESTONE_DUE):
            self.bot.reminders.unregister(kind)

    # -- check-ins, notes, moves (components) ---------------------------------------------------------------------
    async def check_in(self, interaction: discord.Interaction, cohort_id: int, week: int, status: str) -> None:
        """The note form first, then the writes: a click must be answered within 3 seconds, and the check-in, its
        ledger event and badges may wait behind other writers. A read decides beforehand whether to refuse."""
        now = self.bot.clock.now()
        where = {"guild_id": self.bot.guild_id, "cohort_id": cohort_id, "week": week, "status": status}
        try:
            async with self.bot.sessions() as session:
                await weekly.checkin_open(session, discord_id=interaction.user.id, **where)
        except weekly.CheckinRefused as exc:
            raise UserError(str(exc)) from None
        await interaction.response.send_modal(NoteModal(cohort_id, week, status))
        self.bot.add_view(self._note_modal)  # send_modal registered the per-click copy: the shared one goes back
        try:
            async with self.bot.sessions.begin() as session:
                result = await weekly.record_checkin(
                    session, self.policy, discord_id=interaction.user.id, now=now, **where
                )
        except Exception as exc:
            # The form is on screen: say so in a follow-up (a refusal that raced the read, or a failed write).
            if isinstance(exc, weekly.CheckinRefused):
                said = str(exc)
            else:
                log.exception("recording a check-in failed (cohort %s, week %s)", cohort_id, week)
                said = "I could not record your check-in just now; please click your answer again."
            await interaction.followup.send(said, ephemeral=True, allowed_mentions=NONE)
            return
        if result.ledger_member_id is not None:
            self.bot.ledger_recorded(result.ledger_member_id, badges_awarded=result.badges)

    async def save_note(
        self, interaction: discord.Interaction, cohort_id: int, week: int, status: str, note: str
    ) -> None:
        """A read decides (refusal, or the click already stored this answer), then the submit is deferred before
        any write: the check-in, its ledger event and badges may wait behind other writers past Discord's 3 s."""
        label, emoji = STATUS_LABELS[status]
        where = {"guild_id": self.bot.guild_id, "cohort_id": cohort_id, "week": week}
        try:
            async with self.bot.sessions() as session:
                stored = await weekly.stored_checkin(
                    session, discord_id=interaction.user.id, status=status, **where
                )
        except weekly.CheckinRefused as exc:
            raise UserError(str(exc)) from None
        await interaction.response.defer(ephemeral=True, thinking=True)
        recorded = None
        try:
            if stored != status or note:
                async with self.bot.sessions.begin() as session:
                    # The answer again only if the click's write has not landed (or failed): an upsert, the
                    # ledger counts it once.
                    if stored != status:
                        recorded = await weekly.record_checkin(
                            session,
                            self.policy,
                            discord_id=interaction.user.id,
                            status=status,
                            now=self.bot.clock.now(),
                            **where,
                        )
                    if note:
                        await weekly.record_note(session, discord_id=interaction.user.id, note=note, **where)
        except Exception as exc:
            if isinstance(exc, weekly.CheckinRefused):
                said = str(exc)
            else:
                log.exception("recording a check-in note failed (cohort %s, week %s)", cohort_id, week)
                said = "I could not record your check-in just now; please click your answer again."
            await interaction.followup.send(said, ephemeral=True, allowed_mentions=NONE)
            return
        if recorded is not None and recorded.ledger_member_id is not None:
            self.bot.ledger_recorded(recorded.ledger_member_id, badges_awarded=recorded.badges)
        said = " with your note" if note else ""
        await interaction.followup.send(
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
        # A read first: messages in other threads (the Q&A forum's, say) never take a write transaction.
        async with self.bot.sessions() as session:
            if await weekly.cohort_for_thread(session, channel.id) is None:
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
                weekly.LAPSED: "The cohort has ended; you took part in fewer than half of its weeks.",
                "moved": "You moved on to the next cohort's pool.",
                "left": "You left this cohort.",
                "refused": "Discord would not add you to this cohort's thread: you cannot see the study-groups "
                "channel. A maintainer can fix that, then `/cohort join` again.",
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
    async def _my_projects(self, interaction: discord.Interaction) -> list[Any]:
        """The caller's cohort's projects for autocomplete (none when they are in no cohort)."""
        async with self.bot.sessions() as session:
            try:
                _cohort, found = await projects.list_projects(
                    session, guild_id=self.bot.guild_id, discord_id=interaction.user.id
                )
            except projects.ProjectError:
                return []
        return list(found)

    async def _project_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        found = await self._my_projects(interaction)
        typed = current.lower()
        return [
            app_commands.Choice(name=p.title[:100], value=str(p.id))
            for p in found
            if typed in p.title.lower() and p.completed_at is None
        ][:25]

    async def _milestone_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        found = await self._my_projects(interaction)
        typed = current.lower()
        return [
            app_commands.Choice(name=f"{p.title[:40]}: {m.title}"[:100], value=str(m.id))
            for p in found
            for m in p.milestones
            if m.done_at is None and typed in m.title.lower()
        ][:25]

    @staticmethod
    def _id(value: str, what: str) -> int:
        if not (value.isascii() and value.isdigit()):  # "²" is a digit to isdigit() but not to int()
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
            text = f"🏁 Project **{title}** complete! Its creator and milestone owners get it in the ledger."
        if done.uncredited:
            text += f" {done.uncredited}"
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
