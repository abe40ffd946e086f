"""The /announce commands: schedule (a modal for the message, then a preview of the next five occurrences as
Discord timestamps, then Confirm), list, edit, pause, resume, cancel (posting is in ``handlers``).

Who may: Maintainers, and Ambassadors when ``[announcements] ambassadors_may_schedule`` is on. The role to
mention is an explicit option, shown in the preview and allowed by ``allowed_mentions``; mentions typed in the
text never ping. Each post goes through a durable reminder (``service.POST``), whose late policy is
``[announcements] grace_minutes``: an occurrence found later than that is skipped and shown in /announce list.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import when as when_module
from bot.checks import Capability, member_has, require
from bot.errors import UserError
from bot.reminders import ReminderKind
from bot.scheduler import Job
from bot.timefmt import discord_ts
from cogs.announce import service
from cogs.announce.handlers import AnnouncementHandlers, render
from cogs.announce.views import BODY_MAX, NO_MENTIONS, ConfirmView, MessageModal
from cogs.onboarding import timezones
from models.announcements import Announcement

if TYPE_CHECKING:
    from bot.core import AtlasBot

log = logging.getLogger(__name__)

PREVIEW_COUNT = 5
REPAIR_JOB = "announce-repair"
# /announce list: characters per page (under Discord's 2,000 with the page line) and trouble lines per entry.
LIST_PAGE = 1850
LIST_RUNS = 5


def paginate(blocks: list[str], size: int) -> list[str]:
    """Blocks joined by newlines into pages of at most ``size`` characters, a block never split (one longer
    than a page is cut)."""
    pages: list[str] = []
    current = ""
    for block in blocks:
        block = block if len(block) <= size else block[: size - 1] + "…"
        if current and len(current) + 1 + len(block) > size:
            pages.append(current)
            current = ""
        current = f"{current}\n{block}" if current else block
    if current:
        pages.append(current)
    return pages


def occurrences_text(parsed: when_module.Once | when_module.Recurrence, now: datetime) -> list[datetime]:
    if isinstance(parsed, when_module.Once):
        return [parsed.starts_at]
    return parsed.next(now, PREVIEW_COUNT)


@app_commands.guild_only()
class AnnounceCog(
    AnnouncementHandlers,
    commands.GroupCog,
    group_name="announce",
    group_description="Scheduled and recurring community announcements",
):
    def __init__(self, bot: AtlasBot) -> None:
        self.bot = bot
        self._events = asyncio.Lock()
        super().__init__()

    async def cog_load(self) -> None:
        self.bot.reminders.register(
            ReminderKind(
                service.POST,
                self._post,
                grace=service.KIND_GRACE,
                max_attempts=service.MAX_ATTEMPTS,
                max_backoff=service.MAX_BACKOFF,
            )
        )
        self.bot.scheduler.add_job(Job(REPAIR_JOB, {"hour": 4, "minute": 40}, self.repair_job))

    async def cog_unload(self) -> None:
        self.bot.reminders.unregister(service.POST)
        self.bot.scheduler.remove_job(REPAIR_JOB)

    async def repair_job(self, now: datetime) -> None:
        """Daily: an active announcement or reminder whose pending send was given up gets it back."""
        async with self.bot.sessions.begin() as session:
            replanned = await service.replan_missing(
                session, self.bot.reminders, now, self.bot.config.bot.guild_id
            )
        if replanned:
            log.warning("announce: replanned %s occurrence(s) whose reminder was missing", replanned)

    def _may_announce(self, interaction: discord.Interaction) -> bool:
        return member_has(interaction.user, Capability.SCHEDULE_ANNOUNCEMENTS, self.bot.community, self.bot.config)

    # -- parsing ---------------------------------------------------------------------------------------------
    def _zone(self, zone: str | None) -> str:
        if not zone:
            return self.bot.config.community.timezone
        found = timezones.canonical(zone)
        if found is None:
            shown = discord.utils.escape_markdown(" ".join(zone.split())[:40])  # a reply holds 2,000 characters
            raise UserError(f"Unknown time zone “{shown}”: pick one from the list (e.g. Europe/Berlin).")
        return found

    def _parse(self, when: str, zone: str, until: str | None) -> when_module.Once | when_module.Recurrence:
        now = self.bot.clock.now()
        try:
            end = when_module.parse_until(until, zone, now) if until else None
            parsed = when_module.parse_schedule(when, zone, now, end)
        except when_module.WhenError as exc:
            raise UserError(str(exc)) from exc
        if end is not None and isinstance(parsed, when_module.Once):
            raise UserError("An end date is for a repeating announcement; this one happens once.")
        if isinstance(parsed, when_module.Recurrence) and not parsed.next(now, 1):
            raise UserError("That repeat has no occurrence before its end date.")
        return parsed

    def _check_channel(self, channel: discord.abc.GuildChannel, titled: bool) -> None:
        me = channel.guild.me
        perms = channel.permissions_for(me)
        missing = [
            name
            for name, ok in (
                ("View Channel", perms.view_channel),
                ("Send Messages", perms.send_messages),
                ("Embed Links", perms.embed_links or not titled),
            )
            if not ok
        ]
        if missing:
            raise UserError(f"I cannot post in {channel.mention}: I need {' and '.join(missing)} there.")

    @staticmethod
    def _check_invoker(
        user: discord.abc.User, channel: discord.abc.GuildChannel, role: discord.Role | None
    ) -> None:
        """The bot posts for the announcer, and lends them nothing Discord does not give them: they must see and
        send in the channel, and the role must be mentionable or they hold Mention @everyone (which lets a member
        mention any role)."""
        if not isinstance(user, discord.Member):
            raise UserError("Announcements are scheduled from the server.")
        perms = channel.permissions_for(user)
        if not (perms.view_channel and perms.send_messages):
            raise UserError(
                f"You cannot post in {channel.mention} yourself (Discord gives you no View Channel and Send "
                "Messages there), so I will not post there for you."
            )
        if role is not None and not role.mentionable and not perms.mention_everyone:
            raise UserError(
                f"{role.mention} is not mentionable and you lack Mention @everyone in {channel.mention}, so you "
                "could not mention it yourself: pick another role, or ask an admin."
            )

    # -- autocomplete ----------------------------------------------------------------------------------------
    async def when_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        namespace = interaction.namespace
        try:
            zone = self._zone(getattr(namespace, "zone", None))
        except UserError:
            zone = self.bot.config.community.timezone
        announcement_id = getattr(namespace, "announcement", None)
        if not getattr(namespace, "zone", None) and isinstance(announcement_id, int):
            # /announce edit without a zone reads the time in the announcement's zone, as the edit saves it.
            async with self.bot.sessions() as session:
                row = await session.get(Announcement, announcement_id)
            if row is not None and row.guild_id == self.bot.guild_id and self._may_announce(interaction):
                zone = row.zone
        if not current.strip():
            return [
                app_commands.Choice(name=f'e.g. "every Thursday 17:00" ({when_module.city(zone)} time)', value="")
            ]
        now = self.bot.clock.now()
        try:
            shown = when_module.describe_schedule(when_module.parse_schedule(current, zone, now), now)
        except when_module.WhenError as exc:
            shown = f"✗ {exc}"
        return [app_commands.Choice(name=shown[:100], value=current[:100])]

    async def zone_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        now = self.bot.clock.now()
        return [
            app_commands.Choice(name=timezones.label(z, now)[:100], value=z)
            for z in timezones.suggest(current, now)
        ]

    async def announcement_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        if not self._may_announce(interaction):
            return []
        async with self.bot.sessions() as session:
            rows = await service.announcements(session, self.bot.guild_id)
        choices = []
        for row in rows:
            label = row.title or " ".join(row.body.split())
            paused = " (paused)" if row.state == service.PAUSED else ""
            name = f"#{row.id} {label[:50]} · {service.describe_row(row)}{paused}"
            if current.lower() in name.lower():
                choices.append(app_commands.Choice(name=name[:100], value=row.id))
        return choices[:25]

    # -- /announce schedule ----------------------------------------------------------------------------------
    @app_commands.command(name="schedule", description="Schedule an announcement, once or repeating (maintainers)")
    @app_commands.describe(
        channel="Where it is posted",
        when='e.g. "2026-12-03 18:30", "every Thursday 17:00", "first Monday of the month 18:00"',
        zone="The time zone the time is in (default: the community's)",
        until="For a repeating one: the last day, e.g. 2027-06-30",
        role="A role to mention with each post (pinged)",
        title="An optional title (the post becomes an embed)",
        event_location="Also make a native Discord event for each occurrence, at this place (e.g. a link)",
        event_minutes="How long that event lasts, in minutes (default 60)",
    )
    @app_commands.autocomplete(when=when_autocomplete, zone=zone_autocomplete)
    @require(Capability.SCHEDULE_ANNOUNCEMENTS)
    async def schedule(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel,
        when: app_commands.Range[str, 1, 100],
        zone: str | None = None,
        until: app_commands.Range[str, 1, 40] | None = None,
        role: discord.Role | None = None,
        title: app_commands.Range[str, 1, 256] | None = None,
        event_location: app_commands.Range[str, 1, 100] | None = None,
        event_minutes: app_commands.Range[int, 15, 1440] = 60,
    ) -> None:
        tz = self._zone(zone)
        parsed = self._parse(when, tz, until)
        self._check_channel(channel, bool(title))
        if role is not None and role.is_default():
            raise UserError("Mentioning @everyone is not offered: pick a role.")
        self._check_invoker(interaction.user, channel, role)
        spec_base = {
            "channel_id": channel.id,
            "title": title,
            "role_id": role.id if role else None,
            "event_location": event_location,
            "event_minutes": event_minutes,
        }

        async def submitted(modal_interaction: discord.Interaction, body: str) -> None:
            if not body.strip():
                raise UserError("The message is empty.")
            await self._preview(modal_interaction, body, parsed, spec_base, role)

        await interaction.response.send_modal(MessageModal(submitted))

    async def _preview(
        self,
        interaction: discord.Interaction,
        body: str,
        parsed: when_module.Once | when_module.Recurrence,
        spec_base: dict[str, Any],
        role: discord.Role | None,
    ) -> None:
        now = self.bot.clock.now()
        upcoming = occurrences_text(parsed, now)
        if not upcoming or upcoming[0] <= now:
            raise UserError("That time has passed meanwhile: schedule it again.")
        lines = [
            f"**Preview** of the announcement in <#{spec_base['channel_id']}>:",
            f"When: {when_module.describe_schedule(parsed, now)}",
            "Next: " + ", ".join(f"{discord_ts(at, 'F')}" for at in upcoming),
        ]
        if role is not None:
            lines.append(f"Mentions {role.mention} with each post (they are pinged).")
            me = interaction.guild.me if interaction.guild else None
            if not role.mentionable and me is not None and not me.guild_permissions.mention_everyone:
                lines.append(
                    "⚠ That role is not mentionable and I lack Mention Everyone: Discord shows it without a ping."
                )
        else:
            lines.append("Mentions nobody (mentions typed in the text do not ping).")
        if spec_base["event_location"]:
            lines.append(
                f"Also a native Discord event for each next occurrence ({spec_base['event_minutes']} minutes, at "
                f"{discord.utils.escape_markdown(spec_base['event_location'])})."
            )
        content, embed = render(spec_base["title"], body, spec_base["role_id"])
        lines.append("─" * 10)
        if content:
            lines.append(content)
        text = "\n".join(lines)
        if len(text) > 2000:
            text = text[:1997] + "…"

        async def confirm(click: discord.Interaction) -> None:
            spec = service.AnnouncementSpec(
                guild_id=self.bot.guild_id, author_id=click.user.id, body=body, **spec_base
            )
            try:
                async with self.bot.sessions.begin() as session:
                    row = await service.create_announcement(
                        session,
                        self.bot.reminders,
                        spec,
                        parsed,
                        self.bot.clock.now(),
                        self.bot.config.announcements.max_active,
                    )
            except service.RuleError as exc:
                raise UserError(str(exc)) from exc
            assert row.next_at is not None
            content = (
                f"Scheduled announcement #{row.id}: {service.describe_row(row)}; next "
                f"{discord_ts(row.next_at, 'F')} ({discord_ts(row.next_at, 'R')})."
            )
            if row.event_location:
                await click.response.defer()  # making the event is a second Discord call
                problem = await self.sync_event(row.id)
                content += f"\n⚠ {problem}" if problem else "\nThe native event for it is made."
                await click.edit_original_response(
                    content=content, embed=None, view=None, allowed_mentions=NO_MENTIONS
                )
                return
            await click.response.edit_message(
                content=content,
                embed=None,
                view=None,
                allowed_mentions=NO_MENTIONS,
            )

        await interaction.response.send_message(
            text,
            embed=embed,
            view=ConfirmView(interaction.user.id, confirm),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    # -- /announce list --------------------------------------------------------------------------------------
    @app_commands.command(name="list", description="The scheduled announcements (maintainers)")
    @app_commands.describe(page="Which page, when the list is long")
    @require(Capability.SCHEDULE_ANNOUNCEMENTS)
    async def list_(self, interaction: discord.Interaction, page: app_commands.Range[int, 1, 100] = 1) -> None:
        async with self.bot.sessions() as session:
            listed = await service.listed_announcements(session, self.bot.guild_id, self.bot.clock.now())
        if not listed:
            await interaction.response.send_message("No announcements are scheduled.", ephemeral=True)
            return
        blocks = [self._list_block(row, runs) for row, runs in listed]
        pages = paginate(blocks, LIST_PAGE)
        if page > len(pages):
            raise UserError(f"There are {len(pages)} page(s) of announcements.")
        text = pages[page - 1]
        if len(pages) > 1:
            text += f"\n*Page {page} of {len(pages)}: see the others with `/announce list page:`.*"
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @staticmethod
    def _list_block(row: Announcement, runs: list[Any]) -> str:
        label = discord.utils.escape_markdown(" ".join((row.title or row.body).split()))[:60]
        if row.state == service.ACTIVE and row.next_at is not None:
            nxt = f"next {discord_ts(row.next_at, 'F')}"
        else:
            nxt = {service.PAUSED: "paused", service.DONE: "ended"}.get(row.state, row.state)
        role = f", mentions <@&{row.role_id}>" if row.role_id else ""
        lines = [f"**#{row.id}** {label} in <#{row.channel_id}>{role}: {service.describe_row(row)}; {nxt}"]
        for run in runs[:LIST_RUNS]:
            what = "skipped" if run.state == service.SKIPPED else "not posted"
            note = discord.utils.escape_markdown(run.note)[:120]
            lines.append(f"  · {what} {discord_ts(run.due_at, 'F')}: {note}")
        if len(runs) > LIST_RUNS:
            lines.append(f"  · and {len(runs) - LIST_RUNS} more skipped or not posted in the last two weeks")
        return "\n".join(lines)

    # -- edit, pause, resume, cancel -------------------------------------------------------------------------
    async def _row(self, session: Any, announcement_id: int, *, lock: bool = False) -> Announcement:
        try:
            return await service.get_announcement(session, self.bot.guild_id, announcement_id, lock=lock)
        except service.RuleError as exc:
            raise UserError(str(exc)) from exc

    @app_commands.command(name="edit", description="Change an announcement from its next post on (maintainers)")
    @app_commands.describe(
        announcement="The announcement",
        text="New text (or leave empty and set edit_text to edit it in a form)",
        edit_text="Open a form with the current text",
        when="A new time or repeat",
        zone="The time zone of the new time",
        until="A new last day for a repeating one",
        channel="A new channel",
        role="A new role to mention",
        no_role="Stop mentioning a role",
        title="A new title",
    )
    @app_commands.autocomplete(
        announcement=announcement_autocomplete, when=when_autocomplete, zone=zone_autocomplete
    )
    @require(Capability.SCHEDULE_ANNOUNCEMENTS)
    async def edit(
        self,
        interaction: discord.Interaction,
        announcement: int,
        text: app_commands.Range[str, 1, BODY_MAX] | None = None,
        edit_text: bool = False,
        when: app_commands.Range[str, 1, 100] | None = None,
        zone: str | None = None,
        until: app_commands.Range[str, 1, 40] | None = None,
        channel: discord.TextChannel | None = None,
        role: discord.Role | None = None,
        no_role: bool = False,
        title: app_commands.Range[str, 1, 256] | None = None,
    ) -> None:
        async with self.bot.sessions() as session:
            current = await self._row(session, announcement)
        fields: dict[str, Any] = {}
        parsed = None
        if when is not None or until is not None or zone is not None:
            if when is None:
                raise UserError("Give the time again (when:) together with a new zone or end date.")
            parsed = self._parse(when, self._zone(zone) if zone else current.zone, until)
        if channel is not None:
            self._check_channel(channel, bool(title or current.title))
            fields["channel_id"] = channel.id
        if role is not None and no_role:
            raise UserError("Choose a role or no_role, not both.")
        if role is not None:
            if role.is_default():
                raise UserError("Mentioning @everyone is not offered: pick a role.")
            fields["role_id"] = role.id
        if no_role:
            fields["role_id"] = None
        if title is not None:
            fields["title"] = title
        if text is not None:
            if not text.strip():
                raise UserError("The message is empty.")
            fields["body"] = text
        # The announcer's own Discord permissions, for the channel and role it will post with after the edit.
        target = channel or (interaction.guild.get_channel(current.channel_id) if interaction.guild else None)
        if isinstance(target, discord.abc.GuildChannel):
            new_role = role
            if new_role is None and not no_role and current.role_id is not None and interaction.guild is not None:
                new_role = interaction.guild.get_role(current.role_id)
            self._check_invoker(interaction.user, target, new_role)

        async def apply(target: discord.Interaction, body: str | None) -> None:
            if body is not None:
                if not body.strip():
                    raise UserError("The message is empty.")
                fields["body"] = body
            if not fields and parsed is None:
                raise UserError("Nothing to change: give at least one option.")
            async with self.bot.sessions.begin() as session:
                row = await self._row(session, announcement, lock=True)
                try:
                    await service.edit_announcement(
                        session, self.bot.reminders, row, self.bot.clock.now(), parsed=parsed, **fields
                    )
                except service.RuleError as exc:
                    raise UserError(str(exc)) from exc
                nxt = (
                    f"next {discord_ts(row.next_at, 'F')}"
                    if row.next_at and row.state == service.ACTIVE
                    else row.state
                )
                summary = (
                    f"Announcement #{row.id} changed from its next post on: {service.describe_row(row)}; {nxt}."
                )
                has_event = row.event_location is not None
            await target.response.send_message(summary, ephemeral=True, allowed_mentions=NO_MENTIONS)
            if has_event:  # after the commit: the event follows the new time and name
                problem = await self.sync_event(announcement, refresh=True)
                if problem:
                    await target.followup.send(f"⚠ {problem}", ephemeral=True, allowed_mentions=NO_MENTIONS)

        if edit_text:
            await interaction.response.send_modal(MessageModal(apply, default=current.body))
        else:
            await apply(interaction, None)

    async def _transition(self, interaction: discord.Interaction, announcement: int, action: str) -> None:
        now = self.bot.clock.now()
        async with self.bot.sessions.begin() as session:
            row = await self._row(session, announcement, lock=True)
            try:
                await getattr(service, f"{action}_announcement")(session, self.bot.reminders, row, now)
            except service.RuleError as exc:
                raise UserError(str(exc)) from exc
            words = {
                "pause": "paused: nothing is posted until you resume it",
                "resume": f"resumed: next {discord_ts(row.next_at, 'F')}" if row.next_at else "resumed",
                "cancel": "cancelled: nothing more is posted",
            }[action]
            text = f"Announcement #{row.id} {words}."
            has_event = row.event_location is not None
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        if has_event:
            await self.sync_event(announcement)

    @app_commands.command(name="pause", description="Pause an announcement (maintainers)")
    @app_commands.describe(announcement="The announcement")
    @app_commands.autocomplete(announcement=announcement_autocomplete)
    @require(Capability.SCHEDULE_ANNOUNCEMENTS)
    async def pause(self, interaction: discord.Interaction, announcement: int) -> None:
        await self._transition(interaction, announcement, "pause")

    @app_commands.command(name="resume", description="Resume a paused announcement (maintainers)")
    @app_commands.describe(announcement="The announcement")
    @app_commands.autocomplete(announcement=announcement_autocomplete)
    @require(Capability.SCHEDULE_ANNOUNCEMENTS)
    async def resume(self, interaction: discord.Interaction, announcement: int) -> None:
        await self._transition(interaction, announcement, "resume")

    @app_commands.command(name="cancel", description="Cancel an announcement for good (maintainers)")
    @app_commands.describe(announcement="The announcement")
    @app_commands.autocomplete(announcement=announcement_autocomplete)
    @require(Capability.SCHEDULE_ANNOUNCEMENTS)
    async def cancel(self, interaction: discord.Interaction, announcement: int) -> None:
        await self._transition(interaction, announcement, "cancel")
