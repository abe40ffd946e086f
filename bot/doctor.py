"""`atlas-bot check`: config, database and (with a token) the guild's permissions, roles, channels, intents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import discord
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from bot import community, db
from bot.config import ROLE_KEYS, Config
from bot.failures import DatabaseUnreachable, SetupError, explain, sqlite_file
from models import SetupChannel

Level = Literal["ok", "warn", "error"]

# What the features need the bot's role to have in the guild.
REQUIRED_PERMISSIONS = (
    "view_channel",
    "send_messages",
    "send_messages_in_threads",
    "embed_links",
    "read_message_history",
    "manage_roles",
    "manage_threads",
    "create_public_threads",
    "create_private_threads",
    "create_events",  # office hours make native scheduled events
    "manage_events",
)


@dataclass(frozen=True)
class Finding:
    level: Level
    text: str


async def check_database(config: Config) -> list[Finding]:
    url = config.database.url
    how = "the bot migrates it on start" if config.bot.auto_migrate else "run `atlas-bot migrate`"
    level: Level = "warn" if config.bot.auto_migrate else "error"
    try:
        # Reads the revision without creating a SQLite file that is not there yet: a check changes nothing.
        current = await db.known_revision_at(url)
    except Exception as exc:
        failure = explain(exc, database_url=url)
        if failure is not None:
            return [Finding("error", f"database: {failure.message}")]
        if not isinstance(exc, DBAPIError):
            raise  # a bug, not a database that cannot be read
        return [Finding("error", f"database: cannot connect ({exc.orig or exc})")]
    path = sqlite_file(url)
    if current is None and path is not None and not path.exists():
        if config.bot.auto_migrate:
            return [Finding("ok", f"database {path}: not created yet (the bot creates it on first start)")]
        return [Finding("error", f"database {path}: not created yet, and auto_migrate is off: {how}")]
    head = db.head_revision()
    if current == head:
        return [Finding("ok", f"database is at the newest revision ({head})")]
    if current is None:
        return [Finding(level, f"database is empty (no tables yet): {how}")]
    return [Finding(level, f"database is at revision {current}, code needs {head}: {how}")]


async def check_discord(config: Config, client: discord.Client) -> list[Finding]:
    """Runs after ``client.login``; REST only, no gateway connection needed."""
    findings: list[Finding] = []
    app = await client.application_info()
    flags = app.flags
    if flags.gateway_guild_members or flags.gateway_guild_members_limited:
        findings.append(Finding("ok", "Server Members Intent is on"))
    else:
        findings.append(
            Finding("error", "Server Members Intent is off: Developer Portal > Bot > Privileged Gateway Intents")
        )
    if "qa" in config.bot.cogs and config.qa.message_content:
        if flags.gateway_message_content or flags.gateway_message_content_limited:
            findings.append(Finding("ok", "Message Content Intent is on (Q&A answers read from thread messages)"))
        else:
            findings.append(
                Finding(
                    "error",
                    "Message Content Intent is off but [qa] message_content = true asks for it: turn it on in "
                    "Developer Portal > Bot > Privileged Gateway Intents, or set [qa] message_content = false "
                    "(answers are then stored from \"Mark as solution\" only)",
                )
            )
    if not config.bot.guild_id:
        findings.append(Finding("error", "[bot] guild_id is 0: set it to your server's id"))
        return findings
    try:
        guild = await client.fetch_guild(config.bot.guild_id)
    except (discord.NotFound, discord.Forbidden):
        findings.append(Finding("error", f"the bot is not in guild {config.bot.guild_id}: invite it (README)"))
        return findings
    assert client.user is not None
    me = await guild.fetch_member(client.user.id)
    roles = await guild.fetch_roles()
    by_id = {r.id: r for r in roles}
    my_roles = [by_id[r.id] for r in me.roles if r.id in by_id] + [guild.default_role]
    perms = discord.Permissions.none()
    for role in my_roles:
        perms.value |= role.permissions.value
    if perms.administrator:
        findings.append(Finding("ok", "the bot has Administrator (more than it needs)"))
    else:
        missing = [p for p in REQUIRED_PERMISSIONS if not getattr(perms, p)]
        if missing:
            findings.append(
                Finding("error", "the bot's role lacks: " + ", ".join(p.replace("_", " ") for p in missing))
            )
        else:
            findings.append(Finding("ok", "the bot's role has every permission it needs"))
    top = max((r.position for r in my_roles), default=0)
    findings += role_findings(config, roles, await stored_roles(config), top)
    channels = {c.id: c for c in await guild.fetch_channels()}
    # A key not set in config.toml uses the channel server setup made or adopted (bot/channels.py).
    recorded = await stored_channels(config)
    configured = config.channels.model_dump()
    config = config.with_overrides(channels={k: v or recorded.get(k, 0) for k, v in configured.items()})
    for key, channel_id in config.channels.model_dump().items():
        how = "" if configured[key] else ", recorded by `atlas-bot setup`"
        if not channel_id:
            findings.append(Finding("warn", f"[channels] {key} is not set (`atlas-bot setup` makes the channels)"))
        elif channel_id not in channels:
            findings.append(Finding("error", f"[channels] {key}: no channel {channel_id} in the guild{how}"))
        else:
            name = channels[channel_id].name
            findings.append(Finding("ok", f"[channels] {key}: #{name} (id {channel_id}{how})"))
    if "cohorts" in config.bot.cogs:
        findings += cohort_findings(config, channels, me)
    if "qa" in config.bot.cogs:
        findings += qa_findings(config, channels, me)
    return findings


# The Q&A forum: posting questions, tagging them Solved (adding the tag when missing: Manage Channels), pinning
# accepted answers (Pin Messages, split from Manage Messages in 2026), removing votes that do not count (Manage
# Messages).
QA_PERMISSIONS = (
    "view_channel",
    "send_messages",
    "send_messages_in_threads",
    "read_message_history",
    "manage_threads",
    "manage_messages",
    "pin_messages",
    "manage_channels",
)


def qa_findings(config: Config, channels: dict[int, Any], me: discord.Member) -> list[Finding]:
    channel_id = config.channels.qa_forum
    if not channel_id:
        return [Finding("warn", "Q&A: [channels] qa_forum is not set; /ask says so until it is a forum channel")]
    channel = channels.get(channel_id)
    if channel is None:
        return []  # reported above as a missing channel
    if not isinstance(channel, discord.ForumChannel):
        return [Finding("error", f"Q&A: #{channel.name} is not a forum channel; [channels] qa_forum must be one")]
    perms = channel.permissions_for(me)
    missing = [p.replace("_", " ") for p in QA_PERMISSIONS if not getattr(perms, p)]
    if missing:
        return [Finding("error", f"Q&A: in #{channel.name} the bot lacks: {', '.join(missing)}")]
    return [Finding("ok", f"Q&A: the bot can post, tag and pin in the forum #{channel.name}")]


# Cohorts are private threads in the study-groups channel: making one, adding members to a thread that is not
# invitable, and posting there.
COHORT_PERMISSIONS = ("view_channel", "create_private_threads", "manage_threads", "send_messages_in_threads")


def cohort_findings(config: Config, channels: dict[int, Any], me: discord.Member) -> list[Finding]:
    channel_id = config.channels.study_groups
    if not channel_id:
        return [Finding("error", "cohorts: [channels] study_groups is not set; /cohort form cannot make threads")]
    channel = channels.get(channel_id)
    if channel is None:
        return []  # reported above as a missing channel
    if not isinstance(channel, discord.TextChannel):
        return [Finding("error", f"cohorts: #{channel.name} is not a text channel, so it cannot hold threads")]
    perms = channel.permissions_for(me)
    missing = [p.replace("_", " ") for p in COHORT_PERMISSIONS if not getattr(perms, p)]
    if missing:
        return [Finding("error", f"cohorts: in #{channel.name} the bot lacks: {', '.join(missing)}")]
    return [Finding("ok", f"cohorts: the bot can make private threads in #{channel.name}")]


async def stored_channels(config: Config) -> dict[str, int]:
    """The channel ids server setup recorded, read like ``stored_roles``."""
    url = config.database.url
    try:
        if await db.known_revision_at(url) is None:
            return {}
        engine = db.create_engine(url)
        try:
            async with db.create_sessionmaker(engine)() as session:
                query = select(SetupChannel.key, SetupChannel.channel_id)
                rows = await session.execute(query.where(SetupChannel.guild_id == config.bot.guild_id))
                return {key: channel_id for key, channel_id in rows.all()}
        finally:
            await engine.dispose()
    except (SetupError, DatabaseUnreachable, DBAPIError):  # an older revision without the table, a bad path
        return {}


async def stored_roles(config: Config) -> dict[str, community.Stored]:
    """The role ids the bot resolved and stored; none when the database is not there (a missing SQLite file is
    left alone: connecting would create it), empty, or cannot be read, which ``check_database`` reports. Any
    other error is a bug and is raised."""
    url = config.database.url
    try:
        if await db.known_revision_at(url) is None:
            return {}
        engine = db.create_engine(url)
        try:
            async with db.create_sessionmaker(engine)() as session:
                return await community.load(session, config.bot.guild_id)
        finally:
            await engine.dispose()
    except (SetupError, DatabaseUnreachable, DBAPIError):  # an older revision without the table, a bad path
        return {}


def role_findings(
    config: Config, roles: list[discord.Role], stored: dict[str, community.Stored], top: int
) -> list[Finding]:
    """Each community role by id, as the bot resolves it (bot/community.py): the stored id, the configured one,
    or the one it would find by name on its first start."""
    findings: list[Finding] = []
    by_id = {r.id: r for r in roles}
    guild_roles = [community.GuildRole(r.id, r.name, not (r.is_default() or r.managed)) for r in roles]
    ids: dict[str, int] = {}
    for key in ROLE_KEYS:
        name = config.roles.name_of(key)
        d = community.decide(key, name, config.roles.id_of(key), stored.get(key), guild_roles)
        if d.action == "missing":
            findings.append(Finding("error", f"[roles] {key}_id = {d.lost}: no such role in the guild"))
            continue
        if d.action == "recreate":
            findings.append(
                Finding("warn", f"[roles] {key}: role {d.lost} was deleted; the bot makes a new {name!r} role")
            )
            continue
        if d.role_id is None:
            findings.append(Finding("warn", f"[roles] {key}: no role named {name!r} yet (the bot creates it)"))
            continue
        ids[key] = d.role_id
        role = by_id[d.role_id]
        if d.action == "keep":
            source = "stored"
        elif d.how == "config":
            source = f"set by {key}_id"
        else:
            source = "found by name; the bot stores it on start"
        label = f"[roles] {key}: role {role.id} {role.name!r} ({source})"
        if role.position >= top:
            findings.append(Finding("error", f"{label} is above the bot's own role: drag the bot's role above it"))
        else:
            findings.append(Finding("ok", label))
    names = {k: config.roles.name_of(k) for k in ids}
    for key, role in community.lookalikes(ids, names, guild_roles):
        findings.append(
            Finding(
                "warn",
                f"[roles] {key}: role {role.id} {role.name!r} is named like it but grants nothing "
                f"(set [roles] {key}_id = {role.id} if it should be the one, or delete it)",
            )
        )
    return findings
