"""Reports to moderators on Discord: the "Report to moderators" message command, the private report in the
moderators' channel, and resolving it.

- The report goes to ``[channels] reports`` (``mod_log`` when unset). It names the reporter, so the bot refuses
  to post in a channel anyone but moderators can view (``@everyone``, a member's role, a member's own
  overwrite): the reporter is told, maintainers are told once, and nothing is filed.
- Filing stores the report and a durable reminder in one transaction; the reminder posts it (so a Discord error
  or a restart between the two loses nothing), and a daily job re-queues any report still unposted (after the
  channel was fixed).
- Reported text and reasons go out in an embed (never pings) with ``allowed_mentions`` none besides.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands
from sqlalchemy import select

from bot.checks import POLICY, Capability, ensure, member_has, require
from bot.errors import UserError
from bot.reminders import PermanentSendError, ReminderKind, TransientSendError
from bot.scheduler import Job
from bot.timefmt import discord_ts
from cogs.reports import service
from cogs.reports.views import NoteModal, ReasonModal, ResolveButton, resolve_view
from models import ModReport, Reminder

if TYPE_CHECKING:
    from bot.core import AtlasBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
MENU_NAME = "Report to moderators"
REPOST_JOB = "reports.repost_unposted"
NOTICE = "reports_channel"
POST_NOTICE = "reports_post_refused"
MARKER = "Atlas report "
RECENT = 50  # messages of the moderators' channel searched for a report posted just before a crash
COOLDOWN = (5, 600.0)  # reports a member may file per ten minutes (a flood of reports is itself abuse)


def report_channel_id(bot: AtlasBot) -> int:
    """The moderators' channel (config id, else the one server setup made): ``reports``, else ``mod_log``."""
    return bot.channel_ids.id("reports") or bot.channel_ids.id("mod_log")


def message_link(guild_id: int, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


# Discord refuses an embed whose description passes 4,096 characters (400, code 50035). Reason and text are
# quoted line by line (``> `` on each, so a wall of blank lines grows), then each quote is cut to its share.
DESCRIPTION_MAX = 4096
QUOTE_BUDGET = 1900  # per quote: two quotes and their headings stay under DESCRIPTION_MAX


def _quote(text: str, budget: int = QUOTE_BUDGET) -> str:
    """``text`` quoted, at most ``budget`` characters after quoting (cut with an ellipsis)."""
    quoted = "\n".join(f"> {line}" for line in text.splitlines()) or "> (no text: an attachment or an embed)"
    return quoted if len(quoted) <= budget else quoted[: budget - 1] + "…"


def _who(user_id: int) -> str:
    return "a former member (their data was erased)" if user_id < 0 else f"<@{user_id}>"


def report_embed(report: ModReport, reports_of_message: int) -> discord.Embed:
    resolved = report.resolved_at is not None
    embed = discord.Embed(
        title=f"Report #{report.id}" + (" (resolved)" if resolved else ""),
        colour=discord.Colour.green() if resolved else discord.Colour.red(),
        timestamp=report.created_at,
    )
    description = f"**Reason**\n{_quote(report.reason)}\n\n**Reported message**\n{_quote(report.excerpt)}"
    embed.description = description[:DESCRIPTION_MAX]
    embed.add_field(name="Reported by", value=_who(report.reporter_id))
    embed.add_field(name="Author", value=f"<@{report.author_id}>")
    link = message_link(report.guild_id, report.channel_id, report.message_id)
    embed.add_field(name="Message", value=f"[Jump to the message]({link}) in <#{report.channel_id}>")
    if reports_of_message > 1:
        embed.add_field(name="Reports of this message", value=str(reports_of_message))
    if resolved:
        assert report.resolved_at is not None
        note = report.resolution_note or "(no note)"
        embed.add_field(
            name="Resolved",
            value=f"by <@{report.resolved_by}> {discord_ts(report.resolved_at, 'R')}\n{note[:900]}",
            inline=False,
        )
    embed.set_footer(text=f"{MARKER}{report.id}")  # found again in the channel after a crash (see _post)
    return embed


class ReportsCog(commands.Cog):
    reports = app_commands.Group(name="reports", description="Reports to moderators", guild_only=True)

    def __init__(self, bot: AtlasBot) -> None:
        self.bot = bot
        self.menu = app_commands.ContextMenu(name=MENU_NAME, callback=self.report_menu)
        self.menu.guild_only = True

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)
        self.bot.add_dynamic_items(ResolveButton)
        self.bot.reminders.register(ReminderKind(service.POST, self._post))
        self.bot.reminders.register(ReminderKind(service.REDRAW, self._redraw))
        self.bot.scheduler.add_job(Job(REPOST_JOB, {"hour": 5, "minute": 10}, self.repost_job))

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)
        self.bot.remove_dynamic_items(ResolveButton)
        self.bot.reminders.unregister(service.POST)
        self.bot.reminders.unregister(service.REDRAW)
        self.bot.scheduler.remove_job(REPOST_JOB)

    # -- who may see reports --------------------------------------------------------------------------------------
    def is_moderator(self, member: discord.Member) -> bool:
        return member_has(member, Capability.MODERATE, self.bot.community, self.bot.config)

    def others_who_see(self, channel: discord.abc.GuildChannel) -> list[str]:
        """Who besides moderators (their roles, administrators) and bots can view ``channel``, by name."""
        guild = channel.guild
        if channel.permissions_for(guild.default_role).view_channel:
            return ["@everyone"]
        moderator_roles = self.bot.community.ids_for(POLICY[Capability.MODERATE])
        found = [
            f"the {role.name} role"
            for role in guild.roles
            if not role.is_default()
            and role.id not in moderator_roles
            # Bot roles are the bots' own; other managed roles (Server Booster, an integration's subscribers)
            # are held by ordinary members.
            and not role.is_bot_managed()
            and not role.permissions.administrator
            and channel.permissions_for(role).view_channel
        ]
        for target, overwrite in channel.overwrites.items():
            if isinstance(target, discord.Role) or overwrite.view_channel is not True:
                continue
            member = target if isinstance(target, discord.Member) else guild.get_member(target.id)
            if member is None or not (member.bot or self.is_moderator(member)):
                found.append(member.display_name if member is not None else f"member {target.id}")
        return found

    def reports_channel(self) -> tuple[discord.TextChannel | None, str]:
        """The moderators' channel, or None and why it cannot take reports (in words for maintainers)."""
        channel_id = report_channel_id(self.bot)
        if not channel_id:
            return None, "no moderators' channel is set up ([channels] reports, or mod_log)"
        channel = self.bot.get_channel(channel_id)
        if not isinstance(channel, discord.TextChannel):
            return None, f"the moderators' channel ({channel_id}) is not a text channel the bot can see"
        others = self.others_who_see(channel)
        if others:
            return None, (
                f"the moderators' channel <#{channel.id}> is not private ({', '.join(others[:5])} can see it): "
                "reports are not posted there until only moderators can"
            )
        me = channel.guild.me
        perms = channel.permissions_for(me)
        if not (perms.view_channel and perms.send_messages and perms.embed_links):
            return None, f"the bot needs View Channel, Send Messages and Embed Links in <#{channel.id}>"
        return channel, ""

    async def usable_channel(self) -> discord.TextChannel:
        channel, problem = self.reports_channel()
        if channel is None:
            await self.bot.notify_maintainers_once(NOTICE, f"Reports to moderators cannot be filed: {problem}.")
            raise UserError(
                "Reports cannot be filed right now: the moderators' channel is not set up safely. "
                "The maintainers have been told; please try again later."
            )
        await self.bot.clear_notice(NOTICE)
        return channel

    # -- filing ---------------------------------------------------------------------------------------------------
    async def report_menu(self, interaction: discord.Interaction, message: discord.Message) -> None:
        if interaction.guild is None or message.guild is None:
            raise UserError("Reports are for messages in the server.")
        if message.author.id == interaction.user.id:
            raise UserError("You cannot report your own message.")
        if message.channel.id == report_channel_id(self.bot):
            raise UserError("That message is in the moderators' channel already.")
        await self.usable_channel()
        async with self.bot.sessions() as session:
            done = await service.already_reported(session, self.bot.guild_id, message.id, interaction.user.id)
        if done:
            await interaction.response.send_message(
                "You already reported this message; the moderators have your report.", ephemeral=True
            )
            return
        await interaction.response.send_modal(ReasonModal(message, interaction.id))

    async def file(self, interaction: discord.Interaction, message: discord.Message, reason: str) -> None:
        await self.usable_channel()
        now = self.bot.clock.now()
        key = ("reports", interaction.user.id, None)
        wait = self.bot.cooldowns.take(key, *COOLDOWN)
        if wait is not None:
            raise UserError(
                f"You have sent several reports just now; you can send another in {max(1, round(wait / 60))} "
                "minute(s). The moderators have the ones you sent."
            )
        try:
            async with self.bot.sessions.begin() as session:
                report_id = await service.file_report(
                    session,
                    guild_id=self.bot.guild_id,
                    channel_id=message.channel.id,
                    message_id=message.id,
                    reporter_id=interaction.user.id,
                    author_id=message.author.id,
                    reason=reason,
                    # Attachments are shown by link: moderators see what was posted even when the text is empty.
                    text=message.content + "".join(f"\n[attachment] {a.url}" for a in message.attachments),
                    now=now,
                )
                if report_id is not None:
                    await self.bot.reminders.schedule(
                        session,
                        kind=service.POST,
                        guild_id=self.bot.guild_id,
                        target_id=report_id,
                        due_at=now,
                        dedupe_key=f"report:{report_id}",
                    )
        except service.ReportError as exc:
            self.bot.cooldowns.refund(key)  # the member's mistake: nothing was filed
            raise UserError(str(exc)) from None
        if report_id is None:
            self.bot.cooldowns.refund(key)
            text = "You already reported this message; the moderators have your report."
        else:
            text = "Received: your report went to the moderators, and only they can see it. Thank you."
        await interaction.response.send_message(text, ephemeral=True)

    async def _post(self, reminder: Reminder) -> None:
        async with self.bot.sessions() as session:
            report = await service.get(session, reminder.target_id)
            if report is None or report.posted_message_id is not None:
                return
            count = await service.reports_of_message(session, report.guild_id, report.message_id)
        channel, problem = self.reports_channel()
        if channel is None:
            await self.bot.notify_maintainers_once(NOTICE, f"Reports to moderators cannot be posted: {problem}.")
            raise PermanentSendError(problem)  # the daily job queues it again once the channel is fixed
        async with self.bot.sessions.begin() as session:
            claim = await service.claim_post(session, report.id, self.bot.clock.now())
        if claim.posted:
            return
        if not claim.won:  # another reminder (a re-queue beside a retry) is posting it right now
            raise TransientSendError("the report is being posted by another attempt")
        try:
            found = await self._find_post(channel, report.id) if claim.after_crash else None
            if found is None:
                found = await channel.send(
                    embed=report_embed(report, count), view=resolve_view(report.id), allowed_mentions=NO_MENTIONS
                )
        except discord.HTTPException as exc:
            if exc.status >= 500:
                raise  # it may have been posted (the answer lost): the claim stays, the retry looks for it first
            async with self.bot.sessions.begin() as session:
                await service.release_post(session, report.id)  # Discord refused it: nothing was posted
            if exc.status != 429:
                # Discord will refuse it again as it is (a permission, a limit): maintainers hear of it once.
                await self.bot.notify_maintainers_once(
                    POST_NOTICE,
                    f"Report #{report.id} could not be posted in <#{channel.id}>: Discord answered {exc.status} "
                    f"({exc.text or 'refused'}). Waiting reports are posted again daily (/reports open).",
                )
            raise
        async with self.bot.sessions.begin() as session:
            await service.mark_posted(session, report.id, channel.id, found.id)
        await self.bot.clear_notice(POST_NOTICE)

    async def _find_post(self, channel: discord.TextChannel, report_id: int) -> discord.Message | None:
        """A report posted just before a crash (sent, not yet recorded): found by its footer among the channel's
        latest messages, so it is recorded rather than posted twice."""
        me = channel.guild.me.id
        async for message in channel.history(limit=RECENT):
            if message.author.id == me and any(
                e.footer.text == f"{MARKER}{report_id}" for e in message.embeds if e.footer
            ):
                return message
        return None

    async def _redraw(self, reminder: Reminder) -> None:
        """The reporter erased their data: the post is drawn again without their name and reason."""
        async with self.bot.sessions() as session:
            report = await service.get(session, reminder.target_id)
            if report is None or report.posted_channel_id is None or report.posted_message_id is None:
                return
            count = await service.reports_of_message(session, report.guild_id, report.message_id)
        channel = self.bot.get_partial_messageable(report.posted_channel_id, guild_id=report.guild_id)
        view = None if report.resolved_at is not None else resolve_view(report.id)
        await channel.get_partial_message(report.posted_message_id).edit(
            embed=report_embed(report, count), view=view, allowed_mentions=NO_MENTIONS
        )

    async def repost_job(self, now: datetime) -> None:
        """Daily: reports filed but never posted (the channel was unusable) are queued again."""
        if self.reports_channel()[0] is None:
            return
        async with self.bot.sessions.begin() as session:
            ids = await session.scalars(
                select(ModReport.id).where(
                    ModReport.guild_id == self.bot.guild_id,
                    ModReport.posted_message_id.is_(None),
                    ModReport.created_at >= now - timedelta(days=30),
                )
            )
            for report_id in ids.all():
                await self.bot.reminders.schedule(
                    session,
                    kind=service.POST,
                    guild_id=self.bot.guild_id,
                    target_id=report_id,
                    due_at=now,
                    dedupe_key=f"report:{report_id}:{now.date().isoformat()}",
                )

    @reports.command(name="open", description="Reports not resolved yet, oldest first (moderators)")
    @require(Capability.MODERATE)
    async def open_reports(self, interaction: discord.Interaction) -> None:
        async with self.bot.sessions() as session:
            rows, total = await service.open_reports(session, self.bot.guild_id, 15)
        if not rows:
            await interaction.response.send_message("No open reports.", ephemeral=True)
            return
        lines = []
        for report in rows:
            where = (
                message_link(report.guild_id, report.posted_channel_id, report.posted_message_id)
                if report.posted_channel_id and report.posted_message_id
                else "not posted yet (see the moderators' channel set-up)"
            )
            lines.append(f"#{report.id} {discord_ts(report.created_at, 'R')}: {where}")
        if total > len(rows):
            lines.append(f"… and {total - len(rows)} more.")
        await interaction.response.send_message(
            f"**{total} open report(s)**\n" + "\n".join(lines), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    # -- resolving ------------------------------------------------------------------------------------------------
    async def _already(self, interaction: discord.Interaction, by: int, at: datetime) -> None:
        await interaction.response.send_message(
            f"This report was already resolved by <@{by}> {discord_ts(at, 'R')}.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    async def resolve_clicked(self, interaction: discord.Interaction, report_id: int) -> None:
        ensure(interaction.user, Capability.MODERATE, self.bot.community, self.bot.config)
        async with self.bot.sessions() as session:
            report = await service.get(session, report_id)
        if report is None:
            raise UserError("That report no longer exists.")
        if report.resolved_by is not None and report.resolved_at is not None:
            await self._already(interaction, report.resolved_by, report.resolved_at)
            return
        await interaction.response.send_modal(NoteModal(report_id, interaction.id))

    async def resolve(self, interaction: discord.Interaction, report_id: int, note: str) -> None:
        ensure(interaction.user, Capability.MODERATE, self.bot.community, self.bot.config)
        try:
            async with self.bot.sessions.begin() as session:
                result = await service.resolve(
                    session, report_id, by=interaction.user.id, note=note, now=self.bot.clock.now()
                )
                report = await service.get(session, report_id)
                assert report is not None
                count = await service.reports_of_message(session, report.guild_id, report.message_id)
        except service.ReportError as exc:
            raise UserError(str(exc)) from None
        if not result.won:
            await self._already(interaction, result.by, result.at)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        if report.posted_channel_id and report.posted_message_id:
            channel = self.bot.get_partial_messageable(report.posted_channel_id, guild_id=report.guild_id)
            try:
                await channel.get_partial_message(report.posted_message_id).edit(
                    embed=report_embed(report, count), view=None, allowed_mentions=NO_MENTIONS
                )
            except discord.HTTPException as exc:  # resolved in the database all the same
                log.warning("could not mark report %s resolved in its post: %s", report_id, exc)
        await interaction.followup.send(f"Report #{report_id} resolved.", ephemeral=True)
