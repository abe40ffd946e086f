"""The cohorts' weekly steps on Discord: the reminder handlers that post the week's topic, the mid-week nudge and
the synthesis template in each cohort's thread, close the week, celebrate milestones, end the cohort, send the
accountability DMs and milestone reminders. A mixin of ``weekly_cog.WeeklyCommands`` (which registers them).

Every step is a durable reminder (``weekly`` explains why, and how a retry after a crash finds what an
interrupted attempt posted instead of posting twice). Before posting, the thread is unarchived (Discord refuses
messages in an archived thread with 50083; a thread auto-archives after a quiet spell).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import discord

from bot import ledger
from bot.names import name_of
from bot.reminders import PermanentSendError, TransientSendError
from bot.timefmt import discord_ts
from cogs.cohorts import curriculum, projects, weekly
from cogs.cohorts.weekly_views import checkin_view, move_view
from models import Reminder

if TYPE_CHECKING:
    from bot.config import CohortsSection
    from bot.core import AtlasBot

log = logging.getLogger(__name__)

NONE = discord.AllowedMentions.none()
ARCHIVED = 50083
ACTIVE_THREAD_LIMIT = 160006
# Messages read from a week's thread history at its close (two pages); a week livelier than this has been seen
# by message events anyway, unless the bot was away for most of it.
HISTORY_LIMIT = 200


class WeeklySteps:
    bot: AtlasBot
    config: CohortsSection
    curriculum: curriculum.Curriculum
    policy: ledger.LedgerPolicy
    late_grace: timedelta

    async def schedule_steps(self, now: datetime, cohort_ids: list[int] | None = None) -> int:
        """The daily sweep (and at start, and when forming makes a cohort active): every active cohort's steps due
        within ``weekly.HORIZON`` get their reminder, in one read and one insert."""
        async with self.bot.sessions.begin() as session:
            added = await weekly.schedule_steps(session, now, guild_id=self.bot.guild_id, cohort_ids=cohort_ids)
        if added:
            self.bot.scheduler.kick()
            await self.bot.scheduler.wake_for_pending()
        return added

    # -- the thread ----------------------------------------------------------------------------------------------
    async def _thread(self, thread_id: int) -> discord.Thread:
        """The cohort's thread, unarchived (Discord refuses posts in an archived thread)."""
        thread = await self._readable_thread(thread_id)
        if thread.archived:
            # A lock a moderator set stays: the bot (Manage Threads) may post in a locked thread, members not.
            try:
                thread = await thread.edit(archived=False)
            except discord.HTTPException as exc:
                if exc.code != ACTIVE_THREAD_LIMIT:
                    raise
                await self.bot.notify_maintainers_once(
                    "cohort_thread_limit",
                    "The server has 1,000 active threads, Discord's limit, so I cannot unarchive cohort threads "
                    "to post their weekly steps. Archive some threads; I keep retrying.",
                )
                raise TransientSendError("the guild's active-thread limit (160006)") from None
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
        step's marker, posted since a fixed reference (never the due_at a retry moves on). The bot always sees
        its own messages' content."""
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
        """Post a step's message, or find it if an interrupted earlier attempt of this reminder posted it.

        The history is read on every attempt, not only when ``attempts`` > 1: a send cancelled at shutdown is
        handed back with its attempt uncounted although Discord may have taken it (one GET per step)."""
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
        if ctx.action == "wait":
            raise TransientSendError(ctx.reason)  # retried with the reminders' backoff
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

    async def _replies_in_history(self, cohort_id: int, week: int, now: datetime) -> None:
        """Before a week closes, the members' replies in its thread that no message event brought (the bot was
        down or disconnected when they were written) are counted from the thread's history: authors and times
        only, never content. A failure to read is logged and the week closes on what the events brought."""
        from models.cohorts import Cohort, CohortWeek

        async with self.bot.sessions() as session:
            cohort = await session.get(Cohort, cohort_id)
            row = await session.get(CohortWeek, (cohort_id, week))
        if cohort is None or cohort.thread_id is None or (row is not None and row.closed_at is not None):
            return
        starts_at = weekly.aware(cohort.starts_at)
        assert starts_at is not None
        start = weekly.week_start(starts_at, cohort.zone, week)
        end = min(weekly.week_start(starts_at, cohort.zone, week + 1), now)
        replies: dict[int, datetime] = {}
        try:
            thread = await self._readable_thread(cohort.thread_id)
            async for message in thread.history(after=start, before=end, limit=HISTORY_LIMIT, oldest_first=True):
                if message.author.bot or message.type not in (
                    discord.MessageType.default,
                    discord.MessageType.reply,
                ):
                    continue
                replies.setdefault(message.author.id, message.created_at)
        except discord.HTTPException as exc:
            log.warning("cohort %s week %s: the thread's history could not be read (%s)", cohort_id, week, exc)
            return
        if not replies:
            return
        async with self.bot.sessions.begin() as session:
            credited = await weekly.took_part(
                session, self.policy, cohort=cohort, week=week, replies=replies, now=now
            )
        for member_id in credited:
            self.bot.ledger_recorded(member_id)

    async def _readable_thread(self, thread_id: int) -> discord.Thread:
        """The thread as it is, archived or not (reading never needs it unarchived)."""
        thread = self.bot.live_guild().get_thread(thread_id)
        if thread is None:
            channel = await self.bot.fetch_channel(thread_id)  # archived threads are not in the cache
            if not isinstance(channel, discord.Thread):
                raise PermanentSendError(f"channel {thread_id} is not a thread")
            thread = channel
        return thread

    async def _close_week(self, reminder: Reminder) -> None:
        cohort_id, week = reminder.target_id, int(reminder.payload["week"])
        now = self.bot.clock.now()
        await self._replies_in_history(cohort_id, week, now)
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
        await self._post_once(reminder, cohort.thread_id, mark, reminder.created_at, content=content)

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
        await self._post_once(reminder, cohort.thread_id, mark, reminder.created_at, content=content)
        thread = await self._thread(cohort.thread_id)
        await thread.edit(archived=True, locked=True)

    async def _facilitator_changed(self, reminder: Reminder) -> None:
        """The facilitator took the move: who facilitates now, said in the thread (no ping)."""
        cohort = await self._cohort(int(reminder.payload["cohort_id"]))
        if cohort is None or cohort.state != "active" or cohort.thread_id is None:
            return
        who = reminder.payload.get("facilitator")
        mark = weekly.marker(cohort.id, 0, f"facilitator {reminder.id}")
        now = (
            f"<@{int(who)}> facilitates the group from now on (the longest-standing member here)."
            if who
            else "Nobody facilitates the group for now; a maintainer can pick someone."
        )
        content = f"👋 Your facilitator has moved to the next cohort. {now}\n{mark}"
        await self._post_once(reminder, cohort.thread_id, mark, reminder.created_at, content=content)

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
        if not due.live:
            # The cohort ended or the owner left or moved: nothing to remind, and an ended cohort's thread is
            # archived and locked for good (never reopened for this). Recorded as failed, with the reason.
            raise PermanentSendError("the cohort ended or the milestone's owner is no longer in it")
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
