"""The /mentor and /mentee commands, the match preview and confirm, and a pair's Discord life: its private
thread, the kickoff, check-ins, activity, the quiet-pair flag and ending with feedback.

A pair's Discord steps are recorded as they happen (``service``): the private thread (``invitable`` false, in
[mentorship] pair_channel or else the study-groups channel) as soon as it exists, then both members added, then
the kickoff (which makes the pair active and schedules its first check-in). A pair left in state forming by a
Discord error is finished by a retry RETRY_AFTER later (a durable reminder, so also after a restart), the daily
job, the next confirm and when the bot starts; one failing pair does not hold up the others. A thread whose
creation response was lost is found by name, a kickoff by its mark: a retry never makes either twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import discord
from discord import app_commands
from discord.ext import commands

from bot import ledger
from bot.checks import Capability, member_has, require
from bot.errors import UserError
from bot.members import get_member
from bot.names import shown
from bot.reminders import PermanentSendError, ReminderKind
from bot.scheduler import Job
from bot.timefmt import discord_ts
from cogs.mentorship import matching, service
from cogs.mentorship.views import EndModal, MatchButton, buttons
from models import Reminder

if TYPE_CHECKING:
    from bot.core import AtlasBot

log = logging.getLogger(__name__)

CHECKIN = service.CHECKIN
QUIET_JOB = "mentorship.quiet_pairs"
RESUME = "mentorship.resume_forming"
RESUME_JOB = "mentorship.resume_forming_daily"
RETRY_AFTER = timedelta(minutes=10)
AUTO_ARCHIVE_MINUTES = 10080
NONE = discord.AllowedMentions.none()
PREVIEW_LINES = 25
KICKOFF_MARK = "👋"
# Discord's codes for a member or user that is gone (they left the server since the match).
UNKNOWN_MEMBER, UNKNOWN_USER = 10007, 10013
# Thread activity is written at most this often per thread (a busy thread is not a write per message).
TOUCH_EVERY = timedelta(hours=1)


def first_meeting_times(mentor_zone: str | None, mentee_zone: str | None, now: datetime) -> list[datetime]:
    """Three suggestions on the next three days, at the hour both are awake that is latest in the mentee's
    evening-ish window (or 17:00 UTC when they share no waking hour)."""
    both = service.awake_utc_hours(mentor_zone, now) & service.awake_utc_hours(mentee_zone, now)
    hour = 17
    if both:
        # Prefer the mentee's local 18:00-20:00 (after work) when it is shared, else the middle of the overlap.
        tz = ZoneInfo(mentee_zone) if mentee_zone else ZoneInfo("UTC")
        offset = round((now.astimezone(tz).utcoffset() or timedelta(0)).total_seconds() / 3600)
        evening = [h for h in sorted(both) if 18 <= (h + offset) % 24 <= 20]
        hour = evening[0] if evening else sorted(both)[len(both) // 2]
    day = now.replace(minute=0, second=0, microsecond=0, hour=hour)
    return [day + timedelta(days=d) for d in (1, 2, 3)]


def flag_post(head: str, lines: list[str], limit: int = 1900) -> str:
    """``head`` and as many ``lines`` as fit in one Discord message (2,000; ``limit`` leaves room for emoji counted
    as two), then "… and N more." for the rest: however many pairs are quiet, the post is never too long."""
    text, count = head, 0
    for i, line in enumerate(lines):
        rest = len(lines) - i - 1
        tail = f"\n… and {rest} more." if rest else ""
        if len(text) + 1 + len(line) + len(tail) > limit:
            break
        text, count = f"{text}\n{line}", i + 1
    if count < len(lines):
        text += f"\n… and {len(lines) - count} more."
    return text[:limit]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, discord.HTTPException):
        return f"Discord refused a step ({exc.status}, code {exc.code})"
    return f"Discord could not be reached ({exc!r})"


def _local(at: datetime, zone: str | None) -> str:
    tz = ZoneInfo(zone) if zone else ZoneInfo("UTC")
    return f"{at.astimezone(tz):%a %H:%M} {zone or 'UTC'}"


@app_commands.guild_only()
class MentorCog(commands.GroupCog, group_name="mentor", group_description="Mentorship: mentor sign-up and pairs"):
    def __init__(self, bot: AtlasBot) -> None:
        self.bot = bot
        self.config = bot.config.mentorship
        self._tasks: set[asyncio.Task[Any]] = set()
        self._forming = asyncio.Lock()
        self._active_threads: list[discord.Thread] | None = None  # asked of Discord at most once per run
        self._threads: set[int] = set()
        self._touched: dict[int, datetime] = {}
        super().__init__()

    @property
    def pair_channel_id(self) -> int:
        return self.config.pair_channel or self.bot.channel_ids.id("study_groups")

    async def cog_load(self) -> None:
        self.bot.reminders.register(ReminderKind(CHECKIN, self._checkin, grace=timedelta(days=3)))
        self.bot.scheduler.add_job(Job(QUIET_JOB, {"hour": 5, "minute": 20}, self.quiet_job))
        self.bot.reminders.register(ReminderKind(RESUME, self._resume_reminder, grace=timedelta(days=30)))
        self.bot.scheduler.add_job(Job(RESUME_JOB, {"hour": 4, "minute": 50}, self.resume_job))
        if self.bot.is_ready():
            self._spawn(self._on_start())

    async def cog_unload(self) -> None:
        self.bot.reminders.unregister(CHECKIN)
        self.bot.scheduler.remove_job(QUIET_JOB)
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
        self._spawn(self._on_start())

    async def _on_start(self) -> None:
        async with self.bot.sessions() as session:
            self._threads = await service.active_thread_ids(session, self.bot.guild_id)
        await self.form_pending()

    async def resume_job(self, now: datetime) -> None:
        await self.form_pending()

    async def _resume_reminder(self, reminder: Reminder) -> None:
        await self.form_pending()

    async def _retry_later(self) -> None:
        """A one-shot retry of every pair still forming, RETRY_AFTER from now (one per 10-minute slot)."""
        due = self.bot.clock.now() + RETRY_AFTER
        async with self.bot.sessions.begin() as session:
            await self.bot.reminders.schedule(
                session,
                kind=RESUME,
                guild_id=self.bot.guild_id,
                target_id=self.bot.guild_id,
                due_at=due,
                dedupe_key=f"mentorship-resume:{int(due.timestamp()) // int(RETRY_AFTER.total_seconds())}",
            )

    async def _row(self, session: Any, user: discord.abc.User) -> Any:
        return await get_member(session, self.bot.guild_id, user.id)

    # -- sign-ups --------------------------------------------------------------------------------------------
    def _check_style(self, style: str) -> str:
        styles = self.bot.config.onboarding.communication_styles
        if style not in styles:
            raise UserError(f"Pick a style from the list: {', '.join(styles)}.")
        return style

    @app_commands.command(
        name="signup", description="Sign up (or edit your sign-up) as a mentor: Contributors and up"
    )
    @app_commands.describe(
        topics="Your topics of expertise, separated by commas (e.g. python, distributed systems)",
        capacity="How many mentees at once (1-5)",
        hours="Hours a month you can give (1-100)",
        style="How you like to work with a mentee",
        career="Also willing to hold career conversations (/career)",
    )
    async def signup(
        self,
        interaction: discord.Interaction,
        topics: app_commands.Range[str, 1, 400],
        capacity: app_commands.Range[int, 1, 5],
        hours: app_commands.Range[int, 1, 100],
        style: str,
        career: bool = False,
    ) -> None:
        style = self._check_style(style)
        elevated = member_has(interaction.user, Capability.MENTOR, self.bot.community)
        try:
            async with self.bot.sessions.begin() as session:
                done = await service.mentor_signup(
                    session,
                    await self._row(session, interaction.user),
                    self.bot.clock.now(),
                    topics=topics,
                    capacity=capacity,
                    hours=hours,
                    style=style,
                    career=career,
                    elevated=elevated,
                )
        except service.MentorError as exc:
            raise UserError(exc.message) from None
        head = "You are signed up as a mentor" if done.outcome == "signed_up" else "Your mentor sign-up is updated"
        await interaction.response.send_message(
            f"{head}: up to {capacity} mentee(s), {hours} h a month, {style}; topics: "
            f"{shown(', '.join(done.topics))}.{' Open to career conversations.' if career else ''} "
            "Maintainers match pairs with `/mentor match`; `/mentor pause` stops new matches.",
            ephemeral=True,
        )

    @signup.autocomplete("style")
    async def _styles(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        styles = self.bot.config.onboarding.communication_styles
        return [app_commands.Choice(name=s, value=s) for s in styles if current.lower() in s.lower()][:25]

    @app_commands.command(name="pause", description="Stop being matched with new mentees for now")
    async def pause(self, interaction: discord.Interaction) -> None:
        await self._pause(interaction, True)

    @app_commands.command(name="resume", description="Be matched with new mentees again")
    async def resume(self, interaction: discord.Interaction) -> None:
        await self._pause(interaction, False)

    async def _pause(self, interaction: discord.Interaction, paused: bool) -> None:
        try:
            async with self.bot.sessions.begin() as session:
                row = await self._row(session, interaction.user)
                changed = row is not None and await service.set_paused(
                    session, row.id, self.bot.clock.now(), paused
                )
                if row is None:
                    raise service.MentorError("You are not signed up as a mentor: `/mentor signup` first.")
        except service.MentorError as exc:
            raise UserError(exc.message) from None
        if paused:
            text = "Paused: you will not be matched with new mentees. Your current pairs go on. `/mentor resume`."
        else:
            text = "Resumed: you can be matched with new mentees again."
        await interaction.response.send_message(text if changed else f"Nothing changed. {text}", ephemeral=True)

    @app_commands.command(name="profile", description="Your mentorship sign-ups and pairs (only you see this)")
    async def profile(self, interaction: discord.Interaction) -> None:
        async with self.bot.sessions() as session:
            row = await self._row(session, interaction.user)
            found = await service.profiles(session, row.id) if row is not None else None
        if found is None or (found.mentor is None and found.mentee is None and not found.pairs):
            raise UserError(
                "You have no mentorship sign-up: `/mentor signup` (Contributors and up) or `/mentee signup`."
            )
        lines = []
        if found.mentor is not None:
            state = "paused" if found.mentor.paused_at else "open to matches"
            lines.append(
                f"**Mentor** ({state}): up to {found.mentor.capacity} mentee(s), {found.mentor.hours} h a month, "
                f"{found.mentor.style}; topics: {shown(', '.join(found.mentor_topics))}"
                + ("; career conversations" if found.mentor.career else "")
            )
        if found.mentee is not None:
            waiting = (
                " (not waiting for a mentor: `/mentee signup` to ask again)" if found.mentee.paused_at else ""
            )
            lines.append(
                f"**Mentee**{waiting}: goals: {shown(found.mentee.goals)}; topics: "
                f"{shown(', '.join(found.mentee_topics))}; {found.mentee.style}"
            )
        for p in found.pairs:
            other = p.mentee if p.side_of(row.id) == "mentor" else p.mentor
            where = f" in <#{p.thread_id}>" if p.thread_id else ""
            lines.append(
                f"Paired with <@{other.discord_id}> ({p.kind}){where} since {discord_ts(p.created_at, 'D')}"
            )
        await interaction.response.send_message("\n".join(lines), ephemeral=True)

    # -- matching -----------------------------------------------------------------------------------------------
    @app_commands.command(name="match", description="Match mentees to mentors and preview the pairs (maintainers)")
    @require(Capability.MANAGE_COMMUNITY)
    async def match(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        now = self.bot.clock.now()
        levels = self.bot.config.onboarding.skill_levels
        async with self.bot.sessions() as session:
            mentors = await service.mentors_in(session, self.bot.guild_id, now, levels)
            mentees = await service.mentees_in(session, self.bot.guild_id, now, levels)
            previous = await service.previous_pairs(session, self.bot.guild_id)
        if not mentees:
            raise UserError("No mentee is waiting for a mentor (members sign up with `/mentee signup`).")
        if not mentors:
            raise UserError(
                "No mentor has a free place (mentors sign up with `/mentor signup`, or `/mentor resume`)."
            )
        # Thousands of sign-ups: CPU work that must not hold the event loop.
        result = await asyncio.to_thread(matching.match, mentors, mentees, previous=previous)
        async with self.bot.sessions.begin() as session:
            run_id = await service.save_run(session, self.bot.guild_id, interaction.user.id, result, now)
            ids = {p.mentor_id for p in result.pairs} | {p.mentee_id for p in result.pairs}
            ids |= {u.mentee_id for u in result.unmatched}
            names = await self._names(session, ids)
        gain = result.total - result.greedy_total
        lines = [
            f"**Match #{run_id}**: {len(result.pairs)} pair(s), {len(result.unmatched)} mentee(s) unmatched. "
            f"Total score {result.total:.2f} (greedy baseline {result.greedy_total:.2f}, {gain:+.2f}).",
        ]
        for p in result.pairs[:PREVIEW_LINES]:
            lines.append(
                f"• {names[p.mentor_id]} → {names[p.mentee_id]} ({p.score:.2f}): {shown('; '.join(p.reasons))}"
            )
        if len(result.pairs) > PREVIEW_LINES:
            lines.append(f"… and {len(result.pairs) - PREVIEW_LINES} more pair(s).")
        for u in result.unmatched[:10]:
            lines.append(f"✗ {names[u.mentee_id]}: {shown(u.reason)}")
        if len(result.unmatched) > 10:
            lines.append(f"… and {len(result.unmatched) - 10} more unmatched.")
        content = "\n".join(lines)
        if len(content) > 1900:
            content = content[:1900].rsplit("\n", 1)[0] + "\n…"
        view = (
            buttons(MatchButton("confirm", run_id), MatchButton("discard", run_id))
            if result.pairs
            else buttons(MatchButton("discard", run_id))
        )
        await interaction.followup.send(content, view=view, ephemeral=True, allowed_mentions=NONE)

    async def _names(self, session: Any, member_ids: set[int]) -> dict[int, str]:
        from sqlalchemy import select

        from models import Member

        rows = await session.execute(select(Member.id, Member.display_name).where(Member.id.in_(member_ids)))
        return {i: shown(n or f"member {i}") for i, n in rows}

    async def match_button(self, interaction: discord.Interaction, action: str, run_id: int) -> None:
        if action == "discard":
            try:
                async with self.bot.sessions.begin() as session:
                    await service.discard_run(session, self.bot.guild_id, run_id)
            except service.MentorError as exc:
                raise UserError(exc.message) from None
            await interaction.response.send_message(
                f"Match #{run_id} discarded; nobody was paired.", ephemeral=True
            )
            return
        if not self._parent():
            raise UserError(
                "The mentorship channel is not set or not found: set [mentorship] pair_channel (or [channels] "
                "study_groups). Nobody was paired."
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            async with self.bot.sessions.begin() as session:
                done = await service.confirm_run(
                    session, self.bot.guild_id, run_id, self.bot.clock.now(), self.pair_channel_id
                )
        except service.MentorError as exc:
            raise UserError(exc.message) from None
        error = await self.form_pending()
        skipped = f" {done.skipped} previewed pair(s) were no longer possible." if done.skipped else ""
        await interaction.followup.send(
            f"Confirmed match #{run_id}: {len(done.pair_ids)} pair(s) with private threads.{skipped}"
            + (f"\n⚠️ {error}; the pairs still forming are retried in 10 minutes." if error else ""),
            ephemeral=True,
        )

    def _parent(self) -> discord.TextChannel | None:
        guild = self.bot.home_guild
        channel = guild.get_channel(self.pair_channel_id) if guild is not None else None
        return channel if isinstance(channel, discord.TextChannel) else None

    # -- a pair's Discord steps -----------------------------------------------------------------------------------
    async def form_pending(self) -> str | None:
        """Run the Discord steps of every pair still forming, past any that fails; on a failure a retry is
        scheduled and the first error is returned in words (None when all are done)."""
        error = None
        async with self._forming:
            self._active_threads = None
            async with self.bot.sessions() as session:
                pending = await service.forming_pairs(session, self.bot.guild_id)
            for pair_id in pending:
                try:
                    await self._form_pair(pair_id)
                except (discord.HTTPException, OSError, TimeoutError) as exc:
                    log.warning("forming mentorship pair %s stopped: %r; retried later", pair_id, exc)
                    error = error or _describe(exc)
        if error is not None:
            await self._retry_later()
        return error

    async def form_pair(self, pair_id: int) -> None:
        """One pair's Discord steps (a career talk at once), under the forming lock so a retry running at the same
        moment never makes a second thread; a failure schedules the retry and is raised."""
        async with self._forming:
            self._active_threads = None
            try:
                await self._form_pair(pair_id)
            except (discord.HTTPException, OSError, TimeoutError):
                await self._retry_later()
                raise

    async def _find_own_thread(self, parent: discord.TextChannel, name: str) -> discord.Thread | None:
        """A thread the bot made for this pair whose creation was not recorded (the response was lost, or the bot
        stopped first): in the cache, or else in Discord's list of active threads (asked once per run)."""
        me = self.bot.user.id if self.bot.user else 0
        found = next((t for t in parent.threads if t.name == name and t.owner_id == me), None)
        if found is not None:
            return found
        if self._active_threads is None:
            self._active_threads = [
                t for t in await parent.guild.active_threads() if t.parent_id == parent.id and t.owner_id == me
            ]
        return next((t for t in self._active_threads if t.name == name), None)

    async def _form_pair(self, pair_id: int) -> None:
        async with self.bot.sessions() as session:
            pair = await service.pair_view(session, pair_id)
        if pair is None or pair.state != service.FORMING:
            return
        guild = self.bot.home_guild
        if guild is None:
            return
        thread = None
        if pair.thread_id is not None:
            found = guild.get_thread(pair.thread_id)
            if found is None:
                with contextlib.suppress(discord.NotFound):
                    channel = await guild.fetch_channel(pair.thread_id)
                    found = channel if isinstance(channel, discord.Thread) else None
            thread = found
        if thread is None:
            parent = guild.get_channel(pair.parent_channel_id)
            if not isinstance(parent, discord.TextChannel):
                log.warning("the channel %s of mentorship pair %s is gone", pair.parent_channel_id, pair_id)
                return
            label = "Career talk" if pair.kind == service.CAREER else "Mentorship"
            thread = await self._find_own_thread(parent, f"{label} #{pair.id}") or await parent.create_thread(
                name=f"{label} #{pair.id}",
                type=discord.ChannelType.private_thread,
                invitable=False,
                auto_archive_duration=AUTO_ARCHIVE_MINUTES,
                reason=f"mentorship pair {pair.id}",
            )
            async with self.bot.sessions.begin() as session:
                await service.record_thread(session, pair.id, thread.id)
        if thread.archived:
            await thread.edit(archived=False)
        for side in (pair.mentor, pair.mentee):
            try:
                await thread.add_user(discord.Object(side.discord_id))  # adding someone already in it is a no-op
            except discord.HTTPException as exc:
                if exc.code not in (UNKNOWN_MEMBER, UNKNOWN_USER):
                    raise  # about the bot or the thread: the pair stays forming for the retry
                # They left the server since the match: the pair cannot start; the other side stays signed up.
                log.info("mentorship pair %s: %s left the server; the pair is dropped", pair_id, side.member_id)
                async with self.bot.sessions.begin() as session:
                    await service.drop_forming(session, pair_id, self.bot.clock.now())
                return
        now = self.bot.clock.now()
        # A kickoff Discord posted whose response was lost (or a stop before recording it) is found, not reposted.
        message = await self._posted_kickoff(thread) or await thread.send(
            self._kickoff(pair, now),
            allowed_mentions=discord.AllowedMentions(
                everyone=False,
                roles=False,
                users=[discord.Object(pair.mentor.discord_id), discord.Object(pair.mentee.discord_id)],
            ),
        )
        async with self.bot.sessions.begin() as session:
            if await service.record_kickoff(session, pair.id, message.id, now) and pair.kind == service.MENTORSHIP:
                await self._schedule_checkin(session, pair.id, thread.id, now, 1)
        self._threads.add(thread.id)

    async def _posted_kickoff(self, thread: discord.Thread) -> discord.Message | None:
        me = self.bot.user.id if self.bot.user else 0
        async for message in thread.history(limit=20):
            if message.author.id == me and message.content.startswith(KICKOFF_MARK):
                return message
        return None

    def _kickoff(self, pair: service.PairView, now: datetime) -> str:
        times = first_meeting_times(pair.mentor.zone, pair.mentee.zone, now)
        suggestions = "\n".join(
            f"• {discord_ts(t, 'F')}: {_local(t, pair.mentee.zone)} for <@{pair.mentee.discord_id}>, "
            f"{_local(t, pair.mentor.zone)} for <@{pair.mentor.discord_id}>"
            for t in times
        )
        if pair.kind == service.CAREER:
            head = (
                f"{KICKOFF_MARK} A career conversation: <@{pair.mentee.discord_id}> meets "
                f"<@{pair.mentor.discord_id}>.\n"
                f"**What they would like to talk about:** {shown(pair.goals) or '—'}"
            )
        else:
            head = (
                f"{KICKOFF_MARK} Welcome, <@{pair.mentor.discord_id}> (mentor) and "
                f"<@{pair.mentee.discord_id}> (mentee)! "
                "This private thread is yours.\n"
                f"**{shown(pair.mentee.name)}'s goals:** {shown(pair.goals) or '—'}\n"
                f"**Why you were matched:** {shown(pair.reasons) or '—'}"
            )
        return (
            f"{head}\n**Suggested first meeting times** (each of you sees your own time in the timestamp):\n"
            f"{suggestions}\n"
            f"`/mentor log` after a session; I check in every {self.config.checkin_days} days. Either of you can "
            "end the pairing with `/mentor end`."
        )[:2000]

    async def _schedule_checkin(self, session: Any, pair_id: int, thread_id: int, after: datetime, n: int) -> None:
        await self.bot.reminders.schedule(
            session,
            kind=CHECKIN,
            guild_id=self.bot.guild_id,
            target_id=thread_id,
            due_at=after + timedelta(days=self.config.checkin_days),
            payload={"pair_id": pair_id, "n": n},
            dedupe_key=service.checkin_key(pair_id, n),
        )

    async def _checkin(self, reminder: Reminder) -> None:
        pair_id, n = int(reminder.payload["pair_id"]), int(reminder.payload["n"])
        async with self.bot.sessions() as session:
            pair = await service.pair_view(session, pair_id)
        if pair is None or pair.state != service.ACTIVE or pair.thread_id is None:
            return  # ended: no more check-ins
        thread = await self.bot.fetch_channel(pair.thread_id)
        if not isinstance(thread, discord.Thread):
            raise PermanentSendError(f"the thread {pair.thread_id} of pair {pair_id} is not a thread")
        # The next one first (idempotent by its key): a stop or a refused post after this never ends the series.
        async with self.bot.sessions.begin() as session:
            await self._schedule_checkin(session, pair_id, pair.thread_id, reminder.due_at, n + 1)
        if thread.archived:
            await thread.edit(archived=False)
        await thread.send(
            f"🗓️ Check-in #{n}: how is the mentorship going, <@{pair.mentor.discord_id}> and "
            f"<@{pair.mentee.discord_id}>? Log a session with `/mentor log`; if it has run its course, "
            "`/mentor end` closes it with a short feedback form.",
            allowed_mentions=discord.AllowedMentions(
                users=[discord.Object(pair.mentor.discord_id), discord.Object(pair.mentee.discord_id)]
            ),
        )

    # -- activity and the quiet-pair scan -------------------------------------------------------------------------
    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.channel.id not in self._threads:
            return
        now = self.bot.clock.now()
        last = self._touched.get(message.channel.id)
        if last is not None and now - last < TOUCH_EVERY:
            return
        self._touched[message.channel.id] = now
        async with self.bot.sessions.begin() as session:
            await service.touch(session, message.channel.id, now)

    async def quiet_job(self, now: datetime) -> None:
        """Flag quiet pairs once (one post for all of them in [channels] mod_log). The flag is committed before
        the post, so two processes never flag a pair twice; a post Discord refuses gives the flags back. Career
        talks are not flagged: they close by themselves after service.CAREER_OPEN_DAYS."""
        async with self.bot.sessions.begin() as session:
            closed = await service.close_old_career_talks(session, self.bot.guild_id, now)
        for thread_id in closed:
            self._threads.discard(thread_id)
            await self._close_thread(
                thread_id,
                f"This career conversation closes after {service.CAREER_OPEN_DAYS} days; thank you both! "
                "`/career` again any time. The thread is archived and locked.",
            )
        channel_id = self.bot.channel_ids.id("mod_log")
        guild = self.bot.home_guild
        channel = guild.get_channel(channel_id) if guild is not None and channel_id else None
        if not isinstance(channel, discord.TextChannel):
            log.warning("mentorship: [channels] mod_log is not set; quiet pairs are not flagged")
            return
        async with self.bot.sessions.begin() as session:
            quiet = await service.quiet_pairs(session, self.bot.guild_id, now, self.config.quiet_days)
        if not quiet:
            return
        lines = [
            f"• {p.kind} #{p.id}: {shown(p.mentor.name)} and {shown(p.mentee.name)}"
            + (f" (<#{p.thread_id}>)" if p.thread_id else "")
            for p in quiet
        ]
        head = (
            f"🔕 {len(quiet)} mentorship pair(s) with no logged session or message for "
            f"{self.config.quiet_days} days:"
        )
        try:
            await channel.send(flag_post(head, lines), allowed_mentions=NONE)
        except discord.HTTPException:
            async with self.bot.sessions.begin() as session:
                await service.unflag(session, [p.id for p in quiet])
            raise

    # -- sessions and ending ------------------------------------------------------------------------------------
    async def _pair_for(self, interaction: discord.Interaction, partner: discord.Member | None) -> tuple[int, Any]:
        async with self.bot.sessions() as session:
            row = await self._row(session, interaction.user)
            if row is None:
                raise UserError("You have no active mentorship pairing.")
            partner_row = await self._row(session, partner) if partner is not None else None
            if partner is not None and partner_row is None:
                raise UserError("You have no active pairing with that member.")
            channel = interaction.channel
            try:
                pair = await service.find_pair(
                    session,
                    row.id,
                    thread_id=channel.id if isinstance(channel, discord.Thread) else None,
                    partner_id=partner_row.id if partner_row is not None else None,
                )
            except service.MentorError as exc:
                raise UserError(exc.message) from None
        return row.id, pair

    @app_commands.command(name="log", description="Record a mentoring session (once a day per pair)")
    @app_commands.describe(
        note="A line about what you covered (optional)", partner="Your partner, if you have several"
    )
    async def log_session(
        self,
        interaction: discord.Interaction,
        note: app_commands.Range[str, 0, 300] = "",
        partner: discord.Member | None = None,
    ) -> None:
        member_id, pair = await self._pair_for(interaction, partner)
        async with self.bot.sessions.begin() as session:
            logged = await service.log_session(
                session, ledger.policy_for(self.bot.config), pair, member_id, note, self.bot.clock.now()
            )
        if not logged.created:
            await interaction.response.send_message(
                f"A session of this pair is already logged for {logged.day}; one a day counts. Nothing changed.",
                ephemeral=True,
            )
            return
        await interaction.response.send_message(
            f"Session logged for {logged.day}: <@{pair.mentor.discord_id}> earns {logged.credited} point(s) for "
            "mentoring. Thank you both!",
            ephemeral=True,
        )

    @app_commands.command(name="end", description="End your mentorship pairing, with a short feedback form")
    @app_commands.describe(partner="Your partner, if you have several")
    async def end(self, interaction: discord.Interaction, partner: discord.Member | None = None) -> None:
        _member_id, pair = await self._pair_for(interaction, partner)
        await interaction.response.send_modal(EndModal(pair.id))

    async def end_submitted(
        self, interaction: discord.Interaction, pair_id: int, rating: str, comment: str
    ) -> None:
        if rating.strip() not in {"1", "2", "3", "4", "5"}:
            raise UserError("The rating is a whole number from 1 to 5; the pairing was not ended.")
        async with self.bot.sessions.begin() as session:
            row = await self._row(session, interaction.user)
            pair = await service.pair_view(session, pair_id)
            if row is None or pair is None or pair.side_of(row.id) is None:
                raise UserError("This is not your pairing.")
            try:
                pair = await service.end_pair(
                    session, pair_id, row.id, int(rating), comment.strip(), self.bot.clock.now()
                )
            except service.MentorError as exc:
                raise UserError(exc.message) from None
        await interaction.response.send_message(
            "Thank you: the pairing has ended and your feedback is saved. You will not be matched together again.",
            ephemeral=True,
        )
        if pair.thread_id is not None:
            self._threads.discard(pair.thread_id)
            await self._close_thread(
                pair.thread_id,
                f"This pairing was ended by {shown(interaction.user.display_name)}. Thank you both! "
                "The thread is archived and locked.",
            )

    async def _close_thread(self, thread_id: int, text: str) -> None:
        """Say why, then archive and lock (best effort: the pair's end is already recorded)."""
        with contextlib.suppress(discord.HTTPException):
            thread = await self.bot.fetch_channel(thread_id)
            if isinstance(thread, discord.Thread):
                if thread.archived:
                    await thread.edit(archived=False)
                await thread.send(text, allowed_mentions=NONE)
                await thread.edit(archived=True, locked=True)


@app_commands.guild_only()
class MenteeCog(commands.GroupCog, group_name="mentee", group_description="Mentorship: find a mentor"):
    def __init__(self, bot: AtlasBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="signup", description="Sign up (or edit your sign-up) to be matched with a mentor")
    @app_commands.describe(
        goals="What you want to reach with a mentor",
        topics="Topics you want to learn, separated by commas",
        style="How you like to work with a mentor",
    )
    async def signup(
        self,
        interaction: discord.Interaction,
        goals: app_commands.Range[str, 1, 500],
        topics: app_commands.Range[str, 1, 400],
        style: str,
    ) -> None:
        styles = self.bot.config.onboarding.communication_styles
        if style not in styles:
            raise UserError(f"Pick a style from the list: {', '.join(styles)}.")
        try:
            async with self.bot.sessions.begin() as session:
                done = await service.mentee_signup(
                    session,
                    await get_member(session, self.bot.guild_id, interaction.user.id),
                    self.bot.clock.now(),
                    goals=goals,
                    topics=topics,
                    style=style,
                )
        except service.MentorError as exc:
            raise UserError(exc.message) from None
        head = (
            "You are signed up for a mentor" if done.outcome == "signed_up" else "Your mentee sign-up is updated"
        )
        await interaction.response.send_message(
            f"{head}: topics {shown(', '.join(done.topics))}; {style}. You will get a private thread with your "
            "mentor once maintainers run the next match. `/mentor profile` shows your sign-up.",
            ephemeral=True,
        )

    @signup.autocomplete("style")
    async def _styles(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        styles = self.bot.config.onboarding.communication_styles
        return [app_commands.Choice(name=s, value=s) for s in styles if current.lower() in s.lower()][:25]

    @app_commands.command(name="pause", description="Stop waiting for a mentor (sign up again to rejoin)")
    async def pause(self, interaction: discord.Interaction) -> None:
        try:
            async with self.bot.sessions.begin() as session:
                row = await get_member(session, self.bot.guild_id, interaction.user.id)
                if row is None:
                    raise service.MentorError("You are not signed up as a mentee: nothing to pause.")
                changed = await service.pause_mentee(session, row.id, self.bot.clock.now())
        except service.MentorError as exc:
            raise UserError(exc.message) from None
        text = (
            "You will not be matched with a mentor. A current pairing goes on; `/mentee signup` when you want a "
            "mentor again."
        )
        await interaction.response.send_message(text if changed else f"Nothing changed. {text}", ephemeral=True)
