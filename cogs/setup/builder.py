"""Applying the setup plan to a Discord guild (the Discord side of cogs/setup; the rules are in ``plan.py``).

Used by ``/setup apply``, ``atlas-bot setup`` and the sandbox, so all three build the server the same way:

1. the roles first (made, adopted or brought in line), so the channels' overwrites can name them;
2. a fresh plan against the guild as it is now, then the roles' order and every channel, categories before the
   channels in them.

Each step is recorded the moment Discord confirms it (its own transaction), so a run stopped half-way (a missing
permission, a Discord error, a crash) loses nothing and the next run continues where it stopped. Without Manage
Roles / Manage Channels the run stops before the first step that needs it and says which to grant. One item Discord
refuses (a 4xx: a limit, a channel type the server cannot have, an overwrite with a permission the bot lacks) is
set aside with the reason and the run goes on with the items that do not depend on it; they are all reported at the
end, and the next run tries them again.

The roles' order is read back with ``guild.fetch_roles()`` after the roles are made (Discord places each new role
at the bottom; the gateway's GUILD_ROLE_UPDATE for the roles it pushed up may come late or not at all), and set
with explicit positions. discord.py retries a POST answered with a 5xx, so a create whose answer was lost can
leave a second object: after a run that created anything, the guild's channels and roles are read back and any
unrecorded one of the same name and type, made in the last minute (snowflake time), is reported to the maintainer
(never deleted by setup).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

import discord
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import ROLE_KEYS, Config
from cogs.setup import plan as p
from cogs.setup import service

if TYPE_CHECKING:
    from bot.core import AtlasBot

log = logging.getLogger(__name__)

_TYPES: dict[discord.ChannelType, str] = {
    discord.ChannelType.text: "text",
    discord.ChannelType.news: "news",
    discord.ChannelType.voice: "voice",
    discord.ChannelType.stage_voice: "stage",
    discord.ChannelType.category: "category",
    discord.ChannelType.forum: "forum",
}
REASON = "Atlas server setup (server template)"


@dataclass
class Report:
    plan: p.Plan  # what the run found to do (its first plan)
    done: list[str] = field(default_factory=list)
    stopped: str | None = None  # why it stopped before the end, with what to do
    recorded: dict[str, int] = field(default_factory=dict)  # channel key -> id recorded by this run
    failed: list[str] = field(default_factory=list)  # items Discord refused (the run went on without them)
    skipped: list[str] = field(default_factory=list)  # items this server cannot have yet (a Community server)
    extras: list[str] = field(default_factory=list)  # duplicates left by a retried request, for a human to delete

    @property
    def finished(self) -> bool:
        return self.stopped is None and not self.failed

    def notes(self) -> list[str]:
        """What the maintainer should read besides what was done."""
        out = [*self.failed, *self.skipped, *self.extras]
        if self.failed:
            out.append("Run setup again once that is fixed: it retries what was not done.")
        return out


class Stop(Exception):
    """The run cannot go on; the message says why and what to do."""


class Skip(Exception):
    """This item cannot be done now; the run goes on with the others. The message says why and what to do."""


# Discord's snowflakes carry their creation time (ms since 2015-01-01 in the top bits).
RECENT_MS = 60_000


# -- reading the guild ---------------------------------------------------------------------------------------
def _overwrites(channel: discord.abc.GuildChannel) -> tuple[p.LiveOverwrite, ...]:
    out = []
    for target, ow in channel.overwrites.items():
        allow, deny = ow.pair()
        kind = (
            p.ROLE
            if isinstance(target, discord.Role) or getattr(target, "type", None) is discord.Role
            else p.MEMBER
        )
        out.append(p.LiveOverwrite(target.id, kind, allow.value, deny.value))
    return tuple(sorted(out, key=lambda o: o.id))


def live_role(role: discord.Role) -> p.LiveRole:
    return p.LiveRole(
        role.id,
        role.name,
        role.position,
        role.colour.value,
        role.hoist,
        role.mentionable,
        not (role.is_default() or role.managed),
        role.permissions.value,
    )


def live_channel(channel: discord.abc.GuildChannel) -> p.LiveChannel:
    tags = tuple(t.name for t in channel.available_tags) if isinstance(channel, discord.ForumChannel) else ()
    return p.LiveChannel(
        channel.id,
        channel.name,
        _TYPES.get(channel.type, "other"),
        channel.category_id,
        getattr(channel, "topic", None) or "",
        _overwrites(channel),
        tags,
    )


class _View:
    """The guild as the cache shows it, overlaid with what this run made or changed (Discord's answers come back
    before the gateway events that update the cache)."""

    def __init__(self, guild: discord.Guild) -> None:
        self.guild = guild
        self.roles: dict[int, discord.Role] = {}
        self.channels: dict[int, p.LiveChannel] = {}
        # The roles' order as Discord answered fetch_roles() (the cache's positions may lag behind the gateway).
        self.ranks: dict[int, int] = {}

    def role(self, role_id: int) -> discord.Role | None:
        return self.roles.get(role_id) or self.guild.get_role(role_id)

    def live(self) -> p.Live:
        me = self.guild.me
        roles = {r.id: live_role(r) for r in self.guild.roles}
        roles.update({i: live_role(r) for i, r in self.roles.items()})
        if self.ranks:
            roles = {i: replace(r, position=self.ranks.get(i, r.position)) for i, r in roles.items()}
        channels = {c.id: live_channel(c) for c in self.guild.channels}
        channels.update(self.channels)
        community = "COMMUNITY" in self.guild.features
        return p.Live(
            self.guild.default_role.id, me.id, tuple(roles.values()), tuple(channels.values()), community
        )


# -- planning ------------------------------------------------------------------------------------------------
def configured(config: Config) -> dict[str, int]:
    channels = {k: int(v) for k, v in config.channels.model_dump().items() if isinstance(v, int)}
    roles = {k: config.roles.id_of(k) for k in ROLE_KEYS}
    return service.configured_ids(channels, roles)


async def make_plan(
    guild: discord.Guild, sessions: async_sessionmaker[AsyncSession], config: Config, template: p.Template
) -> p.Plan:
    return await _plan(_View(guild), sessions, config, template)


async def _plan(
    view: _View, sessions: async_sessionmaker[AsyncSession], config: Config, template: p.Template
) -> p.Plan:
    async with sessions() as session:
        records = await service.load_records(session, view.guild.id)
    return p.plan(template, view.live(), records, configured(config))


# -- applying ------------------------------------------------------------------------------------------------
_NAMES = {"manage_roles": "Manage Roles", "manage_channels": "Manage Channels"}


def _needs(step: p.Step) -> tuple[str, ...]:
    if step.action in ("adopt", "keep", "skip"):
        return ()  # adopting only records an id: nothing is asked of Discord
    if step.kind == "role":
        return ("manage_roles",)
    needs = ["manage_channels"]
    if (
        step.channel is not None
        and step.channel.overwrites
        and (step.action == "create" or "overwrites" in step.changes)
    ):
        needs.append("manage_roles")  # permission overwrites are Manage Roles ("Manage Permissions") on a channel
    return tuple(needs)


def _permission_names(bits: int) -> str:
    names = [n.replace("_", " ").title() for n, on in discord.Permissions(bits) if on]
    return ", ".join(names)


# What Discord's error codes mean for setup (Opcodes and Status Codes).
_CODES = {
    30005: "the server has the most roles Discord allows (250): delete some",
    30013: "the server has the most channels Discord allows (500): delete some",
    50024: "this channel type needs a Community server (Server Settings > Enable Community)",
}


def _refusal(step: p.Step, exc: discord.HTTPException) -> str:
    """Why Discord refused one item (a 4xx), in words a maintainer can act on."""
    what = f"{step.action} the {step.kind} {step.name}"
    if exc.code in _CODES:
        why = _CODES[exc.code]
    elif "CHANNEL_PARENT_MAX_CHANNELS" in (exc.text or "") or "channels in category" in (exc.text or ""):
        why = "its category already holds 50 channels, the most Discord allows"
    else:
        why = f"Discord said: {exc.text or exc.status}"
    return f"Not done: I could not {what}: {why} (Discord: {exc.status}, code {exc.code})."


def _explain(step: p.Step, exc: discord.HTTPException) -> str:
    what = f"{step.action} the {step.kind} {step.name}"
    needs = " and ".join(_NAMES[n] for n in _needs(step))
    if isinstance(exc, discord.Forbidden):
        hint = (
            f"Discord refused it: this needs the {needs} permission{'s' if ' and ' in needs else ''} (Server "
            "Settings > Roles > my role), my role above the roles it names, and only permissions I have myself "
            "in its overwrites"
        )
    else:
        hint = "Discord had a problem"
    return (
        f"Stopped: I could not {what}. {hint} (Discord: {exc.status}, code {exc.code}). What is done so far is "
        "kept and recorded; run setup again once it is fixed and it continues from here."
    )


class Builder:
    def __init__(
        self,
        guild: discord.Guild,
        sessions: async_sessionmaker[AsyncSession],
        config: Config,
        template: p.Template,
        now: Callable[[], datetime],
    ) -> None:
        self.guild = guild
        self.sessions = sessions
        self.config = config
        self.template = template
        self.now = now
        self.view = _View(guild)

    async def plan(self) -> p.Plan:
        return await _plan(self.view, self.sessions, self.config, self.template)

    async def apply(self, *, on_role: Callable[[str, discord.Role], None] | None = None) -> Report:
        """One run at a time per guild, across processes (the bot's /setup apply and ``atlas-bot setup``): a
        lock row in the database (cogs/setup/service.py)."""
        holder = uuid.uuid4().hex
        busy = await service.take_run_lock(self.sessions, self.guild.id, holder, self.now())
        if busy is not None:
            report = Report(p.Plan(()))
            report.stopped = (
                f"Another setup of this server is running (since {busy:%H:%M:%S} UTC); wait for it to finish, "
                "then run setup again if anything is left."
            )
            return report
        try:
            return await self._apply(on_role)
        finally:
            await service.release_run_lock(self.sessions, self.guild.id, holder)

    async def _apply(self, on_role: Callable[[str, discord.Role], None] | None) -> Report:
        first = await self.plan()
        report = Report(first)
        start = self.view.live()
        before = {r.id for r in start.roles} | {c.id for c in start.channels}
        created = False
        try:
            for step in first.writes:
                if step.kind == "role":
                    created |= step.action == "create"
                    await self._step(step, first.ids, report, on_role)
            if created:
                await self._read_role_order()
            second = await self.plan()
            ids = dict(second.ids)
            report.skipped = [f"{s.name}: {s.why}" for s in second.steps if s.action == "skip"]
            failed_keys: set[str] = set()
            for step in second.writes:
                spec = step.channel
                if spec is not None and spec.parent in failed_keys:
                    failed_keys.add(step.key)
                    report.failed.append(f"Not done: {step.name}, as its category was not made.")
                    continue
                created |= step.action == "create"
                try:
                    await self._step(step, ids, report, on_role)
                except Skip as exc:
                    failed_keys.add(step.key)
                    report.failed.append(str(exc))
        except Stop as exc:
            report.stopped = str(exc)
        if created:
            await self._find_extras(before, report)
        return report

    async def _read_role_order(self) -> None:
        """The roles' order from Discord itself (sorted by position, then id, as Discord sorts ties), so the
        second plan puts the created roles in the template's order with explicit positions."""
        fetched = sorted(await self.guild.fetch_roles(), key=lambda r: (r.position, r.id))
        self.view.ranks = {r.id: rank for rank, r in enumerate(fetched)}
        for role in fetched:
            if role.id in self.view.roles or self.guild.get_role(role.id) is None:
                self.view.roles[role.id] = role  # fresher than the answer to its create

    async def _find_extras(self, before: set[int], report: Report) -> None:
        """Objects a retried create left behind: made during this run (not there at its start, made within a
        minute of the recorded one), of the same name and type as one setup recorded, yet recorded for no key."""
        try:
            channels = await self.guild.fetch_channels()
            roles = await self.guild.fetch_roles()
        except discord.HTTPException as exc:
            log.warning("setup: could not read the guild back to look for duplicates: %s", exc)
            return
        async with self.sessions() as session:
            records = await service.load_records(session, self.guild.id)
        recorded = {r.id for r in records.values()}
        objects: list[tuple[str, str, int]] = [("role", r.name, r.id) for r in roles]
        objects += [(_TYPES.get(c.type, "other"), c.name, c.id) for c in channels]
        mine = {(kind, name.casefold()): i for kind, name, i in objects if i in recorded}
        for kind, name, object_id in objects:
            if object_id in recorded or object_id in before:
                continue
            twin = mine.get((kind, name.casefold()))
            if twin is None or abs((object_id >> 22) - (twin >> 22)) > RECENT_MS:
                continue
            what = "role" if kind == "role" else f"{kind} channel"
            report.extras.append(
                f"An extra {what} {name} ({object_id}) was made when Discord's answer to a request was lost and "
                f"the request was sent again; setup uses {twin}. Delete the extra one by hand."
            )

    def _precheck(self, step: p.Step) -> None:
        have = self.guild.me.guild_permissions
        if have.administrator:
            return
        missing = [_NAMES[n] for n in _needs(step) if not getattr(have, n)]
        if missing:
            raise Stop(
                f"Stopped before I could {step.action} the {step.kind} {step.name}: I need the "
                f"{' and '.join(missing)} permission{'s' if len(missing) > 1 else ''} (Server Settings > Roles > "
                "my role). What is done so far is kept and recorded; run setup again once it is granted and it "
                "continues from here."
            )
        spec = step.channel
        if spec is None or not (step.action == "create" or "overwrites" in step.changes):
            return
        # Discord lets a bot allow or deny only permissions it has, and Manage Permissions only to administrators.
        bits = 0
        for ow in spec.overwrites:
            bits |= ow.allow | ow.deny
        lacking = bits & ~have.value | bits & discord.Permissions(manage_roles=True).value
        if lacking:
            raise Skip(
                f"Not done: the {spec.type} channel {step.name}: its permission overwrites name permissions I do "
                f"not have; grant my role {_permission_names(lacking)} (Server Settings > Roles > my role), or "
                "remove them from the template."
            )

    async def _step(
        self,
        step: p.Step,
        ids: dict[str, int],
        report: Report,
        on_role: Callable[[str, discord.Role], None] | None,
    ) -> None:
        self._precheck(step)
        try:
            if step.kind == "role":
                await self._role_step(step, report, on_role)
            else:
                await self._channel_step(step, ids, report)
        except discord.Forbidden as exc:
            log.warning("setup step %s %s refused: %s", step.action, step.key, exc)
            raise Stop(_explain(step, exc)) from exc
        except discord.HTTPException as exc:
            log.warning("setup step %s %s failed: %s", step.action, step.key, exc)
            if 400 <= exc.status < 500:
                raise Skip(_refusal(step, exc)) from exc
            raise Stop(_explain(step, exc)) from exc

    async def _role_step(
        self, step: p.Step, report: Report, on_role: Callable[[str, discord.Role], None] | None
    ) -> None:
        if step.action == "reorder":
            roles = {r: pos for rid, pos in step.positions if (r := self.view.role(rid)) is not None}
            await self.guild.edit_role_positions(roles, reason=REASON)  # type: ignore[arg-type]
            report.done.append(f"put the roles {step.name} in the template's order")
            return
        spec = step.role
        assert spec is not None
        if step.action == "create":
            role = await self.guild.create_role(
                name=spec.name,
                colour=discord.Colour(spec.color),
                hoist=spec.hoist,
                mentionable=spec.mentionable,
                reason=REASON,
            )
            report.done.append(f"created the role {spec.name}")
        elif step.action == "update":
            current = self.view.role(step.id or 0)
            if current is None:
                return
            role = (
                await current.edit(
                    colour=discord.Colour(spec.color),
                    hoist=spec.hoist,
                    mentionable=spec.mentionable,
                    reason=REASON,
                )
                or current
            )
            report.done.append(f"updated the role {role.name} ({', '.join(step.changes)})")
        else:  # adopt
            found = self.view.role(step.id or 0)
            if found is None:
                return
            role = found
            report.done.append(f"adopted the role {role.name}")
        self.view.roles[role.id] = role
        if step.action != "update":
            async with self.sessions.begin() as session:
                await service.record_role(
                    session, self.guild.id, spec.key, role.id, spec.name, step.action == "create", self.now()
                )
            if on_role is not None:
                on_role(spec.key, role)

    def _targets(
        self, spec: p.ChannelSpec, ids: Mapping[str, int]
    ) -> dict[discord.Role | discord.Member, discord.PermissionOverwrite]:
        live = self.view.live()
        out: dict[discord.Role | discord.Member, discord.PermissionOverwrite] = {}
        for target_id, ow in p.expected_overwrites(spec, live, ids).items():
            target = self.guild.me if ow.type == p.MEMBER else self.view.role(target_id)
            if target is not None:
                out[target] = discord.PermissionOverwrite.from_pair(
                    discord.Permissions(ow.allow), discord.Permissions(ow.deny)
                )
        return out

    async def _channel_step(self, step: p.Step, ids: dict[str, int], report: Report) -> None:
        spec = step.channel
        assert spec is not None
        if step.action == "create":
            channel = await self._create(spec, step.name, ids)
            created = True
            report.done.append(f"created the {spec.type} channel {step.name}")
        elif step.action == "update":
            channel = self.guild.get_channel(step.id or 0)
            if channel is None:
                return
            await self._update(channel, spec, step.changes, ids)
            report.done.append(f"updated the {spec.type} channel {channel.name} ({', '.join(step.changes)})")
            return
        else:  # adopt
            channel = self.guild.get_channel(step.id or 0)
            if channel is None:
                return
            created = False
            report.done.append(f"adopted the {spec.type} channel {channel.name}")
        ids[spec.key] = channel.id
        self.view.channels[channel.id] = live_channel(channel)
        async with self.sessions.begin() as session:
            await service.record_channel(
                session, self.guild.id, spec.key, channel.id, spec.type, created, self.now()
            )
        report.recorded[spec.key] = channel.id

    async def _create(
        self, spec: p.ChannelSpec, name: str, ids: Mapping[str, int]
    ) -> discord.abc.GuildChannel:
        overwrites = self._targets(spec, ids)
        parent_id = ids.get(spec.parent) if spec.parent else None
        category = discord.Object(parent_id) if parent_id else None
        g = self.guild
        if spec.type == "category":
            return await g.create_category(name, overwrites=overwrites, reason=REASON)
        if spec.type in ("text", "news"):
            return await g.create_text_channel(
                name,
                category=category,
                topic=spec.topic or discord.utils.MISSING,  # type: ignore[arg-type]
                overwrites=overwrites,
                news=spec.type == "news",
                reason=REASON,
            )
        if spec.type == "voice":
            return await g.create_voice_channel(
                name,
                category=category,
                overwrites=overwrites,
                reason=REASON,  # type: ignore[arg-type]
            )
        if spec.type == "stage":
            return await g.create_stage_channel(
                name,
                category=category,
                overwrites=overwrites,
                reason=REASON,  # type: ignore[arg-type]
            )
        return await g.create_forum(
            name,
            category=category,  # type: ignore[arg-type]
            topic=spec.topic or discord.utils.MISSING,
            overwrites=overwrites,
            available_tags=[discord.ForumTag(name=t) for t in spec.tags],
            reason=REASON,
        )

    async def _update(
        self,
        channel: discord.abc.GuildChannel,
        spec: p.ChannelSpec,
        changes: tuple[str, ...],
        ids: Mapping[str, int],
    ) -> None:
        if "topic" in changes and isinstance(channel, discord.TextChannel | discord.ForumChannel):
            await channel.edit(topic=spec.topic, reason=REASON)
        if "tags" in changes and isinstance(channel, discord.ForumChannel):
            have = {t.name.casefold() for t in channel.available_tags}
            new = [discord.ForumTag(name=t) for t in spec.tags if t.casefold() not in have]
            await channel.edit(available_tags=[*channel.available_tags, *new], reason=REASON)
        if "overwrites" in changes:
            current = {o.id: o for o in _overwrites(channel)}
            live = self.view.live()
            for target_id, ow in p.expected_overwrites(spec, live, ids).items():
                if current.get(target_id) == ow:
                    continue
                target = self.guild.me if ow.type == p.MEMBER else self.view.role(target_id)
                if target is None:
                    continue
                pair = discord.PermissionOverwrite.from_pair(
                    discord.Permissions(ow.allow), discord.Permissions(ow.deny)
                )
                await channel.set_permissions(target, overwrite=pair, reason=REASON)


async def build_for(bot: AtlasBot, template: p.Template) -> Report:
    """Apply the template to the bot's guild, as ``/setup apply`` does (and the sandbox, to build its server): the
    community roles and channel ids it records are used at once."""
    build = Builder(bot.live_guild(), bot.sessions, bot.config, template, bot.clock.now)
    report = await build.apply(on_role=bot.community.remember)
    bot.channel_ids.update(report.recorded)
    return report
