"""The /announce side that runs without a member: posting a due occurrence (never twice: a retry looks for an
earlier attempt's post first) and keeping the optional native scheduled event in line with the announcement."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import discord

from bot.reminders import PermanentSendError, TransientSendError, classify_error
from cogs.announce import service
from cogs.announce.views import NO_MENTIONS
from models import Reminder
from models.announcements import Announcement

if TYPE_CHECKING:
    from bot.core import AtlasBot

log = logging.getLogger(__name__)

# Messages read after an occurrence's time when looking for a post made by an interrupted earlier attempt.
HISTORY_LIMIT = 100


def render(row_title: str | None, body: str, role_id: int | None) -> tuple[str | None, discord.Embed | None]:
    """The post: the role mention (if any) then the text, or the text in an embed under its title."""
    mention = f"<@&{role_id}>" if role_id else None
    if row_title:
        embed = discord.Embed(title=row_title, description=body, colour=discord.Colour.blurple())
        return mention, embed
    return (f"{mention}\n{body}" if mention else body), None


def post_mentions(role_id: int | None) -> discord.AllowedMentions:
    if role_id is None:
        return NO_MENTIONS
    return discord.AllowedMentions(
        everyone=False, users=False, roles=[discord.Object(role_id)], replied_user=False
    )


class AnnouncementHandlers:
    """Mixed into the cog: ``bot`` and ``_events`` (one event sync at a time) are the cog's."""

    bot: AtlasBot
    _events: asyncio.Lock

    @property
    def _grace(self) -> timedelta:
        return timedelta(minutes=self.bot.config.announcements.grace_minutes)

    # -- posting ---------------------------------------------------------------------------------------------
    async def _post(self, reminder: Reminder) -> None:
        now = self.bot.clock.now()
        announcement_id = reminder.payload["id"]
        async with self.bot.sessions.begin() as session:
            step = await service.begin_occurrence(
                session, self.bot.reminders, service.POST, reminder.payload, now, self._grace
            )
            if step.action in ("send", "check"):
                row = step.row
                assert isinstance(row, Announcement) and step.due is not None
                title, body, role_id, channel_id, due = row.title, row.body, row.role_id, row.channel_id, step.due
        if step.action not in ("send", "check"):
            if step.action == "skip":
                # After the transaction: the event sync writes in its own session (SQLite's one writer).
                log.info("announcement %s: occurrence %s skipped (late)", announcement_id, step.due)
                await self._sync_after(announcement_id)
            return
        content, embed = render(title, body, role_id)
        outcome: tuple[str, int | None, str]
        try:
            channel = self.bot.get_channel(channel_id) or await self.bot.fetch_channel(channel_id)
            if not isinstance(channel, discord.abc.Messageable):
                raise PermanentSendError("the channel is not one I can post in")
            found = await self._find_post(channel, due, content, embed) if step.action == "check" else None
            if found is not None:
                log.info("announcement %s: occurrence %s was posted by an earlier attempt", announcement_id, due)
                outcome = (service.POSTED, found.id, "")
            elif step.late:
                outcome = (service.SKIPPED, None, f"the bot was down past the {service.span(self._grace)} grace")
            else:
                # The nonce makes Discord answer a retry of the same request (discord.py's own, after a lost
                # 5xx answer) with the message it already made, instead of a second one.
                message = await channel.send(
                    content,
                    embed=embed,
                    allowed_mentions=post_mentions(role_id),
                    nonce=f"a{announcement_id}.{int(due.timestamp())}"[:25],
                )
                outcome = (service.POSTED, message.id, "")
        except Exception as exc:
            error = classify_error(exc)
            if isinstance(error, TransientSendError):
                raise error from exc  # the dispatcher retries the same occurrence (its run stays "sending")
            note = str(error) if isinstance(error, PermanentSendError) else f"error: {exc!r}"
            log.warning("announcement %s: occurrence %s not posted: %s", announcement_id, due, note)
            outcome = (service.FAILED, None, note)
        async with self.bot.sessions.begin() as session:
            await service.finish_occurrence(
                session, self.bot.reminders, service.POST, announcement_id, due, self.bot.clock.now(), outcome
            )
        await self._sync_after(announcement_id)

    async def _find_post(
        self, channel: discord.abc.Messageable, due: datetime, content: str | None, embed: discord.Embed | None
    ) -> discord.Message | None:
        """The occurrence's post by an earlier attempt, if it is in the channel (the bot sees its own messages'
        content); None when it is not, or when the history cannot be read (then it is posted: a missed
        announcement is worse than a rare double)."""
        me = self.bot.user
        after = discord.Object(discord.utils.time_snowflake(due - timedelta(minutes=1)))
        try:
            async for message in channel.history(limit=HISTORY_LIMIT, after=after, oldest_first=True):
                if me is None or message.author.id != me.id or message.content != (content or ""):
                    continue
                if embed is None or (
                    message.embeds
                    and message.embeds[0].title == embed.title
                    and message.embeds[0].description == embed.description
                ):
                    return message
        except discord.Forbidden:
            log.warning("announcement: cannot read the history of %s to look for an earlier post", channel)
        return None

    # -- the optional native event ---------------------------------------------------------------------------
    async def _sync_after(self, announcement_id: int) -> None:
        problem = await self.sync_event(announcement_id)
        if problem:
            log.warning("announcement %s: %s", announcement_id, problem)

    async def sync_event(self, announcement_id: int, *, refresh: bool = False) -> str | None:
        """Bring the native event in line with the announcement: one (EXTERNAL) for its next occurrence while it
        is active; one for a coming occurrence that moved (an edit) is moved, and with ``refresh`` (after an
        edit) also renamed; one made for an occurrence that is no longer coming (paused, cancelled) is cancelled.
        Each change is recorded as soon as Discord made it; the problem in words, or None."""
        async with self._events:
            now = self.bot.clock.now()
            async with self.bot.sessions() as session:
                row = await session.get(Announcement, announcement_id)
                if row is None:
                    return None
                want = service.event_wanted(row, now)
                event_id, event_for = row.event_id, row.event_for
                name = (row.title or " ".join(row.body.split()))[:100]
                location, minutes = row.event_location, row.event_minutes
            guild = self.bot.get_guild(self.bot.guild_id)
            if guild is None:
                return "the server is not available"
            moved = event_for != want or refresh
            if event_id is not None and want is not None and event_for is not None and event_for > now and moved:
                # Edited: the same event moved and renamed (members who marked interest keep it).
                try:
                    event = await guild.fetch_scheduled_event(event_id)
                    if event.status is discord.EventStatus.scheduled:
                        await event.edit(
                            name=name or "Announcement",
                            start_time=want,
                            end_time=want + timedelta(minutes=minutes),
                            location=location,
                        )
                        await self._record_event(announcement_id, event_id, want)
                        return None
                except discord.NotFound:
                    pass  # deleted by hand: a new one is made below
                except discord.HTTPException as exc:
                    return f"The native event could not be changed: {exc.text or exc.status}."
            if event_id is not None and event_for != want:
                if event_for is not None and event_for > now:  # its occurrence is not coming any more
                    try:
                        event = await guild.fetch_scheduled_event(event_id)
                        if event.status is discord.EventStatus.scheduled:
                            await event.cancel()
                    except discord.NotFound:
                        pass
                    except discord.HTTPException as exc:
                        return f"The old native event could not be cancelled: {exc.text or exc.status}."
                # A past occurrence's event is left as it is: Discord starts and ends an external event itself.
                await self._record_event(announcement_id, None, None)
                event_id = None
            if want is None or event_id is not None or location is None:
                return None
            try:
                event = await guild.create_scheduled_event(
                    name=name or "Announcement",
                    start_time=want,
                    end_time=want + timedelta(minutes=minutes),
                    entity_type=discord.EntityType.external,
                    privacy_level=discord.PrivacyLevel.guild_only,
                    location=location,
                )
            except discord.HTTPException as exc:
                return f"The native event could not be made: {exc.text or exc.status}."
            await self._record_event(announcement_id, event.id, want)
            return None

    async def _record_event(self, announcement_id: int, event_id: int | None, event_for: datetime | None) -> None:
        async with self.bot.sessions.begin() as session:
            row = await session.get(Announcement, announcement_id)
            if row is not None:
                row.event_id, row.event_for = event_id, event_for
