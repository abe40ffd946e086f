"""Recognition on Discord: /badges, /badge, /leaderboard, /reputation, /ledger history, /spotlight, and the posts.

Discord glue only: the rules are in ``bot.ledger`` and ``service``; this turns their results into messages.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import ledger
from bot.checks import Capability, ensure, require
from bot.errors import UserError, handle_interaction_error
from bot.members import ensure_member, get_member
from bot.scheduler import Job
from bot.timefmt import discord_ts
from cogs.recognition import service
from cogs.recognition.render import Row, alt_text, render_leaderboard
from models import Spotlight

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
JOB_NAMES = (
    "recognition.spotlight_draft",
    "recognition.spotlight_post",
    "recognition.quarterly_review",
    "recognition.badge_announcements",
)
NONE = discord.AllowedMentions.none()


def _month_name(month: datetime) -> str:
    return month.strftime("%B %Y")


async def _member_row(bot: AtlasBot, session: Any, user: discord.abc.User) -> int:
    joined = getattr(user, "joined_at", None) or bot.clock.now()
    member = await ensure_member(session, bot.guild_id, user.id, display_name=user.display_name, joined_at=joined)
    return member.id


# -- leaderboard message ---------------------------------------------------------------------------------------
async def leaderboard_message(
    bot: AtlasBot, user: discord.abc.User, window: str, category: str, page: int
) -> tuple[str, discord.File, discord.ui.View]:
    cfg = bot.config.recognition
    async with bot.sessions.begin() as session:
        viewer = await _member_row(bot, session, user)
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
            )
        except service.RecognitionError as exc:
            raise UserError(str(exc)) from None
        opted_out = await service.is_opted_out(session, viewer)
    rows = [Row(r.rank, r.name, r.points) for r in board.rows]
    subtitle = f"Since {board.period_start:%d %B %Y} (UTC) · page {board.page + 1} of {board.pages}"
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
    # Only dynamic items (and a disabled label): clicks keep working after a restart or the view's timeout.
    view = discord.ui.View(timeout=300)
    view.add_item(LeaderboardButton(window, category, max(0, page - 1), "◀ Previous", disabled=page <= 0))
    view.add_item(
        discord.ui.Button(
            label=f"{page + 1} / {pages}", disabled=True, custom_id=f"lbpage:{window}:{category}:{page}"
        )
    )
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
            content, file, view = await leaderboard_message(
                bot, interaction.user, self.window, self.category, self.page
            )
            await interaction.response.edit_message(content=content, attachments=[file], view=view)
        except Exception as exc:
            await handle_interaction_error(interaction, exc, "leaderboard button")


class SpotlightPostButton(discord.ui.DynamicItem[discord.ui.Button], template=r"spot:post:(?P<id>\d+)"):
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
            ensure(interaction.user, Capability.MANAGE_COMMUNITY, bot.config.roles)
            cog = bot.get_cog("RecognitionCog")
            if not isinstance(cog, RecognitionCog):
                raise UserError("Recognition is not running right now; try again shortly.")
            await interaction.response.defer(ephemeral=True, thinking=True)
            posted = await cog.post_spotlight(self.spotlight_id)
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
        self.policy = ledger.policy_for(self.config)  # fails loudly at load if the badge file is invalid

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(LeaderboardButton, SpotlightPostButton)
        cfg = self.config
        for job in (
            Job(JOB_NAMES[0], {"day": 1, "hour": cfg.spotlight_draft_hour, "minute": 0}, self.spotlight_draft_job),
            Job(JOB_NAMES[1], {"day": 1, "hour": cfg.spotlight_post_hour, "minute": 5}, self.spotlight_post_job),
            Job(
                JOB_NAMES[2],
                {"month": "1,4,7,10", "day": 1, "hour": cfg.spotlight_post_hour, "minute": 10},
                self.quarterly_review_job,
            ),
            # Safety net (every 6 h, cheap for a stepping clock): awards nobody dispatched "badges_awarded" for.
            Job(JOB_NAMES[3], {"hour": "*/6", "minute": 20}, self.announce_job),
        ):
            self.bot.scheduler.add_job(job)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(LeaderboardButton, SpotlightPostButton)
        for name in JOB_NAMES:
            self.bot.scheduler.remove_job(name)

    # -- /badges -----------------------------------------------------------------------------------------------
    @app_commands.command(name="badges", description="Show the badges a member holds, and what is next")
    @app_commands.describe(member="Whose badges (default: yours)")
    @app_commands.guild_only()
    async def badges(self, interaction: discord.Interaction, member: discord.Member | None = None) -> None:
        target = member or interaction.user
        async with self.bot.sessions() as session:
            row = await get_member(session, self.bot.guild_id, target.id)
            held = await service.badges_of(session, self.policy, row.id) if row else []
            progress = await service.progress_of(session, self.policy, row.id) if row else []
        embed = discord.Embed(title=f"Badges of {target.display_name}", colour=discord.Colour.gold())
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
            raise UserError(f"{member.display_name} already holds that badge.")
        await interaction.response.send_message(
            f"Awarded {award.badge.emoji} **{award.badge.name}** to {member.mention}.", ephemeral=True
        )
        self.bot.dispatch("badges_awarded", self.bot.guild_id)

    @badge.command(name="revoke", description="Take a badge back, e.g. one awarded by mistake (maintainers)")
    @app_commands.describe(member="Whose badge", badge="Which badge")
    @require(Capability.AWARD_BADGES)
    async def badge_revoke(self, interaction: discord.Interaction, member: discord.Member, badge: str) -> None:
        async with self.bot.sessions.begin() as session:
            row = await get_member(session, self.bot.guild_id, member.id)
            removed = row is not None and await ledger.revoke_badge(session, member_id=row.id, badge_key=badge)
        if not removed:
            raise UserError(f"{member.display_name} does not hold that badge.")
        await interaction.response.send_message("Badge revoked.", ephemeral=True)

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
        content, file, view = await leaderboard_message(
            self.bot,
            interaction.user,
            window.value if window else "week",
            category.value if category else "overall",
            0,
        )
        await interaction.response.send_message(content, file=file, view=view, ephemeral=True)

    @leaderboard.command(name="optout", description="Stop appearing on leaderboards and spotlights")
    async def leaderboard_optout(self, interaction: discord.Interaction) -> None:
        await self._set_opt_out(interaction, True)

    @leaderboard.command(name="optin", description="Appear on leaderboards and spotlights again")
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
        target = member or interaction.user
        async with self.bot.sessions() as session:
            row = await get_member(session, self.bot.guild_id, target.id)
            rep = await ledger.reputation_of(session, row.id) if row else 0
        lines = [f"**{target.display_name}** has **{rep}** reputation."]
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
            title=f"Ledger of {member.display_name}",
            description=f"{total} events · reputation {rep} · page {min(page, pages)} of {pages}",
            colour=discord.Colour.dark_teal(),
        )
        lines = []
        for r in rows:
            pts = f"{r.points:+d}"
            if r.adjustment:
                pts += (
                    f" (asked {r.requested:+d}; {'own content' if r.adjustment == ledger.SELF else 'daily cap'})"
                )
            lines.append(f"{discord_ts(r.created_at, 'd')} `{r.kind}` {pts} · `{r.reference[:40]}`")
        embed.add_field(name="Events", value="\n".join(lines)[:1024] or "none", inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    # -- /spotlight --------------------------------------------------------------------------------------------
    def _spotlight_month(self) -> datetime:
        """The month the next spotlight celebrates: the last completed month."""
        return ledger.add_months(ledger.month_start(self.bot.clock.now()), -1)

    @spotlight.command(
        name="preview", description="See (and prepare) the spotlight draft before it is posted (maintainers)"
    )
    @require(Capability.MANAGE_COMMUNITY)
    async def spotlight_preview(self, interaction: discord.Interaction) -> None:
        month = self._spotlight_month()
        async with self.bot.sessions.begin() as session:
            draft = await service.prepare_spotlight(
                session,
                self.bot.guild_id,
                month,
                self.bot.clock.now(),
                size=self.config.spotlight_size,
                cooldown_months=self.config.spotlight_cooldown_months,
            )
        embed = self._spotlight_embed(draft)
        view = discord.ui.View(timeout=300)
        if draft.status == "draft":
            view.add_item(SpotlightPostButton(draft.id))
            note = (
                "Draft: edit with `/spotlight note`, `/spotlight remove`, `/spotlight add`. "
                f"It posts automatically on the 1st at {self.config.spotlight_post_hour:02d}:05 UTC."
            )
        else:
            note = f"Already posted {discord_ts(draft.posted_at, 'R')}." if draft.posted_at else "Already posted."
        await interaction.response.send_message(note, embed=embed, view=view, ephemeral=True)

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
                    await service.edit_spotlight_note(session, self.bot.guild_id, month, member_id, note)
                elif action == "remove":
                    await service.remove_from_spotlight(session, self.bot.guild_id, month, member_id)
                else:
                    await service.add_to_spotlight(
                        session, self.bot.guild_id, month, member_id, note, size=self.config.spotlight_size
                    )
        except service.RecognitionError as exc:
            raise UserError(str(exc)) from None
        await interaction.response.send_message(
            "Spotlight draft updated; `/spotlight preview` shows it.", ephemeral=True
        )

    def _spotlight_embed(self, draft: service.SpotlightDraft) -> discord.Embed:
        embed = discord.Embed(
            title=f"🌟 Community spotlight · {_month_name(draft.month_start)}", colour=discord.Colour.gold()
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
            except discord.HTTPException as exc:
                log.warning("channel %s is not reachable: %s", channel_id, exc)
                return None
        return channel if isinstance(channel, discord.abc.Messageable) else None

    async def post_spotlight(self, spotlight_id: int | None = None) -> str:
        """Post the draft (the last completed month's, or ``spotlight_id``) once; returns what happened."""
        channel = await self._channel(self.bot.config.channels.announcements)
        if channel is None:
            return "No announcements channel is configured ([channels] announcements), so nothing was posted."
        now = self.bot.clock.now()
        async with self.bot.sessions.begin() as session:
            if spotlight_id is None:
                draft = await service.prepare_spotlight(
                    session,
                    self.bot.guild_id,
                    self._spotlight_month(),
                    now,
                    size=self.config.spotlight_size,
                    cooldown_months=self.config.spotlight_cooldown_months,
                )
            else:
                found = await session.get(Spotlight, spotlight_id)
                if found is None or found.guild_id != self.bot.guild_id:
                    raise UserError("That spotlight no longer exists.")
                draft = await service.spotlight_draft(session, self.bot.guild_id, found.month_start)  # type: ignore[assignment]
            if draft is None or not await service.claim_spotlight_post(session, draft.id, now):
                return "That spotlight was already posted."
        message = await channel.send(embed=self._spotlight_embed(draft), allowed_mentions=NONE)
        async with self.bot.sessions.begin() as session:
            await service.set_spotlight_message(session, draft.id, message.channel.id, message.id)
        return f"Spotlight for {_month_name(draft.month_start)} posted."

    # -- jobs and listeners ------------------------------------------------------------------------------------
    async def spotlight_draft_job(self, now: datetime) -> None:
        if not self.bot.guild_id:
            return
        month = ledger.add_months(ledger.month_start(now), -1)
        async with self.bot.sessions.begin() as session:
            draft = await service.prepare_spotlight(
                session,
                self.bot.guild_id,
                month,
                now,
                size=self.config.spotlight_size,
                cooldown_months=self.config.spotlight_cooldown_months,
            )
        channel = await self._channel(self.bot.config.channels.mod_log)
        if channel is not None and draft.status == "draft":
            post_at = now.replace(hour=self.config.spotlight_post_hour, minute=5, second=0, microsecond=0)
            await channel.send(
                f"The spotlight for {_month_name(month)} is ready with {len(draft.entries)} member(s). "
                f"Maintainers: `/spotlight preview` to review and edit it; it posts {discord_ts(post_at, 'R')}.",
                allowed_mentions=NONE,
            )

    async def spotlight_post_job(self, now: datetime) -> None:
        if self.bot.guild_id:
            log.info("spotlight: %s", await self.post_spotlight())

    async def quarterly_review_job(self, now: datetime) -> None:
        if not self.bot.guild_id:
            return
        channel = await self._channel(self.bot.config.channels.announcements)
        if channel is None:
            log.warning("quarterly review not posted: no announcements channel configured")
            return
        quarter = ledger.add_months(service.quarter_start(now), -3)
        async with self.bot.sessions() as session:
            review = await service.quarter_review(session, self.bot.guild_id, quarter)
        await channel.send(embed=quarter_embed(review), allowed_mentions=NONE)

    async def announce_job(self, now: datetime) -> None:
        if self.bot.guild_id:
            await self.announce_badges(self.bot.guild_id)

    @commands.Cog.listener()
    async def on_badges_awarded(self, guild_id: int) -> None:
        """Features dispatch ``bot.dispatch("badges_awarded", guild_id)`` after ``record_event`` awarded one."""
        try:
            await self.announce_badges(guild_id)
        except Exception:
            log.exception("announcing badges failed; the periodic job will retry what was not claimed")

    async def announce_badges(self, guild_id: int) -> int:
        channel = await self._channel(self.bot.config.channels.announcements)
        async with self.bot.sessions.begin() as session:
            pending = await service.claim_announcements(session, self.policy, guild_id, self.bot.clock.now())
        if channel is None:
            return 0  # claimed anyway: a channel configured later should not replay a backlog
        for a in pending:
            text = f"🏅 <@{a.discord_id}> earned {a.badge.emoji} **{a.badge.name}** ({a.badge.tier}): "
            text += a.badge.description
            if a.manual and a.reason:
                text += f"\n↳ {a.reason}"
            try:
                await channel.send(text[:2000], allowed_mentions=NONE)
            except discord.HTTPException as exc:
                log.warning("could not announce badge award %s: %s", a.award_id, exc)
        return len(pending)


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
