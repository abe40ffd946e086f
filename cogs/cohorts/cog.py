"""The /cohort commands: joining the pool, forming cohorts (preview, confirm), and the Discord steps of forming.
The weekly life's commands, buttons and listeners come in from ``weekly_cog.WeeklyCommands``.

Forming on Discord, step by step, each recorded as it happens (``service``), so it resumes and never redoes:
the private thread in [channels] study_groups (``invitable`` false; its id recorded at once), each member added
(``added_at``), the welcome (``welcome_message_id``), the cohort active, then a DM to each member through the
durable reminders (``told_at``). A refusal about one member being added (10007 Unknown Member: they left the
server; 403 50001 Missing Access while the bot sees the channel: they cannot) takes only that member out of the
cohort (the report names those refused) and forming goes on. Any other Discord error half-way (about the bot or the
thread: permissions, 5xx, 429, 10003) stops the run and is reported to the maintainer with what is done and what
is pending (and a Retry button); a thread or welcome that Discord made though its response was lost is found
(by name among the active threads; in the thread's recent history) rather than made twice. The rest is resumed by
the button, by a durable retry reminder 10 minutes after each failed run (``cohorts.resume_forming``: a one-shot
row, so an idle bot has no timer firing every few minutes), by a daily safety-net job, and when the bot starts
(cohorts still in state forming are continued).
One run at a time in a process (a lock), so a retry, the job and a confirmation never add members side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.checks import Capability, require
from bot.errors import UserError
from bot.members import get_member
from bot.reminders import PermanentSendError, ReminderKind
from bot.scheduler import Job
from bot.timefmt import discord_ts
from cogs.cohorts import meeting, service
from cogs.cohorts.plan import (
    PRESETS,
    AvailabilityError,
    FormSettings,
    compute_plan,
    describe_availability,
    parse_availability,
    pool_key,
)
from cogs.cohorts.views import FormationButton, LeaveCohortButton, buttons, preview
from cogs.cohorts.weekly import THREAD_REMOVE
from cogs.cohorts.weekly_cog import WeeklyCommands
from models import Reminder

if TYPE_CHECKING:
    from bot.core import AtlasBot

log = logging.getLogger(__name__)

PLACED_DM = "cohorts.placed_dm"
RESUME = "cohorts.resume_forming"
RESUME_JOB = "cohorts.resume_forming_daily"
RETRY_AFTER = timedelta(minutes=10)
# What the bot needs in the study-groups channel to run private threads (Discord: creating one needs Create
# Private Threads; adding others to a thread that is not invitable needs Manage Threads; adding members and
# posting need Send Messages in Threads).
THREAD_PERMISSIONS = ("view_channel", "create_private_threads", "send_messages_in_threads", "manage_threads")
# A thread archives after a week without messages (the longest Discord offers); the bot unarchives to post.
AUTO_ARCHIVE_MINUTES = 10080
# Discord: at most 1,000 active (unarchived) threads in a server; a cohort's thread is one while it runs.
NONE = discord.AllowedMentions.none()


# Discord's JSON error codes that say which side a refusal is about.
UNKNOWN_CHANNEL, UNKNOWN_MEMBER, UNKNOWN_USER, MISSING_ACCESS = 10003, 10007, 10013, 50001


class FormingBlocked(Exception):
    """Forming cannot go on until a maintainer fixes the set-up (the message says what)."""


REFUSED_HELP = (
    "Discord answered 403 Missing Access (code 50001) for them: they cannot see the study-groups channel (a role "
    "or a channel overwrite hides it from them); this is about them, not about my permissions. Once they can see "
    "it, they can `/cohort join` again."
)


def _describe_http(exc: discord.HTTPException) -> str:
    if isinstance(exc, discord.Forbidden) and exc.code == MISSING_ACCESS:
        return (
            f"Discord refused it: missing access (403, code {exc.code}): I cannot see the study-groups channel or "
            "the cohort's thread. Give the bot View Channel in the study-groups channel (`atlas-bot check`)."
        )
    if isinstance(exc, discord.NotFound) and exc.code == UNKNOWN_CHANNEL:
        return (
            "Discord answered 404 Unknown Channel (code 10003) for a cohort's thread that still exists; the retry "
            "goes on in it (a thread that is really gone is replaced by a new one)."
        )
    if isinstance(exc, discord.Forbidden):
        return (
            f"Discord refused it: missing permission (403, code {exc.code}). Give the bot View Channel, Create "
            "Private Threads, Send Messages in Threads and Manage Threads in the study-groups channel "
            "(`atlas-bot check` lists what is missing)."
        )
    if exc.status >= 500:
        return f"Discord had a server error ({exc.status}); it usually passes."
    return f"Discord answered {exc.status} (code {exc.code}): {exc.text}"[:300]


@app_commands.guild_only()
class CohortCog(
    WeeklyCommands,
    commands.GroupCog,
    group_name="cohort",
    group_description="Study groups matched by time zone, skill and commitment",
):
    def __init__(self, bot: AtlasBot) -> None:
        self.bot = bot
        self.config = bot.config.cohorts
        self._forming = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._active_threads: list[discord.Thread] | None = None
        self._gone_threads: set[int] = set()  # deleted on Discord though the cache may still list them
        super().__init__()

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(FormationButton, LeaveCohortButton)
        self.bot.reminders.register(ReminderKind(PLACED_DM, self._tell_placed, grace=timedelta(days=7)))
        self.bot.reminders.register(ReminderKind(RESUME, self._resume_reminder, grace=timedelta(days=30)))
        self.bot.scheduler.add_job(Job(RESUME_JOB, {"hour": 4, "minute": 40}, self.resume_job))
        if self.bot.is_ready():  # loaded into a running bot: resume now (else on_ready does)
            self._spawn(self.resume_all("load"))
        await self.weekly_load()

    async def cog_unload(self) -> None:
        await self.weekly_unload()
        self.bot.remove_dynamic_items(FormationButton, LeaveCohortButton)
        self.bot.reminders.unregister(PLACED_DM)
        self.bot.reminders.unregister(RESUME)
        self.bot.scheduler.remove_job(RESUME_JOB)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        # Cohorts left in state forming by a stop or an error are finished once the guild cache is complete.
        self._spawn(self.resume_all("start"))

    # -- the pool ----------------------------------------------------------------------------------------------
    @app_commands.command(name="join", description="Join the pool for the next study cohort")
    @app_commands.describe(
        availability="When you can meet, your local time: pick from the list, or type days like mon,wed,sat"
    )
    async def join(self, interaction: discord.Interaction, availability: str | None = None) -> None:
        await self._join(interaction, availability, volunteer=False)

    @app_commands.command(
        name="facilitate", description="Volunteer to facilitate a cohort (Contributors and Teachers)"
    )
    @app_commands.describe(
        availability="When you can meet, your local time: pick from the list, or type days like mon,wed,sat"
    )
    async def facilitate(self, interaction: discord.Interaction, availability: str | None = None) -> None:
        await self._join(interaction, availability, volunteer=True)

    @join.autocomplete("availability")
    @facilitate.autocomplete("availability")
    async def _availability_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        typed = current.strip().lower()
        choices = [
            app_commands.Choice(name=label, value=value)
            for value, (label, _days) in PRESETS.items()
            if not typed or typed in value or typed in label.lower()
        ]
        if typed and not choices:
            try:
                days = parse_availability(current)
            except AvailabilityError:
                days = None
            if days:
                label = describe_availability(days)
                value = ",".join(("mon", "tue", "wed", "thu", "fri", "sat", "sun")[d] for d in sorted(days))
                choices.append(app_commands.Choice(name=label[:100], value=value))
        return choices[:25]

    async def _join(self, interaction: discord.Interaction, availability: str | None, *, volunteer: bool) -> None:
        try:
            days = parse_availability(availability)
        except AvailabilityError as exc:
            raise UserError(str(exc)) from None
        now = self.bot.clock.now()
        try:
            async with self.bot.sessions.begin() as session:
                row = await get_member(session, self.bot.guild_id, interaction.user.id)
                result = await service.join_pool(
                    session,
                    self.bot.guild_id,
                    row,
                    now,
                    days=days,
                    days_given=availability is not None,
                    volunteer=volunteer,
                )
                zone = row.timezone if row is not None else None
        except service.CohortError as exc:
            raise UserError(exc.message) from None
        avail = describe_availability(result.days)
        role = " as a volunteer facilitator" if result.volunteer else ""
        if result.outcome == "joined":
            text = (
                f"You are in the pool for the next cohort{role}. Availability: **{avail}**; time zone "
                f"**{zone}** (from your profile). You will be told by DM when your cohort is formed. "
                "`/cohort leave` takes you out of the pool."
            )
        elif result.outcome == "updated":
            text = (
                f"You are already waiting in the pool (since {discord_ts(result.joined_at, 'R')}); updated: "
                f"availability **{avail}**{role}."
            )
        else:
            text = (
                f"You are already waiting in the pool{role} (since {discord_ts(result.joined_at, 'R')}), "
                f"availability **{avail}**. Nothing changed; give `availability:` to change it."
            )
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="leave", description="Leave the cohort pool, or your cohort (asks to confirm)")
    async def leave(self, interaction: discord.Interaction) -> None:
        async with self.bot.sessions.begin() as session:
            row = await get_member(session, self.bot.guild_id, interaction.user.id)
            left = row is not None and await service.leave_pool(session, row.id)
            cohort = await service.current_cohort(session, row.id) if row is not None and not left else None
        if left:
            await interaction.response.send_message(
                "You left the pool. `/cohort join` puts you back in.", ephemeral=True
            )
            return
        if cohort is None:
            raise UserError("You are not in the cohort pool or in a cohort. `/cohort join` puts you in the pool.")
        where = f" (<#{cohort.thread_id}>)" if cohort.thread_id else ""
        await interaction.response.send_message(
            f"Leave **{cohort.name}**{where}? You will be removed from its thread; its members keep going without "
            "you. Dismiss this message to stay.",
            view=buttons(LeaveCohortButton(cohort.cohort_id, interaction.user.id, cohort.name)),
            ephemeral=True,
        )

    async def leave_cohort_confirmed(self, interaction: discord.Interaction, cohort_id: int) -> None:
        async with self.bot.sessions.begin() as session:
            row = await get_member(session, self.bot.guild_id, interaction.user.id)
            left = await service.leave_cohort(session, cohort_id, row.id, self.bot.clock.now()) if row else None
        if left is None:
            raise UserError("You are not in that cohort any more.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        note = ""
        if left.thread_id:
            try:
                thread = await self._fetch_thread(left.thread_id)
                if thread is not None:
                    if thread.archived:
                        await thread.edit(archived=False)
                    await thread.remove_user(discord.Object(interaction.user.id))
            except discord.HTTPException as exc:
                log.warning("could not remove %s from thread %s: %s", interaction.user.id, left.thread_id, exc)
                note = " (I could not remove you from its thread; a maintainer can.)"
        await interaction.followup.send(
            f"You left **{left.name}**{note}. `/cohort join` for a later one.", ephemeral=True
        )

    # -- forming -----------------------------------------------------------------------------------------------
    def _channel_problem(self) -> str | None:
        """Why cohorts' threads cannot be made right now (the study-groups channel or the bot's permissions in
        it), in words a maintainer can act on; None when they can."""
        channel_id = self.bot.channel_ids.id("study_groups")
        if not channel_id:
            return (
                "No study-groups channel is configured: set [channels] study_groups in config.toml to the id of "
                "the text channel the cohorts' private threads live in, and restart the bot."
            )
        guild = self.bot.home_guild
        if guild is None:
            return "I am not connected to the community's server right now; try again shortly."
        channel = guild.get_channel(channel_id)
        if channel is None:
            return (
                f"The study-groups channel ({channel_id}, [channels] study_groups) does not exist or I cannot see "
                "it: create it (a text channel) or fix the id, and give me access to it."
            )
        if not isinstance(channel, discord.TextChannel):
            return f"The study-groups channel {channel.mention} is not a text channel: it cannot hold threads."
        perms = channel.permissions_for(guild.me)
        missing = [p for p in THREAD_PERMISSIONS if not getattr(perms, p)]
        if missing:
            names = ", ".join(p.replace("_", " ").title() for p in missing)
            return (
                f"I am missing {names} in {channel.mention}; cohorts are private threads there, so I need View "
                "Channel, Create Private Threads, Send Messages in Threads and Manage Threads (`atlas-bot check` "
                "shows what is missing)."
            )
        return None

    def _form_settings(self) -> FormSettings:
        return FormSettings(
            min_size=self.config.min_size,
            max_size=self.config.max_size,
            max_spread_hours=self.config.max_timezone_spread_hours,
            skill_levels=tuple(self.bot.config.onboarding.skill_levels),
        )

    @app_commands.command(
        name="form", description="Group the pool into cohorts and preview the plan (maintainers)"
    )
    @require(Capability.MANAGE_COMMUNITY)
    async def form(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        now = self.bot.clock.now()
        async with self.bot.sessions() as session:
            pool = await service.read_pool(session, self.bot.guild_id)
            partners = await service.past_partners(session, self.bot.guild_id)
        if len(pool) < 2:
            raise UserError(
                f"The pool has {len(pool)} member(s); a cohort needs at least 2. Members join with `/cohort join`."
            )
        # 10,000 learners: seconds of CPU, which must not hold the event loop.
        plan = await asyncio.to_thread(compute_plan, pool, partners, self._form_settings(), now)
        async with self.bot.sessions.begin() as session:
            formation_id = await service.save_formation(
                session, self.bot.guild_id, interaction.user.id, plan, pool_key(pool), now
            )
            ids = [i for g in plan.groups for i in g.member_ids] + [i for ids, _r in plan.unplaced for i in ids]
            names = await service.display_names(session, ids)
            running = await service.running_cohorts(session, self.bot.guild_id)
        problem = self._channel_problem()
        warning = f"⚠️ {problem} Confirming is refused until that is fixed." if problem else None
        try:
            others = await self._other_active_threads()
        except discord.HTTPException:
            others = 0  # checked again at confirm, where it must answer
        if others + running + len(plan.groups) > service.MAX_ACTIVE_THREADS:
            warning = (warning + "\n" if warning else "") + (
                "⚠️ "
                + service.thread_limit_text(others, running, len(plan.groups))
                + " Confirm is refused until older cohorts end or threads are archived."
            )
        content, embeds, text = preview(plan, formation_id, names, now, warning)
        file = discord.File(io.BytesIO(text.encode()), filename=f"cohort-plan-{formation_id}.txt")
        view = (
            buttons(FormationButton("confirm", formation_id), FormationButton("discard", formation_id))
            if plan.groups
            else buttons(FormationButton("discard", formation_id))
        )
        await interaction.followup.send(
            content, embeds=embeds, file=file, view=view, ephemeral=True, allowed_mentions=NONE
        )

    async def formation_button(self, interaction: discord.Interaction, action: str, formation_id: int) -> None:
        if action == "discard":
            try:
                async with self.bot.sessions.begin() as session:
                    await service.discard_formation(session, self.bot.guild_id, formation_id)
            except service.CohortError as exc:
                raise UserError(exc.message) from None
            await interaction.response.send_message(
                f"Plan #{formation_id} discarded; nobody was placed. The pool is unchanged.", ephemeral=True
            )
            return
        if action == "confirm":
            problem = self._channel_problem()
            if problem:
                raise UserError(f"{problem} Nothing was placed.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        if action == "confirm":
            try:
                others = await self._other_active_threads()
            except discord.HTTPException as exc:
                raise UserError(
                    f"I could not count the server's active threads ({_describe_http(exc)}). Nothing was placed; "
                    "try again."
                ) from None
            try:
                async with self.bot.sessions.begin() as session:
                    done = await service.confirm_formation(
                        session,
                        guild_id=self.bot.guild_id,
                        formation_id=formation_id,
                        by=interaction.user.id,
                        now=self.bot.clock.now(),
                        parent_channel_id=self.bot.channel_ids.id("study_groups"),
                        weeks=self.config.weeks,
                        week_post_at=self.config.week_post_at,
                        other_active_threads=others,
                    )
            except service.AlreadyConfirmed:
                pass  # a double click or another maintainer: resume (never redo) and report, below
            except service.CohortError as exc:
                raise UserError(exc.message) from None
            else:
                dropped = (
                    f" {len(done.dropped)} member(s) who left the pool since the preview were dropped."
                    if done.dropped
                    else ""
                )
                log.info(
                    "formation %s confirmed: %d members in %d cohorts",
                    formation_id,
                    done.placed,
                    len(done.cohort_ids),
                )
                await interaction.followup.send(
                    f"Placed {done.placed} member(s) in {len(done.cohort_ids)} cohort(s).{dropped} Creating the "
                    "threads now…",
                    ephemeral=True,
                )
        error = await self.run_forming(formation_id)
        report, finished = await self.report(formation_id, error)
        view = buttons(FormationButton("retry", formation_id)) if not finished else discord.utils.MISSING
        await interaction.followup.send(report, view=view, ephemeral=True, allowed_mentions=NONE)

    async def report(self, formation_id: int, error: str | None) -> tuple[str, bool]:
        async with self.bot.sessions() as session:
            p = await service.formation_progress(session, formation_id)
            cohorts = await service.formation_cohorts(session, formation_id)
            refused = await service.formation_refused(session, formation_id)
        if p.cohorts == 0:
            return f"Plan #{formation_id} created no cohorts.", True
        done = (
            f"{p.threads}/{p.cohorts} thread(s) created, {p.added}/{p.members} member(s) added, "
            f"{p.welcomed}/{p.cohorts} welcome(s) posted, {p.active}/{p.cohorts} cohort(s) active"
        )
        # Refusals about a member (not the bot): named, never silently dropped.
        about_members = (
            f"\n🚫 Discord refused to add {len(refused)} member(s), so they are out of their cohort: "
            + ", ".join(f"<@{d}> ({cohort})" for d, _n, cohort in refused[:20])
            + (" …" if len(refused) > 20 else "")
            + f". {REFUSED_HELP}"
            if refused
            else ""
        )
        if p.done:
            names = ", ".join(name for _i, name, _s in cohorts[:20]) + (" …" if len(cohorts) > 20 else "")
            return (
                f"✅ Plan #{formation_id} is formed: {done}. DMs to members: {p.told}/{p.members} sent so far. "
                f"Cohorts: {names}.{about_members}"[:2000],
                True,
            )
        pending = [name for _i, name, state in cohorts if state == service.FORMING]
        text = (
            f"⚠️ Plan #{formation_id} is placed in the database (nobody is in two cohorts or none), but the "
            f"Discord steps stopped: {error or 'not finished yet'}\nDone: {done}.\nPending: "
            + ", ".join(pending[:20])
            + (" …" if len(pending) > 20 else "")
            + "\nI retry by myself in 10 minutes (and when I restart); press Retry to try now."
            + about_members
        )
        return text[:2000], False

    async def resume_job(self, now: datetime) -> None:
        await self.resume_all("job")

    async def resume_all(self, why: str) -> None:
        """Continue every cohort still in state forming (after an error, a stop or a crash)."""
        if not self.bot.guild_id:
            return
        async with self.bot.sessions() as session:
            pending = await service.forming_cohorts(session, self.bot.guild_id)
        if not pending:
            return
        log.info("cohorts: resuming %d cohort(s) still forming (%s)", len(pending), why)
        error = await self.run_forming(None)
        async with self.bot.sessions() as session:
            formations = {
                s.formation_id
                for cid in pending
                if (s := await service.cohort_steps(session, cid)) is not None and s.formation_id is not None
            }
        for formation_id in sorted(formations):
            text, finished = await self.report(formation_id, error)
            if finished:
                await self.bot.clear_notice(f"cohorts.forming:{formation_id}")
            else:
                await self.bot.notify_maintainers_once(f"cohorts.forming:{formation_id}", text)

    async def _resume_reminder(self, reminder: Reminder) -> None:
        await self.resume_all("retry")

    async def _retry_later(self) -> None:
        """A one-shot retry of every cohort still forming, RETRY_AFTER from now (one per 10-minute slot)."""
        due = self.bot.clock.now() + RETRY_AFTER
        async with self.bot.sessions.begin() as session:
            await self.bot.reminders.schedule(
                session,
                kind=RESUME,
                guild_id=self.bot.guild_id,
                target_id=self.bot.guild_id,
                due_at=due,
                dedupe_key=f"cohorts-resume:{int(due.timestamp()) // int(RETRY_AFTER.total_seconds())}",
            )

    async def run_forming(self, formation_id: int | None) -> str | None:
        """Run the Discord steps of every cohort still forming (of one formation, or all); stops at the first
        Discord error and returns it in words, with a retry scheduled (None when everything is done)."""
        error = await self._run_forming(formation_id)
        if error is not None:
            await self._retry_later()
        return error

    async def _run_forming(self, formation_id: int | None) -> str | None:
        async with self._forming:
            self._active_threads = None  # asked of Discord at most once per run, when a thread is to be made
            async with self.bot.sessions() as session:
                ids = await service.forming_cohorts(session, self.bot.guild_id, formation_id)
            for cohort_id in ids:
                try:
                    await self.form_cohort(cohort_id)
                except FormingBlocked as exc:
                    return str(exc)
                except discord.HTTPException as exc:
                    log.warning("forming cohort %s stopped: %s", cohort_id, exc)
                    return _describe_http(exc)
                except (OSError, TimeoutError) as exc:
                    log.warning("forming cohort %s stopped: %r", cohort_id, exc)
                    return f"the connection to Discord failed ({exc.__class__.__name__})."
        return None

    async def _other_active_threads(self) -> int:
        """The server's active threads that are not running cohorts' (members' threads, forum posts, ended
        cohorts' threads): Discord counts every one toward its limit of active threads."""
        guild = self.bot.home_guild
        if guild is None:
            return 0
        threads = await guild.active_threads()
        async with self.bot.sessions() as session:
            ours = await service.running_thread_ids(session, self.bot.guild_id)
        return sum(1 for t in threads if t.id not in ours)

    async def _fetch_thread(self, thread_id: int) -> discord.Thread | None:
        guild = self.bot.home_guild
        if guild is None:
            raise FormingBlocked("I am not connected to the community's server right now.")
        thread = guild.get_thread(thread_id)
        if thread is None:
            try:
                channel = await guild.fetch_channel(thread_id)
            except discord.NotFound:
                return None
            thread = channel if isinstance(channel, discord.Thread) else None
        return thread

    async def _thread_exists(self, thread_id: int) -> bool:
        """Asked of Discord, not the cache (which may not know yet that it was deleted)."""
        try:
            await self.bot.fetch_channel(thread_id)
        except discord.NotFound:
            return False
        return True

    async def _find_own_thread(self, parent: discord.TextChannel, name: str) -> discord.Thread | None:
        """A thread the bot made for this cohort whose creation was not recorded (the response was lost, or the
        bot stopped before recording it): in the cache, or else in Discord's list of active threads (asked once
        per run; the cache may not hold it yet)."""
        me = self.bot.user.id if self.bot.user else 0
        gone = self._gone_threads
        found = next((t for t in parent.threads if t.name == name and t.owner_id == me and t.id not in gone), None)
        if found is not None:
            return found
        guild = parent.guild
        if self._active_threads is None:
            self._active_threads = [
                t for t in await guild.active_threads() if t.parent_id == parent.id and t.owner_id == me
            ]
        return next((t for t in self._active_threads if t.name == name and t.id not in gone), None)

    async def _thread_for(self, steps: service.CohortSteps) -> discord.Thread:
        """The cohort's thread: the recorded one, or one the bot made for it before a stop could record it (found
        by name among the channel's threads), or a new private thread, recorded at once."""
        if steps.thread_id is not None:
            thread = await self._fetch_thread(steps.thread_id)
            if thread is not None:
                return thread
            log.warning("the thread of %s (%s) is gone; making a new one", steps.name, steps.thread_id)
            async with self.bot.sessions.begin() as session:
                await service.record_thread(session, steps.id, None)
        problem = self._channel_problem()
        if problem:
            raise FormingBlocked(problem)
        guild = self.bot.home_guild
        assert guild is not None
        parent = guild.get_channel(steps.parent_channel_id)
        if not isinstance(parent, discord.TextChannel):
            raise FormingBlocked(f"the channel {steps.parent_channel_id} of {steps.name} is gone.")
        found = await self._find_own_thread(parent, steps.name)
        thread = found or await parent.create_thread(
            name=steps.name,
            type=discord.ChannelType.private_thread,
            invitable=False,
            auto_archive_duration=AUTO_ARCHIVE_MINUTES,
            reason=f"study group {steps.name}",
        )
        async with self.bot.sessions.begin() as session:
            await service.record_thread(session, steps.id, thread.id)
        return thread

    async def form_cohort(self, cohort_id: int, *, remake: bool = True) -> None:
        """One cohort's Discord steps, each recorded as it happens; what is recorded is never done again."""
        async with self.bot.sessions() as session:
            steps = await service.cohort_steps(session, cohort_id)
        if steps is None or steps.state != service.FORMING:
            return
        thread = await self._thread_for(steps)
        try:
            steps = await self._fill_thread(cohort_id, thread)
        except discord.NotFound as exc:
            # 10003 Unknown Channel: the thread was deleted under us (the cache may not know yet). Any other 404,
            # or a thread that still exists, stops the run for the retry.
            if exc.code != UNKNOWN_CHANNEL or not remake or await self._thread_exists(thread.id):
                raise
            log.warning("the thread of cohort %s (%s) was deleted while forming; a new one", cohort_id, thread.id)
            self._gone_threads.add(thread.id)
            async with self.bot.sessions.begin() as session:
                await service.record_thread(session, cohort_id, None)
            await self.form_cohort(cohort_id, remake=False)
            return
        now = self.bot.clock.now()
        async with self.bot.sessions.begin() as session:
            await service.activate(session, cohort_id, now)
            for member_id, discord_id in await service.untold(session, cohort_id):
                await self.bot.reminders.schedule(
                    session,
                    kind=PLACED_DM,
                    guild_id=steps.guild_id,
                    target_id=discord_id,
                    due_at=now,
                    payload={"cohort_id": cohort_id, "member_id": member_id},
                    dedupe_key=f"cohort-told:{cohort_id}:{member_id}",
                )
        # Its first weekly steps now (a crash before this line: the sweep at start schedules them).
        await self.schedule_steps(now, [cohort_id])
        log.info("cohort %s is formed in thread %s", steps.name, thread.id)

    async def _fill_thread(self, cohort_id: int, thread: discord.Thread) -> service.CohortSteps:
        """Add the members still missing and post the welcome (each recorded as done); the steps after."""
        async with self.bot.sessions() as session:
            steps = await service.cohort_steps(session, cohort_id)
        assert steps is not None
        if thread.archived and (steps.pending_adds or steps.welcome_message_id is None):
            await thread.edit(archived=False)  # Discord refuses members and posts in an archived thread
        for m in steps.pending_adds:
            async with self.bot.sessions() as session:
                if not await service.is_active_member(session, cohort_id, m.member_id):
                    continue  # left the cohort since this run read its members
            try:
                await thread.add_user(discord.Object(m.discord_id))
            except discord.HTTPException as exc:
                if not await self._refused_member(steps, thread, m, exc):
                    raise  # about the bot or the thread (permissions, 5xx, 429, ...): the run stops for a retry
                continue
            async with self.bot.sessions.begin() as session:
                added = await service.record_added(session, cohort_id, m.member_id, self.bot.clock.now())
                if not added:
                    # They left the cohort while being added (their own removal may have run before this add):
                    # out of the thread again, durably.
                    await self.bot.reminders.schedule(
                        session,
                        kind=THREAD_REMOVE,
                        guild_id=steps.guild_id,
                        target_id=thread.id,
                        due_at=self.bot.clock.now(),
                        payload={"user_id": m.discord_id, "cohort_id": cohort_id},
                        dedupe_key=f"cohort:{cohort_id}:remove:{m.member_id}",
                    )
        async with self.bot.sessions() as session:
            steps = await service.cohort_steps(session, cohort_id)
        assert steps is not None
        if steps.welcome_message_id is None:
            # A welcome Discord posted but whose response was lost (or a stop before recording it) is found in the
            # thread rather than posted twice.
            message = await self._posted_welcome(thread, steps) or await thread.send(
                self._welcome(steps),
                allowed_mentions=discord.AllowedMentions(
                    everyone=False, roles=False, users=[discord.Object(m.discord_id) for m in steps.members]
                ),
            )
            async with self.bot.sessions.begin() as session:
                await service.record_welcome(session, cohort_id, message.id)
        return steps

    async def _posted_welcome(self, thread: discord.Thread, steps: service.CohortSteps) -> discord.Message | None:
        me = self.bot.user.id if self.bot.user else 0
        start = f"👋 Welcome to **{steps.name}**"
        async for message in thread.history(limit=50):
            if message.author.id == me and message.content.startswith(start):
                return message
        return None

    async def _refused_member(
        self, steps: service.CohortSteps, thread: discord.Thread, m: service.MemberStep, exc: discord.HTTPException
    ) -> bool:
        """A refusal about the member being added, not about the bot: recorded for that member (the others' forming
        goes on) and True. 10007 Unknown Member: they left the server. 403 50001 Missing Access while the bot
        itself can see the channel: the member cannot see it (a role or an overwrite hides it)."""
        now = self.bot.clock.now()
        if isinstance(exc, discord.NotFound) and exc.code in (UNKNOWN_MEMBER, UNKNOWN_USER):
            async with self.bot.sessions.begin() as session:
                await service.record_gone(session, steps.id, m.member_id, now)
            return True
        if not (isinstance(exc, discord.Forbidden) and exc.code == MISSING_ACCESS):
            return False
        if self._channel_problem() is not None:
            return False  # the bot lost access: about the bot, the run stops
        log.warning("Discord refused to add %s to %s (%s): they cannot see it", m.discord_id, thread.id, exc)
        async with self.bot.sessions.begin() as session:
            await service.record_refused(session, steps.id, m.member_id, now)
        await self.bot.notify_maintainers_once(
            f"cohorts.refused:{steps.id}:{m.member_id}",
            f"I could not add <@{m.discord_id}> to {steps.name}'s thread, so they are out of that cohort (the "
            f"others go on). {REFUSED_HELP}",
        )
        return True

    @staticmethod
    def _first_meeting(steps: service.CohortSteps) -> datetime:
        hh, mm = (int(x) for x in steps.meeting_time.split(":"))
        from datetime import time

        m = meeting.Meeting(steps.zone, steps.meeting_weekday, time(hh, mm))
        return meeting.next_occurrence(m, steps.starts_at - timedelta(microseconds=1))

    def _welcome(self, steps: service.CohortSteps) -> str:
        first = self._first_meeting(steps)
        who = " ".join(f"<@{m.discord_id}>" for m in steps.members)
        facilitator = f"<@{steps.facilitator_discord_id}>" if steps.facilitator_discord_id else "to be named"
        day = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")
        lines = [
            f"👋 Welcome to **{steps.name}**, {who}!",
            f"📅 You meet weekly: first on {discord_ts(first, 'F')}, then every week at the same local time "
            f"({day[steps.meeting_weekday]} {steps.meeting_time}, {steps.zone}).",
            f"🧭 Your facilitator: {facilitator}.",
            f"🗓️ Week 1 of {steps.weeks} starts {discord_ts(steps.starts_at, 'F')} "
            f"({discord_ts(steps.starts_at, 'R')}) with its topic here.",
        ]
        if steps.reasons:
            lines.append("Why you are together: " + "; ".join(steps.reasons) + ".")
        return "\n".join(lines)[:2000]

    async def _tell_placed(self, reminder: Reminder) -> None:
        """``cohorts.placed_dm``: tell a member by DM which cohort they are in, then record it (``told_at``)."""
        cohort_id, member_id = int(reminder.payload["cohort_id"]), int(reminder.payload["member_id"])
        async with self.bot.sessions() as session:
            steps = await service.cohort_steps(session, cohort_id)
        mine = next((m for m in steps.members if m.member_id == member_id), None) if steps else None
        if steps is None or mine is None or mine.told_at is not None:
            return  # left the cohort, erased, or told already
        if steps.thread_id is None:
            raise PermanentSendError("the cohort has no thread")
        user = await self.bot.live_member(reminder.target_id)
        first = self._first_meeting(steps)
        facilitator = (
            "you!"
            if steps.facilitator_discord_id == user.id
            else f"<@{steps.facilitator_discord_id}>"
            if steps.facilitator_discord_id
            else "to be named"
        )
        await user.send(
            f"🎓 You are in **{steps.name}** of {user.guild.name}! "
            f"Your group's private thread: <#{steps.thread_id}>.\n"
            f"📅 You meet weekly, first on {discord_ts(first, 'F')}.\n"
            f"🧭 Facilitator: {facilitator}\n"
            f"🗓️ Week 1 starts {discord_ts(steps.starts_at, 'F')}. "
            "`/cohort leave` if you cannot take part after all.",
            allowed_mentions=NONE,
        )
        async with self.bot.sessions.begin() as session:
            await service.mark_told(session, cohort_id, member_id, self.bot.clock.now())
