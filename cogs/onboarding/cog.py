"""Onboarding and the journey, on Discord: greetings, the profile flow, roles that follow the journey.

Every component has a static custom_id and is registered as a persistent view, and all progress lives in the
database, so a member can finish onboarding after the bot restarted. Everything the bot says to a member on its
own initiative (greeting, promotion, nudge) goes through a durable reminder, so a Discord error or a restart
delays it instead of losing it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands
from sqlalchemy.ext.asyncio import AsyncSession

from bot import privacy
from bot.checks import Capability, member_has, require
from bot.community_roles import RoleUnavailable
from bot.cooldowns import cooldown
from bot.discord_seam import set_option_range
from bot.earlier_sends import own_messages_since
from bot.errors import UserError
from bot.member_sync import Arrivals
from bot.members import ensure_member, get_member
from bot.names import name_of
from bot.pacing import Lane
from bot.reminders import PermanentSendError, ReminderKind, add_many, on_the_way
from bot.scheduler import Job, NotYet
from bot.timefmt import discord_ts
from cogs.onboarding import journey, service, timezones
from cogs.onboarding.service import AmbiguousTimezone, ProfileError
from cogs.onboarding.views import (
    AcceptView,
    ChoicesView,
    ProfileModal,
    RetryFormView,
    StartView,
)
from models import Member, Reminder

if TYPE_CHECKING:
    from bot.core import AtlasBot

log = logging.getLogger(__name__)

GREET, GREET_POST, ROLES, PROMOTED_DM, PROMOTED_POST, NUDGE = (
    "onboarding.greet",
    "onboarding.greet_post",
    "journey.roles",
    "journey.promoted_dm",
    "journey.promoted_post",
    "journey.nudge",
)
STAGE_TITLES = {journey.LEARNER: "Learner", journey.CONTRIBUTOR: "Contributor", journey.TEACHER: "Teacher"}
# Members welcomed by one #welcome post during a burst: 60 mentions (at most 25 characters each, with the
# separator) and the text stay under the 2,000-character limit.
GREET_POST_BATCH = 60
# At most one welcome post this often while members keep arriving (Discord allows about 5 per 5 s a channel):
# 30 members/s, more than the ~22 greeting DMs/s that Discord's global limit lets out.
GREET_POST_INTERVAL = timedelta(seconds=2)
# Touch a member's activity at most this often from interactions (a write per command would be wasteful).
ACTIVITY_THROTTLE = timedelta(hours=1)
# How late a welcome may still go out (after downtime): also how far back the start-up reconcile greets.
GREET_GRACE = timedelta(days=2)
# The daily jobs' batch sizes: members read per query (plain rows; bounded memory, short loop holds) and
# written per short transaction.
EVALUATE_BATCH = 500
RECONCILE_BATCH = 1000
NUDGE_BATCH = 500
PROMOTE_GROUP = 50


def _promotion_key(move: service.StageMove) -> str:
    """One announcement per member and stage reached, however the promotion was found."""
    return f"{move.member_id}:{move.to_stage}"


def _greet_key(discord_id: int, joined_at: datetime) -> str:
    """One welcome per join: the live event and the start-up reconcile may both see the same one."""
    return f"greet:{discord_id}:{int(joined_at.timestamp())}"


class OnboardingCog(commands.Cog):
    profile = app_commands.Group(name="profile", description="Your community profile", guild_only=True)
    journey_group = app_commands.Group(
        name="journey", description="The learner → contributor → teacher journey", guild_only=True
    )

    def __init__(self, bot: AtlasBot) -> None:
        self.bot = bot
        self.rules = service.rules_from(bot.config.journey)
        # Stage-role sets the bot itself is applying, so its own GUILD_MEMBER_UPDATE is not taken for a hand edit.
        self._expected_roles: dict[int, frozenset[int]] = {}
        self._last_touch: dict[int, datetime] = {}
        self._form = ProfileModal(self)
        self._retry_forms: dict[int, RetryFormView] = {}  # member id → their refused form's text
        # Discord enforces the option's range, so it is the configured maximum, not Range's class-time bound.
        set_option_range(
            self.profile_edit, "weekly_hours", min_value=1, max_value=bot.config.onboarding.max_weekly_hours
        )
        self._regreet_after = timedelta(days=bot.config.onboarding.regreet_after_days)

    # -- lifecycle ---------------------------------------------------------------------------------------------
    async def cog_load(self) -> None:
        views = (StartView(self), ChoicesView(self, ["UTC"]), AcceptView(self), self._form, RetryFormView(self))
        for view in views:
            self.bot.add_view(view)
        r = self.bot.reminders
        r.register(ReminderKind(GREET, self._send_greeting, grace=GREET_GRACE))
        r.register(
            ReminderKind(
                GREET_POST,
                grace=GREET_GRACE,
                batch_handler=self._post_greetings,
                batch_size=GREET_POST_BATCH,
                batch_interval=GREET_POST_INTERVAL,
            )
        )
        # Member edits: 10 per 10 s in a guild; a daily job's burst waits in the table, not in the DM slots.
        lane = Lane.member_edits(self.bot.guild_id)
        r.register(ReminderKind(ROLES, self._apply_roles, grace=timedelta(days=30), lane=lane))
        r.register(ReminderKind(PROMOTED_DM, self._send_promotion_dm, grace=timedelta(days=2)))
        # Promotions come in bursts (the daily evaluation): coalesced into a post per stage, like badge digests.
        r.register(
            ReminderKind(
                PROMOTED_POST,
                grace=timedelta(days=2),
                batch_handler=self._post_promotions,
                batch_size=50,
                digest_window=timedelta(minutes=15),
                lane=Lane.channel(posts_in) if (posts_in := self.bot.channel_ids.id("announcements")) else None,
            )
        )
        r.register(ReminderKind(NUDGE, self._send_nudge, grace=timedelta(days=3)))
        self.bot.member_sync.add_hook("onboarding", self._welcome_arrivals)
        hour, minute = (int(x) for x in self.bot.config.journey.evaluate_at.split(":"))
        self.bot.scheduler.add_job(Job("journey.evaluate", {"hour": hour, "minute": minute}, self.evaluate_all))
        self.bot.scheduler.add_job(Job("journey.nudges", {"hour": hour, "minute": minute}, self.send_nudges))
        self.bot.scheduler.add_job(
            Job("journey.reconcile", {"hour": hour, "minute": minute}, self.reconcile_roles)
        )

    async def cog_unload(self) -> None:
        self.bot.member_sync.remove_hook("onboarding")
        for kind in (GREET, GREET_POST, ROLES, PROMOTED_DM, PROMOTED_POST, NUDGE):
            self.bot.reminders.unregister(kind)
        for job in ("journey.evaluate", "journey.nudges", "journey.reconcile"):
            self.bot.scheduler.remove_job(job)

    # -- helpers -----------------------------------------------------------------------------------------------
    @property
    def guild(self) -> discord.Guild:
        guild = self.bot.home_guild
        if guild is None:
            raise UserError("I am not connected to the community's server right now; please try again shortly.")
        return guild

    async def _member_row(self, session: AsyncSession, user: discord.abc.User) -> Member:
        joined = getattr(user, "joined_at", None) or self.bot.clock.now()
        return await ensure_member(
            session, self.bot.guild_id, user.id, display_name=user.display_name, joined_at=joined
        )

    async def _schedule(
        self,
        session: AsyncSession,
        kind: str,
        target: int,
        payload: dict[str, Any] | None = None,
        dedupe: str | None = None,
    ) -> None:
        await self.bot.reminders.schedule(
            session,
            kind=kind,
            guild_id=self.bot.guild_id,
            target_id=target,
            due_at=self.bot.clock.now(),
            payload=payload or {},
            dedupe_key=dedupe,
        )

    async def _ensure_role(self, key: str) -> discord.Role:
        """The community role by its id (``bot.community``; a role merely named like it is never used)."""
        try:
            return await self.bot.community.ensure(key)
        except RoleUnavailable as exc:  # maintainers have been told
            raise PermanentSendError(str(exc)) from None

    async def _report_role_problem(self, text: str) -> None:
        await self.bot.notify_maintainers_once(
            "manage_roles",
            text + " Members keep their progress and get their roles once this is fixed; "
            "`atlas-bot check` shows what is missing.",
        )

    def _can_manage(self, role: discord.Role) -> str | None:
        me = self.guild.me
        if not me.guild_permissions.manage_roles:
            return "I need the Manage Roles permission to hand out journey roles."
        if role >= me.top_role:
            return f"The {role.name} role is above my own role: drag my role above it in Server Settings → Roles."
        return None

    # -- joining -----------------------------------------------------------------------------------------------
    @commands.Cog.listener()
    async def on_member_join(self, member: discord.Member) -> None:
        if member.bot or member.guild.id != self.bot.guild_id:
            return
        now = self.bot.clock.now()
        async with self.bot.sessions.begin() as session:
            row = await service.register_join(
                session, member.guild.id, member.id, member.display_name, member.joined_at or now
            )
            if row.onboarded_at is not None:
                # A returning member keeps their journey; restore their roles.
                await self._schedule(session, ROLES, member.id)
            elif service.claim_greeting(row, now, self._regreet_after):
                await self._schedule(session, GREET, member.id, dedupe=_greet_key(member.id, row.joined_at))

    async def _welcome_arrivals(self, session: AsyncSession, arrivals: Arrivals) -> None:
        """Members who joined while the bot was down or reconnecting (the start-up reconcile, in its transaction):
        welcome those within the greeting's grace, as on_member_join would have; give returning members who
        finished onboarding their roles back. Members there before the bot was installed are left alone."""
        recent = {p.discord_id: p for p in arrivals.since_last_seen() if arrivals.now - p.joined_at <= GREET_GRACE}
        greet = await service.claim_greetings(
            session, arrivals.guild_id, list(recent), arrivals.now, self._regreet_after
        )
        for discord_id in greet:
            await self._schedule(
                session, GREET, discord_id, dedupe=_greet_key(discord_id, recent[discord_id].joined_at)
            )
        ids = [p.discord_id for p in arrivals.members]
        for discord_id in await service.onboarded_among(session, arrivals.guild_id, ids):
            await self._schedule(session, ROLES, discord_id)

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        if payload.guild_id != self.bot.guild_id:
            return
        async with self.bot.sessions.begin() as session:
            await service.register_leave(session, payload.guild_id, payload.user.id, self.bot.clock.now())

    async def _send_greeting(self, reminder: Reminder) -> None:
        """The welcome DM. The channel post is a reminder of its own, scheduled from here once we know whether
        the DM went through, so a retry of one never repeats the other."""
        try:
            member = await self.bot.live_member(reminder.target_id)
        except PermanentSendError:
            async with self.bot.sessions.begin() as session:
                await service.greeting_undelivered(
                    session, self.bot.guild_id, reminder.target_id, reminder.created_at
                )
            raise
        cfg = self.bot.config
        embed = discord.Embed(
            title=f"Welcome to {member.guild.name}!",
            description=(
                "This is a community where **learners become contributors become teachers**. "
                "Tell us a little about yourself (two minutes) and accept the code of conduct to get the "
                f"{cfg.roles.learner} role and access to the server."
            ),
            colour=discord.Colour.green(),
        )
        dm_ok = True
        try:
            # A later attempt may follow one Discord carried out (the process died before recording it): look
            # for that DM first. The nonce covers a retry within Discord's few minutes (enforce_nonce).
            is_greeting = lambda m: bool(m.components and m.embeds and m.embeds[0].title == embed.title)  # noqa: E731
            if reminder.attempts <= 1 or not await own_messages_since(
                self.bot.user, await member.create_dm(), reminder.created_at, is_greeting
            ):
                await member.send(embed=embed, view=self._start_button(), nonce=f"g{reminder.id}"[:25])
        except discord.Forbidden:
            dm_ok = False  # DMs closed: the welcome channel is the fallback, never a failed join
        if not dm_ok or cfg.onboarding.greet_in_channel:
            async with self.bot.sessions.begin() as session:
                await self._schedule(
                    session,
                    GREET_POST,
                    member.id,
                    {"dm_closed": not dm_ok},
                    dedupe=f"{reminder.dedupe_key or reminder.id}:post",
                )

    async def _post_greetings(self, reminders: list[Reminder]) -> dict[int, Exception]:
        """The #welcome posts, coalesced: one post names every member whose welcome is due (up to
        GREET_POST_BATCH), pinging only them; what falls due while it is on its way goes in the next one
        (bot.reminders). A member who left is skipped; their reminder fails on its own, the others go out."""
        guild = self.bot.live_guild()
        channel_id = self.bot.channel_ids.id("welcome")
        channel = guild.get_channel(channel_id) if channel_id else None
        failures: dict[int, Exception] = {}
        if not isinstance(channel, discord.TextChannel):
            for reminder in reminders:
                if reminder.payload.get("dm_closed"):
                    failures[reminder.id] = PermanentSendError("DMs closed and no welcome channel configured")
            return failures
        members: dict[int, discord.Member] = {}
        closed: set[int] = set()
        retried = [r for r in reminders if r.attempts > 1]
        if retried:  # an earlier attempt may have posted before the process died: those are welcomed already
            since = min(r.created_at for r in retried)
            # Only the welcome posts this handler writes count, not another post of the bot's naming the member.
            posted = await own_messages_since(
                self.bot.user, channel, since, lambda m: m.content.startswith("Welcome, ") and bool(m.components)
            )
            named = {int(uid) for m in posted for uid in m.raw_mentions}
            reminders = [r for r in reminders if r.attempts <= 1 or r.target_id not in named]
        for reminder in reminders:
            try:
                member = await self.bot.live_member(reminder.target_id)
            except PermanentSendError as exc:
                failures[reminder.id] = exc
                continue
            members[member.id] = member  # the same member twice in a batch is named once
            if reminder.payload.get("dm_closed"):
                closed.add(member.id)
        if not members:
            return failures
        names = [m.mention for m in members.values()]
        who = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        if closed and closed == set(members):
            note = " (your DMs are closed, so the button is here)"
        else:
            note = " (if your DMs are closed, the button is here)" if closed else ""
        await channel.send(
            f"Welcome, {who}! Press the button to start onboarding{note}.",
            view=self._start_button(),
            allowed_mentions=discord.AllowedMentions(users=list(members.values())),
        )
        return failures

    def _start_button(self) -> StartView:
        """The "Start onboarding" button for a greeting. The view registered in cog_load answers every click on it
        (one static custom_id); a live view sent with the message would be kept by discord.py for that message
        forever (no timeout): about 2 KB per join, never freed. A stopped one is sent, not kept."""
        view = StartView(self)
        view.stop()
        return view

    # -- the onboarding flow -----------------------------------------------------------------------------------
    @app_commands.command(name="onboard", description="Set up your profile and accept the code of conduct")
    @app_commands.guild_only()
    @cooldown(3, 60)
    async def onboard(self, interaction: discord.Interaction) -> None:
        await self.open_profile_modal(interaction)

    async def open_profile_modal(
        self, interaction: discord.Interaction, typed: dict[str, str] | None = None
    ) -> None:
        async with self.bot.sessions() as session:
            row = await get_member(session, self.bot.guild_id, interaction.user.id)
            done = row is not None and row.onboarded_at is not None
        if done:
            raise UserError("You are already onboarded. Use `/profile edit` to change your profile.")
        if not typed:
            await interaction.response.send_modal(self._form)
            return
        await interaction.response.send_modal(ProfileModal(self, typed))
        # send_modal registered the pre-filled copy for the form's custom_id: the shared empty form goes back, so
        # the member's text stays held by their own Try-again view alone.
        self.bot.add_view(self._form)

    def drop_retry_form(self, view: RetryFormView) -> None:
        view.forget()
        if self._retry_forms.get(view.owner or 0) is view:
            del self._retry_forms[view.owner or 0]

    async def _refuse_form(self, interaction: discord.Interaction, reason: str, typed: dict[str, str]) -> None:
        view = RetryFormView(self, interaction.user.id, typed)
        self._retry_forms[interaction.user.id] = view
        await interaction.response.send_message(
            f"{reason} Nothing was saved; press **Try again** to correct it (what you typed is kept).",
            ephemeral=True,
            view=view,
        )

    async def save_profile_step(self, interaction: discord.Interaction, values: dict[str, str | None]) -> None:
        previous = self._retry_forms.pop(interaction.user.id, None)
        if previous is not None:
            previous.forget()  # a new submission supersedes the last refused one's text
        typed = {k: v for k, v in values.items() if v}
        missing = [service.FIELD_LABELS[k] for k, v in values.items() if not v]
        if missing:
            # Discord's client always sends every field: only a forged submission lacks one.
            reason = "The form arrived without your " + ", ".join(missing) + "."
            await self._refuse_form(interaction, reason, typed)
            return
        now = self.bot.clock.now()
        suggestions: list[str] | None = None
        try:
            try:
                service.validate_profile(values, self.bot.config.onboarding, now)
            except AmbiguousTimezone as exc:
                suggestions = exc.suggestions
                values = {k: v for k, v in values.items() if k != "timezone"}
                # The zone is picked from a list next; the other fields must still pass before anything is saved.
                service.validate_profile(values, self.bot.config.onboarding, now)
        except ProfileError as exc:
            await self._refuse_form(interaction, str(exc), typed)
            return
        async with self.bot.sessions.begin() as session:
            row = await self._member_row(session, interaction.user)
            await service.update_profile(session, row, values, self.bot.config.onboarding, now)
        text = "Thanks! Now pick your skill level and how you like to communicate"
        text += ", and choose your time zone from the list" if suggestions else ""
        text += ", then read the code of conduct."
        await interaction.response.send_message(text, ephemeral=True, view=ChoicesView(self, suggestions, now))

    async def save_choice(self, interaction: discord.Interaction, key: str, value: str) -> None:
        now = self.bot.clock.now()
        async with self.bot.sessions.begin() as session:
            row = await self._member_row(session, interaction.user)
            try:
                clean = await service.update_profile(session, row, {key: value}, self.bot.config.onboarding, now)
            except ProfileError as exc:
                raise UserError(str(exc)) from None
        await interaction.response.send_message(
            f"Saved your {service.FIELD_LABELS[key]}: **{clean[key]}**.", ephemeral=True
        )

    async def show_code_of_conduct(self, interaction: discord.Interaction) -> None:
        embed = discord.Embed(
            title="Code of conduct",
            description=self.bot.config.community.code_of_conduct[:4096],
            colour=discord.Colour.blurple(),
        )
        await interaction.response.send_message(embed=embed, view=AcceptView(self), ephemeral=True)

    async def accept(self, interaction: discord.Interaction) -> None:
        now = self.bot.clock.now()
        async with self.bot.sessions.begin() as session:
            row = await self._member_row(session, interaction.user)
            try:
                move = await service.complete_onboarding(session, row, now)
            except ProfileError as exc:
                raise UserError(str(exc)) from None
            if move is not None:
                await self._schedule(session, ROLES, row.discord_id)
        if move is None:
            raise UserError("You are already onboarded. Use `/profile edit` to change your profile.")
        self.bot.dispatch("atlas_onboarded", row.discord_id)  # e.g. regional channels (cogs/regions) count again
        await interaction.response.send_message(
            f"You're in! You are now a **{STAGE_TITLES[journey.LEARNER]}**. "
            "`/journey show` tells you what comes next.",
            ephemeral=True,
        )

    # -- roles -------------------------------------------------------------------------------------------------
    async def _apply_roles(self, reminder: Reminder) -> None:
        """Make the member's Discord roles match their stage: the stage role replaces the others, never stacks."""
        async with self.bot.sessions() as session:
            row = await get_member(session, self.bot.guild_id, reminder.target_id)
        if row is None or row.stage is None:
            return
        guild = self.bot.live_guild()
        wanted = await self._ensure_role(row.stage)
        problem = self._can_manage(wanted)
        if problem:
            # Failed for now; the daily reconcile schedules it again, so the role follows once it is fixed.
            await self._report_role_problem(problem)
            raise PermanentSendError(problem)
        try:
            # Fresh from Discord, not the cache: a role granted a moment ago must not be written away.
            member = await guild.fetch_member(reminder.target_id)
        except discord.NotFound:
            raise PermanentSendError("the member is no longer in the server") from None
        stage_ids = set(self.bot.community.by_id(journey.STAGES))
        current = {r.id for r in member.roles if r.id in stage_ids}
        if current == {wanted.id}:
            return
        self._expected_roles[member.id] = frozenset({wanted.id})
        roles = [r for r in member.roles if r.id not in stage_ids and not r.is_default()] + [wanted]
        await member.edit(roles=roles, reason=f"Atlas journey: {row.stage}")
        await self.bot.clear_notice("manage_roles")

    async def reconcile_roles(self, now: datetime) -> None:
        """Daily: give members the stage role they should hold but do not (a permission fixed since, a role
        deleted by mistake); a higher stage role set by hand while the bot was offline is adopted instead.

        Streamed: (id, discord id, stage) rows in keyset batches, compared with the cached Discord members; only
        the mismatches are written, in one short transaction per batch (reminders in one INSERT)."""
        guild = self.bot.home_guild
        if guild is None:
            return
        by_id = self.bot.community.by_id(journey.STAGES)
        after = 0
        while True:
            async with self.bot.sessions() as session:
                batch = await service.onboarded_batch(session, guild.id, after=after, limit=RECONCILE_BATCH)
            adopt: list[tuple[int, str]] = []
            give: list[tuple[int, str | None, dict[str, Any]]] = []
            for row in batch:
                member = guild.get_member(row.discord_id)
                if member is None:
                    continue
                held = [stage for role_id, stage in by_id.items() if member.get_role(role_id) is not None]
                if held == [row.stage]:
                    continue
                highest = max(held, key=journey.rank, default=None)
                if highest is not None and journey.rank(highest) > journey.rank(row.stage):
                    adopt.append((row.member_id, highest))
                else:
                    give.append((row.discord_id, f"reconcile:{row.member_id}:{now.date()}", {}))
            if give:
                # A promotion's role edit still queued in the member-edit lane is not a mismatch to fix twice.
                async with self.bot.sessions() as session:
                    queued = await on_the_way(session, ROLES, [target for target, _, _ in give])
                give = [g for g in give if g[0] not in queued]
            if adopt or give:
                added = 0
                async with self.bot.sessions.begin() as session:
                    for member_id, stage in adopt:
                        found = await session.get(Member, member_id)
                        # Re-checked in the write: the stage may have moved since the batch was read.
                        if found is not None and journey.rank(stage) > journey.rank(found.stage):
                            await service.adopt_stage_set_by_hand(session, found, stage, now)
                    added = await add_many(
                        session,
                        kind=ROLES,
                        guild_id=self.bot.guild_id,
                        due_at=self.bot.clock.now(),
                        created_at=self.bot.clock.now(),
                        targets=give,
                    )
                if added:
                    self.bot.scheduler.kick()
            if len(batch) < RECONCILE_BATCH:
                return
            after = batch[-1].member_id
            await asyncio.sleep(0)  # let other work in between batches

    @commands.Cog.listener()
    async def on_member_update(self, before: discord.Member, after: discord.Member) -> None:
        """A stage role changed by a person in Discord is adopted as a manual placement, not undone."""
        if after.guild.id != self.bot.guild_id or after.bot:
            return
        stage_by_id = self.bot.community.by_id(journey.STAGES)
        old = frozenset(r.id for r in before.roles if r.id in stage_by_id)
        new = frozenset(r.id for r in after.roles if r.id in stage_by_id)
        if old == new:
            return
        if self._expected_roles.get(after.id) == new:
            del self._expected_roles[after.id]
            return
        if not new:
            return
        highest = max((stage_by_id[i] for i in new), key=journey.rank)
        async with self.bot.sessions.begin() as session:
            row = await get_member(session, after.guild.id, after.id)
            if row is None or row.onboarded_at is None:
                return
            move = await service.adopt_stage_set_by_hand(session, row, highest, self.bot.clock.now())
        if move:
            log.info("member %s placed at %s by hand in Discord", after.id, highest)

    # -- promotions --------------------------------------------------------------------------------------------
    async def evaluate_all(self, now: datetime) -> None:
        """Daily: promote the members the rules move now. One query per batch finds only them (from onboarding
        dates and the maintained points); members who are not due are never loaded. The pure rules stay the
        judge: each candidate is re-checked, then moved with a compare-and-set on the stage it was read at (a
        maintainer's placement or a ledger event's promotion meanwhile wins). Moves go in short transactions of
        ``PROMOTE_GROUP`` members with a handful of statements each (one per member cost 12 ms of hand-offs to
        SQLite's thread: 1,000 promotions took 7 s on the loaded 2-core machine); SQLite's write lock is never
        held for the scan. After an upgrade it waits for the first-start rebuild (partial points would only
        delay promotions): the period is given back and retried, not held open, so the jobs after it run."""
        if not self.bot.ledger_ready.is_set():
            raise NotYet("the contribution ledger is being rebuilt")
        after = 0
        while True:
            async with self.bot.sessions() as session:
                batch = await service.promotion_candidates(
                    session, self.bot.guild_id, now, self.rules, after=after, limit=EVALUATE_BATCH
                )
            for candidate in batch:
                if candidate.target(now, self.rules) == candidate.stage:
                    log.warning(
                        "journey: query and rules disagree on member %s; the rules win", candidate.member_id
                    )
            for i in range(0, len(batch), PROMOTE_GROUP):
                async with self.bot.sessions.begin() as session:
                    moves = await service.promote_many(session, batch[i : i + PROMOTE_GROUP], now, self.rules)
                    await self._announce_moves(session, moves)
                if moves:
                    self.bot.scheduler.kick()
            if len(batch) < EVALUATE_BATCH:
                return
            after = batch[-1].member_id

    @commands.Cog.listener()
    async def on_atlas_ledger_event(self, guild_id: int, member_id: int) -> None:
        """Another feature recorded a contribution: the member may have earned the next stage."""
        if guild_id != self.bot.guild_id:
            return
        async with self.bot.sessions.begin() as session:
            row = await session.get(Member, member_id)
            if row is None:
                return
            row.last_active_at = self.bot.clock.now()  # contributing is activity: no "we miss you" nudge
            if not self.bot.ledger_ready.is_set():
                return  # points are partial while the aggregates are rebuilt; the daily evaluation catches up
            move = await service.evaluate(session, row, self.bot.clock.now(), self.rules)
            if move is not None:
                await self._announce_move(session, move)

    async def _announce_move(self, session: AsyncSession, move: service.StageMove) -> None:
        await self._schedule(session, ROLES, move.discord_id)
        key = _promotion_key(move)
        payload = {"stage": move.to_stage}
        await self._schedule(session, PROMOTED_DM, move.discord_id, payload, dedupe=key)
        await self._schedule(session, PROMOTED_POST, move.discord_id, payload, dedupe=key)

    async def _announce_moves(self, session: AsyncSession, moves: list[service.StageMove]) -> None:
        """``_announce_move`` for many moves: one INSERT per reminder kind (the caller kicks after the commit)."""
        if not moves:
            return
        now = self.bot.clock.now()
        for kind in (ROLES, PROMOTED_DM, PROMOTED_POST):
            targets = [
                (m.discord_id, None, {})
                if kind == ROLES
                else (m.discord_id, _promotion_key(m), {"stage": m.to_stage})
                for m in moves
            ]
            await add_many(
                session, kind=kind, guild_id=self.bot.guild_id, due_at=now, created_at=now, targets=targets
            )

    async def _send_promotion_dm(self, reminder: Reminder) -> None:
        member = await self.bot.live_member(reminder.target_id)
        stage = reminder.payload["stage"]
        await member.send(
            f"🎉 You are now a **{STAGE_TITLES[stage]}** in {member.guild.name}! "
            f"New for you: {journey.PRIVILEGES[stage]}."
        )

    async def _post_promotions(self, reminders: list[Reminder]) -> dict[int, Exception]:
        """``journey.promoted_post``, coalesced: one post per stage naming everyone promoted to it (as mentions,
        pinging nobody); each promotion keeps its own reminder row (bot.reminders)."""
        guild = self.bot.live_guild()
        channel_id = self.bot.channel_ids.id("announcements")
        channel = guild.get_channel(channel_id) if channel_id else None
        if not isinstance(channel, discord.TextChannel):
            return {}  # no announcements channel configured: the DM is enough
        by_stage: dict[str, dict[int, list[int]]] = {}
        for reminder in reminders:
            stage = by_stage.setdefault(reminder.payload["stage"], {})
            stage.setdefault(reminder.target_id, []).append(reminder.id)  # promoted twice to one stage: once
        failures: dict[int, Exception] = {}
        for stage, members in by_stage.items():
            names = [f"<@{discord_id}>" for discord_id in members]
            who = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
            try:
                await channel.send(
                    f"🎉 Congratulations to {who}, now a **{STAGE_TITLES[stage]}**!"[:2000],
                    allowed_mentions=discord.AllowedMentions.none(),
                )
            except Exception as exc:
                failures.update({rid: exc for ids in members.values() for rid in ids})
                continue
            # Out: a stop before the next stage's post never names these members again.
            await self.bot.reminders.sent([rid for ids in members.values() for rid in ids])
        return failures

    # -- inactivity --------------------------------------------------------------------------------------------
    async def send_nudges(self, now: datetime) -> None:
        """Daily: one nudge per period of silence. Due ids are read in keyset batches; each batch is claimed
        (one UPDATE ... RETURNING) and its reminders added (one INSERT) in a short transaction."""
        days = self.bot.config.journey.inactivity_days
        after = 0
        while True:
            async with self.bot.sessions() as session:
                ids = await service.nudge_candidates(
                    session, self.bot.guild_id, now, days, after=after, limit=NUDGE_BATCH
                )
            if ids:
                async with self.bot.sessions.begin() as session:
                    claimed = await service.claim_nudges(session, self.bot.guild_id, ids, now, days)
                    added = await add_many(
                        session,
                        kind=NUDGE,
                        guild_id=self.bot.guild_id,
                        due_at=self.bot.clock.now(),
                        created_at=self.bot.clock.now(),
                        targets=[(d, f"nudge:{m}:{now.date().isoformat()}", {}) for m, d in claimed],
                    )
                if added:
                    self.bot.scheduler.kick()
            if len(ids) < NUDGE_BATCH:
                return
            after = ids[-1]

    async def _send_nudge(self, reminder: Reminder) -> None:
        member = await self.bot.live_member(reminder.target_id)
        await member.send(
            f"👋 Hi {name_of(member)}, we haven't seen you in {member.guild.name} for a while. No pressure: "
            "when you have a moment, `/journey show` has your next step, and anyone in the community is happy "
            "to help."
        )

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.guild_id in (None, self.bot.guild_id):
            await self._touch(interaction.user.id)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.guild is not None and message.guild.id == self.bot.guild_id and not message.author.bot:
            await self._touch(message.author.id)

    async def _touch(self, user_id: int) -> None:
        """Chatting or using a command is activity; written at most hourly per member."""
        now = self.bot.clock.now()
        last = self._last_touch.get(user_id)
        if last is not None and now - last < ACTIVITY_THROTTLE:
            return
        self._last_touch[user_id] = now
        async with self.bot.sessions.begin() as session:
            await service.touch_activity(session, self.bot.guild_id, user_id, now)

    # -- /profile ----------------------------------------------------------------------------------------------
    def _profile_embed(
        self, row: service.ProfileView | None, user: discord.abc.User, personal: bool = True
    ) -> discord.Embed:
        if row is None or (row.onboarded_at is None and row.timezone is None):
            raise UserError(f"{name_of(user)} has not set up a profile yet.")
        embed = discord.Embed(title=name_of(user), colour=discord.Colour.blurple())
        stage = STAGE_TITLES.get(row.stage or "", "Onboarding")
        embed.add_field(name="Journey", value=stage + (" (set by a maintainer)" if row.stage_manual else ""))
        if row.grants:
            embed.add_field(name="Roles", value=", ".join(g.title() for g in sorted(row.grants)))
        if not personal:
            # The member chose who sees their personal fields (bot/privacy.py); stage and roles stay public.
            note = privacy.HIDDEN_NOTES.get(privacy.parse_visibility(row.visibility), "")
            embed.add_field(name="Profile", value=note or "Personal details are private.", inline=False)
            return embed
        embed.add_field(name="Time zone", value=row.timezone or "—")
        embed.add_field(name="Skill", value=(row.skill or "—").title())
        embed.add_field(name="Weekly hours", value=str(row.weekly_hours or "—"))
        embed.add_field(name="Language", value=row.language or "—")
        embed.add_field(name="Prefers", value=row.communication_style or "—")
        embed.add_field(name="Goals", value=(row.goals or "—")[:1024], inline=False)
        if row.onboarded_at:
            embed.set_footer(text="Member of the journey since")
            embed.timestamp = row.onboarded_at
        return embed

    @profile.command(name="view", description="Show a member's profile and journey")
    @app_commands.describe(member="Whose profile (default: yours)")
    async def profile_view(self, interaction: discord.Interaction, member: discord.Member | None = None) -> None:
        user = member or interaction.user
        row = await service.profile_view(self.bot.reads, self.bot.guild_id, user.id)
        personal = row is None or await self._sees_personal(interaction.user, row)
        await interaction.response.send_message(embed=self._profile_embed(row, user, personal), ephemeral=True)

    async def _sees_personal(self, viewer: discord.abc.User, row: service.ProfileView) -> bool:
        """Whether the viewer is in the audience the member chose for their personal fields."""
        community_roles = self.bot.community
        setting = privacy.parse_visibility(row.visibility)
        is_self = viewer.id == row.discord_id
        mentor = not is_self and member_has(viewer, Capability.VIEW_RESTRICTED_PROFILES, community_roles)
        community = (
            setting is privacy.Visibility.COMMUNITY
            and not is_self
            and not mentor
            and (
                member_has(viewer, Capability.VIEW_COMMUNITY_PROFILES, community_roles)
                or await service.in_community(self.bot.reads, self.bot.guild_id, viewer.id)
            )
        )
        return privacy.can_see_personal(row.visibility, privacy.Viewer(is_self, community, mentor))

    @profile.command(name="edit", description="Change your own profile")
    @app_commands.describe(
        timezone="Your time zone, e.g. Europe/Berlin (type a city, an abbreviation or UTC+2 for suggestions)",
        skill="Your skill level",
        goals="What you want to learn or build",
        weekly_hours="Hours per week",
        language="Preferred language",
        style="How you like to communicate",
        visibility="Who sees your time zone, goals, hours, language, skill and style",
    )
    @app_commands.choices(
        visibility=[
            app_commands.Choice(name=name, value=value.value)
            for name, value in (
                ("Everyone", privacy.Visibility.EVERYONE),
                ("Members of the community (default)", privacy.Visibility.COMMUNITY),
                ("Mentors and maintainers", privacy.Visibility.MENTORS),
                ("Only me", privacy.Visibility.ME),
            )
        ]
    )
    @cooldown(5, 60)
    async def profile_edit(
        self,
        interaction: discord.Interaction,
        timezone: str | None = None,
        skill: str | None = None,
        goals: app_commands.Range[str, 1, 500] | None = None,
        weekly_hours: app_commands.Range[int, 1, 168] | None = None,
        language: app_commands.Range[str, 1, 35] | None = None,
        style: str | None = None,
        visibility: str | None = None,
    ) -> None:
        values = {
            "timezone": timezone,
            "skill": skill,
            "goals": goals,
            "weekly_hours": weekly_hours,
            "language": language,
            "communication_style": style,
        }
        values = {k: v for k, v in values.items() if v is not None}
        if not values and visibility is None:
            raise UserError("Give at least one field to change, e.g. `/profile edit timezone:Europe/Berlin`.")
        async with self.bot.sessions.begin() as session:
            row = await self._member_row(session, interaction.user)
            try:
                clean = await service.update_profile(
                    session, row, values, self.bot.config.onboarding, self.bot.clock.now()
                )
                if visibility is not None:
                    clean["visibility"] = service.set_visibility(row, visibility)
            except AmbiguousTimezone as exc:
                raise UserError(
                    "Which time zone do you mean? For example: "
                    + ", ".join(exc.suggestions[:5])
                    + ". Pick one from the list as you type."
                ) from None
            except ProfileError as exc:
                raise UserError(str(exc)) from None
        changed = ", ".join(service.FIELD_LABELS[k] for k in clean if k in service.FIELD_LABELS)
        reply = f"Updated your {changed}." if changed else ""
        if visibility is not None:
            who = privacy.VISIBILITY_LABELS[privacy.Visibility(clean["visibility"])]
            reply += f" Your personal profile fields are now shown to {who}."
        await interaction.response.send_message(reply.strip(), ephemeral=True)

    @profile_edit.autocomplete("timezone")
    async def timezone_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        now = self.bot.clock.now()
        return [
            app_commands.Choice(name=timezones.label(z, now)[:100], value=z)
            for z in timezones.suggest(current, now, limit=25)
        ]

    @profile_edit.autocomplete("skill")
    async def skill_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=s.title(), value=s)
            for s in self.bot.config.onboarding.skill_levels
            if current.lower() in s.lower()
        ][:25]

    @profile_edit.autocomplete("style")
    async def style_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=s.capitalize(), value=s)
            for s in self.bot.config.onboarding.communication_styles
            if current.lower() in s.lower()
        ][:25]

    # -- /journey ----------------------------------------------------------------------------------------------
    @journey_group.command(name="show", description="Stage, weeks, points and what the next stage needs")
    @app_commands.describe(member="Whose journey (default: yours)")
    async def journey_show(self, interaction: discord.Interaction, member: discord.Member | None = None) -> None:
        user = member or interaction.user
        now = self.bot.clock.now()
        self.bot.ledger_upgrade.ensure_ready()  # the points come from the aggregates
        row = await service.profile_view(self.bot.reads, self.bot.guild_id, user.id, with_points=True)
        if row is None or row.onboarded_at is None or row.stage is None:
            who = "You have" if user.id == interaction.user.id else f"{name_of(user)} has"
            raise UserError(
                f"{who} not finished onboarding yet" + (": run `/onboard`." if who == "You have" else ".")
            )
        points = row.points
        week = journey.week_number(row.onboarded_at, now)
        prog = journey.progress(row.stage, week, points, self.rules)
        embed = discord.Embed(title=f"{name_of(user)}: {STAGE_TITLES[row.stage]}", colour=discord.Colour.gold())
        embed.add_field(name="Week", value=str(week))
        embed.add_field(name="Points", value=str(points))
        embed.add_field(name="Stage since", value=discord_ts(row.stage_since or row.onboarded_at, "D"))
        if prog.next is None:
            embed.add_field(name="Progress", value="Top of the journey. Thank you for teaching!", inline=False)
        else:
            needs = []
            if prog.weeks_left:
                needs.append(f"{prog.weeks_left} more week(s)")
            if prog.points_left:
                needs.append(f"{prog.points_left} more point(s)")
            nxt = STAGE_TITLES[prog.next.stage]
            value = f"`{journey.bar(prog.fraction)}`\n" + (
                f"{nxt} needs " + " and ".join(needs) if needs else f"{nxt} is reached at the next daily check"
            )
            if row.stage_manual:
                value += "\n(placed by a maintainer: automatic promotion is paused)"
            embed.add_field(name=f"Towards {nxt}", value=value, inline=False)
            embed.add_field(name=f"As {nxt} you can", value=journey.PRIVILEGES[prog.next.stage], inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @journey_group.command(name="grant", description="Grant Ambassador or Maintainer (maintainers)")
    @app_commands.describe(member="Who", role="Which role", reason="Why (kept in the audit trail)")
    @app_commands.choices(
        role=[
            app_commands.Choice(name="Ambassador", value="ambassador"),
            app_commands.Choice(name="Maintainer", value="maintainer"),
        ]
    )
    @cooldown(3, 60, bucket="journey roles", target="member")
    @require(Capability.GRANT_ROLES)
    async def journey_grant(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        role: str,
        reason: app_commands.Range[str, 1, 200],
    ) -> None:
        await self._change_grant(interaction, member, role, reason, grant=True)

    @journey_group.command(name="revoke", description="Revoke Ambassador or Maintainer (maintainers)")
    @app_commands.describe(member="Who", role="Which role", reason="Why (kept in the audit trail)")
    @app_commands.choices(
        role=[
            app_commands.Choice(name="Ambassador", value="ambassador"),
            app_commands.Choice(name="Maintainer", value="maintainer"),
        ]
    )
    @cooldown(3, 60, bucket="journey roles", target="member")
    @require(Capability.GRANT_ROLES)
    async def journey_revoke(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        role: str,
        reason: app_commands.Range[str, 1, 200],
    ) -> None:
        await self._change_grant(interaction, member, role, reason, grant=False)

    async def _change_grant(
        self, interaction: discord.Interaction, member: discord.Member, role: str, reason: str, *, grant: bool
    ) -> None:
        if member.bot:
            raise UserError("Bots do not take part in the journey.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        discord_role = await self._ensure_role_for_command(role)
        now = self.bot.clock.now()
        # Check, then change Discord, then record: no database transaction (and no SQLite write lock) is held
        # while Discord answers, and a refusal from Discord records nothing.
        async with self.bot.sessions() as session:
            row = await get_member(session, self.bot.guild_id, member.id)
            held = await service.active_grants(session, row) if row is not None else set()
        if grant and role in held:
            raise UserError(f"That member already holds {role.title()}.")
        if not grant and role not in held:
            raise UserError(f"That member does not hold {role.title()}.")
        if grant:
            await member.add_roles(discord_role, reason=f"granted by {interaction.user.id}: {reason}")
        else:
            await member.remove_roles(discord_role, reason=f"revoked by {interaction.user.id}: {reason}")
        async with self.bot.sessions.begin() as session:
            row = await self._member_row(session, member)
            try:
                if grant:
                    await service.grant_role(session, row, role, interaction.user.id, now, reason)
                else:
                    await service.revoke_role(session, row, role, interaction.user.id, now)
            except ProfileError:
                pass  # another maintainer recorded the same change a moment ago: the outcome is the same
        verb = "now holds" if grant else "no longer holds"
        await interaction.followup.send(f"{name_of(member)} {verb} {discord_role.name}.", ephemeral=True)

    async def _ensure_role_for_command(self, key: str) -> discord.Role:
        try:
            role = await self._ensure_role(key)
        except PermanentSendError:
            name = self.bot.community.display_name(key)
            raise UserError(
                f"I cannot use the {name} role right now (a missing permission or a wrong role id in the config); "
                "maintainers have been told."
            ) from None
        problem = self._can_manage(role)
        if problem:
            raise UserError(problem)
        return role

    @journey_group.command(name="set-stage", description="Place a member on the journey by hand (maintainers)")
    @app_commands.describe(member="Who", stage="Where (automatic hands them back to the rules)", reason="Why")
    @app_commands.choices(
        stage=[
            app_commands.Choice(name="Learner", value="learner"),
            app_commands.Choice(name="Contributor", value="contributor"),
            app_commands.Choice(name="Teacher", value="teacher"),
            app_commands.Choice(name="Automatic (follow the rules)", value="auto"),
        ]
    )
    @cooldown(3, 60, target="member")
    @require(Capability.GRANT_ROLES)
    async def journey_set_stage(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        stage: str,
        reason: app_commands.Range[str, 1, 200] = "",
    ) -> None:
        now = self.bot.clock.now()
        async with self.bot.sessions.begin() as session:
            row = await get_member(session, self.bot.guild_id, member.id)
            if row is None:
                raise UserError(f"{name_of(member)} has not started onboarding yet.")
            try:
                move = await service.set_stage(
                    session, row, None if stage == "auto" else stage, interaction.user.id, now, reason
                )
            except ProfileError as exc:
                raise UserError(str(exc)) from None
            if move is not None:
                await self._schedule(session, ROLES, member.id)
            if stage == "auto":
                auto = await service.evaluate(session, row, now, self.rules)
                if auto is not None:
                    await self._announce_move(session, auto)
        text = (
            f"{name_of(member)} follows the automatic journey rules again."
            if stage == "auto"
            else f"{name_of(member)} is now placed at {STAGE_TITLES[stage]}; the daily job leaves them there."
        )
        await interaction.response.send_message(text, ephemeral=True)
