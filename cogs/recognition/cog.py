"""Recognition on Discord: /badges, /badge, /leaderboard, /reputation, /ledger history, /spotlight, and the posts.

Discord glue only: the rules are in ``bot.ledger`` and ``service``; this turns their results into messages.
What the bot posts on its own (a badge announcement, the monthly spotlight) goes through a durable reminder
scheduled in the transaction that creates the award or the draft, so a Discord error or a restart delays the
post instead of losing it. Views hold only dynamic items, so their buttons work whatever discord.py forgets.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import ledger
from bot.checks import Capability, ensure, require
from bot.cooldowns import cooldown
from bot.earlier_sends import own_messages_since
from bot.errors import UserError, handle_interaction_error
from bot.members import ensure_member, get_member
from bot.names import name_of
from bot.pacing import Lane
from bot.reminders import PermanentSendError, ReminderKind
from bot.scheduler import Job, NotYet
from bot.timefmt import discord_ts
from cogs.recognition import service
from cogs.recognition.render import Row, alt_text, render_leaderboard
from models import Reminder

if TYPE_CHECKING:
    from bot.core import AtlasBot

log = logging.getLogger(__name__)

WINDOW_CHOICES = [
    app_commands.Choice(name="this week", value="week"),
    app_commands.Choice(name="this month", value="month"),
    app_commands.Choice(name="all time", value="all"),
]
CATEGORY_CHOICES = [app_commands.Choice(name=c, value=c) for c in ledger.CATEGORIES]
TIER_COLOURS = {"bronze": 0xCD7F32, "silver": 0xC0C0C0, "gold": 0xFFC83C}
JOB_NAMES = ("recognition.spotlight_draft", "recognition.quarterly_review")
BADGE_POST, SPOTLIGHT_POST = ledger.BADGE_POST, service.SPOTLIGHT_POST
# How late each post may still go out (e.g. after the bot was down): then it is dropped, and marked so.
BADGE_POST_GRACE = timedelta(days=2)
# Badge announcements are coalesced (bot.reminders): the awards due together make one digest post naming up to
# BADGE_POST_BATCH members (each mention at most ~24 characters: the post stays under 2,000), and after a post
# the next waits BADGE_DIGEST_WINDOW, so a busy hour is a few posts, not one per award.
BADGE_POST_BATCH = 50
BADGE_DIGEST_WINDOW = timedelta(minutes=15)
SPOTLIGHT_POST_GRACE = timedelta(days=3)
NONE = discord.AllowedMentions.none()
# How /ledger history names each anti-farming adjustment.
ADJUSTMENTS = {ledger.SELF: "own content", ledger.PAIR_CAP: "pair cap", ledger.DAILY_CAP: "daily cap"}


def _month_name(month: datetime, tz: tzinfo) -> str:
    # A month start is the 1st's midnight in the community's zone: name it there, not in UTC.
    return service.month_label(month, tz)


async def _member_row(bot: AtlasBot, session: Any, user: discord.abc.User) -> int:
    joined = getattr(user, "joined_at", None) or bot.clock.now()
    member = await ensure_member(session, bot.guild_id, user.id, display_name=user.display_name, joined_at=joined)
    return member.id


# -- leaderboard message ---------------------------------------------------------------------------------------
async def leaderboard_message(
    bot: AtlasBot, user: discord.abc.User, window: str, category: str, page: int
) -> tuple[str, discord.File, discord.ui.View]:
    """A board page as content, image and buttons. Read-only: a viewer without a member row has no rank."""
    cfg = bot.config.recognition
    tz = ledger.policy_for(bot.config).tz
    async with bot.sessions() as session:
        row = await get_member(session, bot.guild_id, user.id)
        viewer = row.id if row is not None else None
        try:
            board = await service.leaderboard(
                session,
                bot.guild_id,
                window=window,  # type: ignore[arg-type]
                category=category,
                at=bot.clock.now(),
                page=page,
                page_size=cfg.leaderboard_page_size,
                max_pages=cfg.leaderboard_max_pages,
                viewer_member_id=viewer,
                tz=tz,
            )
        except service.RecognitionError as exc:
            raise UserError(str(exc)) from None
        opted_out = viewer is not None and await service.is_opted_out(session, viewer)
    rows = [Row(r.rank, r.name, r.points) for r in board.rows]
    since = board.period_start.astimezone(tz)
    subtitle = f"Since {since:%d %B %Y} ({bot.config.community.timezone}) · page {board.page + 1} of {board.pages}"
    if window == "all":
        subtitle = f"Page {board.page + 1} of {board.pages}"
    png = await asyncio.to_thread(
        render_leaderboard,
        board.title,
        subtitle,
        rows,
        "Not listed? /leaderboard optout hides you; optin shows you.",
    )
    summary = alt_text(board.title, rows)
    lines = [f"**{board.title}** (page {board.page + 1}/{board.pages})"]
    lines += [f"{r.rank}. <@{r.discord_id}> · {r.points} points" for r in board.rows] or ["No points yet."]
    if opted_out:
        lines.append("You have opted out of leaderboards (`/leaderboard optin` to appear again).")
    elif board.viewer_rank is not None:
        lines.append(f"You are #{board.viewer_rank} with {board.viewer_points} points.")
    file = discord.File(io.BytesIO(png), filename="leaderboard.png", description=summary)
    return "\n".join(lines)[:2000], file, leaderboard_view(window, category, board.page, board.pages)


def leaderboard_view(window: str, category: str, page: int, pages: int) -> discord.ui.View:
    """Only dynamic items (the content says "page x/y"). When discord.py drops a view (its timeout, or an
    ephemeral message's 15 minutes) it unregisters every static item and, if the view had any, the view's
    dynamic item classes too, bot-wide; a view of dynamic items alone is never stored, so nothing is dropped and
    the buttons keep working, after a restart as well."""
    view = discord.ui.View(timeout=None)
    view.add_item(LeaderboardButton(window, category, max(0, page - 1), "◀ Previous", disabled=page <= 0))
    view.add_item(LeaderboardButton(window, category, page + 1, "Next ▶", disabled=page + 1 >= pages))
    return view


class LeaderboardButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"lb:(?P<w>week|month|all):(?P<c>[a-z]+):(?P<p>\d{1,4})"
):
    def __init__(
        self, window: str, category: str, page: int, label: str = "Go", *, disabled: bool = False
    ) -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"lb:{window}:{category}:{page}",
                disabled=disabled,
            )
        )
        self.window, self.category, self.page = window, category, page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> LeaderboardButton:
        return cls(match["w"], match["c"], int(match["p"]), item.label or "Go")

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            bot: AtlasBot = interaction.client  # type: ignore[assignment]
            bot.ledger_upgrade.ensure_ready()
            await interaction.response.defer()  # the board and its image take longer than Discord's 3 seconds
            content, file, view = await leaderboard_message(
                bot, interaction.user, self.window, self.category, self.page
            )
            await interaction.edit_original_response(content=content, attachments=[file], view=view)
        except Exception as exc:
            await handle_interaction_error(interaction, exc, "leaderboard button")


class SpotlightPostButton(discord.ui.DynamicItem[discord.ui.Button], template=r"spot:post:(?P<id>\d{1,18})"):
    def __init__(self, spotlight_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Post now", style=discord.ButtonStyle.success, custom_id=f"spot:post:{spotlight_id}"
            )
        )
        self.spotlight_id = spotlight_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> SpotlightPostButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            bot: AtlasBot = interaction.client  # type: ignore[assignment]
            ensure(interaction.user, Capability.MANAGE_COMMUNITY, bot.community)
            cog = bot.get_cog("RecognitionCog")
            if not isinstance(cog, RecognitionCog):
                raise UserError("Recognition is not running right now; try again shortly.")
            await interaction.response.defer(ephemeral=True, thinking=True)
            posted = await cog.post_spotlight_now(self.spotlight_id)
            await interaction.followup.send(posted, ephemeral=True)
        except Exception as exc:
            await handle_interaction_error(interaction, exc, "spotlight post button")


# -- the cog ---------------------------------------------------------------------------------------------------
class RecognitionCog(commands.Cog):
    leaderboard = app_commands.Group(name="leaderboard", description="Who contributed most", guild_only=True)
    badge = app_commands.Group(name="badge", description="Award or revoke badges by hand", guild_only=True)
    spotlight = app_commands.Group(name="spotlight", description="The monthly member spotlight", guild_only=True)
    ledger_group = app_commands.Group(name="ledger", description="The contribution ledger", guild_only=True)

    def __init__(self, bot: AtlasBot) -> None:
        self.bot = bot
        self.config = bot.config.recognition
        self.policy = ledger.policy_for(bot.config)  # fails loudly at load if the badge file is invalid
        # The community's zone: weeks, months, the spotlight and the quarterly review follow it.
        self.tz = self.policy.tz

    async def cog_load(self) -> None:
        await self._align_spotlights()
        self.bot.add_dynamic_items(LeaderboardButton, SpotlightPostButton)
        announcements = self.bot.channel_ids.id("announcements")
        self.bot.reminders.register(
            ReminderKind(
                BADGE_POST,
                grace=BADGE_POST_GRACE,
                batch_handler=self._post_badges,
                batch_size=BADGE_POST_BATCH,
                digest_window=BADGE_DIGEST_WINDOW,
                lane=Lane.channel(announcements) if announcements else None,
            )
        )
        self.bot.reminders.register(ReminderKind(SPOTLIGHT_POST, self._post_spotlight, grace=SPOTLIGHT_POST_GRACE))
        cfg = self.config
        for job in (
            Job(
                JOB_NAMES[0],
                {"day": 1, "hour": cfg.spotlight_draft_hour, "minute": 0},
                self.spotlight_draft_job,
                timezone=self.policy.timezone,
            ),
            Job(
                JOB_NAMES[1],
                {"month": "1,4,7,10", "day": 1, "hour": cfg.spotlight_post_hour, "minute": 10},
                self.quarterly_review_job,
                timezone=self.policy.timezone,
            ),
        ):
            self.bot.scheduler.add_job(job)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(LeaderboardButton, SpotlightPostButton)
        for kind in (BADGE_POST, SPOTLIGHT_POST):
            self.bot.reminders.unregister(kind)
        for name in JOB_NAMES:
            self.bot.scheduler.remove_job(name)

    async def _align_spotlights(self) -> None:
        """When ``[community] timezone`` changed, the spotlights are re-keyed on its month starts (each keeps its
        calendar month). The aggregates' rebuild (a database upgraded with an existing ledger, or the zone
        changed) is the bot's, in the background at start (``bot.ledger_upgrade``): the reads below check
        ``bot.ledger_upgrade.ensure_ready`` meanwhile, the jobs wait for it."""
        async with self.bot.sessions.begin() as session:
            moved = await service.align_spotlight_months(session, self.tz)
        if moved:
            log.warning("recognition: %d spotlight(s) re-keyed on the months of %s", moved, self.policy.timezone)

    # -- reminder handlers -------------------------------------------------------------------------------------
    async def _announcements(self) -> discord.abc.Messageable:
        channel_id = self.bot.channel_ids.id("announcements")
        if not channel_id:
            raise PermanentSendError("no announcements channel is configured ([channels] announcements)")
        guild = self.bot.live_guild()
        # A fetch error is classified by the reminders: unknown channel or no access fails, 5xx retries.
        channel = guild.get_channel_or_thread(channel_id) or await guild.fetch_channel(channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            raise PermanentSendError(f"the announcements channel {channel_id} cannot hold messages")
        return channel

    async def _post_badges(self, reminders: list[Reminder]) -> dict[int, Exception]:
        """``recognition.badge_post``, coalesced: the awards due together (scheduled by the ledger, one reminder
        each) are one digest in the announcements channel, a line per badge naming its members, pinging nobody;
        an opted-out member (checked now: they may have opted out after the award) is told by DM only, never in
        the channel. Returns the reminders that failed on their own: the others are recorded as sent."""
        award_of = {r.id: int(r.payload["award_id"]) for r in reminders}
        async with self.bot.sessions() as session:
            found = await service.announcements(session, self.policy, list(award_of.values()))
        failures: dict[int, Exception] = {}
        public: list[tuple[int, service.Announcement]] = []
        private: list[tuple[int, service.Announcement]] = []
        for reminder_id, award_id in award_of.items():
            a = found.get(award_id)
            if a is not None:  # else revoked before it was announced, or the member's data was erased
                (private if a.opted_out else public).append((reminder_id, a))
        if private:
            by_id = {r.id: r for r in reminders}
            told = await asyncio.gather(
                *(self._tell_badge(a, by_id[rid]) for rid, a in private), return_exceptions=True
            )
            for (reminder_id, _a), result in zip(private, told, strict=True):
                if isinstance(result, BaseException):
                    if not isinstance(result, Exception):
                        raise result
                    failures[reminder_id] = result  # closed DMs fail it for good; never posted instead
        if not public:
            return failures
        try:
            channel = await self._announcements()
        except Exception as exc:
            return failures | {reminder_id: exc for reminder_id, _a in public}
        retried = {r.id: r.created_at for r in reminders if r.attempts > 1}
        if retried and (earlier := await own_messages_since(self.bot.user, channel, min(retried.values()))):
            # An attempt before a crash may have posted some of these: they are announced already.
            public = [
                (rid, a)
                for rid, a in public
                if rid not in retried or not any(announced_in(m.content, a) for m in earlier)
            ]
            if not public:
                return failures
        chunks = badge_digest(public)
        for k, (text, ids) in enumerate(chunks):
            try:
                await channel.send(text, allowed_mentions=NONE)
            except Exception as exc:
                # What went out is recorded as sent; this post and the rest are retried, nobody twice.
                for _text, rest in chunks[k:]:
                    failures.update(dict.fromkeys(rest, exc))
                break
            await self.bot.reminders.sent(ids)  # out: a stop before the next post never names them again
        return failures

    async def _tell_badge(self, a: service.Announcement, reminder: Reminder) -> None:
        """An opted-out member's badge, by DM only. A retry (an attempt before a crash may have sent it) first
        looks for that DM among the bot's; the nonce covers a retry within Discord's few minutes."""
        member = await self.bot.live_member(a.discord_id)
        reason = f"\n↳ {a.reason}" if a.manual and a.reason else ""
        text = f"🏅 You earned {a.badge.emoji} **{a.badge.name}** ({a.badge.tier}): {a.badge.description}"
        text = f"{text}{reason}\n(Not announced publicly: you opted out with `/leaderboard optout`.)"[:2000]
        dm = await member.create_dm()
        if reminder.attempts > 1 and await own_messages_since(
            self.bot.user, dm, reminder.created_at, lambda m: m.content == text
        ):
            return
        await dm.send(text, allowed_mentions=NONE, nonce=f"b{reminder.id}"[:25])

    async def _post_spotlight(self, reminder: Reminder) -> None:
        """``recognition.spotlight_post``: the month's spotlight, as edited, without whoever opted out or left
        since the draft; then the draft becomes posted, with its message."""
        async with self.bot.sessions() as session:
            draft = await service.spotlight_by_id(session, reminder.guild_id, reminder.target_id)
        if draft is None or draft.status == "posted":
            return
        if not draft.entries:
            # A quiet month (or everyone in it opted out or left): nothing public, a word to the maintainers. The
            # draft stays a draft: someone added with /spotlight add can still be posted with "Post now".
            await self._tell_maintainers(
                f"Nothing was posted for the {_month_name(draft.month_start, self.tz)} spotlight: nobody to "
                "feature. `/spotlight add` and Post now in `/spotlight preview` can still post one."
            )
            return
        channel = await self._announcements()
        message = await channel.send(embed=self._spotlight_embed(draft), allowed_mentions=NONE)
        async with self.bot.sessions.begin() as session:
            await service.mark_spotlight_posted(
                session, draft.id, message.channel.id, message.id, self.bot.clock.now()
            )

    # -- /badges -----------------------------------------------------------------------------------------------
    @app_commands.command(name="badges", description="Show the badges a member holds, and what is next")
    @app_commands.describe(member="Whose badges (default: yours)")
    @app_commands.guild_only()
    async def badges(self, interaction: discord.Interaction, member: discord.Member | None = None) -> None:
        self.bot.ledger_upgrade.ensure_ready()
        target = member or interaction.user
        async with self.bot.sessions() as session:
            row = await get_member(session, self.bot.guild_id, target.id)
            held = await service.badges_of(session, self.policy, row.id) if row else []
            progress = await service.progress_of(session, self.policy, row.id) if row else []
        embed = discord.Embed(title=f"Badges of {name_of(target)}", colour=discord.Colour.gold())
        if held:
            lines = []
            for h in held:
                line = f"{h.badge.emoji} **{h.badge.name}** ({h.badge.tier}) · {h.badge.description} "
                line += discord_ts(h.awarded_at, "D")
                if h.manual and h.reason:
                    line += f"\n  ↳ awarded by the maintainers: {h.reason}"
                lines.append(line)
            embed.description = "\n".join(lines)[:4000]
        else:
            embed.description = "No badges yet. Answer a question, review a contribution or check in weekly!"
        if progress:
            nxt = "\n".join(f"{p.badge.emoji} {p.badge.name}: {p.current}/{p.target}" for p in progress[:3])
            embed.add_field(name="Next up", value=nxt, inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @badge.command(name="award", description="Award a badge by hand, with a reason (maintainers)")
    @app_commands.describe(member="Who earns it", badge="Which badge", reason="Why (shown with the badge)")
    @cooldown(5, 60, bucket="badges", target="member")
    @require(Capability.AWARD_BADGES)
    async def badge_award(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        badge: str,
        reason: app_commands.Range[str, 3, 200],
    ) -> None:
        if member.bot:
            raise UserError("Bots cannot hold badges.")
        async with self.bot.sessions.begin() as session:
            member_id = await _member_row(self.bot, session, member)
            try:
                award = await ledger.award_badge(
                    session,
                    self.policy,
                    guild_id=self.bot.guild_id,
                    member_id=member_id,
                    badge_key=badge,
                    by_discord_id=interaction.user.id,
                    reason=reason,
                    at=self.bot.clock.now(),
                )
            except ValueError:
                raise UserError("I do not know that badge; pick one from the list.") from None
        if award is None:
            raise UserError(f"{name_of(member)} already holds that badge.")
        self.bot.scheduler.kick()  # its announcement reminder committed with it: post it now
        await interaction.response.send_message(
            f"Awarded {award.badge.emoji} **{award.badge.name}** to {member.mention}.", ephemeral=True
        )

    @badge.command(name="revoke", description="Take a badge back, e.g. one awarded by mistake (maintainers)")
    @app_commands.describe(member="Whose badge", badge="Which badge")
    @cooldown(5, 60, bucket="badges", target="member")
    @require(Capability.AWARD_BADGES)
    async def badge_revoke(self, interaction: discord.Interaction, member: discord.Member, badge: str) -> None:
        async with self.bot.sessions.begin() as session:
            row = await get_member(session, self.bot.guild_id, member.id)
            removed = row is not None and await ledger.revoke_badge(
                session,
                member_id=row.id,
                badge_key=badge,
                by_discord_id=interaction.user.id,
                at=self.bot.clock.now(),
            )
        if not removed:
            raise UserError(f"{name_of(member)} does not hold that badge.")
        definition = self.policy.badge(badge)
        text = "Badge revoked."
        if definition is not None and definition.automatic:
            text += (
                " It is earned automatically, so the revocation is remembered: it will not be awarded again "
                "automatically. `/badge award` gives it back."
            )
        await interaction.response.send_message(text, ephemeral=True)

    @badge_award.autocomplete("badge")
    @badge_revoke.autocomplete("badge")
    async def _badge_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        needle = current.lower()
        found = [b for b in self.policy.badges if needle in b.key or needle in b.name.lower()]
        found.sort(key=lambda b: (b.automatic, b.name))  # manual badges first: that is what awarding is for
        return [app_commands.Choice(name=f"{b.name} ({b.tier})"[:100], value=b.key) for b in found[:25]]

    # -- /leaderboard ------------------------------------------------------------------------------------------
    @leaderboard.command(name="show", description="Leaderboard for a window and category, with page buttons")
    @app_commands.describe(window="Which period", category="Which kind of contribution")
    @app_commands.choices(window=WINDOW_CHOICES, category=CATEGORY_CHOICES)
    async def leaderboard_show(
        self,
        interaction: discord.Interaction,
        window: app_commands.Choice[str] | None = None,
        category: app_commands.Choice[str] | None = None,
    ) -> None:
        self.bot.ledger_upgrade.ensure_ready()
        await interaction.response.defer(ephemeral=True, thinking=True)  # the image takes a while to draw
        content, file, view = await leaderboard_message(
            self.bot,
            interaction.user,
            window.value if window else "week",
            category.value if category else "overall",
            0,
        )
        await interaction.followup.send(content, file=file, view=view, ephemeral=True)

    @leaderboard.command(name="optout", description="Stop appearing on leaderboards and spotlights")
    @cooldown(3, 60, bucket="leaderboard opt-out")
    async def leaderboard_optout(self, interaction: discord.Interaction) -> None:
        await self._set_opt_out(interaction, True)

    @leaderboard.command(name="optin", description="Appear on leaderboards and spotlights again")
    @cooldown(3, 60, bucket="leaderboard opt-out")
    async def leaderboard_optin(self, interaction: discord.Interaction) -> None:
        await self._set_opt_out(interaction, False)

    async def _set_opt_out(self, interaction: discord.Interaction, opted_out: bool) -> None:
        async with self.bot.sessions.begin() as session:
            member_id = await _member_row(self.bot, session, interaction.user)
            await service.set_opt_out(session, member_id, opted_out, self.bot.clock.now())
        text = (
            "Done: you no longer appear on leaderboards or in spotlights. Your points and badges still count."
            if opted_out
            else "Done: you appear on leaderboards and in spotlights again."
        )
        await interaction.response.send_message(text, ephemeral=True)

    # -- /reputation -------------------------------------------------------------------------------------------
    @app_commands.command(name="reputation", description="A member's reputation and the privileges it unlocks")
    @app_commands.describe(member="Whose reputation (default: yours)")
    @app_commands.guild_only()
    async def reputation(self, interaction: discord.Interaction, member: discord.Member | None = None) -> None:
        self.bot.ledger_upgrade.ensure_ready()
        target = member or interaction.user
        async with self.bot.sessions() as session:
            row = await get_member(session, self.bot.guild_id, target.id)
            rep = await ledger.reputation_of(session, row.id) if row else 0
        lines = [f"**{name_of(target)}** has **{rep}** reputation."]
        for name, needed in sorted(self.policy.privileges.items(), key=lambda kv: kv[1]):
            mark = "✅" if rep >= needed else "🔒"
            lines.append(f"{mark} {name.replace('_', ' ')} ({needed})")
        await interaction.response.send_message("\n".join(lines), ephemeral=True)

    # -- /ledger history ---------------------------------------------------------------------------------------
    @ledger_group.command(
        name="history", description="A member's ledger with anti-farming adjustments (maintainers)"
    )
    @app_commands.describe(member="Whose ledger", page="Page, newest first")
    @require(Capability.MANAGE_COMMUNITY)
    async def ledger_history(
        self, interaction: discord.Interaction, member: discord.Member, page: app_commands.Range[int, 1, 1000] = 1
    ) -> None:
        self.bot.ledger_upgrade.ensure_ready()
        per_page = 15
        async with self.bot.sessions() as session:
            row = await get_member(session, self.bot.guild_id, member.id)
            rows, total = (
                await ledger.history(session, row.id, limit=per_page, offset=(page - 1) * per_page)
                if row
                else ([], 0)
            )
            rep = await ledger.reputation_of(session, row.id) if row else 0
        pages = max(1, -(-total // per_page))
        embed = discord.Embed(
            title=f"Ledger of {name_of(member)}",
            description=f"{total} events · reputation {rep} · page {min(page, pages)} of {pages}",
            colour=discord.Colour.dark_teal(),
        )
        lines = []
        for r in rows:
            pts = f"{r.points:+d}"
            if r.adjustment:
                why = ADJUSTMENTS.get(r.adjustment, r.adjustment)
                pts += f" (asked {r.requested:+d}; {why})"
            lines.append(f"{discord_ts(r.created_at, 'd')} `{r.kind}` {pts} · `{r.reference[:40]}`")
        embed.add_field(name="Events", value="\n".join(lines)[:1024] or "none", inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    # -- /spotlight --------------------------------------------------------------------------------------------
    def _spotlight_month(self) -> datetime:
        """The month the next spotlight celebrates: the last completed month."""
        return ledger.add_months(ledger.month_start(self.bot.clock.now(), self.tz), -1, self.tz)

    @spotlight.command(
        name="preview", description="See (and prepare) the spotlight draft before it is posted (maintainers)"
    )
    @require(Capability.MANAGE_COMMUNITY)
    async def spotlight_preview(self, interaction: discord.Interaction) -> None:
        self.bot.ledger_upgrade.ensure_ready()
        # Choosing a new draft reads the whole month of the ledger: answer Discord first.
        await interaction.response.defer(ephemeral=True, thinking=True)
        month, now = self._spotlight_month(), self.bot.clock.now()
        async with self.bot.sessions.begin() as session:
            draft = await self._prepare_draft(session, month, now)
        embed = self._spotlight_embed(draft)
        view = discord.ui.View(timeout=None)  # only the dynamic button: see leaderboard_view
        if draft.status == "draft" and not draft.entries:
            note = (
                "Draft: nobody to feature this month, so nothing will be posted. `/spotlight add` puts "
                "someone in; then this preview offers Post now."
            )
        elif draft.status == "draft":
            view.add_item(SpotlightPostButton(draft.id))
            post_at = service.spotlight_post_time(month, self.config.spotlight_post_hour, self.tz)
            when = (
                f"It posts automatically {discord_ts(post_at, 'R')}."
                if now <= post_at + SPOTLIGHT_POST_GRACE
                else "Its automatic post time has passed: press Post now to post it."
            )
            note = f"Draft: edit with `/spotlight note`, `/spotlight remove`, `/spotlight add`. {when}"
        else:
            note = f"Already posted {discord_ts(draft.posted_at, 'R')}." if draft.posted_at else "Already posted."
        await interaction.followup.send(note, embed=embed, view=view, ephemeral=True)

    async def _prepare_draft(self, session: Any, month: datetime, now: datetime) -> service.SpotlightDraft:
        """The month's draft, and (in the same transaction) the reminder that posts it at the post hour."""
        draft = await service.prepare_spotlight(
            session,
            self.bot.guild_id,
            month,
            now,
            size=self.config.spotlight_size,
            cooldown_months=self.config.spotlight_cooldown_months,
            tz=self.tz,
        )
        # An empty draft gets no post reminder: the draft job already told the maintainers nothing will be
        # posted (its handler would tell them again). Once someone is added, the next preview schedules it, and
        # Post now schedules one when it is missing.
        if draft.status == "draft" and draft.entries:
            await self.bot.reminders.schedule(
                session,
                kind=SPOTLIGHT_POST,
                guild_id=self.bot.guild_id,
                target_id=draft.id,
                due_at=service.spotlight_post_time(month, self.config.spotlight_post_hour, self.tz),
                dedupe_key=service.spotlight_post_key(self.bot.guild_id, month, self.tz),
            )
        return draft

    @spotlight.command(
        name="note", description="Rewrite what the spotlight draft says about a member (maintainers)"
    )
    @app_commands.describe(member="Who", note="What they did (1-300 characters)")
    @require(Capability.MANAGE_COMMUNITY)
    async def spotlight_note(
        self, interaction: discord.Interaction, member: discord.Member, note: app_commands.Range[str, 1, 300]
    ) -> None:
        await self._edit_spotlight(interaction, member, "note", note)

    @spotlight.command(name="remove", description="Take a member out of the spotlight draft (maintainers)")
    @app_commands.describe(member="Who to take out")
    @require(Capability.MANAGE_COMMUNITY)
    async def spotlight_remove(self, interaction: discord.Interaction, member: discord.Member) -> None:
        await self._edit_spotlight(interaction, member, "remove", "")

    @spotlight.command(
        name="add", description="Add a member to the spotlight draft, with what they did (maintainers)"
    )
    @app_commands.describe(member="Who", note="What they did (1-300 characters)")
    @require(Capability.MANAGE_COMMUNITY)
    async def spotlight_add(
        self, interaction: discord.Interaction, member: discord.Member, note: app_commands.Range[str, 1, 300]
    ) -> None:
        await self._edit_spotlight(interaction, member, "add", note)

    async def _edit_spotlight(
        self, interaction: discord.Interaction, member: discord.Member, action: str, note: str
    ) -> None:
        month = self._spotlight_month()
        try:
            async with self.bot.sessions.begin() as session:
                member_id = await _member_row(self.bot, session, member)
                if action == "note":
                    await service.edit_spotlight_note(
                        session, self.bot.guild_id, month, member_id, note, tz=self.tz
                    )
                elif action == "remove":
                    await service.remove_from_spotlight(session, self.bot.guild_id, month, member_id, tz=self.tz)
                else:
                    await service.add_to_spotlight(
                        session,
                        self.bot.guild_id,
                        month,
                        member_id,
                        note,
                        size=self.config.spotlight_size,
                        tz=self.tz,
                    )
        except service.RecognitionError as exc:
            raise UserError(str(exc)) from None
        await interaction.response.send_message(
            "Spotlight draft updated; `/spotlight preview` shows it.", ephemeral=True
        )

    def _spotlight_embed(self, draft: service.SpotlightDraft) -> discord.Embed:
        embed = discord.Embed(
            title=f"🌟 Community spotlight · {_month_name(draft.month_start, self.tz)}",
            colour=discord.Colour.gold(),
        )
        if not draft.entries:
            embed.description = "Nobody to feature this month: a quiet one."
            return embed
        lines = ["Thank you to these members who made the month:"]
        lines += [f"• <@{e.discord_id}> · *{e.reason}*: {e.note}" for e in draft.entries]
        embed.description = "\n".join(lines)[:4096]
        return embed

    async def _channel(self, channel_id: int) -> discord.abc.Messageable | None:
        if not channel_id:
            return None
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self.bot.fetch_channel(channel_id)
            except (discord.NotFound, discord.Forbidden) as exc:
                log.warning("channel %s is not reachable: %s", channel_id, exc)
                return None
            # Other errors (Discord 5xx, network) fail the job, which retries the period on the next poll.
        return channel if isinstance(channel, discord.abc.Messageable) else None

    async def post_spotlight_now(self, spotlight_id: int) -> str:
        """The "Post now" button: the draft's post reminder becomes due now (revived if it failed or was
        dropped as too late); the reminder's handler posts it, with retries."""
        if not self.bot.channel_ids.id("announcements"):
            raise UserError(
                "No announcements channel is configured ([channels] announcements), so nothing can be posted."
            )
        now = self.bot.clock.now()
        try:
            async with self.bot.sessions.begin() as session:
                draft = await service.spotlight_by_id(session, self.bot.guild_id, spotlight_id)
                if draft is not None and draft.status == "draft" and not draft.entries:
                    raise UserError("The draft has nobody to feature: `/spotlight add` someone first.")
                state = await service.post_spotlight_now(session, self.bot.guild_id, spotlight_id, now, self.tz)
                if state == "missing" and draft is not None:
                    await self.bot.reminders.schedule(
                        session,
                        kind=SPOTLIGHT_POST,
                        guild_id=self.bot.guild_id,
                        target_id=spotlight_id,
                        due_at=now,
                        dedupe_key=service.spotlight_post_key(self.bot.guild_id, draft.month_start, self.tz),
                    )
        except service.RecognitionError as exc:
            raise UserError(str(exc)) from None
        if state == "posted" or draft is None:
            return "That spotlight was already posted."
        if state == "posting":
            return "That spotlight is being posted right now."
        self.bot.scheduler.kick()
        return (
            f"Posting the spotlight for {_month_name(draft.month_start, self.tz)} in "
            f"<#{self.bot.channel_ids.id('announcements')}> now."
        )

    # -- jobs and listeners ------------------------------------------------------------------------------------
    async def spotlight_draft_job(self, now: datetime) -> None:
        """On the 1st: the last month's draft and its post reminder, and a word to the maintainers."""
        if not self.bot.guild_id:
            return
        if not self.bot.ledger_ready.is_set():  # the month's points, once a first-start rebuild has finished
            raise NotYet("the contribution ledger is being rebuilt")
        month = ledger.add_months(ledger.month_start(now, self.tz), -1, self.tz)
        async with self.bot.sessions.begin() as session:
            draft = await self._prepare_draft(session, month, now)
        if draft.status != "draft":
            return
        post_at = service.spotlight_post_time(month, self.config.spotlight_post_hour, self.tz)
        if draft.entries:
            text = (
                f"The spotlight for {_month_name(month, self.tz)} is ready with {len(draft.entries)} member(s). "
                f"Maintainers: `/spotlight preview` to review and edit it; it posts {discord_ts(post_at, 'R')}."
            )
        else:
            text = (
                f"The spotlight for {_month_name(month, self.tz)} has nobody to feature (a quiet month), so "
                "nothing will be posted. Maintainers: `/spotlight add` someone if you want one."
            )
        await self._tell_maintainers(text)

    async def _tell_maintainers(self, text: str) -> None:
        channel = await self._channel(self.bot.channel_ids.id("mod_log"))
        if channel is None:
            log.info("recognition (no mod log channel): %s", text)
            return
        await channel.send(text, allowed_mentions=NONE)

    async def quarterly_review_job(self, now: datetime) -> None:
        if not self.bot.guild_id:
            return
        if not self.bot.ledger_ready.is_set():
            raise NotYet("the contribution ledger is being rebuilt")
        quarter = ledger.add_months(service.quarter_start(now, self.tz), -3, self.tz)
        async with self.bot.sessions() as session:
            review = await service.quarter_review(session, self.bot.guild_id, quarter, tz=self.tz)
        if review.quiet:
            # An empty review in public reads as "nothing happens here": tell the maintainers only.
            await self._tell_maintainers(
                f"The quarterly review for {review.label} was not posted: no contributions and no badges in the "
                f"quarter ({review.new_members} new member(s))."
            )
            return
        channel = await self._channel(self.bot.channel_ids.id("announcements"))
        if channel is None:
            log.warning("quarterly review not posted: no announcements channel configured")
            return
        await channel.send(embed=quarter_embed(review), allowed_mentions=NONE)


def quarter_embed(review: service.QuarterReview) -> discord.Embed:
    def trend(now: int, before: int) -> str:
        if before == 0:
            return f"{now}"
        change = (now - before) * 100 // before
        return f"{now} ({'+' if change >= 0 else ''}{change}% on the quarter before)"

    embed = discord.Embed(title=f"📈 Quarterly review · {review.label}", colour=discord.Colour.green())
    embed.add_field(name="New members", value=trend(review.new_members, review.previous_new_members))
    embed.add_field(name="Active contributors", value=trend(review.active_members, review.previous_active_members))
    embed.add_field(name="Points earned", value=trend(review.points, review.previous_points))
    embed.add_field(name="Contributions", value=str(review.events))
    embed.add_field(name="Badges awarded", value=str(review.badges_awarded))
    top = "\n".join(f"{r.rank}. <@{r.discord_id}> · {r.points} points" for r in review.top) or "nobody yet"
    embed.add_field(name="Top contributors", value=top, inline=False)
    if review.category_leaders:
        leaders = "\n".join(f"{cat}: <@{r.discord_id}> ({r.points})" for cat, r in review.category_leaders.items())
        embed.add_field(name="Leading the way", value=leaders, inline=False)
    return embed


def announced_in(post: str, a: service.Announcement) -> bool:
    """Whether ``post`` (an earlier post of the bot's) holds the line :func:`badge_digest` writes for ``a``: the
    single-award line, or the badge's digest line with the member as one of its entries. The member's mention and
    the badge's name elsewhere (a reason, another badge's line) do not count."""
    head = f"{a.badge.emoji} **{a.badge.name}** ({a.badge.tier}): "
    name = f"<@{a.discord_id}>" + (f" ({a.reason[:200]})" if a.manual and a.reason else "")
    for line in post.split("\n"):
        if line.startswith(f"🏅 <@{a.discord_id}> earned {head}"):
            return True
        # A digest line: its entries are mentions, each maybe with a reason, joined by ", ".
        if line.startswith(head) and name in re.split(r", (?=<@\d+>)", line[len(head) :]):
            return True
    return False


def badge_digest(awards: list[tuple[int, service.Announcement]], limit: int = 2000) -> list[tuple[str, list[int]]]:
    """The posts announcing ``awards`` (reminder id, announcement), each with the reminder ids it names. One
    award reads as before ("🏅 @member earned ..."); several are a line per badge naming its members (as mentions,
    which render the current name and ping nobody with ``allowed_mentions`` none), a maintainer's reason beside
    the member. A badge with too many members for one line takes several; a post holds the lines that fit in
    ``limit`` characters, so nobody is cut off."""
    if len(awards) == 1:
        rid, a = awards[0]
        reason = f"\n↳ {a.reason}" if a.manual and a.reason else ""
        text = f"🏅 <@{a.discord_id}> earned {a.badge.emoji} **{a.badge.name}** ({a.badge.tier}): "
        return [((text + a.badge.description + reason)[:limit], [rid])]
    by_badge: dict[str, dict[int, tuple[str, list[int]]]] = {}
    for rid, a in awards:
        entries = by_badge.setdefault(a.badge.key, {})
        name, ids = entries.get(a.discord_id, ("", []))
        if not name:  # one member twice for one badge (two reminders): named once
            name = f"<@{a.discord_id}>" + (f" ({a.reason[:200]})" if a.manual and a.reason else "")
        entries[a.discord_id] = (name, [*ids, rid])
    badges = {a.badge.key: a.badge for _rid, a in awards}
    lines: list[tuple[str, list[int]]] = []
    for key, entries in by_badge.items():
        badge = badges[key]
        head = f"{badge.emoji} **{badge.name}** ({badge.tier}): "
        line, ids = head, []
        for name, entry_ids in entries.values():
            if ids and len(line) + 2 + len(name) > limit // 2:
                lines.append((line, ids))
                line, ids = head, []
            line, ids = (f"{line}, {name}" if ids else line + name), ids + entry_ids
        lines.append((line, ids))
    posts: list[tuple[str, list[int]]] = []
    text, ids = "🏅 New badges:", []
    for line, line_ids in lines:
        if ids and len(text) + 1 + len(line) > limit:
            posts.append((text, ids))
            text, ids = "🏅 New badges (continued):", []
        text, ids = f"{text}\n{line}", ids + line_ids
    posts.append((text, ids))
    return posts
