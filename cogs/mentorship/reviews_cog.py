"""The /review commands: a request goes into the queue (announced in [channels] reviews), reviewers with the
``review`` privilege (reputation, ``[recognition] privileges``) or maintainers see the open requests matching
their expertise and claim one, which opens a private thread for requester and reviewer with the review standards;
the reviewer delivers with ``/review deliver`` in it and the requester rates the review (1-5), which credits the
reviewer's ``review_done``. An unclaimed request is offered again in the reviews channel after [mentorship]
review_reoffer_hours (a durable reminder, up to ``MAX_REOFFERS`` times). A claim not delivered within
``RELEASE_AFTER`` goes back to the queue by itself (a durable reminder), and a reviewer can ``/review release`` it;
a claim whose thread fails deletes the thread, and one whose requester has left the server cancels the request.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import ledger
from bot.checks import Capability, member_has
from bot.errors import UserError
from bot.members import get_member
from bot.names import shown
from bot.reminders import ReminderKind
from cogs.mentorship import reviews
from cogs.mentorship.service import MentorError
from cogs.mentorship.views import ClaimButton, RateButton, buttons
from models import Reminder

if TYPE_CHECKING:
    from bot.core import AtlasBot

log = logging.getLogger(__name__)

REOFFER = "mentorship.review_reoffer"
MAX_REOFFERS = 7
RELEASE = "mentorship.review_release"
RELEASE_AFTER = timedelta(days=5)
# Discord's codes for a member or user that is gone (the requester left the server).
UNKNOWN_MEMBER, UNKNOWN_USER = 10007, 10013
NONE = discord.AllowedMentions.none()


def _summary(r: reviews.RequestView) -> str:
    return f"**#{r.id}** ({shown(r.area)}) <{r.link}>\n> {shown(r.wanted[:300])}"


@app_commands.guild_only()
class ReviewCog(commands.GroupCog, group_name="review", group_description="The code review exchange"):
    def __init__(self, bot: AtlasBot) -> None:
        self.bot = bot
        self.config = bot.config.mentorship
        super().__init__()

    async def cog_load(self) -> None:
        self.bot.reminders.register(ReminderKind(REOFFER, self._reoffer, grace=timedelta(days=2)))
        self.bot.reminders.register(ReminderKind(RELEASE, self._auto_release, grace=timedelta(days=30)))

    async def cog_unload(self) -> None:
        self.bot.reminders.unregister(REOFFER)
        self.bot.reminders.unregister(RELEASE)

    def _channel(self) -> discord.TextChannel:
        guild = self.bot.home_guild
        channel_id = self.bot.channel_ids.id("reviews")
        channel = guild.get_channel(channel_id) if guild is not None and channel_id else None
        if not isinstance(channel, discord.TextChannel):
            raise UserError("The review exchange has no channel yet: a maintainer sets [channels] reviews.")
        return channel

    async def _member_id(self, user: discord.abc.User) -> int:
        async with self.bot.sessions() as session:
            row = await get_member(session, self.bot.guild_id, user.id)
        if row is None:
            raise UserError("I do not know you yet; try again in a moment.")
        return row.id

    async def _may_review(self, user: discord.abc.User | discord.Member, member_id: int) -> bool:
        if member_has(user, Capability.MANAGE_COMMUNITY, self.bot.community):
            return True
        async with self.bot.sessions() as session:
            return await ledger.has_privilege(
                session, member_id, "review", policy=ledger.policy_for(self.bot.config)
            )

    @app_commands.command(name="request", description="Ask for a code review")
    @app_commands.describe(
        link="A link to the code (pull request, gist, repository)",
        area="The language or area, e.g. python, sql, kubernetes",
        wanted="What feedback you want",
    )
    async def request(
        self,
        interaction: discord.Interaction,
        link: app_commands.Range[str, 1, 500],
        area: app_commands.Range[str, 1, 40],
        wanted: app_commands.Range[str, 1, 1000],
    ) -> None:
        channel = self._channel()
        member_id = await self._member_id(interaction.user)
        now = self.bot.clock.now()
        try:
            async with self.bot.sessions.begin() as session:
                request_id = await reviews.create(session, self.bot.guild_id, member_id, link, area, wanted, now)
                await self.bot.reminders.schedule(
                    session,
                    kind=REOFFER,
                    guild_id=self.bot.guild_id,
                    target_id=channel.id,
                    due_at=now + timedelta(hours=self.config.review_reoffer_hours),
                    payload={"request_id": request_id, "n": 1},
                    dedupe_key=f"review:{request_id}:reoffer:1",
                )
        except MentorError as exc:
            raise UserError(exc.message) from None
        await interaction.response.send_message(
            f"Your review request #{request_id} is in the queue. A reviewer claims it and you both get a private "
            "thread; you rate the review when it is delivered.",
            ephemeral=True,
        )
        async with self.bot.sessions() as session:
            found = await reviews.view(session, request_id)
        assert found is not None
        try:
            await channel.send(
                f"🔎 New review request {_summary(found)}\nReviewers: `/review queue`, or `/review claim "
                f"request:{found.id}`.",
                allowed_mentions=NONE,
            )
        except discord.HTTPException:
            log.warning("could not announce review request %s; it is in the queue", request_id, exc_info=True)

    @app_commands.command(
        name="queue", description="Open review requests that match your expertise (needs the review privilege)"
    )
    async def queue(self, interaction: discord.Interaction) -> None:
        member_id = await self._member_id(interaction.user)
        if not await self._may_review(interaction.user, member_id):
            raise UserError(
                "Reviewing unlocks with the `review` privilege (reputation from answers, reviews and mentoring); "
                "`/rank` shows yours."
            )
        async with self.bot.sessions() as session:
            found = await reviews.queue_for(session, self.bot.guild_id, member_id, limit=5)
        standards = f"**Review standards:** {shown(self.config.review_standards)}"
        if not found:
            await interaction.response.send_message(
                f"No open request matches your expertise right now.\n{standards}", ephemeral=True
            )
            return
        text = "\n".join(_summary(r) for r in found)
        await interaction.response.send_message(
            f"{standards}\n\n{text}"[:2000],
            view=buttons(*(ClaimButton(r.id) for r in found)),
            ephemeral=True,
            allowed_mentions=NONE,
        )

    @app_commands.command(
        name="claim", description="Claim a review request by its number (needs the review privilege)"
    )
    @app_commands.describe(request="The request's number, as announced in the reviews channel")
    async def claim_command(
        self, interaction: discord.Interaction, request: app_commands.Range[int, 1, 2**53]
    ) -> None:
        await self.claim(interaction, request)

    async def claim(self, interaction: discord.Interaction, request_id: int) -> None:
        member_id = await self._member_id(interaction.user)
        if not await self._may_review(interaction.user, member_id):
            raise UserError("Reviewing unlocks with the `review` privilege.")
        channel = self._channel()
        now = self.bot.clock.now()
        try:
            async with self.bot.sessions.begin() as session:
                found = await reviews.claim(session, request_id, member_id, now)
                # Not delivered within RELEASE_AFTER: back in the queue by itself (this claim only).
                await self.bot.reminders.schedule(
                    session,
                    kind=RELEASE,
                    guild_id=self.bot.guild_id,
                    target_id=channel.id,
                    due_at=now + RELEASE_AFTER,
                    payload={"request_id": request_id, "reviewer_id": member_id},
                    dedupe_key=f"review:{request_id}:release:{member_id}:{int(now.timestamp())}",
                )
        except MentorError as exc:
            raise UserError(exc.message) from None
        await interaction.response.defer(ephemeral=True, thinking=True)
        thread = None
        try:
            thread = await channel.create_thread(
                name=f"Review #{request_id}",
                type=discord.ChannelType.private_thread,
                invitable=False,
                auto_archive_duration=10080,
                reason=f"code review {request_id}",
            )
            async with self.bot.sessions.begin() as session:
                await reviews.record_thread(session, request_id, thread.id)
            for discord_id in (found.requester_discord_id, interaction.user.id):
                await thread.add_user(discord.Object(discord_id))
        except discord.HTTPException as exc:
            if thread is not None:  # no orphan thread left behind
                with contextlib.suppress(discord.HTTPException):
                    await thread.delete()
            if exc.code in (UNKNOWN_MEMBER, UNKNOWN_USER):
                # The requester left the server: nobody can review it for them.
                async with self.bot.sessions.begin() as session:
                    await reviews.cancel(session, request_id)
                raise UserError(
                    f"The member who asked for review #{request_id} has left the server; the request is cancelled."
                ) from None
            # Back in the queue for anyone (this reviewer included) rather than claimed with no thread.
            async with self.bot.sessions.begin() as session:
                await reviews.release(session, request_id)
            raise UserError(
                f"Discord refused the review's thread ({exc.status}, code {exc.code}); the request is back in the "
                "queue. A maintainer can check the bot's permissions in the reviews channel (`atlas-bot check`)."
            ) from None
        await thread.send(
            f"<@{interaction.user.id}> is reviewing <@{found.requester_discord_id}>'s request {_summary(found)}\n"
            f"**Review standards:** {shown(self.config.review_standards)}\n"
            "Post your feedback here, then `/review deliver` in this thread; the requester rates it.",
            allowed_mentions=discord.AllowedMentions(
                users=[discord.Object(found.requester_discord_id), discord.Object(interaction.user.id)]
            ),
        )
        await interaction.followup.send(f"Claimed #{request_id}: <#{thread.id}>.", ephemeral=True)

    @app_commands.command(name="deliver", description="Mark your review as delivered (in the review's thread)")
    @app_commands.describe(summary="A short summary of your feedback (optional)")
    async def deliver(
        self, interaction: discord.Interaction, summary: app_commands.Range[str, 0, 1000] = ""
    ) -> None:
        member_id = await self._member_id(interaction.user)
        channel = interaction.channel
        async with self.bot.sessions() as session:
            found = await reviews.by_thread(session, channel.id) if isinstance(channel, discord.Thread) else None
        if found is None:
            raise UserError("Run `/review deliver` in the review's thread.")
        try:
            async with self.bot.sessions.begin() as session:
                await reviews.deliver(session, found.id, member_id, self.bot.clock.now())
        except MentorError as exc:
            raise UserError(exc.message) from None
        body = f"\n> {shown(summary)}" if summary.strip() else ""
        await interaction.response.send_message(
            f"✅ Review #{found.id} delivered by <@{interaction.user.id}>.{body}\n"
            f"<@{found.requester_discord_id}>, how useful was it? Rate it (1-5):",
            view=buttons(*(RateButton(found.id, n) for n in range(1, 6))),
            allowed_mentions=discord.AllowedMentions(users=[discord.Object(found.requester_discord_id)]),
        )

    async def rate(self, interaction: discord.Interaction, request_id: int, rating: int) -> None:
        member_id = await self._member_id(interaction.user)
        try:
            async with self.bot.sessions.begin() as session:
                rated = await reviews.rate(
                    session,
                    ledger.policy_for(self.bot.config),
                    request_id,
                    member_id,
                    rating,
                    self.bot.clock.now(),
                )
        except MentorError as exc:
            raise UserError(exc.message) from None
        await interaction.response.send_message(
            f"Thanks! You rated review #{request_id} {rating}/5; "
            f"<@{rated.request.reviewer_discord_id}> is credited for it.",
            ephemeral=True,
        )

    @app_commands.command(name="release", description="Give a review you claimed back to the queue")
    @app_commands.describe(request="The request's number (not needed in the review's thread)")
    async def release_command(
        self, interaction: discord.Interaction, request: app_commands.Range[int, 1, 2**53] | None = None
    ) -> None:
        member_id = await self._member_id(interaction.user)
        channel = interaction.channel
        async with self.bot.sessions() as session:
            if request is not None:
                found = await reviews.view(session, request)
            elif isinstance(channel, discord.Thread):
                found = await reviews.by_thread(session, channel.id)
            else:
                found = None
        if found is None:
            raise UserError("Run `/review release` in the review's thread, or give the request's number.")
        if found.state != reviews.CLAIMED or found.reviewer_id != member_id:
            raise UserError(f"Only the reviewer who claimed review #{found.id} can release it, before delivering.")
        async with self.bot.sessions.begin() as session:
            thread_id = await reviews.release(session, found.id, reviewer_id=member_id)
        if thread_id is None:
            raise UserError(f"Review #{found.id} is no longer claimed by you; nothing changed.")
        await interaction.response.send_message(
            f"Released: review #{found.id} is back in the queue for another reviewer.", ephemeral=True
        )
        await self._released(found.id, thread_id, f"<@{interaction.user.id}> released this review")

    async def _auto_release(self, reminder: Reminder) -> None:
        request_id, reviewer_id = int(reminder.payload["request_id"]), int(reminder.payload["reviewer_id"])
        async with self.bot.sessions.begin() as session:
            thread_id = await reviews.release(
                session,
                request_id,
                reviewer_id=reviewer_id,
                claimed_before=reminder.due_at - RELEASE_AFTER + timedelta(seconds=1),
            )
        if thread_id is not None:
            days = RELEASE_AFTER.days
            await self._released(request_id, thread_id, f"Not delivered within {days} days of the claim")

    async def _released(self, request_id: int, thread_id: int, why: str) -> None:
        """Tell the released claim's thread (then archived and locked) and the reviews channel."""
        if thread_id:
            with contextlib.suppress(discord.HTTPException):
                thread = await self.bot.fetch_channel(thread_id)
                if isinstance(thread, discord.Thread):
                    if thread.archived:
                        await thread.edit(archived=False)
                    await thread.send(
                        f"{why}: it is back in the queue and this thread is closed.", allowed_mentions=NONE
                    )
                    await thread.edit(archived=True, locked=True)
        async with self.bot.sessions() as session:
            found = await reviews.view(session, request_id)
        guild = self.bot.home_guild
        channel_id = self.bot.channel_ids.id("reviews")
        channel = guild.get_channel(channel_id) if guild is not None and channel_id else None
        if found is not None and isinstance(channel, discord.TextChannel):
            with contextlib.suppress(discord.HTTPException):
                await channel.send(
                    f"🔁 Back in the queue: {_summary(found)}\nReviewers: `/review claim request:{found.id}`.",
                    allowed_mentions=NONE,
                )

    async def _reoffer(self, reminder: Reminder) -> None:
        request_id, n = int(reminder.payload["request_id"]), int(reminder.payload["n"])
        async with self.bot.sessions.begin() as session:
            found = await reviews.still_open(session, request_id, self.bot.clock.now())
        if found is None:
            return  # claimed, done or cancelled meanwhile
        channel = await self.bot.fetch_channel(reminder.target_id)
        if not isinstance(channel, discord.TextChannel):
            return
        await channel.send(
            f"⏳ Still waiting for a reviewer: {_summary(found)}\nReviewers: `/review queue` to claim it.",
            allowed_mentions=NONE,
        )
        if n < MAX_REOFFERS:
            async with self.bot.sessions.begin() as session:
                await self.bot.reminders.schedule(
                    session,
                    kind=REOFFER,
                    guild_id=reminder.guild_id,
                    target_id=reminder.target_id,
                    due_at=reminder.due_at + timedelta(hours=self.config.review_reoffer_hours),
                    payload={"request_id": request_id, "n": n + 1},
                    dedupe_key=f"review:{request_id}:reoffer:{n + 1}",
                )
